//! `vouch schedule create | list | show | pause | resume | drop | alter` (the schedule
//! statements, built from flags and run by `vouch_sql::schedule`) and `vouch scheduler`,
//! which runs due schedules: one pass with `--once`, else until SIGTERM or SIGINT (a backup
//! in progress stops after its next data file's checkpoint, and the next pass resumes it).
//! spec/schedules.md.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Subcommand;
use vouch_format::mvcc::Timestamp;
use vouch_format::time::format_sql_tz;
use vouch_sql::grammar::{
    CreateSchedule, FullBackup, Options, ScheduleAction, ScheduleChange, ScheduleIds, Statement,
    TargetList, Which,
};
use vouch_sql::jobs;
use vouch_sql::schedule::{self, Run, RunOutcome};
use vouch_sql::Output;

use crate::cluster_cmd::open_waiting;

#[derive(Debug, Subcommand)]
pub(crate) enum ScheduleCommand {
    /// CREATE SCHEDULE label FOR BACKUP … INTO URI RECURRING … (the statement's secrets
    /// are kept in a 0600 file of the cluster directory, never in its tables).
    Create {
        /// The cluster directory.
        #[arg(long)]
        cluster: PathBuf,
        /// The schedule's label.
        label: String,
        /// The collection: INTO URI.
        #[arg(long)]
        into: String,
        /// RECURRING: a crontab (`@daily`, `0 */4 * * *`) or NEVER.
        #[arg(long)]
        recurring: String,
        /// FULL BACKUP: a crontab or ALWAYS (default: CockroachDB's cadence rule).
        #[arg(long)]
        full_backup: Option<String>,
        /// Back up these databases (else the whole cluster).
        #[arg(long)]
        database: Vec<String>,
        /// Back up these tables (`db.table`).
        #[arg(long, conflicts_with = "database")]
        table: Vec<String>,
        /// WITH revision_history.
        #[arg(long)]
        revision_history: bool,
        /// WITH incremental_location = URI.
        #[arg(long)]
        incremental_location: Option<String>,
        /// WITH encryption_passphrase / kms.
        #[command(flatten)]
        keys: Box<crate::keys_arg::KeyArgs>,
        /// Schedule option first_run: `now` or a time (UTC).
        #[arg(long)]
        first_run: Option<String>,
        /// Schedule option on_execution_failure: retry, reschedule or pause.
        #[arg(long)]
        on_execution_failure: Option<String>,
        /// Schedule option on_previous_running: start, skip or wait.
        #[arg(long)]
        on_previous_running: Option<String>,
        /// Schedule option ignore_existing_backups.
        #[arg(long)]
        ignore_existing_backups: bool,
        /// IF NOT EXISTS (by label).
        #[arg(long)]
        if_not_exists: bool,
    },
    /// SHOW [RUNNING | PAUSED] SCHEDULES.
    List {
        /// The cluster directory.
        #[arg(long)]
        cluster: PathBuf,
        /// Only schedules with a run in progress.
        #[arg(long, conflicts_with = "paused")]
        running: bool,
        /// Only paused schedules.
        #[arg(long)]
        paused: bool,
        /// Output: table or json.
        #[arg(long, default_value = "table")]
        format: String,
    },
    /// SHOW SCHEDULE id.
    Show {
        /// The cluster directory.
        #[arg(long)]
        cluster: PathBuf,
        /// The schedule id.
        id: u64,
        /// Output: table or json.
        #[arg(long, default_value = "table")]
        format: String,
    },
    /// PAUSE SCHEDULE id.
    Pause {
        /// The cluster directory.
        #[arg(long)]
        cluster: PathBuf,
        /// The schedule id.
        id: u64,
    },
    /// RESUME SCHEDULE id.
    Resume {
        /// The cluster directory.
        #[arg(long)]
        cluster: PathBuf,
        /// The schedule id.
        id: u64,
    },
    /// DROP SCHEDULE id.
    Drop {
        /// The cluster directory.
        #[arg(long)]
        cluster: PathBuf,
        /// The schedule id.
        id: u64,
    },
    /// ALTER BACKUP SCHEDULE id SET ….
    Alter {
        /// The cluster directory.
        #[arg(long)]
        cluster: PathBuf,
        /// The schedule id (either of a pair).
        id: u64,
        /// SET LABEL.
        #[arg(long)]
        label: Option<String>,
        /// SET RECURRING: a crontab or NEVER.
        #[arg(long)]
        recurring: Option<String>,
        /// SET FULL BACKUP: a crontab or ALWAYS.
        #[arg(long)]
        full_backup: Option<String>,
        /// SET SCHEDULE OPTION on_execution_failure.
        #[arg(long)]
        on_execution_failure: Option<String>,
        /// SET SCHEDULE OPTION on_previous_running.
        #[arg(long)]
        on_previous_running: Option<String>,
    },
}

