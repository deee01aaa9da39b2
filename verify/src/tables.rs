//! Helpers on a chain's tables shared by the `full` level's passes: which tables have
//! data, which are fully known, and a capped list of findings per file or table.

use vouch_format::keys;
use vouch_format::manifest::pb;
use vouch_format::schema::{self, Kind};

use crate::finding::Finding;

/// Stop collecting per-check findings of one file after this many (the file is clearly
/// damaged; the count of the rest is reported in one more finding).
const PER_FILE_FINDINGS: usize = 100;

#[derive(Default)]
pub(crate) struct Limited {
    pub v: Vec<Finding>,
    pub dropped: usize,
}

impl Limited {
    pub(crate) fn push(&mut self, f: Finding) {
        if self.v.len() < PER_FILE_FINDINGS {
            self.v.push(f);
        } else {
            self.dropped += 1;
        }
    }
}

/// True when no span in `unknown` overlaps table `id`.
pub(crate) fn table_known(unknown: &[pb::Span], id: u64) -> bool {
    let mut a = Vec::new();
    keys::encode_ordered_uvarint(id, &mut a);
    let mut b = Vec::new();
    keys::encode_ordered_uvarint(id.saturating_add(1), &mut b);
    !unknown
        .iter()
        .any(|s| s.start.as_slice() < b.as_slice() && a.as_slice() < s.end.as_slice())
}

/// The tables of a layer whose rows are backed up (and so fingerprinted).
pub(crate) fn tables_with_data(m: &pb::BackupManifest) -> impl Iterator<Item = &pb::Descriptor> {
    m.descriptors.iter().filter(|d| {
        Kind::of(d) == Some(Kind::Table)
            && d.state == pb::DescriptorState::Public as i32
            && schema::table(d).is_some_and(|t| !t.exclude_data_from_backup)
    })
}
