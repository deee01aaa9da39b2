//! Reading one layer: its manifest, the manifest's checksum file and, in an encrypted chain,
//! its integrity listing, with every problem returned as a typed [`Problem`]. One reader,
//! two policies: the verifier turns every problem into a finding, restore stops at the
//! first ([`LayerRead::into_layer`]).

use vouch_format::envelope::DataKey;
use vouch_format::layout;
use vouch_format::manifest::rules::{self, Inconsistency};
use vouch_format::manifest::{self, pb};
use vouch_store::Store;

use crate::base::{join, Layer};
use crate::sealed;
use crate::{Error, ErrorKind};

/// How a layer is read.
#[derive(Debug, Clone, Copy)]
pub enum Encryption<'k> {
    /// An unencrypted chain: the manifest is stored as is.
    Plain,
    /// An encrypted chain read without its key: what the integrity listing says (ids,
    /// times, previous layer, file paths, sizes and hashes) stands for the manifest.
    Keyless,
    /// An encrypted chain read with its key: the manifest is opened from the envelope (its
    /// identity taken from the listing, which must then agree with it).
    Key(&'k DataKey),
}

/// Which object of a layer a problem is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Object {
    /// `BACKUP_MANIFEST`.
    Manifest,
    /// `BACKUP_MANIFEST-CHECKSUM`.
    Checksum,
    /// `BACKUP-LISTING`.
    Listing,
}

/// One problem met reading a layer. Paths are relative to the layer's store.
#[derive(Debug)]
#[non_exhaustive]
pub enum Problem {
    /// An object could not be read (`error` is [`vouch_store::Error::NotFound`] when it is
    /// missing).
    Unreadable {
        /// The object's path.
        path: String,
        /// Which object.
        object: Object,
        /// Why.
        error: vouch_store::Error,
    },
    /// The checksum file does not hold the SHA-256 of the stored manifest.
    ChecksumMismatch {
        /// The checksum file.
        path: String,
        /// The manifest.
        manifest: String,
        /// SHA-256 of the stored manifest.
        computed: [u8; 32],
        /// What the checksum file holds.
        stored: Vec<u8>,
        /// The check's error.
        error: vouch_format::Error,
    },
    /// The manifest does not decode.
    ManifestDecode {
        /// The manifest.
        path: String,
        /// Why.
        error: vouch_format::Error,
    },
    /// The manifest of a chain read as unencrypted is a sealed file (the chain's key
    /// records are gone, or no key was read); `error` is what decoding it as a plain
    /// manifest said.
    ManifestSealed {
        /// The manifest.
        path: String,
        /// The plain decoding's error, when it failed.
        error: Option<vouch_format::Error>,
    },
    /// The sealed manifest did not open with the chain's key (or does not decode once
    /// opened): the error names the envelope's cause.
    ManifestOpen {
        /// The manifest.
        path: String,
        /// Why.
        error: Error,
    },
    /// The integrity listing does not decode, or has a version this reader does not know.
    ListingDecode {
        /// The listing.
        path: String,
        /// Why.
        error: Error,
    },
    /// The integrity listing does not say what the decrypted manifest says.
    ListingMismatch {
        /// The listing.
        path: String,
        /// Every difference between it and what the manifest says.
        differences: Vec<manifest::ListingDifference>,
    },
    /// The manifest (or, read key-less, what the listing says of it) breaks a rule of its
    /// own ([`rules::check_layer`]).
    Inconsistent {
        /// The manifest.
        path: String,
        /// The rule broken.
        problem: Inconsistency,
    },
}

/// What reading a layer gave.
#[derive(Debug)]
pub struct LayerRead {
    /// The layer's directory relative to its store.
    pub dir: String,
    /// True for the full backup.
    pub is_full: bool,
    /// The stored manifest bytes, when readable.
    pub bytes: Option<Vec<u8>>,
    /// The manifest, when it decodes (made from the listing when `from_listing`).
    pub manifest: Option<pb::BackupManifest>,
    /// The integrity listing (encrypted chains), when it decodes.
    pub listing: Option<pb::IntegrityListing>,
    /// True when `manifest` was made from the listing (a key-less read): it holds the
    /// listing's fields only.
    pub from_listing: bool,
    /// Objects read and their stored bytes.
    pub objects_read: u64,
    /// Stored bytes read.
    pub bytes_read: u64,
    /// Every problem met, in the order met.
    pub problems: Vec<Problem>,
}

