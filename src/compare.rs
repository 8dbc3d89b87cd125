//! `mqlab compare`: every delivery variant × `--set` value × seed is an independent
//! deterministic run, spread over the cores with rayon and streamed in job order (see
//! `sweep`); `mqlab-reports` aggregates them. Runs are taken in job order, never completion
//! order, so the output is identical whatever `RAYON_NUM_THREADS` is. `--shard K/N` runs one
//! slice of the jobs and writes a part for `mqlab merge`. Also home of `--set` (shared with
//! `capacity`) and of the parallel runner `capacity` uses. The tables print as aligned text
//! on a terminal and as Markdown otherwise.

use crate::merge::{CompareSweep, PartHeader, Shard};
use crate::sweep::{self, Collector, Outputs};
use crate::{load, run};
use anyhow::{Context, bail};
use mqlab_reports::comparison::{Input, VariantSpec};
use mqlab_reports::{Format, Options, Report, Warmup};
use mqlab_sim::{Delivery, RunSummary, Scenario};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

/// Arguments of `mqlab compare`.
#[derive(clap::Args, Debug)]
pub struct CompareArgs {
    /// The scenario file.
    pub scenario: String,
    /// `all`, or a comma-separated list of variants.
    #[arg(long, default_value = "all")]
    pub delivery: String,
    /// Seeds: `A..B` (inclusive), `A..=B`, a list `1,5,9`, or one seed (default 1..10).
    #[arg(long)]
    pub seeds: Option<String>,
    /// Parameter sweeps, `KEY=v1,v2` (repeatable), on any scenario key by its path:
    /// `broker.acks=leader,all`, `topic.NAME.partitions`, `producer.NAME.rate`,
    /// `consumer.GROUP.delivery`, `network.loss`, ...; each value checked as the file is.
    #[arg(long, value_name = "KEY=V1,V2")]
    pub set: Vec<String>,
    /// Print the comparison as JSON on stdout: `{"runs": [...], "variants": [...], ...}`.
    #[arg(long)]
    pub json: bool,
    /// Write a report in this format (json, html, md, csv, hdr, text) to `--out`, or to
    /// stdout (without it: aligned text tables on a terminal, Markdown otherwise).
    #[arg(long, value_parser = parse_format)]
    pub report: Option<Format>,
    /// Output file (written atomically); JSON unless `--report` says otherwise.
    #[arg(long)]
    pub out: Option<String>,
    /// Warm-up discarded from steady-state statistics: none, mser5, or a duration (10s).
    #[arg(long, default_value = "none", value_parser = Warmup::parse)]
    pub warmup: Warmup,
    /// Run only slice K of N of the runs (K from 0 to N-1) and write it as a part (JSON, to
    /// `--out` or stdout) for `mqlab merge`.
    #[arg(long, value_name = "K/N", value_parser = crate::merge::parse_shard, conflicts_with = "report")]
    pub shard: Option<Shard>,
}

pub fn parse_format(s: &str) -> Result<Format, String> {
    s.parse::<Format>().map_err(|e| e.to_string())
}

