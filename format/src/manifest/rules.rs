//! Rules one layer's manifest must keep on its own, whatever its data: each broken rule is
//! a typed [`Inconsistency`]. The chain's layer reader runs them on every manifest it
//! decodes, so restore refuses what verify reports (see `spec/manifest.md`, "Layer rules").

use std::collections::BTreeSet;

use super::pb;
use crate::keys;
use crate::mvcc::Timestamp;

/// One rule a manifest breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Inconsistency {
    /// `files` names the same path more than once (its rows would be read twice).
    FileListedTwice {
        /// The path.
        path: String,
    },
    /// Two files' `[first_key, last_key]` ranges intersect: the writer never writes a key
    /// range into two files, so one MVCC key may be stored twice.
    FileBoundsOverlap {
        /// The file whose range starts first.
        first: String,
        /// The file starting inside it.
        second: String,
    },
    /// A full backup's `start_time` is not 0, or a layer ends before it starts.
    StartTime {
        /// The start time.
        start: Timestamp,
        /// The end time.
        end: Timestamp,
    },
    /// `mvcc_filter` is not a value the format knows.
    MvccFilter {
        /// The stored value.
        value: i32,
    },
    /// `revision_start_time` disagrees with `mvcc_filter` and the layer's window.
    RevisionStart {
        /// What is wrong.
        reason: String,
    },
    /// A span is empty, not a table's span, or not in increasing order.
    Spans {
        /// What is wrong.
        reason: String,
    },
    /// `introduced_spans` in a full backup, out of order, or not among `spans`.
    IntroducedSpans {
        /// What is wrong.
        reason: String,
    },
}

impl std::fmt::Display for Inconsistency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Inconsistency::FileListedTwice { path } => {
                write!(f, "file {path} is listed more than once")
            }
            Inconsistency::FileBoundsOverlap { first, second } => write!(
                f,
                "the key ranges of files {first} and {second} overlap (the writer never writes one key range into two files)"
            ),
            Inconsistency::StartTime { start, end } => write!(
                f,
                "start time {start} and end time {end}: a full backup starts at 0, and no layer ends before it starts"
            ),
            Inconsistency::MvccFilter { value } => write!(f, "unknown mvcc_filter {value}"),
            Inconsistency::RevisionStart { reason } => write!(f, "revision_start_time: {reason}"),
            Inconsistency::Spans { reason } => write!(f, "spans: {reason}"),
            Inconsistency::IntroducedSpans { reason } => write!(f, "introduced_spans: {reason}"),
        }
    }
}

fn span_text(s: &pb::Span) -> String {
    format!("[{}, {})", hex_of(&s.start), hex_of(&s.end))
}

