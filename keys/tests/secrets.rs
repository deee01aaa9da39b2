//! Secrets never appear in `Debug` or `Display` of any type or error: passphrases, data
//! keys, key-encryption keys, KMS credentials in URIs.

use vouch_keys::kms::kms_from_uri;
use vouch_keys::kms::KmsUri;
use vouch_keys::passphrase::Passphrase;
use vouch_keys::{create_with, unlock, CreateOptions, KeyError, KeySource};

const CHAIN: [u8; 16] = *b"chain-secrets-01";
const PASS: &str = "PASSPHRASE-SECRET-7f3a";
const AWS_SECRET: &str = "AWS-SECRET-9c1e";
const TOKEN: &str = "SESSION-TOKEN-5d2b";

fn assert_clean(what: &str, text: &str, secrets: &[&[u8]]) {
    for s in secrets {
        let s_text = String::from_utf8_lossy(s);
        assert!(!text.contains(&*s_text), "{what} shows a secret: {text}");
        let hex = hex::encode(s);
        assert!(!text.contains(&hex), "{what} shows a secret in hex: {text}");
    }
}

fn aws_uri() -> String {
    format!("aws:///alias/k?REGION=us-east-1&AWS_ENDPOINT=http://127.0.0.1:1&AUTH=specified&AWS_ACCESS_KEY_ID=AKIA&AWS_SECRET_ACCESS_KEY={AWS_SECRET}&AWS_SESSION_TOKEN={TOKEN}")
}

#[test]
fn no_type_or_error_shows_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let kf = dir.path().join("k");
    std::fs::write(&kf, [0x5c; 32]).unwrap();
    std::fs::set_permissions(&kf, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let file_uri = format!("file://{}", kf.display());
    let src = KeySource {
        passphrase: Some(Passphrase::new(PASS).unwrap()),
        kms: vec![file_uri.clone()],
    };
    let (key, info) = create_with(
        &CHAIN,
        &src,
        CreateOptions {
            iterations: 100_000,
        },
    )
    .unwrap();
    let key_bytes = key.as_bytes().to_vec();
    let secrets: Vec<&[u8]> = vec![
        PASS.as_bytes(),
        AWS_SECRET.as_bytes(),
        TOKEN.as_bytes(),
        &key_bytes,
        &[0x5c; 32],
    ];

    let mut shown = vec![
        ("Passphrase", format!("{:?}", src.passphrase)),
        ("KeySource", format!("{src:?}")),
        ("DataKey", format!("{key:?}")),
        ("EncryptionInfo", format!("{info:?}")),
        (
            "KeySource with aws",
            format!("{:?}", KeySource::kms([aws_uri()])),
        ),
        (
            "KmsUri",
            format!("{:?}", KmsUri::parse(&aws_uri()).unwrap()),
        ),
        ("AwsKms", format!("{:?}", kms_from_uri(&aws_uri()).unwrap())),
        ("FileKms", format!("{:?}", kms_from_uri(&file_uri).unwrap())),
        ("describe", KeySource::kms([aws_uri()]).describe()),
    ];
    assert!(shown[0].1.contains("<redacted>"));
    assert!(shown[2].1.contains("<redacted>"));

    // Errors, with secrets in what was given.
    let mut errors: Vec<KeyError> = vec![
        unlock(
            &info,
            &KeySource::passphrase(Passphrase::new("PASSPHRASE-SECRET-wrong").unwrap()),
        )
        .unwrap_err(),
        unlock(&info, &KeySource::kms([aws_uri()])).unwrap_err(),
        kms_from_uri(&aws_uri()).unwrap().wrap(&key).unwrap_err(),
        kms_from_uri(&format!("{}&COLOR={AWS_SECRET}", aws_uri())).unwrap_err(),
        kms_from_uri(&format!(
            "aws:///k?REGION=r&AWS_SECRET_ACCESS_KEY={AWS_SECRET}%zz"
        ))
        .unwrap_err(),
        kms_from_uri(&format!("gs:///k?CREDENTIALS={AWS_SECRET}")).unwrap_err(),
        kms_from_uri(&format!("aws://AKIA:{AWS_SECRET}@host/k?REGION=r")).unwrap_err(),
        vouch_keys::check_not_encrypted(&KeySource {
            passphrase: Some(Passphrase::new(PASS).unwrap()),
            kms: vec![aws_uri()],
        })
        .unwrap_err(),
        unlock(
            &info,
            &KeySource {
                passphrase: Some(Passphrase::new("nope").unwrap()),
                kms: vec![aws_uri()],
            },
        )
        .unwrap_err(),
        Passphrase::from_arg_env_or_file(Some(PASS), Some("X"), None).unwrap_err(),
    ];
    // A damaged record that still decodes.
    let mut damaged = info.clone();
    damaged.key_check[0] ^= 1;
    errors.push(unlock(&damaged, &src).unwrap_err());
    for e in &errors {
        shown.push(("error Display", e.to_string()));
        shown.push(("error Debug", format!("{e:?}")));
    }
    for (what, text) in &shown {
        assert_clean(what, text, &secrets);
    }
    // The unwrapped key and the error for the wrong passphrase say which cause it was.
    assert_eq!(errors[0], KeyError::WrongPassphrase);
}
