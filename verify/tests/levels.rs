//! The three levels over small bank and movr collections with revision history: clean
//! collections give no finding at any level, and targeted damage gives exactly the kind
//! and location expected. (The generator-driven corruption suite is in corruption*.rs.)

use std::path::{Path, PathBuf};

use vouch_chain::open_options;
use vouch_chain::Targets;
use vouch_cluster::workload::{self, Workload};
use vouch_cluster::{Clock, Cluster};
use vouch_engine::backup::{backup, BackupOptions, Destination};
use vouch_format::layout;
use vouch_format::manifest::{self, pb};
use vouch_format::sst::Compression;
use vouch_verify::{verify_collection, Finding, Level, Report, Severity, VerifyOptions};

const START_WALL: u64 = 1_767_225_600_000_000_000 + 230_000_000;
const SECOND: u64 = 1_000_000_000;

/// A cluster with a collection `nodelocal://1/coll` of two chains:
/// full + 2 incrementals, then full + 1 incremental, all with revision history.
struct Env {
    _tmp: tempfile::TempDir,
    cluster: Cluster,
    /// Layer directories relative to the collection root, per chain, oldest first.
    chains: Vec<Vec<String>>,
}

impl Env {
    fn new(w: Workload, seed: u64) -> Env {
        let tmp = tempfile::tempdir().unwrap();
        let cluster = Cluster::init(&tmp.path().join("c"), Clock::manual(START_WALL)).unwrap();
        workload::init(&cluster, w, 120, seed).unwrap();
        let mut env = Env {
            _tmp: tmp,
            cluster,
            chains: Vec::new(),
        };
        let mut ops = seed * 100;
        let mut step = |env: &mut Env, dest: Destination| {
            env.cluster.kv().clock().advance(SECOND);
            ops += 1;
            workload::run(&env.cluster, w, 30, ops).unwrap();
            env.cluster.kv().clock().advance(SECOND);
            let mut o = BackupOptions::new(Targets::Cluster, dest.clone());
            o.revision_history = true;
            o.target_file_size = 4 << 10;
            o.block_size = 512;
            o.compression = Compression::Snappy;
            let r = backup(&env.cluster, &o, &mut |_| {}).unwrap();
            if matches!(dest, Destination::Into(_)) {
                env.chains.push(Vec::new());
            }
            env.chains.last_mut().unwrap().push(r.path);
        };
        let uri = "nodelocal://1/coll".to_string();
        step(&mut env, Destination::Into(uri.clone()));
        step(&mut env, Destination::IntoLatest(uri.clone()));
        step(&mut env, Destination::IntoLatest(uri.clone()));
        step(&mut env, Destination::Into(uri.clone()));
        step(&mut env, Destination::IntoLatest(uri.clone()));
        env
    }

    fn root(&self) -> PathBuf {
        self.cluster.extern_dir().join("coll")
    }

    fn layer(&self, chain: usize, i: usize) -> &str {
        &self.chains[chain][i]
    }

    fn verify_with(&self, subdir: Option<&str>, opts: &VerifyOptions) -> Report {
        verify_collection(
            "nodelocal://1/coll",
            subdir,
            None,
            &open_options(Some(self.cluster.extern_dir())),
            opts,
            &mut |_| {},
        )
        .unwrap()
    }

    fn verify(&self, level: Level) -> Report {
        self.verify_with(None, &VerifyOptions::new(level))
    }

    /// Reads a layer's manifest.
    fn manifest(&self, dir: &str) -> pb::BackupManifest {
        manifest::decode(&std::fs::read(self.root().join(dir).join(layout::MANIFEST)).unwrap())
            .unwrap()
    }

    /// Rewrites a layer's manifest consistently (checksum file updated too).
    fn rewrite_manifest(&self, dir: &str, f: impl FnOnce(&mut pb::BackupManifest)) {
        let mut m = self.manifest(dir);
        f(&mut m);
        let bytes = manifest::encode(&m);
        overwrite(&self.root().join(dir).join(layout::MANIFEST), &bytes);
        overwrite(
            &self.root().join(dir).join(layout::MANIFEST_CHECKSUM),
            &manifest::checksum_file(&bytes),
        );
    }

    fn data_file(&self, dir: &str, n: usize) -> (String, PathBuf) {
        let m = self.manifest(dir);
        let p = m.files[n].path.clone();
        (format!("{dir}/{p}"), self.root().join(dir).join(&p))
    }
}

/// Replaces a file's contents (stored objects are hard links: write a new inode).
fn overwrite(p: &Path, bytes: &[u8]) {
    let _ = std::fs::remove_file(p);
    std::fs::write(p, bytes).unwrap();
}

