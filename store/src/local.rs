//! A store in a local directory.

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::{
    message_uri, Error, ObjectMeta, ObjectWriter, Operation, Result, Special, StorageUri, Store,
};

/// The hidden folder at the store root where objects are written before they get their
/// name. Never listed (at any depth, since a store may be rooted inside another); no
/// object path has it as a component.
pub(crate) const TMP_DIR: &str = ".vouch-tmp";

/// Distinguishes temp files of one process.
static TMP_SEQ: AtomicU64 = AtomicU64::new(0);

/// Objects as files under a root directory (see the crate docs for how writes are made
/// atomic and write-once).
#[derive(Debug)]
pub struct LocalStore {
    root: PathBuf,
    uri: String,
    /// `uri` without its query and trailing `/`, for messages.
    shown: String,
    location: Option<StorageUri>,
}

impl LocalStore {
    /// A store rooted at `root`, which need not exist yet (the first write creates it).
    pub fn new(root: impl Into<PathBuf>) -> LocalStore {
        let root = root.into();
        let uri = root.display().to_string();
        LocalStore {
            shown: uri.trim_end_matches('/').to_string(),
            uri,
            root,
            location: None,
        }
    }

    /// A store rooted at `root`, opened from `location`.
    pub fn with_location(root: impl Into<PathBuf>, location: StorageUri) -> LocalStore {
        let uri = message_uri(&location.uri);
        LocalStore {
            root: root.into(),
            shown: uri.trim_end_matches('/').to_string(),
            uri,
            location: Some(location),
        }
    }

    /// The directory objects live in.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// How an object is named in errors: `<uri>/<path>`.
    fn shown(&self, path: &str) -> String {
        if path.is_empty() {
            self.shown.clone()
        } else {
            format!("{}/{path}", self.shown)
        }
    }

    fn io(&self, path: &str, source: io::Error) -> Error {
        if is_not_found(&source) {
            Error::NotFound {
                path: self.shown(path),
                operation: Operation::Read,
            }
        } else {
            Error::Io {
                path: self.shown(path),
                source,
            }
        }
    }

    /// The file of a valid object path.
    fn file(&self, path: &str) -> Result<PathBuf> {
        check_object_path(path, false)?;
        Ok(self.root.join(path))
    }

    /// A symbolic link or special file among the folders of `rel` (each of its prefixes,
    /// itself included) is refused; a missing folder ends the check (nothing is below it).
    fn check_folders(&self, rel: &str) -> Result<()> {
        check_folders(&self.root, rel).map_err(|(at, found)| Error::NotRegular {
            path: self.shown(&at),
            found,
        })
    }

    /// Opens an existing regular file without following a link or blocking on a pipe
    /// (`O_NOFOLLOW | O_NONBLOCK`, folders on the way checked); a directory is "not found"
    /// (it is not an object), a link or special file [`Error::NotRegular`].
    fn open_object(&self, path: &str) -> Result<(File, u64)> {
        let file = self.file(path)?;
        self.check_folders(parent(path))?;
        let mut o = fs::OpenOptions::new();
        o.read(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            o.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
        }
        #[cfg(not(unix))]
        if let Ok(m) = fs::symlink_metadata(&file) {
            if let Some(found) = special(&m.file_type()) {
                return Err(Error::NotRegular {
                    path: self.shown(path),
                    found,
                });
            }
        }
        let f = o.open(&file).map_err(|e| {
            #[cfg(unix)]
            if e.raw_os_error() == Some(libc::ELOOP) {
                return Error::NotRegular {
                    path: self.shown(path),
                    found: Special::Symlink,
                };
            }
            self.io(path, e)
        })?;
        let meta = f.metadata().map_err(|e| self.io(path, e))?;
        if meta.is_dir() {
            return Err(Error::NotFound {
                path: self.shown(path),
                operation: Operation::Read,
            });
        }
        if let Some(found) = special(&meta.file_type()) {
            return Err(Error::NotRegular {
                path: self.shown(path),
                found,
            });
        }
        Ok((f, meta.len()))
    }

    /// Reads an opened object, never more than `limit` bytes (then [`Error::TooLarge`]),
    /// allocating as it reads rather than trusting the size it was opened with.
    fn read_object(&self, path: &str, f: File, len: u64, limit: u64) -> Result<Vec<u8>> {
        let too_large = |size| Error::TooLarge {
            path: self.shown(path),
            size,
            limit,
        };
        if len > limit {
            return Err(too_large(len));
        }
        let mut buf = Vec::with_capacity(usize::try_from(len.min(PREALLOCATE)).unwrap_or(0));
        f.take(limit.saturating_add(1))
            .read_to_end(&mut buf)
            .map_err(|e| self.io(path, e))?;
        match buf.len() as u64 {
            n if n > limit => Err(too_large(n)),
            _ => Ok(buf),
        }
    }
}

