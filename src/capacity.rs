//! `mqlab capacity`: the highest producer rate that meets an SLO (issue 4; not built yet).

use std::process::ExitCode;

/// Arguments of `mqlab capacity`.
#[derive(clap::Args, Debug)]
pub struct CapacityArgs {
    /// The scenario file.
    pub scenario: String,
    /// The producer whose rate is searched.
    #[arg(long)]
    pub producer: String,
    /// The objective, e.g. `p99<50ms`.
    #[arg(long)]
    pub slo: String,
    /// Seeds, as `A..B`.
    #[arg(long)]
    pub seeds: Option<String>,
}

pub fn capacity(args: &CapacityArgs) -> anyhow::Result<ExitCode> {
    let _ = args;
    anyhow::bail!("`mqlab capacity` is not built yet")
}