fn kinds(r: &Report) -> Vec<(&'static str, String)> {
    r.findings
        .iter()
        .map(|f| (f.kind, f.file.clone()))
        .collect()
}

fn only<'r>(r: &'r Report, kind: &str) -> Vec<&'r Finding> {
    r.findings.iter().filter(|f| f.kind == kind).collect()
}

fn assert_clean(r: &Report, what: &str) {
    assert!(r.findings.is_empty(), "{what}: {:#?}", r.findings);
    assert_eq!(r.exit_code(), 0);
}

#[test]
fn clean_collections_have_no_findings_at_any_level() {
    for (w, seed) in [
        (Workload::Bank, 1),
        (Workload::Movr, 2),
        (Workload::Bank, 3),
        (Workload::Movr, 4),
    ] {
        let env = Env::new(w, seed);
        for level in [Level::Metadata, Level::Schema, Level::Full] {
            let r = env.verify(level);
            assert_clean(&r, &format!("{w} seed {seed} {level}"));
            assert_eq!(r.chains.len(), 2);
            assert_eq!(r.chains[0].layers.len(), 3);
            assert_eq!(r.chains[1].layers.len(), 2);
        }
        // One chain, by LATEST and by name.
        let r = env.verify_with(Some("LATEST"), &VerifyOptions::new(Level::Full));
        assert_clean(&r, "LATEST");
        assert_eq!(r.chains.len(), 1);
        assert_eq!(r.chains[0].full_subdir, env.layer(1, 0));
        let first = layout::display_subdir(env.layer(0, 0));
        let r = env.verify_with(Some(&first), &VerifyOptions::new(Level::Full));
        assert_clean(&r, "first chain");
        assert_eq!(r.chains[0].layers.len(), 3);
    }
}

/// The full level's progress counts data files (not work items) and stored bytes: it
/// starts with every data file the manifests list and the bytes they hold, never goes
/// back, and ends at both totals.
#[test]
fn full_level_progress_counts_data_files_and_their_bytes() {
    let env = Env::new(Workload::Bank, 5);
    let (mut files, mut bytes) = (0u64, 0u64);
    for dir in env.chains.concat() {
        let m = env.manifest(&dir);
        files += m.files.len() as u64;
        bytes += m.files.iter().map(|f| f.size).sum::<u64>();
    }
    assert!(files > 4, "{files} data files");
    let mut events: Vec<vouch_verify::Progress> = Vec::new();
    let r = verify_collection(
        "nodelocal://1/coll",
        None,
        None,
        &open_options(Some(env.cluster.extern_dir())),
        &VerifyOptions::new(Level::Full),
        &mut |p| events.push(p),
    )
    .unwrap();
    assert_clean(&r, "progress");
    // One data check per chain: each ends at its own totals, which add up to the
    // manifests'.
    let (mut seen_files, mut seen_bytes, mut checks) = (0u64, 0u64, 0);
    for (at, p) in events.iter().enumerate() {
        let vouch_verify::Progress::Start {
            check: "data",
            files: start_files,
            bytes: start_bytes,
        } = *p
        else {
            continue;
        };
        checks += 1;
        seen_files += start_files;
        seen_bytes += start_bytes;
        let advances: Vec<(u64, u64)> = events[at + 1..]
            .iter()
            .map_while(|p| match p {
                vouch_verify::Progress::Advance { files, bytes } => Some((*files, *bytes)),
                vouch_verify::Progress::Start { .. } => None,
            })
            .collect();
        assert!(!advances.is_empty());
        for w in advances.windows(2) {
            assert!(w[0].0 <= w[1].0 && w[0].1 <= w[1].1, "{advances:?}");
        }
        assert_eq!(
            advances.last(),
            Some(&(start_files, start_bytes)),
            "{advances:?}"
        );
    }
    assert_eq!(checks, env.chains.len());
    assert_eq!((seen_files, seen_bytes), (files, bytes));
}

