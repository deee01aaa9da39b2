//! `ENCRYPTION-INFO` records: how a chain's data key is recovered (spec/keys.md).
//!
//! Pure bytes ⇄ types: the record holds wrapped copies of the data key, a salt and an
//! iteration count, KMS URI ids and a key check value — no secret. The cryptography that
//! makes and opens the wraps lives in the `vouch-keys` crate; this module decodes strictly
//! (the stored bytes must be the canonical encoding, see
//! [`crate::manifest::decode_canonical`]), validates every field against the limits below
//! and names the field and its byte offset when one is wrong.
//!
//! An iteration count is a cost the *reader* pays: a record asking for 4 billion PBKDF2
//! iterations would hang a restore, one asking for 1 would make a passphrase cheap to guess
//! for whoever can write the bucket. Both bounds are enforced on every decoded record, the
//! upper one as [`Error::KdfCost`] (a record that costs too much, rather than a damaged
//! one), before any key is derived.
//!
//! A chain has at most [`MAX_KEY_RECORDS`] records (`ENCRYPTION-INFO` and
//! `ENCRYPTION-INFO-1` to `-15`), and each rotation record must be what `ALTER BACKUP … ADD
//! NEW_KMS` makes of the one before it ([`check_rotation`]): so all records of a chain
//! share one passphrase wrap (one salt, one iteration count) and a reader derives at most
//! one key-encryption key per passphrase, whatever the records say.

use prost::encoding::{encoded_len_varint, key_len};
use prost::Message;

use crate::error::{Error, Result};
pub use crate::manifest::pb::{EncryptionInfo, KmsWrappedKey, PassphraseWrappedKey};

/// Format version written and read by this code.
pub const ENCRYPTION_INFO_FORMAT_VERSION: u32 = 1;
/// Largest record accepted, checked before decoding.
pub const MAX_ENCRYPTION_INFO_BYTES: usize = 1 << 20;
/// Length of `chain_id` (the full backup's `backup_id`).
pub const CHAIN_ID_LEN: usize = 16;
/// Length of a data key (AES-256).
pub const DATA_KEY_LEN: usize = 32;
/// Smallest passphrase salt accepted.
pub const MIN_SALT_LEN: usize = 16;
/// Largest passphrase salt accepted.
pub const MAX_SALT_LEN: usize = 64;
/// Salt length vouch writes.
pub const SALT_LEN: usize = 32;
/// Fewest PBKDF2 iterations accepted from a record.
pub const MIN_ITERATIONS: u32 = 100_000;
/// Most PBKDF2 iterations accepted from a record: the most key-derivation work a record
/// may ask of a reader (about a second of one core; vouch writes 600,000). A record asking
/// for more is refused before any derivation ([`Error::KdfCost`]).
pub const MAX_ITERATIONS: u32 = 2_000_000;
/// Most key records one chain may have: `ENCRYPTION-INFO` and the rotations
/// `ENCRYPTION-INFO-1` to `ENCRYPTION-INFO-15`. Readers refuse a chain with a rotation
/// numbered past the limit before reading any record.
pub const MAX_KEY_RECORDS: usize = 16;
/// Iteration count vouch writes (OWASP's figure for PBKDF2-HMAC-SHA256).
pub const DEFAULT_ITERATIONS: u32 = 600_000;
/// AES-GCM nonce length.
pub const NONCE_LEN: usize = 12;
/// AES-GCM tag length.
pub const TAG_LEN: usize = 16;
/// Length of a passphrase wrap: nonce ‖ ciphertext of the data key ‖ tag.
pub const PASSPHRASE_WRAP_LEN: usize = NONCE_LEN + DATA_KEY_LEN + TAG_LEN;
/// Length of `key_check` (HMAC-SHA256).
pub const KEY_CHECK_LEN: usize = 32;
/// Most KMS wraps in one record.
pub const MAX_KMS: usize = 64;
/// Longest KMS `uri_id`, in bytes.
pub const MAX_URI_ID_LEN: usize = 2048;
/// Longest KMS wrap (AWS KMS ciphertext blobs are 1 to 6,144 bytes).
pub const MAX_KMS_WRAP_LEN: usize = 6144;

