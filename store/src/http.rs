//! `http://host/path` and `https://host/path`, as CockroachDB's HTTP storage: objects are
//! the URLs under the path, read with GET (ranged GETs for byte ranges) and HEAD, written
//! with PUT, and listed with WebDAV's `PROPFIND` where the server offers it, through
//! `object_store`'s HTTP client.
//!
//! Write-once: the client's own PUT has no conditional mode, so new objects are written by
//! a second client of the same URL whose every request carries `If-None-Match: *` (its
//! PUTs, and the `MKCOL`s that create missing folders first): a server that implements
//! conditional requests (RFC 9110; WebDAV servers do) refuses to replace an existing
//! object with `412 Precondition Failed`.
//!
//! | parameter | meaning |
//! |---|---|
//! | `COCKROACH_LOCALITY` | read by the caller (locality-aware backups), not here |

use std::sync::Arc;

use object_store::http::HttpBuilder;
use object_store::{ClientOptions, ObjectStore};

use crate::object::{check_parameters, install_tls_provider, ObjectStoreStore, SharedClient};
use crate::{redact_uri, Error, Result, StorageUri};

/// Every parameter an `http(s)://` URI may carry.
const KNOWN: &[&str] = &["COCKROACH_LOCALITY"];

/// Opens `http(s)://host/path` (the URI checked: host, no credentials, parameters).
pub(crate) fn open(loc: StorageUri) -> Result<ObjectStoreStore> {
    let bad = |reason: String| Error::BadUri {
        uri: redact_uri(&loc.uri),
        reason,
    };
    if loc.host.is_empty() {
        return Err(bad(format!(
            "missing host: write {}://<host>[:port]/<path>",
            loc.scheme_name
        )));
    }
    if loc.host.contains('@') {
        return Err(Error::Unsupported {
            scheme: loc.scheme_name.clone(),
            feature: "credentials in an HTTP storage URI (user:password@)".into(),
        });
    }
    check_parameters(&loc, "HTTP", KNOWN, &[])?;
    // The client's base is the server (`scheme://host[:port]`); the URL's path is the
    // store's key prefix, so that missing folders on the way to an object, the URL's own
    // included, are created (MKCOL) by the first write.
    let base = format!("{}://{}", loc.scheme_name, loc.host);
    let options = ClientOptions::new().with_allow_http(loc.scheme_name == "http");
    install_tls_provider();
    let reader = HttpBuilder::new()
        .with_url(&base)
        .with_client_options(options.clone())
        .with_http_connector(SharedClient::default())
        .build()
        .map_err(|e| bad(e.to_string()))?;
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::IF_NONE_MATCH,
        reqwest::header::HeaderValue::from_static("*"),
    );
    let writer = HttpBuilder::new()
        .with_url(&base)
        .with_client_options(options.with_default_headers(headers))
        .with_http_connector(SharedClient::default())
        .build()
        .map_err(|e| bad(e.to_string()))?;
    let reader: Arc<dyn ObjectStore> = Arc::new(reader);
    let writer: Arc<dyn ObjectStore> = Arc::new(writer);
    let prefix = loc.path.clone();
    Ok(ObjectStoreStore::new(reader, &prefix, loc, None).on_webdav(writer))
}