#[test]
fn metadata_damage_is_found_with_kind_and_location() {
    let env = Env::new(Workload::Bank, 11);
    let full0 = env.layer(0, 0).to_string();
    let inc1 = env.layer(0, 1).to_string();
    let inc2 = env.layer(0, 2).to_string();
    let root = env.root();

    // A missing data file and a data file with a byte appended, in two layers: both found.
    let (f1, p1) = env.data_file(&full0, 0);
    let keep1 = std::fs::read(&p1).unwrap();
    std::fs::remove_file(&p1).unwrap();
    let (f2, p2) = env.data_file(&inc2, 0);
    let keep2 = std::fs::read(&p2).unwrap();
    let mut longer = keep2.clone();
    longer.push(0);
    overwrite(&p2, &longer);
    let r = env.verify(Level::Metadata);
    assert_eq!(
        kinds(&r),
        vec![("file_missing", f1.clone()), ("size_mismatch", f2.clone())]
    );
    let sm = only(&r, "size_mismatch")[0];
    assert_eq!(
        sm.expected.as_deref(),
        Some(keep2.len().to_string().as_str())
    );
    assert_eq!(
        sm.found.as_deref(),
        Some((keep2.len() + 1).to_string().as_str())
    );
    assert_eq!(sm.layer.as_deref(), Some(inc2.as_str()));
    assert_eq!(r.exit_code(), 1);
    // The JUnit testcases of those checks fail; the report caps when asked.
    let mut capped = VerifyOptions::new(Level::Metadata);
    capped.max_findings = Some(1);
    let r = env.verify_with(None, &capped);
    assert_eq!(r.findings.len(), 1);
    assert_eq!((r.errors, r.findings_omitted), (2, 1));
    overwrite(&p1, &keep1);
    overwrite(&p2, &keep2);
    assert_clean(&env.verify(Level::Metadata), "restored");

    // Checksum file damaged, then missing.
    let cpath = root.join(&inc1).join(layout::MANIFEST_CHECKSUM);
    let sum = std::fs::read(&cpath).unwrap();
    let mut bad = sum.clone();
    bad[3] ^= 1;
    overwrite(&cpath, &bad);
    let r = env.verify(Level::Metadata);
    assert_eq!(
        kinds(&r),
        vec![(
            "checksum_mismatch",
            format!("{inc1}/{}", layout::MANIFEST_CHECKSUM)
        )]
    );
    std::fs::remove_file(&cpath).unwrap();
    let r = env.verify(Level::Metadata);
    assert_eq!(
        kinds(&r),
        vec![(
            "checksum_missing",
            format!("{inc1}/{}", layout::MANIFEST_CHECKSUM)
        )]
    );
    overwrite(&cpath, &sum);

    // A manifest that does not decode (checksum updated to match): found, and the layers
    // after it are still checked.
    let mpath = root.join(&inc1).join(layout::MANIFEST);
    let mbytes = std::fs::read(&mpath).unwrap();
    overwrite(&mpath, &mbytes[..7]);
    overwrite(&cpath, &manifest::checksum_file(&mbytes[..7]));
    let r = env.verify(Level::Metadata);
    let k = kinds(&r);
    assert_eq!(
        k[0],
        ("manifest_decode", format!("{inc1}/{}", layout::MANIFEST))
    );
    // inc2 names inc1's old manifest bytes as its predecessor.
    assert!(k.contains(&(
        "predecessor_hash_mismatch",
        format!("{inc2}/{}", layout::MANIFEST)
    )));
    // A missing manifest (the checksum file remains): an error, not an unfinished backup.
    std::fs::remove_file(&mpath).unwrap();
    let r = env.verify(Level::Metadata);
    assert_eq!(
        kinds(&r)[0],
        ("manifest_missing", format!("{inc1}/{}", layout::MANIFEST))
    );
    assert!(only(&r, "unfinished_backup").is_empty());
    overwrite(&mpath, &mbytes);
    overwrite(&cpath, &sum);
    assert_clean(&env.verify(Level::Metadata), "restored");

    // A missing middle incremental: the next layer does not start where the one before ends.
    let hidden = root.join("hidden");
    std::fs::rename(root.join(&inc1), &hidden).unwrap();
    let r = env.verify(Level::Metadata);
    let m0 = env.manifest(&full0);
    let gap = only(&r, "chain_gap");
    assert_eq!(gap.len(), 1);
    assert_eq!(gap[0].file, format!("{inc2}/{}", layout::MANIFEST));
    assert_eq!(
        gap[0].expected,
        Some(
            vouch_format::mvcc::Timestamp::new(
                m0.end_time.unwrap().wall,
                m0.end_time.unwrap().logical
            )
            .to_string()
        )
    );
    assert_eq!(only(&r, "predecessor_path_mismatch").len(), 1);
    assert_eq!(only(&r, "predecessor_hash_mismatch").len(), 1);
    // The moved directory itself is a stray at the collection root.
    assert!(only(&r, "stray_object")
        .iter()
        .all(|f| f.file.starts_with("hidden/")));
    std::fs::rename(&hidden, root.join(&inc1)).unwrap();

    // An older layer replayed in place of a newer one.
    let save = root.join("save");
    std::fs::rename(root.join(&inc2), &save).unwrap();
    copy_dir(&root.join(&inc1), &root.join(&inc2));
    let r = env.verify(Level::Metadata);
    let d = only(&r, "layer_dir_mismatch");
    assert_eq!(d.len(), 1, "{:#?}", r.findings);
    assert_eq!(d[0].file, format!("{inc2}/{}", layout::MANIFEST));
    assert_eq!(d[0].expected.as_deref(), Some(inc1.as_str()));
    assert_eq!(d[0].found.as_deref(), Some(inc2.as_str()));
    std::fs::remove_dir_all(root.join(&inc2)).unwrap();
    std::fs::rename(&save, root.join(&inc2)).unwrap();

    // Manifests rewritten consistently, with another predecessor path or chain id.
    let m2 = env.manifest(&inc2);
    env.rewrite_manifest(&inc2, |m| {
        m.previous.as_mut().unwrap().path = full0.clone();
        m.chain_id = vec![7; 16];
    });
    let r = env.verify(Level::Metadata);
    let mf = format!("{inc2}/{}", layout::MANIFEST);
    assert_eq!(
        kinds(&r),
        vec![
            ("predecessor_path_mismatch", mf.clone()),
            ("chain_id_mismatch", mf.clone())
        ]
    );
    assert_eq!(r.findings[0].expected.as_deref(), Some(inc1.as_str()));
    env.rewrite_manifest(&inc2, |m| *m = m2.clone());
    // A predecessor rewritten consistently (#101963): its successor's hash no longer matches.
    env.rewrite_manifest(&inc1, |m| m.statement.push(' '));
    let r = env.verify(Level::Metadata);
    assert_eq!(kinds(&r), vec![("predecessor_hash_mismatch", mf.clone())]);
    env.rewrite_manifest(&inc1, |m| m.statement.pop().map(|_| ()).unwrap());
    assert_clean(&env.verify(Level::Metadata), "restored");
}

