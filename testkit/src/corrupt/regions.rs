//! Where the blocks of an SST are: the footer through the SST reader, the index and
//! metaindex blocks decoded here (restart interval 1), so a case can aim at one block.

use std::io;

use vouch_format::cursor::Cursor;
use vouch_format::sst::{BlockHandle, SstReader, FOOTER_LEN, PROPERTIES_BLOCK};

use super::err::invalid;

/// Where the blocks of an SST are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SstRegions {
    /// File size.
    pub size: u64,
    /// Data blocks in index order (`data#0`, `data#1`, …).
    pub data: Vec<BlockHandle>,
    /// The index block.
    pub index: BlockHandle,
    /// The properties block.
    pub properties: BlockHandle,
    /// The metaindex block.
    pub metaindex: BlockHandle,
}

impl SstRegions {
    /// Offset of the footer.
    pub fn footer_at(&self) -> u64 {
        self.size.saturating_sub(FOOTER_LEN as u64)
    }
}

/// `[offset, offset + size + trailer)`.
pub fn with_trailer(h: BlockHandle) -> (u64, u64) {
    (h.offset, h.end_with_trailer())
}

/// Stored contents of an uncompressed block (index and metaindex are never compressed).
fn raw_block<'a>(bytes: &'a [u8], h: BlockHandle, what: &str) -> io::Result<&'a [u8]> {
    let start = usize::try_from(h.offset).map_err(invalid)?;
    let end = usize::try_from(h.size)
        .ok()
        .and_then(|s| start.checked_add(s))
        .ok_or_else(|| invalid(format!("{what} block handle overflows")))?;
    let compression = bytes.get(end).copied();
    if compression != Some(0) {
        return Err(invalid(format!(
            "{what} block at {start}: compression byte {compression:?}, expected 0"
        )));
    }
    bytes
        .get(start..end)
        .ok_or_else(|| invalid(format!("{what} block at {start} is out of bounds")))
}

/// The entries of a block whose restart interval is 1 (index, metaindex): key, value.
fn block_entries(contents: &[u8]) -> io::Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let e = |x: vouch_format::Error| invalid(format!("block entries: {x}"));
    let n = contents.len();
    let tail = contents
        .get(n.saturating_sub(4)..)
        .ok_or_else(|| invalid("block too short"))?;
    let restarts = Cursor::new(tail).u32_le("num_restarts").map_err(e)? as usize;
    let entries_end = n
        .checked_sub(4 + 4 * restarts)
        .ok_or_else(|| invalid("restart array larger than the block"))?;
    let region = contents.get(..entries_end).unwrap_or(&[]);
    let mut c = Cursor::new(region);
    let mut out = Vec::new();
    while !c.is_empty() {
        let shared = c.varint32("shared").map_err(e)?;
        let non_shared = c.varint32("non_shared").map_err(e)? as usize;
        let value_len = c.varint32("value_len").map_err(e)? as usize;
        if shared != 0 {
            return Err(invalid("shared key bytes in a restart-interval-1 block"));
        }
        let key = c.take(non_shared, "key").map_err(e)?.to_vec();
        let value = c.take(value_len, "value").map_err(e)?.to_vec();
        out.push((key, value));
    }
    Ok(out)
}

fn handle_of(value: &[u8]) -> io::Result<BlockHandle> {
    let mut c = Cursor::new(value);
    let h = BlockHandle::decode(&mut c).map_err(|e| invalid(format!("block handle: {e}")))?;
    c.finish("block handle")
        .map_err(|e| invalid(format!("block handle: {e}")))?;
    Ok(h)
}

/// Locates every block of a sound SST (it is opened with the reader first).
pub fn sst_regions(bytes: &[u8]) -> io::Result<SstRegions> {
    let r = SstReader::open(bytes).map_err(|e| invalid(format!("SST does not open: {e}")))?;
    let footer = *r.footer();
    let mut data = Vec::new();
    for (_, v) in block_entries(raw_block(bytes, footer.index, "index")?)? {
        data.push(handle_of(&v)?);
    }
    if data.len() != r.data_blocks() {
        return Err(invalid(format!(
            "index block lists {} data blocks, the reader {}",
            data.len(),
            r.data_blocks()
        )));
    }
    let mut properties = None;
    for (k, v) in block_entries(raw_block(bytes, footer.metaindex, "metaindex")?)? {
        if k == PROPERTIES_BLOCK.as_bytes() {
            properties = Some(handle_of(&v)?);
        }
    }
    Ok(SstRegions {
        size: bytes.len() as u64,
        data,
        index: footer.index,
        properties: properties.ok_or_else(|| invalid("no properties block"))?,
        metaindex: footer.metaindex,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corrupt::case::FLIP;
    use vouch_format::sst::{write_to_vec, Compression, WriterOptions};

    fn sample() -> Vec<u8> {
        let keys: Vec<Vec<u8>> = (0..300u32)
            .map(|i| format!("key{i:05}").into_bytes())
            .collect();
        write_to_vec(
            keys.iter().map(|k| (k.as_slice(), &b"some value"[..])),
            WriterOptions {
                block_size: 256,
                compression: Compression::Snappy,
                ..WriterOptions::default()
            },
        )
        .unwrap()
    }

    #[test]
    fn regions_tile_the_file_in_the_written_order() {
        let b = sample();
        let r = sst_regions(&b).unwrap();
        assert!(r.data.len() > 3, "{} data blocks", r.data.len());
        let mut at = 0;
        for h in &r.data {
            assert_eq!(h.offset, at);
            at = h.end_with_trailer();
        }
        for h in [r.index, r.properties, r.metaindex] {
            assert_eq!(h.offset, at);
            at = h.end_with_trailer();
        }
        assert_eq!(at, r.footer_at());
        assert_eq!(r.footer_at() + FOOTER_LEN as u64, b.len() as u64);
    }

    #[test]
    fn a_byte_flipped_in_a_region_is_reported_in_that_block() {
        let b = sample();
        let r = sst_regions(&b).unwrap();
        let mid = r.data.len() / 2;
        for (name, h) in [
            (format!("data#{mid}"), r.data[mid]),
            ("index".to_string(), r.index),
            ("properties".to_string(), r.properties),
            ("metaindex".to_string(), r.metaindex),
        ] {
            for at in [h.offset, h.offset + h.size / 2, h.offset + h.size + 1] {
                let mut bad = b.clone();
                bad[at as usize] ^= FLIP;
                let f = vouch_verify::check_sst("x.sst", bad.as_slice()).unwrap_err();
                assert_eq!(f.kind, "block_checksum", "{name} at {at}: {f:?}");
                assert_eq!(f.block.as_deref(), Some(name.as_str()), "at {at}");
                assert_eq!(f.offset, Some(h.offset));
            }
        }
        let mut bad = b.clone();
        let n = bad.len();
        bad[n - 3] ^= FLIP;
        let f = vouch_verify::check_sst("x.sst", bad.as_slice()).unwrap_err();
        assert_eq!(f.kind, "sst_bad_footer");
        assert_eq!(f.offset, Some(r.size - 8));
    }
}
