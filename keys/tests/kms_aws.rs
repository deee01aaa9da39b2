//! The AWS KMS provider against a real KMS API server (moto, started by the test; see
//! `support`): keys created with CreateKey, data keys wrapped with Encrypt and unwrapped
//! with Decrypt, SigV4-signed.

mod support;

use support::{aws_uri, create_key, SECRET, SECRET_IN_URI};
use vouch_keys::kms::kms_from_uri;
use vouch_keys::passphrase::Passphrase;
use vouch_keys::{add_kms, create_with, new_data_key, unlock, CreateOptions, KeyError, KeySource};

const CHAIN: [u8; 16] = *b"chain-kms-aws-01";

fn opts() -> CreateOptions {
    CreateOptions {
        iterations: 100_000,
    }
}

#[test]
fn wrap_and_unwrap_round_trip_through_encrypt_and_decrypt() {
    let arn = create_key("round trip");
    let kms = kms_from_uri(&aws_uri(&arn)).unwrap();
    assert_eq!(kms.uri_id(), format!("aws:///{arn}"));
    let key = new_data_key();
    let wrapped = kms.wrap(&key).unwrap();
    assert!(!wrapped.windows(32).any(|w| w == key.as_bytes()));
    assert_eq!(kms.unwrap(&wrapped).unwrap().as_bytes(), key.as_bytes());
    // A damaged ciphertext blob is refused by the KMS, with its error named.
    let mut bad = wrapped.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    match kms.unwrap(&bad) {
        Err(KeyError::Kms { uri_id, op, reason }) => {
            assert_eq!(uri_id, format!("aws:///{arn}"));
            assert_eq!(op, "Decrypt");
            assert!(reason.starts_with("HTTP 400 "), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn two_keys_either_one_alone_unlocks() {
    let a = create_key("A");
    let b = create_key("B");
    let src = KeySource::kms([aws_uri(&a), aws_uri(&b)]);
    let (key, info) = create_with(&CHAIN, &src, opts()).unwrap();
    assert_eq!(
        info.kms
            .iter()
            .map(|k| k.uri_id.clone())
            .collect::<Vec<_>>(),
        vec![format!("aws:///{a}"), format!("aws:///{b}")]
    );
    assert!(info.passphrase.is_none());
    for one in [&a, &b] {
        let got = unlock(&info, &KeySource::kms([aws_uri(one)])).unwrap();
        assert_eq!(got.as_bytes(), key.as_bytes(), "unlock with {one}");
    }
    // The record holds no credentials.
    let bytes = vouch_format::encryption_info::encode(&info);
    for secret in [
        SECRET.as_bytes(),
        SECRET_IN_URI.as_bytes(),
        b"AKIAVOUCHTEST",
    ] {
        assert!(!bytes.windows(secret.len()).any(|w| w == secret));
    }
}

#[test]
fn an_unknown_key_is_named_with_the_recorded_ones() {
    let a = create_key("recorded");
    let other = create_key("not recorded");
    let (_, info) = create_with(&CHAIN, &KeySource::kms([aws_uri(&a)]), opts()).unwrap();
    let err = unlock(&info, &KeySource::kms([aws_uri(&other)])).unwrap_err();
    assert_eq!(
        err,
        KeyError::KmsNoMatch {
            tried: vec![format!("aws:///{other}")],
            recorded: vec![format!("aws:///{a}")],
            recorded_passphrase: false,
            failures: vec![],
        }
    );
    assert_eq!(
        err.to_string(),
        format!(
            "none of the given KMS keys wraps this backup's data key: tried aws:///{other}; \
             the data key is wrapped by aws:///{a}"
        )
    );
}

#[test]
fn a_key_id_that_does_not_exist_fails_at_backup_time_with_the_kms_error() {
    let uri =
        aws_uri("arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000");
    match create_with(&CHAIN, &KeySource::kms([uri]), opts()) {
        Err(KeyError::Kms { op, reason, .. }) => {
            assert_eq!(op, "Encrypt");
            assert!(reason.contains("NotFoundException"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn rotation_add_kms_then_unlock_with_only_the_new_key() {
    let old = create_key("old");
    let new = create_key("new");
    let src = KeySource {
        passphrase: Some(Passphrase::new("rotate me").unwrap()),
        kms: vec![aws_uri(&old)],
    };
    let (key, info) = create_with(&CHAIN, &src, opts()).unwrap();
    let before = vouch_format::encryption_info::encode(&info);
    let rotated = add_kms(&info, &KeySource::kms([aws_uri(&old)]), &[aws_uri(&new)]).unwrap();
    // The old record is untouched; the new one keeps every old wrap and appends one.
    assert_eq!(vouch_format::encryption_info::encode(&info), before);
    assert_eq!(rotated.passphrase, info.passphrase);
    assert_eq!(rotated.kms[0], info.kms[0]);
    assert_eq!(rotated.kms.len(), 2);
    assert_eq!(rotated.kms[1].uri_id, format!("aws:///{new}"));
    assert_eq!(rotated.key_check, info.key_check);
    let bytes = vouch_format::encryption_info::encode(&rotated);
    let decoded = vouch_keys::decode_info("ENCRYPTION-INFO-1", &bytes).unwrap();
    let got = unlock(&decoded, &KeySource::kms([aws_uri(&new)])).unwrap();
    assert_eq!(got.as_bytes(), key.as_bytes());
    // The new key is not in the old record.
    assert!(matches!(
        unlock(&info, &KeySource::kms([aws_uri(&new)])),
        Err(KeyError::KmsNoMatch { .. })
    ));
    // Adding it again is refused by name.
    assert_eq!(
        add_kms(&rotated, &KeySource::kms([aws_uri(&new)]), &[aws_uri(&new)]).unwrap_err(),
        KeyError::KmsAlreadyRecorded {
            uri_id: format!("aws:///{new}")
        }
    );
    // WITH OLD_KMS that is not recorded: the unlock error.
    let stranger = create_key("stranger");
    assert!(matches!(
        add_kms(
            &info,
            &KeySource::kms([aws_uri(&stranger)]),
            &[aws_uri(&new)]
        ),
        Err(KeyError::KmsNoMatch { .. })
    ));
}

#[test]
fn an_unreachable_endpoint_is_a_named_kms_error() {
    let uri = "aws:///k?REGION=us-east-1&AWS_ENDPOINT=http://127.0.0.1:1&AWS_ACCESS_KEY_ID=a&AWS_SECRET_ACCESS_KEY=topsecret";
    let err = kms_from_uri(uri)
        .unwrap()
        .wrap(&new_data_key())
        .unwrap_err();
    match &err {
        KeyError::Kms { uri_id, op, reason } => {
            assert_eq!(uri_id, "aws:///k");
            assert_eq!(*op, "Encrypt");
            assert!(
                reason.starts_with("request to http://127.0.0.1:1: "),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(!format!("{err} {err:?}").contains("topsecret"));
}