#[test]
fn latest_strays_and_unfinished_backups() {
    let env = Env::new(Workload::Bank, 21);
    let root = env.root();
    let full0 = env.layer(0, 0).to_string();
    let full1 = env.layer(1, 0).to_string();
    let markers: Vec<String> = std::fs::read_dir(root.join(layout::LATEST_DIR))
        .unwrap()
        .map(|e| {
            format!(
                "{}/{}",
                layout::LATEST_DIR,
                e.unwrap().file_name().to_string_lossy()
            )
        })
        .collect();
    let newest = markers.iter().min().unwrap().clone();

    // LATEST rolled back: the newest marker removed.
    let keep = std::fs::read(root.join(&newest)).unwrap();
    std::fs::remove_file(root.join(&newest)).unwrap();
    let r = env.verify(Level::Metadata);
    let f = only(&r, "latest_not_newest");
    assert_eq!(kinds(&r).len(), 1, "{:#?}", r.findings);
    assert_eq!(f[0].expected, Some(layout::display_subdir(&full1)));
    assert_eq!(f[0].found, Some(layout::display_subdir(&full0)));
    // FROM LATEST then verifies the chain LATEST names.
    let r = env.verify_with(Some("LATEST"), &VerifyOptions::new(Level::Metadata));
    assert_eq!(r.chains[0].full_subdir, full0);
    // A marker that does not parse.
    overwrite(&root.join(&newest), b"/2026/13/01-000000.00");
    let r = env.verify(Level::Metadata);
    assert_eq!(kinds(&r), vec![("latest_invalid", newest.clone())]);
    // No LATEST at all.
    std::fs::remove_dir_all(root.join("metadata")).unwrap();
    let plain = std::fs::read(root.join(layout::LATEST)).unwrap();
    std::fs::remove_file(root.join(layout::LATEST)).unwrap();
    let r = env.verify(Level::Metadata);
    assert_eq!(
        kinds(&r),
        vec![("latest_missing", layout::LATEST.to_string())]
    );
    std::fs::create_dir_all(root.join(layout::LATEST_DIR)).unwrap();
    for m in &markers {
        let content = if *m == newest {
            keep.clone()
        } else {
            format!("/{full0}").into_bytes()
        };
        std::fs::write(root.join(m), content).unwrap();
    }
    std::fs::write(root.join(layout::LATEST), plain).unwrap();
    assert_clean(&env.verify(Level::Metadata), "restored");

    // Strays (warnings: exit 0 unless strict) and an unfinished backup.
    std::fs::write(root.join(".DS_Store"), b"x").unwrap();
    let extra = format!("{full1}/{}", layout::data_file(9999));
    std::fs::write(root.join(&extra), b"x").unwrap();
    let unfinished = "2030/01/01-000000.00";
    std::fs::create_dir_all(root.join(unfinished).join("progress")).unwrap();
    std::fs::write(root.join(unfinished).join(layout::lock_name(42)), b"").unwrap();
    std::fs::write(root.join(unfinished).join(layout::checkpoint_name(1)), b"").unwrap();
    let r = env.verify(Level::Metadata);
    assert_eq!(
        kinds(&r),
        vec![
            ("stray_object", extra.clone()),
            ("stray_object", ".DS_Store".to_string()),
            ("unfinished_backup", unfinished.to_string()),
        ]
    );
    assert!(r.findings.iter().all(|f| f.severity == Severity::Warning));
    assert_eq!(r.exit_code(), 0);
    let mut strict = VerifyOptions::new(Level::Metadata);
    strict.strict = true;
    assert_eq!(env.verify_with(None, &strict).exit_code(), 1);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let t = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &t);
        } else {
            std::fs::copy(e.path(), t).unwrap();
        }
    }
}

