//! Findings: what is wrong, where (file, offset, block, key) and what was expected; and
//! the mapping of format errors to finding kinds, shared by every level.

use serde::{Deserialize, Serialize};
use vouch_format::sst::{BlockSource, ScanStats, SstReader};
use vouch_format::BlockKind;
use vouch_format::Error as FormatError;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The data cannot be trusted or restored as is.
    Error,
    /// Worth knowing; restore is not affected.
    Warning,
}

/// Every finding kind verify reports, as `spec/verify-report.md` §4 lists them (a test
/// holds the two equal). A report read back ([`Report`](crate::Report)'s `Deserialize`,
/// for `vouch verify merge`) names only these.
pub const KINDS: &[&str] = &[
    // metadata
    "manifest_missing",
    "manifest_decode",
    "checksum_missing",
    "checksum_mismatch",
    "file_missing",
    "size_mismatch",
    "chain_gap",
    "predecessor_hash_mismatch",
    "predecessor_path_mismatch",
    "chain_id_mismatch",
    "layer_dir_mismatch",
    "latest_missing",
    "latest_invalid",
    "latest_not_newest",
    "stray_object",
    "unfinished_backup",
    "read_error",
    "object_too_large",
    "not_an_object",
    "file_listed_twice",
    "file_bounds_overlap",
    "start_time_invalid",
    "mvcc_filter_invalid",
    "revision_start_invalid",
    "spans_invalid",
    "introduced_spans_invalid",
    "manifest_inconsistent",
    "locality_missing",
    "locality_part_mismatch",
    // schema
    "descriptor_decode",
    "dangling_reference",
    "descriptor_version_regression",
    "span_coverage",
    "restore_plan",
    "restore_collision",
    "restore_needs_option",
    "restore_refused",
    // full
    "sha256_mismatch",
    "sst_corrupt",
    "block_checksum",
    "sst_truncated",
    "sst_bad_footer",
    "sst_property",
    "key_order",
    "value_checksum",
    "key_out_of_bounds",
    "timestamp_out_of_window",
    "count_mismatch",
    "row_decode",
    "index_mismatch",
    "row_schema_mismatch",
    "unique_violation",
    "fingerprint_mismatch",
    // encrypted chains
    "listing_missing",
    "listing_decode",
    "listing_mismatch",
    "envelope_header",
    "envelope_size",
    "envelope_auth",
    "key_record_missing",
    "key_record_damaged",
    "key_record_mismatch",
    "key_records_too_many",
    "key_record_kdf_cost",
];

/// The registered name equal to `s` ([`KINDS`], or another registry).
pub(crate) fn registered(names: &[&'static str], s: &str) -> Option<&'static str> {
    names.iter().copied().find(|k| *k == s)
}

/// One problem, with where it is and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Error or warning.
    pub severity: Severity,
    /// Stable identifier of the kind of problem (documented in `spec/verify-report.md`).
    pub kind: &'static str,
    /// The object it is in, relative to its store's root (`2026/01/01-000000.23/data/000001.sst`;
    /// `""` when it concerns no single object).
    pub file: String,
    /// Byte offset in the file, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// Block, when the problem is inside one (`data#3`, `index`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block: Option<String>,
    /// The key concerned (MVCC-encoded or user key, lowercase hex), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// What should have been there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// What was there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub found: Option<String>,
    /// The layer directory it belongs to, when it belongs to one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer: Option<String>,
    /// The table (descriptor id) a finding of the `indexes` and `fingerprints` checks is
    /// about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table: Option<u64>,
    /// The full message.
    pub message: String,
}

/// A finding as JSON holds it (its kind a string, checked against [`KINDS`]).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FindingText {
    severity: Severity,
    kind: String,
    file: String,
    #[serde(default)]
    offset: Option<u64>,
    #[serde(default)]
    block: Option<String>,
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    expected: Option<String>,
    #[serde(default)]
    found: Option<String>,
    #[serde(default)]
    layer: Option<String>,
    #[serde(default)]
    table: Option<u64>,
    message: String,
}

impl<'de> Deserialize<'de> for Finding {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let t = FindingText::deserialize(d)?;
        let kind = registered(KINDS, &t.kind).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown finding kind {:?} (a report of another vouch version?)",
                t.kind
            ))
        })?;
        Ok(Finding {
            severity: t.severity,
            kind,
            file: t.file,
            offset: t.offset,
            block: t.block,
            key: t.key,
            expected: t.expected,
            found: t.found,
            layer: t.layer,
            table: t.table,
            message: t.message,
        })
    }
}

