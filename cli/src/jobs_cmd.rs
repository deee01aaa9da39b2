//! `vouch jobs list | show | pause | resume | cancel`: the job statements (SHOW JOBS,
//! SHOW JOB, PAUSE / RESUME / CANCEL JOB), built from flags and run by `vouch_sql::jobs`.
//! spec/jobs.md.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Subcommand;
use vouch_sql::grammar::{JobAction, JobIds, ScheduleIds, Statement};
use vouch_sql::jobs;
use vouch_sql::Output;

use crate::cluster_cmd::open_waiting;

#[derive(Debug, Subcommand)]
pub(crate) enum JobsCommand {
    /// SHOW JOBS [FOR SCHEDULE id | (SELECT job_id FROM [SHOW JOBS] WHERE …)].
    List {
        /// The cluster directory.
        #[arg(long)]
        cluster: PathBuf,
        /// Only jobs with this status (pending, running, paused, succeeded, failed,
        /// canceled, pause-requested, cancel-requested).
        #[arg(long)]
        status: Option<String>,
        /// Only jobs of this type (BACKUP or RESTORE).
        #[arg(long = "type", value_name = "TYPE")]
        job_type: Option<String>,
        /// Only the jobs of this schedule (SHOW JOBS FOR SCHEDULE id).
        #[arg(long, conflicts_with_all = ["status", "job_type"])]
        schedule: Option<u64>,
        /// Output: table or json.
        #[arg(long, default_value = "table")]
        format: String,
    },
    /// SHOW JOB id; with --when-complete, SHOW JOB WHEN COMPLETE id.
    Show {
        /// The cluster directory.
        #[arg(long)]
        cluster: PathBuf,
        /// The job id.
        id: u64,
        /// Wait until the job has succeeded, failed or been canceled, then show it: while
        /// another process (a scheduler running it) has the cluster open, wait for it; a
        /// job no process runs is run by this one; a paused job is an error (it will not
        /// complete until resumed).
        #[arg(long)]
        when_complete: bool,
        /// Output: table or json.
        #[arg(long, default_value = "table")]
        format: String,
    },
    /// PAUSE JOB id (a running backup pauses at its next checkpoint; while a scheduler
    /// has the cluster open, the request is left for it).
    Pause {
        /// The cluster directory.
        #[arg(long)]
        cluster: PathBuf,
        /// The job id.
        id: u64,
    },
    /// RESUME JOB id (the scheduler runs it again, from its checkpoint).
    Resume {
        /// The cluster directory.
        #[arg(long)]
        cluster: PathBuf,
        /// The job id.
        id: u64,
    },
    /// CANCEL JOB id (while a scheduler has the cluster open, the request is left for it).
    Cancel {
        /// The cluster directory.
        #[arg(long)]
        cluster: PathBuf,
        /// The job id.
        id: u64,
    },
}

fn run_statement(cluster: &Path, st: &Statement, format: &str) -> Result<ExitCode> {
    let c = open_waiting(cluster)?;
    let out = jobs::execute(&c, st)?;
    let f: vouch_engine::output::Format = format.parse()?;
    match out {
        Output::Rows(t) => print!("{}", t.render_as(f)),
        Output::Tag(tag) => println!("{tag}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// Leaves a PAUSE or CANCEL request for job `id` for the process that has the cluster
/// open (its runner applies it at the job's next checkpoint, spec/jobs.md §3) and says so.
pub(crate) fn leave_request(cluster: &Path, action: JobAction, id: u64) -> Result<()> {
    let (request, word) = match action {
        JobAction::Pause => (vouch_cluster::JobRequest::Pause, "PAUSE"),
        JobAction::Cancel => (vouch_cluster::JobRequest::Cancel, "CANCEL"),
        JobAction::Resume => anyhow::bail!("RESUME JOB is not left as a request"),
    };
    vouch_cluster::request_job(cluster, id, request)
        .with_context(|| format!("leaving a request in {}", cluster.display()))?;
    println!(
        "{word} JOB {id} requested: the cluster is in use; the process running the job applies it at its next checkpoint"
    );
    Ok(())
}

fn control(cluster: &Path, action: JobAction, id: u64) -> Result<ExitCode> {
    // A pause or cancel while another process (a scheduler running jobs) has the cluster
    // open is left as a request its runner applies at the job's next checkpoint.
    if action != JobAction::Resume {
        match vouch_cluster::Cluster::open(cluster, vouch_cluster::Clock::system()) {
            Err(vouch_cluster::Error::Busy(_)) => {
                leave_request(cluster, action, id)?;
                return Ok(ExitCode::SUCCESS);
            }
            // Closed again at once: the statement opens it (waiting, if it became busy).
            Ok(c) => drop(c),
            Err(_) => {}
        }
    }
    run_statement(
        cluster,
        &Statement::ControlJobs {
            action,
            ids: JobIds::One(id),
        },
        "table",
    )
}

pub(crate) fn run(cmd: JobsCommand) -> Result<ExitCode> {
    match cmd {
        JobsCommand::List {
            cluster,
            status,
            job_type,
            schedule,
            format,
        } => {
            let ids = match schedule {
                Some(id) => JobIds::ForSchedules(ScheduleIds::One(id)),
                None => {
                    let mut conds = Vec::new();
                    if let Some(s) = status {
                        conds.push(("status".to_string(), s));
                    }
                    if let Some(t) = job_type {
                        conds.push(("job_type".to_string(), t.to_ascii_uppercase()));
                    }
                    if conds.is_empty() {
                        JobIds::All
                    } else {
                        JobIds::Where(conds)
                    }
                }
            };
            run_statement(
                &cluster,
                &Statement::ShowJobs {
                    ids,
                    when_complete: false,
                },
                &format,
            )
        }
        JobsCommand::Show {
            cluster,
            id,
            format,
            when_complete,
        } => run_statement(
            &cluster,
            &Statement::ShowJobs {
                ids: JobIds::One(id),
                when_complete,
            },
            &format,
        ),
        JobsCommand::Pause { cluster, id } => control(&cluster, JobAction::Pause, id),
        JobsCommand::Resume { cluster, id } => control(&cluster, JobAction::Resume, id),
        JobsCommand::Cancel { cluster, id } => control(&cluster, JobAction::Cancel, id),
    }
}