/// Associated-data label of the passphrase wrap; the chain id follows it.
pub const PASSPHRASE_WRAP_LABEL: &[u8] = b"vouch/v1 passphrase-wrap";
/// HMAC message label of `key_check`; the chain id follows it.
pub const KEY_CHECK_LABEL: &[u8] = b"vouch/v1 key-check";

/// Encodes a record (canonical protobuf). Does not validate: call [`validate`] first when
/// the record was not built by vouch's own key code.
pub fn encode(info: &EncryptionInfo) -> Vec<u8> {
    info.encode_to_vec()
}

/// Decodes and validates a stored record: canonical encoding, known version, every field
/// within its bounds.
pub fn decode(bytes: &[u8]) -> Result<EncryptionInfo> {
    if bytes.len() > MAX_ENCRYPTION_INFO_BYTES {
        return Err(Error::Limit {
            field: "encryption info",
            offset: 0,
            value: bytes.len() as u64,
            limit: MAX_ENCRYPTION_INFO_BYTES as u64,
        });
    }
    let info = crate::manifest::decode_canonical::<EncryptionInfo>(bytes, "encryption info")?;
    validate(&info)?;
    Ok(info)
}

/// Byte offsets of the fields of a record's canonical encoding (what [`validate`] reports).
struct Offsets {
    format_version: u64,
    chain_id: u64,
    /// Start of the passphrase message's body.
    passphrase: u64,
    /// Start of each KMS message's body.
    kms: Vec<u64>,
    key_check: u64,
}

fn len_field(tag: u32, len: usize) -> usize {
    key_len(tag) + encoded_len_varint(len as u64) + len
}

fn offsets(info: &EncryptionInfo) -> Offsets {
    use prost::encoding::{bytes, uint32};
    let mut at = 0usize;
    let format_version = at;
    at += uint32::encoded_len(1, &info.format_version);
    let chain_id = at;
    at += bytes::encoded_len(2, &info.chain_id);
    let mut passphrase = at;
    if let Some(p) = &info.passphrase {
        let len = p.encoded_len();
        passphrase = at + key_len(3) + encoded_len_varint(len as u64);
        at += len_field(3, len);
    }
    let mut kms = Vec::with_capacity(info.kms.len());
    for k in &info.kms {
        let len = k.encoded_len();
        kms.push((at + key_len(4) + encoded_len_varint(len as u64)) as u64);
        at += len_field(4, len);
    }
    Offsets {
        format_version: format_version as u64,
        chain_id: chain_id as u64,
        passphrase: passphrase as u64,
        kms,
        key_check: at as u64,
    }
}

fn invalid(field: &'static str, offset: u64, reason: String) -> Error {
    Error::Invalid {
        field,
        offset,
        reason,
    }
}

fn check_len(field: &'static str, offset: u64, len: usize, min: usize, max: usize) -> Result<()> {
    if len < min || len > max {
        let want = if min == max {
            format!("{min} bytes")
        } else {
            format!("{min} to {max} bytes")
        };
        return Err(invalid(
            field,
            offset,
            format!("{len} bytes, expected {want}"),
        ));
    }
    Ok(())
}

