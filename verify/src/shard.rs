//! `--shard K/N`: a verification split over N processes, and `merge` of their reports into
//! the report one unsharded run gives (spec/verify-report.md §7).
//!
//! The work of the `full` level is cut into *units*: per chain, the tables with every file
//! (of every layer) whose span overlaps them — tables that share a file are one unit, so
//! the per-table merge of every layer's end runs whole in one shard — and every file that
//! overlaps no table on its own. Units are dealt by stored bytes, largest first, each to the
//! least loaded shard (lowest index on ties), over all chains together: the same
//! manifests give every shard the same plan. Every shard runs the `metadata` and `schema`
//! levels (cheap), but only shard 1 reports them: the other shards report only the `data`,
//! `indexes` and `fingerprints` findings of what they own.

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha256};
use vouch_format::keys;
use vouch_format::schema::Kind;

use crate::finding::Finding;
use crate::report::{CheckResult, Report, Shard, REPORT_FORMAT_VERSION};
use crate::state::{ChainState, Which};

/// The checks whose findings a shard other than 1 reports: the ones over owned work.
pub(crate) const OWNED_CHECKS: &[&str] = &["data", "indexes", "fingerprints"];

/// What one shard checks of one chain at the `full` level.
#[derive(Debug, Clone, Default)]
pub(crate) struct Owned {
    /// Per layer, per manifest file: owned.
    files: Vec<Vec<bool>>,
    /// Tables owned (all their files, in every layer, are owned).
    tables: BTreeSet<u64>,
}

impl Owned {
    /// True when file `fi` of layer `li` is this shard's.
    pub(crate) fn file(&self, li: usize, fi: usize) -> bool {
        self.files
            .get(li)
            .and_then(|l| l.get(fi))
            .copied()
            .unwrap_or(false)
    }

    /// True when table `id` is this shard's.
    pub(crate) fn table(&self, id: u64) -> bool {
        self.tables.contains(&id)
    }
}

/// One unit of work: files of one chain (layer, index), the tables they cover, their bytes.
#[derive(Debug)]
struct Unit {
    chain: usize,
    bytes: u64,
    tables: Vec<u64>,
    files: Vec<(usize, usize)>,
}

impl Unit {
    /// The deterministic order of dealing: bytes descending, then chain, first table,
    /// first file.
    fn order_key(&self) -> (std::cmp::Reverse<u64>, usize, u64, (usize, usize)) {
        (
            std::cmp::Reverse(self.bytes),
            self.chain,
            self.tables.first().copied().unwrap_or(u64::MAX),
            self.files
                .first()
                .copied()
                .unwrap_or((usize::MAX, usize::MAX)),
        )
    }
}

/// Union-find over table positions.
fn find(parent: &mut [usize], mut i: usize) -> usize {
    while let Some(&p) = parent.get(i) {
        if p == i {
            break;
        }
        let gp = parent.get(p).copied().unwrap_or(p);
        if let Some(x) = parent.get_mut(i) {
            *x = gp;
        }
        i = gp;
    }
    i
}

