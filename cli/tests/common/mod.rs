//! Helpers shared by the CLI integration tests: the built `vouch` binary, the repository's
//! `testdata/`, and the RocksDB oracle tools (`sst_dump`, `ldb` from Debian's
//! `rocksdb-tools` 7.8.3).
//!
//! The oracle helpers never skip: when a tool is missing the test fails and says to run
//! `scripts/install-test-tools.sh`. Each helper asserts everything the tool reports, because
//! the tools are lenient about exit codes (see [`rocksdb_verify`]).

// A test binary is its own crate: these helpers are `pub` for its test files, which
// `unreachable_pub` cannot see.
#![allow(unreachable_pub)]
#![allow(dead_code)] // each test binary uses a different subset

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

/// An entry as (user key, value).
pub type Entry = (Vec<u8>, Vec<u8>);

/// The `vouch` binary Cargo built for this test run.
pub fn vouch_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_vouch"))
}

/// Runs `vouch` with `args` and no stdin.
pub fn vouch<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    vouch_in(None, args, b"")
}

/// Runs `vouch` with `args`, in `dir` when given, feeding `stdin`.
pub fn vouch_in<I, S>(dir: Option<&Path>, args: I, stdin: &[u8]) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(vouch_bin());
    cmd.args(args);
    if let Some(d) = dir {
        cmd.current_dir(d);
    }
    run_with_stdin(cmd, stdin)
}

/// Runs a command to completion, writing `stdin` from a thread so large inputs cannot
/// deadlock against a full stdout pipe.
pub fn run_with_stdin(mut cmd: Command, stdin: &[u8]) -> Output {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {cmd:?}: {e}"));
    let mut pipe = child.stdin.take().expect("stdin is piped");
    let input = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        // The child may exit early (e.g. on a bad line) and close its stdin.
        let _ = pipe.write_all(&input);
    });
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("waiting for {cmd:?}: {e}"));
    writer.join().expect("stdin writer thread");
    out
}

/// `testdata/<p>` in the repository.
pub fn testdata(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("testdata")
        .join(p)
}

/// Lossy UTF-8 text of a command's stdout or stderr, for messages.
/// A path as the `&str` a command line takes.
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Runs vouch with `args`: (exit code, stdout, stderr).
pub fn run(args: &[&str]) -> (i32, String, String) {
    let out = vouch(args);
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout),
        text(&out.stderr),
    )
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// One JSON line per entry, exactly as `vouch sst dump` prints them (without `--mvcc`)
/// and as `vouch sst write` reads them.
pub fn entries_to_jsonl(entries: &[Entry]) -> String {
    let mut s = String::new();
    for (k, v) in entries {
        s.push_str(&format!(
            "{{\"key\":\"{}\",\"value\":\"{}\"}}\n",
            hex::encode(k),
            hex::encode(v)
        ));
    }
    s
}

/// Parses `{"key":"<hex>","value":"<hex>"}` lines (other fields are ignored).
pub fn jsonl_to_entries(s: &str) -> Vec<Entry> {
    s.lines()
        .enumerate()
        .map(|(n, l)| {
            let v: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("line {}: {e}: {l}", n + 1));
            let field = |name: &str| {
                let s = v[name]
                    .as_str()
                    .unwrap_or_else(|| panic!("line {}: no string {name:?}: {l}", n + 1));
                hex::decode(s).unwrap_or_else(|e| panic!("line {}: {name} not hex: {e}", n + 1))
            };
            (field("key"), field("value"))
        })
        .collect()
}

// ---- RocksDB tools ----------------------------------------------------------------------

const INSTALL_HINT: &str = "run scripts/install-test-tools.sh (installs Debian's rocksdb-tools, \
                            which provides sst_dump and ldb); these tests never skip";

/// Finds a tool under one of its names (Debian installs `sst_dump`, other distributions
/// `rocksdb_sst_dump`), failing the test when none runs.
fn find_tool(names: &[&'static str]) -> PathBuf {
    for name in names {
        match Command::new(name).arg("--version").output() {
            Ok(_) => return PathBuf::from(name),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => panic!("running {name} --version: {e}; {INSTALL_HINT}"),
        }
    }
    panic!("none of {names:?} is on PATH; {INSTALL_HINT}");
}

/// The `sst_dump` tool.
pub fn sst_dump_tool() -> &'static Path {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| find_tool(&["sst_dump", "rocksdb_sst_dump"]))
}

/// The `ldb` tool.
pub fn ldb_tool() -> &'static Path {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| find_tool(&["ldb", "rocksdb_ldb"]))
}

