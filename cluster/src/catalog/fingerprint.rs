//! Index fingerprints of the live data (spec/fingerprint.md).

use std::collections::BTreeMap;

use vouch_format::keys;
use vouch_format::mvcc::Timestamp;
use vouch_format::schema::index_layouts;

use super::descriptors::Cluster;
use crate::Result;

/// A table's fingerprint for one index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexFingerprint {
    /// Database name.
    pub database: String,
    /// Table name.
    pub table: String,
    /// Table id.
    pub table_id: u64,
    /// Index name.
    pub index: String,
    /// Index id.
    pub index_id: u32,
    /// The fingerprint.
    pub fingerprint: u64,
    /// Live entries.
    pub entries: u64,
}

impl Cluster {
    /// Fingerprints of every index of every table live at `as_of` (user tables and
    /// `system.users`), ordered by database, table and index id.
    pub fn fingerprints(&self, as_of: Timestamp) -> Result<Vec<IndexFingerprint>> {
        let cat = self.catalog(as_of)?;
        let mut out = Vec::new();
        for t in cat.tables() {
            let (db, _) = cat.qualifiers(t);
            let layouts = index_layouts(t)?;
            let fps = self.index_fingerprints(t.id, as_of)?;
            for l in &layouts {
                let fp = fps.get(&u64::from(l.id)).copied().unwrap_or_default();
                out.push(IndexFingerprint {
                    database: db.clone(),
                    table: t.name.clone(),
                    table_id: t.id,
                    index: l.name.clone(),
                    index_id: l.id,
                    fingerprint: fp.hash,
                    entries: fp.entries,
                });
            }
        }
        out.sort_by(|a, b| {
            (&a.database, &a.table, a.index_id).cmp(&(&b.database, &b.table, b.index_id))
        });
        Ok(out)
    }

    /// Fingerprints of every index of table `table_id` at `as_of`, by index id (indexes
    /// without entries absent).
    pub fn index_fingerprints(
        &self,
        table_id: u64,
        as_of: Timestamp,
    ) -> Result<BTreeMap<u64, vouch_format::fingerprint::Fingerprint>> {
        let mut fps: BTreeMap<u64, vouch_format::fingerprint::Fingerprint> = BTreeMap::new();
        let (s, e) = keys::table_span(table_id);
        self.kv.scan(&s, &e, as_of, |k, v| {
            let (_, index, n) = keys::decode_table_prefix(k)?;
            fps.entry(index)
                .or_default()
                .add_suffix(k.get(n..).unwrap_or_default(), v);
            Ok(())
        })?;
        Ok(fps)
    }
}
