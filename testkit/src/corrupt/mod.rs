//! Corruption generator: turns a clean collection into damaged copies, one per corruption
//! kind, each with the lowest verification level that must catch it and the finding kinds
//! (and file, block, byte range) that level must report.
//!
//! Used by the corruption suite (`verify/tests/corruption.rs`, described in
//! `testdata/corruption/README.md`) and the `verify_full` fuzz target. Collections are
//! write-once in normal use: this module edits *copies* on the local filesystem directly
//! (`std::fs`), never through `vouch_store`, and never touches the source tree.
//!
//! [`cases`] reads a clean collection (manifests, the SSTs' block layout, LATEST) and
//! plans the cases; [`apply`] copies the tree and performs one. SST regions are located
//! through the SST reader's footer and by decoding the index and metaindex blocks, so "a
//! byte flipped in the SST index" lands in the index block (and the case records the
//! block's byte range so a test can check where the finding points).
//!
//! Modules: [`Case`] and [`Action`] (what a case is), `cases` (planning), `apply`
//! (performing), `regions` (where an SST's blocks are), `fuzz` (the `verify_full` oracle);
//! `layers` and `rows` are their shared readers and row rewriter.

mod apply;
mod case;
mod cases;
mod err;
mod fuzz;
mod layers;
mod regions;
mod rows;

pub use apply::{apply, apply_keyed, perform, perform_keyed};
pub use case::{Action, Case, ManifestEdit, DANGLING_DATABASE_ID};
pub use cases::{cases, cases_keyed, SKIPPED_WHEN_ENCRYPTED};
pub use fuzz::{fuzz_base, fuzz_mutations, fuzz_verify_full, mutate, protected_files, Mutation};
pub use regions::{sst_regions, with_trailer, SstRegions};
