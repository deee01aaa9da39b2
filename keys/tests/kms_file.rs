//! The `file://` key-file provider, KMS URI parsing, unsupported schemes, and mixed
//! passphrase + KMS sources.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use vouch_keys::{add_kms, create_with, new_data_key, unlock, CreateOptions, KeyError, KeySource};

use vouch_keys::kms::kms_from_uri;

use vouch_keys::passphrase::Passphrase;

const CHAIN: [u8; 16] = *b"chain-file-kms-1";
const FAST: CreateOptions = CreateOptions {
    iterations: 100_000,
};

fn key_file(dir: &Path, name: &str, contents: &[u8], mode: u32) -> String {
    let p = dir.join(name);
    std::fs::write(&p, contents).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    format!("file://{}", p.display())
}

#[test]
fn raw_and_hex_key_files_wrap_and_unwrap() {
    let dir = tempfile::tempdir().unwrap();
    let raw = key_file(dir.path(), "raw", &[0x42; 32], 0o600);
    let hex = key_file(
        dir.path(),
        "hex",
        format!("{}\n", hex::encode([0x42; 32])).as_bytes(),
        0o640,
    );
    let key = new_data_key();
    let a = kms_from_uri(&raw).unwrap();
    let b = kms_from_uri(&hex).unwrap();
    assert_eq!(a.uri_id(), raw);
    let wa = a.wrap(&key).unwrap();
    assert_eq!(wa.len(), 60);
    // Same key material, different files: each unwraps the other's wrap.
    assert_eq!(b.unwrap(&wa).unwrap().as_bytes(), key.as_bytes());
    // Fresh nonce per wrap.
    assert_ne!(a.wrap(&key).unwrap(), wa);
}

#[test]
fn key_file_problems_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let open = key_file(dir.path(), "open", &[1; 32], 0o644);
    let err = kms_from_uri(&open)
        .unwrap()
        .wrap(&new_data_key())
        .unwrap_err();
    assert_eq!(
        err,
        KeyError::Kms {
            uri_id: open.clone(),
            op: "wrap",
            reason: "key file is accessible to every user (mode 0644); restrict it, e.g. chmod 600"
                .into()
        }
    );
    let short = key_file(dir.path(), "short", &[1; 31], 0o600);
    assert_eq!(
        kms_from_uri(&short)
            .unwrap()
            .wrap(&new_data_key())
            .unwrap_err(),
        KeyError::Kms {
            uri_id: short.clone(),
            op: "wrap",
            reason: "key file holds 31 bytes: expected 32 raw bytes or 64 hex digits".into()
        }
    );
    let missing = format!("file://{}/nope", dir.path().display());
    assert!(matches!(
        kms_from_uri(&missing).unwrap().wrap(&new_data_key()),
        Err(KeyError::Kms { op: "wrap", reason, .. }) if reason.starts_with("reading key file: ")
    ));
    for (uri, reason) in [
        (
            "file://host/k",
            "a key file URI has no host: write file:///absolute/path",
        ),
        ("file:///k?MODE=x", "a key file URI takes no parameters"),
        ("file://", "needs an absolute path: file:///absolute/path"),
    ] {
        assert_eq!(
            kms_from_uri(uri).unwrap_err().to_string(),
            format!("KMS URI {}: {reason}", vouch_keys::kms::uri_id_of(uri)),
            "{uri}"
        );
    }
}

#[test]
fn a_different_key_file_does_not_unlock_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let right = key_file(dir.path(), "right", &[7; 32], 0o600);
    let (_, info) = create_with(&CHAIN, &KeySource::kms([right.clone()]), FAST).unwrap();
    // Another file at the recorded path (the key was replaced): the unwrap fails by name.
    std::fs::write(dir.path().join("right"), [8; 32]).unwrap();
    let err = unlock(&info, &KeySource::kms([right.clone()])).unwrap_err();
    assert_eq!(
        err,
        KeyError::KmsNoMatch {
            tried: vec![right.clone()],
            recorded: vec![right.clone()],
            recorded_passphrase: false,
            failures: vec![(
                right.clone(),
                format!("KMS {right}: unwrap failed: the wrapped key does not authenticate under this key file (a different key, or a damaged record)")
            )],
        }
    );
    // A file that is not recorded at all.
    let other = key_file(dir.path(), "other", &[7; 32], 0o600);
    assert_eq!(
        unlock(&info, &KeySource::kms([other.clone()]))
            .unwrap_err()
            .to_string(),
        format!("none of the given KMS keys wraps this backup's data key: tried {other}; the data key is wrapped by {right}")
    );
}