/// The units of one chain.
fn units_of(ci: usize, c: &ChainState) -> Vec<Unit> {
    // Every table any layer describes, sorted by id (and so by key).
    let ids: Vec<u64> = c
        .layers
        .iter()
        .filter_map(|l| l.manifest.as_ref())
        .flat_map(|m| m.descriptors.iter())
        .filter(|d| Kind::of(d) == Some(Kind::Table))
        .map(|d| d.id)
        .collect::<BTreeSet<u64>>()
        .into_iter()
        .collect();
    let spans: Vec<(Vec<u8>, Vec<u8>)> = ids.iter().map(|&id| keys::table_span(id)).collect();
    let mut parent: Vec<usize> = (0..ids.len()).collect();
    // Per file: the first table it overlaps (after the unions: its unit), or none.
    let mut placed: Vec<((usize, usize), u64, Option<usize>)> = Vec::new();
    for (li, l) in c.layers.iter().enumerate() {
        let Some(m) = &l.manifest else { continue };
        for (fi, f) in m.files.iter().enumerate() {
            let mut first = None;
            if let Some(sp) = &f.span {
                // Tables whose span ends after the file's span starts, while they start
                // before it ends.
                let from = spans.partition_point(|(_, e)| e.as_slice() <= sp.start.as_slice());
                for (ti, (s, _)) in spans.iter().enumerate().skip(from) {
                    if s.as_slice() >= sp.end.as_slice() {
                        break;
                    }
                    match first {
                        None => first = Some(ti),
                        Some(t0) => {
                            let (a, b) = (find(&mut parent, t0), find(&mut parent, ti));
                            if let Some(x) = parent.get_mut(b) {
                                *x = a;
                            }
                        }
                    }
                }
            }
            placed.push(((li, fi), f.size, first));
        }
    }
    let mut by_root: BTreeMap<usize, Unit> = BTreeMap::new();
    for ti in 0..ids.len() {
        let r = find(&mut parent, ti);
        let u = by_root.entry(r).or_insert_with(|| Unit {
            chain: ci,
            bytes: 0,
            tables: Vec::new(),
            files: Vec::new(),
        });
        if let Some(&id) = ids.get(ti) {
            u.tables.push(id);
        }
    }
    let mut alone = Vec::new();
    for (at, bytes, first) in placed {
        match first
            .map(|t| find(&mut parent, t))
            .and_then(|r| by_root.get_mut(&r))
        {
            Some(u) => {
                u.bytes = u.bytes.saturating_add(bytes);
                u.files.push(at);
            }
            None => alone.push(Unit {
                chain: ci,
                bytes,
                tables: Vec::new(),
                files: vec![at],
            }),
        }
    }
    by_root.into_values().chain(alone).collect()
}

/// What `shard` owns of each chain, with the count and stored bytes of its units.
pub(crate) fn assign(chains: &[ChainState], shard: Shard) -> (Vec<Owned>, u64, u64) {
    let mut units: Vec<Unit> = chains
        .iter()
        .enumerate()
        .flat_map(|(ci, c)| units_of(ci, c))
        .collect();
    units.sort_by_key(Unit::order_key);
    let weights: Vec<u64> = units.iter().map(|u| u.bytes).collect();
    let dealt = deal(&weights, shard.count);
    let mut owned: Vec<Owned> = chains
        .iter()
        .map(|c| Owned {
            files: c
                .layers
                .iter()
                .map(|l| vec![false; l.manifest.as_ref().map_or(0, |m| m.files.len())])
                .collect(),
            tables: BTreeSet::new(),
        })
        .collect();
    let (mut n, mut bytes) = (0u64, 0u64);
    for (u, s) in units.into_iter().zip(dealt) {
        if s != shard.index {
            continue;
        }
        n += 1;
        bytes = bytes.saturating_add(u.bytes);
        let Some(o) = owned.get_mut(u.chain) else {
            continue;
        };
        o.tables.extend(u.tables.iter().copied());
        for (li, fi) in u.files {
            if let Some(x) = o.files.get_mut(li).and_then(|l| l.get_mut(fi)) {
                *x = true;
            }
        }
    }
    (owned, n, bytes)
}

/// Deals units of `weights` (in dealing order: largest first) to `count` shards: each to
/// the shard with the fewest bytes so far, the lowest index on ties. Returns the 1-based
/// shard of each unit.
fn deal(weights: &[u64], count: u32) -> Vec<u32> {
    let mut load = vec![0u64; count.max(1) as usize];
    weights
        .iter()
        .map(|&w| {
            let (s, _) = load
                .iter()
                .enumerate()
                .min_by_key(|(i, b)| (**b, *i))
                .unwrap_or((0, &0));
            if let Some(b) = load.get_mut(s) {
                *b = b.saturating_add(w);
            }
            u32::try_from(s + 1).unwrap_or(u32::MAX)
        })
        .collect()
}

/// What every shard of one run must agree on, hashed (hex): see `ShardInfo::plan`.
pub(crate) fn plan(chains: &[ChainState], shard: Shard, what: &[(&str, String)]) -> String {
    let mut h = Sha256::new();
    let mut line = |k: &str, v: &str| {
        h.update(k.as_bytes());
        h.update(b"=");
        h.update(v.as_bytes());
        h.update(b"\n");
    };
    line("vouch-verify-shard-plan", "1");
    line("count", &shard.count.to_string());
    for (k, v) in what {
        line(k, v);
    }
    for c in chains {
        line("chain", &c.full);
        for l in &c.layers {
            let part;
            let which = match l.which {
                Which::Main => "main",
                Which::Inc => "inc",
                Which::Part(i) => {
                    part = format!("part{i}");
                    part.as_str()
                }
            };
            let sha = l.bytes.as_ref().map_or_else(
                || "unreadable".to_string(),
                |b| hex::encode(Sha256::digest(b)),
            );
            line("layer", &format!("{which} {} {sha}", l.dir));
        }
    }
    hex::encode(h.finalize())
}

