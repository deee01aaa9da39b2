//! `vouch restore`: CockroachDB's RESTORE into an embedded cluster.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use vouch_cluster::{Clock, Cluster};
use vouch_engine::restore::{self, Progress};
use vouch_sql::backup_stmt::{self, Scope};
use vouch_sql::grammar::{words, Options, RestoreFrom, Value};
use vouch_sql::jobs;

/// Arguments of `vouch restore`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The cluster directory to restore into (a new, empty cluster is made there if it
    /// holds none).
    #[arg(long)]
    cluster: PathBuf,
    /// `[DATABASE d, … | TABLE db.t, …] FROM LATEST|'subdir' IN URI`, or the legacy
    /// `FROM 'full' 'incr' …`.
    #[arg(required = true, num_args = 1..)]
    words: Vec<String>,
    /// AS OF SYSTEM TIME: a layer's end time, or any time inside a revision-history window.
    #[arg(long, allow_hyphen_values = true)]
    as_of: Option<String>,
    /// WITH into_db = D: restore tables into database D.
    #[arg(long)]
    into_db: Option<String>,
    /// WITH new_db_name = N: restore the one database under a new name.
    #[arg(long)]
    new_db_name: Option<String>,
    /// WITH skip_missing_foreign_keys: drop foreign keys whose tables are not restored.
    #[arg(long)]
    skip_missing_foreign_keys: bool,
    /// WITH skip_missing_views: skip views whose tables are not restored.
    #[arg(long)]
    skip_missing_views: bool,
    /// WITH schema_only: restore descriptors, no rows.
    #[arg(long)]
    schema_only: bool,
    /// WITH verify_backup_table_data (with --schema-only): read and check every row.
    #[arg(long)]
    verify_backup_table_data: bool,
    /// WITH incremental_location = URI.
    #[arg(long)]
    incremental_location: Option<String>,
    /// Tables read at once, each with its own requests to the store (default: the CPUs
    /// available).
    #[arg(long)]
    jobs: Option<usize>,
    #[command(flatten)]
    keys: crate::keys_arg::KeyArgs,
}

fn progress_sink() -> Box<dyn FnMut(Progress)> {
    let bar = std::io::stderr().is_terminal().then(|| {
        let b = indicatif::ProgressBar::new(0);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "restore {bar:30} {bytes}/{total_bytes} [{elapsed_precise}]",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    });
    let mut total = 0u64;
    let mut last_line = std::time::Instant::now();
    Box::new(move |p| match (p, &bar) {
        (Progress::Start { total_bytes }, Some(b)) => b.set_length(total_bytes),
        (Progress::Start { total_bytes }, None) => total = total_bytes,
        (Progress::Read { bytes }, Some(b)) => b.set_position(bytes),
        (Progress::Read { bytes }, None) => {
            if last_line.elapsed().as_secs() >= 10 {
                eprintln!("restore: {} of {} MiB read", bytes >> 20, total >> 20);
                last_line = std::time::Instant::now();
            }
        }
        // Tables done: the bar follows the bytes read.
        (Progress::Table { .. }, _) => {}
    })
}

/// What was in a restore's target directory before the restore made a cluster there, so
/// that a failed restore can take away exactly what it added.
struct Made {
    /// The directory did not exist.
    dir: bool,
    /// The names it held.
    names: std::collections::BTreeSet<std::ffi::OsString>,
}

impl Made {
    fn before(dir: &std::path::Path) -> Result<Made> {
        if !dir.exists() {
            return Ok(Made {
                dir: true,
                names: Default::default(),
            });
        }
        let names = std::fs::read_dir(dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<std::io::Result<_>>()
            .with_context(|| format!("reading {}", dir.display()))?;
        Ok(Made { dir: false, names })
    }

    /// Removes what was added (best effort: the restore's error is what the user needs).
    fn undo(self, dir: &std::path::Path) {
        if self.dir {
            let _ = std::fs::remove_dir_all(dir);
            return;
        }
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            if !self.names.contains(&e.file_name()) {
                let p = e.path();
                let _ = match e.file_type() {
                    Ok(t) if t.is_dir() => std::fs::remove_dir_all(&p),
                    _ => std::fs::remove_file(&p),
                };
            }
        }
    }
}

/// How `vouch restore`'s job ended, when not with an error.
enum Ended {
    Done(restore::RestoreResult),
    /// Paused by `vouch jobs pause ID` from another process.
    Paused(u64),
}

/// A local path made absolute (a runner finishing the job may run elsewhere); URIs as
/// they are.
fn absolute(u: &str) -> Result<String> {
    if u.contains("://") || std::path::Path::new(u).is_absolute() {
        return Ok(u.to_string());
    }
    let cwd = std::env::current_dir().context("reading the current directory")?;
    Ok(cwd.join(u).to_string_lossy().into_owned())
}

fn absolute_from(from: &RestoreFrom) -> Result<RestoreFrom> {
    let all = |v: &[String]| v.iter().map(|u| absolute(u)).collect::<Result<Vec<_>>>();
    Ok(match from {
        RestoreFrom::Collection(sub, uris) => RestoreFrom::Collection(sub.clone(), all(uris)?),
        RestoreFrom::Layers(layers) => {
            RestoreFrom::Layers(layers.iter().map(|l| all(l)).collect::<Result<Vec<_>>>()?)
        }
    })
}

