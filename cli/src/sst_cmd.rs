//! `vouch sst dump|check|write`.

use std::fs::File;
use std::io::{self, BufRead, BufWriter, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use serde_json::json;
use vouch_format::mvcc;
use vouch_format::sst::{Compression, SstReader, SstWriter, WriterOptions};
use vouch_verify::FileSource;

/// One dump line for an entry.
pub(crate) fn entry_json(key: &[u8], value: &[u8], decode_mvcc: bool) -> serde_json::Value {
    let mut o = json!({ "key": hex::encode(key), "value": hex::encode(value) });
    if decode_mvcc {
        match mvcc::decode_key(key) {
            Ok((user, ts)) => {
                o["user_key"] = json!(hex::encode(&user));
                o["ts"] = json!(ts.to_string());
                o["wall"] = json!(ts.wall);
                o["logical"] = json!(ts.logical);
                match mvcc::decode_value(key, value) {
                    Ok(v) => {
                        o["tombstone"] = json!(v.is_tombstone());
                        if let mvcc::Value::Live(p) = v {
                            o["payload"] = json!(hex::encode(p));
                        }
                    }
                    Err(e) => o["mvcc_error"] = json!(e.to_string()),
                }
            }
            Err(e) => o["mvcc_error"] = json!(e.to_string()),
        }
    }
    o
}

fn open_source(path: &Path) -> Result<FileSource> {
    FileSource::open(path).with_context(|| format!("opening {}", path.display()))
}

pub(crate) fn dump(path: &Path, decode_mvcc: bool) -> Result<ExitCode> {
    let src = open_source(path)?;
    let r = SstReader::open(src).with_context(|| format!("opening {}", path.display()))?;
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut it = r.iter();
    while let Some((k, v)) = it
        .next_entry()
        .with_context(|| format!("reading {}", path.display()))?
    {
        let line = entry_json(k, v, decode_mvcc);
        if let Err(e) = writeln!(out, "{line}") {
            if e.kind() == io::ErrorKind::BrokenPipe {
                return Ok(ExitCode::SUCCESS);
            }
            return Err(e.into());
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn check(path: &Path, as_json: bool) -> Result<ExitCode> {
    let src = open_source(path)?;
    let result = SstReader::open(src).and_then(|r| r.verify_scan());
    match result {
        Ok(s) => {
            if as_json {
                println!(
                    "{}",
                    json!({"file": path.display().to_string(), "ok": true, "entries": s.entries,
                           "data_blocks": s.data_blocks, "bytes": s.file_size, "tombstones": s.tombstones})
                );
            } else {
                println!(
                    "{}: ok: {} entries in {} data blocks, {} bytes",
                    path.display(),
                    s.entries,
                    s.data_blocks,
                    s.file_size
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            if as_json {
                println!(
                    "{}",
                    json!({"file": path.display().to_string(), "ok": false, "error": e.to_string(),
                           "category": format!("{:?}", e.category())})
                );
            } else {
                eprintln!("{}: {e}", path.display());
            }
            Ok(ExitCode::from(1))
        }
    }
}

pub(crate) fn write(
    out: &Path,
    block_size: usize,
    compression: &str,
    mvcc_mode: bool,
    force: bool,
) -> Result<ExitCode> {
    let Some(compression) = Compression::from_name(compression) else {
        bail!("unknown compression {compression:?} (expected none, snappy or zstd)");
    };
    let opts = WriterOptions {
        block_size,
        compression,
        mvcc: mvcc_mode,
        ..WriterOptions::default()
    };
    // Write to a temporary name and rename when complete, so a failed write leaves nothing
    // that looks like a finished file.
    let tmp = out.with_extension("sst.partial");
    let file = if force {
        File::create(&tmp)
    } else {
        if out.exists() {
            bail!("{} exists (use --force to replace it)", out.display());
        }
        File::options().write(true).create_new(true).open(&tmp)
    }
    .with_context(|| format!("creating {}", tmp.display()))?;
    let result = (|| -> Result<u64> {
        let mut w = SstWriter::new(BufWriter::new(file), opts)?;
        let stdin = io::stdin();
        for (n, line) in stdin.lock().lines().enumerate() {
            let line = line.context("reading stdin")?;
            if line.trim().is_empty() {
                continue;
            }
            let v: serde_json::Value = serde_json::from_str(&line)
                .with_context(|| format!("stdin line {}: not JSON", n + 1))?;
            let field = |name: &str| -> Result<Vec<u8>> {
                let s = v.get(name).and_then(|x| x.as_str()).with_context(|| {
                    format!("stdin line {}: missing string field {name:?}", n + 1)
                })?;
                hex::decode(s)
                    .with_context(|| format!("stdin line {}: field {name:?} is not hex", n + 1))
            };
            let (k, val) = (field("key")?, field("value")?);
            w.add(&k, &val)
                .with_context(|| format!("stdin line {}", n + 1))?;
        }
        let (buf, summary) = w.finish()?;
        let f = buf.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        Ok(summary.entries)
    })();
    match result {
        Ok(entries) => {
            std::fs::rename(&tmp, out).with_context(|| format!("renaming to {}", out.display()))?;
            eprintln!("wrote {} entries to {}", entries, out.display());
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}
