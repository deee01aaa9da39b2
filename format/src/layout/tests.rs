use super::dirs::{backup_dir_of, group_backup_dirs};
use super::files::{
    checkpoint_name, data_file, lock_name, parse_backup_file, parse_checkpoint_name,
    parse_data_file, parse_encryption_info_name, parse_lock_name, BackupFile,
};
use super::listing::{normalize_object_path, Listing};
use super::names::{
    display_subdir, full_subdir, inc_name, incremental_path, incremental_subdir, latest_content,
    latest_marker, parse_full_subdir, parse_incremental_subdir, parse_latest_content,
    parse_latest_marker, truncated, FullSubdir, IncrementalSubdir, ENCRYPTION_INFO,
    FULL_SUBDIR_LEN, INCREMENTALS_DIR, INCREMENTAL_SUBDIR_LEN, LOCK_PREFIX, MANIFEST,
    MANIFEST_CHECKSUM,
};
use super::oracles::{check_listing_oracles, check_name_oracles};
use crate::error::Error;
use crate::mvcc::Timestamp;
use proptest::prelude::*;
use proptest::strategy::ValueTree;

/// 2022-03-23 21:31:01.375 UTC and 2022-03-23 21:32:01.219 UTC.
const FULL_END: Timestamp = Timestamp::new(1_648_071_061_375_000_000, 4);
const INC_END: Timestamp = Timestamp::new(1_648_071_121_219_999_999, 0);
const NOV_21: Timestamp = Timestamp::new(1_795_262_400_000_000_000, 0); // 2026-11-21 12:00:00

