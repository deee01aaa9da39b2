//! `gs://bucket/path?…` with CockroachDB's parameters, opened as an [`ObjectStoreStore`]:
//! reads (whole, ranged), sizes and listings through `object_store`'s Google Cloud Storage
//! client (XML API), new objects through Google's own client (`google-cloud-storage`, JSON
//! API), both with the same credentials.
//!
//! | parameter | meaning |
//! |---|---|
//! | `AUTH` | `specified` (the default): the key in `CREDENTIALS`; `implicit`: the environment's application-default credentials (`GOOGLE_APPLICATION_CREDENTIALS`, gcloud's `application_default_credentials.json`, else the instance metadata server), and `object_store`'s `GOOGLE_*` variables (`GOOGLE_SKIP_SIGNATURE=true`: unsigned requests, for public buckets and emulators) |
//! | `CREDENTIALS` | base64 (standard alphabet) of a service account's JSON key; required with `AUTH=specified`, refused with `AUTH=implicit` |
//! | `GS_ENDPOINT` | another endpoint than `https://storage.googleapis.com`: an emulator (`http://127.0.0.1:4443`) or a private endpoint |
//! | `COCKROACH_LOCALITY` | read by the caller (locality-aware backups), not here |
//!
//! Write-once: every new object is one JSON API multipart upload with
//! `ifGenerationMatch=0` (never a resumable one, whatever its size), which GCS refuses
//! with `412 Precondition Failed` when the name exists ([`crate::Error::AlreadyExists`]);
//! the object's CRC32C goes with it, so the service checks what it stored.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use base64::Engine as _;
use google_cloud_auth::credentials::{CacheableResource, Credentials, EntityTag};
use google_cloud_auth::errors::CredentialsError;
use google_cloud_gax::retry_policy::RetryPolicyExt as _;
use google_cloud_storage::client::Storage;
use google_cloud_storage::retry_policy::RetryableErrors;
use object_store::gcp::{GcpCredentialProvider, GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::{ClientOptions, ObjectStore};

use crate::object::{
    check_parameters, endpoint_scheme, install_tls_provider, ObjectStoreStore, SharedClient,
};
use crate::{redact_uri, Error, Result, StorageUri};

/// Every parameter a `gs://` URI may carry.
const KNOWN: &[&str] = &["AUTH", "CREDENTIALS", "GS_ENDPOINT", "COCKROACH_LOCALITY"];

/// CockroachDB's GCS parameters vouch does not implement yet.
const NOT_YET: &[&str] = &["ASSUME_ROLE", "BEARER_TOKEN"];

/// Google's endpoint, when `GS_ENDPOINT` names none.
const DEFAULT_ENDPOINT: &str = "https://storage.googleapis.com";

/// The string fields of a service account key the client needs.
const KEY_FIELDS: &[&str] = &["client_email", "private_key", "private_key_id"];

/// Key types Google issues that are not service account keys (named in errors; any other
/// `type` is not quoted, since the key is a secret).
const OTHER_KEY_TYPES: &[&str] = &[
    "authorized_user",
    "external_account",
    "impersonated_service_account",
    "external_account_authorized_user",
];

/// Opens `gs://bucket/path?…` (the URI checked: bucket, parameters, credentials).
pub(crate) fn open(loc: StorageUri) -> Result<ObjectStoreStore> {
    let bad = |reason: String| Error::BadUri {
        uri: redact_uri(&loc.uri),
        reason,
    };
    if loc.host.is_empty() {
        return Err(bad("missing bucket: write gs://<bucket>/<path>".into()));
    }
    check_parameters(&loc, "GCS", KNOWN, NOT_YET)?;
    let param = |k: &str| loc.query.get(k).filter(|v| !v.is_empty());
    let credentials = param("CREDENTIALS");
    let (builder, specified) = match param("AUTH").map(String::as_str) {
        None | Some("specified") => {
            let Some(credentials) = credentials else {
                return Err(bad(
                    "AUTH=specified (the default) needs CREDENTIALS (base64 of a service account's \
                     JSON key); or use AUTH=implicit for the environment's credentials"
                        .into(),
                ));
            };
            let key = service_account_key(credentials).map_err(|r| bad(r.into()))?;
            (
                GoogleCloudStorageBuilder::new().with_service_account_key(key),
                true,
            )
        }
        Some("implicit") => {
            if credentials.is_some() {
                return Err(bad(
                    "AUTH=implicit takes the environment's credentials: remove CREDENTIALS, or \
                     use AUTH=specified"
                        .into(),
                ));
            }
            (GoogleCloudStorageBuilder::from_env(), false)
        }
        Some(other) => {
            return Err(bad(format!(
                "AUTH={other:?}: expected specified or implicit"
            )))
        }
    };
    let (endpoint, allow_http) = match param("GS_ENDPOINT") {
        Some(endpoint) => {
            let endpoint = endpoint.trim_end_matches('/');
            let scheme = endpoint_scheme(endpoint).ok_or_else(|| {
                bad(format!(
                    "GS_ENDPOINT={endpoint:?}: expected http(s)://host[:port][/path]"
                ))
            })?;
            (endpoint, scheme == "http")
        }
        None => (DEFAULT_ENDPOINT, false),
    };
    // The endpoint is always set here, so a `gcs_base_url` inside a key never redirects
    // requests: the URI says where they go.
    let skip_signature = builder
        .get_config_value(&GoogleConfigKey::SkipSignature)
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let builder = builder
        .with_bucket_name(&loc.host)
        .with_base_url(endpoint)
        .with_client_options(ClientOptions::new().with_allow_http(allow_http))
        .with_http_connector(SharedClient::default());
    install_tls_provider();
    // The client's messages may quote what it could not use (a key's fields, the
    // environment's credentials file), so they are not shown.
    let gcs = builder.build().map_err(|_| {
        bad(if specified {
            "the GCS client refused the service account key in CREDENTIALS (its private_key \
             must be an RSA private key in PEM form)"
                .into()
        } else {
            "AUTH=implicit: the environment's Google credentials could not be used \
             (GOOGLE_APPLICATION_CREDENTIALS, GOOGLE_SERVICE_ACCOUNT_KEY or gcloud's \
             application_default_credentials.json)"
                .into()
        })
    })?;
    let writer = GcsWriter {
        bucket: format!("projects/_/buckets/{}", loc.host),
        endpoint: endpoint.to_string(),
        credentials: SameCredentials {
            inner: Arc::clone(gcs.credentials()),
            skip_signature,
        },
        client: OnceLock::new(),
    };
    let inner: Arc<dyn ObjectStore> = Arc::new(gcs);
    let prefix = loc.path.clone();
    Ok(ObjectStoreStore::new(inner, &prefix, loc, None).on_gcs(Arc::new(writer)))
}

/// How long one new object may take, all tries included; retries (throttling, 5xx,
/// timeouts, lost connections) stop after [`WRITE_RETRY_TIME`] or [`WRITE_ATTEMPTS`],
/// as `object_store`'s do for the other services.
const WRITE_TIMEOUT: Duration = Duration::from_secs(600);
/// Retries of one write stop after this long.
const WRITE_RETRY_TIME: Duration = Duration::from_secs(180);
/// Tries of one write, the first included.
const WRITE_ATTEMPTS: u32 = 11;

/// Creates the new objects of a bucket: Google's client (JSON API), each object one
/// multipart upload with `ifGenerationMatch=0` and its CRC32C.
#[derive(Debug)]
pub(crate) struct GcsWriter {
    /// `projects/_/buckets/<bucket>`, as the client names a bucket.
    bucket: String,
    /// The service's endpoint (`GS_ENDPOINT` or Google's).
    endpoint: String,
    /// The reads' credentials.
    credentials: SameCredentials,
    /// The client, made on the first write (opening a store to read makes none).
    client: OnceLock<Storage>,
}

impl GcsWriter {
    /// Creates `key` holding `bytes`, unless an object of that name exists
    /// ([`object_store::Error::AlreadyExists`]). Errors are `object_store`'s kinds, so
    /// the store reports every service's failures alike; their messages quote neither
    /// credentials nor tokens.
    pub(crate) async fn create(&self, key: &str, bytes: &[u8]) -> object_store::Result<()> {
        let client = match self.client.get() {
            Some(client) => client,
            None => {
                let client = Storage::builder()
                    .with_endpoint(self.endpoint.clone())
                    .with_credentials(Credentials::from(self.credentials.clone()))
                    .with_retry_policy(
                        RetryableErrors
                            .with_time_limit(WRITE_RETRY_TIME)
                            .with_attempt_limit(WRITE_ATTEMPTS),
                    )
                    // Never a resumable upload: the emulator the tests run replaces an
                    // object on those despite the precondition (spec/storage.md).
                    .with_resumable_upload_threshold(usize::MAX)
                    .build()
                    .await
                    .map_err(|e| generic(key, format!("the GCS client could not be made: {e}")))?;
                let _ = self.client.set(client);
                self.client
                    .get()
                    .ok_or_else(|| generic(key, "the GCS client could not be kept".into()))?
            }
        };
        let crc = crc32c::crc32c(bytes);
        let write = client
            .write_object(&self.bucket, key, bytes::Bytes::copy_from_slice(bytes))
            .set_if_generation_match(0_i64)
            .with_known_crc32c(crc)
            .send_unbuffered();
        let answer = match tokio::time::timeout(WRITE_TIMEOUT, write).await {
            Ok(answer) => answer,
            Err(_) => {
                return Err(generic(
                    key,
                    format!("no answer in {} s", WRITE_TIMEOUT.as_secs()),
                ))
            }
        };
        let e = match answer {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        let path = key.to_string();
        let status = e.http_status_code();
        let source: Box<dyn std::error::Error + Send + Sync> = if e.is_authentication() {
            // The credentials gave no token: their own message is not shown (it may
            // quote a key's fields).
            "the GCS credentials gave no token".into()
        } else {
            Box::new(e)
        };
        Err(match status {
            Some(412) => object_store::Error::AlreadyExists { path, source },
            Some(401) => object_store::Error::Unauthenticated { path, source },
            Some(403) => object_store::Error::PermissionDenied { path, source },
            Some(404) => object_store::Error::NotFound { path, source },
            _ => object_store::Error::Generic {
                store: "GCS",
                source,
            },
        })
    }
}

/// An `object_store` error of no particular kind about `key`.
fn generic(key: &str, message: String) -> object_store::Error {
    object_store::Error::Generic {
        store: "GCS",
        source: format!("{key}: {message}").into(),
    }
}

/// The reads' credentials (`object_store`'s provider: a service account's self-signed
/// token, the environment's, or none) as Google's client takes them, so writes are
/// authorized exactly as reads are: an `Authorization: Bearer` header, none when the
/// key says `"disable_oauth": true` or `GOOGLE_SKIP_SIGNATURE=true` is set.
#[derive(Debug, Clone)]
struct SameCredentials {
    inner: GcpCredentialProvider,
    skip_signature: bool,
}

impl google_cloud_auth::credentials::CredentialsProvider for SameCredentials {
    async fn headers(
        &self,
        _extensions: http::Extensions,
    ) -> std::result::Result<CacheableResource<http::HeaderMap>, CredentialsError> {
        let mut headers = http::HeaderMap::new();
        if !self.skip_signature {
            let credential = self.inner.get_credential().await.map_err(|_| {
                CredentialsError::from_msg(false, "the GCS credentials gave no token")
            })?;
            if !credential.bearer.is_empty() {
                let mut value =
                    http::HeaderValue::try_from(format!("Bearer {}", credential.bearer)).map_err(
                        |_| {
                            CredentialsError::from_msg(
                                false,
                                "the GCS credentials gave a token that is not a header value",
                            )
                        },
                    )?;
                value.set_sensitive(true);
                headers.insert(http::header::AUTHORIZATION, value);
            }
        }
        Ok(CacheableResource::New {
            entity_tag: EntityTag::new(),
            data: headers,
        })
    }

    async fn universe_domain(&self) -> Option<String> {
        Some("googleapis.com".into())
    }
}

/// The JSON key `CREDENTIALS` holds, checked: standard base64 of a JSON object with a
/// service account's string fields. Errors never quote the key.
fn service_account_key(credentials: &str) -> std::result::Result<String, &'static str> {
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(credentials)
        .map_err(|_| {
            if credentials.contains(' ') {
                "CREDENTIALS is not base64: a '+' in a URI's query is read as a space, so \
                 percent-encode it as %2B (and '/' as %2F, '=' as %3D)"
            } else {
                "CREDENTIALS is not base64 (standard alphabet) of a JSON key"
            }
        })?;
    let text = String::from_utf8(decoded)
        .map_err(|_| "CREDENTIALS is base64, but not of a JSON key (not UTF-8)")?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|_| "CREDENTIALS is base64, but not of a JSON key")?;
    let Some(key) = json.as_object() else {
        return Err("CREDENTIALS is base64 of JSON, but not of a key (a JSON object)");
    };
    match key.get("type").map(|t| t.as_str()) {
        None | Some(Some("service_account")) => {}
        Some(Some(t)) if OTHER_KEY_TYPES.contains(&t) => {
            return Err(match t {
                "authorized_user" => "CREDENTIALS holds an authorized_user key: vouch reads a service account's key (type service_account)",
                "external_account" => "CREDENTIALS holds an external_account key: vouch reads a service account's key (type service_account)",
                "impersonated_service_account" => "CREDENTIALS holds an impersonated_service_account key: vouch reads a service account's key (type service_account)",
                _ => "CREDENTIALS holds an external_account_authorized_user key: vouch reads a service account's key (type service_account)",
            });
        }
        Some(_) => {
            return Err(
                "CREDENTIALS is not a service account's key (its type is not service_account)",
            )
        }
    }
    for field in KEY_FIELDS {
        if !key.get(*field).is_some_and(serde_json::Value::is_string) {
            return Err(match *field {
                "client_email" => "CREDENTIALS: the key has no client_email (a service account's JSON key has one)",
                "private_key" => "CREDENTIALS: the key has no private_key (a service account's JSON key has one)",
                _ => "CREDENTIALS: the key has no private_key_id (a service account's JSON key has one)",
            });
        }
    }
    // `object_store`'s own fields (an emulator's key): typed as it reads them, so its
    // decoder never fails on them (and never quotes them).
    if key
        .get("disable_oauth")
        .is_some_and(|v| !v.is_boolean() && !v.is_null())
    {
        return Err("CREDENTIALS: the key's disable_oauth is not true or false");
    }
    if key
        .get("gcs_base_url")
        .is_some_and(|v| !v.is_string() && !v.is_null())
    {
        return Err("CREDENTIALS: the key's gcs_base_url is not a string");
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn service_account_keys() {
        let good = r#"{"type":"service_account","client_email":"a@b","private_key":"k","private_key_id":"i"}"#;
        assert_eq!(service_account_key(&b64(good)).unwrap(), good);
        let untyped =
            r#"{"client_email":"a@b","private_key":"k","private_key_id":"i","disable_oauth":true}"#;
        assert_eq!(service_account_key(&b64(untyped)).unwrap(), untyped);
        for bad in [
            "not base64!".to_string(),
            b64("not json"),
            b64("[1]"),
            b64(r#"{"type":"authorized_user"}"#),
            b64(
                r#"{"type":"secretive","client_email":"a","private_key":"k","private_key_id":"i"}"#,
            ),
            b64(r#"{"client_email":"a","private_key_id":"i"}"#),
            b64(r#"{"client_email":"a","private_key":7,"private_key_id":"i"}"#),
            b64(
                r#"{"client_email":"a","private_key":"k","private_key_id":"i","disable_oauth":"secretive"}"#,
            ),
        ] {
            let e = service_account_key(&bad).unwrap_err();
            assert!(!e.contains("secretive") && !e.contains("json"), "{e}");
        }
        // A '+' the URI's query decoding turned into a space.
        let e = service_account_key("ab c").unwrap_err();
        assert!(e.contains("%2B"), "{e}");
    }
}
