//! `mqlab report`: a saved result (of `run` or `compare`) as html, md, csv, hdr or json.
//! A corrupt result, or one from a newer mqlab, is a clear error (exit 2), never a panic;
//! the output is written atomically, so a failure leaves no partial file.

use crate::compare::{emit, parse_format};
use anyhow::Context;
use mqlab_reports::{Format, Warmup};
use std::process::ExitCode;

/// Arguments of `mqlab report`.
#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// A JSON result written by `mqlab run --json`/`--out` or `mqlab compare --json`/`--out`.
    pub result: String,
    /// Output format: html, md, csv, hdr, json or text (aligned tables for a terminal).
    #[arg(long, value_parser = parse_format)]
    pub format: Format,
    /// Output file (default: stdout).
    #[arg(long)]
    pub out: Option<String>,
    /// Warm-up for a single run's steady-state statistics: none, mser5, or a duration.
    #[arg(long, default_value = "none", value_parser = Warmup::parse)]
    pub warmup: Warmup,
}

pub fn report(args: &ReportArgs) -> anyhow::Result<ExitCode> {
    if let Some(out) = &args.out {
        crate::output::check_target(std::path::Path::new(out))?;
    }
    let bytes = std::fs::read(&args.result)
        .with_context(|| format!("cannot read result {}", args.result))?;
    let text = crate::load::utf8(bytes, &args.result)?;
    let report = mqlab_reports::read(&text).with_context(|| format!("reading {}", args.result))?;
    emit(
        &report,
        false,
        Some(args.format),
        args.out.as_deref(),
        args.warmup,
    )?;
    Ok(ExitCode::SUCCESS)
}
