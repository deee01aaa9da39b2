//! Storage URIs as CockroachDB users write them: `nodelocal://1/backups`,
//! `file:///srv/backups`, `s3://bucket/path?AUTH=implicit`, and bare absolute paths.

use std::collections::BTreeMap;

use crate::{Error, Result};

/// What kind of storage a URI names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// `nodelocal://<node>/<path>`: the external-I/O folder of a cluster node.
    NodeLocal,
    /// `file:///<absolute path>`.
    File,
    /// A bare absolute path, `/srv/backups`.
    Path,
    /// `s3://bucket/path`.
    S3,
    /// `gs://bucket/path`.
    Gs,
    /// `azure://`, `azure-blob://` or `azure-storage://container/path`.
    Azure,
    /// `http://` or `https://`.
    Http,
    /// `userfile://`: files stored inside the cluster.
    Userfile,
    /// `external://<name>`: an external connection.
    External,
}

impl Scheme {
    /// The scheme name as written before `://` (`""` for a bare path).
    pub fn name(&self) -> &'static str {
        match self {
            Scheme::NodeLocal => "nodelocal",
            Scheme::File => "file",
            Scheme::Path => "",
            Scheme::S3 => "s3",
            Scheme::Gs => "gs",
            Scheme::Azure => "azure",
            Scheme::Http => "http",
            Scheme::Userfile => "userfile",
            Scheme::External => "external",
        }
    }

    fn from_name(name: &str) -> Option<Scheme> {
        Some(match name {
            "nodelocal" => Scheme::NodeLocal,
            "file" => Scheme::File,
            "s3" => Scheme::S3,
            "gs" => Scheme::Gs,
            "azure" | "azure-blob" | "azure-storage" => Scheme::Azure,
            "http" | "https" => Scheme::Http,
            "userfile" => Scheme::Userfile,
            "external" => Scheme::External,
            _ => return None,
        })
    }
}

/// A parsed storage URI. Its `Debug` shows the URI and the query as [`redact_uri`] does
/// (user info gone, secret parameters `redacted`): a store holding one can be printed in
/// a panic or a log without its credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct StorageUri {
    /// The URI exactly as given.
    pub uri: String,
    /// What kind of storage.
    pub scheme: Scheme,
    /// The scheme as written, lowercased (`https`, `azure-blob`; `""` for a bare path).
    pub scheme_name: String,
    /// The part between `://` and the next `/`: the node of `nodelocal://`, the bucket of
    /// `s3://`, the connection name of `external://`; empty for files and bare paths.
    pub host: String,
    /// The path, percent-decoded; starts with `/` unless empty.
    pub path: String,
    /// Query parameters (`?COCKROACH_LOCALITY=…&AUTH=…`), percent-decoded; for a key given
    /// twice, the first value.
    pub query: BTreeMap<String, String>,
}

impl std::fmt::Debug for StorageUri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let query: BTreeMap<&str, &str> = self
            .query
            .iter()
            .map(|(k, v)| {
                let shown =
                    v.is_empty() || SHOWN_PARAMETERS.contains(&k.to_ascii_uppercase().as_str());
                (k.as_str(), if shown { v.as_str() } else { "redacted" })
            })
            .collect();
        f.debug_struct("StorageUri")
            .field("uri", &redact_uri(&self.uri))
            .field("scheme", &self.scheme)
            .field("scheme_name", &self.scheme_name)
            .field(
                "host",
                &self
                    .host
                    .rsplit_once('@')
                    .map_or(self.host.as_str(), |(_, h)| h),
            )
            .field("path", &self.path)
            .field("query", &query)
            .finish()
    }
}

impl StorageUri {
    /// The URI without its query string (which may hold credentials), for messages.
    pub fn redacted(&self) -> &str {
        self.uri.split('?').next().unwrap_or(&self.uri)
    }
}

/// Query parameters whose values are never secret, and so are shown as given: the
/// storage and KMS parameters that name places, identities and options. Every other
/// parameter's value (`AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AZURE_ACCOUNT_KEY`,
/// `CREDENTIALS`, and any name vouch does not know, such as a misspelt secret) is shown as
/// `redacted`.
const SHOWN_PARAMETERS: &[&str] = &[
    "AUTH",
    "AWS_ACCESS_KEY_ID",
    "AWS_REGION",
    "AWS_ENDPOINT",
    "AWS_USE_PATH_STYLE",
    "S3_STORAGE_CLASS",
    "REGION",
    "COCKROACH_LOCALITY",
    "AZURE_ACCOUNT_NAME",
    "AZURE_ENVIRONMENT",
    "AZURE_ENDPOINT",
    "GS_ENDPOINT",
];

