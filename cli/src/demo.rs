//! `vouch demo`: the built-in default job. Until the backup engine lands it writes a
//! sample set of MVCC SSTs (several versions per key, tombstones, every compression),
//! runs the full verified scan on each, shows that a flipped byte is caught, and prints
//! a summary.

use std::io::BufWriter;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use vouch_format::mvcc::{self, Timestamp};
use vouch_format::sst::{Compression, SstReader, SstWriter, WriterOptions};

/// Deterministic xorshift generator so the demo needs no clock and no RNG crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

pub fn run(dir: Option<PathBuf>, seed: u64) -> Result<ExitCode> {
    let dir = match dir {
        Some(d) => d,
        None => std::env::temp_dir().join(format!("vouch-demo-{}", std::process::id())),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    println!("vouch demo: writing sample SSTs into {}", dir.display());
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut total_bytes = 0u64;
    let mut total_entries = 0u64;
    let mut files = Vec::new();
    for (i, compression) in [Compression::None, Compression::Snappy, Compression::Zstd]
        .into_iter()
        .enumerate()
    {
        let path = dir.join(format!(
            "sample-{i}-{}.sst",
            compression.rocksdb_name().to_lowercase()
        ));
        let file =
            std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        let opts = WriterOptions {
            block_size: 16 << 10,
            compression,
            mvcc: true,
            ..WriterOptions::default()
        };
        let mut w = SstWriter::new(BufWriter::new(file), opts)?;
        for account in 0..2000u32 {
            let user = format!("/bank/accounts/{account:06}");
            // Newest version first: MVCC order is timestamp descending.
            let versions = 1 + rng.next() % 3;
            for v in 0..versions {
                let ts = Timestamp::new(
                    1_700_000_000_000_000_000 + (versions - v) * 1_000_000_000,
                    0,
                );
                let k = mvcc::key(user.as_bytes(), ts);
                let deleted = v == 0 && rng.next().is_multiple_of(50);
                let payload = format!("{{\"id\":{account},\"balance\":{}}}", rng.next() % 100_000);
                let val = mvcc::value(
                    &k,
                    if deleted {
                        None
                    } else {
                        Some(payload.as_bytes())
                    },
                );
                w.add(&k, &val)?;
            }
        }
        let (buf, summary) = w.finish()?;
        buf.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        let bytes = std::fs::read(&path)?;
        let stats = SstReader::open(bytes.as_slice())?.verify_scan()?;
        println!(
            "  {}: {} entries ({} tombstones), {} data blocks, {} bytes, {}: verified",
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            stats.entries,
            stats.tombstones,
            stats.data_blocks,
            stats.file_size,
            compression.rocksdb_name()
        );
        total_bytes += summary.file_size;
        total_entries += summary.entries;
        files.push((path, bytes));
    }
    // Show that damage is caught and located.
    if let Some((path, bytes)) = files.first() {
        let mut bad = bytes.clone();
        let at = bad.len() / 3;
        if let Some(b) = bad.get_mut(at) {
            *b ^= 0x01;
        }
        match SstReader::open(bad.as_slice()).and_then(|r| r.verify_scan()) {
            Err(e) => println!(
                "  flipped one bit at offset {at} of {}: caught: {e}",
                path.display()
            ),
            Ok(_) => anyhow::bail!("a flipped bit at offset {at} went unnoticed"),
        }
    }
    println!(
        "summary: {} files, {} entries, {} bytes, all verified; check them with `vouch sst check FILE`",
        files.len(),
        total_entries,
        total_bytes
    );
    Ok(ExitCode::SUCCESS)
}
