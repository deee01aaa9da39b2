//! How commands that read a collection open its URIs: `--cluster DIR` is where
//! `nodelocal://` URIs are, and where `userfile://` files and `external://name`
//! connections are kept. The cluster is opened only when a URI needs it (`userfile://`,
//! `external://`), so reading `nodelocal://` beside a running cluster needs no lock.

use std::path::Path;

use anyhow::{bail, Result};
use vouch_store::OpenOptions;

/// Whether a URI names what a cluster keeps.
fn in_cluster(uri: &str) -> bool {
    let scheme = uri
        .split("://")
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    uri.contains("://") && (scheme == "userfile" || scheme == "external")
}

/// The options to open `uris` with, given the command's `--cluster`.
pub(crate) fn open_options(cluster: Option<&Path>, uris: &[&str]) -> Result<OpenOptions> {
    let needs = uris.iter().find(|u| in_cluster(u));
    match (cluster, needs) {
        (Some(dir), Some(_)) => {
            let c = crate::cluster_cmd::open_waiting(dir)?;
            Ok(vouch_engine::storage::open_options(&c))
        }
        (None, Some(u)) => bail!(
            "{} names storage kept in a cluster (userfile:// files, external:// connections): give --cluster DIR",
            vouch_store::message_uri(u)
        ),
        (dir, None) => Ok(vouch_chain::open_options(
            dir.map(|d| d.join(vouch_cluster::EXTERN_DIR)),
        )),
    }
}