impl Finding {
    /// A finding with only its severity, kind, file and message set.
    pub fn new(
        severity: Severity,
        kind: &'static str,
        file: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        debug_assert!(
            KINDS.contains(&kind),
            "finding kind {kind:?} is not in KINDS"
        );
        Finding {
            severity,
            kind,
            file: file.into(),
            offset: None,
            block: None,
            key: None,
            expected: None,
            found: None,
            layer: None,
            table: None,
            message: message.into(),
        }
    }

    /// An error finding.
    pub fn error(kind: &'static str, file: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(Severity::Error, kind, file, message)
    }

    /// A warning finding.
    pub fn warning(
        kind: &'static str,
        file: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self::new(Severity::Warning, kind, file, message)
    }

    /// With a byte offset.
    pub fn at(mut self, offset: u64) -> Self {
        self.offset = Some(offset);
        self
    }

    /// With a block name.
    pub fn in_block(mut self, block: impl Into<String>) -> Self {
        self.block = Some(block.into());
        self
    }

    /// With a key (written as hex).
    pub fn with_key(mut self, key: &[u8]) -> Self {
        self.key = Some(hex::encode(key));
        self
    }

    /// With expected and found values.
    /// Each is capped at [`MAX_EXCERPT`] characters (an odd object's content is reported
    /// by its start and its length, never whole).
    pub fn expected_found(mut self, expected: impl Into<String>, found: impl Into<String>) -> Self {
        self.expected = Some(excerpt(expected.into()));
        self.found = Some(excerpt(found.into()));
        self
    }

    /// With the table it is about.
    pub fn about_table(mut self, table: u64) -> Self {
        self.table = Some(table);
        self
    }

    /// With the layer directory.
    pub fn in_layer(mut self, layer: impl Into<String>) -> Self {
        self.layer = Some(layer.into());
        self
    }
}

fn block_name(b: BlockKind) -> String {
    match b {
        BlockKind::Data(i) => format!("data#{i}"),
        BlockKind::Index => "index".into(),
        BlockKind::Metaindex => "metaindex".into(),
        BlockKind::Properties => "properties".into(),
    }
}

/// Maps a format error in an SST to a finding.
pub fn sst_finding(file: &str, e: &FormatError) -> Finding {
    use FormatError as Error;
    let mut f = Finding::error("sst_corrupt", file, e.to_string());
    match e {
        Error::BlockChecksum {
            block,
            offset,
            stored,
            computed,
        } => {
            f.kind = "block_checksum";
            f.offset = Some(*offset);
            f.block = Some(block_name(*block));
            f.expected = Some(format!("{stored:#010x}"));
            f.found = Some(format!("{computed:#010x}"));
        }
        Error::KeyOrder { block, offset, .. } => {
            f.kind = "key_order";
            f.offset = Some(*offset);
            f.block = Some(block_name(*block));
        }
        Error::ValueChecksum {
            stored, computed, ..
        } => {
            f.kind = "value_checksum";
            f.expected = Some(format!("{stored:#010x}"));
            f.found = Some(format!("{computed:#010x}"));
        }
        Error::FileTooSmall { .. } | Error::Truncated { .. } => f.kind = "sst_truncated",
        Error::BadMagic {
            offset,
            found,
            expected,
        } => {
            f.kind = "sst_bad_footer";
            f.offset = Some(*offset);
            f.expected = Some(format!("{expected:#018x}"));
            f.found = Some(format!("{found:#018x}"));
        }
        Error::UnsupportedFormatVersion { offset, .. }
        | Error::UnsupportedChecksumType { offset, .. } => {
            f.kind = "sst_bad_footer";
            f.offset = Some(*offset);
        }
        Error::Property { .. } | Error::MissingProperty { .. } => f.kind = "sst_property",
        Error::BadBlock { block, offset, .. }
        | Error::IndexMismatch { block, offset, .. }
        | Error::HandleOutOfBounds { block, offset, .. }
        | Error::UnknownCompression { block, offset, .. }
        | Error::Decompress { block, offset, .. }
        | Error::BadInternalKey { block, offset, .. } => {
            f.offset = Some(*offset);
            f.block = Some(block_name(*block));
        }
        Error::Io { .. } => f.kind = "read_error",
        Error::EnvelopeAuth { chunk, offset }
        | Error::EnvelopeFinalChunkMissing {
            last_chunk: chunk,
            offset,
        }
        | Error::EnvelopeDataAfterFinal { chunk, offset, .. } => {
            f.kind = "envelope_auth";
            f.offset = Some(*offset);
            f.block = Some(format!("chunk#{chunk}"));
        }
        Error::EnvelopeTruncated { chunk, offset, .. } => {
            f.kind = "envelope_size";
            f.offset = Some(*offset);
            f.block = Some(format!("chunk#{chunk}"));
        }
        Error::Limit {
            field: "envelope chunk count",
            offset,
            ..
        } => {
            f.kind = "envelope_size";
            f.offset = Some(*offset);
        }
        Error::EnvelopeMagic { offset, .. }
        | Error::EnvelopeVersion { offset, .. }
        | Error::EnvelopeCipher { offset, .. }
        | Error::EnvelopeChunkSize { offset, .. }
        | Error::Invalid {
            field: "envelope reserved bytes",
            offset,
            ..
        } => {
            f.kind = "envelope_header";
            f.offset = Some(*offset);
        }
        _ => {}
    }
    f
}