/// Rewrites data file `n` of layer `dir` with `keep` deciding which entries stay, and
/// records it consistently in the manifest (size, hash, counts, bounds).
fn rewrite_sst(env: &Env, dir: &str, n: usize, keep: impl Fn(&[u8], &[u8]) -> bool) {
    use vouch_format::sst::{SstReader, SstWriter, WriterOptions};
    let (_, p) = env.data_file(dir, n);
    let bytes = std::fs::read(&p).unwrap();
    let r = SstReader::open(bytes.as_slice()).unwrap();
    let mut w = SstWriter::new(
        Vec::new(),
        WriterOptions {
            block_size: 512,
            compression: Compression::Snappy,
            mvcc: true,
            ..WriterOptions::default()
        },
    )
    .unwrap();
    for e in r.entries() {
        let (k, v) = e.unwrap();
        if keep(&k, &v) {
            w.add(&k, &v).unwrap();
        }
    }
    let (out, s) = w.finish().unwrap();
    overwrite(&p, &out);
    env.rewrite_manifest(dir, |m| {
        let f = &mut m.files[n];
        f.size = out.len() as u64;
        f.sha256 = manifest::sha256(&out).to_vec();
        f.entries = s.entries;
        f.tombstones = s.tombstones;
        f.first_key = s.smallest.clone();
        f.last_key = s.largest.clone();
        let (a, b) = s.ts_range.unwrap();
        f.min_ts = Some(a.into());
        f.max_ts = Some(b.into());
    });
}

