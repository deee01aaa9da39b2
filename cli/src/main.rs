//! The `vouch` command line. Thin: parsing, output, exit codes; the work is in the
//! library crates. Owns argument parsing, progress display and exit codes, and is the only
//! crate that uses `anyhow`. Must never hold logic a test would want (that lives in a
//! library) nor parse statement words itself (they go through `vouch_sql::grammar`).

#![forbid(unsafe_code)]

mod backup_cmd;
mod cluster_cmd;
mod demo;
mod dump_cmd;
mod jobs_cmd;
mod keys_arg;
mod restore_cmd;
mod say;
mod schedule_cmd;
mod sql_cmd;
mod sst_cmd;
mod storage_arg;
mod userfile_cmd;
mod verify_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// vouch: backups you can prove are restorable.
#[derive(Debug, Parser)]
#[command(name = "vouch", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// BACKUP an embedded cluster (or some databases or tables of it) into a collection: a
    /// full backup `INTO URI`, an incremental `INTO LATEST IN URI` or `INTO 'subdir' IN URI`.
    #[command(
        allow_hyphen_values = false,
        after_help = "Example:\n  vouch backup --cluster /tmp/c DATABASE bank INTO nodelocal://1/backups --revision-history"
    )]
    Backup {
        /// The cluster directory.
        #[arg(long)]
        cluster: PathBuf,
        /// `[DATABASE …|TABLE …] INTO [LATEST IN | 'subdir' IN] URI`, as in the SQL statement.
        #[arg(required = true, num_args = 1..)]
        words: Vec<String>,
        /// AS OF SYSTEM TIME: `-10s`, `'2017-06-09 16:13:55.571516+00:00'` or a decimal HLC timestamp.
        #[arg(long, allow_hyphen_values = true)]
        as_of: Option<String>,
        /// WITH revision_history: keep every version in the layer's interval.
        #[arg(long)]
        revision_history: bool,
        /// WITH incremental_location = URI.
        #[arg(long)]
        incremental_location: Option<String>,
        /// Target size of data files in bytes.
        #[arg(long, default_value_t = vouch_engine::backup::DEFAULT_TARGET_FILE_SIZE)]
        target_file_size: u64,
        #[command(flatten)]
        keys: keys_arg::KeyArgs,
    },
    /// SHOW BACKUPS IN URI … (the full backups of a collection) / SHOW BACKUP [SCHEMAS] [FROM]
    /// LATEST|'subdir' IN URI … (what one backup holds).
    ///
    /// Several URIs are a locality-aware backup's list, read as RESTORE reads it: the first
    /// holds the manifests, the others (in any order, moved or consolidated) the localities'
    /// files. With check_files (`WITH check_files` after the URIs, or --check-files) every
    /// file is looked for in the store of its locality (the URI holding its BACKUP_PART): a
    /// file missing, of another size, or of a locality none of the URIs holds fails the
    /// command, naming the file and its locality. `WITH` (and `AS OF SYSTEM TIME`) end the
    /// list of URIs.
    #[command(
        after_help = "Example:\n  vouch show backup FROM LATEST IN nodelocal://1/east nodelocal://1/west WITH check_files --cluster /tmp/c"
    )]
    Show {
        /// `backups IN URI …` or `backup [schemas] [FROM] LATEST|'subdir' IN URI … [WITH
        /// check_files, debug_ids]`.
        #[arg(required = true, num_args = 1..)]
        words: Vec<String>,
        /// The cluster whose external-I/O folder `nodelocal://` URIs refer to.
        #[arg(long)]
        cluster: Option<PathBuf>,
        /// Where the incrementals are, if not in the collection.
        #[arg(long)]
        incremental_location: Option<String>,
        /// WITH check_files: check every file exists with its size (in the store of its
        /// locality); adds file_bytes.
        #[arg(long)]
        check_files: bool,
        /// WITH debug_ids: add descriptor ids.
        #[arg(long)]
        debug_ids: bool,
        /// Output: table or json.
        #[arg(long, default_value = "table")]
        format: String,
        #[command(flatten)]
        keys: keys_arg::KeyArgs,
    },
    /// ALTER BACKUP 'subdir'|LATEST IN URI ADD NEW_KMS = … WITH OLD_KMS = …: writes a new
    /// ENCRYPTION-INFO-<n> (nothing existing changes).
    #[command(
        after_help = "Example:\n  vouch alter backup LATEST IN nodelocal://1/kms --cluster /tmp/c --add-new-kms 'aws-kms:///new?REGION=us-east-1' --old-kms 'aws-kms:///old?REGION=us-east-1'"
    )]
    Alter {
        /// `backup LATEST|'subdir' IN URI`.
        #[arg(required = true, num_args = 1..)]
        words: Vec<String>,
        /// ADD NEW_KMS = URI (repeatable).
        #[arg(long, required = true)]
        add_new_kms: Vec<String>,
        /// WITH OLD_KMS = URI (repeatable): a KMS that unlocks the backup now.
        #[arg(long, required = true)]
        old_kms: Vec<String>,
        /// The cluster whose external-I/O folder `nodelocal://` URIs refer to.
        #[arg(long)]
        cluster: Option<PathBuf>,
    },
    /// RESTORE a backup (the whole cluster, or databases or tables of it) into an embedded
    /// cluster, created if the directory holds none.
    #[command(
        after_help = "Example:\n  vouch restore --cluster /tmp/r DATABASE bank FROM LATEST IN file:///tmp/c/extern/backups"
    )]
    Restore(restore_cmd::Args),
    /// Run SQL statements (`-e "…"` or a script on stdin) against an embedded cluster.
    #[command(
        after_help = "Example:\n  vouch sql --cluster /tmp/c -e 'SHOW BACKUPS IN \"nodelocal://1/backups\"'"
    )]
    Sql(sql_cmd::Args),
    /// Verify a backup offline, with no database running, at one of three levels: metadata,
    /// schema or full (every byte, block, key, row, index and fingerprint).
    #[command(
        after_help = "Example:\n  vouch verify FROM LATEST IN file:///tmp/c/extern/backups --level full"
    )]
    Verify(verify_cmd::Args),
    /// Write SQL (`CREATE …`, `INSERT …`) for a backup's data at a time, loadable with
    /// `vouch sql`.
    #[command(
        after_help = "Example:\n  vouch dump FROM LATEST IN file:///tmp/c/extern/backups > bank.sql"
    )]
    Dump(dump_cmd::Args),
    /// Create, change, read the clock of and fingerprint an embedded cluster (the database
    /// vouch backs up by default).
    #[command(after_help = "Example:\n  vouch cluster init /tmp/c --workload bank --rows 10000")]
    Cluster {
        #[command(subcommand)]
        command: cluster_cmd::ClusterCommand,
    },
    /// Create, list, show, pause, resume, drop and alter backup schedules (CREATE SCHEDULE
    /// FOR BACKUP and its statements).
    #[command(
        after_help = "Example:\n  vouch schedule create nightly --cluster /tmp/c --into nodelocal://1/nightly --recurring @daily"
    )]
    Schedule {
        #[command(subcommand)]
        command: schedule_cmd::ScheduleCommand,
    },
    /// Run due backup schedules and pending jobs: once (`--once`, for cron or a systemd
    /// timer) or until SIGTERM / SIGINT (a running backup stops between data files; the
    /// next pass resumes it).
    #[command(after_help = "Example:\n  vouch scheduler --cluster /tmp/c --once")]
    Scheduler(schedule_cmd::SchedulerArgs),
    /// Upload, list, download and delete files kept inside a cluster (`userfile://`
    /// storage), as `cockroach userfile` does.
    #[command(
        after_help = "Example:\n  vouch userfile upload --cluster /tmp/c ./data.csv imports/data.csv"
    )]
    Userfile {
        #[command(subcommand)]
        command: userfile_cmd::UserfileCommand,
    },
    /// List, show, pause, resume and cancel BACKUP and RESTORE jobs (SHOW JOBS, PAUSE /
    /// RESUME / CANCEL JOB).
    #[command(after_help = "Example:\n  vouch jobs list --cluster /tmp/c --status running")]
    Jobs {
        #[command(subcommand)]
        command: jobs_cmd::JobsCommand,
    },
    /// Inspect, check and write SST data files (for fixtures and debugging).
    #[command(
        after_help = "Example:\n  vouch sst check /tmp/c/extern/backups/2026/12/03-120000.00/data/000001.sst"
    )]
    Sst {
        #[command(subcommand)]
        command: SstCommand,
    },
    /// Run the built-in demonstration: a cluster, a backup chain, verify at the full level,
    /// a flipped bit caught and located, a point-in-time restore checked by fingerprints.
    #[command(after_help = "Example:\n  vouch demo --dir /tmp/vouch-demo")]
    Demo {
        /// Where to put the demo's files (default: a new folder under the system temp dir).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Seed for the generated data.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Print a shell completion script for bash, zsh or fish (generated from these
    /// definitions).
    #[command(
        after_help = "Example:\n  vouch completions bash > ~/.local/share/bash-completion/completions/vouch"
    )]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the vouch(1) man page in roff (generated from these definitions).
    #[command(after_help = "Example:\n  vouch man > vouch.1 && man -l vouch.1")]
    Man {
        /// A command's own page instead (vouch-backup(1), vouch-verify(1), …).
        command: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum SstCommand {
    /// Print every entry as one JSON object per line, in file order.
    Dump {
        /// The SST file.
        file: PathBuf,
        /// Also decode keys as MVCC keys and values as MVCC values.
        #[arg(long)]
        mvcc: bool,
    },
    /// Full verified scan: every block CRC, key order, properties. Exit 0 when sound.
    Check {
        /// The SST file.
        file: PathBuf,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Read JSON lines `{"key":"<hex>","value":"<hex>"}` from stdin and write an SST.
    Write {
        /// The SST file to create (must not exist).
        out: PathBuf,
        /// Target uncompressed data block size in bytes.
        #[arg(long, default_value_t = 4096)]
        block_size: usize,
        /// Data block compression: none, snappy or zstd.
        #[arg(long, default_value = "none")]
        compression: String,
        /// Require MVCC keys and values and record their timestamp range.
        #[arg(long)]
        mvcc: bool,
        /// Replace OUT if it exists.
        #[arg(long)]
        force: bool,
    },
}

/// `vouch --version`: the program's version and the format versions it writes and reads.
fn version_text() -> String {
    use vouch_format::{encryption_info, envelope, manifest, row, sst};
    format!(
        "{} (writes and reads: manifest v{} (v{} locality-aware), integrity listing v{}, \
         ENCRYPTION-INFO v{}, envelope v{}, rows v{}, SST format_version {} with CRC32C)",
        env!("CARGO_PKG_VERSION"),
        manifest::MANIFEST_FORMAT_VERSION,
        manifest::LOCALITY_MANIFEST_FORMAT_VERSION,
        manifest::LISTING_FORMAT_VERSION,
        encryption_info::ENCRYPTION_INFO_FORMAT_VERSION,
        envelope::VERSION,
        row::ROW_ENCODING_VERSION,
        sst::FORMAT_VERSION,
    )
}

/// Writes `bytes` to stdout; a reader that closed the pipe early (`| head`) ends the
/// command quietly with 141 (128 + SIGPIPE), as shell tools do.
fn print_all(bytes: &[u8]) -> anyhow::Result<ExitCode> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::from(141)),
        Err(e) => Err(e.into()),
    }
}

