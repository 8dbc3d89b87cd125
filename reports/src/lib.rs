//! mqlab-reports: turns a run's `RunSummary`, or a comparison of many runs, into JSON, CSV,
//! Markdown, standalone HTML with inline SVG charts, or an HdrHistogram interval log.
//!
//! Every writer takes the result by reference and writes to an `impl io::Write`; only the
//! binary opens files. Output is byte-identical for the same input: no wall-clock stamps,
//! ordered maps, floats at fixed precision (JSON keeps serde's shortest round-trip form,
//! which is itself deterministic).
//!
//! ```
//! use mqlab_reports::{Format, Options, Report, write};
//! let run = mqlab_reports::fixture::run();
//! let mut md = Vec::new();
//! write(&Report::Run(run), Format::Markdown, &Options::default(), &mut md).unwrap();
//! assert!(String::from_utf8(md).unwrap().starts_with("# mqlab run"));
//! ```
#![warn(missing_docs)]

mod charts;
pub mod comparison;
mod csv;
pub mod fixture;
mod fmt;
mod hdr;
mod html;
mod json;
mod markdown;
pub mod phases;
mod sections;
pub mod stats;
mod tables;
pub mod text;
mod views;

pub use comparison::{Builder, Comparison, Digest, VariantSpec};
pub use phases::Warmup;
pub use stats::Estimate;

use mqlab_sim::RunSummary;
use std::io;
use std::str::FromStr;

/// What went wrong while reading a result or writing a report.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// Writing the output failed.
    #[error("cannot write report: {0}")]
    Io(#[from] io::Error),
    /// The result file is not a result mqlab wrote.
    #[error("not a valid mqlab result: {0}")]
    Corrupt(String),
    /// The result was written by a newer mqlab.
    #[error("result written by mqlab {found}, newer than this mqlab {supported}; upgrade mqlab")]
    Newer {
        /// Version in the file.
        found: String,
        /// Version of this crate.
        supported: String,
    },
    /// Drawing a chart failed.
    #[error("cannot draw chart `{chart}`: {message}")]
    Chart {
        /// Chart title.
        chart: String,
        /// What plotters said.
        message: String,
    },
    /// Encoding the HdrHistogram log failed.
    #[error("cannot encode latency histogram: {0}")]
    Histogram(String),
    /// Unknown `--format`.
    #[error("unknown report format `{0}` (expected json, html, md, csv, hdr or text)")]
    UnknownFormat(String),
}

/// Output format, one module each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// The result itself, pretty JSON.
    Json,
    /// Tidy time series: `run,variant,seed,t_s,metric,value`.
    Csv,
    /// Tables for a pull request or a README.
    Markdown,
    /// One standalone page with inline SVG charts.
    Html,
    /// HdrHistogram interval log (V2 deflate), latencies in nanoseconds.
    Hdr,
    /// The tables as aligned plain text, for a terminal.
    Text,
}

impl FromStr for Format {
    type Err = ReportError;
    fn from_str(s: &str) -> Result<Format, ReportError> {
        match s {
            "json" => Ok(Format::Json),
            "csv" => Ok(Format::Csv),
            "md" | "markdown" => Ok(Format::Markdown),
            "html" => Ok(Format::Html),
            "hdr" | "hlog" => Ok(Format::Hdr),
            "text" | "txt" => Ok(Format::Text),
            other => Err(ReportError::UnknownFormat(other.to_string())),
        }
    }
}

/// Settings shared by the formats. Default: no warm-up discarded.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// Warm-up rule for a single run's steady-state and phase statistics (a comparison
    /// carries its own).
    pub warmup: Warmup,
}

/// What a report is about.
// A program holds one `Report` at a time, so the variants' size difference costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum Report {
    /// One run.
    Run(RunSummary),
    /// A comparison of variants over seeds.
    Comparison(Box<Comparison>),
}

