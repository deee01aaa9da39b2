//! `AUTH=implicit` against the KMS test server. Alone in its test binary because it sets
//! process environment variables.

mod support;

use support::{create_key, endpoint};
use vouch_keys::kms::kms_from_uri;
use vouch_keys::{new_data_key, KeyError};

#[test]
fn implicit_auth_reads_the_environment_and_names_a_missing_variable() {
    let arn = create_key("implicit");
    let uri = format!(
        "aws:///{arn}?REGION=us-east-1&AWS_ENDPOINT={}&AUTH=implicit",
        endpoint()
    );
    let kms = kms_from_uri(&uri).unwrap();
    // The only test of this binary: the process environment is ours to set.
    std::env::remove_var("AWS_ACCESS_KEY_ID");
    std::env::remove_var("AWS_SECRET_ACCESS_KEY");
    assert_eq!(
        kms.wrap(&new_data_key()).unwrap_err(),
        KeyError::Kms {
            uri_id: format!("aws:///{arn}"),
            op: "Encrypt",
            reason: "AUTH=implicit: environment variable AWS_ACCESS_KEY_ID is not set".into()
        }
    );
    std::env::set_var("AWS_ACCESS_KEY_ID", "AKIAVOUCHENV");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "env-secret");
    let key = new_data_key();
    let w = kms.wrap(&key).unwrap();
    assert_eq!(kms.unwrap(&w).unwrap().as_bytes(), key.as_bytes());
}
