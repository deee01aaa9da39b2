//! Names in a backup collection: where full and incremental backups live, the `LATEST`
//! pointers, and the files inside a backup directory; and how a reader resolves them from
//! an object listing. Pure functions on strings (see `spec/layout.md`).
//!
//! ```text
//! <collection>/
//!   2022/03/23-213101.37/                       a full backup (its end time, UTC)
//!     BACKUP_MANIFEST  BACKUP_MANIFEST-CHECKSUM  ENCRYPTION-INFO  BACKUP-LOCK-<job id>
//!     data/000001.sst …
//!     progress/BACKUP-CHECKPOINT-<descending seq>
//!   incrementals/2022/03/23-213101.37/          the chain of that full backup
//!     20220323/213201.21-20220323-213101.37/    an incremental: end time, then start time
//!   metadata/latest/LATEST-<descending end>     write-once pointers, newest sorts first
//!   LATEST                                      plain pointer, written once
//! ```
//!
//! Times in names are UTC, to the hundredth of a second, truncated (never rounded up), so
//! a name never claims a later time than the backup's. A parsed name gives that truncated
//! time back; formatting it again gives the same name (every parser here accepts exactly
//! the canonical names, up to the leading and trailing `/` noted on each).
//!
//! | module | what |
//! |---|---|
//! | `names` | the constants; full and incremental directories, `LATEST` |
//! | `files` | the files inside a backup directory |
//! | `listing` | [`Listing`]: resolving a collection from an object listing |
//! | `dirs` | objects grouped by backup directory |
//! | `oracles` | round-trip oracles for fuzzers and tests |

mod dirs;
mod files;
mod listing;
mod names;
mod oracles;
#[cfg(test)]
mod tests;

pub use dirs::{backup_dir_of, group_backup_dirs, BackupDir, BackupDirs};
pub use files::{
    checkpoint_name, data_file, encryption_info_name, lock_name, parse_backup_file,
    parse_checkpoint_name, parse_data_file, parse_encryption_info_name, parse_lock_name,
    BackupFile, MAX_METADATA_BYTES, MAX_POINTER_BYTES, MAX_RECORD_BYTES,
};
pub use listing::{normalize_object_path, Listing};
pub use names::{
    display_subdir, full_subdir, incremental_path, incremental_subdir, latest_content,
    latest_marker, parse_full_subdir, parse_incremental_subdir, parse_latest_content,
    parse_latest_marker, FullSubdir, IncrementalSubdir, CHECKPOINT_PREFIX, DATA_DIR,
    ENCRYPTION_INFO, ENCRYPTION_INFO_PREFIX, FULL_SUBDIR_LEN, INCREMENTALS_DIR,
    INCREMENTAL_SUBDIR_LEN, LATEST, LATEST_DIR, LATEST_MARKER_PREFIX, LISTING, LOCK_PREFIX,
    MANIFEST, MANIFEST_CHECKSUM, PROGRESS_DIR,
};
#[doc(hidden)]
pub use oracles::{check_listing_oracles, check_name_oracles};