/// Writes `report` as `format` to `w`.
///
/// # Errors
/// Writing fails, or a chart or histogram cannot be encoded.
pub fn write<W: io::Write>(
    report: &Report,
    format: Format,
    opts: &Options,
    w: &mut W,
) -> Result<(), ReportError> {
    match format {
        Format::Json => json::write(report, w),
        Format::Csv => csv::write(report, w),
        Format::Markdown => markdown::write(report, opts, w),
        Format::Html => html::write(report, opts, w),
        Format::Hdr => hdr::write(report, w),
        Format::Text => text::write(report, opts, w),
    }
}

/// Reads a result file's text: a run (`mqlab run --json`) or a comparison
/// (`mqlab compare --json`, recognised by its `runs` field).
///
/// # Errors
/// `Corrupt` for anything that is not such a result (with serde's line and column),
/// `Newer` for a result from a later mqlab version.
pub fn read(text: &str) -> Result<Report, ReportError> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| ReportError::Corrupt(e.to_string()))?;
    let obj = value
        .as_object()
        .ok_or_else(|| ReportError::Corrupt("expected a JSON object".into()))?;
    let version = obj
        .get("version")
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| ReportError::Corrupt("missing `version`".into()))?;
    check_version(version)?;
    check_numbers(&value, &mut String::new()).map_err(ReportError::Corrupt)?;
    let report = if obj.contains_key("runs") {
        let mut c: Comparison = serde_json::from_value(value).map_err(corrupt)?;
        for (i, r) in c.runs.iter().enumerate() {
            check_version(&r.version)?;
            check_run(r).map_err(|e| ReportError::Corrupt(format!("runs[{i}]: {e}")))?;
        }
        check_comparison(&c).map_err(ReportError::Corrupt)?;
        c.restore_from_runs()?;
        Report::Comparison(Box::new(c))
    } else {
        let r: RunSummary = serde_json::from_value(value).map_err(corrupt)?;
        check_run(&r).map_err(ReportError::Corrupt)?;
        Report::Run(r)
    };
    Ok(report)
}

/// What serde cannot see but the writers index by: every series as long as `t_s`.
fn check_run(r: &RunSummary) -> Result<(), String> {
    let s = &r.series;
    let n = s.t_s.len();
    let lens = [
        s.produced_per_s.len(),
        s.processed_per_s.len(),
        s.depth.len(),
        s.lag.len(),
    ];
    if lens.iter().any(|l| *l != n) {
        return Err(format!("series lengths {lens:?} differ from t_s ({n})"));
    }
    Ok(())
}

/// Largest magnitude a fractional value in a result may have. mqlab's own floats (rates,
/// seconds, ratios) stay many orders below it; a value near `f64::MAX` is a corrupt or
/// hand-made file, and the chart axes' range arithmetic overflows to infinity on it.
pub const ABSURD: f64 = 1e15;

/// Every floating-point value in the tree is finite and below `ABSURD`; the error names the
/// field's path (`series.t_s[3]`). Integers are left to serde's typed checks: seeds and
/// hashes may use the whole `u64` range.
fn check_numbers(v: &serde_json::Value, path: &mut String) -> Result<(), String> {
    use serde_json::Value;
    let at = |path: &str| {
        if path.is_empty() {
            "the top level".to_string()
        } else {
            format!("`{path}`")
        }
    };
    match v {
        Value::Number(n) if n.is_f64() => {
            let x = n.as_f64().unwrap_or(f64::NAN);
            if !x.is_finite() || x.abs() > ABSURD {
                return Err(format!("{} is {x}, outside ±{ABSURD:e}", at(path)));
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                check_numbers(item, path)?;
                path.truncate(len);
            }
        }
        Value::Object(fields) => {
            for (k, item) in fields {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(k);
                check_numbers(item, path)?;
                path.truncate(len);
            }
        }
        _ => {}
    }
    Ok(())
}