#[test]
fn passphrase_and_kms_any_one_restores_and_both_failing_lists_both() {
    let dir = tempfile::tempdir().unwrap();
    let k = key_file(dir.path(), "k", &[9; 32], 0o600);
    let src = KeySource {
        passphrase: Some(Passphrase::new("pw").unwrap()),
        kms: vec![k.clone()],
    };
    let (key, info) = create_with(&CHAIN, &src, FAST).unwrap();
    let by_kms = unlock(&info, &KeySource::kms([k.clone()])).unwrap();
    let by_pass = unlock(
        &info,
        &KeySource::passphrase(Passphrase::new("pw").unwrap()),
    )
    .unwrap();
    assert_eq!(by_kms.as_bytes(), key.as_bytes());
    assert_eq!(by_pass.as_bytes(), key.as_bytes());
    // A wrong passphrase beside the right KMS still restores.
    let mixed = KeySource {
        passphrase: Some(Passphrase::new("nope").unwrap()),
        kms: vec![k.clone()],
    };
    assert_eq!(unlock(&info, &mixed).unwrap().as_bytes(), key.as_bytes());
    let other = key_file(dir.path(), "other", &[1; 32], 0o600);
    let err = unlock(
        &info,
        &KeySource {
            passphrase: Some(Passphrase::new("nope").unwrap()),
            kms: vec![other.clone()],
        },
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("no key given unlocks this backup: wrong passphrase: it does not unlock this backup's data key; none of the given KMS keys wraps this backup's data key: tried {other}; the data key is wrapped by {k} and a passphrase")
    );
    // KMS-only chain, passphrase given.
    let (_, kms_only) = create_with(&CHAIN, &KeySource::kms([k.clone()]), FAST).unwrap();
    let err = unlock(
        &kms_only,
        &KeySource::passphrase(Passphrase::new("pw").unwrap()),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("this backup's data key is not protected by a passphrase; it is wrapped by the KMS keys {k}")
    );
    let err = unlock(&kms_only, &KeySource::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("the backup is encrypted but no key was given: its data key is wrapped by the KMS keys {k}; give kms")
    );
}

#[test]
fn rotation_with_key_files() {
    let dir = tempfile::tempdir().unwrap();
    let old = key_file(dir.path(), "old", &[3; 32], 0o600);
    let new = key_file(dir.path(), "new", &[4; 32], 0o600);
    let (key, info) = create_with(&CHAIN, &KeySource::kms([old.clone()]), FAST).unwrap();
    let rotated = add_kms(
        &info,
        &KeySource::kms([old.clone()]),
        std::slice::from_ref(&new),
    )
    .unwrap();
    // The old key file is gone; the new one alone restores.
    std::fs::remove_file(dir.path().join("old")).unwrap();
    let got = unlock(&rotated, &KeySource::kms([new.clone()])).unwrap();
    assert_eq!(got.as_bytes(), key.as_bytes());
    assert!(matches!(
        add_kms(
            &info,
            &KeySource::kms([new.clone()]),
            std::slice::from_ref(&new)
        ),
        Err(KeyError::KmsNoMatch { .. })
    ));
    assert!(matches!(
        add_kms(&rotated, &KeySource::kms([new]), &[]),
        Err(KeyError::Usage(_))
    ));
}

#[test]
fn unsupported_and_malformed_kms_uris() {
    for (uri, scheme) in [
        (
            "gs:///projects/p/locations/l/keyRings/r/cryptoKeys/k?AUTH=implicit",
            "gs",
        ),
        ("azure-kms:///key/version?AZURE_TENANT_ID=t", "azure-kms"),
        ("gcp-kms:///k", "gcp-kms"),
        ("hashicorp://vault/k", "hashicorp"),
    ] {
        let err = kms_from_uri(uri).unwrap_err();
        assert_eq!(
            err,
            KeyError::UnsupportedKms {
                scheme: scheme.into()
            }
        );
        assert_eq!(err.to_string(), format!("not supported yet: {scheme} KMS"));
    }
    for (uri, reason) in [
        ("not a uri", "not a URI (expected scheme://…)"),
        ("aws:///k", "REGION is required"),
        ("aws://k?REGION=r", "put the key in the path: aws:///<key-id-or-arn>?REGION=…"),
        ("aws:///?REGION=r", "no key id: aws:///<key-id-or-arn>?REGION=…"),
        ("aws:///k?REGION=r&REGION=s", "parameter REGION given twice"),
        ("aws:///k?REGION=r&COLOR=blue", "unknown parameter COLOR (known: REGION, AWS_ENDPOINT, AUTH, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN)"),
        ("aws:///k?REGION=r&AUTH=specified&AWS_ACCESS_KEY_ID=a", "AUTH=specified needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"),
        ("aws:///k?REGION=r&AUTH=magic", "AUTH=magic is not supported (implicit or specified)"),
        ("aws:///k?REGION=r&AWS_ENDPOINT=ftp://h", "AWS_ENDPOINT scheme \"ftp\" is not http or https"),
        ("aws:///k?REGION=r&AWS_SECRET_ACCESS_KEY=%zz", "parameter AWS_SECRET_ACCESS_KEY: bad percent escape at byte 0"),
    ] {
        let err = kms_from_uri(uri).unwrap_err();
        assert!(matches!(err, KeyError::BadKmsUri { .. }), "{uri}: {err:?}");
        assert_eq!(
            err.to_string(),
            format!("KMS URI {}: {reason}", vouch_keys::kms::uri_id_of(uri)),
            "{uri}"
        );
    }
    // aws-kms:// is an alias of aws://, recorded under aws:///.
    assert_eq!(
        kms_from_uri("aws-kms:///alias/b?REGION=us-east-1")
            .unwrap()
            .uri_id(),
        "aws:///alias/b"
    );
}
