//! The `vouch` command line. Thin: parsing, output, exit codes; the work is in the
//! library crates. Owns argument parsing, progress display and exit codes, and is the only
//! crate that uses `anyhow`. Must never hold logic a test would want (that lives in a
//! library) nor parse statement words itself (they go through `vouch_sql::grammar`).

#![forbid(unsafe_code)]

mod backup_cmd;
mod cluster_cmd;
mod demo;
mod dump_cmd;
mod keys_arg;
mod restore_cmd;
mod sql_cmd;
mod sst_cmd;
mod verify_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// vouch: backups you can prove are restorable.
#[derive(Debug, Parser)]
#[command(name = "vouch", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create, change, read the clock of and fingerprint an embedded cluster.
    /// BACKUP: `vouch backup --cluster DIR [DATABASE d, … | TABLE db.t, …] INTO [LATEST IN | 'subdir' IN] URI`.
    #[command(allow_hyphen_values = false)]
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
    /// SHOW BACKUPS IN URI / SHOW BACKUP [SCHEMAS] FROM LATEST|'subdir' IN URI.
    Show {
        /// `backups IN URI` or `backup [schemas] FROM LATEST|'subdir' IN URI`.
        #[arg(required = true, num_args = 1..)]
        words: Vec<String>,
        /// The cluster whose external-I/O folder `nodelocal://` URIs refer to.
        #[arg(long)]
        cluster: Option<PathBuf>,
        /// Where the incrementals are, if not in the collection.
        #[arg(long)]
        incremental_location: Option<String>,
        /// WITH check_files: check every file exists with its size; adds file_bytes.
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
    /// RESTORE: `vouch restore --cluster DIR [DATABASE …|TABLE …] FROM LATEST|'subdir' IN URI`.
    Restore(restore_cmd::Args),
    /// Run SQL statements (`-e "…"` or a script on stdin) against an embedded cluster.
    Sql(sql_cmd::Args),
    /// Verify a backup offline: `vouch verify [FROM LATEST|'subdir'] IN URI --level metadata|schema|full`.
    Verify(verify_cmd::Args),
    /// Core backup: write SQL (`CREATE …`, `INSERT …`) for a backup's data at a time.
    Dump(dump_cmd::Args),
    Cluster {
        #[command(subcommand)]
        command: cluster_cmd::ClusterCommand,
    },
    /// Inspect, check and write SST data files (for fixtures and debugging).
    Sst {
        #[command(subcommand)]
        command: SstCommand,
    },
    /// Run the built-in demonstration: write a sample SST set, verify it, print a summary.
    Demo {
        /// Where to put the demo's files (default: a new folder under the system temp dir).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Seed for the generated data.
        #[arg(long, default_value_t = 1)]
        seed: u64,
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
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
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
