//! `aws:///<key>?REGION=…` — the AWS KMS API: `TrentService.Encrypt` / `Decrypt` (JSON 1.1
//! over HTTPS, or HTTP for a local endpoint), requests signed with SigV4 by `aws-sigv4`
//! (AWS's own signing crate) and sent with `ureq`.
//!
//! Parameters (names as CockroachDB's):
//!
//! | parameter | meaning |
//! |---|---|
//! | `REGION` | required: the signing region, and the default endpoint `https://kms.<REGION>.amazonaws.com` |
//! | `AWS_ENDPOINT` | another endpoint (`http(s)://host[:port]`), e.g. a KMS-compatible server |
//! | `AUTH` | `specified` (keys in the URI; the default when they are there) or `implicit` (the environment's `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, read at each call; the default otherwise) |
//! | `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN` | credentials for `AUTH=specified` |
//!
//! `<key>` is a key id, key ARN, alias (`alias/name`) or alias ARN. `implicit` reads the
//! environment only (no instance metadata, no profiles).

use std::fmt;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use super::{Kms, KmsUri};
use crate::{KeyError, Result};
use vouch_format::encryption_info::DATA_KEY_LEN;
use vouch_format::envelope::DataKey;

/// Largest KMS response read.
const MAX_RESPONSE: u64 = 1 << 20;
const KNOWN_PARAMS: [&str; 6] = [
    "REGION",
    "AWS_ENDPOINT",
    "AUTH",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
];

enum Auth {
    Specified {
        access_key_id: String,
        secret_access_key: Zeroizing<String>,
        session_token: Option<Zeroizing<String>>,
    },
    Implicit,
}

/// An AWS KMS key.
pub struct AwsKms {
    key_id: String,
    region: String,
    endpoint: String,
    host: String,
    auth: Auth,
    agent: ureq::Agent,
}

impl fmt::Debug for AwsKms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsKms")
            .field("key_id", &self.key_id)
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field(
                "auth",
                &match self.auth {
                    Auth::Specified { .. } => "specified(<redacted>)",
                    Auth::Implicit => "implicit",
                },
            )
            .finish()
    }
}

#[derive(Serialize)]
struct EncryptRequest<'a> {
    #[serde(rename = "KeyId")]
    key_id: &'a str,
    #[serde(rename = "Plaintext")]
    plaintext: &'a str,
}

#[derive(Deserialize)]
struct EncryptResponse {
    #[serde(rename = "CiphertextBlob")]
    ciphertext_blob: String,
}

#[derive(Serialize)]
struct DecryptRequest<'a> {
    #[serde(rename = "CiphertextBlob")]
    ciphertext_blob: &'a str,
    #[serde(rename = "KeyId")]
    key_id: &'a str,
}

#[derive(Deserialize)]
struct DecryptResponse {
    #[serde(rename = "Plaintext")]
    plaintext: String,
}

impl Drop for DecryptResponse {
    fn drop(&mut self) {
        self.plaintext.zeroize();
    }
}

#[derive(Deserialize)]
struct CreateKeyResponse {
    #[serde(rename = "KeyMetadata")]
    key_metadata: KeyMetadata,
}

#[derive(Deserialize)]
struct KeyMetadata {
    #[serde(rename = "Arn")]
    arn: String,
}

/// `host[:port]` of an endpoint URL, without the scheme's default port; `Err` says why not.
fn endpoint_host(endpoint: &str) -> std::result::Result<String, String> {
    let (scheme, rest) = endpoint.split_once("://").ok_or_else(|| {
        "AWS_ENDPOINT must be http://host[:port] or https://host[:port]".to_string()
    })?;
    if scheme != "http" && scheme != "https" {
        return Err(format!(
            "AWS_ENDPOINT scheme {scheme:?} is not http or https"
        ));
    }
    let authority = rest.split('/').next().unwrap_or("");
    if authority.is_empty() || authority.contains('@') {
        return Err("AWS_ENDPOINT needs a host (and no user info)".into());
    }
    if rest
        .trim_start_matches(authority)
        .trim_matches('/')
        .contains(['?', '#'])
    {
        return Err("AWS_ENDPOINT takes no query".into());
    }
    let default_port = if scheme == "http" { ":80" } else { ":443" };
    Ok(authority
        .strip_suffix(default_port)
        .unwrap_or(authority)
        .to_string())
}

