//! What the levels share: the stores and options of one run ([`Ctx`]), and the state of
//! each chain and layer being verified. The orchestrator (`collection`) builds it; the
//! levels read and add findings to it; no level imports another.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use vouch_chain::join;
use vouch_chain::sealed::ChainKey;
use vouch_format::layout::FullSubdir;
use vouch_format::manifest::pb;
use vouch_format::mvcc::Timestamp;
use vouch_store::{ObjectMeta, ObjectWriter, OpenOptions, PendingRange, StorageUri, Store};

use crate::report::{CheckResult, VerifyOptions};

/// Which store an object or layer lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Which {
    /// The collection.
    Main,
    /// The incremental location (when given; else the collection under `incrementals/`).
    Inc,
    /// A locality store of a locality-aware backup (the `n`-th URI after the first).
    Part(usize),
}

/// One layer being verified.
#[derive(Debug)]
pub(crate) struct LayerState {
    /// Directory relative to its store.
    pub dir: String,
    /// The store it lives in.
    pub which: Which,
    /// True for the full backup.
    pub is_full: bool,
    /// Stored manifest bytes, when readable.
    pub bytes: Option<Vec<u8>>,
    /// The decoded manifest, when it decodes.
    pub manifest: Option<pb::BackupManifest>,
    /// Sizes of the manifest's files as stat reported them (`None`: missing or unreadable),
    /// in manifest order.
    pub sizes: Vec<Option<u64>>,
    /// Checks run on this layer.
    pub checks: Vec<CheckResult>,
    /// A locality-aware layer: each locality whose part was found, with its store (an
    /// index into [`Ctx::parts`], or `vouch_chain::merge::OWN_STORE`: the layer's own).
    pub localities: Vec<(String, usize)>,
}

impl LayerState {
    pub(crate) fn check(&mut self, name: &'static str) -> &mut CheckResult {
        if let Some(i) = self.checks.iter().position(|c| c.name == name) {
            // Index from position(): in bounds.
            #[allow(clippy::indexing_slicing)]
            return &mut self.checks[i];
        }
        self.checks.push(CheckResult::new(name));
        let last = self.checks.len() - 1;
        #[allow(clippy::indexing_slicing)]
        &mut self.checks[last]
    }

    /// The store holding file `f`: the layer's own, or its locality's (`None`: no store
    /// given holds that locality; a `locality_missing` finding says so).
    pub(crate) fn file_which(&self, f: &pb::File) -> Option<Which> {
        if f.locality.is_empty() {
            return Some(self.which);
        }
        self.localities
            .iter()
            .find(|(l, _)| *l == f.locality)
            .map(|(_, i)| {
                if *i == vouch_chain::merge::OWN_STORE {
                    self.which
                } else {
                    Which::Part(*i)
                }
            })
    }

    /// `dir/name`.
    pub(crate) fn path(&self, name: &str) -> String {
        join(&self.dir, name)
    }
}

/// A chain being verified.
#[derive(Debug)]
pub(crate) struct ChainState {
    pub full: String,
    /// Whether the chain is encrypted (it has key records or an integrity listing).
    pub encrypted: bool,
    /// The chain's data key, when it is encrypted and a key was given.
    pub key: Option<ChainKey>,
    /// What was not checked for want of the key (empty: nothing).
    pub not_checked: Vec<&'static str>,
    pub layers: Vec<LayerState>,
    pub checks: Vec<CheckResult>,
    /// With `--shard`: the files and tables this shard checks at the `full` level (`None`:
    /// all of them).
    pub owned: Option<crate::shard::Owned>,
}

impl ChainState {
    /// True when this process checks file `fi` of layer `li` at the `full` level.
    pub(crate) fn owns_file(&self, li: usize, fi: usize) -> bool {
        self.owned.as_ref().is_none_or(|o| o.file(li, fi))
    }

    /// True when this process checks table `id`'s indexes and fingerprints.
    pub(crate) fn owns_table(&self, id: u64) -> bool {
        self.owned.as_ref().is_none_or(|o| o.table(id))
    }

