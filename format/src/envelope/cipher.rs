//! Keys, file identities and the chunk cipher: the per-file key derivation, the chunk
//! nonces, and the associated data every chunk is authenticated with.

use std::fmt;

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::framing::{Header, FILE_NONCE_LEN, HEADER_LEN, MAX_CHUNKS, TAG_LEN};
use crate::error::{Error, Result};

/// Domain-separation label of the per-file key derivation (followed by one zero byte).
const FILE_KEY_LABEL: &[u8] = b"vouch envelope v1 file key\0";
/// Where the chunk index and the final flag sit in the associated data.
const AAD_INDEX: usize = HEADER_LEN;
const AAD_FINAL: usize = HEADER_LEN + 4;

// ---- keys and identities ------------------------------------------------------------------

/// A 256-bit AES key: a chain's data key, or a key-encryption key for
/// [`seal_small`](super::seal_small).
/// Zeroized on drop; its `Debug` form never shows the bytes.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct DataKey([u8; 32]);

impl DataKey {
    /// Takes the key bytes (the caller should zeroize its own copy).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        DataKey(bytes)
    }

    /// Copies a key out of a slice, which must be exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self> {
        let arr: [u8; 32] = bytes.try_into().map_err(|_| Error::Invalid {
            field: "data key",
            offset: 0,
            reason: format!("{} bytes, expected 32", bytes.len()),
        })?;
        Ok(DataKey(arr))
    }

    /// The key bytes (for wrapping it; never print them).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
}

/// What a sealed file is bound to: the backup it belongs to and its path inside the
/// backup. A chunk authenticates only under the identity it was sealed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileId<'a> {
    /// The backup's id bytes (the caller chooses them; the same for every file of a backup).
    pub backup_id: &'a [u8],
    /// The file's path relative to the backup's directory, e.g. `data/1.sst`.
    pub path: &'a str,
}

// ---- the ciphers -------------------------------------------------------------------------

/// AES-256-GCM through the `aes-gcm` crate, exactly as the envelope calls it (exposed so
/// the known-answer tests go through the same calls).
#[doc(hidden)]
pub struct RawAead(Aes256Gcm);

impl fmt::Debug for RawAead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RawAead(<key redacted>)")
    }
}

impl RawAead {
    /// A cipher under a 256-bit key.
    pub fn new(key: &[u8; 32]) -> Self {
        RawAead(Aes256Gcm::new(key.into()))
    }

    /// Encrypts `buf` in place; returns the tag. `None` only past GCM's length limits.
    pub fn seal(&self, nonce: &[u8; 12], aad: &[u8], buf: &mut [u8]) -> Option<[u8; TAG_LEN]> {
        self.0
            .encrypt_in_place_detached(Nonce::from_slice(nonce), aad, buf)
            .ok()
            .map(Into::into)
    }

    /// Checks `tag` and decrypts `buf` in place; false (and `buf` unusable) if the tag
    /// does not authenticate.
    pub fn open(&self, nonce: &[u8; 12], aad: &[u8], buf: &mut [u8], tag: &[u8; TAG_LEN]) -> bool {
        self.0
            .decrypt_in_place_detached(Nonce::from_slice(nonce), aad, buf, Tag::from_slice(tag))
            .is_ok()
    }
}

/// The per-file key: HMAC-SHA256(data key, label ‖ file nonce).
#[doc(hidden)]
pub fn derive_file_key(key: &DataKey, file_nonce: &[u8; FILE_NONCE_LEN]) -> Zeroizing<[u8; 32]> {
    let mut out = Zeroizing::new([0u8; 32]);
    // HMAC takes keys of any length, so this never fails; the fallback keeps it panic-free.
    if let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(key.as_bytes()) {
        mac.update(FILE_KEY_LABEL);
        mac.update(file_nonce);
        let mut tag = mac.finalize().into_bytes();
        out.copy_from_slice(&tag);
        tag.as_mut_slice().zeroize();
    }
    out
}

/// The chunk cipher of one file: AES-256-GCM under the file key, or the null cipher when
/// built for fuzzing.
pub(super) struct ChunkCipher {
    #[cfg(not(fuzzing))]
    aead: RawAead,
    #[cfg_attr(fuzzing, allow(dead_code))]
    nonce_prefix: [u8; 8],
}

