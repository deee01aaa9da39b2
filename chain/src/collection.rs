//! Reading a collection: its full backups, LATEST, and the chain of layers (a full backup
//! and its incrementals) with their manifests.
//!
//! Readers tolerate stray objects left by copy tools (directory markers, empty names,
//! unrelated files): names are resolved by `vouch_format::layout::Listing`.

use std::path::PathBuf;

use vouch_format::layout::{self, Listing};
use vouch_store::{OpenOptions, Store};

use crate::base::Layer;
use crate::layer::{read_layer, Encryption};
use crate::sealed::{self, ChainKey};
use crate::{ctx, Error, ErrorKind, Result};
use vouch_format::envelope::DataKey;
use vouch_keys::KeySource;

/// Where incrementals of a collection live.
#[derive(Debug)]
pub struct IncrementalRoot {
    /// The store (the collection itself, or the `incremental_location`).
    pub store: Box<dyn Store>,
    /// Prefix under that store: `incrementals/` in the collection, empty otherwise.
    pub prefix: String,
}

/// An opened collection.
#[derive(Debug)]
pub struct Collection {
    /// The collection's store.
    pub store: Box<dyn Store>,
    /// Where its incrementals are.
    pub incrementals: IncrementalRoot,
}

/// A full backup and its incrementals, oldest first.
#[derive(Debug, Clone)]
pub struct Chain {
    /// The full backup's subdirectory (`2026/11/21-120000.00`).
    pub full_subdir: String,
    /// Layers, the full backup first.
    pub layers: Vec<Layer>,
    /// The chain's data key when it is encrypted.
    pub key: Option<ChainKey>,
}

impl Chain {
    /// The newest layer.
    pub fn last(&self) -> Option<&Layer> {
        self.layers.last()
    }
}

/// Store options for a cluster's `nodelocal://` folder.
pub fn open_options(nodelocal_root: Option<PathBuf>) -> OpenOptions {
    OpenOptions {
        nodelocal_root,
        cluster: None,
    }
}

impl Collection {
    /// Opens the collection at `uri`, with incrementals in `incremental_location` when
    /// given, else under `incrementals/` in the collection.
    pub fn open(uri: &str, incremental_location: Option<&str>, opts: &OpenOptions) -> Result<Self> {
        let store = vouch_store::open(uri, opts)?;
        let incrementals = match incremental_location {
            Some(u) => IncrementalRoot {
                store: vouch_store::open(u, opts)?,
                prefix: String::new(),
            },
            None => IncrementalRoot {
                store: vouch_store::open(uri, opts)?,
                prefix: format!("{}/", layout::INCREMENTALS_DIR),
            },
        };
        Ok(Collection {
            store,
            incrementals,
        })
    }

    /// A listing of the whole collection.
    pub fn listing(&self) -> Result<Listing> {
        let objects = self.store.list("")?;
        Ok(Listing::new(objects.iter().map(|o| o.path.as_str())))
    }

    /// Complete full backups, oldest first.
    pub fn full_backups(&self) -> Result<Vec<String>> {
        Ok(self.listing()?.full_backups())
    }

    /// The full backup LATEST points at.
    pub fn latest(&self) -> Result<String> {
        let listing = self.listing()?;
        let content = match listing.latest_marker_to_read() {
            Some(marker) => Some(self.store.get_limited(&marker, layout::MAX_POINTER_BYTES)?),
            None => match self
                .store
                .get_limited(layout::LATEST, layout::MAX_POINTER_BYTES)
            {
                Ok(b) => Some(b),
                Err(vouch_store::Error::NotFound { .. }) => None,
                Err(e) => return Err(e.into()),
            },
        };
        let Some(content) = content else {
            return Err(Error::new(
                ErrorKind::NotFound,
                format!(
                    "no backups found in {}: there is no LATEST file",
                    self.store.uri()
                ),
            ));
        };
        let full = ctx(layout::parse_latest_content(&content), "LATEST")?;
        // Every other pointer must be whole too (verify's `latest_invalid`): a reader that
        // takes another one would restore something else.
        let complete = listing.full_backups();
        let mut pointers = listing.latest_markers();
        if listing.contains(layout::LATEST) {
            pointers.push(layout::LATEST.to_string());
        }
        for p in pointers {
            let named = ctx(
                layout::parse_latest_content(
                    &self.store.get_limited(&p, layout::MAX_POINTER_BYTES)?,
                ),
                p.clone(),
            )?;
            if !complete.contains(&named) {
                return Err(Error::new(
                    ErrorKind::NotFound,
                    format!(
                        "{p} names {}, which is not a complete full backup",
                        layout::display_subdir(&named)
                    ),
                )
                .with_object(p));
            }
        }
        Ok(full)
    }

    /// Resolves `LATEST` or a subdirectory the user typed to a full subdir.
    pub fn resolve_subdir(&self, subdir: &str) -> Result<String> {
        if subdir.eq_ignore_ascii_case("LATEST") {
            return self.latest();
        }
        ctx(
            layout::parse_full_subdir(subdir),
            format!("subdirectory {subdir:?}"),
        )
    }

