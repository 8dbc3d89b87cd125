//! `mqlab compare`: every delivery variant × `--set` value × seed is an independent
//! deterministic run, spread over the cores with rayon; `mqlab-reports` aggregates them.
//! Runs are collected in job order, never completion order, so the output is identical
//! whatever `RAYON_NUM_THREADS` is. Also home of `--set` (shared with `capacity`) and of the
//! parallel runner with its progress bar.

use crate::{load, run};
use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use mqlab_reports::comparison::{Comparison, Input, VariantSpec};
use mqlab_reports::{Format, Options, Report, Warmup};
use mqlab_sim::dist::Dist;
use mqlab_sim::scenario::OnFull;
use mqlab_sim::scenario::resolve_target;
use mqlab_sim::time::parse_duration;
use mqlab_sim::{Delivery, RunSummary, Scenario};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;
use toml::Spanned;

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
    /// Parameter sweeps, `key=v1,v2` (repeatable): `consumer.GROUP.instances`,
    /// `consumer.GROUP.commit_interval`, `producer.NAME.rate`, `broker.capacity`, ...
    #[arg(long)]
    pub set: Vec<String>,
    /// Print the comparison as JSON on stdout: `{"runs": [...], "variants": [...], ...}`.
    #[arg(long)]
    pub json: bool,
    /// Write a report in this format (json, html, md, csv, hdr) to `--out`, or to stdout.
    #[arg(long, value_parser = parse_format)]
    pub report: Option<Format>,
    /// Output file (written atomically); JSON unless `--report` says otherwise.
    #[arg(long)]
    pub out: Option<String>,
    /// Warm-up discarded from steady-state statistics: none, mser5, or a duration (10s).
    #[arg(long, default_value = "none", value_parser = Warmup::parse)]
    pub warmup: Warmup,
}

pub fn parse_format(s: &str) -> Result<Format, String> {
    s.parse::<Format>().map_err(|e| e.to_string())
}

