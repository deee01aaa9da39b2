//! A [`BlockSource`] over an object in a [`Store`]: positioned reads through
//! `Store::get_range`, so memory stays bounded by the largest block; a short read is an
//! error. Made with [`StoreSource::hashing`], reads that continue exactly where the
//! previous sequential read ended feed a running SHA-256, so a verified scan (which reads
//! the data blocks in file order from offset 0) hashes the file in the same pass;
//! [`StoreSource::finish_sha256`] reads only what the scan did not.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use sha2::{Digest, Sha256};
use vouch_format::sst::{BlockFeed, BlockSource, SstReader};
use vouch_format::Error as FormatError;
use vouch_store::{PendingRange, Store};

/// Chunk size for the bytes the scan did not read (index, footer) and for files that do
/// not open as SSTs.
const CHUNK: u64 = 1 << 20;

/// Read-ahead window on local disk: a read that continues where the previous one ended (a
/// scan reading blocks in file order) fetches this much at once, and the next reads are
/// served from it. One store request (or one open, seek and read on local disk) per window
/// instead of per block; memory one window per open source. The window is the store's
/// ([`Store::read_ahead`]): larger on object stores, where a request is a round trip.
pub const READ_AHEAD: u64 = vouch_store::LOCAL_READ_AHEAD;

/// An object read by ranges.
#[derive(Debug)]
pub struct StoreSource<'a> {
    store: &'a dyn Store,
    path: String,
    size: u64,
    hashed: Cell<u64>,
    /// The running hash, when made with [`StoreSource::hashing`].
    sha: Option<Box<RefCell<Sha256>>>,
    /// The thread running the hash instead, when made with
    /// [`StoreSource::hashing_on_thread`].
    hasher: Option<Box<HashThread>>,
    read: Cell<u64>,
    /// Offsets of the reads made, when tracked (sealed files: which chunks were read).
    starts: Option<RefCell<HashSet<u64>>>,
    /// Where the previous read ended, and the read-ahead window (its offset and bytes).
    last_end: Cell<u64>,
    ahead: RefCell<(u64, Arc<Vec<u8>>)>,
    /// Windows requested ahead, in order: (offset, length, the request).
    /// (Boxed: a source is kept in enums beside small variants.)
    pending: Box<RefCell<VecDeque<(u64, u64, PendingRange<'a>)>>>,
    /// Windows read so far.
    windows: Cell<u64>,
    /// Bytes known without a fetch: a hint's, and the object's last bytes. (Boxed, as
    /// `pending` is.)
    known: Box<RefCell<Known>>,
    /// Where the object's known last bytes ([`Known::tail`]) start, once they were known
    /// (the size until then): reads ahead in order stop there, so a scan's last window
    /// does not fetch the index and footer again.
    data_end: Cell<u64>,
}

/// Bytes of an object held in memory: their offset, and the bytes.
pub type Tail = (u64, Arc<Vec<u8>>);

/// Bytes a source holds so that it does not fetch them again.
#[derive(Debug, Default)]
struct Known {
    /// The bytes fetched for a [`BlockSource::will_read`] hint (or given with
    /// [`StoreSource::knowing`]): reads inside them are served from them, until the
    /// first read outside them (a scan reading the data) lets them go.
    hinted: Option<Tail>,
    /// The object's last bytes as read at open (the footer, with the hinted index,
    /// properties and metaindex before it when they adjoin): a hashing source keeps them
    /// until its hash reaches them ([`StoreSource::finish_sha256`]), so they are fetched
    /// once; another source lets them go with the hinted bytes. Handed to a second reader
    /// of the object by [`StoreSource::take_tail`].
    tail: Option<Tail>,
}

/// The most bytes a [`BlockSource::will_read`] hint fetches: a hint for more (a large
/// index, or a damaged footer's claim) is ignored and its reads are made one by one.
pub const HINT_MAX: u64 = 4 << 20;

impl<'a> StoreSource<'a> {
    /// A source over `path` whose size is `size` (as stat or the manifest says).
    pub fn new(store: &'a dyn Store, path: &str, size: u64) -> Self {
        StoreSource {
            store,
            path: path.to_string(),
            size,
            hashed: Cell::new(0),
            sha: None,
            hasher: None,
            read: Cell::new(0),
            starts: None,
            last_end: Cell::new(0),
            ahead: RefCell::new((0, Arc::new(Vec::new()))),
            pending: Box::new(RefCell::new(VecDeque::new())),
            windows: Cell::new(0),
            known: Box::new(RefCell::new(Known::default())),
            data_end: Cell::new(size),
        }
    }

    /// The same, hashing sequential reads (see [`StoreSource::finish_sha256`]).
    pub fn hashing(store: &'a dyn Store, path: &str, size: u64) -> Self {
        let mut s = Self::new(store, path, size);
        s.sha = Some(Box::new(RefCell::new(Sha256::new())));
        s
    }

    /// The same as [`StoreSource::hashing`], with the SHA-256 run on a thread of its own:
    /// the bytes read in order are handed to it (shared, not copied; at most
    /// [`HASH_QUEUE`] reads waiting), so a scan reading, decompressing and checking a
    /// file on one core has its hashing done on another. Hashes exactly what
    /// [`StoreSource::hashing`] does (inline when no thread can be started, and for an
    /// object under [`HASH_THREAD_MIN`] bytes: a thread is not worth starting for it).
    pub fn hashing_on_thread(store: &'a dyn Store, path: &str, size: u64) -> Self {
        if size < HASH_THREAD_MIN {
            return Self::hashing(store, path, size);
        }
        let (tx, rx) = std::sync::mpsc::sync_channel::<Arc<Vec<u8>>>(HASH_QUEUE);
        let spawned = std::thread::Builder::new().spawn(move || {
            let mut sha = Sha256::new();
            while let Ok(b) = rx.recv() {
                sha.update(&b[..]);
            }
            sha
        });
        let mut s = Self::new(store, path, size);
        match spawned {
            Ok(handle) => {
                s.hasher = Some(Box::new(HashThread {
                    tx: RefCell::new(Some(tx)),
                    handle: RefCell::new(Some(handle)),
                    sum: Cell::new(None),
                }));
            }
            Err(_) => s.sha = Some(Box::new(RefCell::new(Sha256::new()))),
        }
        s
    }