fn run_tool(tool: &Path, args: &[&OsStr]) -> Output {
    let mut cmd = Command::new(tool);
    cmd.args(args);
    cmd.stdin(Stdio::null());
    cmd.output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}; {INSTALL_HINT}"))
}

fn show(what: &str, out: &Output) -> String {
    format!(
        "{what}: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    )
}

fn file_arg(path: &Path) -> std::ffi::OsString {
    let mut a = std::ffi::OsString::from("--file=");
    a.push(path);
    a
}

/// `sst_dump --file=F --command=verify --verify_checksum` must pass. sst_dump exits 0 even
/// when a data block's checksum is wrong (it prints the error on stderr only), so this
/// requires all three: exit 0, empty stderr, and a `The file is ok` line.
pub fn rocksdb_verify(path: &Path) {
    let out = run_tool(
        sst_dump_tool(),
        &[
            file_arg(path).as_os_str(),
            OsStr::new("--command=verify"),
            OsStr::new("--verify_checksum"),
        ],
    );
    let what = format!("sst_dump verify {}", path.display());
    assert!(out.status.success(), "{}", show(&what, &out));
    assert!(
        out.stderr.is_empty(),
        "stderr must be empty; {}",
        show(&what, &out)
    );
    assert!(
        text(&out.stdout).lines().any(|l| l == "The file is ok"),
        "no `The file is ok` line; {}",
        show(&what, &out)
    );
}

/// Runs `sst_dump --file=F --command=scan --output_hex` and parses its entries.
pub fn sst_dump_scan(path: &Path) -> Vec<Entry> {
    let out = run_tool(
        sst_dump_tool(),
        &[
            file_arg(path).as_os_str(),
            OsStr::new("--command=scan"),
            OsStr::new("--output_hex"),
        ],
    );
    let what = format!("sst_dump scan {}", path.display());
    assert!(out.status.success(), "{}", show(&what, &out));
    assert!(
        out.stderr.is_empty(),
        "stderr must be empty; {}",
        show(&what, &out)
    );
    parse_sst_dump_scan(&text(&out.stdout))
}

/// Parses the output of `sst_dump --command=scan --output_hex` (see
/// `testdata/rocksdb/README.md`): four header lines (the first holds a memory address that
/// changes per run), then `'<KEYHEX>' seq:0, type:1 => <VALUEHEX>` per entry, upper-case
/// hex, an empty value leaving a trailing space. Any other line fails the test, and so does
/// an entry with another sequence number or type than `SstFileWriter`'s seq 0, Put.
pub fn parse_sst_dump_scan(s: &str) -> Vec<Entry> {
    let mut entries = Vec::new();
    for (n, line) in s.lines().enumerate() {
        let n = n + 1;
        if line.starts_with("options.env is 0x")
            || line.starts_with("Process ")
            || line == "Sst file format: block-based"
            || line == "from [] to []"
        {
            continue;
        }
        let rest = line
            .strip_prefix('\'')
            .unwrap_or_else(|| panic!("sst_dump line {n}: unexpected line {line:?}"));
        let (key, rest) = rest
            .split_once('\'')
            .unwrap_or_else(|| panic!("sst_dump line {n}: no closing quote: {line:?}"));
        let value = rest
            .strip_prefix(" seq:0, type:1 => ")
            .unwrap_or_else(|| panic!("sst_dump line {n}: not `seq:0, type:1 => `: {line:?}"));
        entries.push((upper_hex(key, n, line), upper_hex(value, n, line)));
    }
    entries
}

fn upper_hex(h: &str, n: usize, line: &str) -> Vec<u8> {
    assert!(
        h.bytes()
            .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b)),
        "sst_dump line {n}: {h:?} is not upper-case hex: {line:?}"
    );
    hex::decode(h).unwrap_or_else(|e| panic!("sst_dump line {n}: {e}: {line:?}"))
}

