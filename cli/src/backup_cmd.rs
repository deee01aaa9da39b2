//! `vouch backup …`, `vouch show …` and `vouch alter backup …`: the statement words read
//! by `vouch-sql`'s grammar (`grammar::words`), the work done by `vouch-engine`.

use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use vouch_chain::Collection;
use vouch_engine::backup::{self, Progress};
use vouch_engine::output::{self, Format};
use vouch_engine::show::{self, ShowOptions};
use vouch_sql::backup_stmt::{self, Scope};
use vouch_sql::grammar::{words, Options, Statement};
use vouch_sql::jobs;

/// The `backup` subcommand's options.
#[derive(Debug)]
pub(crate) struct BackupArgs<'a> {
    pub cluster: &'a Path,
    pub words: &'a [String],
    pub as_of: Option<String>,
    pub revision_history: bool,
    pub incremental_location: Option<String>,
    pub target_file_size: u64,
    pub keys: &'a crate::keys_arg::KeyArgs,
}

fn progress_sink() -> Box<dyn FnMut(Progress)> {
    let tty = std::io::stderr().is_terminal();
    let bar = if tty {
        let b = indicatif::ProgressBar::new_spinner();
        b.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {msg} [{elapsed_precise}]")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        Some(b)
    } else {
        None
    };
    let mut read = 0u64;
    let mut files = 0u64;
    let mut stored = 0u64;
    let mut last_line = std::time::Instant::now();
    Box::new(move |p| {
        match p {
            Progress::Start { .. } | Progress::Spans { .. } => {}
            Progress::Read { bytes } => read += bytes,
            Progress::File { size } => {
                files += 1;
                stored += size;
            }
        }
        let msg = format!(
            "backup: {} MiB read, {files} files, {} MiB stored",
            read >> 20,
            stored >> 20
        );
        match &bar {
            Some(b) => {
                b.set_message(msg);
                b.tick();
            }
            None => {
                if last_line.elapsed().as_secs() >= 10 {
                    eprintln!("{msg}");
                    last_line = std::time::Instant::now();
                }
            }
        }
    })
}

/// Runs `vouch backup`.
pub(crate) fn run_backup(a: BackupArgs<'_>) -> Result<ExitCode> {
    let (targets, dest) = words::backup(a.words)?;
    let cluster = crate::cluster_cmd::open_waiting(a.cluster)?;
    let scope = Scope {
        database: None,
        cluster: Some(&cluster),
    };
    let with = Options::default()
        .flag("revision_history", a.revision_history)
        .text("incremental_location", a.incremental_location);
    let mut opts =
        backup_stmt::backup_options(&scope, &targets, &dest, a.as_of.as_deref(), &with, "")?;
    // The words as typed, URIs redacted (keys are flags; storage URIs may hold secrets).
    let words: Vec<String> = a.words.iter().map(|w| vouch_store::redact_uri(w)).collect();
    opts.statement = format!("BACKUP {}", words.join(" "));
    opts.target_file_size = a.target_file_size;
    opts.encryption = a.keys.source()?;
    let mut sink = progress_sink();
    // A job in the cluster's system.jobs (its id is the result's job_id).
    let job = jobs::record_foreground(&cluster, jobs::JobType::Backup, &opts.statement)?;
    // Its lock holds the job's id; a rerun that resumes it finishes this job.
    opts.job_id = Some(job);
    let result = backup::backup(&cluster, &opts, &mut *sink);
    let error = result.as_ref().err().map(ToString::to_string);
    // A run that resumed an earlier one's lock is that run's job.
    let ran_as = result.as_ref().ok().map(|r| r.job_id);
    let finished = jobs::finish_foreground(&cluster, job, ran_as, error.as_deref());
    // The backup's own error first (recording its end may fail for the same reason).
    let r = result?;
    let job = finished?;
    jobs::set_coordinator(&cluster, job, r.coordinator)?;
    for n in &r.notices {
        eprintln!("NOTICE: {n}");
    }
    print!("{}", output::backup_result(&r).render());
    eprintln!(
        "{} backup{} written to {}/{} ({}, {} stored, end time {})",
        if r.incremental { "incremental" } else { "full" },
        if r.resumed { " (resumed)" } else { "" },
        vouch_store::message_uri(opts.destination.uri()).trim_end_matches('/'),
        r.path,
        crate::say::count(r.files, "file", "files"),
        crate::say::count(r.file_bytes, "byte", "bytes"),
        r.end_time
    );
    Ok(ExitCode::SUCCESS)
}