    /// True when this process reports the chain's and layers' own checks (not sharded, or
    /// shard 1).
    pub(crate) fn reports_whole(&self, ctx: &Ctx<'_>) -> bool {
        ctx.opts.shard.is_none_or(|s| s.is_first())
    }
}

/// The stores and options of one run.
pub(crate) struct Ctx<'a> {
    pub uri: &'a str,
    pub incremental_location: Option<&'a str>,
    pub store_opts: &'a OpenOptions,
    /// `--as-of`, parsed.
    pub as_of: Option<Timestamp>,
    pub main: &'a dyn Store,
    pub inc: &'a dyn Store,
    /// The other URIs given for a locality-aware collection, opened.
    pub parts: &'a [Box<dyn Store>],
    pub opts: &'a VerifyOptions,
    pub files_checked: AtomicUsize,
    pub bytes_read: Mutex<u64>,
    /// Bytes read so far through the run's stores ([`Counted`]), for progress.
    pub reading: Arc<AtomicU64>,
    /// Data files whose checks finished so far (each once, as it finishes, also inside a
    /// group still running), for progress.
    pub files_done: AtomicU64,
    /// `--cluster` at the schema level and above: its directory and its catalog now.
    pub target: Option<(std::path::PathBuf, vouch_format::schema::Catalog)>,
}

impl Ctx<'_> {
    pub(crate) fn store(&self, w: Which) -> &dyn Store {
        match w {
            Which::Main => self.main,
            Which::Inc => self.inc,
            Which::Part(i) => self.parts.get(i).map_or(self.main, AsRef::as_ref),
        }
    }

    pub(crate) fn add_bytes(&self, n: u64) {
        if let Ok(mut b) = self.bytes_read.lock() {
            *b += n;
        }
    }
}

/// True when `s` is a canonical full backup directory name.
pub(crate) fn is_full_name(s: &str) -> bool {
    FullSubdir::parse(s).is_ok_and(|f| f.path == s)
}

/// The store a [`Counted`] reads through.
#[derive(Debug)]
pub(crate) enum Inner<'a> {
    Owned(Box<dyn Store>),
    Borrowed(&'a dyn Store),
}

/// A store that counts the bytes read through it (whole objects, ranges, ranges read
/// ahead) into a shared counter: how far a long read has come, for progress while a
/// group of files is checked. It can also read a run's small objects ahead, many at once
/// ([`Counted::read_ahead_objects`]). Everything else is the inner store's.
#[derive(Debug)]
pub(crate) struct Counted<'a> {
    inner: Inner<'a>,
    read: Arc<AtomicU64>,
    /// Objects read ahead and not asked for yet: (path, bytes).
    ahead: Mutex<std::collections::HashMap<String, Vec<u8>>>,
}

/// Whole objects [`Counted::read_ahead_objects`] reads at once: on an object store each is
/// a round trip, and a collection of many backups has a manifest, a checksum and a LATEST
/// pointer per backup to read before anything else.
pub(crate) const OBJECTS_AT_ONCE: usize = 8;

/// The most bytes [`Counted::read_ahead_objects`] reads ahead, by the sizes listed and by
/// the bytes held (then at most [`OBJECTS_AT_ONCE`] reads of [`OBJECT_AHEAD_MAX`] more
/// finish): objects beyond it are read when asked for, as without reading ahead.
pub(crate) const OBJECTS_AHEAD_MAX: u64 = 64 << 20;

/// The largest object [`Counted::read_ahead_objects`] reads ahead (a listing may say any
/// size: the read itself is held to this).
pub(crate) const OBJECT_AHEAD_MAX: u64 = 8 << 20;

impl<'a> Counted<'a> {
    pub(crate) fn new(inner: Inner<'a>, read: &Arc<AtomicU64>) -> Self {
        Counted {
            inner,
            read: Arc::clone(read),
            ahead: Mutex::new(std::collections::HashMap::new()),
        }
    }

