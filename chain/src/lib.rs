//! # vouch-chain
//!
//! The read side of a backup collection, shared by RESTORE (`vouch-engine`) and the
//! offline verifier (`vouch-verify`), so that "verify says it restores" and "restore
//! restores" run one implementation with two policies.
//!
//! What it owns:
//! - [`collection`]: opening a collection, LATEST, its full backups, and a chain (a full
//!   backup and its incrementals) with each layer's manifest read and checked;
//! - [`layer`]: one layer's manifest, checksum file and listing read with every problem
//!   as a typed value (verify reports all, restore stops at the first);
//! - [`sealed`]: chain keys from the key records, sealed small files, integrity listings,
//!   and data sources over plain and sealed data files;
//! - [`plan`]: chain checks, CockroachDB's AS OF rules, the descriptors in force at a time;
//! - [`merge`]: the k-way merge of a table's versions across layers;
//! - [`pool`]: the one worker pool parallel passes run on;
//! - [`select`] and [`targets`]: what a restore selects, its dependency rules, new ids
//!   and collisions, decided on catalogs alone (a dry run is the same code);
//! - [`Error`] with an [`ErrorKind`] for every case a caller tells apart.
//!
//! What it must never do: write to or delete from a store, open a cluster, or depend on
//! `vouch-engine`, `vouch-cluster` or a database. It depends on `vouch-format`,
//! `vouch-store` and `vouch-keys` only.

#![forbid(unsafe_code)]

pub mod collection;
mod error;
pub mod layer;
pub mod merge;
pub mod plan;
pub mod pool;
pub mod sealed;
pub mod select;
pub mod targets;

pub use collection::{Chain, Collection, Layer, OpenChain};
pub use error::{Cause, Error, ErrorKind, Result};
pub use plan::{plan, Plan, Source};
pub use select::{dry_run, DryRun, RestoreOptions};
pub use targets::Targets;

pub(crate) use error::ctx;