/// True for the finding kinds of the encryption envelope.
/// The most characters of an expected or found value a report shows.
pub(crate) const MAX_EXCERPT: usize = 256;

/// `s`, or its first [`MAX_EXCERPT`] characters and how long it was.
fn excerpt(s: String) -> String {
    match s.char_indices().nth(MAX_EXCERPT) {
        None => s,
        Some((cut, _)) => format!("{}… ({} bytes in all)", &s[..cut], s.len()),
    }
}

/// The finding for an object the store would not give: `object_too_large` when it is
/// larger than its kind may be (nothing of it was read), `not_an_object` for a link or
/// special file in its place, else `read_error`.
pub(crate) fn store_finding(path: &str, e: &vouch_store::Error) -> Finding {
    let kind = match e {
        vouch_store::Error::TooLarge { .. } => "object_too_large",
        vouch_store::Error::NotRegular { .. } => "not_an_object",
        _ => "read_error",
    };
    Finding::error(kind, path, format!("{path}: {e}"))
}

pub(crate) fn is_envelope_kind(kind: &str) -> bool {
    kind.starts_with("envelope_")
}

/// Full verified scan of one SST; `Ok` with its counts, or the finding that stopped it.
pub fn check_sst<S: BlockSource>(file: &str, src: S) -> Result<ScanStats, Box<Finding>> {
    SstReader::open(src)
        .and_then(|r| r.verify_scan())
        .map_err(|e| Box::new(sst_finding(file, &e)))
}

/// A finding from an engine error about `file`: envelope errors get their own kinds (with
/// the chunk and offset), a format error its offset, others `kind`.
pub(crate) fn chain_finding(file: &str, e: &vouch_chain::Error, kind: &'static str) -> Finding {
    if let Some(source) = e.format_error() {
        let f = sst_finding(file, source);
        if is_envelope_kind(f.kind) {
            let mut f = f;
            f.message = format!("{file}: {source}");
            return f;
        }
        let mut f = Finding::error(kind, file, format!("{file}: {source}"));
        f.offset = error_offset(source);
        return f;
    }
    if e.store_error().is_some() {
        return Finding::error("read_error", file, e.to_string());
    }
    Finding::error(kind, file, e.to_string())
}

/// Offset named by a format error, when it names one.
pub(crate) fn error_offset(e: &FormatError) -> Option<u64> {
    match e {
        FormatError::Invalid { offset, .. }
        | FormatError::Truncated { offset, .. }
        | FormatError::Limit { offset, .. } => Some(*offset),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vouch_format::sst::{write_to_vec, WriterOptions};

    #[test]
    fn flipped_data_byte_is_a_located_block_checksum_finding() {
        let keys: Vec<Vec<u8>> = (0..200u32)
            .map(|i| format!("key{i:05}").into_bytes())
            .collect();
        let bytes = write_to_vec(
            keys.iter().map(|k| (k.as_slice(), &b"value"[..])),
            WriterOptions {
                block_size: 256,
                ..WriterOptions::default()
            },
        )
        .unwrap();
        assert!(check_sst("a.sst", bytes.as_slice()).is_ok());
        let mut bad = bytes.clone();
        bad[300] ^= 0x10;
        let f = check_sst("a.sst", bad.as_slice()).unwrap_err();
        assert_eq!(f.kind, "block_checksum");
        assert_eq!(f.file, "a.sst");
        assert_eq!(f.severity, Severity::Error);
        assert!(f.block.as_deref().unwrap().starts_with("data#"));
        let off = f.offset.unwrap();
        assert!(off <= 300 && 300 - off < 400, "offset {off}");
        let json = serde_json::to_value(&*f).unwrap();
        assert_eq!(json["kind"], "block_checksum");
    }
}
