//! Ranges: one per table, spread over the configured regions, with their localities.

use vouch_format::keys;
use vouch_format::mvcc::Timestamp;

use super::descriptors::Cluster;
use crate::Result;

/// Regions ranges are spread over unless configured otherwise.
pub const DEFAULT_REGIONS: &[&str] = &["us-east1", "us-west1", "europe-west1"];

/// A range: one table's span and where its replicas live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    /// The table.
    pub table_id: u64,
    /// Span start (inclusive).
    pub start: Vec<u8>,
    /// Span end (exclusive).
    pub end: Vec<u8>,
    /// `region=…`.
    pub locality: String,
}

impl Cluster {
    /// The ranges live at `as_of`: one per table, spread over the configured regions.
    pub fn ranges(&self, as_of: Timestamp) -> Result<Vec<Range>> {
        let regions = self.regions()?;
        let cat = self.catalog(as_of)?;
        let mut out = Vec::new();
        for t in cat.tables() {
            let (start, end) = keys::table_span(t.id);
            let n = regions.len().max(1) as u64;
            let region = usize::try_from(t.id % n)
                .ok()
                .and_then(|i| regions.get(i))
                .cloned()
                .unwrap_or_default();
            out.push(Range {
                table_id: t.id,
                start,
                end,
                locality: format!("region={region}"),
            });
        }
        Ok(out)
    }

    /// The regions ranges are spread over.
    pub fn regions(&self) -> Result<Vec<String>> {
        Ok(match self.kv.setting("regions")? {
            Some(v) => String::from_utf8_lossy(&v)
                .split(',')
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect(),
            None => DEFAULT_REGIONS.iter().map(|s| s.to_string()).collect(),
        })
    }

    /// Sets the regions (comma-separated in storage).
    pub fn set_regions(&self, regions: &[&str]) -> Result<()> {
        self.kv.set_setting("regions", regions.join(",").as_bytes())
    }
}