    /// The same source, given the object's last bytes as another reader of it fetched them
    /// ([`StoreSource::take_tail`]): an open reads them from memory, and a hashing source
    /// hashes them from there when its hash reaches them, so they are fetched once for
    /// both readers. They count as read by this source. Bytes that do not end where the
    /// object ends (or are empty) are ignored.
    #[must_use]
    pub fn knowing(self, tail: Option<Tail>) -> Self {
        if let Some((at, b)) = tail {
            let ends = at.checked_add(b.len() as u64) == Some(self.size);
            if ends && !b.is_empty() {
                self.read
                    .set(self.read.get().saturating_add(b.len() as u64));
                self.keep_tail(at, b);
            }
        }
        self
    }

    /// Keeps `b`, the object's last bytes from `at`, as its known last bytes and as the
    /// hinted bytes an open reads from; reads ahead in order stop where they begin.
    fn keep_tail(&self, at: u64, b: Arc<Vec<u8>>) {
        self.data_end.set(self.data_end.get().min(at));
        let mut known = self.known.borrow_mut();
        known.hinted = Some((at, Arc::clone(&b)));
        known.tail = Some((at, b));
    }

    /// Where the object's last bytes start when an open fetches them at once
    /// ([`Store::tail_read`]); `None` on stores that read only what is asked for.
    fn tail_from(&self) -> Option<u64> {
        let guess = self.store.tail_read(self.size).min(self.size);
        (guess > 0).then(|| self.size - guess)
    }

    /// Gives away the object's last bytes as this source read them at open (see
    /// [`StoreSource::knowing`]), and the hinted bytes with them: for a source that reads
    /// nothing more after its open (its data blocks come from a feed).
    pub fn take_tail(&self) -> Option<Tail> {
        let mut known = self.known.borrow_mut();
        known.hinted = None;
        known.tail.take()
    }

    /// A hashing source that also remembers the offset of every read (see
    /// [`StoreSource::was_read_at`]).
    pub fn tracking(store: &'a dyn Store, path: &str, size: u64) -> Self {
        let mut s = Self::hashing(store, path, size);
        s.starts = Some(RefCell::new(HashSet::new()));
        s
    }

    /// Whether a read started at `offset` (always false unless made with
    /// [`StoreSource::tracking`]).
    pub fn was_read_at(&self, offset: u64) -> bool {
        self.starts
            .as_ref()
            .is_some_and(|s| s.borrow().contains(&offset))
    }

    /// Bytes read from the store so far.
    pub fn bytes_read(&self) -> u64 {
        self.read.get()
    }

    fn store_error(&self, e: &vouch_store::Error) -> FormatError {
        FormatError::Io {
            kind: std::io::ErrorKind::Other,
            message: format!("{}: {e}", self.path),
        }
    }

    fn fetch(&self, offset: u64, len: u64) -> Result<Arc<Vec<u8>>, FormatError> {
        let b = self
            .store
            .get_range(&self.path, offset, len)
            .map_err(|e| self.store_error(&e))?;
        Ok(self.account(offset, b))
    }

    /// A read-ahead window of `len` bytes at `offset`: the one requested ahead when it is
    /// this one (others requested are abandoned), else read now. The windows after it
    /// are requested first, up to [`Store::windows_ahead`] of them (none for the first
    /// window read), so on object stores the next requests are on their way while
    /// this window is waited for and worked on.
    fn fetch_window(&self, offset: u64, len: u64) -> Result<Arc<Vec<u8>>, FormatError> {
        let mut pending = self.pending.borrow_mut();
        let sent = loop {
            match pending.pop_front() {
                Some((at, n, p)) if at == offset && n == len => break Some(p),
                Some(_) => {}
                None => break None,
            }
        };
        // The windows after this one go out before this one is waited for.
        let window = self.store.read_ahead();
        let mut next = pending
            .back()
            .map_or(offset.saturating_add(len), |(at, n, _)| {
                at.saturating_add(*n)
            });
        // None ahead of the first window: a file its reader waits on after one window (a
        // merge reading another file first) holds no more than that.
        let first = self.windows.get() == 0;
        self.windows.set(self.windows.get().saturating_add(1));
        let ahead = if first { 0 } else { self.store.windows_ahead() };
        while pending.len() < ahead && next < self.window_end(offset) && window > 0 {
            let n = window.min(self.window_end(offset) - next);
            pending.push_back((next, n, self.store.start_range(&self.path, next, n)));
            next += n;
        }
        drop(pending);
        let b = match sent {
            Some(p) => p.wait(),
            None => self.store.get_range(&self.path, offset, len),
        }
        .map_err(|e| self.store_error(&e))?;
        Ok(self.account(offset, b))
    }

    /// Where reads ahead in order from `at` stop: where the known last bytes begin when
    /// `at` is before them, else the object's end.
    fn window_end(&self, at: u64) -> u64 {
        let end = self.data_end.get().min(self.size);
        if at < end {
            end
        } else {
            self.size
        }
    }

    /// Counts bytes read at `offset` (and hashes them when they continue the hash).
    fn account(&self, offset: u64, b: Vec<u8>) -> Arc<Vec<u8>> {
        self.read.set(self.read.get() + b.len() as u64);
        let b = Arc::new(b);
        self.hash_in_order(offset, &b);
        b
    }

    /// Hashes `b`, the bytes at `offset`, when they continue the hash.
    fn hash_in_order(&self, offset: u64, b: &Arc<Vec<u8>>) {
        if offset == self.hashed.get() {
            if let Some(sha) = &self.sha {
                sha.borrow_mut().update(&b[..]);
                self.hashed.set(offset + b.len() as u64);
            } else if let Some(h) = &self.hasher {
                if let Some(tx) = h.tx.borrow().as_ref() {
                    // A hasher gone (it cannot fail) leaves the hash short: the file's
                    // SHA-256 then does not match and says so.
                    let _ = tx.send(Arc::clone(b));
                }
                self.hashed.set(offset + b.len() as u64);
            }
        }
    }

    /// Fetches (and so hashes) the bytes from where the hash is up to `upto`.
    fn fetch_unhashed(&self, upto: u64) -> Result<(), FormatError> {
        let upto = upto.min(self.size);
        while self.hashed.get() < upto {
            let at = self.hashed.get();
            let b = self.fetch(at, CHUNK.min(upto - at))?;
            if b.is_empty() {
                break;
            }
        }
        Ok(())
    }

