//! `verify` over encrypted collections (issue 6), with and without the key.
//!
//! - Clean encrypted `bank` and `movr` collections (passphrase): no finding at any level
//!   with the key; without it, none at `metadata` and at `full --keyless` (which exits 0,
//!   even with `--strict`, and lists in `not_checked` what it left out), while `schema`
//!   and `full` without `--keyless` cannot run (the message names the key the chain needs).
//! - Key-less: a flipped byte in an encrypted SST is a `sha256_mismatch` naming the file.
//! - With the key: the same flip, and every envelope tamper kind (a flip in the first,
//!   middle and last chunk, in a tag, in the header; truncation at and between chunk
//!   boundaries; an appended chunk; two chunks swapped; two data files swapped; a chunk
//!   spliced from another file) is found at `full` with the file, the chunk and its offset.
//! - A forged listing (sizes and hashes edited to match a replaced file) passes the key-less
//!   checks and is caught with the key as `listing_mismatch` naming the field.

use std::path::{Path, PathBuf};

use vouch_chain::Targets;
use vouch_cluster::workload::{self, Workload};
use vouch_cluster::{Clock, Cluster};
use vouch_engine::backup::{backup, BackupOptions, Destination};
use vouch_engine::crypto;
use vouch_format::envelope::{HEADER_LEN, TAG_LEN};
use vouch_format::layout;
use vouch_format::manifest;
use vouch_keys::passphrase::Passphrase;
use vouch_keys::KeySource;
use vouch_store::OpenOptions;
use vouch_verify::{verify_collection, Error, Finding, Level, Report, Severity, VerifyOptions};

const SEC: u64 = 1_000_000_000;
/// 2026-01-01 00:00:00.23 UTC.
const T0: u64 = 1_767_225_600 * SEC + 230_000_000;
const LEVELS: [Level; 3] = [Level::Metadata, Level::Schema, Level::Full];
/// Stored bytes per full chunk (64 KiB of ciphertext and its tag).
const STRIDE: u64 = (64 << 10) + TAG_LEN as u64;
const H: u64 = HEADER_LEN as u64;

fn pass(p: &str) -> KeySource {
    KeySource::passphrase(Passphrase::new(p).unwrap())
}

struct Built {
    tmp: tempfile::TempDir,
    root: PathBuf,
}

/// A full backup and `incs` incrementals with revision history, encrypted with `keys`;
/// the workload runs between backups.
fn build(w: Workload, rows: u64, incs: usize, file_size: u64, keys: &KeySource) -> Built {
    let tmp = tempfile::tempdir().unwrap();
    let c = Cluster::init(&tmp.path().join("cluster"), Clock::manual(T0)).unwrap();
    workload::init(&c, w, rows, 1).unwrap();
    let root = tmp.path().join("collection");
    let uri = root.to_str().unwrap().to_string();
    for i in 0..=incs {
        c.kv().clock().advance(SEC);
        if i > 0 {
            workload::run(&c, w, 30, i as u64).unwrap();
            c.kv().clock().advance(SEC);
        }
        let dest = if i == 0 {
            Destination::Into(uri.clone())
        } else {
            Destination::IntoLatest(uri.clone())
        };
        let mut o = BackupOptions::new(Targets::Cluster, dest);
        o.revision_history = true;
        o.target_file_size = file_size;
        o.encryption = keys.clone();
        backup(&c, &o, &mut |_| {}).unwrap_or_else(|e| panic!("backup: {e}"));
    }
    Built { tmp, root }
}

fn run(root: &Path, level: Level, keys: &KeySource) -> Result<Report, Error> {
    let mut o = VerifyOptions::new(level);
    o.keys = keys.clone();
    verify_collection(
        root.to_str().unwrap(),
        None,
        None,
        &OpenOptions {
            nodelocal_root: None,
            ..Default::default()
        },
        &o,
        &mut |_| {},
    )
}

