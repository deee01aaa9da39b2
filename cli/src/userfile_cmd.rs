//! `vouch userfile upload|list|get|delete`, as `cockroach userfile` has: files kept inside
//! a cluster (its userfile tables, `vouch_cluster::StorageTables`), named by
//! `userfile://db.schema.prefix/path` URIs or by a path in the default table
//! (`userfile://defaultdb.public.userfiles_root/`). Backups write into the same files
//! through `userfile://` URIs (`vouch_engine::storage`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use vouch_cluster::StorageTables;
use vouch_store::{check_object_path, parse_uri, userfile_table, Scheme, DEFAULT_USERFILE_TABLE};

/// `vouch userfile …`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum UserfileCommand {
    /// Upload a local file into the cluster (never replacing a file there).
    #[command(
        after_help = "Example:\n  vouch userfile upload --cluster /tmp/c ./data.csv /imports/data.csv\n  successfully uploaded to userfile://defaultdb.public.userfiles_root/imports/data.csv"
    )]
    Upload {
        /// The cluster directory.
        #[arg(long)]
        cluster: PathBuf,
        /// The local file.
        source: PathBuf,
        /// A userfile URI or a path in the default table (default: the source's name).
        destination: Option<String>,
    },
    /// List the files under a path (default: every file of the default table).
    #[command(after_help = "Example:\n  vouch userfile list --cluster /tmp/c bank-backup")]
    List {
        /// The cluster directory.
        #[arg(long)]
        cluster: PathBuf,
        /// A file or folder: a userfile URI or a path in the default table.
        path: Option<String>,
    },
    /// Download a file (or every file under a folder) to a local path, never replacing a
    /// local file.
    #[command(
        after_help = "Example:\n  vouch userfile get --cluster /tmp/c imports/data.csv ./copy.csv"
    )]
    Get {
        /// The cluster directory.
        #[arg(long)]
        cluster: PathBuf,
        /// A file or folder: a userfile URI or a path in the default table.
        path: String,
        /// Where to write (default: the file's name, or the folder's, in the current
        /// directory).
        destination: Option<PathBuf>,
    },
    /// Delete a file (or every file under a folder).
    #[command(after_help = "Example:\n  vouch userfile delete --cluster /tmp/c imports/data.csv")]
    Delete {
        /// The cluster directory.
        #[arg(long)]
        cluster: PathBuf,
        /// A file or folder: a userfile URI or a path in the default table.
        path: String,
    },
}

/// A file or folder of a userfile table: (table, path inside it, without a leading `/`).
struct Name {
    table: String,
    path: String,
}

impl Name {
    /// `userfile://table/path` or a path in the default table.
    fn parse(arg: &str) -> Result<Name> {
        let (table, path) = if arg.contains("://") {
            let loc = parse_uri(arg)?;
            if loc.scheme != Scheme::Userfile {
                bail!("{arg:?} is not a userfile URI (userfile://db.schema.prefix/path) or a path");
            }
            (userfile_table(&loc)?, loc.path)
        } else {
            (DEFAULT_USERFILE_TABLE.to_string(), arg.to_string())
        };
        let path = path
            .trim_start_matches('/')
            .trim_end_matches('/')
            .to_string();
        if !path.is_empty() {
            check_object_path(&path, false)?;
        }
        Ok(Name { table, path })
    }

    fn full(&self) -> String {
        format!("{}/{}", self.table, self.path)
    }

    fn uri_of(&self, full: &str) -> String {
        format!("userfile://{full}")
    }

    /// The files this name means: the file itself if there is one, else every file under
    /// it as a folder. (full name, size), sorted.
    fn matches(&self, t: &StorageTables) -> Result<Vec<(String, u64)>> {
        if !self.path.is_empty() {
            if let Some(size) = t.size(&self.full())? {
                return Ok(vec![(self.full(), size)]);
            }
        }
        let folder = if self.path.is_empty() {
            format!("{}/", self.table)
        } else {
            format!("{}/", self.full())
        };
        Ok(t.list(&folder)?)
    }
}

fn tables(cluster: &Path) -> Result<StorageTables> {
    Ok(crate::cluster_cmd::open_waiting(cluster)?.kv().storage())
}

/// Runs `vouch userfile …`.
pub(crate) fn run(cmd: UserfileCommand) -> Result<ExitCode> {
    match cmd {
        UserfileCommand::Upload {
            cluster,
            source,
            destination,
        } => {
            let dest = match destination {
                Some(d) => d,
                None => source
                    .file_name()
                    .and_then(|n| n.to_str())
                    .map(str::to_string)
                    .with_context(|| format!("{}: not a file name", source.display()))?,
            };
            let name = Name::parse(&dest)?;
            if name.path.is_empty() {
                bail!("{dest:?}: name the file to upload to, not only its table");
            }
            let bytes =
                std::fs::read(&source).with_context(|| format!("reading {}", source.display()))?;
            let t = tables(&cluster)?;
            let full = name.full();
            if !t.put_new(&full, &bytes)? {
                bail!(
                    "{}: destination file already exists (userfiles are written once; delete it first)",
                    name.uri_of(&full)
                );
            }
            println!("successfully uploaded to {}", name.uri_of(&full));
        }
        UserfileCommand::List { cluster, path } => {
            let name = Name::parse(path.as_deref().unwrap_or(""))?;
            let t = tables(&cluster)?;
            let mut out = String::new();
            for (full, _) in name.matches(&t)? {
                let rel = full
                    .strip_prefix(&format!("{}/", name.table))
                    .unwrap_or(&full);
                out.push_str(rel);
                out.push('\n');
            }
            print!("{out}");
        }
        UserfileCommand::Get {
            cluster,
            path,
            destination,
        } => {
            let name = Name::parse(&path)?;
            let t = tables(&cluster)?;
            let found = name.matches(&t)?;
            if found.is_empty() {
                bail!("{}: no such file or folder", name.uri_of(&name.full()));
            }
            let single = found.len() == 1 && found[0].0 == name.full();
            let base = name.path.rsplit('/').next().unwrap_or_default();
            for (full, _) in &found {
                let target = if single {
                    destination.clone().unwrap_or_else(|| PathBuf::from(base))
                } else {
                    let folder = format!("{}/", name.full().trim_end_matches('/'));
                    let rel = full.strip_prefix(&folder).unwrap_or(full);
                    let root = destination
                        .clone()
                        .unwrap_or_else(|| PathBuf::from(if base.is_empty() { "." } else { base }));
                    root.join(rel)
                };
                let bytes = t
                    .read(full, 0, u64::MAX)?
                    .with_context(|| format!("{}: deleted while reading", name.uri_of(full)))?;
                if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)
                        .with_context(|| format!("creating {}", dir.display()))?;
                }
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&target)
                    .with_context(|| format!("writing {}", target.display()))?;
                f.write_all(&bytes)
                    .and_then(|()| f.sync_all())
                    .with_context(|| format!("writing {}", target.display()))?;
                println!("downloaded {} to {}", name.uri_of(full), target.display());
            }
        }
        UserfileCommand::Delete { cluster, path } => {
            let name = Name::parse(&path)?;
            let t = tables(&cluster)?;
            let found = name.matches(&t)?;
            if found.is_empty() {
                bail!("{}: no such file or folder", name.uri_of(&name.full()));
            }
            for (full, _) in found {
                t.delete(&full)?;
                println!("deleted {}", name.uri_of(&full));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