/// At most this much is allocated ahead of reading an object.
const PREALLOCATE: u64 = 16 << 20;

/// The folder part of an object path (`""` at the root).
fn parent(path: &str) -> &str {
    path.rfind('/').map_or("", |i| &path[..i])
}

/// What a non-object entry is; `None` for files and folders.
fn special(ft: &fs::FileType) -> Option<Special> {
    if ft.is_file() || ft.is_dir() {
        return None;
    }
    if ft.is_symlink() {
        return Some(Special::Symlink);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if ft.is_fifo() {
            return Some(Special::Fifo);
        }
        if ft.is_socket() {
            return Some(Special::Socket);
        }
        if ft.is_block_device() || ft.is_char_device() {
            return Some(Special::Device);
        }
    }
    Some(Special::Other)
}

/// The first folder of `rel` (below `root`) that is a link or special file, with what it
/// is. Checked before reading or writing below it, so no object is read or written
/// through a link (a folder swapped for a link between the check and the use is not
/// caught: the store's root is trusted not to change under it).
fn check_folders(root: &Path, rel: &str) -> std::result::Result<(), (String, Special)> {
    if rel.is_empty() {
        return Ok(());
    }
    let mut at = String::new();
    for part in rel.split('/') {
        if !at.is_empty() {
            at.push('/');
        }
        at.push_str(part);
        match fs::symlink_metadata(root.join(&at)) {
            Ok(m) => {
                if let Some(found) = special(&m.file_type()) {
                    return Err((at, found));
                }
            }
            Err(_) => return Ok(()),
        }
    }
    Ok(())
}

/// "No such file", also when a folder on the way is a file (`ENOTDIR`): either way there
/// is no object by that name.
fn is_not_found(e: &io::Error) -> bool {
    /// `ENOTDIR` on Linux, macOS and the BSDs.
    #[cfg(unix)]
    const ENOTDIR: Option<i32> = Some(20);
    #[cfg(not(unix))]
    const ENOTDIR: Option<i32> = None;
    e.kind() == io::ErrorKind::NotFound || (ENOTDIR.is_some() && e.raw_os_error() == ENOTDIR)
}

/// Checks an object path (or, with `prefix`, a listing prefix, which may be empty or end
/// in `/` or in part of a name).
pub fn check_object_path(path: &str, prefix: bool) -> Result<()> {
    let bad = |reason: &str| {
        Err(Error::InvalidPath {
            path: path.to_string(),
            reason: reason.to_string(),
        })
    };
    if path.contains('\0') {
        return bad("contains a NUL byte");
    }
    if path.starts_with('/') {
        return bad("absolute paths are not allowed; paths are relative to the store root");
    }
    if path.is_empty() {
        return if prefix { Ok(()) } else { bad("empty") };
    }
    let parts: Vec<&str> = path.split('/').collect();
    let last = parts.len() - 1;
    for (i, part) in parts.iter().enumerate() {
        match *part {
            ".." => return bad("'..' components are not allowed"),
            "." => return bad("'.' components are not allowed"),
            "" if !(prefix && i == last) => return bad("empty component ('//' or a trailing '/')"),
            _ => {}
        }
    }
    let reserved = parts
        .iter()
        .enumerate()
        .any(|(i, p)| *p == TMP_DIR && !(prefix && i == last));
    if reserved {
        return bad("the .vouch-tmp/ folder is reserved for writes in progress");
    }
    Ok(())
}

impl Store for LocalStore {
    fn uri(&self) -> &str {
        &self.uri
    }

    fn get(&self, path: &str) -> Result<Vec<u8>> {
        let (f, len) = self.open_object(path)?;
        self.read_object(path, f, len, u64::MAX)
    }

    fn get_limited(&self, path: &str, limit: u64) -> Result<Vec<u8>> {
        let (f, len) = self.open_object(path)?;
        self.read_object(path, f, len, limit)
    }

    fn get_range(&self, path: &str, offset: u64, len: u64) -> Result<Vec<u8>> {
        let (mut f, size) = self
            .open_object(path)
            .map_err(|e| e.during(Operation::ReadRange))?;
        let end = offset.checked_add(len).filter(|&e| e <= size);
        let (Some(_), Ok(n)) = (end, usize::try_from(len)) else {
            return Err(Error::RangeOutOfBounds {
                path: self.shown(path),
                offset,
                len,
                size,
            });
        };
        f.seek(SeekFrom::Start(offset))
            .map_err(|e| self.io(path, e))?;
        // Read into spare capacity (`read_to_end` on a file does not zero it first: a
        // window of read-ahead was otherwise written twice).
        let mut buf = Vec::with_capacity(n);
        (&mut f)
            .take(len)
            .read_to_end(&mut buf)
            .map_err(|e| self.io(path, e))?;
        if buf.len() != n {
            return Err(self.io(path, io::Error::from(io::ErrorKind::UnexpectedEof)));
        }
        Ok(buf)
    }