fn open_collection(uri: &str, cluster: Option<&Path>, inc: Option<&str>) -> Result<Collection> {
    let uris: Vec<&str> = [Some(uri), inc].into_iter().flatten().collect();
    let opts = crate::storage_arg::open_options(cluster, &uris)?;
    Collection::open(uri, inc, &opts)
        .with_context(|| format!("opening {}", vouch_store::message_uri(uri)))
}

/// `vouch show backups IN URI …` and `vouch show backup [schemas] [FROM] LATEST|'subdir' IN
/// URI … [WITH check_files, debug_ids]` (the other `WITH` options are flags: `opts`, `inc`,
/// `keys`). Several URIs are a locality-aware list, read as RESTORE reads it: the first holds
/// the manifests; with check_files each file is looked for in its locality's store.
pub(crate) fn show(
    words: &[String],
    cluster: Option<&Path>,
    inc: Option<&str>,
    opts: ShowOptions,
    format: &str,
    keys: &crate::keys_arg::KeyArgs,
) -> Result<ExitCode> {
    let scope = Scope::default();
    let table = match words::show(words)? {
        Statement::ShowBackups { uri } => {
            let format: Format = format.parse()?;
            let uri = backup_stmt::manifest_uri(&scope, &uri)?;
            let coll = open_collection(&uri, cluster, None)?;
            show::show_backups(&coll)?.render_as(format)
        }
        Statement::ShowBackup {
            schemas,
            subdir,
            uri,
            options,
        } => {
            let format: Format = format.parse()?;
            let (check_files, debug_ids) = backup_stmt::show_word_options(&options)?;
            let opts = ShowOptions {
                schemas,
                check_files: opts.check_files || check_files,
                debug_ids: opts.debug_ids || debug_ids,
            };
            let all: Vec<&str> = uri.iter().map(String::as_str).chain(inc).collect();
            let store_opts = crate::storage_arg::open_options(cluster, &all)?;
            let chain = backup_stmt::show_chain(
                &scope,
                &subdir,
                &uri,
                inc.map(String::from),
                &keys.source()?,
                &store_opts,
            )?;
            show::show_backup(&chain, opts)?.render_as(format)
        }
        Statement::Unsupported(f) => return Err(vouch_sql::Error::NotSupported(f.into()).into()),
        _ => bail!(
            "expected `vouch show backups IN URI …` or `vouch show backup [schemas] FROM … IN URI …`"
        ),
    };
    print!("{table}");
    Ok(ExitCode::SUCCESS)
}

/// `vouch alter backup LATEST|'subdir' IN URI --add-new-kms URI --old-kms URI`.
pub(crate) fn alter_backup(
    words: &[String],
    new_kms: &[String],
    old_kms: &[String],
    cluster: Option<&Path>,
) -> Result<ExitCode> {
    let (sub, uri) = words::alter_backup(words)?;
    let uri = backup_stmt::single_uri(&Scope::default(), &uri)?;
    let coll = open_collection(&uri, cluster, None)?;
    let old = vouch_keys::KeySource::kms(old_kms.iter().cloned());
    let path = vouch_engine::crypto::alter_backup_add_kms(&coll, &sub, &old, new_kms)?;
    eprintln!(
        "wrote {}/{path}: the backup now also opens with {}",
        vouch_store::message_uri(&uri).trim_end_matches('/'),
        new_kms
            .iter()
            .map(|u| vouch_keys::kms::uri_id_of(u))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(ExitCode::SUCCESS)
}