/// Reads layer `dir` of `store`; never stops at a problem.
pub fn read_layer(store: &dyn Store, dir: &str, is_full: bool, enc: Encryption<'_>) -> LayerRead {
    let mut r = LayerRead {
        dir: dir.to_string(),
        is_full,
        bytes: None,
        manifest: None,
        listing: None,
        from_listing: false,
        objects_read: 0,
        bytes_read: 0,
        problems: Vec::new(),
    };
    let mpath = join(dir, layout::MANIFEST);
    let cpath = join(dir, layout::MANIFEST_CHECKSUM);
    let bytes = r.get(store, &mpath, Object::Manifest);
    let sum = r.get(store, &cpath, Object::Checksum);
    if let (Some(b), Some(s)) = (&bytes, &sum) {
        if let Err(error) = manifest::check_checksum_file(b, s) {
            r.problems.push(Problem::ChecksumMismatch {
                path: cpath.clone(),
                manifest: mpath.clone(),
                computed: manifest::sha256(b),
                stored: s.clone(),
                error,
            });
        }
    }
    match enc {
        Encryption::Plain => {
            if let Some(b) = &bytes {
                let decoded = manifest::decode(b);
                match (sealed::looks_sealed(b), decoded) {
                    (false, Ok(m)) => r.manifest = Some(m),
                    (false, Err(error)) => r.problems.push(Problem::ManifestDecode {
                        path: mpath.clone(),
                        error,
                    }),
                    (true, d) => r.problems.push(Problem::ManifestSealed {
                        path: mpath.clone(),
                        error: d.err(),
                    }),
                }
            }
        }
        Encryption::Keyless => {
            r.listing = r.read_listing(store, dir);
            if let Some(l) = &r.listing {
                r.manifest = Some(manifest_of_listing(l));
                r.from_listing = true;
            }
        }
        Encryption::Key(key) => {
            r.listing = r.read_listing(store, dir);
            if let (Some(b), Some(listing)) = (&bytes, &r.listing) {
                let opened =
                    sealed::open_small_file(key, &listing.backup_id, layout::MANIFEST, b, &mpath)
                        .and_then(|plain| {
                            manifest::decode(&plain).map_err(|e| Error::format(mpath.clone(), e))
                        });
                match opened {
                    Ok(m) => {
                        let differences = manifest::listing_diff(listing, &m);
                        if !differences.is_empty() {
                            r.problems.push(Problem::ListingMismatch {
                                path: join(dir, layout::LISTING),
                                differences,
                            });
                        }
                        r.manifest = Some(m);
                    }
                    Err(error) => r.problems.push(Problem::ManifestOpen {
                        path: mpath.clone(),
                        error,
                    }),
                }
            }
        }
    }
    if let Some(m) = &r.manifest {
        for problem in rules::check_layer(m, m.previous.is_none()) {
            r.problems.push(Problem::Inconsistent {
                path: mpath.clone(),
                problem,
            });
        }
    }
    r.bytes = bytes;
    r
}

impl Object {
    /// Every object a layer's reader reads whole.
    pub const ALL: [Object; 3] = [Object::Manifest, Object::Checksum, Object::Listing];

    /// Its name in the layer's directory.
    pub fn name(self) -> &'static str {
        match self {
            Object::Manifest => layout::MANIFEST,
            Object::Checksum => layout::MANIFEST_CHECKSUM,
            Object::Listing => layout::LISTING,
        }
    }

    /// The most bytes it is read with ([`Store::get_limited`]).
    pub fn limit(self) -> u64 {
        match self {
            Object::Manifest | Object::Listing => layout::MAX_METADATA_BYTES,
            Object::Checksum => layout::MAX_POINTER_BYTES,
        }
    }
}