/// Checks every field of a record; offsets are those of the record's canonical encoding.
pub fn validate(info: &EncryptionInfo) -> Result<()> {
    let off = offsets(info);
    if info.format_version != ENCRYPTION_INFO_FORMAT_VERSION {
        return Err(invalid(
            "encryption info format_version",
            off.format_version,
            format!(
                "version {} is not supported (this reader supports {ENCRYPTION_INFO_FORMAT_VERSION})",
                info.format_version
            ),
        ));
    }
    check_len(
        "encryption info chain_id",
        off.chain_id,
        info.chain_id.len(),
        CHAIN_ID_LEN,
        CHAIN_ID_LEN,
    )?;
    if let Some(p) = &info.passphrase {
        use prost::encoding::bytes;
        let salt_at = off.passphrase;
        let iter_at = salt_at + bytes::encoded_len(1, &p.salt) as u64;
        let wrap_at = iter_at + prost::encoding::uint32::encoded_len(2, &p.iterations) as u64;
        check_len(
            "encryption info passphrase.salt",
            salt_at,
            p.salt.len(),
            MIN_SALT_LEN,
            MAX_SALT_LEN,
        )?;
        if p.iterations < MIN_ITERATIONS {
            return Err(invalid(
                "encryption info passphrase.iterations",
                iter_at,
                format!(
                    "iteration count {} is below the minimum of {MIN_ITERATIONS}",
                    p.iterations
                ),
            ));
        }
        if p.iterations > MAX_ITERATIONS {
            return Err(Error::KdfCost {
                field: "encryption info passphrase.iterations",
                offset: iter_at,
                value: u64::from(p.iterations),
                limit: u64::from(MAX_ITERATIONS),
            });
        }
        check_len(
            "encryption info passphrase.wrapped_key",
            wrap_at,
            p.wrapped_key.len(),
            PASSPHRASE_WRAP_LEN,
            PASSPHRASE_WRAP_LEN,
        )?;
    }
    let kms_at = off.kms.first().copied().unwrap_or(off.key_check);
    if info.kms.len() > MAX_KMS {
        return Err(Error::Limit {
            field: "encryption info kms",
            offset: kms_at,
            value: info.kms.len() as u64,
            limit: MAX_KMS as u64,
        });
    }
    for (i, (k, at)) in info.kms.iter().zip(&off.kms).enumerate() {
        check_uri_id(&k.uri_id).map_err(|reason| {
            invalid(
                "encryption info kms.uri_id",
                *at,
                format!("kms #{i}: {reason}"),
            )
        })?;
        if info.kms.iter().take(i).any(|o| o.uri_id == k.uri_id) {
            return Err(invalid(
                "encryption info kms.uri_id",
                *at,
                format!("kms #{i}: {:?} is listed twice", k.uri_id),
            ));
        }
        let wrap_at = *at + prost::encoding::string::encoded_len(1, &k.uri_id) as u64;
        if k.wrapped_key.is_empty() || k.wrapped_key.len() > MAX_KMS_WRAP_LEN {
            return Err(invalid(
                "encryption info kms.wrapped_key",
                wrap_at,
                format!(
                    "kms #{i} ({}): {} bytes, expected 1 to {MAX_KMS_WRAP_LEN} bytes",
                    k.uri_id,
                    k.wrapped_key.len()
                ),
            ));
        }
    }
    if info.passphrase.is_none() && info.kms.is_empty() {
        return Err(invalid(
            "encryption info",
            off.passphrase,
            "neither a passphrase nor a KMS wraps the data key: nothing can unlock it".into(),
        ));
    }
    check_len(
        "encryption info key_check",
        off.key_check,
        info.key_check.len(),
        KEY_CHECK_LEN,
        KEY_CHECK_LEN,
    )?;
    Ok(())
}

/// Checks that `next`, a rotation record (`ENCRYPTION-INFO-<n>`), is what `ALTER BACKUP …
/// ADD NEW_KMS` makes of `prev`, the record before it: the same `chain_id`, `key_check`
/// and passphrase wrap, and `prev`'s KMS wraps first, followed by at least one more. No
/// cryptography runs: a record that differs otherwise (another salt or iteration count, a
/// wrap dropped or changed) is refused naming the field of `next` and its offset.
pub fn check_rotation(prev: &EncryptionInfo, next: &EncryptionInfo) -> Result<()> {
    let off = offsets(next);
    let differs = |field: &'static str, offset: u64, what: &str| {
        Err(invalid(
            field,
            offset,
            format!("differs from the record before it ({what}): a rotation only adds KMS wraps"),
        ))
    };
    if next.chain_id != prev.chain_id {
        return differs("encryption info chain_id", off.chain_id, "another chain");
    }
    if next.passphrase != prev.passphrase {
        return differs(
            "encryption info passphrase",
            off.passphrase,
            "another passphrase wrap, salt or iteration count",
        );
    }
    let kms_at = |i: usize| off.kms.get(i).copied().unwrap_or(off.key_check);
    for (i, old) in prev.kms.iter().enumerate() {
        if next.kms.get(i) != Some(old) {
            return differs(
                "encryption info kms",
                kms_at(i),
                &format!("kms #{i} ({}) is not kept as it was", old.uri_id),
            );
        }
    }
    if next.kms.len() <= prev.kms.len() {
        return differs(
            "encryption info kms",
            kms_at(prev.kms.len()),
            "no KMS wrap added",
        );
    }
    if next.key_check != prev.key_check {
        return differs("encryption info key_check", off.key_check, "another key");
    }
    Ok(())
}

