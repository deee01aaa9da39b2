//! Passphrase-wrapped chains: round trip, wrong passphrase, records bound to their chain,
//! damaged records, iteration bounds on decode, and passphrases from a value, an
//! environment variable or a file.

use std::path::Path;

use vouch_format::encryption_info::{encode, DEFAULT_ITERATIONS, PASSPHRASE_WRAP_LEN};
use vouch_format::Error;
use vouch_keys::passphrase::Passphrase;
use vouch_keys::{
    check_not_encrypted, create, create_with, decode_info, key_check, unlock, CreateOptions,
    KeyError, KeySource,
};

const CHAIN: [u8; 16] = *b"chain-passphrase";
/// The smallest count a record may carry: keeps debug-build tests fast.
const FAST: CreateOptions = CreateOptions {
    iterations: 100_000,
};

fn pass(s: &str) -> KeySource {
    KeySource::passphrase(Passphrase::new(s).unwrap())
}

#[test]
fn round_trip_and_wrong_passphrase() {
    let (key, info) = create_with(&CHAIN, &pass("correct horse"), FAST).unwrap();
    let p = info.passphrase.as_ref().unwrap();
    assert_eq!(p.iterations, 100_000);
    assert_eq!(p.salt.len(), 32);
    assert_eq!(p.wrapped_key.len(), PASSPHRASE_WRAP_LEN);
    assert_eq!(info.key_check, key_check(&key, &CHAIN));
    assert_eq!(info.chain_id, CHAIN);
    // Through the stored bytes.
    let stored = decode_info("ENCRYPTION-INFO", &encode(&info)).unwrap();
    let got = unlock(&stored, &pass("correct horse")).unwrap();
    assert_eq!(got.as_bytes(), key.as_bytes());

    let err = unlock(&stored, &pass("correct horse ")).unwrap_err();
    assert_eq!(err, KeyError::WrongPassphrase);
    assert_eq!(
        err.to_string(),
        "wrong passphrase: it does not unlock this backup's data key"
    );
}

#[test]
fn default_iterations_salt_and_key_are_fresh_per_chain() {
    // Default count, checked on the record only (one derivation at 600,000 is the cost of
    // this test).
    let (k1, i1) = create(&CHAIN, &pass("same")).unwrap();
    assert_eq!(
        i1.passphrase.as_ref().unwrap().iterations,
        DEFAULT_ITERATIONS
    );
    let (k2, i2) = create_with(&CHAIN, &pass("same"), FAST).unwrap();
    assert_ne!(k1.as_bytes(), k2.as_bytes());
    assert_ne!(
        i1.passphrase.as_ref().unwrap().salt,
        i2.passphrase.as_ref().unwrap().salt
    );
}

#[test]
fn a_record_moved_to_another_chain_does_not_unlock() {
    let (_, mut info) = create_with(&CHAIN, &pass("pw"), FAST).unwrap();
    info.chain_id = b"another-chain-id".to_vec();
    // The chain id is in the wrap's associated data: the passphrase no longer opens it.
    assert_eq!(
        unlock(&info, &pass("pw")).unwrap_err(),
        KeyError::WrongPassphrase
    );
}

#[test]
fn an_altered_key_check_is_named() {
    let (_, mut info) = create_with(&CHAIN, &pass("pw"), FAST).unwrap();
    info.key_check[0] ^= 1;
    let err = unlock(&info, &pass("pw")).unwrap_err();
    assert_eq!(
        err,
        KeyError::KeyCheckMismatch {
            by: "passphrase".into()
        }
    );
    assert_eq!(
        err.to_string(),
        "ENCRYPTION-INFO key_check does not match the key unwrapped by passphrase: the record is damaged or was altered"
    );
}

#[test]
fn iteration_counts_out_of_bounds_are_refused_on_decode() {
    let (_, info) = create_with(&CHAIN, &pass("pw"), FAST).unwrap();
    for (n, reason) in [
        (
            99_999u32,
            "iteration count 99999 is below the minimum of 100000",
        ),
        (1, "iteration count 1 is below the minimum of 100000"),
    ] {
        let mut bad = info.clone();
        bad.passphrase.as_mut().unwrap().iterations = n;
        let bytes = encode(&bad);
        // chain_id field (18 bytes), passphrase key + length (2), salt field (34).
        let offset = 2 + 18 + 2 + 34;
        assert_eq!(bytes[offset as usize], 0x10, "iterations key byte");
        let err = decode_info("ENCRYPTION-INFO-2", &bytes).unwrap_err();
        assert_eq!(
            err,
            KeyError::Damaged {
                file: "ENCRYPTION-INFO-2".into(),
                error: Error::Invalid {
                    field: "encryption info passphrase.iterations",
                    offset,
                    reason: reason.into()
                }
            }
        );
        assert_eq!(
            err.to_string(),
            format!("ENCRYPTION-INFO-2 is damaged: invalid encryption info passphrase.iterations at offset {offset}: {reason}")
        );
        // unlock validates records built in memory too, before any derivation.
        assert!(matches!(
            unlock(&bad, &pass("pw")),
            Err(KeyError::Damaged { .. })
        ));
    }
    // Above the maximum: a cost refused (never derived), not damage.
    for n in [2_000_001u32, 10_000_000, u32::MAX] {
        let mut bad = info.clone();
        bad.passphrase.as_mut().unwrap().iterations = n;
        let offset = 2 + 18 + 2 + 34;
        let err = decode_info("ENCRYPTION-INFO-2", &encode(&bad)).unwrap_err();
        assert_eq!(
            err,
            KeyError::Damaged {
                file: "ENCRYPTION-INFO-2".into(),
                error: Error::KdfCost {
                    field: "encryption info passphrase.iterations",
                    offset,
                    value: u64::from(n),
                    limit: 2_000_000,
                }
            }
        );
        let p = Passphrase::new("pw").unwrap();
        let keys = KeySource::passphrase(p.clone());
        assert!(matches!(
            unlock(&bad, &keys),
            Err(KeyError::Damaged {
                error: Error::KdfCost { .. },
                ..
            })
        ));
        assert_eq!(p.derivations(), 0);
    }
    assert!(matches!(
        create_with(&CHAIN, &pass("pw"), CreateOptions { iterations: 99_999 }),
        Err(KeyError::Usage(_))
    ));
}

