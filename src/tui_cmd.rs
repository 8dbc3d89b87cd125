//! `mqlab tui`: the live dashboard (issue 3; not built yet).

use std::process::ExitCode;

/// Arguments of `mqlab tui`.
#[derive(clap::Args, Debug)]
pub struct TuiArgs {
    /// The scenario file.
    pub scenario: String,
    /// Seed (default: the scenario's).
    #[arg(long)]
    pub seed: Option<u64>,
}

pub fn tui(args: &TuiArgs) -> anyhow::Result<ExitCode> {
    let _ = args;
    anyhow::bail!("`mqlab tui` is not built yet")
}
