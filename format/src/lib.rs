//! # vouch-format
//!
//! Bytes to types and back for everything vouch stores: RocksDB-compatible block-based
//! SST files (format_version 2), MVCC keys and values, order-preserving table keys, and
//! row values. This crate is pure: it works on `&[u8]`, `Read` and `Write`, never on paths,
//! the network or the clock. It never panics on any input; lengths and counts are checked
//! against limits before anything is allocated. The normative description of every byte is
//! in the repository's `spec/` folder.

#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::unreachable
    )
)]

pub mod crc;
pub mod cursor;
pub mod decimal;
pub mod encryption_info;
pub mod entry;
pub mod envelope;
mod error;
pub mod fingerprint;
#[doc(hidden)]
pub mod fuzzing;
mod json;
pub mod keys;
pub mod layout;
pub mod locality;
pub mod manifest;
pub mod mvcc;
pub mod row;
pub mod schema;
pub mod sst;
pub mod time;
pub mod uri;

pub use error::{BlockKind, Category, Error, HexBytes, Result};