/// A URI as it may be shown or stored: user info (`user:password@`) removed, and the value
/// of every query parameter not known to be harmless replaced by `redacted` (CockroachDB
/// shows `AWS_SECRET_ACCESS_KEY=redacted` the same way). Works on any text, parsed or
/// not: the one redaction rule for storage and KMS URIs in statements, manifests, job
/// records, reports and messages.
pub fn redact_uri(uri: &str) -> String {
    if !uri.contains("://") {
        // A bare path is taken literally: it has no query string or user info.
        return uri.to_string();
    }
    let (base, query) = match uri.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (uri, None),
    };
    let mut out = match base.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            format!("{scheme}://{host}{path}")
        }
        None => base.to_string(),
    };
    if let Some(q) = query {
        out.push('?');
        let pairs: Vec<String> = q
            .split('&')
            .map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                let name = query_decode(k).unwrap_or_default().to_ascii_uppercase();
                if v.is_empty() || SHOWN_PARAMETERS.contains(&name.as_str()) {
                    pair.to_string()
                } else {
                    format!("{k}=redacted")
                }
            })
            .collect();
        out.push_str(&pairs.join("&"));
    }
    out
}

/// Parses a storage URI. Every scheme vouch knows parses, including the ones it cannot
/// open yet ([`crate::open`] says so); unknown schemes, relative paths and malformed
/// escapes are [`Error::BadUri`].
pub fn parse_uri(uri: &str) -> Result<StorageUri> {
    let bad = |reason: &str| Error::BadUri {
        uri: redact_uri(uri),
        reason: reason.to_string(),
    };
    if uri.is_empty() {
        return Err(bad(
            "empty; expected a URI such as nodelocal://1/backups or an absolute path",
        ));
    }
    if uri.contains('\0') {
        return Err(bad("contains a NUL byte"));
    }
    let parts = match vouch_format::uri::split(uri) {
        Ok(p) => p,
        Err(vouch_format::uri::UriError::NotAUri) if uri.starts_with('/') => {
            // A bare path is taken literally: no query string, no escapes.
            return Ok(StorageUri {
                uri: uri.to_string(),
                scheme: Scheme::Path,
                scheme_name: String::new(),
                host: String::new(),
                path: uri.to_string(),
                query: BTreeMap::new(),
            });
        }
        Err(vouch_format::uri::UriError::NotAUri) => {
            return Err(bad(
                "not a storage URI (scheme://…) or an absolute path; e.g. nodelocal://1/backups, file:///srv/backups",
            ))
        }
        Err(e) => return Err(bad(&e.to_string())),
    };
    let scheme_name = parts.scheme.to_ascii_lowercase();
    let Some(scheme) = Scheme::from_name(&scheme_name) else {
        return Err(bad(&format!(
            "unknown scheme {scheme_name}:// (known: nodelocal, file, s3, gs, azure, azure-blob, http, https, userfile, external)"
        )));
    };
    let (host, raw_path, query) = (parts.authority, parts.path, parts.query);
    let host = percent_decode(host).map_err(|r| bad(&format!("host: {r}")))?;
    let path = percent_decode(raw_path).map_err(|r| bad(&format!("path: {r}")))?;
    if path.contains('\0') {
        return Err(bad("the path contains an encoded NUL byte"));
    }
    let mut params = BTreeMap::new();
    for (k, v) in vouch_format::uri::query_pairs(query.unwrap_or("")) {
        let k = query_decode(k).map_err(|r| bad(&format!("query parameter {k:?}: {r}")))?;
        let v = query_decode(v).map_err(|r| bad(&format!("value of {k}: {r}")))?;
        params.entry(k).or_insert(v);
    }
    Ok(StorageUri {
        uri: uri.to_string(),
        scheme,
        scheme_name,
        host,
        path,
        query: params,
    })
}

/// `%XX` escapes decoded by format's one strict rule ([`vouch_format::uri`]).
fn percent_decode(s: &str) -> std::result::Result<String, String> {
    vouch_format::uri::percent_decode(s).map_err(|e| e.to_string())
}

/// Query strings also read `+` as a space (as Go's `url.ParseQuery`, which CockroachDB
/// uses: encode a literal `+` in a secret as `%2B`).
fn query_decode(s: &str) -> std::result::Result<String, String> {
    percent_decode(&s.replace('+', " "))
}

