//! The properties block: a block of `name -> value` entries, names sorted bytewise.
//!
//! RocksDB's integer properties are varint64 strings; the two `rocksdb.external_sst_file.*`
//! properties that `SstFileWriter` adds are fixed32 / fixed64 little-endian. vouch's own
//! properties use the `vouch.` prefix.

use std::collections::BTreeMap;

use super::block::{Block, BlockBuilder};
use crate::cursor::{put_varint64, Cursor};
use crate::error::{BlockKind, Error, HexBytes, Result};
use crate::mvcc::Timestamp;

/// Property names.
pub(super) mod names {
    pub(crate) const COMPARATOR: &str = "rocksdb.comparator";
    pub(crate) const NUM_ENTRIES: &str = "rocksdb.num.entries";
    pub(crate) const RAW_KEY_SIZE: &str = "rocksdb.raw.key.size";
    pub(crate) const RAW_VALUE_SIZE: &str = "rocksdb.raw.value.size";
    pub(crate) const DATA_SIZE: &str = "rocksdb.data.size";
    pub(crate) const INDEX_SIZE: &str = "rocksdb.index.size";
    pub(crate) const NUM_DATA_BLOCKS: &str = "rocksdb.num.data.blocks";
    pub(crate) const FILTER_SIZE: &str = "rocksdb.filter.size";
    pub(crate) const FORMAT_VERSION: &str = "rocksdb.format.version";
    pub(crate) const FIXED_KEY_LEN: &str = "rocksdb.fixed.key.length";
    pub(crate) const COLUMN_FAMILY_ID: &str = "rocksdb.column.family.id";
    pub(crate) const COLUMN_FAMILY_NAME: &str = "rocksdb.column.family.name";
    pub(crate) const COMPRESSION: &str = "rocksdb.compression";
    pub(crate) const MERGE_OPERATOR: &str = "rocksdb.merge.operator";
    pub(crate) const PREFIX_EXTRACTOR: &str = "rocksdb.prefix.extractor.name";
    pub(crate) const PROPERTY_COLLECTORS: &str = "rocksdb.property.collectors";
    pub(crate) const NUM_DELETIONS: &str = "rocksdb.deleted.keys";
    pub(crate) const NUM_MERGE_OPERANDS: &str = "rocksdb.merge.operands";
    pub(crate) const NUM_RANGE_DELETIONS: &str = "rocksdb.num.range-deletions";
    pub(crate) const INDEX_KEY_IS_USER_KEY: &str = "rocksdb.index.key.is.user.key";
    pub(crate) const INDEX_VALUE_DELTA: &str = "rocksdb.index.value.is.delta.encoded";
    pub(crate) const INDEX_TYPE: &str = "rocksdb.block.based.table.index.type";
    pub(crate) const WHOLE_KEY_FILTERING: &str = "rocksdb.block.based.table.whole.key.filtering";
    pub(crate) const PREFIX_FILTERING: &str = "rocksdb.block.based.table.prefix.filtering";
    pub(crate) const EXTERNAL_VERSION: &str = "rocksdb.external_sst_file.version";
    pub(crate) const EXTERNAL_GLOBAL_SEQNO: &str = "rocksdb.external_sst_file.global_seqno";

    pub(crate) const VOUCH_FORMAT: &str = "vouch.format.version";
    pub(crate) const VOUCH_ENTRIES: &str = "vouch.num.entries";
    pub(crate) const VOUCH_SMALLEST: &str = "vouch.key.smallest";
    pub(crate) const VOUCH_LARGEST: &str = "vouch.key.largest";
    pub(crate) const VOUCH_TOMBSTONES: &str = "vouch.mvcc.num.tombstones";
    pub(crate) const VOUCH_TS_MIN: &str = "vouch.mvcc.ts.min";
    pub(crate) const VOUCH_TS_MAX: &str = "vouch.mvcc.ts.max";
}

/// The comparator name every vouch SST carries.
pub(super) const BYTEWISE_COMPARATOR: &str = "leveldb.BytewiseComparator";
/// `vouch.format.version` written by this code.
pub(super) const VOUCH_PROPS_VERSION: u64 = 1;

/// Decoded properties block, keyed by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Properties {
    map: BTreeMap<String, Vec<u8>>,
}

