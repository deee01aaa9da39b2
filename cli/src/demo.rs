//! `vouch demo`: the built-in default job. Makes an embedded cluster with the `bank` and
//! `movr` workloads, takes a full backup with revision history into a collection on the
//! local filesystem, runs more workload (with schema changes), takes two incrementals,
//! shows the collection like `SHOW BACKUPS` / `SHOW BACKUP`, verifies the chain at `vouch
//! verify`'s `full` level (every byte, block, key, row, index and fingerprint), shows that
//! a flipped bit in a copy of a data file is caught and located, restores the whole cluster AS OF a
//! past time inside the chain into a new cluster and checks that every index fingerprint
//! equals the source's at that time, and prints where everything is.

use crate::say::count;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use vouch_chain::Targets;
use vouch_chain::{open_options, Collection};
use vouch_chain::{RestoreOptions, Source};
use vouch_cluster::workload::{self, Workload};
use vouch_cluster::{Clock, Cluster};
use vouch_engine::backup::{self, BackupOptions, Destination};
use vouch_engine::restore;
use vouch_engine::show::{self, ShowOptions};
use vouch_format::sst::SstReader;

const COLLECTION: &str = "nodelocal://1/backups";

fn take(cluster: &Cluster, dest: Destination, what: &str) -> Result<backup::BackupResult> {
    let mut opts = BackupOptions::new(Targets::Cluster, dest);
    opts.revision_history = true;
    opts.statement = format!("BACKUP INTO {what}'{COLLECTION}' WITH revision_history");
    let r = backup::backup(cluster, &opts, &mut |_| {})?;
    println!(
        "  {} backup: job {} {}: {}, {}, {} -> {} in {}",
        if r.incremental { "incremental" } else { "full" },
        r.job_id,
        r.status,
        count(r.rows, "row", "rows"),
        count(r.index_entries, "index entry", "index entries"),
        count(r.bytes, "byte", "bytes"),
        count(r.files, "file", "files"),
        r.path
    );
    Ok(r)
}

