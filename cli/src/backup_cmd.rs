//! `vouch backup …` and `vouch show …`: the statement-shaped words parsed here, the work
//! done by `vouch-engine`.

use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use vouch_chain::collection::{open_options, Collection};
use vouch_chain::Targets;
use vouch_cluster::{Clock, Cluster};
use vouch_engine::backup::{self, BackupOptions, Destination, Faults, Progress};
use vouch_engine::output::{self, Format};
use vouch_engine::show::{self, ShowOptions};

/// Strips one pair of single or double quotes.
pub fn unquote(s: &str) -> &str {
    let s = s.trim();
    for q in ['\'', '"'] {
        if let Some(inner) = s.strip_prefix(q).and_then(|r| r.strip_suffix(q)) {
            return inner;
        }
    }
    s
}

/// Splits words on commas too (`TABLE a.b, c.d` arrives as `a.b,` `c.d`).
fn names(words: &[String]) -> Vec<String> {
    words
        .iter()
        .flat_map(|w| w.split(','))
        .map(|s| unquote(s).to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Parses the targets before `INTO` / `FROM`: nothing (the cluster), `DATABASE a, b` or
/// `TABLE db.t, …`.
pub fn parse_targets(head: &[String]) -> Result<Targets> {
    Ok(match head.first().map(|w| w.to_ascii_uppercase()).as_deref() {
        None => Targets::Cluster,
        Some("DATABASE") => {
            let n = names(&head[1..]);
            if n.is_empty() {
                bail!("DATABASE needs at least one name");
            }
            Targets::Databases(n)
        }
        Some("TABLE") => {
            let n = names(&head[1..]);
            if n.is_empty() {
                bail!("TABLE needs at least one name");
            }
            Targets::Tables(
                n.iter()
                    .map(|t| Targets::parse_table(t))
                    .collect::<Result<Vec<_>, _>>()?,
            )
        }
        Some(w) => bail!("unexpected {w:?}: targets are DATABASE … or TABLE … (or nothing for the whole cluster)"),
    })
}

/// Parses `[DATABASE a, b | TABLE db.t, …] INTO [LATEST IN | 'subdir' IN] URI`.
pub fn parse_backup_words(words: &[String]) -> Result<(Targets, Destination)> {
    let upper: Vec<String> = words.iter().map(|w| w.to_ascii_uppercase()).collect();
    let Some(into) = upper.iter().position(|w| w == "INTO") else {
        bail!("expected INTO: vouch backup --cluster DIR [DATABASE d | TABLE db.t] INTO [LATEST IN | 'subdir' IN] URI");
    };
    let head = &words[..into];
    let tail = &words[into + 1..];
    let targets = parse_targets(head)?;
    let dest = match tail {
        [uri] => Destination::Into(unquote(uri).to_string()),
        [sub, kw, uri] if kw.eq_ignore_ascii_case("IN") => {
            if sub.eq_ignore_ascii_case("LATEST") {
                Destination::IntoLatest(unquote(uri).to_string())
            } else {
                Destination::IntoSubdir(unquote(sub).to_string(), unquote(uri).to_string())
            }
        }
        _ => bail!("expected INTO URI, INTO LATEST IN URI or INTO 'subdir' IN URI"),
    };
    Ok((targets, dest))
}

/// Parses `FROM LATEST|'subdir' IN URI`.
pub fn parse_from_words(words: &[String]) -> Result<(String, String)> {
    match words {
        [from, sub, kw, uri]
            if from.eq_ignore_ascii_case("FROM") && kw.eq_ignore_ascii_case("IN") =>
        {
            Ok((unquote(sub).to_string(), unquote(uri).to_string()))
        }
        _ => bail!("expected FROM LATEST IN URI or FROM 'subdir' IN URI"),
    }
}

/// The `backup` subcommand's options.
#[derive(Debug)]
pub struct BackupArgs<'a> {
    pub cluster: &'a Path,
    pub words: &'a [String],
    pub as_of: Option<String>,
    pub revision_history: bool,
    pub incremental_location: Option<String>,
    pub target_file_size: u64,
    pub keys: &'a crate::keys_arg::KeyArgs,
}

fn progress_sink() -> Box<dyn FnMut(Progress)> {
    let tty = std::io::stderr().is_terminal();
    let bar = if tty {
        let b = indicatif::ProgressBar::new_spinner();
        b.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {msg} [{elapsed_precise}]")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        Some(b)
    } else {
        None
    };
    let mut read = 0u64;
    let mut files = 0u64;
    let mut stored = 0u64;
    let mut last_line = std::time::Instant::now();
    Box::new(move |p| {
        match p {
            Progress::Start { .. } => {}
            Progress::Read { bytes } => read += bytes,
            Progress::File { size } => {
                files += 1;
                stored += size;
            }
        }
        let msg = format!(
            "backup: {} MiB read, {files} files, {} MiB stored",
            read >> 20,
            stored >> 20
        );
        match &bar {
            Some(b) => {
                b.set_message(msg);
                b.tick();
            }
            None => {
                if last_line.elapsed().as_secs() >= 10 {
                    eprintln!("{msg}");
                    last_line = std::time::Instant::now();
                }
            }
        }
    })
}

/// Runs `vouch backup`.
pub fn run_backup(a: BackupArgs<'_>) -> Result<ExitCode> {
    let (targets, destination) = parse_backup_words(a.words)?;
    let cluster = Cluster::open(a.cluster, Clock::system())?;
    let mut opts = BackupOptions::new(targets, destination);
    opts.as_of = a.as_of;
    opts.revision_history = a.revision_history;
    opts.incremental_location = a.incremental_location;
    opts.target_file_size = a.target_file_size;
    opts.encryption = a.keys.source()?;
    opts.statement = format!("BACKUP {}", a.words.join(" "));
    if let Ok(f) = std::env::var("VOUCH_FAULT") {
        opts.faults = Faults::parse(&f)?;
    }
    let mut sink = progress_sink();
    let r = backup::backup(&cluster, &opts, &mut *sink)?;
    for n in &r.notices {
        eprintln!("NOTICE: {n}");
    }
    print!("{}", output::backup_result(&r).render());
    eprintln!(
        "{} backup{} written to {}/{} ({} files, {} bytes stored, end time {})",
        if r.incremental { "incremental" } else { "full" },
        if r.resumed { " (resumed)" } else { "" },
        opts.destination.uri().trim_end_matches('/'),
        r.path,
        r.files,
        r.file_bytes,
        r.end_time
    );
    Ok(ExitCode::SUCCESS)
}

fn open_collection(uri: &str, cluster: Option<&Path>, inc: Option<&str>) -> Result<Collection> {
    let root = cluster.map(|c| c.join(vouch_cluster::catalog::EXTERN_DIR));
    Collection::open(uri, inc, &open_options(root)).with_context(|| format!("opening {uri}"))
}

/// `vouch show backups IN URI`.
pub fn show_backups(words: &[String], cluster: Option<&Path>, format: &str) -> Result<ExitCode> {
    let uri = match words {
        [kw, uri] if kw.eq_ignore_ascii_case("IN") => unquote(uri),
        _ => bail!("expected: vouch show backups IN URI"),
    };
    let format: Format = format.parse()?;
    let coll = open_collection(uri, cluster, None)?;
    print!("{}", show::show_backups(&coll)?.render_as(format));
    Ok(ExitCode::SUCCESS)
}

/// `vouch show backup [schemas] FROM … IN URI`.
pub fn show_backup(
    words: &[String],
    cluster: Option<&Path>,
    inc: Option<&str>,
    opts: ShowOptions,
    format: &str,
    keys: &crate::keys_arg::KeyArgs,
) -> Result<ExitCode> {
    let mut opts = opts;
    let mut words = words;
    if let Some((first, rest)) = words.split_first() {
        if first.eq_ignore_ascii_case("SCHEMAS") {
            opts.schemas = true;
            words = rest;
        }
    }
    let (sub, uri) = parse_from_words(words)?;
    let format: Format = format.parse()?;
    let coll = open_collection(&uri, cluster, inc)?;
    let full = coll.resolve_subdir(&sub)?;
    let chain = coll.chain_keyed(&full, &keys.source()?)?;
    print!(
        "{}",
        show::show_backup(&coll, &chain, opts)?.render_as(format)
    );
    Ok(ExitCode::SUCCESS)
}

/// `vouch alter backup LATEST|'subdir' IN URI --add-new-kms URI --old-kms URI`.
pub fn alter_backup(
    words: &[String],
    new_kms: &[String],
    old_kms: &[String],
    cluster: Option<&Path>,
) -> Result<ExitCode> {
    let (sub, uri) = match words {
        [b, sub, kw, uri] if b.eq_ignore_ascii_case("backup") && kw.eq_ignore_ascii_case("IN") => {
            (unquote(sub), unquote(uri))
        }
        _ => bail!(
            "expected: vouch alter backup LATEST|'subdir' IN URI --add-new-kms URI --old-kms URI"
        ),
    };
    let coll = open_collection(uri, cluster, None)?;
    let old = vouch_keys::KeySource::kms(old_kms.iter().cloned());
    let path = vouch_engine::crypto::alter_backup_add_kms(&coll, sub, &old, new_kms)?;
    eprintln!(
        "wrote {}/{path}: the backup now also opens with {}",
        uri.trim_end_matches('/'),
        new_kms
            .iter()
            .map(|u| vouch_keys::uri_id_of(u))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn backup_words() {
        let (t, d) = parse_backup_words(&w("INTO nodelocal://1/b")).unwrap();
        assert_eq!(t, Targets::Cluster);
        assert_eq!(d, Destination::Into("nodelocal://1/b".into()));
        let (t, d) =
            parse_backup_words(&w("DATABASE bank, movr INTO LATEST IN 'nodelocal://1/b'")).unwrap();
        assert_eq!(t, Targets::Databases(vec!["bank".into(), "movr".into()]));
        assert_eq!(d, Destination::IntoLatest("nodelocal://1/b".into()));
        let (t, d) = parse_backup_words(&w(
            "TABLE bank.bank,movr.public.users INTO '/2026/11/21-120000.00' IN file:///x",
        ))
        .unwrap();
        assert_eq!(
            t,
            Targets::Tables(vec![
                ("bank".into(), "bank".into()),
                ("movr".into(), "users".into())
            ])
        );
        assert_eq!(
            d,
            Destination::IntoSubdir("/2026/11/21-120000.00".into(), "file:///x".into())
        );
        assert!(parse_backup_words(&w("DATABASE INTO x")).is_err());
        assert!(parse_backup_words(&w("TABLE t INTO x")).is_err());
        assert!(parse_backup_words(&w("nodelocal://1/b")).is_err());
        assert!(parse_backup_words(&w("INTO a b")).is_err());
    }

    #[test]
    fn from_words() {
        assert_eq!(
            parse_from_words(&w("FROM LATEST IN 'nodelocal://1/b'")).unwrap(),
            ("LATEST".to_string(), "nodelocal://1/b".to_string())
        );
        assert!(parse_from_words(&w("LATEST IN x")).is_err());
    }
}
