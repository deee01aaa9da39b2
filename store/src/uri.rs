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

    /// What the storage is called in messages.
    pub fn description(&self) -> &'static str {
        match self {
            Scheme::NodeLocal => "node-local storage",
            Scheme::File => "local files",
            Scheme::Path => "a local directory",
            Scheme::S3 => "Amazon S3 storage",
            Scheme::Gs => "Google Cloud Storage",
            Scheme::Azure => "Azure Blob Storage",
            Scheme::Http => "HTTP storage",
            Scheme::Userfile => "userfile storage (files stored inside the cluster)",
            Scheme::External => "external connections",
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

/// A parsed storage URI.
#[derive(Debug, Clone, PartialEq, Eq)]
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

impl StorageUri {
    /// The URI without its query string (which may hold credentials), for messages.
    pub fn redacted(&self) -> &str {
        self.uri.split('?').next().unwrap_or(&self.uri)
    }
}

/// Parses a storage URI. Every scheme vouch knows parses, including the ones it cannot
/// open yet ([`crate::open`] says so); unknown schemes, relative paths and malformed
/// escapes are [`Error::BadUri`].
pub fn parse_uri(uri: &str) -> Result<StorageUri> {
    let bad = |reason: &str| Error::BadUri {
        uri: uri.to_string(),
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
    let Some((scheme_name, rest)) = uri.split_once("://") else {
        if uri.starts_with('/') {
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
        return Err(bad(
            "not a storage URI (scheme://…) or an absolute path; e.g. nodelocal://1/backups, file:///srv/backups",
        ));
    };
    let valid_scheme = scheme_name
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic())
        && scheme_name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'-' || b == b'.');
    if !valid_scheme {
        return Err(bad(&format!("{scheme_name:?} is not a URI scheme")));
    }
    let scheme_name = scheme_name.to_ascii_lowercase();
    let Some(scheme) = Scheme::from_name(&scheme_name) else {
        return Err(bad(&format!(
            "unknown scheme {scheme_name}:// (known: nodelocal, file, s3, gs, azure, azure-blob, http, https, userfile, external)"
        )));
    };
    if rest.contains('#') {
        return Err(bad("contains '#'; write it as %23"));
    }
    let (before_query, query) = match rest.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (rest, None),
    };
    let (host, raw_path) = match before_query.find('/') {
        Some(i) => before_query.split_at(i),
        None => (before_query, ""),
    };
    let host = percent_decode(host).map_err(|r| bad(&format!("host: {r}")))?;
    let path = percent_decode(raw_path).map_err(|r| bad(&format!("path: {r}")))?;
    if path.contains('\0') {
        return Err(bad("the path contains an encoded NUL byte"));
    }
    let mut params = BTreeMap::new();
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
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

/// `%XX` escapes decoded (by `percent-encoding`, after checking that every `%` starts
/// one: that crate passes a stray `%` through); the result must be UTF-8.
fn percent_decode(s: &str) -> std::result::Result<String, String> {
    if let Some(i) = s.match_indices('%').map(|(i, _)| i).find(|&i| {
        !s.get(i + 1..i + 3)
            .is_some_and(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
    }) {
        return Err(format!(
            "bad escape at byte {i}: '%' must be followed by two hex digits"
        ));
    }
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| "escapes do not decode to UTF-8".to_string())
}

/// Query strings also read `+` as a space (as Go's `url.ParseQuery`, which CockroachDB
/// uses: encode a literal `+` in a secret as `%2B`).
fn query_decode(s: &str) -> std::result::Result<String, String> {
    percent_decode(&s.replace('+', " "))
}

#[cfg(test)]
mod tests {
    use super::*;

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