/// Ingests the SST into a new, empty RocksDB database with
/// `ldb --db=<tmp> --create_if_missing ingest_extern_sst F` (which needs the
/// `SstFileWriter` properties), then returns what `ldb --db=<tmp> scan --hex` prints, parsed
/// from its `0xKEY : 0xVALUE` lines. The database is deleted afterwards.
pub fn ldb_ingest_and_scan(path: &Path) -> Vec<Entry> {
    let db = tempfile::tempdir().expect("temp dir for the ldb database");
    let mut db_arg = std::ffi::OsString::from("--db=");
    db_arg.push(db.path().join("db"));
    // Ingest a copy: ldb may hard-link or move the file into the database.
    let copy = db.path().join("ingest.sst");
    std::fs::copy(path, &copy).unwrap_or_else(|e| panic!("copying {}: {e}", path.display()));

    let out = run_tool(
        ldb_tool(),
        &[
            db_arg.as_os_str(),
            OsStr::new("--create_if_missing"),
            OsStr::new("ingest_extern_sst"),
            copy.as_os_str(),
        ],
    );
    let what = format!("ldb ingest_extern_sst {}", path.display());
    assert!(out.status.success(), "{}", show(&what, &out));
    // ldb 7.8.3 prints both its success message and failures ("Failed: ...", exit 1) on
    // stderr; accept only the success message. Ingestion does not verify data block
    // checksums, so a clean ingest is no substitute for `rocksdb_verify` or the scan below.
    assert!(out.stdout.is_empty(), "{}", show(&what, &out));
    assert_eq!(
        text(&out.stderr).trim_end(),
        "external SST files ingested",
        "{}",
        show(&what, &out)
    );

    let out = run_tool(
        ldb_tool(),
        &[db_arg.as_os_str(), OsStr::new("scan"), OsStr::new("--hex")],
    );
    let what = format!("ldb scan --hex after ingesting {}", path.display());
    assert!(out.status.success(), "{}", show(&what, &out));
    assert!(out.stderr.is_empty(), "{}", show(&what, &out));
    let stdout = text(&out.stdout);
    stdout
        .lines()
        .enumerate()
        .map(|(n, line)| {
            let (k, v) = line.split_once(" : ").unwrap_or_else(|| {
                panic!("ldb scan line {}: not `0xKEY : 0xVALUE`: {line:?}", n + 1)
            });
            let h = |x: &str| {
                let x = x
                    .strip_prefix("0x")
                    .unwrap_or_else(|| panic!("ldb scan line {}: no 0x: {line:?}", n + 1));
                hex::decode(x).unwrap_or_else(|e| panic!("ldb scan line {}: {e}: {line:?}", n + 1))
            };
            (h(k), h(v))
        })
        .collect()
}

/// Everything the RocksDB tools can say about a file vouch wrote: `sst_dump` verifies it,
/// and both `sst_dump` scan and `ldb` ingest + scan return exactly `want`.
pub fn assert_rocksdb_reads(path: &Path, want: &[Entry]) {
    rocksdb_verify(path);
    let dumped = sst_dump_scan(path);
    assert_entries_eq(
        &dumped,
        want,
        &format!("sst_dump scan of {}", path.display()),
    );
    let ingested = ldb_ingest_and_scan(path);
    assert_entries_eq(
        &ingested,
        want,
        &format!("ldb ingest + scan of {}", path.display()),
    );
}

/// Compares entry lists, naming the first difference instead of printing both lists.
pub fn assert_entries_eq(got: &[Entry], want: &[Entry], what: &str) {
    if got == want {
        return;
    }
    let first = got.iter().zip(want).position(|(a, b)| a != b);
    match first {
        Some(i) => panic!(
            "{what}: entry #{i} differs: got ({}, {}), want ({}, {}) ({} vs {} entries)",
            hex::encode(&got[i].0),
            hex::encode(&got[i].1),
            hex::encode(&want[i].0),
            hex::encode(&want[i].1),
            got.len(),
            want.len()
        ),
        None => panic!(
            "{what}: got {} entries, want {}; the shorter is a prefix of the longer",
            got.len(),
            want.len()
        ),
    }
}

// ---- SST structure, decoded independently of vouch_format -------------------------------

/// A block's location: offset and stored size (without the 5-byte trailer), and the
/// trailer's compression byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockAt {
    pub offset: u64,
    pub size: u64,
    pub compression: u8,
}

/// Where the blocks of a format_version 2 SST are, read from the footer, index block and
/// metaindex block with a decoder separate from `vouch_format` (uncompressed index only).
#[derive(Debug, Clone)]
pub struct Layout {
    pub data: Vec<BlockAt>,
    pub index: BlockAt,
    pub metaindex: BlockAt,
    pub properties: BlockAt,
    /// Offset of the 53-byte footer.
    pub footer: u64,
}

fn varint(b: &[u8], pos: &mut usize) -> u64 {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = b[*pos];
        *pos += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return v;
        }
    }
    panic!("varint too long");
}

fn block_at(file: &[u8], offset: u64, size: u64) -> BlockAt {
    BlockAt {
        offset,
        size,
        compression: file[(offset + size) as usize],
    }
}

/// One entry of a block: its full key, and where its value is inside the block contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEntry {
    pub key: Vec<u8>,
    pub value_at: usize,
    pub value_len: usize,
}

