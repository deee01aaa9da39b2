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
pub enum ClusterCommand {
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
    /// is the HLC timestamp of the last write.
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

pub fn run(cmd: ClusterCommand) -> Result<ExitCode> {
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
            println!("{last}");
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
            match format {
                Format::Json => {
                    let rows: Vec<serde_json::Value> = fps
                        .iter()
                        .map(|f| {
                            serde_json::json!({
                                "database_name": f.database,
                                "table_name": f.table,
                                "index_name": f.index,
                                "fingerprint": signed(f.fingerprint),
                                "table_id": f.table_id,
                                "index_id": f.index_id,
                                "entries": f.entries,
                            })
                        })
                        .collect();
                    println!("{}", serde_json::to_string_pretty(&rows)?);
                }
                Format::Table => {
                    let rows: Vec<Vec<String>> = fps
                        .iter()
                        .map(|f| {
                            vec![
                                f.database.clone(),
                                f.table.clone(),
                                f.index.clone(),
                                signed(f.fingerprint),
                            ]
                        })
                        .collect();
                    print!(
                        "{}",
                        render_table(
                            &["database_name", "table_name", "index_name", "fingerprint"],
                            &rows
                        )
                    );
                }
            }
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

/// A fingerprint as CockroachDB prints it: the 64-bit value as a signed decimal.
fn signed(fp: u64) -> String {
    i64::from_ne_bytes(fp.to_ne_bytes()).to_string()
}

/// A table in the `cockroach sql` style: centered headers, left-aligned cells padded by one
/// space, `|` between columns, a `-`/`+` rule under the header, trailing spaces trimmed,
/// and a `(N rows)` footer.
pub fn render_table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let width = |s: &str| s.chars().count();
    let widths: Vec<usize> = headers
        .iter()
        .enumerate()
        .map(|(i, h)| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| width(c))
                .chain([width(h)])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<String>| -> String {
        let s = format!(" {} ", cells.join("|"));
        format!("{}\n", s.trim_end())
    };
    let mut out = String::new();
    out.push_str(&line(
        headers
            .iter()
            .zip(&widths)
            .map(|(h, w)| {
                let pad = w - width(h);
                let left = pad / 2;
                format!(" {}{h}{} ", " ".repeat(left), " ".repeat(pad - left))
            })
            .collect(),
    ));
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(w + 2)).collect();
    out.push_str(&format!("-{}-\n", rule.join("+")));
    for r in rows {
        out.push_str(&line(
            widths
                .iter()
                .enumerate()
                .map(|(i, w)| {
                    let c = r.get(i).map_or("", String::as_str);
                    format!(" {c}{} ", " ".repeat(w - width(c)))
                })
                .collect(),
        ));
    }
    let n = rows.len();
    out.push_str(&format!("({n} row{})\n", if n == 1 { "" } else { "s" }));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_matches_cockroach_sql() {
        // The shape of a `cockroach sql` result in the seeds (strings left-aligned).
        let t = render_table(
            &["job_id", "status", "bytes"],
            &[vec![
                "543214409874014209".into(),
                "succeeded".into(),
                "467701".into(),
            ]],
        );
        assert_eq!(
            t,
            "        job_id       |  status   | bytes\n\
             ---------------------+-----------+---------\n\
             \x20 543214409874014209 | succeeded | 467701\n\
             (1 row)\n"
        );
        let t = render_table(&["a"], &[]);
        assert_eq!(t, "  a\n-----\n(0 rows)\n");
    }

    #[test]
    fn fingerprints_print_signed() {
        assert_eq!(signed(0), "0");
        assert_eq!(signed(u64::MAX), "-1");
        assert_eq!(signed(10_543_443_208_021_966_406), "-7903300865687585210");
    }
}
