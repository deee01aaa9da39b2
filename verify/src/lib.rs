//! # vouch-verify
//!
//! Offline verification of vouch data, producing *findings* rather than a boolean. It is
//! read-only: it never writes to what it checks. This first piece checks single SST files
//! (the `full` level's per-file work); the collection-level checks (manifests, chains,
//! schemas) build on it.

#![forbid(unsafe_code)]

use std::borrow::Cow;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use serde::Serialize;
use vouch_format::sst::{BlockSource, ScanStats, SstReader};
use vouch_format::{BlockKind, Error};

/// A file read with positioned reads: only the blocks asked for are read, so memory stays
/// bounded by the largest block whatever the file size.
#[derive(Debug)]
pub struct FileSource {
    file: File,
    size: u64,
}

impl FileSource {
    /// Opens `path` read-only.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let file = File::open(path)?;
        let size = file.metadata()?.len();
        Ok(FileSource { file, size })
    }
}

impl BlockSource for FileSource {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_at(&self, offset: u64, len: usize) -> Result<Cow<'_, [u8]>, Error> {
        if offset
            .checked_add(len as u64)
            .is_none_or(|end| end > self.size)
        {
            return Err(Error::Truncated {
                field: "block",
                offset,
                needed: len as u64,
                available: self.size.saturating_sub(offset),
            });
        }
        let mut buf = vec![0u8; len];
        self.file.read_exact_at(&mut buf, offset)?;
        Ok(Cow::Owned(buf))
    }
}

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The data cannot be trusted or restored as is.
    Error,
    /// Worth knowing; restore is not affected.
    Warning,
}

/// One problem, with where it is and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Error or warning.
    pub severity: Severity,
    /// Stable identifier of the kind of problem (documented in the spec).
    pub kind: &'static str,
    /// The file it is in.
    pub file: String,
    /// Byte offset in the file, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// Block, when the problem is inside one (`data#3`, `index`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block: Option<String>,
    /// What should have been there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// What was there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub found: Option<String>,
    /// The full message.
    pub message: String,
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
pub fn sst_finding(file: &str, e: &Error) -> Finding {
    let mut f = Finding {
        severity: Severity::Error,
        kind: "sst_malformed",
        file: file.to_string(),
        offset: None,
        block: None,
        expected: None,
        found: None,
        message: e.to_string(),
    };
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
        Error::Io { .. } => f.kind = "io",
        _ => {}
    }
    f
}

/// Full verified scan of one SST; `Ok` with its counts, or the finding that stopped it.
pub fn check_sst<S: BlockSource>(file: &str, src: S) -> Result<ScanStats, Box<Finding>> {
    SstReader::open(src)
        .and_then(|r| r.verify_scan())
        .map_err(|e| Box::new(sst_finding(file, &e)))
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
