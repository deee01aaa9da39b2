//! `vouch sql --cluster DIR [-e "…"]… [--database D]`: statements run by `vouch-sql`,
//! printed like `cockroach sql` prints them. With no `-e`, the script is read from stdin.
//! The first failing statement prints `ERROR: …` on stderr and exits 1 (later statements
//! do not run); a directory with no cluster gets an empty one (said on stderr); a
//! cluster that cannot be opened or made exits 2. Statements are never echoed; a
//! script with `WITH encryption_passphrase = '…'` is best fed on stdin, which keeps the
//! passphrase out of the shell's history.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use vouch_cluster::{Clock, Cluster};
use vouch_sql::Session;

/// Arguments of `vouch sql`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The cluster directory.
    #[arg(long)]
    cluster: PathBuf,
    /// Statements to run (`;`-separated; may be repeated). Without it, stdin is read.
    #[arg(short = 'e', long = "execute", allow_hyphen_values = true)]
    execute: Vec<String>,
    /// The current database to start with (default: defaultdb).
    #[arg(short = 'd', long)]
    database: Option<String>,
}

/// Runs `vouch sql`.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let script = if args.execute.is_empty() {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("reading statements from stdin")?;
        s
    } else {
        args.execute.join(";\n")
    };
    // A directory with no cluster gets a new, empty one (as `vouch restore` does).
    let cluster = if args.cluster.join(vouch_cluster::STORE_FILE).exists() {
        // PAUSE JOB / CANCEL JOB while another process (a scheduler running the job) has
        // the cluster open: left as requests its runner applies at the job's next
        // checkpoint (as `vouch jobs pause|cancel`); any other script waits.
        if let Some(requests) = vouch_sql::jobs::requests_in(&script) {
            if let Err(vouch_cluster::Error::Busy(_)) =
                Cluster::open(&args.cluster, Clock::system())
            {
                for (action, id) in requests {
                    crate::jobs_cmd::leave_request(&args.cluster, action, id)?;
                }
                return Ok(ExitCode::SUCCESS);
            }
        }
        crate::cluster_cmd::open_waiting(&args.cluster)?
    } else {
        let c = Cluster::init(&args.cluster, Clock::system())
            .with_context(|| format!("creating a cluster in {}", args.cluster.display()))?;
        eprintln!("created an empty cluster in {}", args.cluster.display());
        c
    };
    // Like `cockroach sql --database`, the database need not exist yet: a dump's own
    // `CREATE DATABASE IF NOT EXISTS` makes it.
    let mut session = match &args.database {
        Some(db) => Session::with_database(&cluster, db),
        None => Session::new(&cluster),
    };
    match session.execute_script(&script, |out| print!("{}", out.render())) {
        Ok(_) => Ok(ExitCode::SUCCESS),
        Err(e) => {
            eprintln!("ERROR: {e}");
            Ok(ExitCode::from(1))
        }
    }
}
