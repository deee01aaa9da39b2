//! Known-answer tests: PBKDF2-HMAC-SHA256 (RFC 7914 §11 and the widely used vectors of
//! RFC 6070's shape for SHA-256) and AES-256-GCM (the GCM specification's test cases 13
//! and 14), through the functions vouch's passphrase wrap uses.

use vouch_keys::passphrase::Passphrase;
use vouch_keys::passphrase::{derive_kek, open, pbkdf2_sha256, seal};

fn pbkdf2_hex(p: &[u8], s: &[u8], c: u32, len: usize) -> String {
    let mut out = vec![0u8; len];
    pbkdf2_sha256(p, s, c, &mut out);
    hex::encode(out)
}

#[test]
fn pbkdf2_hmac_sha256_rfc7914_section_11() {
    assert_eq!(
        pbkdf2_hex(b"passwd", b"salt", 1, 64),
        "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc\
         49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783"
    );
    assert_eq!(
        pbkdf2_hex(b"Password", b"NaCl", 80_000, 64),
        "4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56\
         a1d425a1225833549adb841b51c9b3176a272bdebba1d078478f62b397f33c8d"
    );
}

#[test]
fn pbkdf2_hmac_sha256_common_vectors() {
    assert_eq!(
        pbkdf2_hex(
            b"passwordPASSWORDpassword",
            b"saltSALTsaltSALTsaltSALTsaltSALTsalt",
            4096,
            40
        ),
        "348c89dbcbd32b2f32d814b8116e84cf2b17347ebc1800181c4e2a1fb8dd53e1c635518c7dac47e9"
    );
    assert_eq!(
        pbkdf2_hex(b"pass\0word", b"sa\0lt", 4096, 16),
        "89b69d0516f829893c696226650a8687"
    );
}

#[test]
fn passphrase_kek_is_pbkdf2_hmac_sha256() {
    // derive_kek (the 32-byte key-encryption key) on the same vectors.
    for (c, want) in [
        (
            1,
            "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b",
        ),
        (
            2,
            "ae4d0c95af6b46d32d0adff928f06dd02a303f8ef3c251dfd6e2d85a95474c43",
        ),
        (
            4096,
            "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a",
        ),
    ] {
        let p = Passphrase::new("password").unwrap();
        assert_eq!(hex::encode(*derive_kek(&p, b"salt", c)), want, "c = {c}");
    }
}

#[test]
fn aes_256_gcm_test_cases_13_and_14() {
    let key = [0u8; 32];
    // Test case 13: empty plaintext, no AAD.
    let sealed = seal(&key, [0u8; 12], b"", b"");
    assert_eq!(
        hex::encode(&sealed[12..]),
        "530f8afbc74536b9a963b4f1c4cb738b"
    );
    assert_eq!(open(&key, b"", &sealed).unwrap().len(), 0);
    // Test case 14: 16 zero bytes.
    let sealed = seal(&key, [0u8; 12], b"", &[0u8; 16]);
    assert_eq!(hex::encode(&sealed[..12]), "000000000000000000000000");
    assert_eq!(
        hex::encode(&sealed[12..]),
        "cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919"
    );
    assert_eq!(&open(&key, b"", &sealed).unwrap()[..], &[0u8; 16]);
    // Any flipped bit, another AAD, or a cut is refused.
    for i in 0..sealed.len() {
        let mut b = sealed.clone();
        b[i] ^= 0x01;
        assert!(open(&key, b"", &b).is_none(), "flip at {i}");
    }
    assert!(open(&key, b"x", &sealed).is_none());
    for cut in 0..sealed.len() {
        assert!(open(&key, b"", &sealed[..cut]).is_none(), "cut at {cut}");
    }
}
