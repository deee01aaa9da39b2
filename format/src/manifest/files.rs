//! Rules each entry of a data file keeps with its manifest entry and its layer, and the
//! counts a file's entries must give: one implementation for verify's file pass and for
//! the chain's merge that restore reads through.

use super::pb;
use crate::mvcc::Timestamp;

/// A layer's window and spans, as its files' entries must respect them.
#[derive(Debug, Clone, Copy)]
pub struct LayerWindow<'m> {
    start: Timestamp,
    end: Timestamp,
    is_full: bool,
    spans: &'m [pb::Span],
    introduced: &'m [pb::Span],
}

/// Where an entry breaks a rule of its file or layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryProblem {
    /// The MVCC key is outside the file's recorded `first_key..=last_key`.
    FileBounds,
    /// The user key is outside the file's recorded span.
    FileSpan,
    /// The user key is outside every span of the layer.
    LayerSpans,
    /// The timestamp is after the layer's end or, in an incremental outside its introduced
    /// spans, at or before its start.
    LayerWindow,
    /// The timestamp is outside the file's recorded `min_ts..=max_ts`.
    FileTimes,
}

impl EntryProblem {
    /// What the rule is, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            EntryProblem::FileBounds => "key outside the file's recorded first_key..last_key",
            EntryProblem::FileSpan => "key outside the file's recorded span",
            EntryProblem::LayerSpans => "key outside every span of the layer",
            EntryProblem::LayerWindow => "timestamp outside the layer's window",
            EntryProblem::FileTimes => "timestamp outside the file's recorded min_ts..max_ts",
        }
    }
}

fn in_spans(spans: &[pb::Span], user: &[u8]) -> bool {
    spans
        .iter()
        .any(|s| user >= s.start.as_slice() && user < s.end.as_slice())
}

impl<'m> LayerWindow<'m> {
    /// The window of the layer whose manifest is `m`.
    pub fn of(m: &'m pb::BackupManifest, is_full: bool) -> Self {
        LayerWindow {
            start: Timestamp::from_pb(m.start_time),
            end: Timestamp::from_pb(m.end_time),
            is_full,
            spans: &m.spans,
            introduced: &m.introduced_spans,
        }
    }

    /// The layer's start and end times.
    pub fn times(&self) -> (Timestamp, Timestamp) {
        (self.start, self.end)
    }

    /// Every rule the entry (MVCC key `mvcc_key`, decoded as `user` at `ts`) of file `f`
    /// breaks, in the order [`EntryProblem`] lists them (a timestamp outside the layer's
    /// window is not also reported against the file's times).
    pub fn check(
        &self,
        f: &pb::File,
        mvcc_key: &[u8],
        user: &[u8],
        ts: Timestamp,
    ) -> Vec<EntryProblem> {
        let mut out = Vec::new();
        if mvcc_key < f.first_key.as_slice() || mvcc_key > f.last_key.as_slice() {
            out.push(EntryProblem::FileBounds);
        }
        let span = f.span.as_ref();
        let (s, e) = span.map_or((&[][..], &[][..]), |s| {
            (s.start.as_slice(), s.end.as_slice())
        });
        if user < s || user >= e {
            out.push(EntryProblem::FileSpan);
        }
        if !in_spans(self.spans, user) {
            out.push(EntryProblem::LayerSpans);
        }
        let lower_ok = self.is_full || ts > self.start || in_spans(self.introduced, user);
        if ts > self.end || !lower_ok {
            out.push(EntryProblem::LayerWindow);
        } else if ts < Timestamp::from_pb(f.min_ts) || ts > Timestamp::from_pb(f.max_ts) {
            out.push(EntryProblem::FileTimes);
        }
        out
    }
}

/// The counts a file's entries give, as its manifest entry records them.
#[derive(Debug, Clone, Default)]
pub struct FileCounts {
    /// Entries (versions).
    pub entries: u64,
    /// Tombstones.
    pub tombstones: u64,
    /// User keys of the primary index whose newest version in the file is live.
    pub rows: u64,
    last_user: Option<Vec<u8>>,
}

impl FileCounts {
    /// Counts one entry (in file order) of user key `user`: a tombstone when not `live`;
    /// `primary` when the key is in its table's primary index.
    pub fn add(&mut self, user: &[u8], live: bool, primary: bool) {
        self.entries += 1;
        if !live {
            self.tombstones += 1;
        }
        match &mut self.last_user {
            Some(last) if last.as_slice() == user => {}
            slot => {
                if live && primary {
                    self.rows += 1;
                }
                // The buffer is reused: no allocation per key once it is big enough.
                let last = slot.get_or_insert_with(Vec::new);
                last.clear();
                last.extend_from_slice(user);
            }
        }
    }

    /// Counts one entry whose key does not decode (it counts as an entry only).
    pub fn add_undecodable(&mut self) {
        self.entries += 1;
    }

    /// Each count that differs from `f`'s: (name, recorded, found).
    pub fn mismatches(&self, f: &pb::File) -> Vec<(&'static str, u64, u64)> {
        [
            ("entries", f.entries, self.entries),
            ("tombstones", f.tombstones, self.tombstones),
            ("rows", f.rows, self.rows),
        ]
        .into_iter()
        .filter(|(_, r, c)| r != c)
        .collect()
    }
}
