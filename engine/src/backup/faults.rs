//! Fault injection for tests: a backup stopped on purpose at a chosen point, with
//! [`Error::Injected`]. Compiled in only with the `fault-injection` feature, which the
//! workspace's tests turn on (through `vouch-testkit`); a release build has no way to
//! inject a fault, neither by option nor by environment.

use super::BackupOptions;
use crate::Result;
#[cfg(feature = "fault-injection")]
use crate::{Error, ErrorKind};

/// Where a backup can be stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Point {
    /// After the `n`-th data file was completed, and its checkpoint written if the
    /// checkpoint schedule wrote one there.
    AfterFiles(u64),
    /// After the checksum file, before the manifest.
    BeforeManifest,
    /// After the manifest, before LATEST.
    BeforeLatest,
}

/// Faults injected by tests: [`BackupOptions::faults`], or `VOUCH_FAULT` in the
/// environment when the options ask for none (how tests of the `vouch` binary inject them).
#[cfg(feature = "fault-injection")]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Faults {
    /// Stop after this many data files were completed (counting those of the checkpoint a
    /// resumed run started from), with the checkpoint of the last one if the checkpoint
    /// schedule wrote one there (it does for each of a run's first 31 files; later files
    /// may be left past the newest checkpoint, spec/backup.md §7.3, §8.1).
    pub after_files: Option<u64>,
    /// Stop after the checksum file, before the manifest.
    pub before_manifest: bool,
    /// Stop after the manifest, before LATEST.
    pub before_latest: bool,
    /// Wait after exactly this many data files were completed (counting those of the
    /// checkpoint a resumed run started from), and checkpointed if the schedule wrote a
    /// checkpoint there, until the backup is asked to stop
    /// ([`super::BackupOptions::stop`]; it then checkpoints every file before it stops), or
    /// for ever: a test's signal then reaches a real process in the middle of a backup.
    pub park_after_files: Option<u64>,
    /// A RESTORE: wait after exactly this many tables were restored and checkpointed
    /// (counting those of the checkpoint a resumed run started from) until the restore is
    /// asked to stop ([`crate::restore::RestoreJob::stop`]), or for ever.
    pub park_after_tables: Option<u64>,
    /// A RESTORE: stop with [`Error::Injected`] once its objects are published, before it
    /// checks their fingerprints and returns (a job killed before it is marked succeeded).
    pub after_publish: bool,
    /// A RESTORE: wait (for ever) once its objects are published, writing `published` to
    /// the file `VOUCH_FAULT_MARKER` names: a test's SIGKILL then lands between the
    /// publication and the job's end.
    pub park_after_publish: bool,
    /// A RESTORE: wait (for ever) in the middle of its `n`-th table (counting the tables of
    /// the checkpoint a resumed run started from), its first row written and the table not
    /// done, writing `in-table:N` to the file `VOUCH_FAULT_MARKER` names: a test's SIGKILL
    /// then leaves a table half written.
    pub park_in_table: Option<u64>,
}

#[cfg(feature = "fault-injection")]
impl Faults {
    /// Parses `after-files:N`, `park-after-files:N`, `park-after-tables:N`,
    /// `before-manifest`, `before-latest`, `after-publish`, `park-after-publish`,
    /// `park-in-table:N` (comma-separated).
    pub fn parse(s: &str) -> Result<Self> {
        let mut f = Faults::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            if let Some(n) = part.strip_prefix("after-files:") {
                f.after_files = Some(n.parse().map_err(|_| {
                    Error::refused(ErrorKind::Usage, format!("bad fault {part:?}"))
                })?);
            } else if let Some(n) = part.strip_prefix("park-after-files:") {
                f.park_after_files = Some(n.parse().map_err(|_| {
                    Error::refused(ErrorKind::Usage, format!("bad fault {part:?}"))
                })?);
            } else if let Some(n) = part.strip_prefix("park-after-tables:") {
                f.park_after_tables = Some(n.parse().map_err(|_| {
                    Error::refused(ErrorKind::Usage, format!("bad fault {part:?}"))
                })?);
            } else if let Some(n) = part.strip_prefix("park-in-table:") {
                f.park_in_table = Some(n.parse().map_err(|_| {
                    Error::refused(ErrorKind::Usage, format!("bad fault {part:?}"))
                })?);
            } else if part == "before-manifest" {
                f.before_manifest = true;
            } else if part == "before-latest" {
                f.before_latest = true;
            } else if part == "after-publish" {
                f.after_publish = true;
            } else if part == "park-after-publish" {
                f.park_after_publish = true;
            } else {
                return Err(Error::refused(
                    ErrorKind::Usage,
                    format!("unknown fault {part:?}"),
                ));
            }
        }
        Ok(f)
    }
}

/// The faults one backup run injects (none in a build without `fault-injection`).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Injected {
    #[cfg(feature = "fault-injection")]
    faults: Faults,
}

