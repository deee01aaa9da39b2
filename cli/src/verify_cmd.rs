//! `vouch verify [FROM LATEST|'subdir'] IN URI --level metadata|schema|full`: the three
//! offline validation levels (spec/verify-report.md). Exit codes: 0 clean, 1 findings of
//! error severity (or warnings with `--strict`), 2 could not run. With `--shard K/N` one
//! part of the run; `vouch verify merge PART.json…` makes the parts' JSON reports one
//! report (spec/verify-report.md §7).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use vouch_verify::{render_human, render_junit, Level, Progress, Report, Shard, VerifyOptions};

use vouch_sql::backup_stmt::{single_uri, Scope};
use vouch_sql::grammar::words;

/// Arguments of `vouch verify`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// `[FROM LATEST|'subdir'] IN URI`: without FROM, every chain of the collection.
    /// `merge PART.json…`: one report from the JSON reports of every shard of a run.
    #[arg(num_args = 0..)]
    words: Vec<String>,
    /// metadata (manifests, checksums, sizes, chain, LATEST), schema (+ descriptors,
    /// references, spans, restore plan) or full (+ every byte, row and fingerprint).
    #[arg(long)]
    level: Option<String>,
    /// Also plan a restore at this time (AS OF SYSTEM TIME text; schema level and above).
    #[arg(long, allow_hyphen_values = true)]
    as_of: Option<String>,
    /// Output: human or json.
    #[arg(long, default_value = "human")]
    format: String,
    /// Also write a JUnit XML report to FILE.
    #[arg(long)]
    junit: Option<PathBuf>,
    /// Parallel workers for stat and file reads (default: the CPUs available).
    #[arg(long)]
    jobs: Option<usize>,
    /// WITH incremental_location = URI.
    #[arg(long)]
    incremental_location: Option<String>,
    /// A cluster directory `nodelocal://` URIs resolve in (its `extern/` folder). Only
    /// read for that: nothing is restored or planned into it.
    #[arg(long)]
    cluster: Option<PathBuf>,
    /// Also dry-run a restore into the cluster in DIR (schema level and above): report what
    /// it would refuse (name collisions, options needed). The cluster must not be running
    /// (its store file is locked while open); nothing in it changes.
    #[arg(long, value_name = "DIR")]
    restore_into: Option<PathBuf>,
    /// Warnings fail too (exit 1).
    #[arg(long)]
    strict: bool,
    /// Report at most N findings (all are still counted).
    #[arg(long)]
    max_findings: Option<usize>,
    /// Check only part K of N of the work (whole tables with all their files, balanced by
    /// bytes; shard 1 also runs the collection, chain and layer checks). Write each part
    /// with `--format json` and join them with `vouch verify merge`.
    #[arg(long, value_name = "K/N")]
    shard: Option<String>,
    /// The key of encrypted chains. Without it, `metadata` runs (key records, checksums,
    /// listings), while `schema` and `full` exit 2 naming the key needed — unless
    /// `--keyless` is given.
    #[command(flatten)]
    keys: crate::keys_arg::KeyArgs,
    /// Check encrypted chains without their key, as far as that goes: metadata, every key
    /// record, the SHA-256 of every stored byte against the integrity listings, envelope
    /// headers and sizes. Exits 0 on a clean chain; the report says what was not checked
    /// (JSON `not_checked` per chain, a `not checked` line). With `--level metadata` or
    /// `full`; not with a key.
    #[arg(long)]
    keyless: bool,
}

/// Progress on stderr: a bar on a terminal, a plain line every 10 s otherwise.
fn progress_sink() -> Box<dyn FnMut(Progress)> {
    let tty = std::io::stderr().is_terminal();
    let mut bar: Option<indicatif::ProgressBar> = None;
    let mut check = "";
    let (mut files_total, mut bytes_total) = (0u64, 0u64);
    let mut last = Instant::now();
    Box::new(move |p| match p {
        Progress::Start {
            check: c,
            files,
            bytes,
        } => {
            check = c;
            files_total = files;
            bytes_total = bytes;
            if tty {
                if let Some(b) = bar.take() {
                    b.finish_and_clear();
                }
                let (len, tmpl) = if bytes > 0 {
                    (
                        bytes,
                        "{msg} {bar:30} {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
                    )
                } else {
                    (files, "{msg} {bar:30} {pos}/{len} files")
                };
                let b = indicatif::ProgressBar::new(len);
                b.set_style(
                    indicatif::ProgressStyle::with_template(tmpl)
                        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                );
                b.set_message(format!("verify {c}"));
                bar = Some(b);
            }
        }
        Progress::Advance { files, bytes } => {
            if let Some(b) = &bar {
                b.set_position(if bytes_total > 0 { bytes } else { files });
                if files >= files_total && (bytes_total == 0 || bytes >= bytes_total) {
                    b.finish_and_clear();
                }
            } else if !tty && last.elapsed() >= Duration::from_secs(10) {
                last = Instant::now();
                eprintln!(
                    "verify {check}: {files}/{files_total} files, {} of {} MiB",
                    bytes >> 20,
                    bytes_total >> 20
                );
            }
        }
    })
}

/// `--format`: true for json.
fn json_format(format: &str) -> Result<bool> {
    match format.to_ascii_lowercase().as_str() {
        "human" => Ok(false),
        "json" => Ok(true),
        other => bail!("unknown --format {other:?}: expected human or json"),
    }
}

