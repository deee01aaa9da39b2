//! `vouch cluster init | run | now | fingerprint`: create an embedded cluster, change it
//! with a workload, read its clock, and fingerprint it (like `SHOW EXPERIMENTAL_FINGERPRINTS`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Subcommand, ValueEnum};
use vouch_cluster::workload::{self, InitOptions, Workload};
use vouch_cluster::{Clock, Cluster};
use vouch_format::mvcc::Timestamp;

#[derive(Debug, Subcommand)]
pub(crate) enum ClusterCommand {
    /// Create a cluster in DIR, empty or filled with a workload's schema and rows.
    Init {
        /// The cluster directory (created if needed; must not hold a cluster yet).
        dir: PathBuf,
        /// bank or movr (without it the cluster is empty: a restore target).
        #[arg(long)]
        workload: Option<Workload>,
        /// Rows to create (bank: accounts; movr: users and rides, half as many vehicles).
        #[arg(long, default_value_t = 1000)]
        rows: u64,
        /// Seed of the generated data.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Length of each bank payload in bytes.
        #[arg(long, default_value_t = workload::DEFAULT_PAYLOAD_BYTES)]
        payload_bytes: usize,
    },
    /// Run a workload's operations (and one schema change halfway); the last line printed
    /// is `last write: <HLC timestamp>`.
    Run {
        /// The cluster directory.
        dir: PathBuf,
        /// bank or movr.
        #[arg(long)]
        workload: Workload,
        /// Operations to run, each its own transaction.
        #[arg(long)]
        ops: u64,
        /// Seed of the generated operations.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Print a current HLC timestamp (after every write so far).
    Now {
        /// The cluster directory.
        dir: PathBuf,
    },
    /// Fingerprint every index of every table (user tables and system.users): one row per
    /// index with database_name, table_name, index_name and fingerprint (a signed 64-bit
    /// decimal, a string in JSON as in CockroachDB).
    Fingerprint {
        /// The cluster directory.
        dir: PathBuf,
        /// Read as of this time: an HLC timestamp (`1700000000123456789.0000000000`), or
        /// any AS OF SYSTEM TIME form (`-10s`, `2024-01-01 10:00:00+00:00`).
        #[arg(long)]
        as_of: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

/// Output formats of `cluster fingerprint`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// The `cockroach sql` table.
    Table,
    /// A JSON array of objects.
    Json,
}

impl From<Format> for vouch_engine::output::Format {
    fn from(f: Format) -> Self {
        match f {
            Format::Table => vouch_engine::output::Format::Table,
            Format::Json => vouch_engine::output::Format::Json,
        }
    }
}

pub(crate) fn run(cmd: ClusterCommand) -> Result<ExitCode> {
    match cmd {
        ClusterCommand::Init {
            dir,
            workload: w,
            rows,
            seed,
            payload_bytes,
        } => {
            let c = Cluster::init(&dir, Clock::system())
                .with_context(|| format!("creating a cluster in {}", dir.display()))?;
            let Some(w) = w else {
                println!("initialized an empty cluster in {}", dir.display());
                return Ok(ExitCode::SUCCESS);
            };
            let mut o = InitOptions::new(rows, seed);
            o.payload_bytes = payload_bytes;
            let s = workload::init_with(&c, w, &o)
                .with_context(|| format!("workload {w} init in {}", dir.display()))?;
            println!("initialized {w} in {}: {s}", dir.display());
        }
        ClusterCommand::Run {
            dir,
            workload: w,
            ops,
            seed,
        } => {
            let c = open(&dir)?;
            let s = workload::run(&c, w, ops, seed)
                .with_context(|| format!("workload {w} run in {}", dir.display()))?;
            println!("ran {ops} {w} ops in {}: {s}", dir.display());
            // With no write (no ops), the cluster's last write stands in.
            let last = match s.last_write {
                Some(ts) => ts,
                None => last_write(&c)?,
            };
            println!("last write: {last}");
        }
        ClusterCommand::Now { dir } => {
            let c = open(&dir)?;
            println!("{}", c.now());
        }
        ClusterCommand::Fingerprint { dir, as_of, format } => {
            let c = open(&dir)?;
            let now = c.now();
            let ts = match &as_of {
                Some(text) => vouch_format::time::parse_as_of(text, now)
                    .with_context(|| format!("--as-of {text:?}"))?,
                None => now,
            };
            let fps = c
                .fingerprints(ts)
                .with_context(|| format!("fingerprinting {} as of {ts}", dir.display()))?;
            print!(
                "{}",
                vouch_engine::output::fingerprints(&fps, format.into())
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn open(dir: &Path) -> Result<Cluster> {
    Cluster::open(dir, Clock::system()).with_context(|| format!("opening {}", dir.display()))
}

/// The timestamp of the cluster's last write (the HLC the store persists with each write).
fn last_write(c: &Cluster) -> Result<Timestamp> {
    Ok(match c.kv().setting("hlc")? {
        Some(b) => Timestamp::decode_be(&b)?,
        None => Timestamp::MIN,
    })
}
