//! Small values (wrapped data keys) sealed under a key-encryption key: one AES-256-GCM
//! call with a random nonce, no chunks.

use zeroize::Zeroizing;

use super::cipher::DataKey;
#[cfg(not(fuzzing))]
use super::cipher::RawAead;
use super::framing::TAG_LEN;
use crate::error::{Error, Result};

/// Length of the random nonce stored in front of a [`seal_small`] ciphertext.
pub const SMALL_NONCE_LEN: usize = 12;
/// Bytes [`seal_small`] adds to its plaintext (nonce and tag).
pub const SMALL_OVERHEAD: usize = SMALL_NONCE_LEN + TAG_LEN;

/// Seals a small value (a data key) under a key-encryption key: `nonce` ‖ ciphertext ‖
/// tag, AES-256-GCM with `aad` as associated data. `nonce` must be fresh random bytes.
pub fn seal_small(
    kek: &DataKey,
    aad: &[u8],
    plaintext: &[u8],
    nonce: [u8; SMALL_NONCE_LEN],
) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(plaintext.len() + SMALL_OVERHEAD);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(plaintext);
    let tag = small_seal(
        kek,
        &nonce,
        aad,
        out.get_mut(SMALL_NONCE_LEN..).unwrap_or_default(),
    )
    .ok_or_else(|| Error::Usage("value over AES-GCM's length limit".into()))?;
    out.extend_from_slice(&tag);
    Ok(out)
}

/// Opens what [`seal_small`] made; the plaintext is zeroized when dropped.
pub fn open_small(kek: &DataKey, aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    if sealed.len() < SMALL_OVERHEAD {
        return Err(Error::Truncated {
            field: "sealed value",
            offset: 0,
            needed: SMALL_OVERHEAD as u64,
            available: sealed.len() as u64,
        });
    }
    let (nonce, rest) = sealed.split_at(SMALL_NONCE_LEN);
    let (ct, tag) = rest.split_at(rest.len() - TAG_LEN);
    let nonce: [u8; SMALL_NONCE_LEN] = nonce.try_into().unwrap_or_default();
    let tag: [u8; TAG_LEN] = tag.try_into().unwrap_or_default();
    let mut buf = Zeroizing::new(ct.to_vec());
    if small_open(kek, &nonce, aad, &mut buf, &tag) {
        Ok(buf)
    } else {
        Err(Error::SmallAuth {
            len: sealed.len() as u64,
        })
    }
}

#[cfg(not(fuzzing))]
fn small_seal(
    kek: &DataKey,
    nonce: &[u8; SMALL_NONCE_LEN],
    aad: &[u8],
    buf: &mut [u8],
) -> Option<[u8; TAG_LEN]> {
    RawAead::new(kek.as_bytes()).seal(nonce, aad, buf)
}

#[cfg(not(fuzzing))]
fn small_open(
    kek: &DataKey,
    nonce: &[u8; SMALL_NONCE_LEN],
    aad: &[u8],
    buf: &mut [u8],
    tag: &[u8; TAG_LEN],
) -> bool {
    RawAead::new(kek.as_bytes()).open(nonce, aad, buf, tag)
}

/// Null cipher for fuzzing: plaintext as is, an all-zero tag.
#[cfg(fuzzing)]
fn small_seal(
    _kek: &DataKey,
    _nonce: &[u8; SMALL_NONCE_LEN],
    _aad: &[u8],
    _buf: &mut [u8],
) -> Option<[u8; TAG_LEN]> {
    Some([0; TAG_LEN])
}

#[cfg(fuzzing)]
fn small_open(
    _kek: &DataKey,
    _nonce: &[u8; SMALL_NONCE_LEN],
    _aad: &[u8],
    _buf: &mut [u8],
    tag: &[u8; TAG_LEN],
) -> bool {
    tag == &[0; TAG_LEN]
}
