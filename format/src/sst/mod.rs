//! SST