pub fn compare(args: &CompareArgs) -> anyhow::Result<ExitCode> {
    // Every combination sets the same keys: the first one's mends the file as well as any
    // other's (each is checked again when its variant is built).
    let first: Vec<(String, String)> = parse_sweeps(&args.set)?
        .into_iter()
        .map(|(k, vs)| (k, vs[0].clone()))
        .collect();
    let loaded = load::scenario_with(&args.scenario, &first)?;
    if let Some(out) = &args.out {
        crate::output::check_target(Path::new(out))?;
    }
    let seeds = parse_seeds(args.seeds.as_deref().unwrap_or("1..10"))?;
    let (specs, scenarios) = variants(&loaded, args)?;
    let jobs: Vec<(usize, u64)> = (0..scenarios.len())
        .flat_map(|v| seeds.iter().map(move |s| (v, *s)))
        .collect();
    let at_once = rayon::current_num_threads().min(jobs.len());
    for s in &scenarios {
        crate::load::check_fits(s, &args.scenario, at_once)?;
    }
    let ordered = loaded.scenario.consumers.iter().any(|c| c.ordered);
    if let Some(shard) = args.shard {
        let header = PartHeader {
            command: "compare".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            scenario: loaded.scenario.name.clone(),
            scenario_path: args.scenario.clone(),
            scenario_hash: load::source_hash(&loaded.source),
            shard: shard.index,
            shards: shard.count,
            jobs: jobs.len() as u64,
            sweep: serde_json::to_value(CompareSweep {
                seeds,
                variants: specs,
                ordered,
                warmup: args.warmup,
            })?,
        };
        let mine = &jobs[shard.range(jobs.len())];
        let bar = sweep::progress(mine.len() as u64, "runs");
        crate::merge::write_part(args.out.as_deref(), &header, |w| {
            crate::merge::write_runs(w, |push| {
                sweep::stream(&scenarios, &loaded.source, mine, &bar, push)
            })
        })?;
        bar.finish_and_clear();
        return Ok(ExitCode::SUCCESS);
    }
    let outputs = Outputs {
        json: args.json,
        format: args.report,
        out: args.out.as_deref(),
    };
    let input = Input {
        scenario_path: &args.scenario,
        seeds: &seeds,
        variants: &specs,
        ordered,
        warmup: args.warmup,
    };
    let mut collector = Collector::new(&input, &outputs)?;
    let bar = sweep::progress(jobs.len() as u64, "runs");
    sweep::stream(&scenarios, &loaded.source, &jobs, &bar, |r| {
        collector.push(r)
    })
    .with_context(|| args.scenario.clone())?;
    bar.finish_and_clear();
    let held = collector.finish(&input, &outputs)?;
    Ok(if held {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Every delivery × `--set` combination, as a label and the scenario it runs.
fn variants(
    loaded: &load::Loaded,
    args: &CompareArgs,
) -> anyhow::Result<(Vec<VariantSpec>, Vec<Scenario>)> {
    let deliveries = parse_deliveries(&args.delivery)?;
    let sweeps = parse_sweeps(&args.set)?;
    let mut specs = Vec::new();
    let mut scenarios = Vec::new();
    for d in &deliveries {
        for combo in combinations(&sweeps) {
            let settings: Vec<(String, String)> = combo.clone().into_iter().collect();
            let mut s = load::with_settings(loaded, &args.scenario, &settings)?;
            load::set_delivery(&mut s, *d, &settings);
            let mut label = d.as_str().to_string();
            for (k, v) in &combo {
                label.push_str(&format!(" {k}={v}"));
            }
            specs.push(VariantSpec {
                label,
                delivery: d.as_str().to_string(),
                settings: combo.into_iter().collect(),
            });
            scenarios.push(s);
        }
    }
    Ok((specs, scenarios))
}

/// Renders `report` as `format` into memory, so that a failure never reaches a file.
pub fn render(report: &Report, format: Format) -> anyhow::Result<Vec<u8>> {
    render_with(report, format, Warmup::None)
}

pub fn render_with(report: &Report, format: Format, warmup: Warmup) -> anyhow::Result<Vec<u8>> {
    let mut buf = Vec::new();
    mqlab_reports::write(report, format, &Options { warmup }, &mut buf)?;
    Ok(buf)
}

/// Prints or writes a result held whole (`mqlab report`), where `Outputs::formats` says.
pub fn emit(
    report: &Report,
    json: bool,
    format: Option<Format>,
    out: Option<&str>,
    warmup: Warmup,
) -> anyhow::Result<()> {
    let (file_format, stdout_format) = Outputs { json, format, out }.formats();
    if let (Some(path), Some(f)) = (out, file_format) {
        crate::output::write(Path::new(path), &render_with(report, f, warmup)?)?;
    }
    if let Some(f) = stdout_format {
        use std::io::Write;
        std::io::stdout()
            .lock()
            .write_all(&render_with(report, f, warmup)?)?;
    }
    Ok(())
}

/// Runs `jobs` (scenario index, seed) over rayon's pool and returns the results in job
/// order, with a progress bar on a terminal (`capacity`'s probes: a few runs each).
pub fn run_parallel(
    scenarios: &[Scenario],
    source: &str,
    jobs: &[(usize, u64)],
) -> anyhow::Result<Vec<RunSummary>> {
    let bar = sweep::progress(jobs.len() as u64, "runs");
    let at_once = rayon::current_num_threads();
    let runs = jobs
        .par_iter()
        .map(|&(v, seed)| {
            let r = run::simulate(&scenarios[v], source, seed, at_once);
            bar.inc(1);
            r
        })
        .collect();
    bar.finish_and_clear();
    runs
}

/// `A..B` and `A..=B` (both inclusive: `1..64` is 64 seeds), `1,5,9`, or `N`.
pub fn parse_seeds(text: &str) -> anyhow::Result<Vec<u64>> {
    let bad = || format!("bad --seeds `{text}` (expected A..B, a list 1,5,9, or one seed)");
    let num = |s: &str| s.trim().parse::<u64>().with_context(bad);
    let seeds: Vec<u64> = if let Some((a, b)) = text.split_once("..") {
        let (a, b) = (num(a)?, num(b.trim_start_matches('='))?);
        // Runs stream through (see `sweep`): a seed costs a few hundred bytes of memory, and
        // its run only output space. A million seeds is past any useful interval anyway.
        if b < a || b - a >= 1_000_000 {
            bail!(
                "{}: the range must be increasing and at most 1000000 seeds",
                bad()
            );
        }
        (a..=b).collect()
    } else {
        text.split(',').map(num).collect::<anyhow::Result<_>>()?
    };
    Ok(seeds)
}

fn parse_deliveries(text: &str) -> anyhow::Result<Vec<Delivery>> {
    if text == "all" {
        return Ok(Delivery::ALL.to_vec());
    }
    text.split(',')
        .map(|d| run::parse_delivery(d.trim()).map_err(anyhow::Error::msg))
        .collect()
}

/// `key=v1,v2` flags as (key, values), in the order given.
fn parse_sweeps(flags: &[String]) -> anyhow::Result<Vec<(String, Vec<String>)>> {
    flags
        .iter()
        .map(|f| {
            let (k, vs) = f
                .split_once('=')
                .with_context(|| format!("bad --set `{f}` (expected key=v1,v2)"))?;
            let vs: Vec<String> = vs.split(',').map(|v| v.trim().to_string()).collect();
            if vs.iter().any(String::is_empty) {
                bail!("bad --set `{f}`: empty value");
            }
            Ok((k.trim().to_string(), vs))
        })
        .collect()
}

/// Every combination of the sweeps' values, the first key varying slowest.
fn combinations(sweeps: &[(String, Vec<String>)]) -> Vec<BTreeMap<String, String>> {
    let mut out = vec![BTreeMap::new()];
    for (k, vs) in sweeps {
        out = out
            .into_iter()
            .flat_map(|base| {
                vs.iter().map(move |v| {
                    let mut m = base.clone();
                    m.insert(k.clone(), v.clone());
                    m
                })
            })
            .collect();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_accept_ranges_lists_and_one_seed() {
        assert_eq!(parse_seeds("1..4").unwrap(), vec![1, 2, 3, 4]);
        assert_eq!(parse_seeds("3..=5").unwrap(), vec![3, 4, 5]);
        assert_eq!(parse_seeds("1,5,9").unwrap(), vec![1, 5, 9]);
        assert_eq!(parse_seeds("7").unwrap(), vec![7]);
        assert!(parse_seeds("5..1").is_err());
        assert!(parse_seeds("a..b").is_err());
    }

    #[test]
    fn combinations_vary_the_first_key_slowest() {
        let sweeps = vec![
            ("a".to_string(), vec!["1".to_string(), "2".to_string()]),
            ("b".to_string(), vec!["x".to_string(), "y".to_string()]),
        ];
        let c = combinations(&sweeps);
        assert_eq!(c.len(), 4);
        assert_eq!((c[1]["a"].as_str(), c[1]["b"].as_str()), ("1", "y"));
        assert_eq!(combinations(&[]).len(), 1);
    }
}
