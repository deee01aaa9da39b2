//! The key options shared by every command that writes or reads a backup:
//! `--encryption-passphrase` (or `-env` / `-file`, so it stays out of shell history) and
//! `--kms URI` (repeatable).

use std::path::PathBuf;

use anyhow::Result;
use vouch_keys::passphrase::Passphrase;
use vouch_keys::KeySource;

/// `WITH encryption_passphrase = …` / `WITH kms = …` as options.
#[derive(Debug, Clone, Default, clap::Args)]
pub(crate) struct KeyArgs {
    /// WITH encryption_passphrase: encrypt (backup) or unlock (restore, show, verify, dump).
    #[arg(long, value_name = "PASSPHRASE")]
    pub encryption_passphrase: Option<String>,
    /// Read the passphrase from this environment variable.
    #[arg(long, value_name = "VAR")]
    pub encryption_passphrase_env: Option<String>,
    /// Read the passphrase from this file (one trailing newline removed).
    #[arg(long, value_name = "FILE")]
    pub encryption_passphrase_file: Option<PathBuf>,
    /// WITH kms = URI: `aws:///key-id?REGION=…` or `file:///path/key`; repeat for several
    /// (any one of them restores).
    #[arg(long, value_name = "URI")]
    pub kms: Vec<String>,
}

impl KeyArgs {
    /// What the user gave.
    pub(crate) fn source(&self) -> Result<KeySource> {
        let passphrase = Passphrase::from_arg_env_or_file(
            self.encryption_passphrase.as_deref(),
            self.encryption_passphrase_env.as_deref(),
            self.encryption_passphrase_file.as_deref(),
        )?;
        Ok(KeySource {
            passphrase,
            kms: self.kms.clone(),
        })
    }
}