impl Properties {
    /// Parses a properties block's (decompressed, trailer-checked) contents.
    pub(crate) fn parse(contents: &[u8], base: u64) -> Result<Self> {
        let block = Block::parse(contents, base, BlockKind::Properties)?;
        let mut entries = block.entries();
        let mut map = BTreeMap::new();
        let mut prev: Option<Vec<u8>> = None;
        while let Some(e) = entries.next_entry()? {
            let name = entries.key();
            if let Some(p) = &prev {
                if name <= p.as_slice() {
                    return Err(Error::KeyOrder {
                        block: BlockKind::Properties,
                        offset: entries.abs(e.at),
                        prev: HexBytes(p.clone()),
                        key: HexBytes(name.to_vec()),
                    });
                }
            }
            let s = std::str::from_utf8(name).map_err(|_| Error::BadBlock {
                block: BlockKind::Properties,
                offset: entries.abs(e.at),
                field: "property name",
                reason: format!("name {} is not UTF-8", HexBytes(name.to_vec())),
            })?;
            map.insert(s.to_string(), e.value.to_vec());
            prev = Some(name.to_vec());
        }
        Ok(Properties { map })
    }

    /// All properties, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.map.iter().map(|(k, v)| (k.as_str(), v.as_slice()))
    }

    /// The raw bytes of a property.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.map.get(name).map(Vec::as_slice)
    }

    /// A varint64 property.
    pub fn get_u64(&self, name: &str) -> Result<Option<u64>> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => {
                let mut c = Cursor::new(v);
                let n = c
                    .varint64("property value")
                    .map_err(|_| bad(name, v, "not a varint64"))?;
                c.finish("property value")
                    .map_err(|_| bad(name, v, "trailing bytes after varint64"))?;
                Ok(Some(n))
            }
        }
    }

    /// A varint64 property that must be present.
    pub fn require_u64(&self, name: &'static str) -> Result<u64> {
        self.get_u64(name)?.ok_or(Error::MissingProperty { name })
    }

    /// A UTF-8 string property.
    pub fn get_str(&self, name: &str) -> Result<Option<&str>> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => std::str::from_utf8(v)
                .map(Some)
                .map_err(|_| bad(name, v, "not UTF-8")),
        }
    }

    /// A 12-byte MVCC timestamp property.
    pub fn get_ts(&self, name: &str) -> Result<Option<Timestamp>> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => Timestamp::decode_be(v)
                .map(Some)
                .map_err(|_| bad(name, v, "not a 12-byte timestamp")),
        }
    }

    /// vouch's own properties, when the file has them.
    pub fn vouch(&self) -> Result<Option<VouchProps>> {
        let Some(version) = self.get_u64(names::VOUCH_FORMAT)? else {
            return Ok(None);
        };
        if version != VOUCH_PROPS_VERSION {
            return Err(Error::Property {
                name: names::VOUCH_FORMAT.into(),
                reason: format!("unsupported version {version}"),
            });
        }
        let need = |n: &'static str| self.get(n).ok_or(Error::MissingProperty { name: n });
        Ok(Some(VouchProps {
            entries: self
                .get_u64(names::VOUCH_ENTRIES)?
                .ok_or(Error::MissingProperty {
                    name: names::VOUCH_ENTRIES,
                })?,
            smallest: need(names::VOUCH_SMALLEST)?.to_vec(),
            largest: need(names::VOUCH_LARGEST)?.to_vec(),
            tombstones: self.get_u64(names::VOUCH_TOMBSTONES)?,
            ts_min: self.get_ts(names::VOUCH_TS_MIN)?,
            ts_max: self.get_ts(names::VOUCH_TS_MAX)?,
        }))
    }
}

fn bad(name: &str, v: &[u8], what: &str) -> Error {
    Error::Property {
        name: name.to_string(),
        reason: format!("value {} is {what}", HexBytes(v.to_vec())),
    }
}

/// vouch's own table properties (`vouch.` prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VouchProps {
    /// Number of entries.
    pub entries: u64,
    /// Smallest user key.
    pub smallest: Vec<u8>,
    /// Largest user key.
    pub largest: Vec<u8>,
    /// MVCC files only: number of tombstones.
    pub tombstones: Option<u64>,
    /// MVCC files only: smallest timestamp.
    pub ts_min: Option<Timestamp>,
    /// MVCC files only: largest timestamp.
    pub ts_max: Option<Timestamp>,
}

/// Collects properties and encodes them as a sorted block.
#[derive(Debug, Default)]
pub(crate) struct PropsBuilder {
    map: BTreeMap<&'static str, Vec<u8>>,
}

impl PropsBuilder {
    pub(crate) fn u64(&mut self, name: &'static str, v: u64) {
        let mut b = Vec::new();
        put_varint64(&mut b, v);
        self.map.insert(name, b);
    }

    pub(crate) fn bytes(&mut self, name: &'static str, v: &[u8]) {
        self.map.insert(name, v.to_vec());
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        let mut b = BlockBuilder::new(1);
        for (k, v) in &self.map {
            b.add(k.as_bytes(), v);
        }
        b.finish_into(out);
    }
}