    /// Reads the bytes not hashed yet and returns the SHA-256 of the whole object (made
    /// with [`StoreSource::hashing`] or [`StoreSource::hashing_on_thread`]; otherwise the
    /// whole object is read and hashed now). Asked again, it gives the same answer.
    pub fn finish_sha256(&self) -> Result<[u8; 32], FormatError> {
        if self.sha.is_none() && self.hasher.is_none() {
            let hashing = StoreSource::hashing(self.store, &self.path, self.size);
            return hashing.finish_sha256();
        }
        // The bytes not hashed yet: fetched up to the known last bytes, which are hashed
        // from memory (and let go), then fetched to the end (nothing when they were known).
        let tail = self.known.borrow_mut().tail.take();
        let upto = tail.as_ref().map_or(self.size, |(at, _)| *at);
        self.fetch_unhashed(upto)?;
        if let Some((at, b)) = tail {
            let from = self
                .hashed
                .get()
                .checked_sub(at)
                .and_then(|from| usize::try_from(from).ok())
                .filter(|&from| from < b.len());
            match from {
                Some(0) => self.hash_in_order(at, &b),
                Some(from) => {
                    let rest = Arc::new(b.get(from..).unwrap_or_default().to_vec());
                    self.hash_in_order(self.hashed.get(), &rest);
                }
                None => {}
            }
        }
        self.fetch_unhashed(self.size)?;
        if let Some(sha) = &self.sha {
            return Ok(sha.borrow().clone().finalize().into());
        }
        let Some(h) = &self.hasher else {
            return Err(FormatError::Io {
                kind: std::io::ErrorKind::Other,
                message: format!("{}: not hashed", self.path),
            });
        };
        if let Some(sum) = h.sum.get() {
            return Ok(sum);
        }
        // The sender dropped, the thread hashes what is queued and ends.
        drop(h.tx.borrow_mut().take());
        let joined = h
            .handle
            .borrow_mut()
            .take()
            .map(std::thread::JoinHandle::join);
        match joined {
            Some(Ok(sha)) => {
                let sum: [u8; 32] = sha.finalize().into();
                h.sum.set(Some(sum));
                Ok(sum)
            }
            _ => Err(FormatError::Io {
                kind: std::io::ErrorKind::Other,
                message: format!("{}: the hashing thread failed", self.path),
            }),
        }
    }
}

/// Objects smaller than this are hashed inline by [`StoreSource::hashing_on_thread`]
/// (starting a thread costs about as much as hashing a few hundred KiB; a full verify of
/// 100,000 small files would start 100,000 more threads).
pub const HASH_THREAD_MIN: u64 = 4 * READ_AHEAD;

/// Reads waiting for a [`StoreSource::hashing_on_thread`] hasher: memory at most this many
/// read-ahead windows per file.
pub const HASH_QUEUE: usize = 2;

/// The thread a [`StoreSource::hashing_on_thread`] source hashes on (its queue and the
/// thread, `None` once the hash is finished; then the hash).
#[derive(Debug)]
struct HashThread {
    tx: RefCell<Option<std::sync::mpsc::SyncSender<Arc<Vec<u8>>>>>,
    handle: RefCell<Option<std::thread::JoinHandle<Sha256>>>,
    sum: Cell<Option<[u8; 32]>>,
}

/// Data blocks a prefetcher keeps ready ahead of its scan: memory a few blocks per file
/// (plus its read-ahead window).
pub const PREFETCH_BLOCKS: usize = 4;

/// What a prefetcher gives back when its scan is over: the SHA-256 of every stored byte of
/// the file (reading what it had not read yet), and the bytes it read from the store.
pub type Prefetched = (Result<[u8; 32], FormatError>, u64);

/// Reads data file `path` (stored size `size`) ahead of a verified scan, on its own thread
/// in `scope`: the stored bytes read in order through a hashing [`StoreSource`] (hashed on
/// a third thread, [`StoreSource::hashing_on_thread`]), each data
/// block's CRC checked and decompressed ([`SstReader::read_data_block`]), at most
/// [`PREFETCH_BLOCKS`] blocks ahead, so the reading, hashing and decompression of a file run
/// on one core while its entries are decoded and checked on another. Returns the feed for
/// [`vouch_format::sst::VerifiedScan::with_feed`] (the scan then reads no data block
/// itself) and the thread, which ends with the file's SHA-256 once the feed is dropped or
/// every block was fed. A block that does not read or check stops the feed with that
/// error (the scan's own read would have given the same). `Err` when no thread could be
/// started (the caller then reads the file itself).
///
/// The thread first waits on the returned [`TailSender`] for the file's last bytes as the
/// scan's own source read them at open ([`StoreSource::take_tail`]; `None`, or the sender
/// dropped: it reads them itself), so the index and footer are fetched once.
pub fn prefetch<'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    store: &'scope dyn Store,
    path: &str,
    size: u64,
) -> std::io::Result<(
    BlockFeed<'static>,
    std::thread::ScopedJoinHandle<'scope, Prefetched>,
    TailSender,
)> {
    let (tx, rx) =
        std::sync::mpsc::sync_channel::<(usize, Result<Vec<u8>, FormatError>)>(PREFETCH_BLOCKS);
    let (tail_tx, tail_rx) = tail_channel();
    let owned = path.to_string();
    let handle = std::thread::Builder::new().spawn_scoped(scope, move || {
        let tail = tail_rx.recv().ok().flatten();
        let src = StoreSource::hashing_on_thread(store, &owned, size).knowing(tail);
        if let Ok(r) = SstReader::open(&src) {
            for i in 0..r.data_blocks() {
                let b = r.read_data_block(i).map(std::borrow::Cow::into_owned);
                let failed = b.is_err();
                if tx.send((i, b)).is_err() || failed {
                    break;
                }
            }
        }
        drop(tx);
        (src.finish_sha256(), src.bytes_read())
    })?;
    let path = path.to_string();
    let feed: BlockFeed<'static> = Box::new(move |i| match rx.recv() {
        Ok((j, b)) if j == i => b,
        Ok((j, _)) => Err(FormatError::Io {
            kind: std::io::ErrorKind::Other,
            message: format!("{path}: the read-ahead gave block {j} where block {i} was asked for"),
        }),
        Err(_) => Err(FormatError::Io {
            kind: std::io::ErrorKind::Other,
            message: format!("{path}: the read-ahead stopped before block {i}"),
        }),
    });
    Ok((feed, handle, tail_tx))
}