    /// Reads `objects` (path, size listed, limit) [`OBJECTS_AT_ONCE`] at a time, in
    /// order, and keeps each one that read: the next [`Store::get_limited`] of it (under a
    /// limit it is within) is answered from memory, once. One that did not read is read
    /// again when asked for, and gives its error then: what a run finds does not change,
    /// only when the bytes came. Memory is bounded whatever the listing says: objects are
    /// read ahead as far as [`OBJECTS_AHEAD_MAX`] bytes by their listed sizes, each under
    /// at most [`OBJECT_AHEAD_MAX`] bytes (a larger one is read when asked for), and no
    /// new one is started once the bytes held reach [`OBJECTS_AHEAD_MAX`].
    pub(crate) fn read_ahead_objects(&self, objects: &[(String, u64, u64)]) {
        let mut total = 0u64;
        let taken = objects
            .iter()
            .take_while(|(_, size, _)| {
                total = total.saturating_add(*size);
                total <= OBJECTS_AHEAD_MAX
            })
            .count();
        let objects = objects.get(..taken).unwrap_or_default();
        let held = AtomicU64::new(0);
        let read_one = |(path, _, limit): &(String, u64, u64)| {
            if held.load(Ordering::Relaxed) >= OBJECTS_AHEAD_MAX {
                return None;
            }
            let limit = (*limit).min(OBJECT_AHEAD_MAX);
            let b = self.count(self.inner().get_limited(path, limit)).ok()?;
            held.fetch_add(b.len() as u64, Ordering::Relaxed);
            Some((path.clone(), b))
        };
        vouch_chain::pool::for_each(objects, OBJECTS_AT_ONCE, read_one, |_, read| {
            if let (Some((path, b)), Ok(mut ahead)) = (read, self.ahead.lock()) {
                ahead.insert(path, b);
            }
        });
    }

    fn inner(&self) -> &dyn Store {
        match &self.inner {
            Inner::Owned(s) => s.as_ref(),
            Inner::Borrowed(s) => *s,
        }
    }

    fn count<T: AsRef<[u8]>>(&self, r: vouch_store::Result<T>) -> vouch_store::Result<T> {
        if let Ok(b) = &r {
            self.read
                .fetch_add(b.as_ref().len() as u64, Ordering::Relaxed);
        }
        r
    }
}

