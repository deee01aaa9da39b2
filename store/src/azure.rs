//! `azure://container/path?…` (also `azure-blob://` and `azure-storage://`) with
//! CockroachDB's parameters, opened as an [`ObjectStoreStore`] over `object_store`'s Azure
//! Blob Storage client.
//!
//! | parameter | meaning |
//! |---|---|
//! | `AZURE_ACCOUNT_NAME` | the storage account (required) |
//! | `AUTH` | `specified` (the default): the account key in the URI; `implicit`: the environment's credentials (`AZURE_*` variables: a service principal, workload or managed identity) |
//! | `AZURE_ACCOUNT_KEY` | the account's shared key, base64 (required with `AUTH=specified`, refused with `AUTH=implicit`) |
//! | `AZURE_ENVIRONMENT` | `AzurePublicCloud` (the default), `AzureUSGovernmentCloud` or `AzureChinaCloud`: which cloud's blob endpoint |
//! | `AZURE_ENDPOINT` | the account's blob endpoint instead (an emulator, `http://127.0.0.1:10000/devstoreaccount1`, or a private endpoint) |
//! | `COCKROACH_LOCALITY` | read by the caller (locality-aware backups), not here |

use std::sync::Arc;

use object_store::azure::MicrosoftAzureBuilder;
use object_store::ObjectStore;

use crate::object::{
    check_parameters, endpoint_scheme, install_tls_provider, ObjectStoreStore, SharedClient,
};
use crate::{redact_uri, Error, Result, StorageUri};

/// Every parameter an `azure://` URI may carry.
const KNOWN: &[&str] = &[
    "AUTH",
    "AZURE_ACCOUNT_NAME",
    "AZURE_ACCOUNT_KEY",
    "AZURE_ENVIRONMENT",
    "AZURE_ENDPOINT",
    "COCKROACH_LOCALITY",
];

/// CockroachDB's Azure parameters vouch does not implement yet (a service principal
/// named in the URI; `AUTH=implicit` reads one from the environment).
const NOT_YET: &[&str] = &["AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_TENANT_ID"];

/// `AZURE_ENVIRONMENT` values and their blob endpoints' domain.
const ENVIRONMENTS: &[(&str, &str)] = &[
    ("AzurePublicCloud", "blob.core.windows.net"),
    ("AzureUSGovernmentCloud", "blob.core.usgovcloudapi.net"),
    ("AzureChinaCloud", "blob.core.chinacloudapi.cn"),
];

/// Opens `azure://container/path?…` (the URI checked: container, parameters,
/// credentials).
pub(crate) fn open(loc: StorageUri) -> Result<ObjectStoreStore> {
    let bad = |reason: String| Error::BadUri {
        uri: redact_uri(&loc.uri),
        reason,
    };
    if loc.host.is_empty() {
        return Err(bad(format!(
            "missing container: write {}://<container>/<path>",
            loc.scheme_name
        )));
    }
    check_parameters(&loc, "Azure", KNOWN, NOT_YET)?;
    let param = |k: &str| loc.query.get(k).filter(|v| !v.is_empty());
    let Some(account) = param("AZURE_ACCOUNT_NAME") else {
        return Err(bad(
            "missing AZURE_ACCOUNT_NAME (the storage account)".into()
        ));
    };
    if !account
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(bad(format!(
            "AZURE_ACCOUNT_NAME={account:?}: expected letters, digits and '-'"
        )));
    }
    let key = param("AZURE_ACCOUNT_KEY");
    let mut builder = match param("AUTH").map(String::as_str) {
        None | Some("specified") => {
            let Some(key) = key else {
                return Err(bad(
                    "AUTH=specified (the default) needs AZURE_ACCOUNT_KEY; or use AUTH=implicit \
                     for the environment's credentials"
                        .into(),
                ));
            };
            if !is_base64(key) {
                // The decoder's message would quote the offending character of the key.
                return Err(bad(
                    "AZURE_ACCOUNT_KEY is not base64 (an account key is; percent-encode '+' \
                     as %2B in the URI)"
                        .into(),
                ));
            }
            MicrosoftAzureBuilder::new().with_access_key(key)
        }
        Some("implicit") => {
            if key.is_some() {
                return Err(bad(
                    "AUTH=implicit takes the environment's credentials: remove AZURE_ACCOUNT_KEY, \
                     or use AUTH=specified"
                        .into(),
                ));
            }
            MicrosoftAzureBuilder::from_env()
        }
        Some(other) => {
            return Err(bad(format!(
                "AUTH={other:?}: expected specified or implicit"
            )))
        }
    };
    builder = builder.with_account(account).with_container_name(&loc.host);
    let environment = param("AZURE_ENVIRONMENT");
    let domain = match environment {
        None => ENVIRONMENTS[0].1,
        Some(env) => match ENVIRONMENTS
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(env))
        {
            Some((_, domain)) => domain,
            None => {
                let names: Vec<&str> = ENVIRONMENTS.iter().map(|(n, _)| *n).collect();
                return Err(bad(format!(
                    "AZURE_ENVIRONMENT={env:?}: expected one of {}",
                    names.join(", ")
                )));
            }
        },
    };
    builder = match param("AZURE_ENDPOINT") {
        Some(endpoint) => {
            if environment.is_some() {
                return Err(bad(
                    "AZURE_ENDPOINT names the endpoint itself: remove AZURE_ENVIRONMENT".into(),
                ));
            }
            let endpoint = endpoint.trim_end_matches('/');
            let scheme = endpoint_scheme(endpoint).ok_or_else(|| {
                bad(format!(
                    "AZURE_ENDPOINT={endpoint:?}: expected http(s)://host[:port][/path]"
                ))
            })?;
            builder
                .with_endpoint(endpoint.to_string())
                .with_allow_http(scheme == "http")
        }
        None => builder.with_endpoint(format!("https://{account}.{domain}")),
    };
    install_tls_provider();
    let azure = builder
        .with_http_connector(SharedClient::default())
        .build()
        .map_err(|e| {
            let reason = e.to_string();
            match key {
                Some(k) if reason.contains(k.as_str()) => {
                    bad("the Azure client refused the URI".into())
                }
                _ => bad(reason),
            }
        })?;
    let inner: Arc<dyn ObjectStore> = Arc::new(azure);
    let prefix = loc.path.clone();
    Ok(ObjectStoreStore::new(inner, &prefix, loc, None))
}

/// Standard base64 with padding (what Azure account keys are), checked without decoding.
fn is_base64(s: &str) -> bool {
    let body = s.trim_end_matches('=');
    !s.is_empty()
        && s.len().is_multiple_of(4)
        && s.len() - body.len() <= 2
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

#[cfg(test)]
mod tests {
    use super::is_base64;

    #[test]
    fn base64_keys() {
        for ok in ["hash", "ab+/", "abc=", "ab==", "Eby8vdM02xNOcqFlqUwJPLl="] {
            assert!(is_base64(ok), "{ok}");
        }
        for bad in ["", "abc", "a===", "ab c", "ab-_", "=abc", "a=bc"] {
            assert!(!is_base64(bad), "{bad}");
        }
    }
}
