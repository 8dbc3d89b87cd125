//! `mqlab report`: a saved result as html, md, csv or hdr (issue 4; not built yet).

use std::process::ExitCode;

/// Arguments of `mqlab report`.
#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// A JSON result written by `mqlab run --json`.
    pub result: String,
    /// Output format: html, md, csv or hdr.
    #[arg(long)]
    pub format: String,
    /// Output file (default: stdout).
    #[arg(long)]
    pub out: Option<String>,
}

pub fn report(args: &ReportArgs) -> anyhow::Result<ExitCode> {
    let _ = args;
    anyhow::bail!("`mqlab report` is not built yet")
}
