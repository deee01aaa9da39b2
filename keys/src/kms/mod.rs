//! Key management services: the [`Kms`] trait and the providers behind KMS URIs.
//!
//! | scheme | provider |
//! |---|---|
//! | `aws:///<key-id-or-arn-or-alias>?REGION=…` (also `aws-kms://`) | AWS KMS API ([`aws`]) |
//! | `file:///<absolute path>` | a local 32-byte key file ([`file`]) |
//! | `gs`, `gcp-kms`, `azure-kms`, `azure`, anything else | parse, then `not supported yet: <scheme> KMS` |
//!
//! A URI's `uri_id` is the URI without its query string (which carries credentials): what
//! `ENCRYPTION-INFO` records, what given URIs are matched against and what messages show.

pub mod aws;
pub mod file;

use std::fmt;

use crate::{KeyError, Result};
use vouch_format::envelope::DataKey;

/// A key-encryption key held by a KMS.
pub trait Kms: fmt::Debug + Send + Sync {
    /// The URI without secrets (no query string): recorded in `ENCRYPTION-INFO`.
    fn uri_id(&self) -> String;
    /// Wraps (encrypts) a data key.
    fn wrap(&self, key: &DataKey) -> Result<Vec<u8>>;
    /// Unwraps what [`Kms::wrap`] made.
    fn unwrap(&self, wrapped: &[u8]) -> Result<DataKey>;
}

/// A KMS URI taken apart: scheme, authority, path and (percent-decoded) query parameters.
#[derive(Clone, PartialEq, Eq)]
pub struct KmsUri {
    /// The scheme, lowercased.
    pub scheme: String,
    /// What stands between `://` and the next `/` (usually empty).
    pub authority: String,
    /// From the `/` after the authority up to `?` (percent-decoded).
    pub path: String,
    /// Query parameters in order, values percent-decoded.
    pub params: Vec<(String, String)>,
}

impl fmt::Debug for KmsUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KmsUri")
            .field("scheme", &self.scheme)
            .field("authority", &self.authority)
            .field("path", &self.path)
            .field(
                "params",
                &self.params.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// The `uri_id` of any text given as a KMS URI: everything before `?` or `#`, with any
/// user info dropped. Never fails and never shows a query, so it is safe in messages even
/// for URIs that do not parse.
pub fn uri_id_of(uri: &str) -> String {
    let base = uri.split(['?', '#']).next().unwrap_or("");
    match base.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = match rest.find('/') {
                Some(i) => rest.split_at(i),
                None => (rest, ""),
            };
            let authority = authority.rsplit('@').next().unwrap_or("");
            format!("{}://{authority}{path}", scheme.to_ascii_lowercase())
        }
        None => base.chars().filter(|c| !c.is_control()).collect(),
    }
}

/// Percent-decodes `s` by format's one strict rule ([`vouch_format::uri`]; `+`
/// stays `+`: AWS secret keys contain it).
fn percent_decode(s: &str) -> std::result::Result<String, String> {
    use vouch_format::uri::PercentError;
    vouch_format::uri::percent_decode(s).map_err(|e| match e {
        PercentError::BadEscape { at } => format!("bad percent escape at byte {at}"),
        PercentError::NotUtf8 => "percent escapes do not decode to UTF-8".into(),
    })
}

impl KmsUri {
    /// Parses `scheme://authority/path?K=V&…`. Errors name the parameter, never its value.
    pub fn parse(uri: &str) -> Result<KmsUri> {
        let id = uri_id_of(uri);
        let bad = |reason: String| KeyError::BadKmsUri {
            uri_id: id.clone(),
            reason,
        };
        let parts = vouch_format::uri::split(uri).map_err(|e| bad(e.to_string()))?;
        let (scheme, authority, path, query) =
            (parts.scheme, parts.authority, parts.path, parts.query);
        let path = percent_decode(path).map_err(|e| bad(format!("path: {e}")))?;
        let mut params: Vec<(String, String)> = Vec::new();
        for (k, v) in vouch_format::uri::query_pairs(query.unwrap_or("")) {
            let k = percent_decode(k).map_err(|e| bad(format!("parameter name: {e}")))?;
            let v = percent_decode(v).map_err(|e| bad(format!("parameter {k}: {e}")))?;
            if params.iter().any(|(o, _)| *o == k) {
                return Err(bad(format!("parameter {k} given twice")));
            }
            params.push((k, v));
        }
        Ok(KmsUri {
            scheme: scheme.to_ascii_lowercase(),
            authority: authority.to_string(),
            path,
            params,
        })
    }

    /// The URI as given without query string or user info (for parse errors).
    pub fn id(&self) -> String {
        let host = self.authority.rsplit('@').next().unwrap_or("");
        format!("{}://{host}{}", self.scheme, self.path)
    }

    /// The value of a parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The provider for a KMS URI. Checks the URI's shape and parameters now; credentials
/// and key material are used only when wrapping or unwrapping.
pub fn kms_from_uri(uri: &str) -> Result<Box<dyn Kms>> {
    let parsed = KmsUri::parse(uri)?;
    match parsed.scheme.as_str() {
        "aws" | "aws-kms" => Ok(Box::new(aws::AwsKms::from_uri(&parsed)?)),
        "file" => Ok(Box::new(file::FileKms::from_uri(&parsed)?)),
        other => Err(KeyError::UnsupportedKms {
            scheme: other.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::percent_decode;

    #[test]
    fn percent_decoding_is_strict_and_keeps_plus() {
        assert_eq!(percent_decode("a%20b%2Fc+d").unwrap(), "a b/c+d");
        assert_eq!(percent_decode("%e2%82%AC").unwrap(), "€");
        for bad in ["%", "x%2", "%+1", "%25%zz", "%ff"] {
            assert!(percent_decode(bad).is_err(), "{bad}");
        }
    }
}
