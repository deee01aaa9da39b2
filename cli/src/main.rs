//! The `vouch` command line. Thin: parsing, output, exit codes; the work is in the
//! library crates.

#![forbid(unsafe_code)]

mod cluster_cmd;
mod demo;
mod sst_cmd;

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
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