/// The command-line definition, with its version text.
fn command() -> clap::Command {
    use clap::CommandFactory;
    Cli::command().version(version_text())
}

fn main() -> ExitCode {
    use clap::FromArgMatches;
    let cli = match Cli::from_arg_matches(&command().get_matches()) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let result = match cli.command {
        Command::Completions { shell } => {
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut command(), "vouch", &mut out);
            print_all(&out)
        }
        Command::Man { command: sub } => {
            let root = command();
            let page = match &sub {
                None => Some(root),
                Some(name) => root
                    .find_subcommand(name)
                    .map(|c| c.clone().name(format!("vouch-{name}"))),
            };
            let mut out = Vec::new();
            match page.map(|p| clap_mangen::Man::new(p).render(&mut out)) {
                Some(Ok(())) => print_all(&out),
                Some(Err(e)) => Err(e.into()),
                None => Err(anyhow::anyhow!(
                    "no command {:?} (see vouch --help)",
                    sub.unwrap_or_default()
                )),
            }
        }
        Command::Sst { command } => match command {
            SstCommand::Dump { file, mvcc } => sst_cmd::dump(&file, mvcc),
            SstCommand::Check { file, json } => sst_cmd::check(&file, json),
            SstCommand::Write {
                out,
                block_size,
                compression,
                mvcc,
                force,
            } => sst_cmd::write(&out, block_size, &compression, mvcc, force),
        },
        Command::Demo { dir, seed } => demo::run(dir, seed),
        Command::Cluster { command } => cluster_cmd::run(command),
        Command::Schedule { command } => schedule_cmd::run(command),
        Command::Userfile { command } => userfile_cmd::run(command),
        Command::Scheduler(args) => schedule_cmd::run_scheduler(args),
        Command::Jobs { command } => jobs_cmd::run(command),
        Command::Restore(args) => restore_cmd::run(args),
        Command::Sql(args) => sql_cmd::run(args),
        Command::Verify(args) => verify_cmd::run(args),
        Command::Dump(args) => dump_cmd::run(args),
        Command::Backup {
            cluster,
            words,
            as_of,
            revision_history,
            incremental_location,
            target_file_size,
            keys,
        } => backup_cmd::run_backup(backup_cmd::BackupArgs {
            cluster: &cluster,
            words: &words,
            as_of,
            revision_history,
            incremental_location,
            target_file_size,
            keys: &keys,
        }),
        Command::Alter {
            words,
            add_new_kms,
            old_kms,
            cluster,
        } => backup_cmd::alter_backup(&words, &add_new_kms, &old_kms, cluster.as_deref()),
        Command::Show {
            words,
            cluster,
            incremental_location,
            check_files,
            debug_ids,
            format,
            keys,
        } => backup_cmd::show(
            &words,
            cluster.as_deref(),
            incremental_location.as_deref(),
            vouch_engine::show::ShowOptions {
                schemas: false,
                check_files,
                debug_ids,
            },
            &format,
            &keys,
        ),
    };
    match result {
        Ok(code) => code,
        // A reader that closed the pipe early (`vouch dump … | head`): end quietly, as
        // shell tools do (128 + SIGPIPE).
        Err(e) if closed_pipe(&e) => ExitCode::from(141),
        Err(e) => {
            eprintln!("error: {}", said_once(&e));
            ExitCode::from(2)
        }
    }
}