/// Writes the report (JUnit file, then stdout) and gives its exit code.
fn emit(report: &Report, json: bool, junit: Option<&std::path::Path>) -> Result<ExitCode> {
    if let Some(path) = junit {
        std::fs::write(path, render_junit(report))
            .with_context(|| format!("writing the JUnit report {}", path.display()))?;
    }
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else {
        print!("{}", render_human(report));
    }
    Ok(ExitCode::from(report.exit_code()))
}

/// `vouch verify merge PART.json…`.
fn merge(args: &Args, parts: &[String]) -> Result<ExitCode> {
    let given = [
        ("--level", args.level.is_some()),
        ("--as-of", args.as_of.is_some()),
        ("--jobs", args.jobs.is_some()),
        (
            "--incremental-location",
            args.incremental_location.is_some(),
        ),
        ("--cluster", args.cluster.is_some()),
        ("--restore-into", args.restore_into.is_some()),
        ("--strict", args.strict),
        ("--max-findings", args.max_findings.is_some()),
        ("--shard", args.shard.is_some()),
        ("--keyless", args.keyless),
    ];
    if let Some((flag, _)) = given.iter().find(|(_, g)| *g) {
        bail!("vouch verify merge takes the shards' reports, --format and --junit; {flag} belongs to the shards' runs");
    }
    if parts.is_empty() {
        bail!("vouch verify merge needs the JSON reports of every shard: vouch verify merge part-1.json part-2.json …");
    }
    let json = json_format(&args.format)?;
    let mut reports = Vec::with_capacity(parts.len());
    for p in parts {
        let path = std::path::Path::new(p);
        let meta = std::fs::metadata(path).with_context(|| format!("reading {p}"))?;
        if !meta.is_file() {
            bail!("{p}: not a regular file");
        }
        if meta.len() > vouch_verify::MAX_PART_BYTES {
            bail!(
                "{p}: {} bytes is more than a report may be ({})",
                meta.len(),
                vouch_verify::MAX_PART_BYTES
            );
        }
        let bytes = std::fs::read(path).with_context(|| format!("reading {p}"))?;
        let r = vouch_verify::read_part(&bytes)
            .with_context(|| format!("{p} is not a vouch verify JSON report"))?;
        reports.push(r);
    }
    let report = vouch_verify::merge_reports(reports)?;
    emit(&report, json, args.junit.as_deref())
}

/// Runs `vouch verify`.
pub(crate) fn run(args: Args) -> Result<ExitCode> {
    if let Some(("merge", parts)) = args.words.split_first().map(|(w, r)| (w.as_str(), r)) {
        return merge(&args, parts);
    }
    let (subdir, uris) = words::verify(&args.words)?;
    // A locality-aware collection: the default store first, then the localities' stores.
    let (uri, others) = match uris.split_first() {
        Some((first, rest)) if !rest.is_empty() => (
            vouch_format::locality::strip_locality(first)?.0,
            rest.iter()
                .map(|u| Ok(vouch_format::locality::strip_locality(u)?.0))
                .collect::<Result<Vec<_>>>()?,
        ),
        _ => (single_uri(&Scope::default(), &uris)?, Vec::new()),
    };
    let Some(level_text) = &args.level else {
        bail!("--level is required: metadata, schema or full");
    };
    let Some(level) = Level::parse(level_text) else {
        bail!("unknown --level {level_text:?}: expected metadata, schema or full");
    };
    let json = json_format(&args.format)?;
    let shard = args
        .shard
        .as_deref()
        .map(Shard::parse)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let jobs = match args.jobs {
        Some(0) => bail!("--jobs must be at least 1"),
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(2, |n| n.get()),
    };
    let opts = VerifyOptions {
        level,
        as_of: args.as_of,
        jobs,
        max_findings: args.max_findings,
        strict: args.strict,
        restore_into: match &args.restore_into {
            Some(_) if level < Level::Schema => {
                bail!("--restore-into needs --level schema or full (a restore is planned from the descriptors)")
            }
            Some(dir) => Some(target_cluster(dir)?),
            None => None,
        },
        keys: args.keys.source()?,
        keyless: args.keyless,
        shard,
    };
    let uris: Vec<&str> = [Some(uri.as_str()), args.incremental_location.as_deref()]
        .into_iter()
        .flatten()
        .chain(others.iter().map(String::as_str))
        .collect();
    let store_opts = crate::storage_arg::open_options(args.cluster.as_deref(), &uris)?;
    let mut progress = progress_sink();
    let report = vouch_verify::verify_locality_collection(
        &uri,
        &others,
        subdir.as_deref(),
        args.incremental_location.as_deref(),
        &store_opts,
        &opts,
        &mut *progress,
    )?;
    drop(progress);
    emit(&report, json, args.junit.as_deref())
}

/// The catalog of the cluster in `dir` now, as a restore into it would see it
/// (`--restore-into` at the schema level and above). The cluster is opened like any client opens it (redb
/// takes the file's lock, so the cluster must not be running); nothing in it changes. The
/// verifier itself never opens a cluster.
fn target_cluster(dir: &std::path::Path) -> Result<vouch_verify::TargetCluster> {
    let read = || -> Result<_> {
        let c = crate::cluster_cmd::open_waiting(dir)?;
        let now = c.now();
        Ok(c.catalog(now)?)
    };
    let catalog = read().map_err(|e| {
        anyhow::anyhow!(
            "--restore-into {}: cannot read the cluster's catalog: {e}",
            dir.display()
        )
    })?;
    Ok(vouch_verify::TargetCluster {
        dir: dir.to_path_buf(),
        catalog,
    })
}
