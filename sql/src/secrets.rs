//! Secrets files. Statements that hold secrets (a passphrase, URI credentials, KMS URIs)
//! are kept out of every table of the cluster: a schedule's or a job's record keeps its
//! statement redacted, and the whole statement goes to `<cluster>/<folder>/<id>`
//! (readable by the owner only: 0600 in a 0700 folder; written to a temporary file and
//! renamed), read when it runs and checked to redact to the record's statement
//! (spec/schedules.md §6, spec/jobs.md §5).

use std::fmt::Display;
use std::path::PathBuf;

use vouch_cluster::Cluster;

use crate::{grammar, Error, Result};

/// How a caller turns a problem with its secrets file into its own typed error: what was
/// being done (naming the file), and why it failed.
pub(crate) type Fail<'a> = &'a dyn Fn(&str, &dyn Display) -> Error;

/// `<cluster>/<folder>/<id>`.
pub(crate) fn path(cluster: &Cluster, folder: &str, id: u64) -> PathBuf {
    cluster.dir().join(folder).join(id.to_string())
}

/// Writes `statement` (with its secrets) to the secrets file of `id`.
pub(crate) fn write(
    cluster: &Cluster,
    folder: &str,
    id: u64,
    statement: &str,
    fail: Fail<'_>,
) -> Result<()> {
    use std::io::Write;
    let path = path(cluster, folder, id);
    let dir = cluster.dir().join(folder);
    let fail = |what: &str, e: std::io::Error| fail(&format!("{what} {}", path.display()), &e);
    std::fs::create_dir_all(&dir).map_err(|e| fail("creating the folder of", e))?;
    let tmp = dir.join(format!("{id}.tmp"));
    match std::fs::remove_file(&tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(fail("writing", e)),
        _ => {}
    }
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| fail("protecting the folder of", e))?;
        o.mode(0o600);
    }
    let mut f = o.open(&tmp).map_err(|e| fail("writing", e))?;
    f.write_all(statement.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| fail("writing", e))?;
    std::fs::rename(&tmp, &path).map_err(|e| fail("writing", e))
}

/// Deletes the secrets file of `id`, if any.
pub(crate) fn remove(cluster: &Cluster, folder: &str, id: u64, fail: Fail<'_>) -> Result<()> {
    let path = path(cluster, folder, id);
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(fail(&format!("deleting {}", path.display()), &e))
        }
        _ => Ok(()),
    }
}

/// True when a shown statement had secrets replaced (the passphrase's `'*****'`, a URI
/// parameter's `redacted`): it cannot run without its secrets file.
pub(crate) fn shows_redactions(statement: &str) -> bool {
    statement.contains("'*****'") || statement.contains("=redacted")
}

/// The statement to run for record `id` of an `owner` ("schedule", "job") whose record
/// shows `shown`: its secrets file when it has one (which must redact to `shown`), else
/// `shown` itself (a statement without secrets).
pub(crate) fn runnable(
    cluster: &Cluster,
    folder: &str,
    id: u64,
    owner: &str,
    shown: &str,
    fail: Fail<'_>,
) -> Result<String> {
    let path = path(cluster, folder, id);
    match std::fs::read(&path) {
        Ok(bytes) => {
            let text = String::from_utf8(bytes)
                .map_err(|_| fail(&format!("reading {}", path.display()), &"not UTF-8"))?;
            if grammar::redact(&text) != shown {
                return Err(fail(
                    &format!("{}", path.display()),
                    &format!("it holds another statement than the {owner}'s"),
                ));
            }
            Ok(text)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if shows_redactions(shown) {
                return Err(fail(
                    &format!(
                        "its statement needs its secrets, kept in {}",
                        path.display()
                    ),
                    &"the file is missing",
                ));
            }
            Ok(shown.to_string())
        }
        Err(e) => Err(fail(&format!("reading {}", path.display()), &e)),
    }
}