#[test]
fn full_level_damage_is_found_with_kind_and_location() {
    let env = Env::new(Workload::Movr, 31);
    let root = env.root();
    let last = env.layer(1, 1).to_string();
    let full1 = env.layer(1, 0).to_string();
    let mf = format!("{last}/{}", layout::MANIFEST);

    // A flipped byte in a data block: the block checksum and the file hash, located; the
    // metadata level (stat only) sees nothing.
    let (f0, p0) = env.data_file(&last, 0);
    let orig = std::fs::read(&p0).unwrap();
    let mut bad = orig.clone();
    bad[40] ^= 0x04;
    overwrite(&p0, &bad);
    assert_clean(
        &env.verify(Level::Metadata),
        "flip is invisible to metadata",
    );
    let r = env.verify(Level::Full);
    let k: Vec<_> = kinds(&r).into_iter().filter(|(_, f)| *f == f0).collect();
    assert_eq!(
        k,
        vec![
            ("block_checksum", f0.clone()),
            ("sha256_mismatch", f0.clone())
        ],
        "{:#?}",
        r.findings
    );
    let b = only(&r, "block_checksum")[0];
    assert_eq!(b.block.as_deref(), Some("data#0"));
    assert_eq!(b.offset, Some(0));
    assert_eq!(b.layer.as_deref(), Some(last.as_str()));
    let s = only(&r, "sha256_mismatch")[0];
    assert_eq!(s.expected, Some(hex::encode(manifest::sha256(&orig))));
    assert_eq!(s.found, Some(hex::encode(manifest::sha256(&bad))));
    overwrite(&p0, &orig);

    // Manifests rewritten consistently with wrong counts, bounds, times or fingerprints
    // (the #101963 case): metadata is clean, full finds each.
    let m = env.manifest(&last);
    env.rewrite_manifest(&last, |m| {
        m.files[0].rows += 1;
        m.files[0].min_ts.as_mut().unwrap().wall += 1_000_000_000_000;
        m.fingerprints[0].fingerprint ^= 1;
    });
    assert_clean(&env.verify(Level::Metadata), "consistent rewrite");
    let r = env.verify(Level::Full);
    let got = kinds(&r);
    assert!(got.contains(&("count_mismatch", f0.clone())), "{got:?}");
    assert!(
        got.contains(&("timestamp_out_of_window", f0.clone())),
        "{got:?}"
    );
    assert!(
        got.contains(&("fingerprint_mismatch", mf.clone())),
        "{got:?}"
    );
    let c = only(&r, "count_mismatch")[0];
    assert!(c.message.contains("rows"), "{}", c.message);
    assert_eq!(c.expected, Some((m.files[0].rows + 1).to_string()));
    assert_eq!(c.found, Some(m.files[0].rows.to_string()));
    let fp = only(&r, "fingerprint_mismatch");
    assert_eq!(fp.len(), 1);
    assert_eq!(
        fp[0].found,
        Some(format!(
            "{:#018x}/{}",
            m.fingerprints[0].fingerprint, m.fingerprints[0].rows
        ))
    );
    env.rewrite_manifest(&last, |x| *x = m.clone());
    env.rewrite_manifest(&last, |m| m.files[0].first_key.push(0xff));
    let r = env.verify(Level::Full);
    assert_eq!(kinds(&r)[0], ("key_out_of_bounds", f0.clone()));
    assert_eq!(r.findings[0].key, Some(hex::encode(&m.files[0].first_key)));
    env.rewrite_manifest(&last, |x| *x = m.clone());
    assert_clean(&env.verify(Level::Full), "restored");

    // Intact bytes whose rows no longer decode against the schema: STRING columns made
    // BYTES in the newest layer's descriptors.
    env.rewrite_manifest(&last, |m| {
        for d in &mut m.descriptors {
            if let Some(pb::descriptor::Kind::Table(t)) = &mut d.kind {
                for c in &mut t.columns {
                    if c.r#type == pb::ColumnType::String as i32 {
                        c.r#type = pb::ColumnType::Bytes as i32;
                    }
                }
            }
        }
    });
    let r = env.verify(Level::Full);
    let rd = only(&r, "row_decode");
    assert!(!rd.is_empty(), "{:#?}", r.findings);
    assert!(rd
        .iter()
        .all(|f| f.layer.as_deref() == Some(last.as_str()) && f.key.is_some()));
    env.rewrite_manifest(&last, |x| *x = m.clone());

    // A secondary index entry removed from the full backup (recorded consistently, the
    // successor's predecessor hash updated): the row lacks its index entry at that end time.
    let m0 = env.manifest(&full1);
    let users = m0
        .descriptors
        .iter()
        .find(|d| d.name == "vehicles")
        .unwrap();
    let mut prefix = Vec::new();
    vouch_format::keys::encode_table_prefix(users.id, 2, &mut prefix);
    let (fi, victim) = m0
        .files
        .iter()
        .enumerate()
        .find_map(|(i, f)| {
            let bytes = std::fs::read(root.join(&full1).join(&f.path)).unwrap();
            let r = vouch_format::sst::SstReader::open(bytes.as_slice()).unwrap();
            let keys: Vec<Vec<u8>> = r.entries().map(|e| e.unwrap().0).collect();
            let n = keys.len();
            keys.into_iter().enumerate().find_map(|(j, k)| {
                let (u, _) = vouch_format::mvcc::decode_key(&k).unwrap();
                (j > 0 && j + 1 < n && u.starts_with(&prefix)).then_some((i, u))
            })
        })
        .expect("a vehicles secondary index entry");
    rewrite_sst(&env, &full1, fi, |k, _| {
        vouch_format::mvcc::decode_key(k).unwrap().0 != victim
    });
    let sha0 = manifest::sha256(&std::fs::read(root.join(&full1).join(layout::MANIFEST)).unwrap());
    env.rewrite_manifest(&last, |m| {
        m.previous.as_mut().unwrap().manifest_sha256 = sha0.to_vec()
    });
    assert_clean(&env.verify(Level::Schema), "consistent rewrite");
    let r = env.verify(Level::Full);
    // The streaming digests disagree (one entry fewer found than the rows imply), then
    // the second pass locates the key.
    // (The incremental after it, which did not rewrite that row, sees the same.)
    let im: Vec<&Finding> = only(&r, "index_mismatch")
        .into_iter()
        .filter(|f| f.layer.as_deref() == Some(full1.as_str()))
        .collect();
    assert_eq!(im.len(), 2, "{:#?}", r.findings);
    assert!(
        im[0].message.contains("\"vehicles\"")
            && im[0].message.contains("not the ones its rows imply"),
        "{}",
        im[0].message
    );
    let count = |s: &Option<String>| -> u64 {
        s.as_deref()
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert_eq!(
        count(&im[0].expected),
        count(&im[0].found) + 1,
        "{:?}",
        im[0]
    );
    assert!(
        im[1].message.contains("a row has no entry"),
        "{}",
        im[1].message
    );
    assert_eq!(im[1].key, Some(hex::encode(&victim)));
    assert!(only(&r, "fingerprint_mismatch")
        .iter()
        .any(|f| f.layer.as_deref() == Some(full1.as_str())));
}

