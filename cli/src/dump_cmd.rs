//! `vouch dump`: the Core backup path (`cockroach dump`). Writes the schema and rows of a
//! backup at one time as SQL that `vouch sql --cluster DIR < dump.sql` loads back
//! (spec/dump.md).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::say::count;
use anyhow::{anyhow, bail, Context, Result};
use vouch_chain::Source;
use vouch_cluster::Clock;
use vouch_sql::backup_stmt::{self, Scope};
use vouch_sql::grammar::words;

/// Arguments of `vouch dump`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// `FROM LATEST|'subdir' IN URI [DATABASE d, … | TABLE db.t, …]` (the targets may
    /// also come before FROM). Without targets: every database.
    #[arg(required = true, num_args = 1..)]
    words: Vec<String>,
    /// AS OF SYSTEM TIME: a layer's end time, or any time inside a revision-history window.
    #[arg(long, allow_hyphen_values = true)]
    as_of: Option<String>,
    /// The cluster whose `extern/` folder `nodelocal://` URIs name.
    #[arg(long)]
    cluster: Option<PathBuf>,
    /// WITH incremental_location = URI.
    #[arg(long)]
    incremental_location: Option<String>,
    /// Write the SQL to this file (created; must not exist) instead of stdout.
    #[arg(short = 'o', long)]
    output: Option<PathBuf>,
    #[command(flatten)]
    keys: crate::keys_arg::KeyArgs,
}

const USAGE: &str = "vouch dump FROM LATEST|'subdir' IN URI [DATABASE d | TABLE db.t]";

fn source_uri(s: &Source) -> String {
    s.default_uri().to_string()
}

/// Runs `vouch dump`.
pub(crate) fn run(a: Args) -> Result<ExitCode> {
    let (targets, from) = words::dump(&a.words).map_err(|e| anyhow!("{e}: {USAGE}"))?;
    let scope = Scope::default();
    let targets = backup_stmt::targets(&scope, &targets)?;
    let source = backup_stmt::source(&scope, &from, a.incremental_location.clone())?;
    let nodelocal = [Some(&source_uri(&source)), a.incremental_location.as_ref()]
        .into_iter()
        .flatten()
        .any(|u| u.starts_with("nodelocal://"));
    if nodelocal && a.cluster.is_none() {
        bail!("nodelocal:// URIs name a folder of a cluster: give --cluster DIR");
    }
    let src = source_uri(&source);
    let uris: Vec<&str> = [Some(src.as_str()), a.incremental_location.as_deref()]
        .into_iter()
        .flatten()
        .collect();
    let opts = crate::storage_arg::open_options(a.cluster.as_deref(), &uris)?;
    let chain = vouch_chain::open_source_keyed(&source, &opts, &a.keys.source()?)?;
    let as_of = a
        .as_of
        .as_deref()
        .map(|t| {
            vouch_format::time::parse_as_of(t, Clock::system().now())
                .with_context(|| format!("--as-of {t}"))
        })
        .transpose()?;
    let plan = vouch_chain::plan(chain, as_of)?;
    let stats = match &a.output {
        Some(path) => {
            let f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
                .with_context(|| format!("creating {}", path.display()))?;
            let mut w = std::io::BufWriter::new(f);
            let s = vouch_engine::dump::dump(&plan, &targets, &mut w)?;
            w.into_inner()
                .map_err(|e| e.into_error())
                .and_then(|f| f.sync_all())
                .with_context(|| format!("writing {}", path.display()))?;
            s
        }
        None => {
            let stdout = std::io::stdout();
            let mut w = std::io::BufWriter::new(stdout.lock());
            let s = vouch_engine::dump::dump(&plan, &targets, &mut w)?;
            w.flush().context("writing to stdout")?;
            s
        }
    };
    eprintln!(
        "dumped {} as of {}: {}, {}, {}, {}, {}, {} in {} ({} of SQL{})",
        stats.what,
        stats.time,
        count(stats.databases as u64, "database", "databases"),
        count(stats.types as u64, "type", "types"),
        count(stats.tables as u64, "table", "tables"),
        count(stats.indexes as u64, "index", "indexes"),
        count(stats.views as u64, "view", "views"),
        count(stats.rows, "row", "rows"),
        count(stats.statements, "statement", "statements"),
        count(stats.bytes, "byte", "bytes"),
        a.output
            .as_ref()
            .map_or_else(String::new, |p| format!(", to {}", p.display()))
    );
    Ok(ExitCode::SUCCESS)
}
