//! `file:///path/to/keyfile`: a local 256-bit key for people without a cloud KMS.
//!
//! The file holds the key as 32 raw bytes or as 64 hex digits (one trailing newline
//! allowed). It is read at every wrap and unwrap, never cached. On Unix a key file that
//! every user may read or write (mode `o+r` or `o+w`) is refused: a key anyone on the
//! machine can read protects nothing. Group access is allowed (backup operators often
//! share a group). The wrap is AES-256-GCM with a random nonce, associated data
//! `vouch/v1 file-kms-wrap`: nonce (12) ‖ ciphertext (32) ‖ tag (16).

use std::path::PathBuf;

use zeroize::Zeroizing;

use super::{Kms, KmsUri};
use crate::passphrase::{unwrap_key, wrap_key};
use crate::{KeyError, Result};
use vouch_format::envelope::DataKey;

/// Associated data of a file-KMS wrap.
pub const FILE_WRAP_LABEL: &[u8] = b"vouch/v1 file-kms-wrap";

/// A key file.
#[derive(Debug, Clone)]
pub struct FileKms {
    path: PathBuf,
}

impl FileKms {
    /// From a parsed `file:///abs/path` URI (no host, no query).
    pub fn from_uri(uri: &KmsUri) -> Result<FileKms> {
        let id = uri.id();
        let bad = |reason: &str| KeyError::BadKmsUri {
            uri_id: id.clone(),
            reason: reason.into(),
        };
        if !uri.authority.is_empty() {
            return Err(bad(
                "a key file URI has no host: write file:///absolute/path",
            ));
        }
        if !uri.params.is_empty() {
            return Err(bad("a key file URI takes no parameters"));
        }
        if !uri.path.starts_with('/') || uri.path.len() < 2 {
            return Err(bad("needs an absolute path: file:///absolute/path"));
        }
        Ok(FileKms {
            path: PathBuf::from(&uri.path),
        })
    }

    fn err(&self, op: &'static str, reason: String) -> KeyError {
        KeyError::Kms {
            uri_id: self.uri_id(),
            op,
            reason,
        }
    }

    fn read_key(&self, op: &'static str) -> Result<Zeroizing<[u8; 32]>> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let meta = std::fs::metadata(&self.path)
                .map_err(|e| self.err(op, format!("reading key file: {e}")))?;
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o006 != 0 {
                return Err(self.err(
                    op,
                    format!(
                        "key file is accessible to every user (mode {mode:04o}); restrict it, e.g. chmod 600"
                    ),
                ));
            }
        }
        let raw = Zeroizing::new(
            std::fs::read(&self.path)
                .map_err(|e| self.err(op, format!("reading key file: {e}")))?,
        );
        let mut key = Zeroizing::new([0u8; 32]);
        if raw.len() == 32 {
            key.copy_from_slice(&raw);
            return Ok(key);
        }
        let text = raw
            .strip_suffix(b"\r\n")
            .or_else(|| raw.strip_suffix(b"\n"))
            .unwrap_or(&raw);
        if text.len() == 64 && hex::decode_to_slice(text, &mut key[..]).is_ok() {
            return Ok(key);
        }
        Err(self.err(
            op,
            format!(
                "key file holds {} bytes: expected 32 raw bytes or 64 hex digits",
                raw.len()
            ),
        ))
    }
}

impl Kms for FileKms {
    fn uri_id(&self) -> String {
        format!("file://{}", self.path.display())
    }

    fn wrap(&self, key: &DataKey) -> Result<Vec<u8>> {
        let kek = self.read_key("wrap")?;
        Ok(wrap_key(&kek, FILE_WRAP_LABEL, key))
    }

    fn unwrap(&self, wrapped: &[u8]) -> Result<DataKey> {
        let kek = self.read_key("unwrap")?;
        unwrap_key(&kek, FILE_WRAP_LABEL, wrapped).ok_or_else(|| {
            self.err(
                "unwrap",
                "the wrapped key does not authenticate under this key file (a different key, or a damaged record)".into(),
            )
        })
    }
}