fn invalid_at(e: Error) -> (&'static str, u64, String) {
    match e {
        Error::Invalid {
            field,
            offset,
            reason,
        } => (field, offset, reason),
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn full_subdir_names() {
    assert_eq!(full_subdir(NOV_21), "2026/11/21-120000.00");
    assert_eq!(full_subdir(FULL_END), "2022/03/23-213101.37");
    assert_eq!(full_subdir(Timestamp::MIN), "1970/01/01-000000.00");
    assert_eq!(full_subdir(Timestamp::MAX), "2554/07/21-233433.70");
    assert_eq!(
        full_subdir(Timestamp::new(951_868_799_999_999_999, 0)),
        "2000/02/29-235959.99"
    );
    let want = FullSubdir {
        path: "2022/03/23-213101.37".into(),
        time: Timestamp::new(1_648_071_061_370_000_000, 0),
    };
    for s in [
        "2022/03/23-213101.37",
        "/2022/03/23-213101.37",
        "2022/03/23-213101.37/",
        "/2022/03/23-213101.37/",
    ] {
        assert_eq!(FullSubdir::parse(s), Ok(want.clone()), "{s}");
        assert_eq!(parse_full_subdir(s).as_deref(), Ok("2022/03/23-213101.37"));
    }
    assert_eq!(
        latest_content("2026/11/21-120000.00").unwrap(),
        "/2026/11/21-120000.00"
    );
    assert!(latest_content("2026/11/21").is_err());
    assert_eq!(
        display_subdir("2026/11/21-120000.00"),
        "/2026/11/21-120000.00"
    );
    assert_eq!(
        display_subdir("/2026/11/21-120000.00"),
        "/2026/11/21-120000.00"
    );
}

#[test]
fn full_subdir_errors() {
    let cases: &[(&str, u64, &str)] = &[
        ("", 0, "expected a digit"),
        ("/", 1, "expected a digit"),
        ("//2022/03/23-213101.37", 1, "expected a digit"),
        ("2022/03/23-213101.3", 19, "expected a digit"),
        ("2022/03/23-213101.370", 20, "unexpected text"),
        ("2022-03-23-213101.37", 4, "expected \"/\""),
        ("2022/13/23-213101.37", 5, "month 13"),
        ("2022/02/29-213101.37", 8, "day 29 is not 01 to 28"),
        ("/2022/02/29-213101.37", 9, "day 29"),
        ("2022/03/23-243101.37", 11, "hour 24"),
        ("2022/03/23-216001.37", 13, "minute 60"),
        ("2022/03/23-213160.37", 15, "second 60"),
        ("1969/12/31-235959.99", 0, "outside 1970"),
        ("2554/07/21-233434.00", 0, "outside 1970"),
        ("2022/03/23-213101.37//", 20, "unexpected text"),
    ];
    for &(s, offset, needle) in cases {
        let (field, at, reason) = invalid_at(FullSubdir::parse(s).unwrap_err());
        assert_eq!(field, "full backup subdirectory");
        assert!(reason.contains(needle), "{s:?}: {reason}");
        assert!(reason.starts_with(&format!("{s:?}: ")), "{s:?}: {reason}");
        assert_eq!(at, offset, "{s:?}: {reason}");
    }
}

#[test]
fn incremental_names() {
    assert_eq!(
        incremental_subdir("2022/03/23-213101.37", FULL_END, INC_END),
        "20220323/213201.21-20220323-213101.37"
    );
    assert_eq!(
        incremental_path(INCREMENTALS_DIR, "/2022/03/23-213101.37", FULL_END, INC_END).unwrap(),
        "incrementals/2022/03/23-213101.37/20220323/213201.21-20220323-213101.37"
    );
    assert_eq!(
        incremental_path("/backups//inc/", "2022/03/23-213101.37", FULL_END, INC_END).unwrap(),
        "backups/inc/2022/03/23-213101.37/20220323/213201.21-20220323-213101.37"
    );
    assert_eq!(
        incremental_path("", "2022/03/23-213101.37", FULL_END, INC_END).unwrap(),
        "2022/03/23-213101.37/20220323/213201.21-20220323-213101.37"
    );
    assert!(incremental_path("", "2022/03/23", FULL_END, INC_END).is_err());
    let want = IncrementalSubdir {
        path: "20220323/213201.21-20220323-213101.37".into(),
        end: Timestamp::new(1_648_071_121_210_000_000, 0),
        start: Timestamp::new(1_648_071_061_370_000_000, 0),
    };
    assert_eq!(
        parse_incremental_subdir("20220323/213201.21-20220323-213101.37"),
        Ok(want.clone())
    );
    assert_eq!(
        parse_incremental_subdir("/20220323/213201.21-20220323-213101.37/"),
        Ok(want)
    );
    // Same hundredth: allowed (the names are truncated).
    assert!(parse_incremental_subdir("20220323/213101.37-20220323-213101.37").is_ok());
    let (_, at, reason) =
        invalid_at(parse_incremental_subdir("20220323/213101.36-20220323-213101.37").unwrap_err());
    assert!(reason.contains("before the start"), "{reason}");
    assert_eq!(at, 0);
    let (_, at, reason) =
        invalid_at(parse_incremental_subdir("20220323/213201.21-20220230-213101.37").unwrap_err());
    assert!(reason.contains("day 30 is not 01 to 28"), "{reason}");
    assert_eq!(at, 25);
    let (_, at, _) =
        invalid_at(parse_incremental_subdir("20220323/213201.21_20220323-213101.37").unwrap_err());
    assert_eq!(at, 18);
}

#[test]
fn latest_names_sort_newest_first() {
    assert_eq!(
        latest_marker(NOV_21),
        "metadata/latest/LATEST-16651481673709551615"
    );
    assert_eq!(
        latest_marker(Timestamp::MIN),
        "metadata/latest/LATEST-18446744073709551615"
    );
    assert_eq!(
        latest_marker(Timestamp::MAX),
        "metadata/latest/LATEST-00000000000000000000"
    );
    assert_eq!(parse_latest_marker(&latest_marker(NOV_21)), Ok(NOV_21.wall));
    let older = latest_marker(FULL_END);
    let newer = latest_marker(INC_END);
    assert!(newer < older);
    let (field, at, _) = invalid_at(parse_latest_marker("metadata/latest/LATEST-123").unwrap_err());
    assert_eq!((field, at), ("LATEST marker", 23));
    let (_, at, _) = invalid_at(parse_latest_marker("metadata/LATEST-123").unwrap_err());
    assert_eq!(at, 9);
    let (_, at, reason) =
        invalid_at(parse_latest_marker("metadata/latest/LATEST-99999999999999999999").unwrap_err());
    assert_eq!(at, 23);
    assert!(reason.contains("over 2^64"), "{reason}");
}

#[test]
fn latest_content_is_forgiving_about_whitespace_and_the_slash() {
    for c in [
        "/2026/11/21-120000.00",
        "2026/11/21-120000.00",
        "/2026/11/21-120000.00\n",
        "  /2026/11/21-120000.00\r\n",
        "/2026/11/21-120000.00/",
    ] {
        assert_eq!(
            parse_latest_content(c.as_bytes()).as_deref(),
            Ok("2026/11/21-120000.00"),
            "{c:?}"
        );
    }
    let (field, at, reason) = invalid_at(parse_latest_content(b"\n").unwrap_err());
    assert_eq!((field, at), ("LATEST content", 0));
    assert!(reason.contains("empty"));
    let (field, at, reason) =
        invalid_at(parse_latest_content(b"  /2026/13/21-120000.00").unwrap_err());
    assert_eq!((field, at), ("LATEST content", 8));
    assert!(reason.contains("month 13"), "{reason}");
    let (_, at, reason) = invalid_at(parse_latest_content(b"/2026/\xff").unwrap_err());
    assert_eq!(at, 6);
    assert!(reason.contains("UTF-8"));
}

#[test]
fn backup_directory_files() {
    assert_eq!(data_file(1), "data/000001.sst");
    assert_eq!(data_file(1_234_567), "data/1234567.sst");
    assert_eq!(data_file(u64::MAX), "data/18446744073709551615.sst");
    assert_eq!(
        lock_name(774_413_451_232_018_433),
        "BACKUP-LOCK-774413451232018433"
    );
    assert_eq!(
        checkpoint_name(0),
        "progress/BACKUP-CHECKPOINT-18446744073709551615"
    );
    assert_eq!(
        checkpoint_name(3),
        "progress/BACKUP-CHECKPOINT-18446744073709551612"
    );
    assert!(checkpoint_name(4) < checkpoint_name(3));
    for (f, name) in [
        (BackupFile::Manifest, "BACKUP_MANIFEST"),
        (BackupFile::ManifestChecksum, "BACKUP_MANIFEST-CHECKSUM"),
        (BackupFile::EncryptionInfo, "ENCRYPTION-INFO"),
        (BackupFile::EncryptionInfoRotation(1), "ENCRYPTION-INFO-1"),
        (BackupFile::EncryptionInfoRotation(12), "ENCRYPTION-INFO-12"),
        (BackupFile::Listing, "BACKUP-LISTING"),
        (BackupFile::Data(42), "data/000042.sst"),
        (BackupFile::Lock(0), "BACKUP-LOCK-0"),
        (
            BackupFile::Checkpoint(9),
            "progress/BACKUP-CHECKPOINT-18446744073709551606",
        ),
    ] {
        assert_eq!(f.name(), name);
        assert_eq!(parse_backup_file(name), Ok(f));
    }
    for (s, at, needle) in [
        ("data/00001.sst", 5, "at least 6"),
        ("data/0000001.sst", 5, "leading zero"),
        ("data/000001.SST", 15, "end in .sst"),
        ("data/99999999999999999999.sst", 5, "over 2^64"),
        ("dat/000001.sst", 3, "expected data/"),
    ] {
        let (_, got, reason) = invalid_at(parse_data_file(s).unwrap_err());
        assert!(reason.contains(needle), "{s}: {reason}");
        assert_eq!(got, at, "{s}: {reason}");
    }
    for s in [
        "ENCRYPTION-INFO-",
        "ENCRYPTION-INFO-0",
        "ENCRYPTION-INFO-01",
        "ENCRYPTION-INFO-1x",
    ] {
        let (_, got, _) = invalid_at(parse_encryption_info_name(s).unwrap_err());
        assert_eq!(got, 16, "{s}");
    }
    for (s, at, needle) in [
        ("BACKUP-LOCK-", 12, "decimal number"),
        ("BACKUP-LOCK-01", 12, "leading zero"),
        ("BACKUP-LOCK-1x", 12, "decimal number"),
        ("BACKUP-LOCK--1", 12, "decimal number"),
        ("BACKUP_LOCK-1", 6, "expected BACKUP-LOCK-"),
    ] {
        let (_, got, reason) = invalid_at(parse_lock_name(s).unwrap_err());
        assert!(reason.contains(needle), "{s}: {reason}");
        assert_eq!(got, at, "{s}: {reason}");
    }
    let (_, at, _) = invalid_at(parse_backup_file(".DS_Store").unwrap_err());
    assert_eq!(at, 0);
    assert!(parse_checkpoint_name("progress/BACKUP-CHECKPOINT-1").is_err());
}

/// Every valid name of the layout, for the systematic damage tests.
fn samples() -> Vec<String> {
    vec![
        full_subdir(FULL_END),
        format!("/{}", full_subdir(NOV_21)),
        inc_name(FULL_END, INC_END),
        latest_marker(NOV_21),
        data_file(7),
        data_file(12_345_678),
        lock_name(774_413_451_232_018_433),
        checkpoint_name(5),
        MANIFEST.to_string(),
        MANIFEST_CHECKSUM.to_string(),
        ENCRYPTION_INFO.to_string(),
        "/2026/11/21-120000.00\n".to_string(),
    ]
}

#[test]
fn every_truncation_parses_correctly_or_fails_cleanly() {
    for s in samples() {
        for cut in 0..=s.len() {
            if let Some(prefix) = s.get(..cut) {
                check_name_oracles(prefix);
            }
        }
    }
}

#[test]
fn every_byte_change_parses_correctly_or_fails_cleanly() {
    let mut accepted = 0;
    for s in samples() {
        let bytes = s.as_bytes();
        for i in 0..bytes.len() {
            for v in 0..=255u8 {
                let mut m = bytes.to_vec();
                m[i] = v;
                let text = String::from_utf8_lossy(&m);
                check_name_oracles(&text);
                let _ = parse_latest_content(&m);
                if text != s && FullSubdir::parse(&text).is_ok() {
                    accepted += 1;
                }
            }
        }
    }
    // Digit changes that still make a valid date are other valid names.
    assert!(accepted > 0);
}

#[test]
fn listing_resolves_a_collection_with_stray_objects() {
    let inc1 = "incrementals/2022/03/23-213101.37/20220323/213201.21-20220323-213101.37";
    let inc2 = "incrementals/2022/03/23-213101.37/20220324/000000.00-20220323-213201.21";
    let listing = Listing::new([
        "",
        "/",
        "2022/",
        "2022/03/",
        ".DS_Store",
        "2022/03/.DS_Store",
        "./2022/03/23-213101.37/BACKUP_MANIFEST",
        "2022/03/23-213101.37//BACKUP_MANIFEST-CHECKSUM",
        "/2022/03/23-213101.37/data/000001.sst",
        "2022/03/23-213101.37/BACKUP-LOCK-77",
        "2022/03/23-213101.37/../../etc/passwd",
        // A complete full backup, listed twice in two spellings.
        "2023/01/01-000000.00/BACKUP_MANIFEST",
        "2023//01/01-000000.00/BACKUP_MANIFEST",
        // Not full backups: bad date, wrong shape, legacy root manifest.
        "2023/02/30-000000.00/BACKUP_MANIFEST",
        "2023/01/01-000000.0/BACKUP_MANIFEST",
        "BACKUP_MANIFEST",
        "2023/01/01-000000.00/sub/BACKUP_MANIFEST",
        // An unfinished full backup.
        "2024/05/05-050505.05/BACKUP-LOCK-1",
        "2024/05/05-050505.05/data/000001.sst",
        // Incrementals of the first: two complete (listed out of order), one unfinished,
        // one with a malformed name.
        &format!("{inc2}/BACKUP_MANIFEST"),
        &format!("{inc1}/BACKUP_MANIFEST"),
        &format!("{inc1}/data/000001.sst"),
        "incrementals/2022/03/23-213101.37/20220325/000000.00-20220324-000000.00/BACKUP-LOCK-9",
        "incrementals/2022/03/23-213101.37/20220325/000000.00/BACKUP_MANIFEST",
        "incrementals/2022/03/23-213101.37/20220325/000000.00-20220326-000000.00/BACKUP_MANIFEST",
        // Legacy layout: an incremental inside the full backup's directory.
        "2023/01/01-000000.00/20230102/000000.00-20230101-000000.00/BACKUP_MANIFEST",
        // Markers, one stray.
        &latest_marker(FULL_END),
        &latest_marker(INC_END),
        "metadata/latest/LATEST-",
        "metadata/latest/LATEST-00000000000000000000.tmp",
        "metadata/latest/",
        "LATEST",
    ]);
    check_listing_oracles(&listing);
    assert_eq!(
        listing.full_backups(),
        vec!["2022/03/23-213101.37", "2023/01/01-000000.00"]
    );
    assert_eq!(
        listing.unfinished(),
        vec![
            "2024/05/05-050505.05",
            "incrementals/2022/03/23-213101.37/20220325/000000.00-20220324-000000.00"
        ]
    );
    assert_eq!(
        listing.incrementals("/2022/03/23-213101.37", INCREMENTALS_DIR),
        vec![inc1, inc2]
    );
    assert_eq!(
        listing.incrementals("2022/03/23-213101.37/", "/incrementals/"),
        vec![inc1, inc2]
    );
    assert_eq!(
        listing.incrementals("2022/03/23-213101.37", ""),
        Vec::<String>::new()
    );
    assert_eq!(
        listing.incrementals("2023/01/01-000000.00", ""),
        vec!["2023/01/01-000000.00/20230102/000000.00-20230101-000000.00"]
    );
    assert_eq!(
        listing.incrementals("not a backup", INCREMENTALS_DIR),
        Vec::<String>::new()
    );
    assert_eq!(
        listing.latest_markers(),
        vec![latest_marker(INC_END), latest_marker(FULL_END)]
    );
    assert_eq!(
        listing.latest_marker_to_read(),
        Some(latest_marker(INC_END))
    );
    assert_eq!(listing.latest_object_to_read(), latest_marker(INC_END));
    assert!(listing.contains("./2022/03/23-213101.37/BACKUP_MANIFEST"));
    assert!(!listing.contains("2022/03/23-213101.37/../../etc/passwd"));
    assert!(listing
        .objects()
        .all(|p| !p.is_empty() && !p.contains("//") && !p.starts_with('/')));

    let bare = Listing::new(["LATEST", "2022/03/23-213101.37/BACKUP_MANIFEST"]);
    assert_eq!(bare.latest_marker_to_read(), None);
    assert_eq!(bare.latest_object_to_read(), "LATEST");
    assert_eq!(
        Listing::new(Vec::<String>::new()).latest_object_to_read(),
        "LATEST"
    );
    assert!(Listing::default().is_empty());
}

#[test]
fn structured_listings_find_backups() {
    // The generator makes listings with complete and unfinished backups, so the
    // property above exercises more than empty results.
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let (mut fulls, mut incs, mut unfinished) = (0, 0, 0);
    for _ in 0..50 {
        let paths = proptest::collection::vec(structured_path(), 0..40)
            .new_tree(&mut runner)
            .unwrap()
            .current();
        let l = Listing::new(&paths);
        fulls += l.full_backups().len();
        incs += l
            .full_backups()
            .iter()
            .map(|f| l.incrementals(f, INCREMENTALS_DIR).len() + l.incrementals(f, "").len())
            .sum::<usize>();
        unfinished += l.unfinished().len();
    }
    assert!(
        fulls > 0 && incs > 0 && unfinished > 0,
        "{fulls} {incs} {unfinished}"
    );
}

#[test]
fn normalizing_object_paths() {
    for (p, want) in [
        ("a/b", Some("a/b")),
        ("./a//b", Some("a/b")),
        ("/a/./b", Some("a/b")),
        ("a/b/", None),
        ("", None),
        ("/", None),
        ("./", None),
        (".", None),
        ("a/../b", None),
        ("..", None),
        ("a/..b", Some("a/..b")),
    ] {
        assert_eq!(normalize_object_path(p).as_deref(), want, "{p:?}");
    }
}

fn path_piece() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("/".to_string()),
        Just("./".to_string()),
        Just("..".to_string()),
        Just(MANIFEST.to_string()),
        Just(LOCK_PREFIX.to_string()),
        Just("incrementals/".to_string()),
        Just("metadata/latest/LATEST-".to_string()),
        (0u64..u64::MAX).prop_map(|w| full_subdir(Timestamp::new(w, 0))),
        (0u64..u64::MAX, 0u64..u64::MAX)
            .prop_map(|(a, b)| inc_name(Timestamp::new(a.min(b), 0), Timestamp::new(a.max(b), 0))),
        any::<u64>().prop_map(|w| latest_marker(Timestamp::new(w, 0))),
        "[0-9/.\\-A-Z_a-z]{0,12}",
        "\\PC{0,6}",
    ]
}

