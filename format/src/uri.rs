//! The URI rules storage and KMS URIs share: [`split`] at the delimiters
//! (`scheme://authority/path?query`, no fragment), [`query_pairs`], and strict
//! percent-decoding: `%XX` escapes decoded by the `percent-encoding` crate after checking
//! that every `%` starts one (that crate passes a stray `%` through, which would let two
//! spellings of one URI differ), and the result must be UTF-8. `+` is left as it is:
//! callers decoding query strings as forms map it to a space first. What each kind of URI
//! accepts (schemes, parameters) is its crate's.

use std::fmt;

/// Why a percent-encoded text does not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PercentError {
    /// A `%` at this byte offset is not followed by two hex digits.
    BadEscape {
        /// Byte offset of the `%`.
        at: usize,
    },
    /// The escapes decode to bytes that are not UTF-8.
    NotUtf8,
}

impl fmt::Display for PercentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PercentError::BadEscape { at } => write!(
                f,
                "bad escape at byte {at}: '%' must be followed by two hex digits"
            ),
            PercentError::NotUtf8 => f.write_str("escapes do not decode to UTF-8"),
        }
    }
}

impl std::error::Error for PercentError {}

/// Decodes `%XX` escapes in `s`; see the module documentation for the rules.
pub fn percent_decode(s: &str) -> Result<String, PercentError> {
    if let Some(at) = s.match_indices('%').map(|(i, _)| i).find(|&i| {
        !s.get(i + 1..i + 3)
            .is_some_and(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
    }) {
        return Err(PercentError::BadEscape { at });
    }
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| PercentError::NotUtf8)
}

/// A URI taken apart at its delimiters, nothing decoded: `scheme://authority/path?query`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UriParts<'a> {
    /// The scheme as written (RFC 3986: a letter, then letters, digits, `+`, `-`, `.`).
    pub scheme: &'a str,
    /// What stands between `://` and the next `/` (a host, a bucket, a node), raw.
    pub authority: &'a str,
    /// From that `/` up to `?` (empty when there is none), raw.
    pub path: &'a str,
    /// After `?`, raw; `None` without `?`.
    pub query: Option<&'a str>,
}

/// Why a text is not `scheme://…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UriError {
    /// No `://`.
    NotAUri,
    /// The part before `://` is not a scheme.
    BadScheme(String),
    /// A `#` (a fragment): backup and KMS URIs have none; a literal `#` is written `%23`.
    Fragment,
}

impl fmt::Display for UriError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UriError::NotAUri => f.write_str("not a URI (expected scheme://…)"),
            UriError::BadScheme(s) => write!(f, "{s:?} is not a URI scheme"),
            UriError::Fragment => f.write_str("contains '#'; write it as %23"),
        }
    }
}

impl std::error::Error for UriError {}

/// Splits `uri` at `://`, the first `/` after it and the first `?`; refuses a fragment.
pub fn split(uri: &str) -> Result<UriParts<'_>, UriError> {
    let (scheme, rest) = uri.split_once("://").ok_or(UriError::NotAUri)?;
    let valid = scheme
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    if !valid {
        return Err(UriError::BadScheme(scheme.to_string()));
    }
    if rest.contains('#') {
        return Err(UriError::Fragment);
    }
    let (before_query, query) = match rest.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (rest, None),
    };
    let (authority, path) = match before_query.find('/') {
        Some(i) => before_query.split_at(i),
        None => (before_query, ""),
    };
    Ok(UriParts {
        scheme,
        authority,
        path,
        query,
    })
}

/// The `name=value` pairs of a raw query string, in order, nothing decoded (a pair
/// without `=` has an empty value; empty pairs are skipped).
pub fn query_pairs(query: &str) -> impl Iterator<Item = (&str, &str)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_escapes_and_refuses_stray_percents_and_non_utf8() {
        assert_eq!(percent_decode("a%20b%2Fc").unwrap(), "a b/c");
        assert_eq!(percent_decode("%e2%82%ac").unwrap(), "€");
        assert_eq!(percent_decode("a+b").unwrap(), "a+b");
        assert_eq!(percent_decode("").unwrap(), "");
        for (s, at) in [("%", 0), ("x%2", 1), ("%+1", 0), ("ab%zz", 2), ("%20%", 3)] {
            assert_eq!(
                percent_decode(s),
                Err(PercentError::BadEscape { at }),
                "{s}"
            );
        }
        assert_eq!(percent_decode("%ff"), Err(PercentError::NotUtf8));
        // A multi-byte character right after a '%' is not an escape (and not a panic).
        assert_eq!(percent_decode("%€"), Err(PercentError::BadEscape { at: 0 }));
    }

    #[test]
    fn splits_at_the_delimiters_and_refuses_fragments_and_bad_schemes() {
        assert_eq!(
            split("s3://bucket/a/b?X=1&Y").unwrap(),
            UriParts {
                scheme: "s3",
                authority: "bucket",
                path: "/a/b",
                query: Some("X=1&Y"),
            }
        );
        assert_eq!(
            split("aws-kms:///arn:aws:kms:us-east-1:1:key/k?").unwrap(),
            UriParts {
                scheme: "aws-kms",
                authority: "",
                path: "/arn:aws:kms:us-east-1:1:key/k",
                query: Some(""),
            }
        );
        assert_eq!(
            split("nodelocal://1").unwrap(),
            UriParts {
                scheme: "nodelocal",
                authority: "1",
                path: "",
                query: None,
            }
        );
        assert_eq!(split("/srv/x"), Err(UriError::NotAUri));
        assert_eq!(split("1s3://b"), Err(UriError::BadScheme("1s3".into())));
        assert_eq!(split("://b"), Err(UriError::BadScheme(String::new())));
        assert_eq!(split("s_3://b"), Err(UriError::BadScheme("s_3".into())));
        assert_eq!(split("s3://b/p#f"), Err(UriError::Fragment));
        let pairs: Vec<_> = query_pairs("A=1&&B&C=x=y").collect();
        assert_eq!(pairs, vec![("A", "1"), ("B", ""), ("C", "x=y")]);
    }
}
