//! # vouch-testkit
//!
//! Tools the tests, benchmarks and fuzz targets of the other crates share. It is
//! `publish = false` and only ever a dev-dependency (or a dependency of `benches/` and
//! `fuzz/`): nothing in the product links it.
//!
//! - [`corrupt`]: the corruption generator — damaged copies of a clean collection, each
//!   with the verification level and finding kinds that must catch it, and the
//!   `verify_full` fuzz oracle. It writes files, so it does not live in the read-only
//!   `vouch-verify`.
//! - [`tree`]: list, copy and snapshot a directory tree (the "nothing was written" proof).
//! - [`bench`]: the clusters the benchmarks back up.
//! - [`servers`]: real servers for tests (S3, Azure, WebDAV, a GCS emulator), started by the
//!   project's scripts.
//!
//! It may depend on any vouch crate; no vouch crate but `benches/` depends on it outside
//! `[dev-dependencies]`.

#![forbid(unsafe_code)]

pub mod bench;
pub mod chains;
pub mod corrupt;
pub mod servers;
pub mod tree;