fn path() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::collection::vec(path_piece(), 0..6).prop_map(|v| v.join("/")),
        structured_path(),
    ]
}

/// Paths of a few backups (so that they share directories), with stray spellings.
fn structured_path() -> impl Strategy<Value = String> {
    let t = |i: u64| Timestamp::new(1_600_000_000_000_000_000 + i * 3_600_000_000_000, 0);
    (
        0u64..4,
        prop::option::of((0u64..4, 0u64..4)),
        prop_oneof![
            Just(MANIFEST.to_string()),
            Just(lock_name(1)),
            Just(data_file(1)),
            Just(".DS_Store".to_string()),
            Just(String::new()),
        ],
        prop_oneof![Just(""), Just("/"), Just("./"), Just("incrementals/")],
        prop_oneof![Just("/"), Just("//"), Just("/./")],
    )
        .prop_map(move |(full, inc, file, lead, sep)| {
            let f = full_subdir(t(full));
            let mut p = match inc {
                Some((a, b)) => {
                    let (s, e) = (t(full + a.min(b)), t(full + a.max(b)));
                    let root = if lead == "incrementals/" {
                        "incrementals/"
                    } else {
                        ""
                    };
                    format!("{root}{f}{sep}{}", inc_name(s, e))
                }
                None => format!("{lead}{f}"),
            };
            p.push_str(sep);
            p.push_str(&file);
            p
        })
}

