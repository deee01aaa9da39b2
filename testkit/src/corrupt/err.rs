//! `io::Error`s for a collection the generator cannot plan or change.

use std::io;

pub(super) fn invalid(what: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

pub(super) fn format_err(path: &str, e: vouch_format::Error) -> io::Error {
    invalid(format!("{path}: {e}"))
}