pub(crate) fn run(dir: Option<PathBuf>, seed: u64) -> Result<ExitCode> {
    let dir = match dir {
        Some(d) => d,
        None => std::env::temp_dir().join(format!("vouch-demo-{}", std::process::id())),
    };
    let cdir = dir.join("cluster");
    println!("vouch demo: cluster in {}", cdir.display());
    let cluster = Cluster::init(&cdir, Clock::system())
        .with_context(|| format!("creating a cluster in {}", cdir.display()))?;
    let s = workload::init(&cluster, Workload::Bank, 5000, seed)?;
    println!("  workload bank: {s}");
    let s = workload::init(&cluster, Workload::Movr, 1000, seed)?;
    println!("  workload movr: {s}");

    println!(
        "backups into {COLLECTION} (= {}/backups):",
        cluster.extern_dir().display()
    );
    take(&cluster, Destination::Into(COLLECTION.into()), "")?;
    let mut past = cluster.now();
    for round in 1..=2u64 {
        let b = workload::run(&cluster, Workload::Bank, 400, seed + round)?;
        if round == 2 {
            // A time inside the last layer's window, for the point-in-time restore below.
            past = cluster.now();
        }
        let m = workload::run(&cluster, Workload::Movr, 200, seed + round)?;
        println!("  more workload: bank {b}; movr {m}");
        take(
            &cluster,
            Destination::IntoLatest(COLLECTION.into()),
            "LATEST IN ",
        )?;
    }

    let coll = Collection::open(COLLECTION, None, &open_options(Some(cluster.extern_dir())))?;
    println!("\nSHOW BACKUPS IN '{COLLECTION}';");
    print!("{}", show::show_backups(&coll)?.render());
    let latest = coll.latest()?;
    let chain = Collection::open(COLLECTION, None, &open_options(Some(cluster.extern_dir())))?
        .open_chain(&latest)?;
    let mut t = show::show_backup(
        &chain,
        ShowOptions {
            check_files: true,
            ..ShowOptions::default()
        },
    )?;
    // Tables only, to keep the demo short.
    t.rows
        .retain(|r| r.get(3).cloned().flatten().as_deref() == Some("table"));
    println!("\nSHOW BACKUP FROM LATEST IN '{COLLECTION}' WITH check_files; (tables)");
    print!("{}", t.render());

    // The whole chain at vouch verify's `full` level: every byte of every file, its
    // SHA-256, every block and value checksum, every key and row against its schema,
    // secondary indexes and per-index fingerprints at each layer's end.
    let report = vouch_verify::verify_collection(
        COLLECTION,
        Some("LATEST"),
        None,
        &open_options(Some(cluster.extern_dir())),
        &vouch_verify::VerifyOptions::new(vouch_verify::Level::Full),
        &mut |_| {},
    )?;
    anyhow::ensure!(
        report.errors == 0 && report.warnings == 0,
        "verify --level full found problems:\n{}",
        vouch_verify::render_human(&report)
    );
    println!(
        "\nvouch verify FROM LATEST IN '{COLLECTION}' --level full: {}, {} read in {}, 0 findings ({:.2} s)",
        count(report.files_checked as u64, "file", "files"),
        count(report.bytes_read, "byte", "bytes"),
        count(chain.chain.layers.len() as u64, "layer", "layers"),
        report.duration.as_secs_f64()
    );
    let first = match chain
        .chain
        .layers
        .first()
        .and_then(|l| l.manifest.files.first().map(|f| (l, f)))
    {
        Some((layer, f)) => {
            let path = format!("{}/{}", layer.dir, f.path);
            Some((path.clone(), coll.store.get(&path)?))
        }
        None => None,
    };
    if let Some((path, data)) = first {
        let mut bad = data;
        let at = bad.len() / 3;
        if let Some(b) = bad.get_mut(at) {
            *b ^= 0x01;
        }
        match SstReader::open(bad.as_slice()).and_then(|r| r.verify_scan()) {
            Err(e) => println!("flipped one bit at offset {at} of a copy of {path}: caught: {e}"),
            Ok(_) => anyhow::bail!("a flipped bit at offset {at} went unnoticed"),
        }
    }

    // Point-in-time restore of the whole cluster into a new one, checked against the
    // source's own history.
    let rdir = dir.join("restored");
    let restored = Cluster::init(&rdir, Clock::system())
        .with_context(|| format!("creating a cluster in {}", rdir.display()))?;
    let mut ropts = RestoreOptions::new(
        Targets::Cluster,
        Source::Collection {
            uri: format!("file://{}/backups", cluster.extern_dir().display()),
            subdir: "LATEST".into(),
            incremental_location: None,
        },
    );
    ropts.as_of = Some(past.to_string());
    println!(
        "\nRESTORE FROM LATEST IN '{COLLECTION}' AS OF SYSTEM TIME '{past}'; (into a new cluster)"
    );
    let r = restore::restore(&restored, &ropts, &mut |_| {})?;
    print!("{}", vouch_engine::output::restore_result(&r).render());
    let want = cluster.fingerprints(past)?;
    let got = restored.fingerprints(restored.now())?;
    let key = |f: &vouch_cluster::IndexFingerprint| {
        (
            f.database.clone(),
            f.table.clone(),
            f.index.clone(),
            f.fingerprint,
            f.entries,
        )
    };
    let want: Vec<_> = want.iter().map(key).collect();
    let got: Vec<_> = got.iter().map(key).collect();
    anyhow::ensure!(
        want == got,
        "the restored cluster's fingerprints differ from the source's at {past}"
    );
    println!(
        "fingerprints of all {} of the restored cluster equal the source cluster's AS OF {past} ({}, {} restored)",
        count(got.len() as u64, "index", "indexes"),
        count(r.rows, "row", "rows"),
        count(r.index_entries, "index entry", "index entries")
    );

    let c = cdir.display();
    println!("\nwhere everything is:");
    println!("  cluster:     {c}");
    println!("  restored:    {}", rdir.display());
    println!("  collection:  {}/backups", cluster.extern_dir().display());
    println!("next:");
    println!("  vouch show backups IN {COLLECTION} --cluster {c}");
    println!("  vouch show backup schemas FROM LATEST IN {COLLECTION} --cluster {c}");
    println!("  vouch cluster fingerprint {c}");
    println!(
        "  vouch verify IN file://{}/backups --level full --format json",
        cluster.extern_dir().display()
    );
    println!(
        "  vouch restore --cluster NEWDIR DATABASE bank FROM LATEST IN file://{}/backups",
        cluster.extern_dir().display()
    );
    println!("  vouch backup --cluster {c} INTO LATEST IN {COLLECTION} --revision-history");
    Ok(ExitCode::SUCCESS)
}