/// Entries of an uncompressed block's contents (without trailer).
pub fn block_entries(contents: &[u8]) -> Vec<RawEntry> {
    let n = contents.len();
    let restarts = u32::from_le_bytes(contents[n - 4..].try_into().unwrap()) as usize;
    let end = n - 4 - 4 * restarts;
    let (mut pos, mut key, mut out) = (0usize, Vec::new(), Vec::new());
    while pos < end {
        let shared = varint(contents, &mut pos) as usize;
        let non_shared = varint(contents, &mut pos) as usize;
        let vlen = varint(contents, &mut pos) as usize;
        key.truncate(shared);
        key.extend_from_slice(&contents[pos..pos + non_shared]);
        pos += non_shared;
        out.push(RawEntry {
            key: key.clone(),
            value_at: pos,
            value_len: vlen,
        });
        pos += vlen;
    }
    out
}

/// Encodes a block with a restart point at every entry (as vouch and RocksDB write index
/// and metaindex blocks).
pub fn encode_block_restart_every_entry(entries: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    fn put(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }
    let mut out = Vec::new();
    let mut restarts = Vec::new();
    for (k, v) in entries {
        restarts.push(out.len() as u32);
        put(&mut out, 0);
        put(&mut out, k.len() as u64);
        put(&mut out, v.len() as u64);
        out.extend_from_slice(k);
        out.extend_from_slice(v);
    }
    for r in &restarts {
        out.extend_from_slice(&r.to_le_bytes());
    }
    out.extend_from_slice(&(restarts.len() as u32).to_le_bytes());
    out
}

/// Stored bytes of a block (without trailer).
pub fn contents(file: &[u8], b: BlockAt) -> &[u8] {
    &file[b.offset as usize..(b.offset + b.size) as usize]
}

/// Decodes a block handle (varint64 offset, varint64 size).
pub fn handle(v: &[u8]) -> (u64, u64) {
    let mut pos = 0;
    (varint(v, &mut pos), varint(v, &mut pos))
}

/// Decodes the layout of an SST vouch wrote (index and metaindex uncompressed).
pub fn layout(file: &[u8]) -> Layout {
    let footer = file.len() - 53;
    let mut pos = footer + 1;
    let (mo, ms) = (varint(file, &mut pos), varint(file, &mut pos));
    let (io, is) = (varint(file, &mut pos), varint(file, &mut pos));
    let index = block_at(file, io, is);
    let metaindex = block_at(file, mo, ms);
    assert_eq!(
        index.compression, 0,
        "index block must be uncompressed for this decoder"
    );
    let ic = contents(file, index);
    let data = block_entries(ic)
        .into_iter()
        .map(|e| {
            let (o, s) = handle(&ic[e.value_at..e.value_at + e.value_len]);
            block_at(file, o, s)
        })
        .collect();
    let mc = contents(file, metaindex);
    let p = block_entries(mc)
        .into_iter()
        .find(|e| e.key.as_slice() == b"rocksdb.properties")
        .expect("metaindex has rocksdb.properties");
    let (po, ps) = handle(&mc[p.value_at..p.value_at + p.value_len]);
    Layout {
        data,
        index,
        metaindex,
        properties: block_at(file, po, ps),
        footer: footer as u64,
    }
}

/// Runs `vouch` and requires success; returns stdout and stderr.
pub fn ok<S: AsRef<std::ffi::OsStr> + std::fmt::Debug>(args: &[S]) -> (String, String) {
    let out = vouch(args);
    assert!(
        out.status.success(),
        "vouch {args:?}: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    (text(&out.stdout), text(&out.stderr))
}

/// Runs `vouch` and requires failure; returns the output.
pub fn fails<S: AsRef<std::ffi::OsStr> + std::fmt::Debug>(args: &[S]) -> Output {
    let out = vouch(args);
    assert!(
        !out.status.success(),
        "vouch {args:?} succeeded:\n{}",
        text(&out.stdout)
    );
    out
}

/// The columns of CockroachDB's BACKUP and RESTORE result row.
pub const JOB_RESULT_COLUMNS: [&str; 6] = [
    "job_id",
    "status",
    "fraction_completed",
    "rows",
    "index_entries",
    "bytes",
];

/// Spawns `cmd` with its stdout piped and read on a thread of its own: the child, and its
/// stdout lines as they come (for long-running processes such as `vouch scheduler`,
/// whose events a test waits for).
pub fn spawn_lines(
    cmd: &mut std::process::Command,
) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
    use std::io::BufRead;
    let mut child = cmd.stdout(std::process::Stdio::piped()).spawn().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for l in std::io::BufReader::new(stdout).lines() {
            let Ok(l) = l else { break };
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    (child, rx)
}
