//! Locality-aware layers on the read side: finding each locality's part file
//! (`BACKUP_PART_<n>_<locality>`) among the stores given (spec/locality.md §7).

use vouch_format::envelope::DataKey;
use vouch_format::locality::sanitize;
use vouch_format::manifest;
use vouch_store::Store;

use crate::{join, sealed, Error, ErrorKind, Layer, Result};

/// Whether `name` is a part file of `locality`: `BACKUP_PART_<digits>_<sanitized>`.
pub fn is_part_of(name: &str, locality: &str) -> bool {
    let want = sanitize(locality);
    name.strip_prefix("BACKUP_PART_")
        .and_then(|r| r.split_once('_'))
        .is_some_and(|(n, l)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) && l == want)
}

/// The part files of `locality` in `layer`'s directory of `store`: their paths.
pub fn part_paths(store: &dyn Store, layer: &Layer, locality: &str) -> Result<Vec<String>> {
    let prefix = if layer.dir.is_empty() {
        String::new()
    } else {
        format!("{}/", layer.dir)
    };
    Ok(store
        .list(&prefix)?
        .into_iter()
        .filter(|o| {
            o.path
                .strip_prefix(&prefix)
                .is_some_and(|n| !n.contains('/') && is_part_of(n, locality))
        })
        .map(|o| o.path)
        .collect())
}

/// Reads and decodes one part file (opened with the chain's key when it is encrypted).
pub fn read_part(
    store: &dyn Store,
    path: &str,
    backup_id: &[u8],
    key: Option<&DataKey>,
) -> Result<manifest::pb::BackupPart> {
    let stored = store.get_limited(path, vouch_format::layout::MAX_METADATA_BYTES)?;
    let name = path.rsplit('/').next().unwrap_or(path);
    let full = format!("{}/{path}", store.uri().trim_end_matches('/'));
    let plain = match key {
        Some(k) => sealed::open_small_file(k, backup_id, name, &stored, &full)?,
        None => stored,
    };
    manifest::decode_part(&plain).map_err(|e| Error::format(full, e))
}

/// The store (an index into `stores`, among `candidates`, tried in order) holding the part
/// of `locality` of `layer`: its backup id must be the layer's. None of them holding it is
/// [`ErrorKind::LocalityPart`] (see [`locate_part`] for the search itself).
pub fn find_part(
    stores: &[Box<dyn Store>],
    candidates: &[usize],
    layer: &Layer,
    locality: &str,
    key: Option<&DataKey>,
) -> Result<usize> {
    if let Some(i) = locate_part(stores, candidates, layer, locality, key)? {
        return Ok(i);
    }
    Err(not_found(layer, locality))
}

/// [`find_part`]'s search: `Ok(None)` when no candidate holds the part of `locality`. A
/// part of another backup met on the way is still an error ([`ErrorKind::LocalityPart`]).
pub fn locate_part(
    stores: &[Box<dyn Store>],
    candidates: &[usize],
    layer: &Layer,
    locality: &str,
    key: Option<&DataKey>,
) -> Result<Option<usize>> {
    let m = &layer.manifest;
    for &i in candidates {
        let Some(store) = stores.get(i) else { continue };
        for path in part_paths(store.as_ref(), layer, locality)? {
            let part = read_part(store.as_ref(), &path, &m.backup_id, key)?;
            let full = format!("{}/{path}", store.uri().trim_end_matches('/'));
            if part.backup_id != m.backup_id {
                return Err(Error::new(
                    ErrorKind::LocalityPart,
                    format!(
                        "expected backup part to have backup ID {}, found {} ({full}, locality {locality})",
                        hex::encode(&m.backup_id),
                        hex::encode(&part.backup_id)
                    ),
                )
                .with_object(full));
            }
            if part.locality == locality {
                return Ok(Some(i));
            }
        }
    }
    Ok(None)
}

/// The error of a locality no store given holds (CockroachDB's `expected manifest … not
/// found in backup locations`).
pub fn not_found(layer: &Layer, locality: &str) -> Error {
    let dir = join("", &layer.dir);
    Error::new(
        ErrorKind::LocalityPart,
        format!(
            "expected manifest BACKUP_PART_<n>_{} not found in backup locations: none of the URIs given holds locality {locality} of layer {}",
            sanitize(locality),
            if dir.is_empty() { "(root)" } else { dir.as_str() }
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_names() {
        assert!(is_part_of(
            "BACKUP_PART_1_region=us-west1",
            "region=us-west1"
        ));
        assert!(is_part_of("BACKUP_PART_12_dc=a_b", "dc=a.b"));
        assert!(!is_part_of(
            "BACKUP_PART__region=us-west1",
            "region=us-west1"
        ));
        assert!(!is_part_of(
            "BACKUP_PART_x_region=us-west1",
            "region=us-west1"
        ));
        assert!(!is_part_of(
            "BACKUP_PART_1_region=us-west",
            "region=us-west1"
        ));
        assert!(!is_part_of("BACKUP_MANIFEST", "region=us-west1"));
    }
}
