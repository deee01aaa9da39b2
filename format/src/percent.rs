//! Strict percent-decoding for URIs (storage and KMS): `%XX` escapes decoded by the
//! `percent-encoding` crate after checking that every `%` starts one (that crate passes a
//! stray `%` through, which would let two spellings of one URI differ), and the result must
//! be UTF-8. `+` is left as it is: callers decoding query strings map it to a space first.

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
}