/// Fetches the last bytes of each source's object at once, as each one's open would fetch
/// them first ([`Store::tail_read`]; nothing on stores that read no more than the footer,
/// nor for a source that knows them already): at most [`TAILS_AT_ONCE`] requests in
/// flight, so the opens of a group of files wait for about one round trip, not one each.
/// A read that fails or comes back short is dropped: that source's open reads them again
/// (and gives its error then).
pub fn read_tails(srcs: &[&StoreSource<'_>]) {
    let mut wanted = srcs
        .iter()
        .filter(|s| s.known.borrow().tail.is_none())
        .filter_map(|s| Some((*s, s.tail_from()?)));
    let mut sent = VecDeque::new();
    loop {
        while sent.len() < TAILS_AT_ONCE {
            let Some((s, from)) = wanted.next() else {
                break;
            };
            sent.push_back((s, from, s.store.start_range(&s.path, from, s.size - from)));
        }
        let Some((s, from, p)) = sent.pop_front() else {
            break;
        };
        match p.wait() {
            Ok(b) if b.len() as u64 == s.size - from && !b.is_empty() => {
                s.keep_tail(from, s.account(from, b));
            }
            _ => {}
        }
    }
}

/// Requests [`read_tails`] has in flight at once.
pub const TAILS_AT_ONCE: usize = 16;

/// Hands a file's last bytes, as one reader fetched them at open, to the thread reading
/// the file for it ([`prefetch`]); sending `None` (or dropping it) lets the thread read
/// them itself.
pub type TailSender = std::sync::mpsc::SyncSender<Option<Tail>>;

/// A [`TailSender`] and the thread's end of it.
pub fn tail_channel() -> (TailSender, std::sync::mpsc::Receiver<Option<Tail>>) {
    std::sync::mpsc::sync_channel(1)
}

impl BlockSource for StoreSource<'_> {
    fn size(&self) -> u64 {
        self.size
    }

    /// Fetches the hinted bytes at once (at most [`HINT_MAX`], inside the object) and
    /// serves the reads inside them from them: one request instead of one per block on
    /// an object store, one read instead of several on local disk. The bytes count as read
    /// and are hashed when they continue the hash, as any fetch; when they end where the
    /// object's known last bytes (its footer) begin, the two are kept as one
    /// ([`StoreSource::take_tail`]).
    fn will_read(&self, offset: u64, len: u64) {
        let Some(end) = offset.checked_add(len).filter(|&end| end <= self.size) else {
            return;
        };
        if len == 0 || len > HINT_MAX {
            return;
        }
        {
            let known = self.known.borrow();
            let held = |(at, b): &Tail| *at <= offset && at.saturating_add(b.len() as u64) >= end;
            if known.hinted.as_ref().is_some_and(held) {
                return;
            }
        }
        // Up to where the known last bytes begin, when the hinted bytes run into them.
        let upto = match self.known.borrow().tail.as_ref() {
            Some((at, _)) if offset < *at && *at < end => *at,
            _ => end,
        };
        // A failed fetch leaves the reads to be made (and to fail) one by one.
        let Ok(b) = self.fetch(offset, upto - offset) else {
            return;
        };
        if b.len() as u64 != upto - offset {
            return;
        }
        let joined = match self.known.borrow().tail.as_ref() {
            Some((at, t)) if *at == upto => {
                let mut all = Vec::with_capacity(b.len().saturating_add(t.len()));
                all.extend_from_slice(&b);
                all.extend_from_slice(t);
                Some(Arc::new(all))
            }
            _ => None,
        };
        match joined {
            Some(all) => self.keep_tail(offset, all),
            None => self.known.borrow_mut().hinted = Some((offset, b)),
        }
    }

    fn read_at(&self, offset: u64, len: usize) -> Result<Cow<'_, [u8]>, FormatError> {
        let end = vouch_format::sst::check_read_range(self.size, offset, len)?;
        if let Some(s) = &self.starts {
            s.borrow_mut().insert(offset);
        }
        let sequential = offset == self.last_end.get() || offset == self.hashed.get();
        self.last_end.set(end);
        {
            let mut known = self.known.borrow_mut();
            if let Some((at, buf)) = known.hinted.as_ref() {
                let inside = offset
                    .checked_sub(*at)
                    .and_then(|from| usize::try_from(from).ok())
                    .and_then(|from| buf.get(from..from.checked_add(len)?));
                if let Some(b) = inside {
                    return Ok(Cow::Owned(b.to_vec()));
                }
                // The reads the hint was for are over (a scan reads the data now): its
                // bytes are not held while the file is read (a hashing source keeps the
                // last bytes for its hash).
                known.hinted = None;
                if self.sha.is_none() && self.hasher.is_none() {
                    known.tail = None;
                }
            }
        }
        // The part of the read the window holds (all of it, a head, or nothing).
        let mut out = {
            let ahead = self.ahead.borrow();
            let (at, buf) = (ahead.0, &ahead.1);
            let from = offset
                .checked_sub(at)
                .and_then(|from| usize::try_from(from).ok())
                .filter(|&from| from < buf.len());
            match from {
                Some(from) => buf
                    .get(from..buf.len().min(from.saturating_add(len)))
                    .unwrap_or_default()
                    .to_vec(),
                None => Vec::new(),
            }
        };
        if out.len() == len {
            return Ok(Cow::Owned(out));
        }
        let rest_at = offset + out.len() as u64;
        let rest = (len - out.len()) as u64;
        // The rest is in the object's last bytes, held for the hash (the last data blocks
        // before the index, when the open fetched more than the index): from there.
        {
            let known = self.known.borrow();
            let held = known.tail.as_ref().and_then(|(at, buf)| {
                let from = usize::try_from(rest_at.checked_sub(*at)?).ok()?;
                buf.get(from..from.checked_add(usize::try_from(rest).ok()?)?)
            });
            if let Some(b) = held {
                out.extend_from_slice(b);
                return Ok(Cow::Owned(out));
            }
        }
        // The rest is fetched from where the window ends (each byte fetched once), with a
        // new window when reading in order.
        let window = self.store.read_ahead();
        let windowed = sequential && rest < window;
        let want = if windowed {
            window.min(self.window_end(rest_at) - rest_at).max(rest)
        } else {
            rest
        };
        // The first read of the object's last bytes (an open reading the footer) on a store
        // where a read is a round trip fetches more of them at once (`Store::tail_read`):
        // the index and properties before the footer, read next, are then in memory.
        let first_tail = self.tail_from().filter(|&from| {
            !windowed
                && out.is_empty()
                && from < rest_at
                && rest_at.checked_add(rest) == Some(self.size)
                && self.known.borrow().tail.is_none()
        });
        if let Some(from) = first_tail {
            // A store gives the bytes asked for or an error (a short read is one).
            let b = self.fetch(from, self.size - from)?;
            let asked = usize::try_from(rest_at - from)
                .ok()
                .and_then(|skip| b.get(skip..))
                .filter(|a| a.len() as u64 == rest)
                .map(<[u8]>::to_vec)
                .ok_or(FormatError::Truncated {
                    field: "block",
                    offset,
                    needed: len as u64,
                    available: 0,
                })?;
            self.keep_tail(from, b);
            return Ok(Cow::Owned(asked));
        }
        let b = if windowed {
            self.fetch_window(rest_at, want)?
        } else {
            self.fetch(rest_at, want)?
        };
        // The object's last bytes (the footer, read first at open) are kept: a hint for
        // the blocks before them joins them, and a hash reaches them last.
        if !windowed && out.is_empty() && rest_at.checked_add(want) == Some(self.size) {
            let mut known = self.known.borrow_mut();
            if known.tail.is_none() && rest_at > 0 {
                known.tail = Some((rest_at, Arc::clone(&b)));
                self.data_end.set(self.data_end.get().min(rest_at));
            }
        }
        if (b.len() as u64) < rest {
            return Err(FormatError::Truncated {
                field: "block",
                offset,
                needed: len as u64,
                available: (out.len() + b.len()) as u64,
            });
        }
        if out.is_empty() && want == rest {
            return Ok(Cow::Owned(
                Arc::try_unwrap(b).unwrap_or_else(|b| b.to_vec()),
            ));
        }
        out.extend_from_slice(b.get(..rest as usize).unwrap_or_default());
        if want > rest {
            *self.ahead.borrow_mut() = (rest_at, b);
        }
        Ok(Cow::Owned(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};
    use vouch_format::sst::{write_to_vec, Compression, SstReader, WriterOptions};
    use vouch_store::{ObjectMeta, ObjectWriter};

    /// A store counting its ranged reads; with `ahead` windows wanted ahead
    /// (`Store::windows_ahead`), logging each read started ahead as it is started and as
    /// it is waited for (`(waited, offset, len)`).
    struct Counting {
        inner: Box<dyn Store>,
        ranges: AtomicU64,
        /// Bytes asked for by ranged reads, in all.
        bytes: AtomicU64,
        ahead: usize,
        /// Its `Store::tail_read` (the same for every size, up to the object's).
        tail: u64,
        log: std::sync::Mutex<Vec<(bool, u64, u64)>>,
    }

    impl Counting {
        fn new(inner: Box<dyn Store>, ahead: usize) -> Self {
            Counting {
                inner,
                ranges: AtomicU64::new(0),
                bytes: AtomicU64::new(0),
                ahead,
                tail: 0,
                log: std::sync::Mutex::new(Vec::new()),
            }
        }

        fn reading_tails(mut self, tail: u64) -> Self {
            self.tail = tail;
            self
        }

        fn note(&self, waited: bool, offset: u64, len: u64) {
            if let Ok(mut l) = self.log.lock() {
                l.push((waited, offset, len));
            }
        }
    }

    impl std::fmt::Debug for Counting {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("Counting")
        }
    }

    impl Store for Counting {
        fn uri(&self) -> &str {
            self.inner.uri()
        }
        fn get(&self, path: &str) -> vouch_store::Result<Vec<u8>> {
            self.inner.get(path)
        }
        fn get_range(&self, path: &str, offset: u64, len: u64) -> vouch_store::Result<Vec<u8>> {
            self.ranges.fetch_add(1, Ordering::Relaxed);
            self.bytes.fetch_add(len, Ordering::Relaxed);
            self.inner.get_range(path, offset, len)
        }
        fn size(&self, path: &str) -> vouch_store::Result<Option<u64>> {
            self.inner.size(path)
        }
        fn list(&self, prefix: &str) -> vouch_store::Result<Vec<ObjectMeta>> {
            self.inner.list(prefix)
        }
        fn put_new(&self, path: &str, bytes: &[u8]) -> vouch_store::Result<()> {
            self.inner.put_new(path, bytes)
        }
        fn create_new(&self, path: &str) -> vouch_store::Result<Box<dyn ObjectWriter>> {
            self.inner.create_new(path)
        }
        fn start_range(&self, path: &str, offset: u64, len: u64) -> PendingRange<'_> {
            self.note(false, offset, len);
            let path = path.to_string();
            PendingRange::new(move || {
                self.note(true, offset, len);
                self.get_range(&path, offset, len)
            })
        }
        fn windows_ahead(&self) -> usize {
            self.ahead
        }
        fn tail_read(&self, size: u64) -> u64 {
            self.tail.min(size)
        }
    }

    #[test]
    fn a_scan_reads_ahead_in_windows_and_hashes_every_byte_once() {
        let keys: Vec<Vec<u8>> = (0..20_000u32).map(|i| i.to_be_bytes().to_vec()).collect();
        // Values that do not compress, so the file spans many windows.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let values: Vec<Vec<u8>> = keys
            .iter()
            .map(|_| {
                (0..200)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        x as u8
                    })
                    .collect()
            })
            .collect();
        let opts = WriterOptions {
            compression: Compression::Zstd,
            ..WriterOptions::default()
        };
        let sst = write_to_vec(
            keys.iter()
                .zip(&values)
                .map(|(k, v)| (k.as_slice(), v.as_slice())),
            opts,
        )
        .expect("write");
        let (_dir, uri, inner) = stored(&sst);
        let want = SstReader::open(sst.as_slice())
            .and_then(|r| r.verify_scan())
            .expect("scan in memory");
        assert!(want.data_blocks > 100, "{} blocks", want.data_blocks);
        let whole = vouch_format::manifest::sha256(&sst);
        let mut other = sst.clone();
        if let Some(b) = other.get_mut(sst.len() / 3) {
            *b ^= 1;
        }
        inner.put_new("g.sst", &other).expect("put");
        // A small object is hashed inline (no thread started for it), a large one not.
        inner.put_new("small", b"abc").expect("put");
        let src = StoreSource::hashing_on_thread(&*inner, "small", 3);
        assert!(src.hasher.is_none() && src.sha.is_some());
        assert_eq!(
            src.finish_sha256().expect("sha"),
            vouch_format::manifest::sha256(b"abc")
        );
        assert!(sst.len() as u64 >= HASH_THREAD_MIN);
        assert!(
            StoreSource::hashing_on_thread(&*inner, "f.sst", sst.len() as u64)
                .hasher
                .is_some()
        );
        // Hashing inline and on a thread of its own give the same answers.
        let makers: [for<'s> fn(&'s Counting, &str, u64) -> StoreSource<'s>; 2] = [
            |s, p, n| StoreSource::hashing(s, p, n),
            |s, p, n| StoreSource::hashing_on_thread(s, p, n),
        ];
        for make in makers {
            let store = Counting::new(vouch_store::open(&uri, &Default::default()).unwrap(), 0);
            let src = make(&store, "f.sst", sst.len() as u64);
            assert_eq!(src.hasher.is_some(), src.sha.is_none());
            let got = SstReader::open(&src)
                .and_then(|r| r.verify_scan())
                .expect("scan from the store");
            assert_eq!(got, want);
            let sha = src.finish_sha256().expect("sha");
            assert_eq!(sha, whole);
            assert_eq!(src.finish_sha256().expect("sha again"), whole);
            // Every byte fetched once: the tail read at open (index, properties,
            // metaindex, footer) is kept and hashed last, not fetched again.
            assert!(sst.len() as u64 > 8 * READ_AHEAD, "{} bytes", sst.len());
            assert_eq!(src.bytes_read(), sst.len() as u64);
            // Not one request per block: the footer, the hinted blocks before it, and one
            // per window of data (the last one stopping where the tail starts).
            let requests = store.ranges.load(Ordering::Relaxed);
            let windows = data_end(&sst).div_ceil(READ_AHEAD);
            assert_eq!(requests, 2 + windows);
            // A scan stopped halfway: the hash reads the rest; none at all: all of it.
            let src = make(&store, "f.sst", sst.len() as u64);
            {
                let r = SstReader::open(&src).expect("open");
                let mut scan = r.verified_scan().expect("scan");
                for _ in 0..want.entries / 2 {
                    assert!(scan.advance().expect("entry"));
                }
            }
            assert_eq!(src.finish_sha256().expect("sha"), whole);
            let src = make(&store, "f.sst", sst.len() as u64);
            assert_eq!(src.finish_sha256().expect("sha"), whole);
            assert_eq!(src.bytes_read(), sst.len() as u64);
            // A different object of the same size hashes to its own SHA-256.
            let src = make(&store, "g.sst", sst.len() as u64);
            assert_eq!(
                src.finish_sha256().expect("sha"),
                vouch_format::manifest::sha256(&other)
            );
        }
    }

    #[test]
    fn on_a_store_that_wants_it_the_next_windows_are_requested_before_they_are_read() {
        let sst = sst(30_000);
        let (_dir, _, inner) = stored(&sst);
        let store = Counting::new(inner, 2);
        let want = SstReader::open(sst.as_slice())
            .and_then(|r| r.verify_scan())
            .expect("scan in memory");
        let src = StoreSource::hashing(&store, "f.sst", sst.len() as u64);
        let got = SstReader::open(&src)
            .and_then(|r| r.verify_scan())
            .expect("scan from the store");
        assert_eq!(got, want);
        assert_eq!(
            src.finish_sha256().expect("sha"),
            vouch_format::manifest::sha256(&sst)
        );
        let log = store.log.lock().expect("log").clone();
        let started: Vec<(u64, u64)> = log.iter().filter(|e| !e.0).map(|e| (e.1, e.2)).collect();
        let waited: Vec<(u64, u64)> = log.iter().filter(|e| e.0).map(|e| (e.1, e.2)).collect();
        assert!(
            started.len() > 8,
            "{} windows requested ahead",
            started.len()
        );
        // The windows requested ahead follow each other, each READ_AHEAD long (the last
        // one up to where the data ends: the blocks after it were read at open), and
        // every one of them was read, in order.
        for w in started.windows(2) {
            let ((a, n), (b, _)) = (w[0], w[1]);
            assert_eq!(a + n, b, "{started:?}");
            assert_eq!(n, READ_AHEAD);
        }
        let &(last_at, last_n) = started.last().expect("a window");
        assert_eq!(last_at + last_n, data_end(&sst));
        assert_eq!(src.bytes_read(), sst.len() as u64);
        assert_eq!(waited, started);
        // Nothing requested ahead of the first window read.
        assert_eq!(started.first().map(|w| w.0), Some(2 * READ_AHEAD));
        // When a window is waited for, the two after it were already requested.
        for (k, w) in waited.iter().enumerate() {
            let at = log
                .iter()
                .position(|e| e.0 && (e.1, e.2) == *w)
                .expect("waited");
            let before = log
                .get(..at)
                .unwrap_or_default()
                .iter()
                .filter(|e| !e.0)
                .count();
            assert!(
                before >= (k + 3).min(started.len()),
                "window {k} waited for with {before} requested"
            );
        }
    }

    /// Opening an SST reads its footer, then the metaindex, properties and index blocks:
    /// the reader's hint makes the three after the footer one fetch of exactly their
    /// bytes (two requests, on local disk as on a store where a read is a round trip),
    /// with the same answers, bytes read and hash. A hint larger than [`HINT_MAX`], or
    /// reaching past the object, fetches nothing.
    #[test]
    fn the_blocks_read_at_open_are_one_fetch() {
        let sst = sst(30_000);
        let (_dir, uri, _) = stored(&sst);
        let size = sst.len() as u64;
        let want = SstReader::open(sst.as_slice()).expect("open in memory");
        let (index, meta) = (want.footer().index, want.footer().metaindex);
        let tail = index.offset.min(meta.offset);
        let opened = |ahead: usize| {
            let store = Counting::new(vouch_store::open(&uri, &Default::default()).unwrap(), ahead);
            let src = StoreSource::hashing(&store, "f.sst", size);
            let r = SstReader::open(&src).expect("open from the store");
            assert_eq!(r.properties(), want.properties());
            assert_eq!(r.data_blocks(), want.data_blocks());
            let stats = r.verify_scan().expect("scan");
            // Once the data is read, the hinted bytes are no longer held for reads; the
            // last bytes are, for the hash, until it takes them.
            assert!(src.known.borrow().hinted.is_none());
            assert_eq!(
                src.known
                    .borrow()
                    .tail
                    .as_ref()
                    .map(|(at, b)| (*at, b.len() as u64)),
                Some((tail, size - tail))
            );
            let sha = src.finish_sha256().expect("sha");
            assert!(src.known.borrow().tail.is_none());
            (
                store.ranges.load(Ordering::Relaxed),
                src.bytes_read(),
                stats,
                sha,
            )
        };
        let local = {
            let store = Counting::new(vouch_store::open(&uri, &Default::default()).unwrap(), 0);
            let src = StoreSource::new(&store, "f.sst", size);
            SstReader::open(&src).expect("open");
            (store.ranges.load(Ordering::Relaxed), src.bytes_read())
        };
        let remote = {
            let store = Counting::new(vouch_store::open(&uri, &Default::default()).unwrap(), 2);
            let src = StoreSource::new(&store, "f.sst", size);
            SstReader::open(&src).expect("open");
            assert!(src.known.borrow().hinted.is_some());
            (store.ranges.load(Ordering::Relaxed), src.bytes_read())
        };
        assert_eq!(local, (2, size - tail));
        assert_eq!(remote, (2, size - tail));
        // Whole scans: the same stats, hash and bytes read either way, every byte once.
        let (a, b) = (opened(0), opened(2));
        assert_eq!((a.1, &a.2, a.3), (b.1, &b.2, b.3));
        assert_eq!(a.3, vouch_format::manifest::sha256(&sst));
        assert_eq!(a.1, size);
        assert_eq!(
            (a.0, b.0),
            (2 + tail.div_ceil(READ_AHEAD), 2 + tail.div_ceil(READ_AHEAD))
        );
        // Hints that fetch nothing: too large, past the end, empty.
        let store = Counting::new(vouch_store::open(&uri, &Default::default()).unwrap(), 2);
        let src = StoreSource::new(&store, "f.sst", size);
        for (at, n) in [(0, HINT_MAX + 1), (size - 10, 11), (u64::MAX, 2), (5, 0)] {
            src.will_read(at, n);
        }
        assert_eq!(store.ranges.load(Ordering::Relaxed), 0);
        assert!(src.known.borrow().hinted.is_none());
        // Reads inside the hinted bytes are served from them; a read overlapping them and
        // more is fetched, not cut short, and the hinted bytes are then let go.
        src.will_read(tail, 100);
        assert_eq!(store.ranges.load(Ordering::Relaxed), 1);
        assert_eq!(
            src.read_at(tail + 10, 20).expect("read").as_ref(),
            &sst[tail as usize + 10..tail as usize + 30]
        );
        assert_eq!(store.ranges.load(Ordering::Relaxed), 1);
        let got = src.read_at(tail + 50, 100).expect("read");
        assert_eq!(got.as_ref(), &sst[tail as usize + 50..tail as usize + 150]);
        assert_eq!(store.ranges.load(Ordering::Relaxed), 2);
        assert!(src.known.borrow().hinted.is_none());
    }

    /// Last bytes handed from one reader to another: given, an open fetches nothing and
    /// the hash takes them from memory; given wrongly (not ending where the object ends,
    /// or empty), they are ignored and the source reads the object itself.
    #[test]
    fn last_bytes_handed_on_are_not_fetched_again_and_wrong_ones_are_ignored() {
        let sst = sst(3_000);
        let (_dir, _, inner) = stored(&sst);
        let size = sst.len() as u64;
        let store = Counting::new(inner, 0);
        let first = StoreSource::new(&store, "f.sst", size);
        SstReader::open(&first).expect("open");
        let tail = first.take_tail().expect("the last bytes");
        assert_eq!(tail.0, data_end(&sst));
        assert_eq!(tail.1.as_slice(), &sst[tail.0 as usize..]);
        assert!(first.take_tail().is_none() && first.known.borrow().hinted.is_none());
        let opened = store.ranges.load(Ordering::Relaxed);
        assert_eq!(opened, 2);
        let wrong = [
            None,
            Some((0, Arc::new(Vec::new()))),
            Some((tail.0 + 1, Arc::clone(&tail.1))),
            Some((tail.0.saturating_sub(1), Arc::clone(&tail.1))),
            Some((u64::MAX, Arc::clone(&tail.1))),
        ];
        for given in wrong.into_iter().chain([Some(tail)]) {
            let right = given.as_ref().is_some_and(|(at, _)| *at == data_end(&sst));
            let before = store.ranges.load(Ordering::Relaxed);
            let src = StoreSource::hashing(&store, "f.sst", size).knowing(given);
            let r = SstReader::open(&src).expect("open");
            let at_open = store.ranges.load(Ordering::Relaxed) - before;
            assert_eq!(at_open, if right { 0 } else { 2 }, "right: {right}");
            r.verify_scan().expect("scan");
            assert_eq!(
                src.finish_sha256().expect("sha"),
                vouch_format::manifest::sha256(&sst)
            );
            assert_eq!(src.bytes_read(), size);
        }
    }

    /// On a store that wants an object's last bytes read at once (`Store::tail_read`), an
    /// open is one request when they hold the index and footer, and two when the index
    /// begins before them (the second fetches only the bytes before them); a scan's last
    /// data blocks inside them are read from them; a hashing scan still fetches every byte
    /// exactly once and hashes it right. An object no larger than the guess is one request
    /// in all. `read_tails` fetches many sources' last bytes, one request each, and their
    /// opens then fetch nothing; a source knowing its last bytes is skipped, and one whose
    /// read comes back short opens as without it.
    #[test]
    fn an_open_on_a_store_reading_tails_is_one_request() {
        let sst = sst(30_000);
        let (_dir, uri, _) = stored(&sst);
        let size = sst.len() as u64;
        let whole = vouch_format::manifest::sha256(&sst);
        let index_at = data_end(&sst);
        let want = SstReader::open(sst.as_slice())
            .and_then(|r| r.verify_scan())
            .expect("scan in memory");
        let counting = |ahead: usize, tail: u64| {
            Counting::new(vouch_store::open(&uri, &Default::default()).unwrap(), ahead)
                .reading_tails(tail)
        };
        // (guess, requests to open): more than the index and footer (some data blocks
        // too), less (the index begins before), the whole object and more.
        let more = size - index_at + 3 * READ_AHEAD / 2;
        let less = (size - index_at) / 2;
        for (guess, at_open) in [(more, 1), (less, 2), (size, 1), (size + 1, 1)] {
            for ahead in [0, 2] {
                let store = counting(ahead, guess);
                let src = StoreSource::hashing(&store, "f.sst", size);
                let r = SstReader::open(&src).expect("open");
                assert_eq!(
                    store.ranges.load(Ordering::Relaxed),
                    at_open,
                    "guess {guess}"
                );
                assert_eq!(r.verify_scan().expect("scan"), want);
                assert_eq!(src.finish_sha256().expect("sha"), whole, "guess {guess}");
                assert_eq!(src.bytes_read(), size, "guess {guess}: each byte once");
                assert_eq!(store.bytes.load(Ordering::Relaxed), size, "guess {guess}");
                let from = size - guess.min(size);
                let windows = if guess >= size {
                    0
                } else {
                    from.div_ceil(READ_AHEAD)
                };
                assert_eq!(
                    store.ranges.load(Ordering::Relaxed),
                    at_open + windows,
                    "guess {guess}, {ahead} ahead"
                );
            }
        }
        // Many sources at once: one request each, nothing more at open.
        let store = counting(0, more);
        let srcs: Vec<StoreSource<'_>> = (0..3)
            .map(|_| StoreSource::new(&store, "f.sst", size))
            .collect();
        let knowing = StoreSource::new(&store, "f.sst", size);
        SstReader::open(&knowing).expect("open");
        let short = StoreSource::new(&store, "f.sst", size + 10);
        let before = store.ranges.load(Ordering::Relaxed);
        let mut all: Vec<&StoreSource<'_>> = srcs.iter().collect();
        all.push(&knowing);
        all.push(&short);
        read_tails(&all);
        assert_eq!(store.ranges.load(Ordering::Relaxed) - before, 4);
        for src in &srcs {
            let r = SstReader::open(src).expect("open");
            assert_eq!(
                r.properties(),
                SstReader::open(sst.as_slice()).unwrap().properties()
            );
        }
        assert_eq!(store.ranges.load(Ordering::Relaxed) - before, 4);
        assert!(short.known.borrow().tail.is_none());
    }

    /// Where the data blocks of the SST `bytes` end (the first block the footer points at).
    fn data_end(bytes: &[u8]) -> u64 {
        let r = SstReader::open(bytes).expect("open in memory");
        r.footer().index.offset.min(r.footer().metaindex.offset)
    }

    /// A local store in a new temporary folder (kept while the first value lives) holding
    /// `bytes` as f.sst, and its URI.
    fn stored(bytes: &[u8]) -> (tempfile::TempDir, String, Box<dyn Store>) {
        let dir = tempfile::tempdir().expect("temp dir");
        let uri = format!("file://{}", dir.path().display());
        let store = vouch_store::open(&uri, &vouch_store::OpenOptions::default()).expect("store");
        store.put_new("f.sst", bytes).expect("put");
        (dir, uri, store)
    }

    /// A zstd SST of `n` entries whose values do not compress.
    fn sst(n: u32) -> Vec<u8> {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let entries: Vec<(Vec<u8>, Vec<u8>)> = (0..n)
            .map(|i| {
                let v = (0..100)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        x as u8
                    })
                    .collect();
                (i.to_be_bytes().to_vec(), v)
            })
            .collect();
        let opts = WriterOptions {
            compression: Compression::Zstd,
            ..WriterOptions::default()
        };
        write_to_vec(
            entries.iter().map(|(k, v)| (k.as_slice(), v.as_slice())),
            opts,
        )
        .expect("write")
    }

    /// The verified scan of `bytes` stored as f.sst, read ahead by [`prefetch`]: the
    /// entries seen, the scan's outcome, the SHA-256, the bytes the prefetcher read, and
    /// the bytes fetched from the store by both readers of the file.
    #[allow(clippy::type_complexity)]
    fn scan_prefetched(
        bytes: &[u8],
    ) -> (
        Vec<Vec<u8>>,
        Result<vouch_format::sst::ScanStats, FormatError>,
        [u8; 32],
        u64,
        u64,
    ) {
        let (_dir, _, inner) = stored(bytes);
        let store = Counting::new(inner, 0);
        let size = bytes.len() as u64;
        let got = std::thread::scope(|scope| {
            let (feed, pre, tail) = prefetch(scope, &store, "f.sst", size).expect("thread");
            let src = StoreSource::new(&store, "f.sst", size);
            let mut keys = Vec::new();
            let opened = SstReader::open(&src);
            let _ = tail.send(src.take_tail());
            let outcome = opened.and_then(|r| {
                let mut scan = r.verified_scan()?.with_feed(feed);
                while scan.advance()? {
                    keys.push(scan.entry().key.to_vec());
                }
                scan.finish()
            });
            let (sha, read) = pre.join().expect("prefetch thread");
            (keys, outcome, sha.expect("sha"), read)
        });
        (
            got.0,
            got.1,
            got.2,
            got.3,
            store.bytes.load(Ordering::Relaxed),
        )
    }

    #[test]
    fn a_prefetched_scan_sees_what_a_plain_one_sees_and_hashes_every_byte() {
        let bytes = sst(30_000);
        let r = SstReader::open(bytes.as_slice()).expect("open");
        assert!(r.data_blocks() > 4 * PREFETCH_BLOCKS, "{}", r.data_blocks());
        let mut want_keys = Vec::new();
        let want = r.verify_scan_with(|k, _| {
            want_keys.push(k.to_vec());
            Ok(())
        });
        let (keys, got, sha, read, fetched) = scan_prefetched(&bytes);
        assert_eq!(got, want);
        assert_eq!(keys, want_keys);
        assert_eq!(sha, vouch_format::manifest::sha256(&bytes));
        // Every byte fetched once for both readers: the scan's source reads the index and
        // footer at open and hands them to the prefetcher, which reads the data and
        // hashes those last bytes from memory (and counts them as its own).
        assert_eq!(read, bytes.len() as u64);
        assert_eq!(fetched, bytes.len() as u64);

        // A damaged block: the same error at the same place, and the hash of what is stored.
        let mut bad = bytes.clone();
        let off = bytes.len() / 2;
        bad[off] ^= 0x40;
        let want = SstReader::open(bad.as_slice()).and_then(|r| r.verify_scan());
        assert!(want.is_err());
        let (_, got, sha, _, fetched) = scan_prefetched(&bad);
        assert_eq!(got, want);
        assert_eq!(sha, vouch_format::manifest::sha256(&bad));
        // The rest of the file, after the block that failed, is fetched for the hash;
        // its last bytes are not fetched again.
        assert_eq!(fetched, bad.len() as u64);
    }
}