    fn size(&self, path: &str) -> Result<Option<u64>> {
        let file = self.file(path)?;
        self.check_folders(parent(path))?;
        match fs::symlink_metadata(file) {
            Ok(m) if m.is_file() => Ok(Some(m.len())),
            Ok(m) if m.is_dir() => Ok(None),
            Ok(m) => Err(Error::NotRegular {
                path: self.shown(path),
                found: special(&m.file_type()).unwrap_or(Special::Other),
            }),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(self.io(path, e)),
        }
    }

    fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>> {
        check_object_path(prefix, true)?;
        // Walk the deepest folder the prefix names whole, then filter by the prefix.
        let dir = prefix.rfind('/').map_or("", |i| &prefix[..i]);
        self.check_folders(dir)?;
        let mut out = Vec::new();
        let mut stack = vec![dir.to_string()];
        while let Some(rel) = stack.pop() {
            let entries = match fs::read_dir(self.root.join(&rel)) {
                Ok(e) => e,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                // A file where a folder was expected: nothing is listed under it.
                Err(_) if self.root.join(&rel).is_file() => continue,
                Err(e) => return Err(self.io(&rel, e)),
            };
            for entry in entries {
                let entry = entry.map_err(|e| self.io(&rel, e))?;
                // Object store keys are text: names that are not UTF-8 are skipped.
                let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                    continue;
                };
                // Writes in progress, of this store or of one rooted below it.
                if name == TMP_DIR {
                    continue;
                }
                let path = if rel.is_empty() {
                    name
                } else {
                    format!("{rel}/{name}")
                };
                let ty = entry.file_type().map_err(|e| self.io(&path, e))?;
                let relevant = path.starts_with(prefix) || prefix.starts_with(&format!("{path}/"));
                if !relevant {
                    continue;
                }
                // A link or special file where objects are listed is an error naming it:
                // every reader lists the same way, so backup, restore, show and verify all
                // refuse the collection rather than some of them following the link.
                if let Some(found) = special(&ty) {
                    return Err(Error::NotRegular {
                        path: self.shown(&path),
                        found,
                    });
                }
                if ty.is_dir() {
                    stack.push(path);
                    continue;
                }
                let meta = entry.metadata().map_err(|e| self.io(&path, e))?;
                out.push(ObjectMeta {
                    path,
                    size: meta.len(),
                });
            }
        }
        out.sort();
        Ok(out)
    }

    fn put_new(&self, path: &str, bytes: &[u8]) -> Result<()> {
        let mut w = self.create_new(path)?;
        w.write_all(bytes).map_err(|e| self.io(path, e))?;
        w.finish().map(|_| ())
    }

    fn create_new(&self, path: &str) -> Result<Box<dyn ObjectWriter>> {
        let dest = self.file(path)?;
        // Fail before anything is streamed when the name is taken (finish checks again).
        if fs::symlink_metadata(&dest).is_ok() {
            return Err(Error::AlreadyExists {
                path: self.shown(path),
            });
        }
        self.check_folders(TMP_DIR)?;
        self.check_folders(parent(path))?;
        let tmp_dir = self.root.join(TMP_DIR);
        let created = create_dirs(&tmp_dir).map_err(|e| self.io(TMP_DIR, e))?;
        sync_created(&created).map_err(|e| self.io(TMP_DIR, e))?;
        let (file, tmp) = loop {
            let name = format!(
                "{}-{}-{}.tmp",
                std::process::id(),
                TMP_SEQ.fetch_add(1, Ordering::Relaxed),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos())
            );
            let tmp = tmp_dir.join(name);
            match fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&tmp)
            {
                Ok(f) => break (f, tmp),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(self.io(TMP_DIR, e)),
            }
        };
        Ok(Box::new(LocalWriter {
            file: Some(BufWriter::with_capacity(1 << 20, file)),
            tmp,
            dest,
            root: self.root.clone(),
            shown: self.shown(path),
            folder: parent(path).to_string(),
            store_shown: self.shown.clone(),
            written: 0,
        }))
    }

    fn location(&self) -> Option<&StorageUri> {
        self.location.as_ref()
    }
}