proptest! {
    #[test]
    fn listing_never_panics_and_keeps_its_promises(paths in proptest::collection::vec(path(), 0..40)) {
        let listing = Listing::new(&paths);
        check_listing_oracles(&listing);
        // Order and duplicates in the input do not matter.
        let mut rev = paths.clone();
        rev.reverse();
        rev.extend(paths.iter().cloned());
        prop_assert_eq!(Listing::new(&rev), listing);
    }

    #[test]
    fn names_round_trip(w in any::<u64>(), a in any::<u64>(), b in any::<u64>(), n in any::<u64>()) {
        let t = Timestamp::new(w, 3);
        let f = FullSubdir::parse(&full_subdir(t)).unwrap();
        prop_assert_eq!(f.time, truncated(t));
        prop_assert_eq!(FullSubdir::parse(&format!("/{}", f.path)).unwrap().path, full_subdir(t));
        let (s, e) = (Timestamp::new(a.min(b), 0), Timestamp::new(a.max(b), 0));
        let i = parse_incremental_subdir(&inc_name(s, e)).unwrap();
        prop_assert_eq!((i.start, i.end), (truncated(s), truncated(e)));
        prop_assert_eq!(parse_latest_marker(&latest_marker(t)), Ok(w));
        prop_assert_eq!(parse_data_file(&data_file(n)), Ok(n));
        prop_assert_eq!(parse_lock_name(&lock_name(n)), Ok(n));
        prop_assert_eq!(parse_checkpoint_name(&checkpoint_name(n)), Ok(n));
        prop_assert_eq!(
            parse_latest_content(latest_content(&full_subdir(t)).unwrap().as_bytes()),
            Ok(full_subdir(t))
        );
    }

    #[test]
    fn names_sort_like_their_times(a in any::<u64>(), b in any::<u64>()) {
        let (ta, tb) = (Timestamp::new(a, 0), Timestamp::new(b, 0));
        prop_assert_eq!(full_subdir(ta).cmp(&full_subdir(tb)), truncated(ta).cmp(&truncated(tb)));
        prop_assert_eq!(latest_marker(ta).cmp(&latest_marker(tb)), b.cmp(&a));
        prop_assert_eq!(checkpoint_name(a).cmp(&checkpoint_name(b)), b.cmp(&a));
    }

    #[test]
    fn arbitrary_names_never_panic(s in "\\PC{0,48}") {
        check_name_oracles(&s);
    }
}