pub fn compare(args: &CompareArgs) -> anyhow::Result<ExitCode> {
    let loaded = load::scenario(&args.scenario)?;
    if let Some(out) = &args.out {
        crate::output::check_target(Path::new(out))?;
    }
    let seeds = parse_seeds(args.seeds.as_deref().unwrap_or("1..10"))?;
    let deliveries = parse_deliveries(&args.delivery)?;
    let sweeps = parse_sweeps(&args.set)?;
    let mut specs = Vec::new();
    let mut scenarios = Vec::new();
    for d in &deliveries {
        for combo in combinations(&sweeps) {
            let mut s = loaded.scenario.clone();
            s.set_delivery(*d);
            for (k, v) in &combo {
                apply_setting(&mut s, k, v)?;
            }
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
    let jobs: Vec<(usize, u64)> = (0..scenarios.len())
        .flat_map(|v| seeds.iter().map(move |s| (v, *s)))
        .collect();
    let at_once = rayon::current_num_threads().min(jobs.len());
    for s in &scenarios {
        crate::load::check_fits(s, &args.scenario, at_once)?;
    }
    let runs = run_parallel(&scenarios, &loaded.source, &jobs);
    let input = Input {
        scenario_path: &args.scenario,
        seeds: &seeds,
        variants: &specs,
        ordered: loaded.scenario.consumers.iter().any(|c| c.ordered),
        warmup: args.warmup,
    };
    let comparison = Comparison::build(&input, runs);
    let held = comparison.claims_held();
    emit(
        &Report::Comparison(Box::new(comparison)),
        args.json,
        args.report,
        args.out.as_deref(),
        args.warmup,
    )?;
    Ok(if held {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Renders `report` as `format` into memory, so that a failure never reaches a file.
pub fn render(report: &Report, format: Format) -> anyhow::Result<Vec<u8>> {
    render_with(report, format, Warmup::None)
}

fn render_with(report: &Report, format: Format, warmup: Warmup) -> anyhow::Result<Vec<u8>> {
    let mut buf = Vec::new();
    mqlab_reports::write(report, format, &Options { warmup }, &mut buf)?;
    Ok(buf)
}

/// Prints or writes a result: `--json` to stdout, `--report` to `--out` or stdout, JSON to
/// `--out` when no format is named, and otherwise the Markdown tables on stdout.
pub fn emit(
    report: &Report,
    json: bool,
    format: Option<Format>,
    out: Option<&str>,
    warmup: Warmup,
) -> anyhow::Result<()> {
    if let Some(path) = out {
        let bytes = render_with(report, format.unwrap_or(Format::Json), warmup)?;
        crate::output::write(Path::new(path), &bytes)?;
    }
    let stdout_format = match (json, out, format) {
        (true, _, _) => Some(Format::Json),
        (false, None, f) => Some(f.unwrap_or(Format::Markdown)),
        // `--report F --out FILE`: the file is the output, stdout stays quiet.
        (false, Some(_), Some(_)) => None,
        // `--out FILE` alone saves the JSON result and still shows the tables.
        (false, Some(_), None) => Some(Format::Markdown),
    };
    if let Some(f) = stdout_format {
        use std::io::Write;
        std::io::stdout()
            .lock()
            .write_all(&render_with(report, f, warmup)?)?;
    }
    Ok(())
}

/// Runs `jobs` (scenario index, seed) over rayon's pool and returns the results in job
/// order. A progress bar goes to stderr only when stderr is a terminal.
pub fn run_parallel(
    scenarios: &[Scenario],
    source: &str,
    jobs: &[(usize, u64)],
) -> Vec<RunSummary> {
    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(jobs.len() as u64);
        if let Ok(style) =
            ProgressStyle::with_template("{bar:40} {pos}/{len} runs {elapsed} (eta {eta})")
        {
            bar.set_style(style);
        }
        bar
    } else {
        ProgressBar::hidden()
    };
    let runs = jobs
        .par_iter()
        .map(|&(v, seed)| {
            let r = run::simulate(&scenarios[v], source, seed);
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
        // Every run is kept for the JSON (about 160 KB each, mostly its latency histogram):
        // 10000 seeds of three variants is already ~5 GB.
        if b < a || b - a >= 10_000 {
            bail!(
                "{}: the range must be increasing and at most 10000 seeds",
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

const KEYS: &str = "duration, drain, broker.capacity, broker.max_receives, broker.visibility_timeout, \
broker.on_full, broker.high_watermark, broker.low_watermark, broker.spill_capacity, broker.spill_latency, \
producer.NAME.rate, producer.NAME.retry_backoff, producer.NAME.publish, producer.NAME.reply_timeout, \
producer.NAME.correlation, consumer.GROUP.instances, consumer.GROUP.commit_interval, \
consumer.GROUP.service_time, consumer.GROUP.max_retries, consumer.GROUP.backoff, \
consumer.GROUP.resequence, consumer.GROUP.gap_timeout, consumer.GROUP.idempotence, topic.NAME.partitions";

/// Sets one scenario field from a `--set` key; unknown keys and bad values are errors that
/// name the key and list what is accepted.
pub fn apply_setting(s: &mut Scenario, key: &str, value: &str) -> anyhow::Result<()> {
    let ctx = || format!("--set {key}={value}");
    let parts: Vec<&str> = key.split('.').collect();
    match parts.as_slice() {
        ["duration"] => {
            s.duration = parse_duration(value)
                .map_err(anyhow::Error::msg)
                .with_context(ctx)?
        }
        ["drain"] => {
            s.drain = parse_duration(value)
                .map_err(anyhow::Error::msg)
                .with_context(ctx)?
        }
        ["broker", "capacity"] => {
            *s.broker.capacity.get_mut() = positive(value).with_context(ctx)?
        }
        ["broker", "max_receives"] => {
            *s.broker.max_receives.get_mut() = positive(value).with_context(ctx)?
        }
        ["broker", "visibility_timeout"] => {
            s.broker.visibility_timeout = parse_duration(value)
                .map_err(anyhow::Error::msg)
                .with_context(ctx)?;
        }
        ["broker", field] => set_broker(s, field, value).with_context(ctx)?,
        ["producer", name, "retry_backoff"] => {
            let p = s.producers.iter_mut().find(|p| p.name.get_ref() == name);
            let p = p.with_context(|| format!("{}: no producer `{name}`", ctx()))?;
            p.retry_backoff = Some(
                parse_duration(value)
                    .map_err(anyhow::Error::msg)
                    .with_context(ctx)?,
            );
        }
        ["producer", name, "rate"] => {
            let p = s.producers.iter_mut().find(|p| p.name.get_ref() == name);
            let p = p.with_context(|| format!("{}: no producer `{name}`", ctx()))?;
            let rate: f64 = value
                .parse()
                .ok()
                .filter(|r: &f64| r.is_finite() && *r > 0.0)
                .with_context(|| format!("{}: the rate must be a positive number", ctx()))?;
            *p.rate.get_mut() = rate;
        }
        ["producer", name, "publish"] => {
            let p = s.producers.iter_mut().find(|p| p.name.get_ref() == name);
            let p = p.with_context(|| format!("{}: no producer `{name}`", ctx()))?;
            let publish = mqlab_sim::scenario::Publish::parse(value).with_context(|| {
                format!("{}: direct, dual-write, publish-first or outbox", ctx())
            })?;
            p.set_publish(publish);
        }
        ["producer", name, field @ ("reply_timeout" | "correlation")] => {
            set_requester(s, name, field, value).with_context(ctx)?;
        }
        ["topic", name, "partitions"] => {
            let t = s.topics.iter_mut().find(|t| t.name.get_ref() == name);
            let t = t.with_context(|| format!("{}: no topic `{name}`", ctx()))?;
            *t.partitions.get_mut() = positive(value).with_context(ctx)?;
        }
        ["consumer", group, field] => set_consumer(s, group, field, value).with_context(ctx)?,
        _ => bail!("{}: unknown key (accepted: {KEYS})", ctx()),
    }
    // A value can contradict another setting (spill on a log, a watermark above capacity).
    s.check()
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("{}: the scenario is no longer valid", ctx()))?;
    // Fewer instances can strand a fault's target, which the engine would reject later.
    for f in &s.faults {
        if resolve_target(s, f.target.get_ref()).is_none() {
            bail!(
                "{}: fault target `{}` no longer exists",
                ctx(),
                f.target.get_ref()
            );
        }
    }
    Ok(())
}

/// One `broker.FIELD` setting beyond the common ones; errors get the `--set` context.
fn set_broker(s: &mut Scenario, field: &str, value: &str) -> anyhow::Result<()> {
    let b = &mut s.broker;
    let number = || positive::<u64>(value);
    match field {
        "on_full" => {
            *b.on_full.get_mut() = match value {
                "block" => OnFull::Block,
                "drop-oldest" => OnFull::DropOldest,
                "reject" => OnFull::Reject,
                "spill" => OnFull::Spill,
                _ => bail!("expected block, drop-oldest, reject or spill"),
            };
        }
        "high_watermark" => b.high_watermark = Some(Spanned::new(0..0, number()?)),
        "low_watermark" => b.low_watermark = Some(Spanned::new(0..0, number()?)),
        "spill_capacity" => b.spill_capacity = Some(Spanned::new(0..0, number()?)),
        "spill_latency" => b.spill_latency = Dist::parse(value).map_err(anyhow::Error::msg)?,
        _ => bail!("unknown key (accepted: {KEYS})"),
    }
    Ok(())
}

/// A requester's `reply_timeout` (positive) or `correlation` (`id` or `none`, only on a
/// producer that is a requester); errors get the `--set` context from the caller.
fn set_requester(s: &mut Scenario, name: &str, field: &str, value: &str) -> anyhow::Result<()> {
    let p = s.producers.iter_mut().find(|p| p.name.get_ref() == name);
    let p = p.with_context(|| format!("no producer `{name}`"))?;
    if field == "reply_timeout" {
        let t = parse_duration(value).map_err(anyhow::Error::msg)?;
        if t.is_zero() {
            bail!("reply_timeout must be greater than zero");
        }
        p.set_request_reply(Some(t), None);
        return Ok(());
    }
    if p.reply_timeout.is_none() {
        bail!("`correlation` needs `reply_timeout` (a requester)");
    }
    let c = match value {
        "id" => mqlab_sim::scenario::Correlation::Id,
        "none" => mqlab_sim::scenario::Correlation::None,
        _ => bail!("expected `id` or `none`"),
    };
    p.set_request_reply(None, Some(c));
    Ok(())
}

/// One `consumer.GROUP.FIELD` setting; errors get the `--set` context from the caller.
fn set_consumer(s: &mut Scenario, group: &str, field: &str, value: &str) -> anyhow::Result<()> {
    let c = s.consumers.iter_mut().find(|c| c.group.get_ref() == group);
    let c = c.with_context(|| format!("no consumer group `{group}`"))?;
    let dur = || parse_duration(value).map_err(anyhow::Error::msg);
    match field {
        "instances" => *c.instances.get_mut() = positive(value)?,
        "commit_interval" => c.commit_interval = dur()?,
        "backoff" => c.backoff = dur()?,
        "max_retries" => c.max_retries = value.parse()?,
        "service_time" => c.service_time = Dist::parse(value).map_err(anyhow::Error::msg)?,
        "resequence" => {
            let on: bool = value.parse()?;
            c.set_resequence(on);
            // The resequencer's own settings go with it: `resequence=true,false` on a
            // scenario that tunes them (ordering.toml) compares with and without it.
            if !on {
                c.resequence_buffer = None;
                c.gap_timeout = None;
            }
        }
        "idempotence" => {
            let mode = mqlab_sim::scenario::Idempotence::parse(value)
                .context("expected none, check-then-mark, claim or transactional")?;
            // A mode refines at-least-once; the other variants keep their own (at-most-once
            // none, exactly-once transactional), so `--delivery all` stays what it says.
            if c.delivery == Delivery::AtLeastOnce {
                c.set_idempotence(mode);
            }
        }
        "gap_timeout" if !c.resequences() => bail!("gap_timeout needs resequence = true"),
        "gap_timeout" => match dur()? {
            d if d.is_zero() => bail!("gap_timeout must be greater than zero"),
            d => c.set_gap_timeout(d),
        },
        _ => bail!("unknown key (accepted: {KEYS})"),
    }
    Ok(())
}

fn positive<T: std::str::FromStr + PartialOrd + Default>(value: &str) -> anyhow::Result<T> {
    match value.parse::<T>() {
        Ok(v) if v > T::default() => Ok(v),
        _ => bail!("expected a whole number greater than zero"),
    }
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
