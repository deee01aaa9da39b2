//! Oracles for fuzzers and property tests: whatever parses formats back to its input.

use super::files::{
    checkpoint_name, data_file, lock_name, parse_backup_file, parse_checkpoint_name,
    parse_data_file, parse_lock_name,
};
use super::listing::{is_backup_dir, Listing};
use super::names::{
    full_subdir, inc_name, latest_content, latest_marker, parse_incremental_subdir,
    parse_latest_content, parse_latest_marker, root_prefix, strip_slashes, truncated, FullSubdir,
    INCREMENTALS_DIR, LATEST, LOCK_PREFIX,
};
use crate::mvcc::Timestamp;

// ---- oracles ------------------------------------------------------------------------------

/// Runs every name parser on `s` and checks that whatever parses formats back to the
/// (normalized) input; checks the `LATEST` content parser the same way. Never panics on
/// bad input; panics (assert) only when an oracle fails. Used by the fuzz target and the
/// truncation and flip tests.
#[doc(hidden)]
pub fn check_name_oracles(s: &str) {
    let (inner, _) = strip_slashes(s);
    let slash_forms_match = |path: &str| {
        s == path || s == format!("/{path}") || s == format!("{path}/") || s == format!("/{path}/")
    };
    if let Ok(f) = FullSubdir::parse(s) {
        assert_eq!(f.path, inner, "full subdir path is not the input");
        assert_eq!(
            full_subdir(f.time),
            f.path,
            "full subdir does not re-format"
        );
        assert_eq!(
            truncated(f.time),
            f.time,
            "full subdir time is not truncated"
        );
        assert!(
            slash_forms_match(&f.path),
            "full subdir {s:?} accepted with odd slashes"
        );
        assert_eq!(latest_content(s).ok(), Some(format!("/{}", f.path)));
    }
    if let Ok(i) = parse_incremental_subdir(s) {
        assert_eq!(i.path, inner, "incremental path is not the input");
        assert_eq!(
            inc_name(i.start, i.end),
            i.path,
            "incremental does not re-format"
        );
        assert!(i.start <= i.end, "incremental end before start");
        assert!(
            slash_forms_match(&i.path),
            "incremental {s:?} accepted with odd slashes"
        );
    }
    if let Ok(wall) = parse_latest_marker(s) {
        assert_eq!(
            latest_marker(Timestamp::new(wall, 7)),
            s,
            "marker does not re-format"
        );
    }
    if let Ok(n) = parse_data_file(s) {
        assert_eq!(data_file(n), s, "data file does not re-format");
    }
    if let Ok(n) = parse_lock_name(s) {
        assert_eq!(lock_name(n), s, "lock does not re-format");
    }
    if let Ok(n) = parse_checkpoint_name(s) {
        assert_eq!(checkpoint_name(n), s, "checkpoint does not re-format");
    }
    if let Ok(f) = parse_backup_file(s) {
        assert_eq!(f.name(), s, "backup file does not re-format");
    }
    if let Ok(p) = parse_latest_content(s.as_bytes()) {
        assert_eq!(strip_slashes(s.trim()).0, p, "LATEST content {s:?} misread");
        assert_eq!(FullSubdir::parse(&p).map(|f| f.path), Ok(p.clone()));
    }
}

/// Checks what [`Listing`] returns against its definition (see each method). Panics
/// (assert) only when an oracle fails.
#[doc(hidden)]
#[allow(clippy::panic)]
pub fn check_listing_oracles(listing: &Listing) {
    assert_eq!(
        &Listing::new(listing.objects()),
        listing,
        "normalizing a listing twice changed it"
    );
    let fulls = listing.full_backups();
    assert!(
        fulls.windows(2).all(|w| w.first() < w.get(1)),
        "full backups not sorted"
    );
    let mut prev = None;
    for f in &fulls {
        let parsed = FullSubdir::parse(f);
        assert!(
            parsed.as_ref().is_ok_and(|p| p.path == *f),
            "{f:?} is not a canonical full subdir"
        );
        let t = parsed.map(|p| p.time).ok();
        assert!(prev < t, "full backups not in time order");
        prev = t;
        assert!(listing.has_manifest(f), "{f:?} has no manifest");
        for root in [INCREMENTALS_DIR, ""] {
            let incs = listing.incrementals(f, root);
            let mut last = None;
            for i in &incs {
                assert!(listing.has_manifest(i), "{i:?} has no manifest");
                let rel = i
                    .strip_prefix(&root_prefix(root))
                    .and_then(|r| r.strip_prefix(f.as_str()))
                    .and_then(|r| r.strip_prefix('/'));
                let inc = rel.map(parse_incremental_subdir);
                let Some(Ok(inc)) = inc else {
                    panic!("{i:?} is not an incremental of {f:?} under {root:?}");
                };
                let key = Some((inc.end, inc.start));
                assert!(last < key, "incrementals not sorted by end, then start");
                last = key;
            }
            // The same full backup named with a leading slash resolves the same way.
            assert_eq!(listing.incrementals(&format!("/{f}"), root), incs);
        }
    }
    for u in listing.unfinished() {
        assert!(!listing.has_manifest(&u), "{u:?} is complete");
        assert!(is_backup_dir(&u), "{u:?} is not a backup directory");
        assert!(
            listing.objects().any(|p| p
                .strip_prefix(u.as_str())
                .and_then(|r| r.strip_prefix('/'))
                .is_some_and(|n| n.starts_with(LOCK_PREFIX))),
            "{u:?} has no lock"
        );
    }
    let markers = listing.latest_markers();
    assert!(
        markers.windows(2).all(|w| w.first() < w.get(1)),
        "markers not sorted"
    );
    let walls: Vec<u64> = markers
        .iter()
        .filter_map(|m| parse_latest_marker(m).ok())
        .collect();
    assert_eq!(walls.len(), markers.len(), "a listed marker does not parse");
    assert!(
        walls.windows(2).all(|w| w.first() > w.get(1)),
        "markers not newest first"
    );
    assert_eq!(listing.latest_marker_to_read(), markers.first().cloned());
    let to_read = listing.latest_object_to_read();
    assert!(to_read == LATEST || markers.first() == Some(&to_read));
}