/// Every variant's runs exist, and the runs are one per variant and seed.
fn check_comparison(c: &Comparison) -> Result<(), String> {
    if c.runs.len() != c.variants.len() * c.seeds.len() {
        return Err(format!(
            "{} runs for {} variants x {} seeds",
            c.runs.len(),
            c.variants.len(),
            c.seeds.len()
        ));
    }
    match c
        .variants
        .iter()
        .flat_map(|v| &v.runs)
        .find(|&&i| i >= c.runs.len())
    {
        Some(i) => Err(format!("variant refers to run {i} of {}", c.runs.len())),
        None => Ok(()),
    }
}

fn corrupt(e: serde_json::Error) -> ReportError {
    ReportError::Corrupt(e.to_string())
}

/// A result from a later version may carry meanings this one would misreport.
fn check_version(found: &str) -> Result<(), ReportError> {
    let ours = env!("CARGO_PKG_VERSION");
    let parse = |v: &str| -> Option<Vec<u64>> {
        let core = v.split(['-', '+']).next()?;
        core.split('.').map(|p| p.parse().ok()).collect()
    };
    let found_v = parse(found)
        .filter(|v| v.len() == 3)
        .ok_or_else(|| ReportError::Corrupt(format!("bad version `{found}`")))?;
    if found_v > parse(ours).unwrap_or_default() {
        return Err(ReportError::Newer {
            found: found.to_string(),
            supported: ours.to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_accepts_its_own_json_and_rejects_corrupt_or_newer() {
        let run = fixture::run();
        let text = serde_json::to_string(&run).unwrap();
        assert!(
            read(&text).unwrap() == Report::Run(run.clone()),
            "round trip"
        );
        assert!(matches!(
            read(&text[..text.len() / 2]),
            Err(ReportError::Corrupt(_))
        ));
        assert!(matches!(read("[1, 2]"), Err(ReportError::Corrupt(_))));
        let newer = text.replace(&format!("\"{}\"", run.version), "\"99.0.0\"");
        assert!(matches!(read(&newer), Err(ReportError::Newer { .. })));
    }

    #[test]
    fn read_rejects_well_typed_results_the_writers_would_trip_on() {
        let mut run = fixture::run();
        run.series.lag.pop();
        let text = serde_json::to_string(&run).unwrap();
        assert!(
            matches!(read(&text), Err(ReportError::Corrupt(m)) if m.contains("series lengths"))
        );
        let mut c = fixture::comparison();
        c.variants[1].runs[0] = 99;
        let text = serde_json::to_string(&c).unwrap();
        assert!(matches!(read(&text), Err(ReportError::Corrupt(m)) if m.contains("run 99")));
    }

    #[test]
    fn read_rejects_absurd_values_naming_the_field() {
        let mut run = fixture::run();
        run.series.produced_per_s[1] = 1.7e308;
        let text = serde_json::to_string(&run).unwrap();
        let err = read(&text).unwrap_err().to_string();
        assert!(err.contains("`series.produced_per_s[1]`"), "{err}");
        let mut c = fixture::comparison();
        c.runs[1].series.t_s[0] = -1e300;
        let err = read(&serde_json::to_string(&c).unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.contains("`runs[1].series.t_s[0]`"), "{err}");
        // Beyond f64 altogether: serde refuses it, still as a corrupt result.
        let text = serde_json::to_string(&fixture::run()).unwrap();
        let inf = text.replacen("\"t_s\":[", "\"t_s\":[1e999,", 1);
        assert!(matches!(read(&inf), Err(ReportError::Corrupt(_))));
    }

    #[test]
    fn read_recognises_a_comparison() {
        let c = fixture::comparison();
        let text = serde_json::to_string(&c).unwrap();
        assert!(matches!(read(&text).unwrap(), Report::Comparison(_)));
    }

    #[test]
    fn format_names_parse() {
        assert_eq!("md".parse::<Format>().unwrap(), Format::Markdown);
        assert!("pdf".parse::<Format>().is_err());
    }
}