#[test]
fn schema_damage_is_found_with_kind_and_location() {
    let env = Env::new(Workload::Movr, 41);
    let last = env.layer(1, 1).to_string();
    let mf = format!("{last}/{}", layout::MANIFEST);
    let m = env.manifest(&last);
    let table_named = |m: &mut pb::BackupManifest, name: &str| -> usize {
        m.descriptors.iter().position(|d| d.name == name).unwrap()
    };

    // A table whose parent database is gone, a column with an unknown type, a foreign key
    // to a table not in the backup, and a descriptor older than a version seen before.
    env.rewrite_manifest(&last, |m| {
        let i = table_named(m, "rides");
        let d = &mut m.descriptors[i];
        d.version = 0;
        if let Some(pb::descriptor::Kind::Table(t)) = &mut d.kind {
            t.parent_database_id = 9999;
            t.columns[0].r#type = 99;
            t.foreign_keys[0].referenced_table_id = 8888;
        }
    });
    assert_clean(&env.verify(Level::Metadata), "consistent rewrite");
    let r = env.verify(Level::Schema);
    let got: Vec<&str> = r
        .findings
        .iter()
        .filter(|f| f.file == mf)
        .map(|f| f.kind)
        .collect();
    assert_eq!(
        got,
        vec![
            "descriptor_decode",
            "dangling_reference",
            "dangling_reference",
            "descriptor_version_regression",
        ],
        "{:#?}",
        r.findings
    );
    let dr = only(&r, "dangling_reference");
    assert!(
        dr[0].message.contains("parent database 9999"),
        "{}",
        dr[0].message
    );
    assert!(
        dr[1].message.contains("references table 8888"),
        "{}",
        dr[1].message
    );
    let vr = only(&r, "descriptor_version_regression")[0];
    assert_eq!(vr.found.as_deref(), Some("0"));
    assert_eq!(vr.layer.as_deref(), Some(last.as_str()));
    env.rewrite_manifest(&last, |x| *x = m.clone());

    // A table's span missing from the layer (and so from restore's coverage).
    let users = m.descriptors.iter().find(|d| d.name == "users").unwrap().id;
    let mut prefix = Vec::new();
    vouch_format::keys::encode_ordered_uvarint(users, &mut prefix);
    env.rewrite_manifest(&last, |m| m.spans.retain(|s| s.start != prefix));
    let r = env.verify(Level::Schema);
    let sc = only(&r, "span_coverage");
    assert!(!sc.is_empty(), "{:#?}", r.findings);
    assert!(sc
        .iter()
        .all(|f| f.file == mf && f.key.as_ref().unwrap().starts_with(&hex::encode(&prefix))));
    env.rewrite_manifest(&last, |x| *x = m.clone());
    assert_clean(&env.verify(Level::Schema), "restored");

    // --as-of outside every layer's window: the restore plan fails; inside, it succeeds.
    let first_start = env.manifest(env.layer(1, 0)).revision_start_time.unwrap();
    let mut o = VerifyOptions::new(Level::Schema);
    o.as_of = Some(format!(
        "{}.0000000000",
        first_start.wall.saturating_sub(SECOND * 3600)
    ));
    let r = env.verify_with(Some("LATEST"), &o);
    assert_eq!(
        kinds(&r),
        vec![("restore_plan", env.layer(1, 0).to_string())]
    );
    let end = m.end_time.unwrap();
    o.as_of = Some(format!("{}.{:010}", end.wall - 1, end.logical));
    assert_clean(
        &env.verify_with(Some("LATEST"), &o),
        "as-of inside the window",
    );
    // A bad --as-of text cannot run.
    o.as_of = Some("yesterday-ish".into());
    assert!(verify_collection(
        "nodelocal://1/coll",
        None,
        None,
        &open_options(Some(env.cluster.extern_dir())),
        &o,
        &mut |_| {},
    )
    .is_err());
}