    /// Reads and checks one layer's manifest (of an unencrypted chain).
    pub fn read_layer(store: &dyn Store, dir: &str, is_full: bool) -> Result<Layer> {
        Self::read_layer_keyed(store, dir, is_full, None)
    }

    /// Reads and checks one layer's manifest: its checksum file against the stored bytes;
    /// with the chain's key, the manifest is opened from the envelope (its identity taken
    /// from the layer's `BACKUP-LISTING`, which must then agree with it field by field).
    /// The first problem [`crate::layer::read_layer`] meets is the error.
    pub fn read_layer_keyed(
        store: &dyn Store,
        dir: &str,
        is_full: bool,
        key: Option<&DataKey>,
    ) -> Result<Layer> {
        let enc = key.map_or(Encryption::Plain, Encryption::Key);
        read_layer(store, dir, is_full, enc).into_layer(store.uri())
    }

    /// The key of the chain of the full backup `full`, from what the user gave (see
    /// [`sealed::chain_key`]).
    pub fn chain_key(&self, full: &str, source: &KeySource) -> Result<Option<ChainKey>> {
        sealed::chain_key(self.store.as_ref(), full, source)
    }

    /// The chain of `full` with the stores its layers live in (consumes the collection).
    pub fn open_chain(self, full: &str) -> Result<OpenChain> {
        self.open_chain_keyed(full, &KeySource::default())
    }

    /// [`Collection::open_chain`] of a chain that may be encrypted.
    pub fn open_chain_keyed(self, full: &str, source: &KeySource) -> Result<OpenChain> {
        let chain = self.chain_keyed(full, source)?;
        let layer_store = chain
            .layers
            .iter()
            .map(|l| usize::from(!l.is_full))
            .collect();
        Ok(OpenChain {
            chain,
            stores: vec![self.store, self.incrementals.store],
            layer_store,
            parts: Vec::new(),
            missing: Vec::new(),
        })
    }

    /// The chain of the full backup at `full` (a normalized subdir), oldest first; an
    /// encrypted chain is an error naming what key it needs.
    pub fn chain(&self, full: &str) -> Result<Chain> {
        self.chain_keyed(full, &KeySource::default())
    }

    /// The chain of the full backup at `full`, unlocking its key from `source` when it is
    /// encrypted (a key given for a chain that is not is an error).
    pub fn chain_keyed(&self, full: &str, source: &KeySource) -> Result<Chain> {
        let listing = self.listing()?;
        if !listing.full_backups().iter().any(|f| f == full) {
            return Err(Error::new(
                ErrorKind::NotFound,
                format!(
                    "backup {} not found in {}: no {} there",
                    layout::display_subdir(full),
                    self.store.uri(),
                    layout::MANIFEST
                ),
            ));
        }
        let key = self.chain_key(full, source)?;
        let k = key.as_deref();
        let mut layers = vec![Self::read_layer_keyed(self.store.as_ref(), full, true, k)?];
        let inc = &self.incrementals;
        let objects = inc.store.list(&format!("{}{full}/", inc.prefix))?;
        let inc_listing = Listing::new(objects.iter().map(|o| o.path.as_str()));
        // Reading a layer is a round trip or more on an object store: the incrementals are
        // read LAYERS_AT_ONCE at a time, the first error in chain order answered (as when
        // read one by one).
        let dirs = inc_listing.incrementals(full, &inc.prefix);
        let read = crate::pool::map(&dirs, LAYERS_AT_ONCE, |dir| {
            Self::read_layer_keyed(inc.store.as_ref(), dir, false, k)
        });
        for layer in read {
            layers.push(layer?);
        }
        Ok(Chain {
            full_subdir: full.to_string(),
            layers,
            key,
        })
    }
}

/// Layers [`Collection::chain_keyed`] reads at once.
pub(crate) const LAYERS_AT_ONCE: usize = 8;

/// A chain together with the stores its layers are read from.
#[derive(Debug)]
pub struct OpenChain {
    /// The chain.
    pub chain: Chain,
    stores: Vec<Box<dyn Store>>,
    layer_store: Vec<usize>,
    /// Per layer, the store of each locality its files are in (locality-aware layers;
    /// spec/locality.md §7).
    parts: Vec<Vec<(String, usize)>>,
    /// The localities [`OpenChain::find_localities`] found no store for.
    missing: Vec<MissingLocality>,
}

/// A locality of a locality-aware layer that none of the stores given holds (no
/// `BACKUP_PART_<n>_<locality>` of the layer in any of them): its files have no store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingLocality {
    /// The layer's index in the chain (0: the full backup).
    pub layer: usize,
    /// The locality (`region=us-west1`).
    pub locality: String,
}

impl OpenChain {
    /// The legacy form `FROM 'full', 'incr1', …`: each URI is a backup directory holding
    /// `BACKUP_MANIFEST` at its root, oldest first.
    pub fn from_uris(uris: &[String], opts: &OpenOptions) -> Result<Self> {
        Self::from_uris_keyed(uris, opts, &KeySource::default())
    }