/// Why reports could not be merged.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MergeError {
    /// No report was given.
    #[error("no shard reports given")]
    Empty,
    /// A report is not a shard's (no `shard` section).
    #[error("report {part} is not a shard's report (it has no \"shard\" section: run verify with --shard K/N)")]
    NotAShard {
        /// Its position among the arguments (1-based).
        part: usize,
    },
    /// A report of another report format version.
    #[error("report {part} has report format version {found}, this vouch reads {expected}")]
    FormatVersion {
        /// Its position (1-based).
        part: usize,
        /// What it has.
        found: u32,
        /// What this vouch writes.
        expected: u32,
    },
    /// Reports of different runs (plans, counts, levels or options differ).
    #[error("report {part} is shard {index}/{count} of another run than report 1 (its {field} differs): merge the parts of one run")]
    OtherRun {
        /// Its position (1-based).
        part: usize,
        /// Its shard.
        index: u32,
        /// Its count.
        count: u32,
        /// What differs.
        field: &'static str,
    },
    /// A shard given twice.
    #[error("shard {index}/{count} is given twice (reports {first} and {second})")]
    Duplicate {
        /// The shard.
        index: u32,
        /// The count.
        count: u32,
        /// First position.
        first: usize,
        /// Second position.
        second: usize,
    },
    /// Shards missing.
    #[error("shards missing: {missing} of {count} (each of 1..{count} must be given once)")]
    Missing {
        /// Which, as `2, 5`.
        missing: String,
        /// The count.
        count: u32,
    },
    /// The parts' chains, layers or checks disagree.
    #[error("report {part} holds {what} that shard 1's report does not: parts of one run list the same chains, layers and checks")]
    Shape {
        /// Its position (1-based).
        part: usize,
        /// What it holds.
        what: String,
    },
}

/// Most bytes of one part report [`read_part`] reads.
pub const MAX_PART_BYTES: u64 = 1 << 30;

/// Why a part report could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PartError {
    /// More bytes than [`MAX_PART_BYTES`].
    #[error("{size} bytes is more than a report may be ({limit})")]
    TooLarge {
        /// Its size.
        size: u64,
        /// [`MAX_PART_BYTES`].
        limit: u64,
    },
    /// The JSON ends before the report does (a truncated file).
    #[error("the report ends early, at line {line} column {column}: {message}")]
    Truncated {
        /// Where the bytes end (1-based).
        line: usize,
        /// Column there.
        column: usize,
        /// What the JSON reader says.
        message: String,
    },
    /// Not JSON at all (a damaged byte, not UTF-8, trailing bytes).
    #[error("not JSON at line {line} column {column}: {message}")]
    Syntax {
        /// Where (1-based).
        line: usize,
        /// Column there.
        column: usize,
        /// What the JSON reader says.
        message: String,
    },
    /// JSON, but not a report of this format: a field missing, unknown or of the wrong
    /// type, an unknown finding kind or check name.
    #[error("not a vouch verify report at line {line} column {column}: {message}")]
    NotAReport {
        /// Where (1-based).
        line: usize,
        /// Column there.
        column: usize,
        /// What the JSON reader says.
        message: String,
    },
}

/// Reads one part report (`vouch verify … --shard K/N --format json` output) for
/// [`merge_reports`]: size checked before decoding, every field and name checked (unknown
/// fields, finding kinds and check names are refused), errors typed by what is wrong.
pub fn read_part(bytes: &[u8]) -> Result<Report, PartError> {
    let size = bytes.len() as u64;
    if size > MAX_PART_BYTES {
        return Err(PartError::TooLarge {
            size,
            limit: MAX_PART_BYTES,
        });
    }
    serde_json::from_slice(bytes).map_err(|e| {
        let (line, column, message) = (e.line(), e.column(), e.to_string());
        match e.classify() {
            serde_json::error::Category::Eof => PartError::Truncated {
                line,
                column,
                message,
            },
            serde_json::error::Category::Data => PartError::NotAReport {
                line,
                column,
                message,
            },
            serde_json::error::Category::Syntax | serde_json::error::Category::Io => {
                PartError::Syntax {
                    line,
                    column,
                    message,
                }
            }
        }
    })
}

