//! vouch-verify: offline verification (grows with the verify issue).
#![forbid(unsafe_code)]

