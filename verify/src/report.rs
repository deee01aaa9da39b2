//! The public shape of a verification: levels, options, progress events, findings grouped
//! by chain, layer and check, and the report (JSON schema in `spec/verify-report.md`).

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::finding::{Finding, Severity};

/// Version of the JSON report's schema (`format_version`); bumped on incompatible change.
pub const REPORT_FORMAT_VERSION: u32 = 2;

/// How deep to verify. A level includes the ones below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Manifests, checksum files, sizes (stat only), chain continuity, LATEST, strays.
    Metadata,
    /// Metadata, plus descriptors, references, spans and the restore plan.
    Schema,
    /// Schema, plus every byte of every file: hashes, blocks, keys, rows, fingerprints.
    Full,
}

impl Level {
    /// The name as typed on the command line and written in reports.
    pub fn name(self) -> &'static str {
        match self {
            Level::Metadata => "metadata",
            Level::Schema => "schema",
            Level::Full => "full",
        }
    }

    /// Parses `metadata`, `schema` or `full` (any case).
    pub fn parse(s: &str) -> Option<Level> {
        match s.to_ascii_lowercase().as_str() {
            "metadata" => Some(Level::Metadata),
            "schema" => Some(Level::Schema),
            "full" => Some(Level::Full),
            _ => None,
        }
    }
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What to verify and how.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// The level.
    pub level: Level,
    /// `--as-of`: also plan a restore at this time (schema level and above).
    pub as_of: Option<String>,
    /// Parallel workers for stat and file reads (at least 1).
    pub jobs: usize,
    /// Keep at most this many findings in the report (the count of all is still given).
    pub max_findings: Option<usize>,
    /// Warnings count as failures (affects [`Report::exit_code`]).
    pub strict: bool,
    /// A restore target (`--restore-into`: its catalog, read by the caller): report what a
    /// restore into it would refuse or need. The verifier never opens a cluster itself.
    pub restore_into: Option<TargetCluster>,
    /// The passphrase and/or KMS URIs that unlock encrypted chains (empty: none given;
    /// see `keyless` and spec/verify-report.md §6).
    pub keys: vouch_keys::KeySource,
    /// `--keyless`: check encrypted chains without their key, as far as that goes
    /// (metadata, the SHA-256 of every stored byte, envelope framing, key records), and
    /// list what was not checked in the report. Without it, `full` (like `schema`) over an
    /// encrypted chain with no key given cannot run. Excludes `keys`.
    pub keyless: bool,
    /// `--shard K/N`: check only this shard's part of the work (spec/verify-report.md §7).
    pub shard: Option<Shard>,
}

/// One part of a verification split over `count` processes (`--shard index/count`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// 1-based.
    pub index: u32,
    /// How many shards in all.
    pub count: u32,
}

impl Shard {
    /// Most shards a verification may be split into.
    pub const MAX_COUNT: u32 = 10_000;

