//! `mqlab compare`: delivery variants side by side over seeds (issue 4; not built yet).

use std::process::ExitCode;

/// Arguments of `mqlab compare`.
#[derive(clap::Args, Debug)]
pub struct CompareArgs {
    /// The scenario file.
    pub scenario: String,
    /// `all`, or a comma-separated list of variants.
    #[arg(long, default_value = "all")]
    pub delivery: String,
    /// Seeds, as `A..B`.
    #[arg(long)]
    pub seeds: Option<String>,
    /// Parameter sweeps, `key=v1,v2`.
    #[arg(long)]
    pub set: Vec<String>,
    /// Print JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn compare(args: &CompareArgs) -> anyhow::Result<ExitCode> {
    let _ = args;
    anyhow::bail!("`mqlab compare` is not built yet")
}