/// Whether `uri_id` is a KMS URI id as vouch writes them: not empty, at most
/// [`MAX_URI_ID_LEN`] bytes, a scheme, and no query string, fragment, user info or control
/// characters (ids never carry secrets). `Err` says why not.
pub fn check_uri_id(uri_id: &str) -> std::result::Result<(), String> {
    if uri_id.is_empty() {
        return Err("empty KMS uri id".into());
    }
    if uri_id.len() > MAX_URI_ID_LEN {
        return Err(format!(
            "KMS uri id of {} bytes, over the limit of {MAX_URI_ID_LEN}",
            uri_id.len()
        ));
    }
    let Some((scheme, rest)) = uri_id.split_once("://") else {
        return Err(format!("{uri_id:?} has no scheme"));
    };
    if scheme.is_empty()
        || !scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '+' || c == '.')
    {
        return Err(format!("{uri_id:?} has no valid scheme"));
    }
    if uri_id.chars().any(|c| c.is_control()) {
        return Err(format!("{uri_id:?} holds control characters"));
    }
    if rest.contains(['?', '#']) {
        return Err(format!(
            "{uri_id:?} has a query or fragment (uri ids are stored without them)"
        ));
    }
    let authority = rest.split('/').next().unwrap_or("");
    if authority.contains('@') {
        return Err(format!(
            "{uri_id:?} has user info (uri ids are stored without credentials)"
        ));
    }
    Ok(())
}