    /// Parses `K/N` (1 ≤ K ≤ N ≤ [`Shard::MAX_COUNT`]).
    pub fn parse(s: &str) -> Result<Shard, String> {
        let bad = || {
            format!(
                "--shard {s:?}: expected K/N with 1 <= K <= N <= {}, as 2/4",
                Shard::MAX_COUNT
            )
        };
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
        if !digits(k) || !digits(n) {
            return Err(bad());
        }
        let (index, count) = (
            k.parse::<u32>().map_err(|_| bad())?,
            n.parse::<u32>().map_err(|_| bad())?,
        );
        if index == 0 || index > count || count > Shard::MAX_COUNT {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    /// True for the shard that runs the collection-, chain- and layer-level checks (1).
    pub fn is_first(self) -> bool {
        self.index == 1
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// What a shard's report says of the run it is part of (spec/verify-report.md §7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardInfo {
    /// This shard, 1-based.
    pub index: u32,
    /// Shards in all.
    pub count: u32,
    /// SHA-256 (hex) of what every shard of one run must agree on: the level, the chains
    /// and layers selected with their manifests' SHA-256, `--as-of`, `--strict`,
    /// `--max-findings`, whether keys were given, and the count. Parts with different
    /// plans are not parts of one run.
    pub plan: String,
    /// `--max-findings`, applied by the merge (a shard keeps every finding).
    pub max_findings: Option<usize>,
    /// The tables and files this shard checked at the `full` level, and their stored bytes.
    pub units: u64,
    /// Stored bytes of the data files this shard owns.
    pub bytes: u64,
}

impl VerifyOptions {
    /// Options for `level` with defaults: 2 workers, no cap, not strict, no restore target.
    pub fn new(level: Level) -> Self {
        VerifyOptions {
            level,
            as_of: None,
            jobs: 2,
            max_findings: None,
            strict: false,
            restore_into: None,
            keys: vouch_keys::KeySource::default(),
            keyless: false,
            shard: None,
        }
    }
}

/// The cluster a dry-run restore is planned against (`--restore-into`).
#[derive(Debug, Clone)]
pub struct TargetCluster {
    /// Its directory, for messages.
    pub dir: PathBuf,
    /// Its catalog now, as a restore into it would see it.
    pub catalog: vouch_format::schema::Catalog,
}

/// Progress events, for a progress bar or periodic log lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// A check over many files starts.
    Start {
        /// Its name (`files`, `data`, ...).
        check: &'static str,
        /// Files it will look at.
        files: u64,
        /// Stored bytes it will read (0 for stat-only checks).
        bytes: u64,
    },
    /// Work done so far in the current check (cumulative).
    Advance {
        /// Files done.
        files: u64,
        /// Bytes read.
        bytes: u64,
    },
}

/// Why verification could not run (exit code 2). Problems *in* the backup are findings.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The store could not be opened or listed.
    #[error(transparent)]
    Store(#[from] vouch_store::Error),
    /// The collection could not be read as asked (for example an unknown subdirectory, or a
    /// key that does not open it); its kind says which.
    #[error(transparent)]
    Chain(#[from] vouch_chain::Error),
    /// Bad arguments.
    #[error("{0}")]
    Usage(String),
}

/// Every check name a report may hold.
pub const CHECKS: &[&str] = &[
    "latest",
    "strays",
    "unfinished",
    "manifest",
    "chain",
    "files",
    "descriptors",
    "spans",
    "restore_plan",
    "cluster",
    "data",
    "indexes",
    "fingerprints",
    "key_records",
    "localities",
];

/// One check's outcome: its findings (empty = passed).
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    /// Stable check name (`manifest`, `chain`, `files`, `descriptors`, `spans`,
    /// `restore_plan`, `data`, `indexes`, `fingerprints`, `latest`, `strays`, `unfinished`,
    /// `cluster`, `key_records`, `localities`: [`CHECKS`]).
    pub name: &'static str,
    /// Findings of this check (after the `max_findings` cap).
    pub findings: Vec<Finding>,
}

impl CheckResult {
    /// A check with no findings yet.
    pub fn new(name: &'static str) -> Self {
        CheckResult {
            name,
            findings: Vec::new(),
        }
    }

    /// True when it has an error finding.
    pub fn failed(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }
}

/// A check as JSON holds it (its name a string, checked against [`CHECKS`]).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckText {
    name: String,
    findings: Vec<Finding>,
}

impl<'de> Deserialize<'de> for CheckResult {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let t = CheckText::deserialize(d)?;
        let name = crate::finding::registered(CHECKS, &t.name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown check {:?}", t.name)))?;
        Ok(CheckResult {
            name,
            findings: t.findings,
        })
    }
}

/// One layer (a full backup or an incremental) and its checks.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerReport {
    /// The layer's directory relative to its store (`2026/01/01-000000.23`,
    /// `incrementals/…/…`).
    pub dir: String,
    /// The checks run on it.
    pub checks: Vec<CheckResult>,
}

/// One chain: a full backup and its incrementals.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainReport {
    /// The full backup's subdirectory.
    pub full_subdir: String,
    /// Its layers, oldest first.
    pub layers: Vec<LayerReport>,
    /// Checks that belong to the chain as a whole (`key_records`, `restore_plan`,
    /// `cluster`).
    pub checks: Vec<CheckResult>,
    /// Whether the chain is encrypted.
    pub encrypted: bool,
    /// What was not checked because the chain was read without its key (`--keyless`, or
    /// `metadata` with no key given, or key records too damaged to unlock): stable names
    /// ([`NOT_CHECKED_WITHOUT_KEY`]); empty when everything of the level ran.
    #[serde(deserialize_with = "not_checked_names")]
    pub not_checked: Vec<&'static str>,
}