/// A URI as messages name a place: [`redact_uri`]'s form without the query string
/// (`s3://bucket/path`), as store errors name objects (`<this>/<object path>`).
pub fn message_uri(uri: &str) -> String {
    let r = redact_uri(uri);
    if !r.contains("://") {
        return r;
    }
    r.split('?').next().unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_no_secret() {
        for uri in [
            "s3://b/p?AWS_ACCESS_KEY_ID=id&AWS_SECRET_ACCESS_KEY=CANARYs3cr3t&AWS_SESSION_TOKEN=CANARYtok",
            "azure://c/p?AZURE_ACCOUNT_NAME=a&AZURE_ACCOUNT_KEY=CANARYkey",
            "gs://b/p?AUTH=specified&CREDENTIALS=CANARYcreds",
            "https://user:CANARYpw@host/p",
            "s3://b/p?aws_secret_access_key=CANARYlower",
        ] {
            let parsed = parse_uri(uri).unwrap();
            let shown = format!("{parsed:?} {parsed:#?}");
            assert!(!shown.contains("CANARY"), "{uri}: {shown}");
            assert!(shown.contains("StorageUri"), "{shown}");
        }
        let parsed = parse_uri("s3://b/p?AWS_ACCESS_KEY_ID=id&AWS_REGION=us-east-1").unwrap();
        let shown = format!("{parsed:?}");
        assert!(shown.contains("\"AWS_REGION\": \"us-east-1\""), "{shown}");
        assert!(shown.contains("\"AWS_ACCESS_KEY_ID\": \"id\""), "{shown}");
    }

    #[test]
    fn redaction() {
        for (uri, shown) in [
            ("/srv/b", "/srv/b"),
            ("/srv/b?not=a-query", "/srv/b?not=a-query"),
            ("nodelocal://1/b", "nodelocal://1/b"),
            (
                "s3://b/p?AWS_ACCESS_KEY_ID=id&AWS_SECRET_ACCESS_KEY=s%2Bcret&AWS_SESSION_TOKEN=t&AWS_REGION=eu-west-1&AUTH=specified",
                "s3://b/p?AWS_ACCESS_KEY_ID=id&AWS_SECRET_ACCESS_KEY=redacted&AWS_SESSION_TOKEN=redacted&AWS_REGION=eu-west-1&AUTH=specified",
            ),
            (
                "azure://c/p?AZURE_ACCOUNT_NAME=a&AZURE_ACCOUNT_KEY=k",
                "azure://c/p?AZURE_ACCOUNT_NAME=a&AZURE_ACCOUNT_KEY=redacted",
            ),
            ("gs://b/p?CREDENTIALS=eyJ9&AUTH=specified", "gs://b/p?CREDENTIALS=redacted&AUTH=specified"),
            // Unknown names (a misspelt secret), odd encodings, names without values.
            ("s3://b?AWS_SECRET_KEY=x&aws_secret_access_key=y&%41UTH=implicit&flag", "s3://b?AWS_SECRET_KEY=redacted&aws_secret_access_key=redacted&%41UTH=implicit&flag"),
            ("s3://b?k=%zz&=v", "s3://b?k=redacted&=redacted"),
            // User info.
            ("http://user:pw@host:8080/p?x=1", "http://host:8080/p?x=redacted"),
            ("aws:///key?REGION=us-east-1&AWS_SECRET_ACCESS_KEY=s", "aws:///key?REGION=us-east-1&AWS_SECRET_ACCESS_KEY=redacted"),
        ] {
            assert_eq!(redact_uri(uri), shown, "{uri}");
            if uri.contains("://") {
                assert_eq!(message_uri(uri), shown.split('?').next().unwrap(), "{uri}");
            } else {
                assert_eq!(message_uri(uri), uri);
            }
        }
    }

    #[test]
    fn decoding() {
        assert_eq!(percent_decode("a%20b%2Fc").unwrap(), "a b/c");
        assert_eq!(percent_decode("%e2%82%ac").unwrap(), "€");
        assert!(percent_decode("%").is_err());
        assert!(percent_decode("%2").is_err());
        assert!(percent_decode("%+1").is_err());
        assert!(percent_decode("%zz").is_err());
        assert!(percent_decode("%ff").is_err());
        assert_eq!(query_decode("a+b%2B").unwrap(), "a b+");
    }
}