/// Fuzz entry point: a record that decodes re-encodes to exactly the input and passes
/// [`validate`]; a record that decodes canonically but fails validation is refused by
/// [`decode`] with the same error; truncating a valid record never yields a valid one of
/// the same content.
#[doc(hidden)]
pub fn fuzz_decode(data: &[u8]) {
    match decode(data) {
        Ok(info) => {
            assert_eq!(encode(&info), data, "encryption info re-encoding differs");
            assert!(validate(&info).is_ok());
            if let Some(cut) = data.len().checked_sub(1) {
                if let Some(prefix) = data.get(..cut) {
                    if let Ok(other) = decode(prefix) {
                        assert_ne!(other, info, "a truncated record decoded to the same record");
                    }
                }
            }
        }
        Err(e) => {
            if let Ok(info) =
                crate::manifest::decode_canonical::<EncryptionInfo>(data, "encryption info")
            {
                if data.len() <= MAX_ENCRYPTION_INFO_BYTES {
                    assert_eq!(validate(&info), Err(e), "decode and validate disagree");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> EncryptionInfo {
        EncryptionInfo {
            format_version: 1,
            chain_id: vec![7; 16],
            passphrase: Some(PassphraseWrappedKey {
                salt: vec![1; 32],
                iterations: DEFAULT_ITERATIONS,
                wrapped_key: vec![2; PASSPHRASE_WRAP_LEN],
            }),
            kms: vec![
                KmsWrappedKey {
                    uri_id: "aws:///arn:aws:kms:us-east-1:123456789012:key/abc".into(),
                    wrapped_key: vec![3; 184],
                },
                KmsWrappedKey {
                    uri_id: "file:///etc/vouch/key".into(),
                    wrapped_key: vec![4; 60],
                },
            ],
            key_check: vec![5; KEY_CHECK_LEN],
        }
    }

    /// The offset a field's value starts at, found by searching the encoding for the
    /// value's bytes (independent of [`offsets`]).
    fn find(haystack: &[u8], needle: &[u8]) -> u64 {
        haystack
            .windows(needle.len())
            .position(|w| w == needle)
            .unwrap() as u64
    }

    #[test]
    fn round_trip() {
        let info = sample();
        let bytes = encode(&info);
        assert_eq!(decode(&bytes).unwrap(), info);
    }

    #[test]
    fn iteration_bounds_name_field_value_and_offset() {
        for (iterations, reason) in [
            (
                99_999,
                "iteration count 99999 is below the minimum of 100000",
            ),
            (1, "iteration count 1 is below the minimum of 100000"),
        ] {
            let mut info = sample();
            info.passphrase.as_mut().unwrap().iterations = iterations;
            let bytes = encode(&info);
            // The iterations field: key 0x10 right after the 34-byte salt field.
            let salt_field = find(&bytes, &[0x0a, 32, 1, 1]);
            assert_eq!(bytes[salt_field as usize + 34], 0x10);
            assert_eq!(
                decode(&bytes),
                Err(Error::Invalid {
                    field: "encryption info passphrase.iterations",
                    offset: salt_field + 34,
                    reason: reason.into()
                })
            );
        }
        // Above the maximum: a cost refused, not damage.
        for iterations in [MAX_ITERATIONS + 1, 10_000_000, u32::MAX] {
            let mut info = sample();
            info.passphrase.as_mut().unwrap().iterations = iterations;
            let bytes = encode(&info);
            let salt_field = find(&bytes, &[0x0a, 32, 1, 1]);
            assert_eq!(
                decode(&bytes),
                Err(Error::KdfCost {
                    field: "encryption info passphrase.iterations",
                    offset: salt_field + 34,
                    value: u64::from(iterations),
                    limit: 2_000_000,
                })
            );
        }
        for ok in [MIN_ITERATIONS, MAX_ITERATIONS] {
            let mut info = sample();
            info.passphrase.as_mut().unwrap().iterations = ok;
            assert!(decode(&encode(&info)).is_ok());
        }
    }

    #[test]
    fn field_errors_point_at_the_field() {
        let mut info = sample();
        info.key_check = vec![5; 31];
        let bytes = encode(&info);
        assert_eq!(
            decode(&bytes),
            Err(Error::Invalid {
                field: "encryption info key_check",
                offset: find(&bytes, &[0x2a, 31, 5]),
                reason: "31 bytes, expected 32 bytes".into()
            })
        );

        let mut info = sample();
        info.kms[1].wrapped_key.clear();
        let bytes = encode(&info);
        assert_eq!(
            decode(&bytes),
            Err(Error::Invalid {
                field: "encryption info kms.wrapped_key",
                offset: find(&bytes, b"file:///etc/vouch/key") + 21,
                reason: "kms #1 (file:///etc/vouch/key): 0 bytes, expected 1 to 6144 bytes".into()
            })
        );

        let mut info = sample();
        info.kms[1].uri_id = "aws:///k?AWS_SECRET_ACCESS_KEY=x".into();
        assert_eq!(
            decode(&encode(&info)),
            Err(Error::Invalid {
                field: "encryption info kms.uri_id",
                offset: find(&encode(&info), b"aws:///k?") - 2,
                reason: "kms #1: \"aws:///k?AWS_SECRET_ACCESS_KEY=x\" has a query or fragment (uri ids are stored without them)".into()
            })
        );

        let mut info = sample();
        info.kms[1].uri_id = info.kms[0].uri_id.clone();
        assert!(matches!(
            decode(&encode(&info)),
            Err(Error::Invalid { field: "encryption info kms.uri_id", reason, .. }) if reason.ends_with("is listed twice")
        ));

        let mut info = sample();
        info.passphrase = None;
        info.kms.clear();
        assert_eq!(
            decode(&encode(&info)),
            Err(Error::Invalid {
                field: "encryption info",
                offset: 20,
                reason: "neither a passphrase nor a KMS wraps the data key: nothing can unlock it"
                    .into()
            })
        );

        let mut info = sample();
        info.chain_id = vec![7; 8];
        assert_eq!(
            decode(&encode(&info)),
            Err(Error::Invalid {
                field: "encryption info chain_id",
                offset: 2,
                reason: "8 bytes, expected 16 bytes".into()
            })
        );

        let mut info = sample();
        info.format_version = 2;
        assert_eq!(
            decode(&encode(&info)),
            Err(Error::Invalid {
                field: "encryption info format_version",
                offset: 0,
                reason: "version 2 is not supported (this reader supports 1)".into()
            })
        );
    }

    #[test]
    fn every_truncation_and_every_bit_flip_is_refused_or_differs() {
        let info = sample();
        let bytes = encode(&info);
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "truncated at {cut} decoded");
        }
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut b = bytes.clone();
                b[i] ^= 1 << bit;
                // A flip inside an opaque byte string decodes to a different record (the
                // keys crate's key check then refuses it); any other flip is an error.
                if let Ok(other) = decode(&b) {
                    assert_ne!(other, info, "flip at {i} bit {bit}");
                    assert_eq!(encode(&other), b);
                }
            }
        }
        let mut long = bytes.clone();
        long.push(0);
        assert!(decode(&long).is_err());
    }

    #[test]
    fn oversized_input_is_refused_before_decoding() {
        let big = vec![0u8; MAX_ENCRYPTION_INFO_BYTES + 1];
        assert_eq!(
            decode(&big),
            Err(Error::Limit {
                field: "encryption info",
                offset: 0,
                value: MAX_ENCRYPTION_INFO_BYTES as u64 + 1,
                limit: MAX_ENCRYPTION_INFO_BYTES as u64
            })
        );
    }

    #[test]
    fn a_rotation_only_adds_kms_wraps() {
        let prev = sample();
        let mut next = prev.clone();
        next.kms.push(KmsWrappedKey {
            uri_id: "file:///etc/vouch/key2".into(),
            wrapped_key: vec![6; 60],
        });
        check_rotation(&prev, &next).unwrap();
        // Unchanged: nothing added.
        let e = check_rotation(&prev, &prev).unwrap_err();
        assert!(
            matches!(
                e,
                Error::Invalid {
                    field: "encryption info kms",
                    ..
                }
            ),
            "{e}"
        );
        let bad = |f: &dyn Fn(&mut EncryptionInfo)| {
            let mut n = next.clone();
            f(&mut n);
            match check_rotation(&prev, &n).unwrap_err() {
                Error::Invalid { field, offset, .. } => (field, offset, encode(&n)),
                e => panic!("{e}"),
            }
        };
        let (field, offset, bytes) = bad(&|n| n.passphrase.as_mut().unwrap().salt[3] ^= 1);
        assert_eq!(field, "encryption info passphrase");
        assert_eq!(offset, find(&bytes, &[0x0a, 32, 1, 1]));
        let (field, _, _) = bad(&|n| n.passphrase.as_mut().unwrap().iterations = 700_000);
        assert_eq!(field, "encryption info passphrase");
        let (field, _, _) = bad(&|n| n.passphrase = None);
        assert_eq!(field, "encryption info passphrase");
        let (field, offset, bytes) = bad(&|n| n.kms[1].wrapped_key[0] ^= 1);
        assert_eq!(field, "encryption info kms");
        assert_eq!(offset, find(&bytes, b"file:///etc/vouch/key\x12") - 2);
        let (field, _, _) = bad(&|n| {
            n.kms.remove(0);
        });
        assert_eq!(field, "encryption info kms");
        let (field, offset, _) = bad(&|n| n.chain_id[0] ^= 1);
        assert_eq!((field, offset), ("encryption info chain_id", 2));
        let (field, offset, bytes) = bad(&|n| n.key_check[0] ^= 1);
        assert_eq!(field, "encryption info key_check");
        assert_eq!(offset, find(&bytes, &[0x2a, 32]));
    }

    #[test]
    fn uri_ids() {
        assert!(check_uri_id("aws:///alias/backup").is_ok());
        assert!(check_uri_id("file:///k").is_ok());
        assert!(check_uri_id("").is_err());
        assert!(check_uri_id("noscheme").is_err());
        assert!(check_uri_id("aws://user:pw@host/k").is_err());
        assert!(check_uri_id("aws:///k#frag").is_err());
        assert!(check_uri_id("aws:///k\n").is_err());
    }

    #[test]
    fn fuzz_entry_accepts_samples() {
        fuzz_decode(&encode(&sample()));
        fuzz_decode(&[]);
        fuzz_decode(&[0xff; 7]);
    }
}
