//! `RESTORE` (being built: see the issue tracker).

use std::process::ExitCode;

/// Arguments of `RESTORE`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Words of the statement.
    #[arg(num_args = 0.., allow_hyphen_values = true)]
    words: Vec<String>,
}

/// Runs `RESTORE`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!(
        "RESTORE is not available yet ({} words given)",
        args.words.len()
    )
}
