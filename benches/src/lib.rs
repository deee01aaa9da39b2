//! Seeded inputs for the benches.
#![forbid(unsafe_code)]
