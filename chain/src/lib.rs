//! # vouch-chain
//!
//! The read side of a backup collection, shared by RESTORE (`vouch-engine`) and the
//! offline verifier (`vouch-verify`), so that "verify says it restores" and "restore
//! restores" run one implementation with two policies.
//!
//! What it owns:
//! - `collection`: opening a collection, LATEST, its full backups, and a chain (a full
//!   backup and its incrementals) with each layer's manifest read and checked;
//! - [`layer`]: one layer's manifest, checksum file and listing read with every problem
//!   as a typed value (verify reports all, restore stops at the first);
//! - [`sealed`]: chain keys from the key records, sealed small files, integrity listings,
//!   and data sources over plain and sealed data files;
//! - `plan`: chain checks, CockroachDB's AS OF rules, the descriptors in force at a time;
//! - [`merge`]: the k-way merge of a table's versions across layers;
//! - [`pool`]: the one worker pool parallel passes run on;
//! - `select` and `targets`: what a restore selects, its dependency rules, new ids
//!   and collisions, decided on catalogs alone (a dry run is the same code);
//! - [`Error`] with an [`ErrorKind`] for every case a caller tells apart.
//!
//! What it must never do: write to or delete from a store, open a cluster, or depend on
//! `vouch-engine`, `vouch-cluster` or a database. It depends on `vouch-format`,
//! `vouch-store` and `vouch-keys` only.

#![forbid(unsafe_code)]

mod base;
mod collection;
mod error;
pub mod layer;
pub mod locality;
pub mod merge;
mod plan;
pub mod pool;
pub mod sealed;
mod select;
pub mod source;
mod targets;
mod view_query;

pub use base::{join, Layer};
pub use collection::{
    open_options, Chain, Collection, IncrementalRoot, MissingLocality, OpenChain,
};
pub use error::{Cause, Error, ErrorKind, Result};
pub use plan::{
    check_chain, open_source, open_source_keyed, open_source_lenient, plan, select_layers, Plan,
    Source,
};
pub use select::{
    assign, check_options, check_row, dry_run, qualified, select, select_for, DryRun, Mapping,
    RestoreOptions, Selection, Start,
};
pub use targets::{resolve, resolve_for, Resolved, Targets};

pub(crate) use error::ctx;