fn hex_of(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// True when `s` is exactly `[/Table/<id>, /Table/<id+1>)` for some id.
fn is_table_span(s: &pb::Span) -> bool {
    let mut cur = crate::cursor::Cursor::new(&s.start);
    let Ok(id) = keys::decode_ordered_uvarint(&mut cur, "span start") else {
        return false;
    };
    if !cur.is_empty() {
        return false;
    }
    let (a, b) = keys::table_span(id);
    a == s.start && b == s.end
}

/// Spans strictly increasing, each a table's span.
fn span_problem(spans: &[pb::Span]) -> Option<String> {
    for s in spans {
        if !is_table_span(s) {
            return Some(format!("{} is not a table's span", span_text(s)));
        }
    }
    for w in spans.windows(2) {
        if let [a, b] = w {
            if b.start < a.end {
                return Some(format!(
                    "{} does not follow {} in increasing order",
                    span_text(b),
                    span_text(a)
                ));
            }
        }
    }
    None
}

/// Every rule `m` breaks; `is_full`: it is a full backup (no `previous`).
pub fn check_layer(m: &pb::BackupManifest, is_full: bool) -> Vec<Inconsistency> {
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for f in &m.files {
        if !seen.insert(f.path.as_str()) {
            out.push(Inconsistency::FileListedTwice {
                path: f.path.clone(),
            });
        }
    }
    let mut ranges: Vec<&pb::File> = m.files.iter().filter(|f| f.entries > 0).collect();
    ranges.sort_by(|a, b| a.first_key.cmp(&b.first_key).then(a.path.cmp(&b.path)));
    let mut reported = BTreeSet::new();
    for w in ranges.windows(2) {
        if let [a, b] = w {
            if a.path != b.path && b.first_key <= a.last_key && reported.insert(b.path.as_str()) {
                out.push(Inconsistency::FileBoundsOverlap {
                    first: a.path.clone(),
                    second: b.path.clone(),
                });
            }
        }
    }
    let (start, end) = (
        Timestamp::from_pb(m.start_time),
        Timestamp::from_pb(m.end_time),
    );
    if (is_full && start != Timestamp::MIN) || end < start {
        out.push(Inconsistency::StartTime { start, end });
    }
    let rev = m.revision_start_time.map(Timestamp::from);
    match pb::MvccFilter::try_from(m.mvcc_filter) {
        Err(_) => out.push(Inconsistency::MvccFilter {
            value: m.mvcc_filter,
        }),
        Ok(pb::MvccFilter::Latest) => {
            if let Some(r) = rev {
                out.push(Inconsistency::RevisionStart {
                    reason: format!("{r} is set, but the layer has no revision history"),
                });
            }
        }
        Ok(pb::MvccFilter::All) => match rev {
            None => out.push(Inconsistency::RevisionStart {
                reason: "absent, but the layer has revision history".into(),
            }),
            Some(r) if !is_full && r != start => out.push(Inconsistency::RevisionStart {
                reason: format!("{r} in an incremental that starts at {start}"),
            }),
            Some(r) if r > end => out.push(Inconsistency::RevisionStart {
                reason: format!("{r} is after the layer's end {end}"),
            }),
            Some(_) => {}
        },
    }
    if let Some(reason) = span_problem(&m.spans) {
        out.push(Inconsistency::Spans { reason });
    }
    let spans: BTreeSet<(&[u8], &[u8])> = m
        .spans
        .iter()
        .map(|s| (s.start.as_slice(), s.end.as_slice()))
        .collect();
    let intro = if is_full && !m.introduced_spans.is_empty() {
        Some("a full backup introduces no span (all of its spans start at time 0)".to_string())
    } else if let Some(s) = m
        .introduced_spans
        .iter()
        .find(|s| !spans.contains(&(s.start.as_slice(), s.end.as_slice())))
    {
        Some(format!("{} is not among the layer's spans", span_text(s)))
    } else {
        span_problem(&m.introduced_spans)
    };
    if let Some(reason) = intro {
        out.push(Inconsistency::IntroducedSpans { reason });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(id: u64) -> pb::Span {
        let (start, end) = keys::table_span(id);
        pb::Span { start, end }
    }

    fn file(path: &str, first: &[u8], last: &[u8]) -> pb::File {
        pb::File {
            path: path.into(),
            first_key: first.to_vec(),
            last_key: last.to_vec(),
            entries: 1,
            ..Default::default()
        }
    }

    fn ts(w: u64) -> Option<pb::Timestamp> {
        Some(pb::Timestamp {
            wall: w,
            logical: 0,
        })
    }

    fn full() -> pb::BackupManifest {
        pb::BackupManifest {
            start_time: None,
            end_time: ts(10),
            mvcc_filter: pb::MvccFilter::All as i32,
            revision_start_time: ts(3),
            spans: vec![span(100), span(101)],
            files: vec![file("a", b"a", b"c"), file("b", b"d", b"f")],
            ..Default::default()
        }
    }

    #[test]
    fn a_written_layer_keeps_every_rule() {
        assert_eq!(check_layer(&full(), true), vec![]);
        let mut inc = full();
        inc.start_time = ts(10);
        inc.end_time = ts(20);
        inc.revision_start_time = ts(10);
        inc.introduced_spans = vec![span(101)];
        assert_eq!(check_layer(&inc, false), vec![]);
        let mut latest = full();
        latest.mvcc_filter = pb::MvccFilter::Latest as i32;
        latest.revision_start_time = None;
        // Empty files have no key range.
        latest.files.push(pb::File {
            path: "empty".into(),
            ..Default::default()
        });
        assert_eq!(check_layer(&latest, true), vec![]);
    }

    #[test]
    fn each_rule_is_its_own_inconsistency() {
        let mut m = full();
        m.files.push(file("a", b"a", b"c"));
        assert_eq!(
            check_layer(&m, true),
            vec![Inconsistency::FileListedTwice { path: "a".into() }]
        );
        let mut m = full();
        m.files.push(file("x", b"b", b"b"));
        assert_eq!(
            check_layer(&m, true),
            vec![Inconsistency::FileBoundsOverlap {
                first: "a".into(),
                second: "x".into()
            }]
        );
        let mut m = full();
        m.start_time = ts(1);
        assert!(matches!(
            check_layer(&m, true).as_slice(),
            [Inconsistency::StartTime { .. }]
        ));
        let mut m = full();
        m.mvcc_filter = 7;
        assert_eq!(
            check_layer(&m, true),
            vec![Inconsistency::MvccFilter { value: 7 }]
        );
        for (filter, rev, is_full) in [
            (0, ts(3), true),
            (1, None, true),
            (1, ts(11), true),
            (1, ts(3), false),
        ] {
            let mut m = full();
            m.mvcc_filter = filter;
            m.revision_start_time = rev;
            if !is_full {
                m.start_time = ts(2);
            }
            assert!(
                matches!(
                    check_layer(&m, is_full).as_slice(),
                    [Inconsistency::RevisionStart { .. }]
                ),
                "{filter} {rev:?} {is_full}"
            );
        }
        let mut m = full();
        m.spans.reverse();
        assert!(matches!(
            check_layer(&m, true).as_slice(),
            [Inconsistency::Spans { .. }]
        ));
        let mut m = full();
        m.spans[0].end = m.spans[1].end.clone();
        assert!(matches!(
            check_layer(&m, true).as_slice(),
            [Inconsistency::Spans { .. }]
        ));
        let mut m = full();
        m.introduced_spans = vec![span(100)];
        assert!(matches!(
            check_layer(&m, true).as_slice(),
            [Inconsistency::IntroducedSpans { .. }]
        ));
        m.start_time = ts(1);
        m.revision_start_time = ts(1);
        m.introduced_spans = vec![span(102)];
        assert!(matches!(
            check_layer(&m, false).as_slice(),
            [Inconsistency::IntroducedSpans { .. }]
        ));
    }
}
