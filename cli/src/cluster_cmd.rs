//! `vouch cluster init | nodes | run | now | clock | fingerprint`: create an embedded cluster,
//! change it with a workload, read or set its clock, and fingerprint it (like
//! `SHOW EXPERIMENTAL_FINGERPRINTS`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Subcommand, ValueEnum};
use vouch_cluster::workload::{self, InitOptions, Workload};
use vouch_cluster::{Clock, Cluster};
use vouch_format::locality::Locality;
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
        /// The nodes: their localities separated by `:` (`region=us-east1,az=b:region=us-west1,az=a`),
        /// or a count N (the first N localities of CockroachDB's movr demo, cycled). Without it
        /// the demo's nine nodes in us-east1, us-west1 and europe-west1.
        #[arg(long)]
        nodes: Option<String>,
        /// movr only, like `cockroach demo movr --geo-partitioned`: users, vehicles and rides
        /// get primary key (city, id) and are PARTITION BY LIST (city) into us_west (seattle,
        /// san francisco, los angeles), us_east (new york, boston, washington dc) and
        /// europe_west (amsterdam, paris, rome), each partition's zone constrained to its
        /// region ([+region=us-west1], [+region=us-east1], [+region=europe-west1]), so its
        /// ranges' leaseholders are nodes of that region.
        #[arg(long)]
        geo_partitioned: bool,
    },
    /// List the cluster's nodes: node_id and locality.
    Nodes {
        /// The cluster directory.
        dir: PathBuf,
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
    /// Show the cluster's clock, or make it a manual clock (set to a time, advanced by a
    /// duration: schedules and tests move it instead of waiting), or the system clock again.
    Clock {
        /// The cluster directory.
        dir: PathBuf,
        /// Make the clock manual at this time (UTC, `2026-01-01 00:00:00`).
        #[arg(long, conflicts_with_all = ["advance", "system"])]
        set: Option<String>,
        /// Move the manual clock forward: `90s`, `15m`, `6h`, `1d`.
        #[arg(long, conflicts_with = "system")]
        advance: Option<String>,
        /// Use the system clock again.
        #[arg(long)]
        system: bool,
    },
    /// Run GC at the cluster's time: each zone's GC threshold moves to now minus its TTL
    /// (a table's gc.ttlseconds, else 4 h), never past the oldest protected timestamp
    /// (a running job's, a backup schedule's); versions no read after the threshold can
    /// see are removed. Prints `gc at <time>: removed <n> versions` and the protected
    /// timestamp records that held it back.
    Gc {
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
            nodes,
            geo_partitioned,
        } => {
            if geo_partitioned && w != Some(Workload::Movr) {
                anyhow::bail!("--geo-partitioned needs --workload movr");
            }
            let nodes = nodes
                .as_deref()
                .map(parse_nodes)
                .transpose()
                .with_context(|| format!("--nodes {:?}", nodes.as_deref().unwrap_or_default()))?;
            let c = Cluster::init(&dir, Clock::system())
                .with_context(|| format!("creating a cluster in {}", dir.display()))?;
            if let Some(n) = &nodes {
                c.set_nodes(n)?;
            }
            let Some(w) = w else {
                println!("initialized an empty cluster in {}", dir.display());
                return Ok(ExitCode::SUCCESS);
            };
            let mut o = InitOptions::new(rows, seed);
            o.payload_bytes = payload_bytes;
            o.geo_partitioned = geo_partitioned;
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
        ClusterCommand::Nodes { dir } => {
            let c = open(&dir)?;
            let mut t = vouch_engine::output::Table::new(&["node_id", "locality"]);
            for n in c.nodes()? {
                t.rows
                    .push(vec![Some(n.id.to_string()), Some(n.locality.to_string())]);
            }
            print!("{}", t.render());
        }
        ClusterCommand::Gc { dir } => {
            let c = open(&dir)?;
            let now = c.now();
            let removed = c.gc(now)?;
            println!(
                "gc at {}: removed {removed} versions",
                vouch_format::time::format_sql_tz(now)
            );
            for (id, ts) in c.kv().protected()? {
                let owner = match vouch_cluster::RecordOwner::of(id) {
                    vouch_cluster::RecordOwner::Job(j) => format!("job {j}"),
                    vouch_cluster::RecordOwner::Schedule(s) => format!("schedule {s}"),
                };
                println!(
                    "protected since {} by {owner}",
                    vouch_format::time::format_sql_tz(ts)
                );
            }
        }
        ClusterCommand::Now { dir } => {
            let c = open(&dir)?;
            println!("{}", c.now());
        }
        ClusterCommand::Clock {
            dir,
            set,
            advance,
            system,
        } => {
            let c = open(&dir)?;
            let kv = c.kv();
            if system {
                kv.set_manual_clock(None)?;
            } else if let Some(t) = &set {
                let us = vouch_format::time::parse_sql_timestamp_checked(t)
                    .with_context(|| format!("--set {t:?}"))?;
                let wall = u64::try_from(us)
                    .ok()
                    .and_then(|us| us.checked_mul(1000))
                    .with_context(|| format!("--set {t:?}: before 1970"))?;
                kv.set_manual_clock(Some(wall))?;
            } else if let Some(d) = &advance {
                let Some(wall) = kv.manual_clock()? else {
                    anyhow::bail!("--advance needs a manual clock: set one with --set TIME");
                };
                let by = duration_nanos(d).with_context(|| format!("--advance {d:?}"))?;
                kv.set_manual_clock(Some(wall.saturating_add(by)))?;
            }
            match kv.manual_clock()? {
                Some(w) => println!(
                    "manual clock at {}",
                    vouch_format::time::format_sql_tz(Timestamp::new(w, 0))
                ),
                None => println!("system clock"),
            }
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

/// `--nodes`: a count (the demo's localities, cycled) or localities separated by `:`.
fn parse_nodes(text: &str) -> Result<Vec<Locality>> {
    let t = text.trim();
    if !t.is_empty() && t.chars().all(|c| c.is_ascii_digit()) {
        let n: usize = t.parse().context("a node count")?;
        if n == 0 || n > vouch_cluster::MAX_NODES {
            anyhow::bail!("a cluster has 1 to {} nodes", vouch_cluster::MAX_NODES);
        }
        return vouch_cluster::DEMO_NODES
            .iter()
            .cycle()
            .take(n)
            .map(|l| Locality::parse(l).map_err(anyhow::Error::from))
            .collect();
    }
    let v = t
        .split(':')
        .map(|l| Locality::parse(l).map_err(anyhow::Error::from))
        .collect::<Result<Vec<_>>>()?;
    if v.len() > vouch_cluster::MAX_NODES {
        anyhow::bail!("a cluster has 1 to {} nodes", vouch_cluster::MAX_NODES);
    }
    if let Some(i) = v.iter().position(|l| l.tiers.is_empty()) {
        anyhow::bail!("node {} has an empty locality", i + 1);
    }
    Ok(v)
}

fn open(dir: &Path) -> Result<Cluster> {
    open_waiting(dir)
}

/// `90s`, `15m`, `6h`, `1d` in nanoseconds.
fn duration_nanos(text: &str) -> Result<u64> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let n: u64 = n
        .parse()
        .context("expected a number and a unit (s, m, h, d)")?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        u => anyhow::bail!("unit {u:?}: expected s, m, h or d"),
    };
    n.checked_mul(secs)
        .and_then(|s| s.checked_mul(1_000_000_000))
        .context("too long")
}

/// Opens the cluster in `dir`; while another process has it open (a scheduler's job), says
/// so once on stderr and waits.
pub(crate) fn open_waiting(dir: &Path) -> Result<Cluster> {
    let mut said = false;
    loop {
        match Cluster::open(dir, Clock::system()) {
            Err(vouch_cluster::Error::Busy(_)) => {
                if !said {
                    eprintln!(
                        "waiting for the cluster in {}: another vouch process is using it",
                        dir.display()
                    );
                    said = true;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            r => return r.with_context(|| format!("opening {}", dir.display())),
        }
    }
}

/// The timestamp of the cluster's last write (the HLC the store persists with each write).
fn last_write(c: &Cluster) -> Result<Timestamp> {
    Ok(match c.kv().setting("hlc")? {
        Some(b) => Timestamp::decode_be(&b)?,
        None => Timestamp::MIN,
    })
}