fn verify(root: &Path, level: Level, keys: &KeySource) -> Report {
    run(root, level, keys).unwrap_or_else(|e| panic!("verify {} at {level}: {e}", root.display()))
}

/// `verify --keyless` at `level`.
fn keyless(root: &Path, level: Level) -> Report {
    let mut o = VerifyOptions::new(level);
    o.keyless = true;
    verify_collection(
        root.to_str().unwrap(),
        None,
        None,
        &OpenOptions::default(),
        &o,
        &mut |_| {},
    )
    .unwrap_or_else(|e| panic!("verify --keyless {} at {level}: {e}", root.display()))
}

fn describe(r: &Report) -> String {
    r.findings
        .iter()
        .map(|f| {
            format!(
                "  {:?} {} file={:?} block={:?} offset={:?}: {}",
                f.severity, f.kind, f.file, f.block, f.offset, f.message
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn kinds(r: &Report) -> Vec<&'static str> {
    r.findings.iter().map(|f| f.kind).collect()
}

/// The layer directories of the collection (full backup first), relative to its root.
fn layers(root: &Path) -> Vec<String> {
    let files = vouch_testkit::tree::list_files(root).unwrap();
    let listing = layout::Listing::new(&files);
    let full = listing.full_backups().remove(0);
    let mut v = vec![full.clone()];
    v.extend(listing.incrementals(&full, layout::INCREMENTALS_DIR));
    v
}

/// Data files of a layer (paths relative to the root), from its listing.
fn data_files(root: &Path, dir: &str) -> Vec<String> {
    let l = read_listing(root, dir);
    l.files
        .iter()
        .map(|f| format!("{dir}/{}", f.path))
        .collect()
}

fn read_listing(root: &Path, dir: &str) -> vouch_format::manifest::pb::IntegrityListing {
    let p = root.join(dir).join(layout::LISTING);
    vouch_chain::sealed::decode_listing(&std::fs::read(&p).unwrap(), "listing").unwrap()
}

fn write(root: &Path, rel: &str, bytes: &[u8]) {
    let p = root.join(rel);
    // Collections are write-once: files are read-only links; replace rather than edit.
    let _ = std::fs::remove_file(&p);
    std::fs::write(&p, bytes).unwrap();
}

fn copy(b: &Built, name: &str) -> PathBuf {
    let dst = b.tmp.path().join(name);
    vouch_testkit::tree::copy_tree(&b.root, &dst).unwrap();
    dst
}

#[test]
fn clean_encrypted_collections_with_and_without_the_key() {
    let keys = pass("correct horse");
    for (w, rows) in [(Workload::Bank, 200), (Workload::Movr, 60)] {
        let b = build(w, rows, 2, 4 << 10, &keys);
        for level in LEVELS {
            let r = verify(&b.root, level, &keys);
            assert!(
                r.findings.is_empty() && r.exit_code() == 0,
                "{w} at {level} with the key:\n{}",
                describe(&r)
            );
        }
        let none = KeySource::default();
        let r = verify(&b.root, Level::Metadata, &none);
        assert!(
            r.findings.is_empty(),
            "{w} metadata without the key:\n{}",
            describe(&r)
        );
        // The listings stand in for the manifests: every layer's files were stat'ed.
        let n_files: usize = layers(&b.root)
            .iter()
            .map(|d| data_files(&b.root, d).len())
            .sum();
        assert!(r.files_checked as usize >= n_files, "{}", r.files_checked);
        assert_eq!(
            r.chains[0].not_checked,
            vec!["key_record_wraps", "listing_vs_manifest"]
        );
        let r = keyless(&b.root, Level::Full);
        assert!(r.findings.is_empty(), "{w}:\n{}", describe(&r));
        assert_eq!(r.exit_code(), 0);
        assert!(r.keyless);
        assert!(r.chains.iter().all(|c| c.encrypted));
        assert_eq!(
            r.chains[0].not_checked,
            vouch_verify::NOT_CHECKED_WITHOUT_KEY
                .iter()
                .map(|(_, n)| *n)
                .collect::<Vec<_>>()
        );
        assert!(r.chains[0].not_checked.contains(&"fingerprints"));
        let human = vouch_verify::render_human(&r);
        assert!(
            human.contains(
                "not checked (encrypted, read without its key): key_record_wraps, listing_vs_manifest, descriptors"
            ),
            "{human}"
        );
        // Every stored byte of every data file was read.
        let stored: u64 = layers(&b.root)
            .iter()
            .flat_map(|d| read_listing(&b.root, d).files)
            .map(|f| f.size)
            .sum();
        assert!(r.bytes_read >= stored, "{} < {stored}", r.bytes_read);
        // An explicit choice: --strict passes a clean chain too.
        let mut strict = VerifyOptions::new(Level::Full);
        strict.strict = true;
        strict.keyless = true;
        let r = verify_collection(
            b.root.to_str().unwrap(),
            None,
            None,
            &OpenOptions::default(),
            &strict,
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(r.exit_code(), 0, "{}", describe(&r));
        // With the key nothing is left out.
        let r = verify(&b.root, Level::Full, &keys);
        assert!(r.chains.iter().all(|c| c.not_checked.is_empty()));
        // full without the key (and without --keyless) cannot run, and says what key the
        // chain needs, as schema does.
        let e = run(&b.root, Level::Full, &none).unwrap_err();
        assert!(matches!(e, Error::Usage(_)), "{e:?}");
        let e = e.to_string();
        assert!(
            e.contains("the backup is encrypted but no key was given")
                && e.contains("passphrase")
                && e.contains("--keyless"),
            "{e}"
        );
        // --keyless excludes a key, and the schema level.
        let mut both = VerifyOptions::new(Level::Full);
        both.keyless = true;
        both.keys = keys.clone();
        let uri = b.root.to_str().unwrap();
        let e = verify_collection(uri, None, None, &OpenOptions::default(), &both, &mut |_| {});
        assert!(matches!(e, Err(Error::Usage(_))), "{e:?}");
        let mut schema = VerifyOptions::new(Level::Schema);
        schema.keyless = true;
        let e = verify_collection(
            uri,
            None,
            None,
            &OpenOptions::default(),
            &schema,
            &mut |_| {},
        );
        assert!(matches!(e, Err(Error::Usage(_))), "{e:?}");
        // schema without the key cannot run, and says what key the chain needs.
        let e = run(&b.root, Level::Schema, &none).unwrap_err().to_string();
        assert!(
            e.contains("the backup is encrypted but no key was given") && e.contains("passphrase"),
            "{e}"
        );
        // A wrong passphrase: cannot run, the cause named.
        let e = run(&b.root, Level::Metadata, &pass("wrong"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("wrong passphrase"), "{e}");
    }
}

/// The largest data file of the full backup and another one with at least two chunks.
fn two_big_files(root: &Path) -> (String, String) {
    let full = &layers(root)[0];
    let mut files: Vec<(u64, String)> = data_files(root, full)
        .into_iter()
        .map(|p| (std::fs::metadata(root.join(&p)).unwrap().len(), p))
        .collect();
    files.sort();
    let (size, big) = files.pop().unwrap();
    let (size2, other) = files.pop().unwrap();
    assert!(
        size > H + 3 * STRIDE,
        "{big}: {size} bytes, fewer than 4 chunks"
    );
    assert!(
        size2 > H + STRIDE,
        "{other}: {size2} bytes, fewer than 2 chunks"
    );
    (big, other)
}

fn big_collection() -> (Built, KeySource) {
    let keys = pass("pw");
    let b = build(Workload::Bank, 4000, 1, 300 << 10, &keys);
    (b, keys)
}

fn find<'r>(r: &'r Report, kind: &str, file: &str) -> Option<&'r Finding> {
    r.findings
        .iter()
        .find(|f| f.kind == kind && f.file == file && f.severity == Severity::Error)
}

#[test]
fn a_flipped_byte_in_an_encrypted_sst_with_and_without_the_key() {
    let (b, keys) = big_collection();
    let (big, _) = two_big_files(&b.root);
    let dst = copy(&b, "flip");
    let mut bytes = std::fs::read(dst.join(&big)).unwrap();
    let at = H + STRIDE + 1000;
    bytes[at as usize] ^= 0x04;
    write(&dst, &big, &bytes);
    let none = KeySource::default();
    // Metadata cannot see it (sizes are unchanged), without the key or with it.
    assert!(verify(&dst, Level::Metadata, &none).findings.is_empty());
    assert!(verify(&dst, Level::Metadata, &keys).findings.is_empty());
    let r = keyless(&dst, Level::Full);
    let f = find(&r, "sha256_mismatch", &big).unwrap_or_else(|| panic!("{}", describe(&r)));
    assert_eq!(
        f.found.as_deref(),
        Some(hex::encode(manifest::sha256(&bytes)).as_str())
    );
    assert_eq!(r.exit_code(), 1);
    let r = verify(&dst, Level::Full, &keys);
    let f = find(&r, "envelope_auth", &big).unwrap_or_else(|| panic!("{}", describe(&r)));
    assert_eq!(f.block.as_deref(), Some("chunk#1"), "{}", describe(&r));
    assert_eq!(f.offset, Some(H + STRIDE));
    assert!(
        f.message.contains(&big) && f.message.contains("chunk 1"),
        "{}",
        f.message
    );
    assert!(
        find(&r, "sha256_mismatch", &big).is_some(),
        "{}",
        describe(&r)
    );
    // The merge pass skips the damaged table instead of failing on it: no other error.
    assert!(
        r.findings
            .iter()
            .all(|f| f.file == big || f.severity == Severity::Warning),
        "{}",
        describe(&r)
    );
}

/// An edit of a file's bytes.
type BytesEdit = Box<dyn Fn(&mut Vec<u8>)>;

/// One tamper case: what is done to the copy, and where the `envelope_auth` (or
/// `envelope_header` / `envelope_size`) finding on `file` must point.
struct Tamper {
    name: &'static str,
    file: String,
    kind: &'static str,
    /// The chunk the finding names (`None`: any, or no chunk for header findings).
    chunk: Option<u64>,
    /// `[start, end)` the finding's offset must lie in.
    region: (u64, u64),
    edit: Box<dyn Fn(&Path)>,
}

#[test]
fn every_envelope_tamper_kind_is_found_at_full_with_its_location() {
    let (b, keys) = big_collection();
    let (big, other) = two_big_files(&b.root);
    let orig = std::fs::read(b.root.join(&big)).unwrap();
    let other_bytes = std::fs::read(b.root.join(&other)).unwrap();
    let size = orig.len() as u64;
    let n = (size - H).div_ceil(STRIDE);
    let chunk_at = |i: u64| H + i * STRIDE;
    let flip = |at: u64| {
        let (big, orig) = (big.clone(), orig.clone());
        Box::new(move |root: &Path| {
            let mut b = orig.clone();
            b[at as usize] ^= 0x20;
            write(root, &big, &b);
        }) as Box<dyn Fn(&Path)>
    };
    let with = |f: BytesEdit| {
        let (big, orig) = (big.clone(), orig.clone());
        Box::new(move |root: &Path| {
            let mut b = orig.clone();
            f(&mut b);
            write(root, &big, &b);
        }) as Box<dyn Fn(&Path)>
    };
    let at_chunk = |name, i: u64, edit| Tamper {
        name,
        file: big.clone(),
        kind: "envelope_auth",
        chunk: Some(i),
        region: (chunk_at(i), chunk_at(i) + 1),
        edit,
    };
    let s = STRIDE as usize;
    let h = HEADER_LEN;
    let other_chunk: Vec<u8> = other_bytes[h..h + s].to_vec();
    let cases = vec![
        at_chunk("flip/first-chunk", 0, flip(H + 10)),
        at_chunk("flip/middle-chunk", n / 2, flip(chunk_at(n / 2) + 500)),
        at_chunk("flip/last-chunk", n - 1, flip(size - TAG_LEN as u64 - 3)),
        at_chunk("flip/tag", 1, flip(chunk_at(2) - 5)),
        Tamper {
            name: "flip/header-magic",
            file: big.clone(),
            kind: "envelope_header",
            chunk: None,
            region: (0, 1),
            edit: flip(0),
        },
        Tamper {
            name: "flip/header-chunk-size",
            file: big.clone(),
            kind: "envelope_header",
            chunk: None,
            region: (12, 13),
            edit: flip(13),
        },
        // The file nonce is authenticated with every chunk: the first chunk read fails.
        Tamper {
            name: "flip/header-nonce",
            file: big.clone(),
            kind: "envelope_auth",
            chunk: None,
            region: (H, size),
            edit: flip(20),
        },
        // Cut after chunk n-2: that chunk is not a final one.
        at_chunk(
            "truncate/at-chunk-boundary",
            n - 2,
            with(Box::new(move |b| {
                b.truncate((H + (n - 1) * STRIDE) as usize)
            })),
        ),
        at_chunk(
            "truncate/inside-a-chunk",
            1,
            with(Box::new(move |b| b.truncate((H + STRIDE + 1000) as usize))),
        ),
        // Too short for a final chunk's tag: refused from the size before any decryption.
        Tamper {
            name: "truncate/inside-the-last-tag",
            file: big.clone(),
            kind: "envelope_size",
            chunk: Some(1),
            region: (chunk_at(1), chunk_at(1) + 1),
            edit: with(Box::new(move |b| b.truncate((H + STRIDE + 7) as usize))),
        },
        // A copy of chunk 0 appended: the old final chunk is followed by more bytes, and
        // the new last chunk is chunk 0's bytes at another index.
        Tamper {
            name: "append/chunk",
            file: big.clone(),
            kind: "envelope_auth",
            chunk: None,
            region: (chunk_at(n - 1), size + STRIDE),
            edit: with(Box::new(move |b| {
                let c0 = b[h..h + s].to_vec();
                b.extend_from_slice(&c0);
            })),
        },
        at_chunk(
            "swap/chunks-1-and-2",
            1,
            with(Box::new(move |b| {
                let c1 = b[h + s..h + 2 * s].to_vec();
                let c2 = b[h + 2 * s..h + 3 * s].to_vec();
                b[h + s..h + 2 * s].copy_from_slice(&c2);
                b[h + 2 * s..h + 3 * s].copy_from_slice(&c1);
            })),
        ),
        at_chunk(
            "splice/chunk-from-another-file",
            1,
            with(Box::new(move |b| {
                b[h + s..h + 2 * s].copy_from_slice(&other_chunk);
            })),
        ),
        // Two data files of the backup exchanged: each fails under its own path.
        Tamper {
            name: "swap/data-files",
            file: big.clone(),
            kind: "envelope_auth",
            chunk: None,
            region: (H, other_bytes.len() as u64),
            edit: {
                let (big, other) = (big.clone(), other.clone());
                let (a, o) = (orig.clone(), other_bytes.clone());
                Box::new(move |root: &Path| {
                    write(root, &big, &o);
                    write(root, &other, &a);
                })
            },
        },
    ];
    let mut misses = Vec::new();
    for (i, t) in cases.iter().enumerate() {
        let dst = b.tmp.path().join(format!("t{i}"));
        vouch_testkit::tree::copy_tree(&b.root, &dst).unwrap();
        (t.edit)(&dst);
        let r = verify(&dst, Level::Full, &keys);
        let hit = r.findings.iter().any(|f| {
            f.severity == Severity::Error
                && f.kind == t.kind
                && f.file == t.file
                && f.offset.is_some_and(|o| t.region.0 <= o && o < t.region.1)
                && t.chunk
                    .is_none_or(|c| f.block.as_deref() == Some(&format!("chunk#{c}")))
                && f.message.contains(&t.file)
        });
        if !hit || r.exit_code() != 1 {
            misses.push(format!(
                "{}: expected {} on {} chunk {:?} offset in {:?}; got:\n{}",
                t.name,
                t.kind,
                t.file,
                t.chunk,
                t.region,
                describe(&r)
            ));
        }
        std::fs::remove_dir_all(&dst).unwrap();
    }
    assert!(misses.is_empty(), "{}", misses.join("\n"));
}

#[test]
fn a_forged_listing_passes_without_the_key_and_is_caught_with_it() {
    let (b, keys) = big_collection();
    let (big, other) = two_big_files(&b.root);
    let full = layers(&b.root)[0].clone();
    let dst = copy(&b, "forged");
    // `big` replaced by the bytes of `other`, and the listing edited to describe them.
    let other_bytes = std::fs::read(b.root.join(&other)).unwrap();
    write(&dst, &big, &other_bytes);
    let mut listing = read_listing(&b.root, &full);
    let rel = big.strip_prefix(&format!("{full}/")).unwrap();
    let entry = listing.files.iter_mut().find(|f| f.path == rel).unwrap();
    let recorded = (entry.size, entry.sha256.clone());
    entry.size = other_bytes.len() as u64;
    entry.sha256 = manifest::sha256(&other_bytes).to_vec();
    write(
        &dst,
        &format!("{full}/{}", layout::LISTING),
        &crypto::encode_listing(&listing),
    );
    let none = KeySource::default();
    assert!(verify(&dst, Level::Metadata, &none).findings.is_empty());
    assert_eq!(
        kinds(&keyless(&dst, Level::Full)),
        Vec::<&str>::new(),
        "without the key the forgery is consistent"
    );
    let lpath = format!("{full}/{}", layout::LISTING);
    for level in LEVELS {
        let r = verify(&dst, level, &keys);
        let f = find(&r, "listing_mismatch", &lpath).unwrap_or_else(|| panic!("{}", describe(&r)));
        assert!(
            f.message.contains(&format!("field files[{rel}]")),
            "{}",
            f.message
        );
        assert_eq!(
            f.expected.as_deref(),
            Some(format!("{} bytes, sha256 {}", recorded.0, hex::encode(&recorded.1)).as_str())
        );
        assert!(
            find(&r, "size_mismatch", &big).is_some(),
            "{}",
            describe(&r)
        );
        if level == Level::Full {
            assert!(
                find(&r, "envelope_auth", &big).is_some(),
                "{}",
                describe(&r)
            );
        }
    }
    // A listing naming another backup id: the manifest does not authenticate under it.
    let mut l2 = read_listing(&b.root, &full);
    l2.backup_id = vec![7; 16];
    write(&dst, &lpath, &crypto::encode_listing(&l2));
    let r = verify(&dst, Level::Metadata, &keys);
    let mpath = format!("{full}/{}", layout::MANIFEST);
    let f = find(&r, "envelope_auth", &mpath).unwrap_or_else(|| panic!("{}", describe(&r)));
    assert_eq!((f.block.as_deref(), f.offset), (Some("chunk#0"), Some(H)));
    // A missing listing: named, without the key and with it.
    std::fs::remove_file(dst.join(&lpath)).unwrap();
    for k in [&none, &keys] {
        let r = verify(&dst, Level::Metadata, k);
        assert!(
            find(&r, "listing_missing", &lpath).is_some(),
            "{}",
            describe(&r)
        );
    }
}