impl AwsKms {
    /// From a parsed `aws:///<key>?…` URI.
    pub fn from_uri(uri: &KmsUri) -> Result<AwsKms> {
        let key_id = uri.path.trim_start_matches('/').to_string();
        // Parse errors name the URI as given (without its query).
        let uri_id = uri.id();
        let bad = |reason: String| KeyError::BadKmsUri {
            uri_id: uri_id.clone(),
            reason,
        };
        if !uri.authority.is_empty() {
            return Err(bad(
                "put the key in the path: aws:///<key-id-or-arn>?REGION=…".into(),
            ));
        }
        if key_id.is_empty() {
            return Err(bad("no key id: aws:///<key-id-or-arn>?REGION=…".into()));
        }
        if let Some((k, _)) = uri
            .params
            .iter()
            .find(|(k, _)| !KNOWN_PARAMS.contains(&k.as_str()))
        {
            return Err(bad(format!(
                "unknown parameter {k} (known: {})",
                KNOWN_PARAMS.join(", ")
            )));
        }
        let region = match uri.param("REGION") {
            Some(r) if !r.is_empty() => r.to_string(),
            _ => return Err(bad("REGION is required".into())),
        };
        let endpoint = match uri.param("AWS_ENDPOINT") {
            Some(e) => e.trim_end_matches('/').to_string(),
            None => format!("https://kms.{region}.amazonaws.com"),
        };
        let host = endpoint_host(&endpoint).map_err(bad)?;
        let ak = uri.param("AWS_ACCESS_KEY_ID");
        let sk = uri.param("AWS_SECRET_ACCESS_KEY");
        let auth = match uri.param("AUTH") {
            Some("implicit") => {
                if ak.is_some() || sk.is_some() {
                    return Err(bad(
                        "AUTH=implicit takes no AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY".into(),
                    ));
                }
                Auth::Implicit
            }
            None if ak.is_none() && sk.is_none() => Auth::Implicit,
            Some("specified") | None => match (ak, sk) {
                (Some(a), Some(s)) if !a.is_empty() && !s.is_empty() => Auth::Specified {
                    access_key_id: a.to_string(),
                    secret_access_key: Zeroizing::new(s.to_string()),
                    session_token: uri
                        .param("AWS_SESSION_TOKEN")
                        .map(|t| Zeroizing::new(t.to_string())),
                },
                _ => {
                    return Err(bad(
                        "AUTH=specified needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY".into(),
                    ))
                }
            },
            Some(other) => {
                return Err(bad(format!(
                    "AUTH={other} is not supported (implicit or specified)"
                )))
            }
        };
        // A loopback endpoint (a local KMS-compatible server) is never reached through a
        // proxy from the environment; others use HTTPS_PROXY / HTTP_PROXY / NO_PROXY.
        let hostname = host.rsplit_once(':').map_or(host.as_str(), |(h, _)| h);
        let loopback = matches!(hostname, "127.0.0.1" | "localhost" | "[::1]");
        let mut config = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(30)))
            .http_status_as_error(false);
        if loopback {
            config = config.proxy(None);
        }
        let agent: ureq::Agent = config.build().into();
        Ok(AwsKms {
            key_id,
            region,
            endpoint,
            host,
            auth,
            agent,
        })
    }

    fn err(&self, op: &'static str, reason: String) -> KeyError {
        KeyError::Kms {
            uri_id: self.uri_id(),
            op,
            reason,
        }
    }

    fn credentials(&self, op: &'static str) -> Result<Credentials> {
        match &self.auth {
            Auth::Specified {
                access_key_id,
                secret_access_key,
                session_token,
            } => Ok(Credentials::new(
                access_key_id.as_str(),
                secret_access_key.as_str(),
                session_token.as_ref().map(|t| t.to_string()),
                None,
                "vouch-uri",
            )),
            Auth::Implicit => {
                let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
                let ak = var("AWS_ACCESS_KEY_ID").ok_or_else(|| {
                    self.err(
                        op,
                        "AUTH=implicit: environment variable AWS_ACCESS_KEY_ID is not set".into(),
                    )
                })?;
                let sk = Zeroizing::new(var("AWS_SECRET_ACCESS_KEY").ok_or_else(|| {
                    self.err(
                        op,
                        "AUTH=implicit: environment variable AWS_SECRET_ACCESS_KEY is not set"
                            .into(),
                    )
                })?);
                Ok(Credentials::new(
                    ak,
                    sk.as_str(),
                    var("AWS_SESSION_TOKEN"),
                    None,
                    "vouch-env",
                ))
            }
        }
    }

    /// One signed KMS API call; the response body on HTTP 200 (zeroized when dropped).
    fn call(&self, op: &'static str, body: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let identity = self.credentials(op)?.into();
        let settings = SigningSettings::default();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("kms")
            .time(SystemTime::now())
            .settings(settings)
            .build()
            .map_err(|e| self.err(op, format!("signing: {e}")))?
            .into();
        let url = format!("{}/", self.endpoint);
        let target = format!("TrentService.{op}");
        let headers = [
            ("host", self.host.as_str()),
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-target", target.as_str()),
        ];
        let signable = SignableRequest::new(
            "POST",
            url.as_str(),
            headers.iter().copied(),
            SignableBody::Bytes(body),
        )
        .map_err(|e| self.err(op, format!("signing: {e}")))?;
        let (instructions, _signature) = sign(signable, &params)
            .map_err(|e| self.err(op, format!("signing: {e}")))?
            .into_parts();
        let mut req = self
            .agent
            .post(&url)
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amz-target", target.as_str());
        for (name, value) in instructions.headers() {
            req = req.header(name, value);
        }
        let mut resp = req
            .send(body)
            .map_err(|e| self.err(op, format!("request to {}: {e}", self.endpoint)))?;
        let status = resp.status().as_u16();
        let bytes = Zeroizing::new(
            resp.body_mut()
                .with_config()
                .limit(MAX_RESPONSE)
                .read_to_vec()
                .map_err(|e| self.err(op, format!("reading the response: {e}")))?,
        );
        if status == 200 {
            return Ok(bytes);
        }
        // {"__type": "…#NotFoundException", "message": "…"} (AWS spells it Message too).
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        let kind = v
            .get("__type")
            .and_then(|t| t.as_str())
            .map(|t| t.rsplit('#').next().unwrap_or(t).to_string())
            .unwrap_or_else(|| "error".into());
        let message = v
            .get("message")
            .or_else(|| v.get("Message"))
            .and_then(|m| m.as_str())
            .unwrap_or("");
        Err(self.err(op, format!("HTTP {status} {kind}: {message}")))
    }

    /// Creates a symmetric key (`TrentService.CreateKey`) and returns its ARN. For tests
    /// and setup against a KMS-compatible server; vouch itself never creates keys.
    pub fn create_key(&self, description: &str) -> Result<String> {
        let body = serde_json::to_vec(&serde_json::json!({
            "Description": description,
            "KeyUsage": "ENCRYPT_DECRYPT",
            "KeySpec": "SYMMETRIC_DEFAULT",
        }))
        .map_err(|e| self.err("CreateKey", e.to_string()))?;
        let out = self.call("CreateKey", &body)?;
        let r: CreateKeyResponse = serde_json::from_slice(&out)
            .map_err(|e| self.err("CreateKey", format!("unexpected response: {e}")))?;
        Ok(r.key_metadata.arn)
    }
}