#[test]
fn name_lengths() {
    assert_eq!(FULL_SUBDIR_LEN, 20);
    assert_eq!(INCREMENTAL_SUBDIR_LEN, 37);
    let t = Timestamp::new(1_648_071_061_370_000_000, 0);
    assert_eq!(full_subdir(t).len(), FULL_SUBDIR_LEN);
    assert_eq!(inc_name(t, t).len(), INCREMENTAL_SUBDIR_LEN);
}

#[test]
fn objects_grouped_by_backup_directory() {
    let full = "2022/03/23-213101.37";
    let inc = "20220323/213201.21-20220323-213101.37";
    let paths = [
        format!("{full}/BACKUP_MANIFEST"),
        format!("{full}/{}", data_file(1)),
        format!("{full}/notes.txt"),
        format!("incrementals/{full}/{inc}/BACKUP-LOCK-7"),
        format!("incrementals/{full}/{inc}/progress/BACKUP-CHECKPOINT-18446744073709551614"),
        format!("{full}/{inc}/BACKUP_MANIFEST-CHECKSUM"),
        "LATEST".to_string(),
        "2022/03/23-21310.37/BACKUP_MANIFEST".to_string(),
        format!("incrementals/{full}/BACKUP_MANIFEST"),
    ];
    let g = group_backup_dirs(&paths, INCREMENTALS_DIR, true);
    assert_eq!(
        g.dirs.keys().map(String::as_str).collect::<Vec<_>>(),
        vec![full.to_string(), format!("incrementals/{full}/{inc}")]
    );
    let f = &g.dirs[full];
    assert!(f.manifest && !f.checksum && !f.lock && !f.unfinished());
    assert_eq!(
        f.files,
        vec![
            ("BACKUP_MANIFEST".to_string(), Some(BackupFile::Manifest)),
            (data_file(1), Some(BackupFile::Data(1))),
            ("notes.txt".to_string(), None),
            (format!("{inc}/BACKUP_MANIFEST-CHECKSUM"), None),
        ]
    );
    let i = &g.dirs[&format!("incrementals/{full}/{inc}")];
    assert!(i.lock && i.unfinished());
    assert_eq!(i.files.len(), 2);
    assert_eq!(
        g.other,
        vec![
            "LATEST".to_string(),
            "2022/03/23-21310.37/BACKUP_MANIFEST".to_string(),
            format!("incrementals/{full}/BACKUP_MANIFEST"),
        ]
    );
    // The legacy place, and a separate incremental location (no full backups there).
    let legacy = group_backup_dirs(&paths, "", true);
    assert!(legacy.dirs[&format!("{full}/{inc}")].checksum);
    let sep = group_backup_dirs(
        &[format!("{full}/{inc}/BACKUP_MANIFEST"), format!("{full}/x")],
        "",
        false,
    );
    assert_eq!(sep.dirs.len(), 1);
    assert!(sep.dirs[&format!("{full}/{inc}")].manifest);
    assert_eq!(sep.other, vec![format!("{full}/x")]);
    assert_eq!(
        backup_dir_of(
            &format!("/incrementals/{full}/{inc}/x"),
            "/incrementals/",
            true
        ),
        None
    );
    assert_eq!(
        backup_dir_of(
            &format!("incrementals/{full}/{inc}/x"),
            "/incrementals/",
            true
        ),
        Some((format!("incrementals/{full}/{inc}").as_str(), "x"))
    );
}