/// Fuzz entry point of the `verify_merge_parts` target (not part of the API): `data` is
/// split at every `0xff` byte (never in UTF-8) into part reports, each read with
/// [`read_part`]; those that read are merged with [`merge_reports`]. Never panics on any
/// input; panics only when an oracle fails: a report that reads must write back to JSON
/// that reads to the same JSON, and a merged report must render (human, JUnit) and do the
/// same.
#[doc(hidden)]
#[allow(clippy::panic)]
pub fn fuzz_merge_parts(data: &[u8]) {
    let parts: Vec<Report> = data
        .split(|&b| b == 0xff)
        .filter_map(|p| read_part(p).ok())
        .collect();
    for p in &parts {
        fuzz_round_trip(p);
    }
    if let Ok(m) = merge_reports(parts) {
        if m.shard.is_some() {
            panic!("a merged report is no shard's");
        }
        let _ = m.exit_code();
        let _ = crate::output::render_human(&m);
        let _ = crate::output::render_junit(&m);
        fuzz_round_trip(&m);
    }
}

/// The fuzz oracle: `r` written as JSON reads back, and writing that gives the same JSON
/// (the wall time, which goes through a float, compared after one round).
#[allow(clippy::panic)]
fn fuzz_round_trip(r: &Report) {
    let once = match serde_json::to_vec(r) {
        Ok(j) => j,
        Err(e) => panic!("a report that was read does not write: {e}"),
    };
    let back = match read_part(&once) {
        Ok(b) => b,
        Err(e) => panic!("a report written does not read back: {e}"),
    };
    let twice = serde_json::to_vec(&back).unwrap_or_default();
    let again = read_part(&twice).map(|b| serde_json::to_vec(&b).unwrap_or_default());
    match again {
        Ok(thrice) if thrice == twice => {}
        _ => panic!("a report's JSON does not read back to itself"),
    }
}

/// The check named `name` in `checks`, added when missing.
fn check_in<'a>(checks: &'a mut Vec<CheckResult>, name: &'static str) -> &'a mut CheckResult {
    if let Some(i) = checks.iter().position(|c| c.name == name) {
        // Index from position(): in bounds.
        #[allow(clippy::indexing_slicing)]
        return &mut checks[i];
    }
    checks.push(CheckResult::new(name));
    let last = checks.len() - 1;
    #[allow(clippy::indexing_slicing)]
    &mut checks[last]
}

