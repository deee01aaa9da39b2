//! The plain things every module of the read side shares: a layer as read, and how a
//! directory and a name make an object path. A leaf: it imports no other module of the
//! crate, so the modules that share it never import each other for it.

use vouch_format::manifest::pb;

/// One layer of a chain.
#[derive(Debug, Clone)]
pub struct Layer {
    /// Directory relative to its store root (no trailing slash).
    pub dir: String,
    /// True for the full backup.
    pub is_full: bool,
    /// The decoded manifest.
    pub manifest: pb::BackupManifest,
    /// SHA-256 of the stored manifest bytes.
    pub manifest_sha256: [u8; 32],
    /// Size of the stored manifest.
    pub manifest_size: u64,
}

/// `dir/name`, or `name` when `dir` is the store root.
pub fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}
