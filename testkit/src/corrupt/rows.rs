//! User rows: counting live primary-index rows, and rewriting an SST so that they no
//! longer fit their table.

use std::io;

use vouch_format::keys::{self, Datum};
use vouch_format::mvcc;
use vouch_format::row;
use vouch_format::schema::FIRST_USER_DESCRIPTOR_ID;
use vouch_format::sst::{Compression, SstReader, SstWriter, WriterOptions};

use super::err::invalid;

/// Counts live primary-index entries of user tables in an SST.
pub(super) fn user_rows(bytes: &[u8]) -> io::Result<u64> {
    let r = SstReader::open(bytes).map_err(|e| invalid(e.to_string()))?;
    let mut it = r.iter();
    let mut n = 0;
    while let Some((k, v)) = it.next_entry().map_err(|e| invalid(e.to_string()))? {
        if is_user_primary(k) && matches!(mvcc::decode_value(k, v), Ok(mvcc::Value::Live(_))) {
            n += 1;
        }
    }
    Ok(n)
}

fn is_user_primary(mvcc_key: &[u8]) -> bool {
    mvcc::decode_key(mvcc_key)
        .ok()
        .and_then(|(user, _)| keys::decode_table_prefix(&user).ok())
        .is_some_and(|(table, index, _)| table >= FIRST_USER_DESCRIPTOR_ID && index == 1)
}

/// A row value that decodes but does not fit its table: the first column's value gets
/// another type (BOOL, or INT where it was BOOL); an empty row gets an unknown column.
fn bad_row(payload: &[u8]) -> Vec<u8> {
    let mut cols = row::decode_row(payload).unwrap_or_default();
    match cols.first_mut() {
        Some((_, d)) => {
            *d = if matches!(d, Datum::Bool(_)) {
                Datum::Int(1)
            } else {
                Datum::Bool(true)
            }
        }
        None => cols.push((9_999, Datum::Int(1))),
    }
    row::encode_row(&cols).unwrap_or_else(|_| vec![row::ROW_ENCODING_VERSION, 0xff])
}

/// Rewrites an SST with [`bad_row`] values for live user-table primary-index entries;
/// returns the new bytes and their logical size (Σ key + value lengths).
pub(super) fn bad_rows(bytes: &[u8]) -> Result<(Vec<u8>, u64), vouch_format::Error> {
    let r = SstReader::open(bytes)?;
    let compression = r
        .properties()
        .get_str("rocksdb.compression")?
        .and_then(Compression::from_name)
        .unwrap_or_default();
    let mut w = SstWriter::new(
        Vec::new(),
        WriterOptions {
            block_size: 512,
            restart_interval: 16,
            compression,
            mvcc: true,
        },
    )?;
    let mut logical = 0u64;
    let mut it = r.iter();
    while let Some((k, v)) = it.next_entry()? {
        let value = match mvcc::decode_value(k, v)? {
            mvcc::Value::Live(p) if is_user_primary(k) => mvcc::value(k, Some(&bad_row(p))),
            _ => v.to_vec(),
        };
        logical += (k.len() + value.len()) as u64;
        w.add(k, &value)?;
    }
    let (out, _) = w.finish()?;
    Ok((out, logical))
}

#[cfg(test)]
mod tests {
    use super::*;
    use vouch_format::keys::{self, Datum};
    use vouch_format::mvcc::Timestamp;
    use vouch_format::sst::write_to_vec;

    #[test]
    fn bad_rows_keep_keys_and_value_checksums_but_not_rows() {
        let mut key_bytes = Vec::new();
        keys::encode_table_prefix(104, 1, &mut key_bytes);
        key_bytes.extend_from_slice(&[0x10, 0x80, 0, 0, 0, 0, 0, 0, 1]);
        let k = mvcc::key(&key_bytes, Timestamp::new(5, 0));
        let good = row::encode_row(&[(2, Datum::Int(7))]).unwrap();
        let v = mvcc::value(&k, Some(&good));
        let sst = write_to_vec(
            [(k.as_slice(), v.as_slice())],
            WriterOptions {
                mvcc: true,
                ..WriterOptions::default()
            },
        )
        .unwrap();
        assert_eq!(user_rows(&sst).unwrap(), 1);
        let (out, logical) = bad_rows(&sst).unwrap();
        let r = SstReader::open(out.as_slice()).unwrap();
        r.verify_scan().unwrap();
        let mut it = r.iter();
        let (k2, v2) = it.next_entry().unwrap().unwrap();
        assert_eq!(k2, k.as_slice());
        let mvcc::Value::Live(p) = mvcc::decode_value(k2, v2).unwrap() else {
            panic!("tombstone")
        };
        assert_eq!(row::decode_row(p).unwrap(), vec![(2, Datum::Bool(true))]);
        assert_eq!(logical, (k2.len() + v2.len()) as u64);
    }
}