impl Store for Counted<'_> {
    fn uri(&self) -> &str {
        self.inner().uri()
    }
    fn get(&self, path: &str) -> vouch_store::Result<Vec<u8>> {
        self.count(self.inner().get(path))
    }
    fn get_limited(&self, path: &str, limit: u64) -> vouch_store::Result<Vec<u8>> {
        let ahead = self.ahead.lock().ok().and_then(|mut a| a.remove(path));
        match ahead {
            Some(b) if b.len() as u64 <= limit => Ok(b),
            _ => self.count(self.inner().get_limited(path, limit)),
        }
    }
    fn get_range(&self, path: &str, offset: u64, len: u64) -> vouch_store::Result<Vec<u8>> {
        self.count(self.inner().get_range(path, offset, len))
    }
    fn size(&self, path: &str) -> vouch_store::Result<Option<u64>> {
        self.inner().size(path)
    }
    fn list(&self, prefix: &str) -> vouch_store::Result<Vec<ObjectMeta>> {
        self.inner().list(prefix)
    }
    fn put_new(&self, path: &str, bytes: &[u8]) -> vouch_store::Result<()> {
        self.inner().put_new(path, bytes)
    }
    fn create_new(&self, path: &str) -> vouch_store::Result<Box<dyn ObjectWriter>> {
        self.inner().create_new(path)
    }
    fn location(&self) -> Option<&StorageUri> {
        self.inner().location()
    }
    fn read_ahead(&self) -> u64 {
        self.inner().read_ahead()
    }
    fn start_range(&self, path: &str, offset: u64, len: u64) -> PendingRange<'_> {
        let sent = self.inner().start_range(path, offset, len);
        PendingRange::new(move || self.count(sent.wait()))
    }
    fn windows_ahead(&self) -> usize {
        self.inner().windows_ahead()
    }
    fn tail_read(&self, size: u64) -> u64 {
        self.inner().tail_read(size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Objects read ahead are answered from memory once each, under a limit they are
    /// within; a smaller limit, a second read, an object that did not read, and objects
    /// beyond the bytes held go to the store and give what it gives.
    #[test]
    fn objects_read_ahead_answer_once_and_change_no_answer() {
        let dir = tempfile::tempdir().unwrap();
        let uri = format!("file://{}", dir.path().display());
        let store = vouch_store::open(&uri, &OpenOptions::default()).unwrap();
        for i in 0..20u8 {
            store.put_new(&format!("o{i}"), &[i; 100]).unwrap();
        }
        // The bytes that came from the store (each object holds 100).
        let read = Arc::new(AtomicU64::new(0));
        let c = Counted::new(Inner::Borrowed(store.as_ref()), &read);
        let mut ahead: Vec<(String, u64, u64)> =
            (0..20).map(|i| (format!("o{i}"), 100, 1000)).collect();
        ahead.push(("missing".into(), 0, 1000));
        // Listed as too large to hold with the others: not read ahead.
        ahead.push(("o19".into(), OBJECTS_AHEAD_MAX, 1000));
        c.read_ahead_objects(&ahead);
        assert_eq!(read.load(Ordering::Relaxed), 2000);
        for i in 0..20u8 {
            assert_eq!(c.get_limited(&format!("o{i}"), 100).unwrap(), vec![i; 100]);
        }
        assert_eq!(read.load(Ordering::Relaxed), 2000);
        // Each once: read again, from the store.
        assert_eq!(c.get_limited("o3", 100).unwrap(), vec![3; 100]);
        assert_eq!(read.load(Ordering::Relaxed), 2100);
        assert!(matches!(
            c.get_limited("missing", 1000),
            Err(vouch_store::Error::NotFound { .. })
        ));
        // A smaller limit than the object read ahead: the store's answer.
        c.read_ahead_objects(&[("o5".into(), 100, 1000)]);
        assert_eq!(read.load(Ordering::Relaxed), 2200);
        assert!(matches!(
            c.get_limited("o5", 99),
            Err(vouch_store::Error::TooLarge {
                size: 100,
                limit: 99,
                ..
            })
        ));
        assert_eq!(read.load(Ordering::Relaxed), 2200);
        assert!(c.ahead.lock().unwrap().is_empty());
    }

    /// What a listing says of sizes does not bound memory, the reads do: an object larger
    /// than [`OBJECT_AHEAD_MAX`] listed as tiny is not read ahead (read when asked for),
    /// and objects whose listed sizes are nothing stop being read ahead once the bytes
    /// held reach [`OBJECTS_AHEAD_MAX`] (a few reads then in flight finish).
    #[test]
    fn objects_read_ahead_are_bounded_by_their_bytes_not_their_listing() {
        let dir = tempfile::tempdir().unwrap();
        let uri = format!("file://{}", dir.path().display());
        let store = vouch_store::open(&uri, &OpenOptions::default()).unwrap();
        let big = usize::try_from(OBJECT_AHEAD_MAX).unwrap();
        store.put_new("huge", &vec![1; big + 1]).unwrap();
        let n = 17;
        for i in 0..n {
            store.put_new(&format!("o{i}"), &vec![2; big]).unwrap();
        }
        let read = Arc::new(AtomicU64::new(0));
        let c = Counted::new(Inner::Borrowed(store.as_ref()), &read);
        c.read_ahead_objects(&[("huge".into(), 1, 1 << 30)]);
        assert_eq!(read.load(Ordering::Relaxed), 0);
        assert_eq!(c.get_limited("huge", 1 << 30).unwrap().len(), big + 1);
        let listed: Vec<(String, u64, u64)> =
            (0..n).map(|i| (format!("o{i}"), 0, 1 << 30)).collect();
        c.read_ahead_objects(&listed);
        let held: u64 = c
            .ahead
            .lock()
            .unwrap()
            .values()
            .map(|b| b.len() as u64)
            .sum();
        assert!(held >= OBJECTS_AHEAD_MAX, "{held}");
        assert!(
            held <= OBJECTS_AHEAD_MAX + OBJECTS_AT_ONCE as u64 * OBJECT_AHEAD_MAX,
            "{held}"
        );
        assert!(
            held < n * OBJECT_AHEAD_MAX,
            "{held}: every object was read ahead"
        );
        // Each still reads, from memory or from the store.
        for i in 0..n {
            assert_eq!(c.get_limited(&format!("o{i}"), 1 << 30).unwrap().len(), big);
        }
    }
}
