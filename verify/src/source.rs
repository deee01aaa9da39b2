//! A [`BlockSource`] over a local file (the `vouch sst` commands); objects in a store are
//! read through [`vouch_chain::source::StoreSource`].

use std::borrow::Cow;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use vouch_format::sst::BlockSource;
use vouch_format::Error as FormatError;

/// A file read with positioned reads: only the blocks asked for are read, so memory stays
/// bounded by the largest block whatever the file size.
#[derive(Debug)]
pub struct FileSource {
    file: File,
    size: u64,
}

impl FileSource {
    /// Opens `path` read-only.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let file = File::open(path)?;
        let size = file.metadata()?.len();
        Ok(FileSource { file, size })
    }
}

impl BlockSource for FileSource {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_at(&self, offset: u64, len: usize) -> Result<Cow<'_, [u8]>, FormatError> {
        vouch_format::sst::check_read_range(self.size, offset, len)?;
        let mut buf = vec![0u8; len];
        self.file.read_exact_at(&mut buf, offset)?;
        Ok(Cow::Owned(buf))
    }
}