/// Runs `vouch restore`.
pub(crate) fn run(a: Args) -> Result<ExitCode> {
    let (targets, from) = words::restore(&a.words)?;
    // A fresh directory gets a new, empty cluster (the restore target), made only once the
    // statement is bound, so that words which do not bind leave nothing behind. A new
    // cluster has no external connections to resolve.
    let existing = if a.cluster.join(vouch_cluster::STORE_FILE).exists() {
        Some(crate::cluster_cmd::open_waiting(&a.cluster)?)
    } else {
        None
    };
    let scope = Scope {
        database: None,
        cluster: existing.as_ref(),
    };
    let with = Options::default()
        .text("into_db", a.into_db)
        .text("new_db_name", a.new_db_name)
        .flag("skip_missing_foreign_keys", a.skip_missing_foreign_keys)
        .flag("skip_missing_views", a.skip_missing_views)
        .flag("schema_only", a.schema_only)
        .flag("verify_backup_table_data", a.verify_backup_table_data)
        .text("incremental_location", a.incremental_location);
    let mut opts =
        backup_stmt::restore_options(&scope, &targets, &from, a.as_of.as_deref(), &with)?;
    opts.keys = a.keys.source()?;
    // The statement a runner runs to finish the job if it is paused or this process ends
    // first: the words' targets and source (local paths made absolute), the flags' WITH,
    // the keys (kept in the job's secrets file while it is unfinished).
    let execute = {
        let from = absolute_from(&from)?;
        let mut with = with.clone();
        if let Some(Value::One(u)) = with
            .0
            .iter_mut()
            .find(|(n, _)| n == "incremental_location")
            .and_then(|(_, v)| v.as_mut())
        {
            *u = absolute(u)?;
        }
        if let Some(p) = &opts.keys.passphrase {
            let text = std::str::from_utf8(p.as_bytes())
                .context("the passphrase is not UTF-8")?
                .to_string();
            with.0
                .push(("encryption_passphrase".into(), Some(Value::One(text))));
        }
        if !opts.keys.kms.is_empty() {
            with.0
                .push(("kms".into(), Some(Value::List(opts.keys.kms.clone()))));
        }
        words::restore_statement(&targets, &from, &with)
    };
    match a.jobs {
        Some(0) => anyhow::bail!("--jobs must be at least 1"),
        Some(n) => opts.jobs = n,
        None => {}
    }
    let (cluster, made) = match existing {
        Some(c) => (c, None),
        None => {
            let made = Made::before(&a.cluster)?;
            (Cluster::init(&a.cluster, Clock::system())?, Some(made))
        }
    };
    let mut sink = progress_sink();
    // A job in the cluster's system.jobs (its id is the result's job_id).
    let text = format!(
        "RESTORE {}",
        a.words
            .iter()
            .map(|w| vouch_store::redact_uri(w))
            .collect::<Vec<_>>()
            .join(" ")
    );
    // Its time fixed now, as a detached job's: a runner finishing it restores the same.
    let fixed = a
        .as_of
        .as_deref()
        .map(|t| backup_stmt::fixed_time(&cluster, Some(t)));
    if fixed.is_some() {
        opts.as_of = fixed.clone();
    }
    let outcome = (|| -> Result<_> {
        let job = jobs::record_restore(&cluster, &text, execute.as_deref(), fixed)?;
        // Run as a job: checkpoints in its record, `vouch jobs pause|cancel ID` from
        // another process carried out at the next table's checkpoint.
        let mut said = false;
        let ended = jobs::run_restore(&cluster, job, &opts, &mut |p| {
            // Once a table is done and others remain (a checkpoint to stop at): the id
            // to pause or cancel it by (`vouch jobs list` waits for this process).
            if let Progress::Table { done, total } = p {
                if !said && done < total {
                    eprintln!("restore job {job}: {done} of {total} tables done; `vouch jobs pause|cancel {job}` stops it at its next table");
                    said = true;
                }
            }
            sink(p)
        })?;
        match ended {
            Ok(mut r) => {
                jobs::set_coordinator(&cluster, job, r.coordinator)?;
                r.job_id = job;
                Ok(Ended::Done(r))
            }
            Err(jobs::Outcome::Paused) => Ok(Ended::Paused(job)),
            // The engine's error as `vouch restore` always gave it (its kind sets the
            // exit code and message).
            Err(jobs::Outcome::Failed(vouch_sql::Error::Engine(e))) => Err(e.into()),
            Err(jobs::Outcome::Failed(e)) => Err(e.into()),
            Err(jobs::Outcome::Canceled) => Err(anyhow::anyhow!("job {job}: job canceled by user")),
            Err(_) => Err(anyhow::anyhow!(
                "job {job} did not complete: see vouch jobs show {job}"
            )),
        }
    })();
    let r = match outcome {
        Ok(Ended::Done(r)) => r,
        Ok(Ended::Paused(job)) => {
            // The cluster keeps the job (and a cluster made for it): a runner finishes it.
            eprintln!(
                "error: job {job} was paused before it completed: `vouch jobs resume {job} --cluster {dir}` then `vouch scheduler --cluster {dir}` (or `vouch jobs show {job} --when-complete --cluster {dir}`) finishes it",
                dir = a.cluster.display()
            );
            return Ok(ExitCode::from(2));
        }
        Err(e) => {
            // A restore that fails into a cluster it created leaves no cluster behind.
            drop(cluster);
            if let Some(made) = made {
                made.undo(&a.cluster);
            }
            return Err(e);
        }
    };
    print!("{}", vouch_engine::output::restore_result(&r).render());
    eprintln!(
        "restored {} as of {} ({} checked against the backup)",
        crate::say::count(r.objects.len() as u64, "object", "objects"),
        r.time,
        crate::say::count(
            r.fingerprints_checked as u64,
            "index fingerprint",
            "index fingerprints"
        )
    );
    Ok(ExitCode::SUCCESS)
}
