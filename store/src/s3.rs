//! `s3://bucket/path?…` with CockroachDB's parameters, opened as an
//! [`ObjectStoreStore`] over `object_store`'s Amazon S3 client.
//!
//! | parameter | meaning |
//! |---|---|
//! | `AUTH` | `specified` (the default): the key pair in the URI; `implicit`: the environment's credentials (`AWS_*` variables, web identity, container or instance metadata) |
//! | `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` | the key pair (both required with `AUTH=specified`, refused with `AUTH=implicit`) |
//! | `AWS_SESSION_TOKEN` | a temporary credential's token (with the key pair) |
//! | `AWS_REGION` | the bucket's region (default `us-east-1`) |
//! | `AWS_ENDPOINT` | an S3-compatible service (`http://127.0.0.1:9000`); requests are path-style there |
//! | `AWS_USE_PATH_STYLE` | `true` / `false`: overrides the addressing style |
//! | `S3_STORAGE_CLASS` | the storage class of every new object (`STANDARD_IA`, …) |
//! | `COCKROACH_LOCALITY` | read by the caller (locality-aware backups), not here |

use std::sync::Arc;

use object_store::aws::AmazonS3Builder;
use object_store::ObjectStore;

use crate::object::{
    check_parameters, endpoint_scheme, install_tls_provider, ObjectStoreStore, SharedClient,
};
use crate::{redact_uri, Error, Result, StorageUri};

/// Every parameter an `s3://` URI may carry.
const KNOWN: &[&str] = &[
    "AUTH",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_ENDPOINT",
    "AWS_USE_PATH_STYLE",
    "S3_STORAGE_CLASS",
    "COCKROACH_LOCALITY",
];

/// CockroachDB's S3 parameters vouch does not implement yet.
const NOT_YET: &[&str] = &[
    "ASSUME_ROLE",
    "AWS_SERVER_ENC_MODE",
    "AWS_SERVER_KMS_ID",
    "AWS_SKIP_CHECKSUM",
    "AWS_SKIP_TLS_VERIFY",
];

/// The region when the URI names none.
const DEFAULT_REGION: &str = "us-east-1";

/// Opens `s3://bucket/path?…` (the URI checked: bucket, parameters, credentials).
pub(crate) fn open(loc: StorageUri) -> Result<ObjectStoreStore> {
    let bad = |reason: String| Error::BadUri {
        uri: redact_uri(&loc.uri),
        reason,
    };
    if loc.host.is_empty() {
        return Err(bad("missing bucket: write s3://<bucket>/<path>".into()));
    }
    check_parameters(&loc, "S3", KNOWN, NOT_YET)?;
    let param = |k: &str| loc.query.get(k).filter(|v| !v.is_empty());
    let key_id = param("AWS_ACCESS_KEY_ID");
    let secret = param("AWS_SECRET_ACCESS_KEY");
    let token = param("AWS_SESSION_TOKEN");
    let mut builder = match param("AUTH").map(String::as_str) {
        None | Some("specified") => {
            let (Some(key_id), Some(secret)) = (key_id, secret) else {
                return Err(bad(
                    "AUTH=specified (the default) needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; \
                     or use AUTH=implicit for the environment's credentials"
                        .into(),
                ));
            };
            let mut b = AmazonS3Builder::new()
                .with_access_key_id(key_id)
                .with_secret_access_key(secret);
            if let Some(t) = token {
                b = b.with_token(t);
            }
            b
        }
        Some("implicit") => {
            if key_id.is_some() || secret.is_some() || token.is_some() {
                return Err(bad(
                    "AUTH=implicit takes the environment's credentials: remove AWS_ACCESS_KEY_ID, \
                     AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, or use AUTH=specified"
                        .into(),
                ));
            }
            AmazonS3Builder::from_env()
        }
        Some(other) => {
            return Err(bad(format!(
                "AUTH={other:?}: expected specified or implicit"
            )))
        }
    };
    let region = param("AWS_REGION").map_or(DEFAULT_REGION, String::as_str);
    builder = builder.with_bucket_name(&loc.host).with_region(region);
    // Every upload carries the SHA-256 of its bytes (`x-amz-checksum-sha256`: S3 refuses
    // a body that does not match it) and says so (`x-amz-sdk-checksum-algorithm`): a bucket
    // with S3 Object Lock default retention refuses uploads without a checksum. The
    // header is a client default header, which `object_store` adds to its uploads and
    // reads before signing them; the connector keeps it off every other request (see
    // `SharedClient::without_default_headers`), since S3 refuses an `x-amz-*` header the
    // signature does not cover.
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        "x-amz-sdk-checksum-algorithm",
        reqwest::header::HeaderValue::from_static("SHA256"),
    );
    builder = builder
        .with_checksum_algorithm(object_store::aws::Checksum::SHA256)
        .with_client_options(object_store::ClientOptions::new().with_default_headers(headers))
        .with_http_connector(SharedClient::without_default_headers());
    let path_style = match param("AWS_USE_PATH_STYLE").map(String::as_str) {
        None => None,
        Some(v) if v.eq_ignore_ascii_case("true") => Some(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Some(false),
        Some(v) => {
            return Err(bad(format!(
                "AWS_USE_PATH_STYLE={v:?}: expected true or false"
            )))
        }
    };
    if let Some(endpoint) = param("AWS_ENDPOINT") {
        let endpoint = endpoint.trim_end_matches('/');
        let bad_endpoint = || {
            bad(format!(
                "AWS_ENDPOINT={endpoint:?}: expected http(s)://host[:port]"
            ))
        };
        let scheme = endpoint_scheme(endpoint).ok_or_else(bad_endpoint)?;
        let host = endpoint
            .split_once("://")
            .map(|(_, h)| h)
            .ok_or_else(bad_endpoint)?;
        builder = builder.with_allow_http(scheme == "http");
        // S3-compatible services are mostly addressed path-style; virtual-hosted
        // addressing puts the bucket in front of the endpoint's host.
        builder = if path_style.unwrap_or(true) {
            builder.with_endpoint(endpoint)
        } else {
            builder
                .with_endpoint(format!("{scheme}://{}.{host}", loc.host))
                .with_virtual_hosted_style_request(true)
        };
    } else {
        // Amazon S3 itself: virtual-hosted unless asked otherwise.
        builder = builder.with_virtual_hosted_style_request(!path_style.unwrap_or(false));
    }
    install_tls_provider();
    let s3 = builder.build().map_err(|e| bad(e.to_string()))?;
    let inner: Arc<dyn ObjectStore> = Arc::new(s3);
    let class = param("S3_STORAGE_CLASS").cloned();
    let prefix = loc.path.clone();
    Ok(ObjectStoreStore::new(inner, &prefix, loc, class))
}