/// `create_dir_all`, returning the folders it created (outermost first).
fn create_dirs(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut missing = Vec::new();
    let mut d = dir;
    while fs::symlink_metadata(d).is_err() {
        missing.push(d.to_path_buf());
        match d.parent() {
            Some(p) if !p.as_os_str().is_empty() => d = p,
            _ => break,
        }
    }
    fs::create_dir_all(dir)?;
    missing.reverse();
    Ok(missing)
}

/// Makes new folders durable: syncs the parent of each.
fn sync_created(created: &[PathBuf]) -> io::Result<()> {
    for d in created {
        if let Some(parent) = d.parent() {
            sync_dir(parent)?;
        }
    }
    Ok(())
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

/// A new object in `.vouch-tmp/`, linked to its name by `finish`.
struct LocalWriter {
    file: Option<BufWriter<File>>,
    tmp: PathBuf,
    dest: PathBuf,
    root: PathBuf,
    shown: String,
    /// The object's folder, relative to the root.
    folder: String,
    /// How the store is named in messages.
    store_shown: String,
    written: u64,
}

impl LocalWriter {
    fn io(&self, source: io::Error) -> Error {
        Error::Io {
            path: self.shown.clone(),
            source,
        }
    }

    /// Removes the temp file (idempotent: its name is never reused).
    fn discard(&mut self) {
        self.file = None;
        let _ = fs::remove_file(&self.tmp);
    }

    fn publish(&mut self) -> Result<u64> {
        let Some(buf) = self.file.take() else {
            return Err(self.io(io::Error::other("the writer was already finished")));
        };
        let file = buf.into_inner().map_err(|e| self.io(e.into_error()))?;
        file.sync_all().map_err(|e| self.io(e))?;
        drop(file);
        let parent = self.dest.parent().unwrap_or(&self.root).to_path_buf();
        // Never create folders or link through a folder that is a link (it could point
        // outside the store): checked before creating the missing folders and after.
        let check = || {
            check_folders(&self.root, &self.folder).map_err(|(at, found)| Error::NotRegular {
                path: format!("{}/{at}", self.store_shown),
                found,
            })
        };
        check()?;
        let created = create_dirs(&parent).map_err(|e| self.io(e))?;
        sync_created(&created).map_err(|e| self.io(e))?;
        check()?;
        // The link is the commit point: atomic, and it fails if the name exists.
        let linked = fs::hard_link(&self.tmp, &self.dest);
        let _ = fs::remove_file(&self.tmp);
        match linked {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Err(Error::AlreadyExists {
                    path: self.shown.clone(),
                })
            }
            Err(e) => {
                return Err(self.io(io::Error::new(
                    e.kind(),
                    format!("linking the written file into place failed (the file system must support hard links): {e}"),
                )))
            }
        }
        sync_dir(&parent).map_err(|e| self.io(e))?;
        Ok(self.written)
    }
}

impl Write for LocalWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let f = self
            .file
            .as_mut()
            .ok_or_else(|| io::Error::other("write after finish or abort"))?;
        let n = f.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.file.as_mut() {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

impl ObjectWriter for LocalWriter {
    fn finish(mut self: Box<Self>) -> Result<u64> {
        let r = self.publish();
        self.discard();
        r
    }

    fn abort(mut self: Box<Self>) {
        self.discard();
    }
}

impl Drop for LocalWriter {
    fn drop(&mut self) {
        self.discard();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_paths() {
        for ok in [
            "a",
            "a/b.sst",
            "2026/11/21-120000.00/BACKUP_MANIFEST",
            ".DS_Store",
            "a/.vouch-tmpx",
        ] {
            assert!(check_object_path(ok, false).is_ok(), "{ok}");
        }
        for (bad, why) in [
            ("", "empty"),
            ("/a", "absolute"),
            ("a/../b", "'..'"),
            ("..", "'..'"),
            ("./a", "'.'"),
            ("a//b", "empty component"),
            ("a/", "empty component"),
            ("a\0b", "NUL"),
            (".vouch-tmp/x", "reserved"),
            (".vouch-tmp", "reserved"),
            ("a/.vouch-tmp/b", "reserved"),
        ] {
            match check_object_path(bad, false) {
                Err(Error::InvalidPath { path, reason }) => {
                    assert_eq!(path, bad);
                    assert!(reason.contains(why), "{bad:?}: {reason}");
                }
                other => panic!("{bad:?}: {other:?}"),
            }
        }
        for ok in [
            "",
            "a/",
            "a/b",
            "2026/",
            "metadata/latest/LATEST-",
            ".vouch",
            ".vouch-tmp",
        ] {
            assert!(check_object_path(ok, true).is_ok(), "{ok}");
        }
        for bad in ["/", "a//", "../", "a/../", ".vouch-tmp/", "a/.vouch-tmp/"] {
            assert!(check_object_path(bad, true).is_err(), "{bad}");
        }
    }
}