impl LayerRead {
    fn get(&mut self, store: &dyn Store, path: &str, object: Object) -> Option<Vec<u8>> {
        match store.get_limited(path, object.limit()) {
            Ok(b) => {
                self.objects_read += 1;
                self.bytes_read += b.len() as u64;
                Some(b)
            }
            Err(error) => {
                self.problems.push(Problem::Unreadable {
                    path: path.to_string(),
                    object,
                    error,
                });
                None
            }
        }
    }

    fn read_listing(&mut self, store: &dyn Store, dir: &str) -> Option<pb::IntegrityListing> {
        let path = join(dir, layout::LISTING);
        let bytes = self.get(store, &path, Object::Listing)?;
        match sealed::decode_listing(&bytes, &path) {
            Ok(l) => Some(l),
            Err(error) => {
                self.problems.push(Problem::ListingDecode { path, error });
                None
            }
        }
    }

    /// Restore's policy: the layer, or the first problem as an error naming the object
    /// with the store's URI (`uri`).
    pub fn into_layer(mut self, uri: &str) -> Result<Layer, Error> {
        let full = |p: &str| format!("{}/{p}", uri.trim_end_matches('/'));
        if !self.problems.is_empty() {
            let p = self.problems.remove(0);
            return Err(match p {
                Problem::Unreadable {
                    path,
                    object: Object::Listing,
                    error: vouch_store::Error::NotFound { .. },
                } => Error::new(
                    ErrorKind::ListingMismatch,
                    format!(
                        "{} is missing: an encrypted layer needs its integrity listing",
                        full(&path)
                    ),
                )
                .with_object(full(&path)),
                Problem::Unreadable { error, .. } => Error::from(error),
                Problem::ChecksumMismatch {
                    manifest, error, ..
                } => Error::format(full(&manifest), error),
                Problem::ManifestDecode { path, error } => Error::format(full(&path), error),
                Problem::ManifestSealed { path, .. } => Error::new(
                    ErrorKind::Encrypted,
                    format!(
                        "{} is encrypted, but the chain has no ENCRYPTION-INFO (or no key was read): give the encryption passphrase or KMS",
                        full(&path)
                    ),
                )
                .with_object(full(&path)),
                Problem::ManifestOpen { error, .. } | Problem::ListingDecode { error, .. } => {
                    error
                }
                Problem::Inconsistent { path, problem } => Error::new(
                    ErrorKind::ManifestInconsistent,
                    format!("{}: {problem}", full(&path)),
                )
                .with_object(full(&path)),
                Problem::ListingMismatch { path, differences } => match differences.first() {
                    Some(d) => Error::new(
                        ErrorKind::ListingMismatch,
                        format!(
                            "{} does not match the encrypted manifest (field {}): the listing was forged or damaged",
                            full(&path),
                            d.field()
                        ),
                    )
                    .with_object(full(&path)),
                    None => Error::new(
                        ErrorKind::ListingMismatch,
                        format!(
                            "{} does not match the encrypted manifest: the listing was forged or damaged",
                            full(&path)
                        ),
                    )
                    .with_object(full(&path)),
                },
            });
        }
        let (Some(bytes), Some(manifest)) = (self.bytes, self.manifest) else {
            // An encrypted layer read with its key but no listing never reaches here: a
            // missing listing is an `Unreadable` problem.
            return Err(Error::new(
                ErrorKind::ListingMismatch,
                format!(
                    "{} is missing: an encrypted layer needs its integrity listing",
                    full(&join(&self.dir, layout::LISTING))
                ),
            ));
        };
        Ok(Layer {
            dir: self.dir,
            is_full: self.is_full,
            manifest_sha256: manifest::sha256(&bytes),
            manifest_size: bytes.len() as u64,
            manifest,
        })
    }
}

/// The manifest fields an integrity listing carries (a key-less read).
pub fn manifest_of_listing(l: &pb::IntegrityListing) -> pb::BackupManifest {
    pb::BackupManifest {
        backup_id: l.backup_id.clone(),
        chain_id: l.chain_id.clone(),
        start_time: l.start_time,
        end_time: l.end_time,
        previous: l.previous.clone(),
        files: l
            .files
            .iter()
            .map(|f| pb::File {
                path: f.path.clone(),
                size: f.size,
                sha256: f.sha256.clone(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}