fn not_checked_names<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<&'static str>, D::Error> {
    Vec::<String>::deserialize(d)?
        .iter()
        .map(|s| {
            NOT_CHECKED_WITHOUT_KEY
                .iter()
                .map(|(_, n)| *n)
                .find(|n| n == s)
                .ok_or_else(|| serde::de::Error::custom(format!("unknown not_checked name {s:?}")))
        })
        .collect()
}

/// What each level checks only with the key, by name (spec/verify-report.md §6): that the
/// key records' wraps and key check open to the chain's key, the listing against the
/// encrypted manifest (`metadata`); descriptors, spans, the restore
/// plan (`schema`); chunk authentication, SST blocks, MVCC keys, rows, counts, indexes and
/// fingerprints (`full`).
pub const NOT_CHECKED_WITHOUT_KEY: [(Level, &str); 12] = [
    (Level::Metadata, "key_record_wraps"),
    (Level::Metadata, "listing_vs_manifest"),
    (Level::Schema, "descriptors"),
    (Level::Schema, "spans"),
    (Level::Schema, "restore_plan"),
    (Level::Full, "chunk_authentication"),
    (Level::Full, "sst_blocks"),
    (Level::Full, "mvcc_keys"),
    (Level::Full, "rows"),
    (Level::Full, "counts"),
    (Level::Full, "indexes"),
    (Level::Full, "fingerprints"),
];

/// What a chain read without its key at `level` does not check.
pub fn not_checked_without_key(level: Level) -> Vec<&'static str> {
    NOT_CHECKED_WITHOUT_KEY
        .iter()
        .filter(|(l, _)| *l <= level)
        .map(|(_, n)| *n)
        .collect()
}

/// The outcome of a verification.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    /// [`REPORT_FORMAT_VERSION`].
    pub format_version: u32,
    /// The level run.
    pub level: Level,
    /// The collection URI.
    pub collection: String,
    /// Checks of the collection as a whole (`latest`, `strays`, `unfinished`).
    pub collection_checks: Vec<CheckResult>,
    /// The chains verified.
    pub chains: Vec<ChainReport>,
    /// Every finding kept (all of them unless capped), in check order.
    pub findings: Vec<Finding>,
    /// Findings of error severity (before the cap).
    pub errors: u64,
    /// Findings of warning severity (before the cap).
    pub warnings: u64,
    /// Findings left out by `max_findings`.
    pub findings_omitted: u64,
    /// Files looked at (stat or read).
    pub files_checked: u64,
    /// Bytes read from the store.
    pub bytes_read: u64,
    /// Wall time taken.
    #[serde(
        serialize_with = "secs",
        deserialize_with = "from_secs",
        rename = "duration_seconds"
    )]
    pub duration: Duration,
    /// Whether `--strict` was given (warnings fail).
    pub strict: bool,
    /// Whether `--keyless` was given (encrypted chains checked without their key; each
    /// chain's `not_checked` says what that left out).
    pub keyless: bool,
    /// With `--shard K/N`: which part of the run this report is (absent otherwise; a merged
    /// report has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardInfo>,
}

fn secs<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

fn from_secs<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = f64::deserialize(d)?;
    Duration::try_from_secs_f64(s).map_err(serde::de::Error::custom)
}

impl Report {
    /// 0 clean, 1 error findings (or warnings with `strict`).
    pub fn exit_code(&self) -> u8 {
        if self.errors > 0 || (self.strict && self.warnings > 0) {
            1
        } else {
            0
        }
    }

    /// Every check with where it ran: (`chain full subdir` or "", layer dir or "", check).
    pub fn all_checks(&self) -> Vec<(&str, &str, &CheckResult)> {
        let mut v: Vec<(&str, &str, &CheckResult)> =
            self.collection_checks.iter().map(|c| ("", "", c)).collect();
        for ch in &self.chains {
            for l in &ch.layers {
                for c in &l.checks {
                    v.push((ch.full_subdir.as_str(), l.dir.as_str(), c));
                }
            }
            for c in &ch.checks {
                v.push((ch.full_subdir.as_str(), "", c));
            }
        }
        v
    }
}