fn cron_or(text: &str, none: &str) -> Option<String> {
    (!text.eq_ignore_ascii_case(none)).then(|| text.to_string())
}

fn full_backup(text: &str) -> FullBackup {
    match cron_or(text, "ALWAYS") {
        None => FullBackup::Always,
        Some(c) => FullBackup::Cron(c),
    }
}

fn print_output(out: &Output, format: &str) -> Result<()> {
    let f: vouch_engine::output::Format = format.parse()?;
    match out {
        Output::Rows(t) => print!("{}", t.render_as(f)),
        Output::Tag(tag) => println!("{tag}"),
    }
    Ok(())
}

fn run_statement(cluster: &Path, st: &Statement, format: &str) -> Result<ExitCode> {
    let c = open_waiting(cluster)?;
    let scope = vouch_sql::backup_stmt::Scope {
        database: None,
        cluster: Some(&c),
    };
    let out = schedule::execute(&scope, &c, st)?;
    print_output(&out, format)?;
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn run(cmd: ScheduleCommand) -> Result<ExitCode> {
    match cmd {
        ScheduleCommand::Create {
            cluster,
            label,
            into,
            recurring,
            full_backup: full,
            database,
            table,
            revision_history,
            incremental_location,
            keys,
            first_run,
            on_execution_failure,
            on_previous_running,
            ignore_existing_backups,
            if_not_exists,
        } => {
            let targets = if !database.is_empty() {
                TargetList::Databases(database)
            } else if !table.is_empty() {
                TargetList::Tables(table)
            } else {
                TargetList::Cluster
            };
            let mut options = Options::default()
                .flag("revision_history", revision_history)
                .text("incremental_location", incremental_location);
            let source = keys.source()?;
            if let Some(p) = &source.passphrase {
                let text = String::from_utf8(p.as_bytes().to_vec())
                    .context("the encryption passphrase is not UTF-8")?;
                options.0.push((
                    "encryption_passphrase".into(),
                    Some(vouch_sql::grammar::Value::One(text)),
                ));
            }
            if !source.kms.is_empty() {
                options.0.push((
                    "kms".into(),
                    Some(vouch_sql::grammar::Value::List(source.kms)),
                ));
            }
            let schedule_options = Options::default()
                .text("first_run", first_run)
                .text("on_execution_failure", on_execution_failure)
                .text("on_previous_running", on_previous_running)
                .flag("ignore_existing_backups", ignore_existing_backups);
            let st = Statement::CreateSchedule(Box::new(CreateSchedule {
                if_not_exists,
                label: Some(label),
                targets,
                into: vec![into],
                options,
                recurring: cron_or(&recurring, "NEVER"),
                full_backup: full.as_deref().map(full_backup),
                schedule_options,
            }));
            run_statement(&cluster, &st, "table")
        }
        ScheduleCommand::List {
            cluster,
            running,
            paused,
            format,
        } => {
            let which = if running {
                Which::Running
            } else if paused {
                Which::Paused
            } else {
                Which::All
            };
            run_statement(&cluster, &Statement::ShowSchedules { which }, &format)
        }
        ScheduleCommand::Show {
            cluster,
            id,
            format,
        } => run_statement(&cluster, &Statement::ShowSchedule { id }, &format),
        ScheduleCommand::Pause { cluster, id } => control(&cluster, ScheduleAction::Pause, id),
        ScheduleCommand::Resume { cluster, id } => control(&cluster, ScheduleAction::Resume, id),
        ScheduleCommand::Drop { cluster, id } => control(&cluster, ScheduleAction::Drop, id),
        ScheduleCommand::Alter {
            cluster,
            id,
            label,
            recurring,
            full_backup: full,
            on_execution_failure,
            on_previous_running,
        } => {
            let mut changes = Vec::new();
            if let Some(l) = label {
                changes.push(ScheduleChange::Label(l));
            }
            if let Some(r) = recurring {
                changes.push(ScheduleChange::Recurring(cron_or(&r, "NEVER")));
            }
            if let Some(f) = full {
                changes.push(ScheduleChange::FullBackup(full_backup(&f)));
            }
            let o = Options::default()
                .text("on_execution_failure", on_execution_failure)
                .text("on_previous_running", on_previous_running);
            if !o.0.is_empty() {
                changes.push(ScheduleChange::ScheduleOption(o));
            }
            if changes.is_empty() {
                anyhow::bail!(
                    "nothing to change: give --label, --recurring, --full-backup, --on-execution-failure or --on-previous-running"
                );
            }
            run_statement(
                &cluster,
                &Statement::AlterBackupSchedule { id, changes },
                "table",
            )
        }
    }
}

fn control(cluster: &Path, action: ScheduleAction, id: u64) -> Result<ExitCode> {
    run_statement(
        cluster,
        &Statement::ControlSchedules {
            action,
            ids: ScheduleIds::One(id),
        },
        "table",
    )
}

/// Arguments of `vouch scheduler`.
#[derive(Debug, clap::Args)]
pub(crate) struct SchedulerArgs {
    /// The cluster directory.
    #[arg(long)]
    cluster: PathBuf,
    /// Run what is due now and exit (for cron or a systemd timer).
    #[arg(long)]
    once: bool,
    /// Without --once: how often to look for due schedules, in milliseconds (the cluster is
    /// open only while a pass runs, so other vouch commands can use it in between).
    #[arg(long, default_value_t = 1000)]
    poll_ms: u64,
}

fn when(wall: u64) -> String {
    format_sql_tz(Timestamp::new(wall, 0))
}

/// One line per run (job ids are random: the line says where the backup went).
fn say(r: &Run) {
    let what = format!(
        "schedule {} ({}, {}) as of {}",
        r.schedule_id,
        r.label,
        if r.incremental { "incremental" } else { "full" },
        when(r.scheduled_at)
    );
    match &r.outcome {
        RunOutcome::Succeeded { job_id, path } => {
            println!("ran {what}: succeeded: {path} (job {job_id})")
        }
        RunOutcome::Failed { error } => println!("ran {what}: failed: {error}"),
        RunOutcome::Skipped => println!("skipped {what}: its previous run did not finish"),
        RunOutcome::Stopped => {
            println!("stopped {what} between data files: the next pass resumes it")
        }
    }
}

/// One line per job a pass ran.
fn say_job(j: &jobs::JobRun) {
    let what = format!("job {} ({})", j.id, j.job_type);
    match &j.outcome {
        jobs::Outcome::Succeeded { path, .. } if path.is_empty() => {
            println!("ran {what}: succeeded")
        }
        jobs::Outcome::Succeeded { path, .. } => println!("ran {what}: succeeded: {path}"),
        jobs::Outcome::Failed(e) => println!("ran {what}: failed: {e}"),
        jobs::Outcome::Paused => println!("ran {what}: paused"),
        jobs::Outcome::Canceled => println!("ran {what}: canceled"),
        jobs::Outcome::Stopped => println!(
            "stopped {what} between {}: the next pass resumes it",
            if j.job_type == "RESTORE" {
                "tables"
            } else {
                "data files"
            }
        ),
        jobs::Outcome::NotRunnable(s) => println!("skipped {what}: {}", s.name()),
    }
}

/// Runs `vouch scheduler`. Exit 0; 1 when a run failed (with --once); 2 on an error.
pub(crate) fn run_scheduler(a: SchedulerArgs) -> Result<ExitCode> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .context("installing signal handlers")?;
    }
    let keep_going = || !stop.load(Ordering::SeqCst);
    let mut failed = false;
    if !a.once {
        println!("scheduler started on {}", a.cluster.display());
    }
    loop {
        {
            let c = open_waiting(&a.cluster)?;
            let runs = schedule::run_due_with(&c, Some(&stop), &mut |r| {
                say(r);
                failed |= matches!(r.outcome, RunOutcome::Failed { .. });
            })
            .with_context(|| format!("running the schedules of {}", a.cluster.display()))?;
            let jobs = if keep_going() {
                jobs::run_pending(&c, Some(&stop), &mut |j| {
                    say_job(j);
                    failed |= matches!(j.outcome, jobs::Outcome::Failed(_));
                })
                .with_context(|| format!("running the jobs of {}", a.cluster.display()))?
            } else {
                Vec::new()
            };
            if a.once && runs.is_empty() && jobs.is_empty() {
                println!("nothing due at {}", when(c.now().wall));
            }
        }
        if a.once {
            break;
        }
        let until = Instant::now() + Duration::from_millis(a.poll_ms.max(10));
        while keep_going() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(10));
        }
        if !keep_going() {
            println!("scheduler stopped");
            break;
        }
    }
    Ok(if a.once && failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