    /// [`OpenChain::from_uris`] of a chain that may be encrypted (its key records are in
    /// the first URI's directory).
    pub fn from_uris_keyed(
        uris: &[String],
        opts: &OpenOptions,
        source: &KeySource,
    ) -> Result<Self> {
        if uris.is_empty() {
            return Err(Error::new(ErrorKind::Usage, "no backup URIs given"));
        }
        let mut stores = Vec::new();
        let mut layers = Vec::new();
        let mut key = None;
        for (i, uri) in uris.iter().enumerate() {
            let store = vouch_store::open(uri, opts)?;
            if i == 0 {
                key = sealed::chain_key(store.as_ref(), "", source)?;
            }
            let mut layer =
                Collection::read_layer_keyed(store.as_ref(), "", i == 0, key.as_deref())?;
            layer.dir = String::new();
            layers.push(layer);
            stores.push(store);
        }
        let full_subdir = uris.first().cloned().unwrap_or_default();
        Ok(OpenChain {
            chain: Chain {
                full_subdir,
                layers,
                key,
            },
            layer_store: (0..uris.len()).collect(),
            stores,
            parts: Vec::new(),
            missing: Vec::new(),
        })
    }

    /// Finds the stores of every locality of the chain's locality-aware layers: for layer
    /// `i`, among its own store and the stores `others[i]` (URIs, opened here), the one
    /// whose layer directory holds its `BACKUP_PART_<n>_<locality>` of this layer's backup
    /// id (CockroachDB's search; the list's order and grouping need not be the BACKUP's).
    pub fn attach_localities(&mut self, others: &[Vec<String>], opts: &OpenOptions) -> Result<()> {
        self.attach(others, opts, true)
    }

    /// [`OpenChain::attach_localities`] where a locality no store holds is not an error: it
    /// is recorded ([`OpenChain::missing_localities`]) and its files have no store
    /// ([`OpenChain::store_for`] gives `None`). A part of another backup is still an error.
    /// For readers that report what is missing rather than stop at it (SHOW BACKUP … WITH
    /// check_files).
    pub fn find_localities(&mut self, others: &[Vec<String>], opts: &OpenOptions) -> Result<()> {
        self.attach(others, opts, false)
    }

    /// The localities [`OpenChain::find_localities`] found no store for, layer by layer in
    /// the manifests' order.
    pub fn missing_localities(&self) -> &[MissingLocality] {
        &self.missing
    }

    fn attach(&mut self, others: &[Vec<String>], opts: &OpenOptions, strict: bool) -> Result<()> {
        let mut opened: Vec<Vec<usize>> = Vec::new();
        for uris in others {
            let mut idx = Vec::new();
            for u in uris {
                self.stores.push(vouch_store::open(u, opts)?);
                idx.push(self.stores.len() - 1);
            }
            opened.push(idx);
        }
        let mut parts = Vec::new();
        let mut missing = Vec::new();
        for (i, layer) in self.chain.layers.iter().enumerate() {
            let mut found = Vec::new();
            let own = self.layer_store.get(i).copied();
            let candidates: Vec<usize> = own
                .into_iter()
                .chain(opened.get(i).or(opened.last()).cloned().unwrap_or_default())
                .collect();
            for locality in &layer.manifest.localities {
                let key = self.chain.key.as_deref();
                match crate::locality::locate_part(&self.stores, &candidates, layer, locality, key)?
                {
                    Some(s) => found.push((locality.clone(), s)),
                    None if strict => return Err(crate::locality::not_found(layer, locality)),
                    None => missing.push(MissingLocality {
                        layer: i,
                        locality: locality.clone(),
                    }),
                }
            }
            parts.push(found);
        }
        self.parts = parts;
        self.missing = missing;
        Ok(())
    }

    /// Layer `i`'s localities with their stores (indexes into [`OpenChain::all_stores`]).
    pub fn parts_of(&self, i: usize) -> &[(String, usize)] {
        self.parts.get(i).map_or(&[], Vec::as_slice)
    }

    /// Every store opened.
    pub fn all_stores(&self) -> &[Box<dyn Store>] {
        &self.stores
    }

    /// The store holding layer `i`'s files of `locality` (`""`: its own store).
    pub fn store_for(&self, i: usize, locality: &str) -> Option<&dyn Store> {
        if locality.is_empty() {
            return self.store(i);
        }
        let (_, s) = self.parts.get(i)?.iter().find(|(l, _)| l == locality)?;
        self.stores.get(*s).map(AsRef::as_ref)
    }

    /// The store layer `i` is read from.
    pub fn store(&self, i: usize) -> Option<&dyn Store> {
        let s = self.layer_store.get(i)?;
        self.stores.get(*s).map(AsRef::as_ref)
    }

    /// A display name of layer `i` (its URI and directory).
    pub fn layer_name(&self, i: usize) -> String {
        match (self.store(i), self.chain.layers.get(i)) {
            (Some(s), Some(l)) if l.dir.is_empty() => s.uri().to_string(),
            (Some(s), Some(l)) => format!("{}/{}", s.uri().trim_end_matches('/'), l.dir),
            _ => format!("layer {i}"),
        }
    }
}