/// Merges the reports of every shard of one run (any order) into the report one unsharded
/// run gives: the same checks and findings in the same order, the same counts and exit
/// code. Files and bytes are summed, the duration is the longest shard's.
pub fn merge_reports(parts: Vec<Report>) -> Result<Report, MergeError> {
    let Some(first) = parts.first() else {
        return Err(MergeError::Empty);
    };
    let info0 = first
        .shard
        .clone()
        .ok_or(MergeError::NotAShard { part: 1 })?;
    let mut seen: BTreeMap<u32, usize> = BTreeMap::new();
    for (i, p) in parts.iter().enumerate() {
        let part = i + 1;
        if p.format_version != REPORT_FORMAT_VERSION {
            return Err(MergeError::FormatVersion {
                part,
                found: p.format_version,
                expected: REPORT_FORMAT_VERSION,
            });
        }
        let s = p.shard.as_ref().ok_or(MergeError::NotAShard { part })?;
        let other = |field| MergeError::OtherRun {
            part,
            index: s.index,
            count: s.count,
            field,
        };
        if s.count != info0.count {
            return Err(other("shard count"));
        }
        if s.plan != info0.plan {
            return Err(other("plan"));
        }
        if p.level != first.level {
            return Err(other("level"));
        }
        if p.strict != first.strict {
            return Err(other("--strict"));
        }
        if s.max_findings != info0.max_findings {
            return Err(other("--max-findings"));
        }
        if s.index == 0 || s.index > s.count {
            return Err(other("shard index"));
        }
        if let Some(prev) = seen.insert(s.index, part) {
            return Err(MergeError::Duplicate {
                index: s.index,
                count: s.count,
                first: prev,
                second: part,
            });
        }
    }
    let missing: Vec<String> = (1..=info0.count)
        .filter(|k| !seen.contains_key(k))
        .map(|k| k.to_string())
        .collect();
    if !missing.is_empty() {
        return Err(MergeError::Missing {
            missing: missing.join(", "),
            count: info0.count,
        });
    }
    let mut parts: Vec<(usize, Report)> = parts
        .into_iter()
        .enumerate()
        .map(|(i, r)| (i + 1, r))
        .collect();
    parts.sort_by_key(|(_, r)| r.shard.as_ref().map_or(0, |s| s.index));
    let mut it = parts.into_iter();
    let Some((_, mut base)) = it.next() else {
        return Err(MergeError::Empty);
    };
    for (part, p) in it {
        base.files_checked = base.files_checked.saturating_add(p.files_checked);
        base.bytes_read = base.bytes_read.saturating_add(p.bytes_read);
        base.duration = base.duration.max(p.duration);
        let shape = |what: String| MergeError::Shape { part, what };
        for c in p.collection_checks {
            if !c.findings.is_empty() {
                return Err(shape(format!(
                    "findings of the collection check {:?}",
                    c.name
                )));
            }
        }
        for ch in p.chains {
            let Some(bch) = base
                .chains
                .iter_mut()
                .find(|b| b.full_subdir == ch.full_subdir)
            else {
                return Err(shape(format!("the chain {:?}", ch.full_subdir)));
            };
            for c in ch.checks {
                if !c.findings.is_empty() {
                    return Err(shape(format!("findings of the chain check {:?}", c.name)));
                }
            }
            for l in ch.layers {
                let Some(bl) = bch.layers.iter_mut().find(|b| b.dir == l.dir) else {
                    return Err(shape(format!("the layer {:?}", l.dir)));
                };
                for c in l.checks {
                    if c.findings.is_empty() {
                        continue;
                    }
                    if !OWNED_CHECKS.contains(&c.name) {
                        return Err(shape(format!("findings of the layer check {:?}", c.name)));
                    }
                    check_in(&mut bl.checks, c.name).findings.extend(c.findings);
                }
            }
        }
    }
    base.shard = None;
    crate::collection::finalize(&mut base, info0.max_findings);
    Ok(base)
}

/// The canonical order of the findings of the checks over owned work: by file, then table,
/// each file's and table's own findings in the order found (one shard finds them all).
pub(crate) fn canonical_order(name: &str, findings: &mut [Finding]) {
    if OWNED_CHECKS.contains(&name) {
        findings.sort_by(|a, b| (&a.file, a.table).cmp(&(&b.file, b.table)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tables of sizes spread over three orders of magnitude (as real schemas have):
    /// every shard within 1.25x of the mean, for 2 to 16 shards.
    #[test]
    fn many_tables_deal_within_a_quarter_of_the_mean() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut weights: Vec<u64> = (0..400)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                1_000 + (x % 1_000) * 10u64.pow((x >> 32) as u32 % 3)
            })
            .collect();
        weights.sort_by(|a, b| b.cmp(a));
        let total: u64 = weights.iter().sum();
        for n in 2..=16u32 {
            let dealt = deal(&weights, n);
            let mut load = vec![0u64; n as usize];
            for (w, s) in weights.iter().zip(&dealt) {
                load[(*s - 1) as usize] += w;
            }
            assert_eq!(load.iter().sum::<u64>(), total);
            let mean = total as f64 / f64::from(n);
            let max = *load.iter().max().unwrap() as f64;
            assert!(max <= 1.25 * mean, "{n} shards: max {max} mean {mean}");
        }
    }

    /// One table larger than the mean cannot be split: it is a shard alone, and the rest
    /// share the other shards.
    #[test]
    fn a_table_larger_than_the_mean_is_a_shard_of_its_own() {
        let weights = [100u64, 10, 10, 10, 10, 10, 10];
        assert_eq!(deal(&weights, 3), vec![1, 2, 3, 2, 3, 2, 3]);
        assert_eq!(deal(&[5, 5, 5], 1), vec![1, 1, 1]);
        assert_eq!(deal(&[], 4), Vec::<u32>::new());
    }

    #[test]
    fn shard_texts_parse_only_when_in_range() {
        assert_eq!(Shard::parse("2/4"), Ok(Shard { index: 2, count: 4 }));
        assert_eq!(Shard::parse("1/1"), Ok(Shard { index: 1, count: 1 }));
        for bad in [
            "0/4", "5/4", "1/0", "4", "/4", "1/", "+1/4", "1/4/5", " 1/4", "1/10001",
        ] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
    }
}