impl Injected {
    /// The faults `opts` asks for, or those `VOUCH_FAULT` names.
    pub(super) fn of(opts: &BackupOptions) -> Result<Self> {
        #[cfg(feature = "fault-injection")]
        {
            Self::given(opts.faults)
        }
        #[cfg(not(feature = "fault-injection"))]
        {
            let _ = opts;
            Ok(Injected {})
        }
    }

    /// `faults`, or those `VOUCH_FAULT` names when `faults` asks for none.
    #[cfg(feature = "fault-injection")]
    pub(crate) fn given(mut faults: Faults) -> Result<Self> {
        if faults == Faults::default() {
            if let Ok(text) = std::env::var("VOUCH_FAULT") {
                faults = Faults::parse(&text)?;
            }
        }
        Ok(Injected { faults })
    }

    /// Parks a restore after its `n`-th table if the faults say so: until `stop` is set
    /// (calling `tick` now and then, so a caller watching for a stop request sees it), or
    /// for ever.
    pub(crate) fn park_restore(
        self,
        n: u64,
        stop: Option<&std::sync::Arc<std::sync::atomic::AtomicBool>>,
        tick: &mut dyn FnMut(),
    ) {
        #[cfg(feature = "fault-injection")]
        {
            if self.faults.park_after_tables != Some(n) {
                return;
            }
            // Tests of the `vouch` binary learn that the restore is parked from a file
            // (its path in `VOUCH_FAULT_MARKER`) rather than by waiting.
            if let Ok(path) = std::env::var("VOUCH_FAULT_MARKER") {
                let _ = std::fs::write(path, n.to_string());
            }
            while !stop.is_some_and(|s| s.load(std::sync::atomic::Ordering::SeqCst)) {
                tick();
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        }
        #[cfg(not(feature = "fault-injection"))]
        {
            let _ = (n, stop, tick);
        }
    }

    /// Whether the faults park a restore in its `n`-th table ([`Faults::park_in_table`]).
    pub(crate) fn parks_in_table(self, n: u64) -> bool {
        #[cfg(feature = "fault-injection")]
        {
            self.faults.park_in_table == Some(n)
        }
        #[cfg(not(feature = "fault-injection"))]
        {
            let _ = n;
            false
        }
    }

    /// Parks a restore for ever in its `n`-th table (the caller wrote part of it), saying
    /// so in `VOUCH_FAULT_MARKER`'s file.
    pub(crate) fn park_in_table(self, n: u64) {
        #[cfg(feature = "fault-injection")]
        {
            if let Ok(path) = std::env::var("VOUCH_FAULT_MARKER") {
                let _ = std::fs::write(path, format!("in-table:{n}"));
            }
            loop {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        }
        #[cfg(not(feature = "fault-injection"))]
        {
            let _ = n;
        }
    }

    /// A restore's objects were just published: fails with [`crate::Error::Injected`]
    /// (`after-publish`) or parks for ever (`park-after-publish`) if the faults say so.
    pub(crate) fn after_publish(self) -> Result<()> {
        #[cfg(feature = "fault-injection")]
        {
            if self.faults.park_after_publish {
                if let Ok(path) = std::env::var("VOUCH_FAULT_MARKER") {
                    let _ = std::fs::write(path, "published");
                }
                loop {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
            }
            if self.faults.after_publish {
                return Err(Error::Injected(
                    "after the restore published its objects".into(),
                ));
            }
            Ok(())
        }
        #[cfg(not(feature = "fault-injection"))]
        {
            Ok(())
        }
    }

    /// Parks the backup after its `n`-th data file if the faults say so: until `stop` is
    /// set (calling `progress` with an empty read now and then, so a caller watching for
    /// a stop request sees it), or for ever.
    pub(super) fn park(
        self,
        n: u64,
        stop: Option<&std::sync::Arc<std::sync::atomic::AtomicBool>>,
        progress: &mut dyn FnMut(super::Progress),
    ) {
        #[cfg(feature = "fault-injection")]
        {
            if self.faults.park_after_files != Some(n) {
                return;
            }
            while !stop.is_some_and(|s| s.load(std::sync::atomic::Ordering::SeqCst)) {
                progress(super::Progress::Read { bytes: 0 });
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        }
        #[cfg(not(feature = "fault-injection"))]
        {
            let _ = (n, stop, progress);
        }
    }

    /// Stops the backup with [`crate::Error::Injected`] if a fault is set at `point`.
    pub(super) fn at(self, point: Point) -> Result<()> {
        #[cfg(feature = "fault-injection")]
        {
            let f = self.faults;
            let stop = match point {
                Point::AfterFiles(n) => f.after_files.is_some_and(|at| n >= at),
                Point::BeforeManifest => f.before_manifest,
                Point::BeforeLatest => f.before_latest,
            };
            if stop {
                return Err(Error::Injected(match point {
                    Point::AfterFiles(n) => format!("after {n} data files"),
                    Point::BeforeManifest => "before writing BACKUP_MANIFEST".into(),
                    Point::BeforeLatest => "before writing LATEST".into(),
                }));
            }
            Ok(())
        }
        #[cfg(not(feature = "fault-injection"))]
        {
            let _ = point;
            Ok(())
        }
    }
}
