//! `verify_collection`: opens the collection, finds its chains and layers by name (never
//! stopping at a broken manifest), runs the levels and assembles the report.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use vouch_chain::join;
use vouch_chain::sealed::{self as crypto, ChainKey};
use vouch_chain::Collection;
use vouch_format::layout::{self, BackupFile};
use vouch_format::mvcc::Timestamp;
use vouch_store::{OpenOptions, Store};

use crate::finding::{Finding, Severity};
use crate::report::{
    ChainReport, CheckResult, Error, LayerReport, Level, Progress, Report, ShardInfo,
    VerifyOptions, REPORT_FORMAT_VERSION,
};
use crate::state::{is_full_name, ChainState, Counted, Ctx, Inner, Which};
use crate::{data, metadata, schema_checks, sealed, shard};

/// Every object of the store (normalized names, sorted) and its size as listed.
fn list(store: &dyn Store) -> Result<(Vec<String>, HashMap<String, u64>), Error> {
    let mut names = Vec::new();
    let mut sizes = HashMap::new();
    for o in store.list("")? {
        if let Some(p) = layout::normalize_object_path(&o.path) {
            sizes.insert(p.clone(), o.size);
            names.push(p);
        }
    }
    Ok((names, sizes))
}

/// Verifies a collection at `opts.level`: every chain (`subdir` `None`), or the chain of
/// `LATEST` or of a full backup subdirectory. `Err` only when verification could not run
/// (the store cannot be opened or listed, bad arguments, no such backup); every problem
/// in the backup itself is a [`Finding`] in the report.
pub fn verify_collection(
    uri: &str,
    subdir: Option<&str>,
    incremental_location: Option<&str>,
    store_opts: &OpenOptions,
    opts: &VerifyOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<Report, Error> {
    verify_locality_collection(
        uri,
        &[],
        subdir,
        incremental_location,
        store_opts,
        opts,
        progress,
    )
}

/// [`verify_collection`] of a locality-aware collection: `uri` holds the manifests, `others`
/// the localities' files (in any order and grouping, as RESTORE takes them). Each
/// locality-aware layer's parts are found among its own store and `others`
/// (spec/locality.md §7): a locality no store holds is a `locality_missing` finding naming
/// the locality and its files (not read), a part of another backup or listing other files
/// than the manifest a `locality_part_mismatch`; every file found is checked where it is.
pub fn verify_locality_collection(
    uri: &str,
    others: &[String],
    subdir: Option<&str>,
    incremental_location: Option<&str>,
    store_opts: &OpenOptions,
    opts: &VerifyOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<Report, Error> {
    let started = Instant::now();
    if opts.jobs == 0 {
        return Err(Error::Usage("--jobs must be at least 1".into()));
    }
    if opts.keyless && !opts.keys.is_empty() {
        return Err(Error::Usage(format!(
            "--keyless checks encrypted chains without their key, but a key was given ({}): give one or the other",
            opts.keys.describe()
        )));
    }
    if opts.keyless && opts.level == Level::Schema {
        return Err(Error::Usage(
            "--keyless runs with --level metadata or full: the schema level reads descriptors and spans, which are in the encrypted manifests (give the key)".into(),
        ));
    }
    if let Some(t) = &opts.as_of {
        if opts.level == Level::Metadata {
            return Err(Error::Usage(format!(
                "--as-of {t} needs --level schema or full (a restore plan is a schema check)"
            )));
        }
    }
    let coll = Collection::open(uri, incremental_location, store_opts)?;
    // Every read of the run goes through a store counting its bytes (progress).
    let reading = Arc::new(AtomicU64::new(0));
    let parts: Vec<Box<dyn Store>> = others
        .iter()
        .map(|u| {
            vouch_store::open(u, store_opts)
                .map(|s| Box::new(Counted::new(Inner::Owned(s), &reading)) as Box<dyn Store>)
        })
        .collect::<Result<_, _>>()?;
    let main = Counted::new(Inner::Borrowed(coll.store.as_ref()), &reading);
    let inc = Counted::new(Inner::Borrowed(coll.incrementals.store.as_ref()), &reading);
    let separate = incremental_location.is_some();
    let (main_objs, main_sizes) = list(coll.store.as_ref())?;
    let (inc_objs, inc_sizes) = if separate {
        list(coll.incrementals.store.as_ref())?
    } else {
        (Vec::new(), HashMap::new())
    };
    let inc_root = format!("{}/", layout::INCREMENTALS_DIR);
    let layout::BackupDirs {
        dirs: main_dirs,
        other: main_other,
    } = layout::group_backup_dirs(&main_objs, &inc_root, true);
    let layout::BackupDirs {
        dirs: inc_dirs,
        other: inc_other,
    } = if separate {
        layout::group_backup_dirs(&inc_objs, "", false)
    } else {
        layout::BackupDirs::default()
    };
    let as_of = match &opts.as_of {
        None => None,
        Some(t) => Some(
            vouch_format::time::parse_as_of(t, wall_now())
                .map_err(|e| Error::Usage(format!("--as-of: {e}")))?,
        ),
    };
    let target = match &opts.restore_into {
        Some(t) if opts.level >= Level::Schema => Some((t.dir.clone(), t.catalog.clone())),
        _ => None,
    };
    let ctx = Ctx {
        target,
        uri,
        incremental_location,
        store_opts,
        as_of,
        main: &main,
        inc: &inc,
        parts: &parts,
        opts,
        files_checked: AtomicUsize::new(0),
        files_done: AtomicU64::new(0),
        bytes_read: Mutex::new(0),
        reading,
    };

    // Full backups: directories with a manifest, or with the remains of a finished backup.
    let fulls: Vec<String> = main_dirs
        .iter()
        .filter(|(d, info)| is_full_name(d) && !info.unfinished())
        .map(|(d, _)| d.clone())
        .collect();
    if main_objs.is_empty() {
        return Err(Error::Usage(format!(
            "no backups found in {}: the collection is empty",
            vouch_store::message_uri(uri)
        )));
    }

    // The LATEST pointers, read ahead many at once (on an object store each is a round
    // trip; a collection of many full backups has one marker each).
    let pointers: Vec<(String, u64, u64)> = metadata::latest_pointers(&main_objs)
        .into_iter()
        .map(|p| {
            let size = main_sizes.get(&p).copied().unwrap_or(0);
            (p, size, layout::MAX_POINTER_BYTES)
        })
        .collect();
    main.read_ahead_objects(&pointers);
    let mut collection_checks = Vec::new();
    let (latest_check, latest) = metadata::check_latest(&ctx, &main_objs, &main_dirs);
    collection_checks.push(latest_check);

    let selected: Vec<String> = match subdir {
        None => fulls.clone(),
        Some(s) if s.eq_ignore_ascii_case("LATEST") => latest.into_iter().collect(),
        Some(s) => {
            let full = layout::parse_full_subdir(s)
                .map_err(|e| Error::Usage(format!("subdirectory {s:?}: {e}")))?;
            if !main_dirs.contains_key(&full) {
                return Err(Error::Usage(format!(
                    "backup {} not found in {}: no such directory",
                    layout::display_subdir(&full),
                    vouch_store::message_uri(uri)
                )));
            }
            vec![full]
        }
    };

    // Each selected chain's layers: its full backup, then its incrementals in order.
    let (inc_dirs_of, inc_which) = if separate {
        (&inc_dirs, Which::Inc)
    } else {
        (&main_dirs, Which::Main)
    };
    let plans: Vec<(&String, Vec<String>)> = selected
        .iter()
        .map(|full| {
            let prefix = if separate {
                format!("{full}/")
            } else {
                format!("{inc_root}{full}/")
            };
            let mut incs: Vec<(layout::IncrementalSubdir, &String)> = inc_dirs_of
                .iter()
                .filter(|(_, info)| !info.unfinished())
                .filter_map(|(d, _)| {
                    let rel = d.strip_prefix(&prefix)?;
                    Some((layout::parse_incremental_subdir(rel).ok()?, d))
                })
                .collect();
            incs.sort_by(|a, b| (a.0.end, a.0.start, a.1).cmp(&(b.0.end, b.0.start, b.1)));
            (full, incs.into_iter().map(|(_, d)| d.clone()).collect())
        })
        .collect();
    // Each layer's manifest, checksum and listing, read ahead many at once.
    let layer_objects =
        |dirs: &BTreeMap<String, layout::BackupDir>, sizes: &HashMap<String, u64>, dir: &str| {
            let listed = dirs
                .get(dir)
                .map(|d| d.files.as_slice())
                .unwrap_or_default();
            vouch_chain::layer::Object::ALL
                .iter()
                .filter(|o| listed.iter().any(|(n, _)| n == o.name()))
                .map(|o| {
                    let path = join(dir, o.name());
                    let size = sizes.get(&path).copied().unwrap_or(0);
                    (path, size, o.limit())
                })
                .collect::<Vec<_>>()
        };
    let mut main_ahead = Vec::new();
    let mut inc_ahead = Vec::new();
    for (full, incs) in &plans {
        main_ahead.extend(layer_objects(&main_dirs, &main_sizes, full));
        for d in incs {
            if separate {
                inc_ahead.extend(layer_objects(&inc_dirs, &inc_sizes, d));
            } else {
                main_ahead.extend(layer_objects(&main_dirs, &main_sizes, d));
            }
        }
    }
    main.read_ahead_objects(&main_ahead);
    inc.read_ahead_objects(&inc_ahead);

    // Layers of every selected chain, with their manifests read and checked.
    let mut chains = Vec::new();
    for &(full, ref incs) in &plans {
        // Encrypted: key records or an integrity listing in the full backup's directory.
        // Every key record is read and checked, with or without the key, before any key
        // derivation.
        // (From the listing made already: no second LIST of the directory.)
        let names = main_dirs
            .get(full)
            .into_iter()
            .flat_map(|d| d.files.iter().map(|(n, _)| n.as_str()));
        let records = crypto::key_records_among(ctx.main, full, names)?;
        let encrypted = records.encrypted;
        let mut key_check = CheckResult::new("key_records");
        key_check
            .findings
            .extend(records.issues.iter().map(key_record_finding));
        let key = chain_key(&ctx, full, &records)?;
        let enc = metadata::Enc {
            encrypted,
            key: key.as_deref(),
        };
        let mut layers = vec![metadata::read_layer(&ctx, full, Which::Main, true, enc)];
        for d in incs {
            layers.push(metadata::read_layer(&ctx, d, inc_which, false, enc));
        }
        metadata::check_chain(&mut layers);
        let not_checked = if encrypted && key.is_none() {
            crate::report::not_checked_without_key(opts.level)
        } else {
            Vec::new()
        };
        chains.push(ChainState {
            full: full.clone(),
            encrypted,
            key,
            not_checked,
            layers,
            checks: if encrypted {
                vec![key_check]
            } else {
                Vec::new()
            },
            owned: None,
        });
    }
    if !opts.keys.is_empty() && !chains.iter().any(|c| c.encrypted) {
        // A key was given, but nothing selected is encrypted: say so, as restore does.
        vouch_keys::check_not_encrypted(&opts.keys).map_err(vouch_chain::Error::from)?;
    }
    // The sizes the listings gave spare a HEAD per data file (on an object store, one
    // request per file); files the listings did not show are asked for (a locality
    // store's are never listed: asked for).
    let listed = |w: Which, path: &str| {
        match w {
            Which::Part(_) => return None,
            Which::Inc if separate => &inc_sizes,
            _ => &main_sizes,
        }
        .get(path)
        .copied()
    };
    for c in chains.iter_mut() {
        metadata::find_localities(&ctx, c);
    }
    metadata::stat_files(&ctx, &mut chains, &listed, progress);

    // `--shard K/N`: what this shard owns, from the manifests every shard reads alike.
    let shard = match opts.shard {
        None => None,
        Some(sh) => {
            let what = [
                ("level", opts.level.name().to_string()),
                ("selected", selected.join(",")),
                ("as_of", as_of.map_or_else(String::new, |t| t.to_string())),
                ("strict", opts.strict.to_string()),
                (
                    "max_findings",
                    opts.max_findings
                        .map_or_else(String::new, |n| n.to_string()),
                ),
                ("keys", (!opts.keys.is_empty()).to_string()),
                ("keyless", opts.keyless.to_string()),
                ("incremental_location", separate.to_string()),
            ];
            let plan = shard::plan(&chains, sh, &what);
            let (owned, units, bytes) = shard::assign(&chains, sh);
            for (c, o) in chains.iter_mut().zip(owned) {
                c.owned = Some(o);
            }
            Some(ShardInfo {
                index: sh.index,
                count: sh.count,
                plan,
                max_findings: opts.max_findings,
                units,
                bytes,
            })
        }
    };

    // Collection-wide: stray objects and unfinished backups.
    let chosen: BTreeSet<&str> = chains
        .iter()
        .flat_map(|c| c.layers.iter().map(|l| l.dir.as_str()))
        .collect();
    let whole = subdir.is_none();
    let mut strays = CheckResult::new("strays");
    let mut unfinished = CheckResult::new("unfinished");
    for (which, dirs, other) in [
        (Which::Main, &main_dirs, &main_other),
        (Which::Inc, &inc_dirs, &inc_other),
    ] {
        let layer_of = |d: &str| {
            chains
                .iter()
                .flat_map(|c| c.layers.iter())
                .find(|l| l.which == which && l.dir == d)
        };
        for (d, info) in dirs {
            if info.unfinished() {
                if whole || in_selected(d, which, &selected, &inc_root) {
                    unfinished.findings.push(Finding::warning(
                        "unfinished_backup",
                        d.clone(),
                        format!(
                            "{d}: a backup was started here and never finished (a lock{} and no {})",
                            if info.files.iter().any(|f| matches!(f.1, Some(BackupFile::Checkpoint(_)))) {
                                " and checkpoints"
                            } else {
                                ""
                            },
                            layout::MANIFEST
                        ),
                    ));
                }
                continue;
            }
            if !whole && !chosen.contains(d.as_str()) {
                continue;
            }
            let listed: Option<BTreeSet<&str>> = layer_of(d)
                .and_then(|l| l.manifest.as_ref())
                .map(|m| m.files.iter().map(|f| f.path.as_str()).collect());
            for (name, parsed) in &info.files {
                let stray = match parsed {
                    None => true,
                    Some(BackupFile::Data(_)) => {
                        listed.as_ref().is_some_and(|l| !l.contains(name.as_str()))
                    }
                    Some(_) => false,
                };
                if stray {
                    let p = join(d, name);
                    strays.findings.push(
                        Finding::warning(
                            "stray_object",
                            p.clone(),
                            format!("{p}: an object no manifest lists (left by a copy tool or an interrupted run?)"),
                        )
                        .in_layer(d.clone()),
                    );
                }
            }
        }
        if whole {
            for p in other.iter() {
                let known = which == Which::Main
                    && (p == layout::LATEST
                        || (p.starts_with(layout::LATEST_DIR)
                            && layout::parse_latest_marker(p).is_ok()));
                if !known {
                    strays.findings.push(Finding::warning(
                        "stray_object",
                        p.clone(),
                        format!("{p}: an object that is not part of any backup"),
                    ));
                }
            }
        }
    }
    collection_checks.push(strays);
    collection_checks.push(unfinished);

    if opts.level >= Level::Schema {
        for c in chains.iter_mut().filter(|c| !keyless(c)) {
            schema_checks::check_chain(&ctx, c);
        }
    }
    // Shards other than 1 count only the work they own.
    let files_before = ctx.files_checked.load(Ordering::Relaxed) as u64;
    let bytes_before = ctx.bytes_read.lock().map(|b| *b).unwrap_or(0);
    if opts.level >= Level::Full {
        for c in &mut chains {
            if keyless(c) {
                sealed::check_chain(&ctx, c, progress);
            } else {
                data::check_full(&ctx, c, progress);
            }
        }
    }

    let mut files_checked = ctx.files_checked.load(Ordering::Relaxed) as u64;
    let mut bytes_read = ctx.bytes_read.lock().map(|b| *b).unwrap_or(0);
    let not_first = opts.shard.is_some_and(|s| !s.is_first());
    if not_first {
        files_checked -= files_before.min(files_checked);
        bytes_read -= bytes_before.min(bytes_read);
        // Shard 1 reports the checks of the collection, chains and layers; this one only
        // what it owns.
        for c in &mut collection_checks {
            c.findings.clear();
        }
        for ch in &mut chains {
            for c in &mut ch.checks {
                c.findings.clear();
            }
            for l in &mut ch.layers {
                for c in l
                    .checks
                    .iter_mut()
                    .filter(|c| !shard::OWNED_CHECKS.contains(&c.name))
                {
                    c.findings.clear();
                }
            }
        }
    }
    let mut report = Report {
        format_version: REPORT_FORMAT_VERSION,
        level: opts.level,
        collection: vouch_store::redact_uri(uri),
        collection_checks,
        chains: chains
            .into_iter()
            .map(|c| ChainReport {
                full_subdir: c.full,
                layers: c
                    .layers
                    .into_iter()
                    .map(|l| LayerReport {
                        dir: l.dir,
                        checks: l.checks,
                    })
                    .collect(),
                checks: c.checks,
                encrypted: c.encrypted,
                not_checked: c.not_checked,
            })
            .collect(),
        findings: Vec::new(),
        errors: 0,
        warnings: 0,
        findings_omitted: 0,
        files_checked,
        bytes_read,
        duration: started.elapsed(),
        strict: opts.strict,
        keyless: opts.keyless,
        shard,
    };
    // A shard keeps every finding: the merge applies the cap to the whole.
    let cap = if opts.shard.is_some() {
        None
    } else {
        opts.max_findings
    };
    finalize(&mut report, cap);
    Ok(report)
}

/// An encrypted chain read without its key.
fn keyless(c: &ChainState) -> bool {
    c.encrypted && c.key.is_none()
}

/// A finding of a chain's key records: its kind is the problem's name, the same name a
/// restore's `ErrorKind::KeyRecord` gives.
fn key_record_finding(i: &crypto::KeyRecordIssue) -> Finding {
    let mut f = Finding::error(
        i.problem.name(),
        i.path.clone(),
        format!("{}: {}", i.path, i.message),
    );
    f.offset = i.offset();
    f
}

/// The data key of the chain of `full` (its key records already checked) from the keys
/// given: `None` for a chain that is not encrypted; for an encrypted one read without its
/// key — `--keyless`, or the `metadata` level with no key given, or key records with a
/// problem (their findings say why nothing could be unlocked) — `None` too (the key-less
/// checks run). Verification cannot run (exit 2, the cause named) when the keys given do
/// not unlock sound key records, or at the `schema` or `full` level without a key and
/// without `--keyless` (the message names the key the chain needs).
fn chain_key(
    ctx: &Ctx<'_>,
    full: &str,
    records: &crypto::KeyRecords,
) -> Result<Option<ChainKey>, Error> {
    if !records.encrypted || !records.issues.is_empty() {
        return Ok(None);
    }
    let Some((_, newest)) = records.good.first() else {
        return Ok(None);
    };
    if ctx.opts.keys.is_empty() {
        if ctx.opts.level == Level::Metadata || ctx.opts.keyless {
            return Ok(None);
        }
        // The engine's own message: what key the chain needs.
        let e = match vouch_keys::unlock(newest, &ctx.opts.keys) {
            Err(e) => e.to_string(),
            Ok(_) => format!("backup {} is encrypted", layout::display_subdir(full)),
        };
        let needs = match ctx.opts.level {
            Level::Schema => "descriptors and spans are in its encrypted manifests",
            _ => "rows, blocks, indexes and fingerprints are in its encrypted files; --keyless checks what can be checked without it",
        };
        return Err(Error::Usage(format!(
            "--level {} needs the key of the encrypted backup {} ({needs}): {e}",
            ctx.opts.level,
            layout::display_subdir(full)
        )));
    }
    let key = vouch_keys::unlock(newest, &ctx.opts.keys).map_err(vouch_chain::Error::from)?;
    Ok(Some(std::sync::Arc::new(key)))
}

/// True when the backup directory `d` belongs to one of the selected chains.
fn in_selected(d: &str, which: Which, selected: &[String], inc_root: &str) -> bool {
    selected.iter().any(|f| match which {
        Which::Main => d == f || d.starts_with(&format!("{inc_root}{f}/")),
        Which::Inc => d.starts_with(&format!("{f}/")),
        Which::Part(_) => false,
    })
}

/// Puts the findings of each check in their canonical order, counts them, applies the cap
/// (in check order) and fills `report.findings`.
pub(crate) fn finalize(report: &mut Report, cap: Option<usize>) {
    let mut kept = 0usize;
    let mut all = Vec::new();
    let mut visit =
        |c: &mut CheckResult, errors: &mut u64, warnings: &mut u64, omitted: &mut u64| {
            shard::canonical_order(c.name, &mut c.findings);
            let mut keep = Vec::new();
            for f in c.findings.drain(..) {
                match f.severity {
                    Severity::Error => *errors += 1,
                    Severity::Warning => *warnings += 1,
                }
                if cap.is_none_or(|n| kept < n) {
                    kept += 1;
                    all.push(f.clone());
                    keep.push(f);
                } else {
                    *omitted += 1;
                }
            }
            c.findings = keep;
        };
    let (mut e, mut w, mut o) = (0, 0, 0);
    for c in &mut report.collection_checks {
        visit(c, &mut e, &mut w, &mut o);
    }
    for ch in &mut report.chains {
        for l in &mut ch.layers {
            for c in &mut l.checks {
                visit(c, &mut e, &mut w, &mut o);
            }
        }
        for c in &mut ch.checks {
            visit(c, &mut e, &mut w, &mut o);
        }
    }
    report.errors = e;
    report.warnings = w;
    report.findings_omitted = o;
    report.findings = all;
}

/// The wall clock as an HLC timestamp (for relative `--as-of` texts).
fn wall_now() -> Timestamp {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    Timestamp::new(nanos, 0)
}
