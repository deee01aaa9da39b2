//! # vouch-verify
//!
//! Offline verification of vouch data, producing *findings* rather than a boolean. It is
//! read-only: it never writes to what it checks, and it never opens a cluster or a
//! database (a dry-run restore's target catalog is handed to it).
//!
//! What it owns: the three levels over collections and the checks each runs, findings and
//! their kinds, reports (JSON, human, JUnit). What it reuses: the read side of a
//! collection, `vouch-chain`, shared with restore. What it must never do: write, depend
//! on `vouch-engine`, `vouch-cluster` or a database.
//!
//! - [`check_sst`] / [`sst_finding`]: one SST file, its problems as located findings.
//! - [`verify_collection`]: the three levels (`metadata`, `schema`, `full`) over a whole
//!   collection or one chain, giving a [`Report`] (findings grouped by chain, layer and
//!   check; JSON schema and every finding kind in `spec/verify-report.md`).
//! - [`render_human`] and [`render_junit`]: the report for people and for CI systems.
//!
//! Modules: `collection` is the orchestrator (it calls the levels, no level calls another);
//! `state` holds what the levels share; `metadata`, `schema_checks`, `sealed`, `data` and
//! `merge` are the levels' checks; `finding`, `report` and `output` are the results;
//! `shard` splits the `full` level's work over processes and merges their reports.

#![forbid(unsafe_code)]

mod collection;
mod data;
mod finding;
mod merge;
mod metadata;
mod output;
mod report;
mod schema_checks;
mod sealed;
mod shard;
mod source;
mod state;
mod tables;

pub use collection::{verify_collection, verify_locality_collection};
pub use finding::{check_sst, sst_finding, Finding, Severity, KINDS};
pub use output::{render_human, render_junit, xml_escape};
pub use report::{
    not_checked_without_key, ChainReport, CheckResult, Error, LayerReport, Level, Progress, Report,
    Shard, ShardInfo, TargetCluster, VerifyOptions, CHECKS, NOT_CHECKED_WITHOUT_KEY,
    REPORT_FORMAT_VERSION,
};
pub use shard::{
    fuzz_merge_parts, merge_reports, read_part, MergeError, PartError, MAX_PART_BYTES,
};
pub use source::FileSource;
