//! The encryption envelope: file-level, chunked AES-256-GCM (the repository's
//! `spec/envelope.md` is the normative description).
//!
//! A sealed file is a 40-byte header followed by chunks. Every chunk holds `chunk_size`
//! bytes of plaintext (64 KiB by default) except the last, the *final* chunk, which holds
//! 1 to `chunk_size` bytes (0 only when the whole plaintext is empty: an empty file still
//! has one final, empty chunk). Each chunk is stored as ciphertext ‖ 16-byte GCM tag.
//!
//! - The key of a file is derived from the data key and the header's random 24-byte file
//!   nonce (HMAC-SHA256), and the nonce of chunk *i* is the file nonce's last 8 bytes ‖ *i*
//!   as a big-endian `u32`: nonces never repeat within a file, and files never share a key
//!   unless they share 24 random bytes.
//! - The associated data of every chunk is the whole header ‖ the chunk index ‖ a
//!   final-chunk flag ‖ the file identity (backup id and relative path). Reordering,
//!   truncating (at or between chunk boundaries), extending, splicing chunks across files,
//!   swapping whole files, or editing the header all fail authentication.
//!
//! Reading: [`open_all`] for small files, [`Opened`] for positioned reads of the plaintext
//! that decrypt only the chunks a read touches (an [`Opened`] is a
//! [`BlockSource`](crate::sst::BlockSource), so an [`SstReader`](crate::sst::SstReader)
//! reads an encrypted SST through it). Writing: [`seal`] for buffers, [`SealWriter`] for
//! streams (memory: one chunk). Wrapping a data key with a key-encryption key:
//! [`seal_small`] / [`open_small`].
//!
//! Built with `--cfg fuzzing` (cargo-fuzz), the chunk cipher is a *null cipher*: the same
//! framing, plaintext stored as is, and a tag that only records the final-chunk flag, so
//! fuzzers' mutations reach the parsers behind the envelope. It is never compiled otherwise.
//!
//! | module | what |
//! |---|---|
//! | `framing` | the constants, [`Header`], sizes and [`Framing`] (no key needed) |
//! | `cipher` | [`DataKey`], [`FileId`], the per-file key, chunk nonces and associated data |
//! | `sealing` | [`seal`], [`SealWriter`] |
//! | `opening` | [`open_all`], [`Opened`] |
//! | `small` | [`seal_small`], [`open_small`] |
//! | `fuzz` | the `envelope_open` fuzz entry point |

mod cipher;
mod framing;
mod fuzz;
mod opening;
mod sealing;
mod small;

#[doc(hidden)]
pub use cipher::{derive_file_key, RawAead};
pub use cipher::{DataKey, FileId};
pub use framing::{
    plaintext_len, sealed_len, sealed_len_with, Framing, Header, CHUNK_SIZE, CIPHER_AES_256_GCM,
    FILE_NONCE_LEN, HEADER_LEN, MAGIC, MAX_CHUNKS, MAX_CHUNK_SIZE, MIN_CHUNK_SIZE, TAG_LEN,
    VERSION,
};
#[doc(hidden)]
pub use fuzz::{fuzz_open, FUZZ_ID, FUZZ_KEY};
pub use opening::{open_all, Opened};
pub use sealing::{seal, seal_with_chunk_size, SealWriter};
pub use small::{open_small, seal_small, SMALL_NONCE_LEN, SMALL_OVERHEAD};