impl Kms for AwsKms {
    fn uri_id(&self) -> String {
        format!("aws:///{}", self.key_id)
    }

    fn wrap(&self, key: &DataKey) -> Result<Vec<u8>> {
        let plaintext = Zeroizing::new(B64.encode(key.as_bytes()));
        let body = Zeroizing::new(
            serde_json::to_vec(&EncryptRequest {
                key_id: &self.key_id,
                plaintext: &plaintext,
            })
            .map_err(|e| self.err("Encrypt", e.to_string()))?,
        );
        let out = self.call("Encrypt", &body)?;
        let r: EncryptResponse = serde_json::from_slice(&out)
            .map_err(|e| self.err("Encrypt", format!("unexpected response: {e}")))?;
        B64.decode(r.ciphertext_blob.as_bytes())
            .map_err(|e| self.err("Encrypt", format!("CiphertextBlob is not base64: {e}")))
    }

    fn unwrap(&self, wrapped: &[u8]) -> Result<DataKey> {
        let blob = B64.encode(wrapped);
        let body = serde_json::to_vec(&DecryptRequest {
            ciphertext_blob: &blob,
            key_id: &self.key_id,
        })
        .map_err(|e| self.err("Decrypt", e.to_string()))?;
        let out = self.call("Decrypt", &body)?;
        let r: DecryptResponse = serde_json::from_slice(&out)
            .map_err(|_| self.err("Decrypt", "unexpected response (no Plaintext)".into()))?;
        let plain = Zeroizing::new(
            B64.decode(r.plaintext.as_bytes())
                .map_err(|_| self.err("Decrypt", "Plaintext is not base64".into()))?,
        );
        if plain.len() != DATA_KEY_LEN {
            return Err(self.err(
                "Decrypt",
                format!(
                    "the unwrapped key is {} bytes, expected {DATA_KEY_LEN}",
                    plain.len()
                ),
            ));
        }
        let mut arr = Zeroizing::new([0u8; DATA_KEY_LEN]);
        arr.copy_from_slice(&plain);
        Ok(DataKey::from_bytes(*arr))
    }
}