impl fmt::Debug for ChunkCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ChunkCipher(<key redacted>)")
    }
}

impl ChunkCipher {
    pub(super) fn new(key: &DataKey, header: &Header) -> ChunkCipher {
        let mut nonce_prefix = [0u8; 8];
        for (d, s) in nonce_prefix
            .iter_mut()
            .zip(header.file_nonce.iter().skip(FILE_NONCE_LEN - 8))
        {
            *d = *s;
        }
        #[cfg(not(fuzzing))]
        {
            let file_key = derive_file_key(key, &header.file_nonce);
            ChunkCipher {
                aead: RawAead::new(&file_key),
                nonce_prefix,
            }
        }
        #[cfg(fuzzing)]
        {
            let _ = key;
            ChunkCipher { nonce_prefix }
        }
    }

    #[cfg_attr(fuzzing, allow(dead_code))]
    fn nonce(&self, index: u32) -> [u8; 12] {
        let mut n = [0u8; 12];
        for (d, s) in n
            .iter_mut()
            .zip(self.nonce_prefix.iter().chain(index.to_be_bytes().iter()))
        {
            *d = *s;
        }
        n
    }

    #[cfg(not(fuzzing))]
    pub(super) fn seal(&self, index: u32, aad: &[u8], buf: &mut [u8]) -> Option<[u8; TAG_LEN]> {
        self.aead.seal(&self.nonce(index), aad, buf)
    }

    #[cfg(not(fuzzing))]
    pub(super) fn open(&self, index: u32, aad: &[u8], buf: &mut [u8], tag: &[u8; TAG_LEN]) -> bool {
        self.aead.open(&self.nonce(index), aad, buf, tag)
    }

    /// Null cipher: plaintext as is, tag = the final flag then 15 zero bytes.
    #[cfg(fuzzing)]
    pub(super) fn seal(&self, _index: u32, aad: &[u8], _buf: &mut [u8]) -> Option<[u8; TAG_LEN]> {
        let mut tag = [0u8; TAG_LEN];
        if let Some(t) = tag.first_mut() {
            *t = aad.get(AAD_FINAL).copied().unwrap_or(0);
        }
        Some(tag)
    }

    #[cfg(fuzzing)]
    pub(super) fn open(&self, index: u32, aad: &[u8], buf: &mut [u8], tag: &[u8; TAG_LEN]) -> bool {
        self.seal(index, aad, buf).is_some_and(|t| &t == tag)
    }
}

/// The associated data of a file's chunks: header ‖ index (u32 BE) ‖ final flag ‖
/// backup id length (u64 BE) ‖ backup id ‖ path length (u64 BE) ‖ path.
#[derive(Debug, Clone)]
pub(super) struct Aad(Vec<u8>);

impl Aad {
    pub(super) fn new(header: &[u8; HEADER_LEN], id: FileId<'_>) -> Aad {
        let mut v = Vec::with_capacity(HEADER_LEN + 21 + id.backup_id.len() + id.path.len());
        v.extend_from_slice(header);
        v.extend_from_slice(&[0; 5]);
        v.extend_from_slice(&(id.backup_id.len() as u64).to_be_bytes());
        v.extend_from_slice(id.backup_id);
        v.extend_from_slice(&(id.path.len() as u64).to_be_bytes());
        v.extend_from_slice(id.path.as_bytes());
        Aad(v)
    }

    pub(super) fn set(&mut self, index: u32, final_chunk: bool) -> &[u8] {
        if let Some(slot) = self.0.get_mut(AAD_INDEX..AAD_FINAL) {
            slot.copy_from_slice(&index.to_be_bytes());
        }
        if let Some(slot) = self.0.get_mut(AAD_FINAL) {
            *slot = u8::from(final_chunk);
        }
        &self.0
    }
}

pub(super) fn chunk_index(i: u64) -> Result<u32> {
    u32::try_from(i).map_err(|_| Error::Limit {
        field: "envelope chunk count",
        offset: 0,
        value: i.saturating_add(1),
        limit: MAX_CHUNKS,
    })
}
