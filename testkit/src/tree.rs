//! Directory trees on the local filesystem, as tests see them: the files under a root,
//! a copy of a tree, and a snapshot (every file with its bytes) to compare before and after.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::Path;

fn invalid(what: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

/// Every file under `root`, as sorted `/`-separated paths relative to it.
pub fn list_files(root: &Path) -> io::Result<Vec<String>> {
    fn walk(root: &Path, rel: &str, out: &mut Vec<String>) -> io::Result<()> {
        let dir = if rel.is_empty() {
            root.to_path_buf()
        } else {
            root.join(rel)
        };
        for e in fs::read_dir(&dir)? {
            let e = e?;
            let name = e
                .file_name()
                .into_string()
                .map_err(|n| invalid(format!("{}: non-UTF-8 name {n:?}", dir.display())))?;
            let p = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            if e.file_type()?.is_dir() {
                walk(root, &p, out)?;
            } else {
                out.push(p);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(root, "", &mut out)?;
    out.sort();
    Ok(out)
}

/// Copies the tree `src` into `dst` (created; existing files are overwritten).
pub fn copy_tree(src: &Path, dst: &Path) -> io::Result<()> {
    fs::create_dir_all(dst)?;
    for rel in list_files(src)? {
        let to = dst.join(&rel);
        if let Some(p) = to.parent() {
            fs::create_dir_all(p)?;
        }
        fs::copy(src.join(&rel), &to)?;
    }
    Ok(())
}

/// Every file under `root` (relative `/`-separated path → bytes); empty when `root` does
/// not exist. Two snapshots compare equal when nothing under `root` was written, created
/// or removed. Panics on any other read error.
pub fn snapshot(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let files = match list_files(root) {
        Ok(files) => files,
        Err(e) if e.kind() == io::ErrorKind::NotFound && !root.exists() => Vec::new(),
        Err(e) => panic!("{}: {e}", root.display()),
    };
    files
        .into_iter()
        .map(|rel| {
            let bytes = fs::read(root.join(&rel))
                .unwrap_or_else(|e| panic!("{}: {e}", root.join(&rel).display()));
            (rel, bytes)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_and_snapshot_see_every_file_and_nothing_else() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        fs::create_dir_all(src.join("a/b")).unwrap();
        fs::create_dir_all(src.join("empty")).unwrap();
        fs::write(src.join("top"), b"1").unwrap();
        fs::write(src.join("a/b/deep"), b"22").unwrap();
        assert_eq!(list_files(&src).unwrap(), ["a/b/deep", "top"]);
        let dst = tmp.path().join("dst");
        copy_tree(&src, &dst).unwrap();
        let want: BTreeMap<String, Vec<u8>> = [
            ("a/b/deep".to_string(), b"22".to_vec()),
            ("top".to_string(), b"1".to_vec()),
        ]
        .into();
        assert_eq!(snapshot(&src), want);
        assert_eq!(snapshot(&dst), want);
        assert!(snapshot(&tmp.path().join("missing")).is_empty());
    }
}