/// `--cluster DIR` at the schema level: restore's own pre-write checks (dry) against that
/// cluster's catalog, for the whole cluster and for each database of the backup.
#[test]
fn cluster_option_reports_what_a_restore_into_it_would_refuse() {
    let env = Env::new(Workload::Movr, 43);
    let tmp = tempfile::tempdir().unwrap();
    // An empty cluster (only defaultdb and postgres) accepts every restore.
    let empty = tmp.path().join("empty");
    drop(Cluster::init(&empty, Clock::manual(START_WALL)).unwrap());
    // A cluster that already has a database named movr.
    let busy = tmp.path().join("busy");
    {
        let c = Cluster::init(&busy, Clock::manual(START_WALL)).unwrap();
        c.create_database("movr").unwrap();
    }
    let opts = |level: Level, dir: &Path| {
        let mut o = VerifyOptions::new(level);
        // What the CLI does for `--restore-into`: read the target's catalog, hand it over.
        let c = Cluster::open(dir, Clock::system()).unwrap();
        let catalog = c.catalog(c.now()).unwrap();
        o.restore_into = Some(vouch_verify::TargetCluster {
            dir: dir.to_path_buf(),
            catalog,
        });
        o
    };
    let cluster_checks = |r: &Report| {
        r.all_checks()
            .into_iter()
            .filter(|(_, _, c)| c.name == "cluster")
            .count()
    };

    let r = env.verify_with(None, &opts(Level::Schema, &empty));
    assert_clean(&r, "restore into an empty cluster");
    assert_eq!(cluster_checks(&r), 2, "one cluster check per chain");
    // Below the schema level the cluster is not consulted.
    assert_eq!(
        cluster_checks(&env.verify_with(None, &opts(Level::Metadata, &busy))),
        0
    );

    let r = env.verify_with(None, &opts(Level::Schema, &busy));
    let col = only(&r, "restore_collision");
    assert_eq!(
        col.len(),
        4,
        "whole cluster and DATABASE movr, per chain: {col:#?}"
    );
    assert_eq!(r.findings.len(), 4, "{:#?}", r.findings);
    assert_eq!(r.exit_code(), 1);
    for (chain, pair) in col.chunks(2).enumerate() {
        let full = env.layer(chain, 0);
        assert!(pair
            .iter()
            .all(|f| f.severity == Severity::Error && f.file == full));
        assert!(
            pair[0].message.contains("RESTORE FROM"),
            "{}",
            pair[0].message
        );
        assert_eq!(
            pair[0].found.as_deref(),
            Some("full cluster restore can only be run on a cluster with no tables or databases but found 2 descriptors: movr, movr.public")
        );
        assert_eq!(pair[0].expected, None, "no option lifts it");
        assert!(
            pair[1].message.contains("RESTORE DATABASE movr"),
            "{}",
            pair[1].message
        );
        assert_eq!(
            pair[1].found.as_deref(),
            Some("database \"movr\" already exists")
        );
        assert_eq!(
            pair[1].expected.as_deref(),
            Some("new_db_name = \"movr_restored\"")
        );
    }
    // The same at the full level (a level includes the ones below it).
    assert_eq!(
        only(
            &env.verify_with(None, &opts(Level::Full, &busy)),
            "restore_collision"
        )
        .len(),
        4
    );

    // A backup of one table whose foreign keys point outside it: restoring it needs
    // skip_missing_foreign_keys, and into_db where its database does not exist.
    let mut o = BackupOptions::new(
        Targets::Tables(vec![("movr".into(), "rides".into())]),
        Destination::Into("nodelocal://1/tables".into()),
    );
    o.target_file_size = 4 << 10;
    backup(&env.cluster, &o, &mut |_| {}).unwrap();
    let tverify = |dir: &Path| {
        verify_collection(
            "nodelocal://1/tables",
            None,
            None,
            &open_options(Some(env.cluster.extern_dir())),
            &opts(Level::Schema, dir),
            &mut |_| {},
        )
        .unwrap()
    };
    for (dir, want) in [
        (&busy, "skip_missing_foreign_keys"),
        (&empty, "into_db = \"defaultdb\", skip_missing_foreign_keys"),
    ] {
        let r = tverify(dir);
        assert_eq!(r.findings.len(), 1, "{:#?}", r.findings);
        let f = &r.findings[0];
        assert_eq!(
            (f.kind, f.severity),
            ("restore_needs_option", Severity::Warning)
        );
        assert_eq!(f.expected.as_deref(), Some(want));
        assert!(
            f.message.contains("RESTORE TABLE movr.rides"),
            "{}",
            f.message
        );
        assert!(
            f.found
                .as_deref()
                .unwrap()
                .contains("without referenced table"),
            "{:?}",
            f.found
        );
        assert_eq!(r.exit_code(), 0, "warnings alone");
    }

    // A directory that holds no cluster: the verifier never opens a cluster, the CLI reads
    // the catalog it is given (`cli/tests/cli_verify.rs`: exit 2, "cannot read the cluster's
    // catalog").
}