/// Whether `e` comes from writing to a pipe whose reader went away.
fn closed_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// How the command line names the key options (a key error's typed fields say which to
/// give; SQL's `encryption_passphrase` and `kms` are `vouch sql`'s words).
const KEY_FLAGS: vouch_keys::OptionNames = vouch_keys::OptionNames {
    passphrase: "--encryption-passphrase[-env|-file]",
    kms: "--kms",
};

/// The key error a cause shows as its own message, wherever it was wrapped.
fn key_error<'a>(cause: &'a (dyn std::error::Error + 'static)) -> Option<&'a vouch_keys::KeyError> {
    if let Some(k) = cause.downcast_ref::<vouch_keys::KeyError>() {
        return Some(k);
    }
    if let Some(c) = cause.downcast_ref::<vouch_chain::Error>() {
        return c.key_error();
    }
    // The statement layer's (a chain `vouch_sql::backup_stmt` opened for the command).
    if let Some(vouch_sql::Error::Engine(e)) = cause.downcast_ref::<vouch_sql::Error>() {
        return key_error(e);
    }
    match cause.downcast_ref::<vouch_engine::Error>() {
        Some(vouch_engine::Error::Key(k)) => Some(k),
        Some(vouch_engine::Error::Chain(c)) => c.key_error(),
        _ => None,
    }
}

/// The error and its causes joined with ": ", each said once: a cause whose text the
/// message already holds (errors that print their source inside their own message) is
/// not repeated. Key errors name the command line's flags.
fn said_once(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = match key_error(cause) {
            Some(k) => cause
                .to_string()
                .replace(&k.to_string(), &k.message(KEY_FLAGS)),
            None => cause.to_string(),
        };
        if text.is_empty() || out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}
