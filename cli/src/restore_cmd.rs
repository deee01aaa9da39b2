//! `vouch restore`: CockroachDB's RESTORE into an embedded cluster.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Result};
use vouch_chain::{RestoreOptions, Source};
use vouch_cluster::{Clock, Cluster};
use vouch_engine::restore::{self, Progress};

use crate::backup_cmd::{parse_targets, unquote};

/// Arguments of `vouch restore`.
#[derive(Debug, clap::Args)]
pub struct Args {
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
    #[command(flatten)]
    keys: crate::keys_arg::KeyArgs,
}

/// Splits `[targets] FROM …` into targets and source.
pub fn parse_restore_words(
    words: &[String],
    incremental_location: Option<String>,
) -> Result<(vouch_chain::Targets, Source)> {
    let Some(from) = words.iter().position(|w| w.eq_ignore_ascii_case("FROM")) else {
        bail!("expected FROM: vouch restore --cluster DIR [DATABASE d | TABLE db.t] FROM LATEST|'subdir' IN URI");
    };
    let targets = parse_targets(&words[..from])?;
    let tail = &words[from + 1..];
    let source = match tail {
        [sub, kw, uri] if kw.eq_ignore_ascii_case("IN") => Source::Collection {
            uri: unquote(uri).to_string(),
            subdir: unquote(sub).to_string(),
            incremental_location,
        },
        [] => bail!("FROM needs LATEST IN URI, 'subdir' IN URI or backup URIs"),
        uris => Source::Layers(
            uris.iter()
                .flat_map(|u| u.split(','))
                .map(|u| unquote(u).to_string())
                .filter(|u| !u.is_empty())
                .collect(),
        ),
    };
    Ok((targets, source))
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
    })
}

/// Runs `vouch restore`.
pub fn run(a: Args) -> Result<ExitCode> {
    let (targets, source) = parse_restore_words(&a.words, a.incremental_location)?;
    // A fresh directory gets a new, empty cluster: the restore target.
    let cluster = if a.cluster.join(vouch_cluster::catalog::STORE_FILE).exists() {
        Cluster::open(&a.cluster, Clock::system())?
    } else {
        Cluster::init(&a.cluster, Clock::system())?
    };
    let mut opts = RestoreOptions::new(targets, source);
    opts.as_of = a.as_of;
    opts.into_db = a.into_db;
    opts.new_db_name = a.new_db_name;
    opts.skip_missing_foreign_keys = a.skip_missing_foreign_keys;
    opts.skip_missing_views = a.skip_missing_views;
    opts.schema_only = a.schema_only;
    opts.verify_backup_table_data = a.verify_backup_table_data;
    opts.keys = a.keys.source()?;
    let mut sink = progress_sink();
    let r = restore::restore(&cluster, &opts, &mut *sink)?;
    print!("{}", vouch_engine::output::restore_result(&r).render());
    eprintln!(
        "restored {} objects as of {} ({} index fingerprints checked against the backup)",
        r.objects.len(),
        r.time,
        r.fingerprints_checked
    );
    Ok(ExitCode::SUCCESS)
}