#[test]
fn truncated_or_flipped_records_are_damaged_or_do_not_unlock() {
    let (key, info) = create_with(&CHAIN, &pass("pw"), FAST).unwrap();
    let bytes = encode(&info);
    for cut in 0..bytes.len() {
        assert!(
            matches!(
                decode_info("E", &bytes[..cut]),
                Err(KeyError::Damaged { .. })
            ),
            "cut at {cut}"
        );
    }
    // Flips inside the salt, the wrap and the key check decode (they are opaque bytes)
    // but must never unlock to a key: spot-check one byte of each.
    let p = info.passphrase.as_ref().unwrap();
    for needle in [&p.salt[..], &p.wrapped_key[..], &info.key_check[..]] {
        let at = bytes
            .windows(needle.len())
            .position(|w| w == needle)
            .unwrap();
        let mut b = bytes.clone();
        b[at + 5] ^= 0x20;
        let bad = decode_info("E", &b).unwrap();
        match unlock(&bad, &pass("pw")) {
            Err(KeyError::WrongPassphrase) | Err(KeyError::KeyCheckMismatch { .. }) => {}
            Ok(k) => panic!(
                "flipped record unlocked (same key: {})",
                k.as_bytes() == key.as_bytes()
            ),
            Err(e) => panic!("{e}"),
        }
    }
}

#[test]
fn missing_key_and_key_for_an_unencrypted_backup_are_named() {
    let (_, info) = create_with(&CHAIN, &pass("pw"), FAST).unwrap();
    let err = unlock(&info, &KeySource::default()).unwrap_err();
    assert_eq!(
        err,
        KeyError::EncryptedButNoKey {
            passphrase: true,
            kms: vec![]
        }
    );
    assert_eq!(
        err.to_string(),
        "the backup is encrypted but no key was given: its data key is wrapped by a passphrase; give encryption_passphrase"
    );
    assert_eq!(check_not_encrypted(&KeySource::default()), Ok(()));
    let err = check_not_encrypted(&KeySource {
        passphrase: Some(Passphrase::new("pw").unwrap()),
        kms: vec!["file:///k?x=1".into()],
    })
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "an encryption key was given (passphrase, kms file:///k) but the backup is not encrypted"
    );
    assert!(matches!(
        create_with(&CHAIN, &KeySource::default(), FAST),
        Err(KeyError::Usage(_))
    ));
}

#[test]
fn passphrase_from_value_env_or_file() {
    assert!(Passphrase::from_arg_env_or_file(None, None, None)
        .unwrap()
        .is_none());
    let v = Passphrase::from_arg_env_or_file(Some("from arg"), None, None)
        .unwrap()
        .unwrap();
    assert_eq!(v.as_bytes(), b"from arg");

    std::env::set_var("VOUCH_TEST_PASSPHRASE_SET", "from env");
    let e = Passphrase::from_arg_env_or_file(None, Some("VOUCH_TEST_PASSPHRASE_SET"), None)
        .unwrap()
        .unwrap();
    assert_eq!(e.as_bytes(), b"from env");
    assert_eq!(
        Passphrase::from_arg_env_or_file(None, Some("VOUCH_TEST_PASSPHRASE_UNSET"), None)
            .unwrap_err()
            .to_string(),
        "passphrase: environment variable VOUCH_TEST_PASSPHRASE_UNSET is not set"
    );

    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("pw");
    std::fs::write(&f, "from file\n").unwrap();
    let got = Passphrase::from_arg_env_or_file(None, None, Some(&f))
        .unwrap()
        .unwrap();
    assert_eq!(got.as_bytes(), b"from file");
    std::fs::write(&f, "two\nlines\r\n").unwrap();
    let got = Passphrase::from_arg_env_or_file(None, None, Some(&f))
        .unwrap()
        .unwrap();
    assert_eq!(got.as_bytes(), b"two\nlines");
    std::fs::write(&f, "\n").unwrap();
    assert_eq!(
        Passphrase::from_arg_env_or_file(None, None, Some(&f))
            .unwrap_err()
            .to_string(),
        format!("passphrase: {} is empty", f.display())
    );
    std::fs::write(&f, [0xff, 0xfe]).unwrap();
    assert_eq!(
        Passphrase::from_arg_env_or_file(None, None, Some(&f))
            .unwrap_err()
            .to_string(),
        format!("passphrase: {} is not valid UTF-8 (at byte 0)", f.display())
    );
    let missing = Path::new("/nonexistent/vouch/pw");
    assert!(Passphrase::from_arg_env_or_file(None, None, Some(missing))
        .unwrap_err()
        .to_string()
        .starts_with("passphrase: reading /nonexistent/vouch/pw: "));
    assert!(matches!(
        Passphrase::from_arg_env_or_file(Some("a"), None, Some(&f)),
        Err(KeyError::Usage(_))
    ));
    assert!(matches!(
        Passphrase::new(""),
        Err(KeyError::BadPassphrase(_))
    ));
}
