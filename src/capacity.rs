//! `mqlab capacity`: the highest rate of one producer that the system sustains on every seed
//! while the SLO holds, nothing is lost or shed, and the backlog stays bounded — a max-rate
//! search that refuses to count a rate as sustained if it quietly loses messages.
//!
//! Search: bracket by doubling (or halving) from the scenario's own rate, then bisect until
//! the bracket is within `--precision`. Every probe runs all seeds in parallel.

use crate::compare::{parse_seeds, run_parallel};
use crate::load;
use crate::slo::{self, Bound};
use anyhow::{Context, bail};
use mqlab_reports::Warmup;
use mqlab_reports::phases::backlog;
use mqlab_sim::{Delivery, RunSummary};
use serde_json::json;
use std::fmt::Write as _;
use std::process::ExitCode;

/// Arguments of `mqlab capacity`.
#[derive(clap::Args, Debug)]
pub struct CapacityArgs {
    /// The scenario file.
    pub scenario: String,
    /// The producer whose rate is searched.
    #[arg(long)]
    pub producer: String,
    /// The objective: `METRIC[(GROUP)]<DURATION`, several joined by commas or given as
    /// repeated flags (`p99(payments)<50ms,p50<5ms`); every bound must hold. Metrics:
    /// mean, p50, p90, p99, p999, max of end-to-end latency; without a group, of every
    /// group's copies merged.
    #[arg(long, required = true, value_name = "SLO")]
    pub slo: Vec<String>,
    /// Judge the latency bounds only on copies whose life touched no fault window (the
    /// loss, shedding and backlog checks still cover the whole run).
    #[arg(long)]
    pub outside_faults: bool,
    /// Seeds, as for `compare` (default 1..5). Every seed must pass.
    #[arg(long)]
    pub seeds: Option<String>,
    /// Delivery variant for every group (default: the scenario's).
    #[arg(long, value_parser = crate::run::parse_delivery)]
    pub delivery: Option<Delivery>,
    /// Change a scenario key, `KEY=VALUE` (repeatable), as `run --set` does.
    #[arg(long, value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Stop when the bracket is narrower than this fraction of the rate.
    #[arg(long, default_value_t = 0.02)]
    pub precision: f64,
    /// Warm-up discarded before judging the backlog's growth: none, mser5, or a duration.
    #[arg(long, default_value = "none", value_parser = Warmup::parse)]
    pub warmup: Warmup,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// What one rate did over every seed.
struct Probe {
    rate: f64,
    pass: bool,
    /// Why it failed, first seed's reasons (empty when it passed).
    why: String,
    worst_latency_s: f64,
    lost_max: u64,
    dropped_max: u64,
    /// Largest backlog growth over seeds: copies that arrived but were not processed in the
    /// fault-free steady stretch, as a fraction of those that arrived.
    growth_max: f64,
}

/// A system that leaves more than 1% of what arrives unprocessed while no fault is active
/// is falling behind: its backlog grows without bound however long the run. Twenty copies
/// of slack keep a handful of in-flight messages at very low rates from counting as growth.
/// After a fault the lag must come back to its pre-fault mean within the run (the drain
/// included).
const GROWTH_LIMIT: f64 = 0.01;
const GROWTH_SLACK: f64 = 20.0;

fn judge(rate: f64, runs: &[RunSummary], slo: &[Bound], outside: bool, warmup: Warmup) -> Probe {
    let mut why = String::new();
    let mut growth_max: f64 = 0.0;
    for r in runs {
        let b = backlog(r, warmup.cut_s(r));
        let growth = if b.arrived > 0.0 {
            b.excess / b.arrived
        } else {
            0.0
        };
        let grows = b.excess > (GROWTH_LIMIT * b.arrived).max(GROWTH_SLACK);
        growth_max = growth_max.max(growth);
        if !why.is_empty() {
            continue;
        }
        for b in slo {
            if let Err(broken) = b.judge(r, outside) {
                let _ = write!(why, "seed {}: {broken}; ", r.seed);
            }
        }
        if r.messages.lost > 0 || r.messages.dropped > 0 {
            let _ = write!(
                why,
                "seed {}: lost {} dropped {}; ",
                r.seed, r.messages.lost, r.messages.dropped
            );
        }
        if let Some(fault) = &b.unrecovered {
            let _ = write!(why, "seed {}: lag never recovered after {fault}; ", r.seed);
        }
        if grows {
            let _ = write!(
                why,
                "seed {}: {:.1}% of arrivals left unprocessed; ",
                r.seed,
                growth * 100.0
            );
        }
    }
    Probe {
        rate,
        pass: why.is_empty(),
        why: why.trim_end_matches("; ").to_string(),
        worst_latency_s: runs
            .iter()
            .filter_map(|r| slo.first().and_then(|b| b.value_s(r, outside)))
            .fold(0.0, f64::max),
        lost_max: runs.iter().map(|r| r.messages.lost).max().unwrap_or(0),
        dropped_max: runs.iter().map(|r| r.messages.dropped).max().unwrap_or(0),
        growth_max,
    }
}

pub fn capacity(args: &CapacityArgs) -> anyhow::Result<ExitCode> {
    let settings = load::settings(&args.set)?;
    let loaded = load::scenario_with(&args.scenario, &settings)?;
    let slo = slo::parse_all(&args.slo, &loaded.scenario)?;
    let seeds = parse_seeds(args.seeds.as_deref().unwrap_or("1..5"))?;
    if !(args.precision > 0.0 && args.precision < 1.0) {
        bail!("--precision must be between 0 and 1");
    }
    let base = loaded.scenario.clone();
    let start = base
        .producers
        .iter()
        .find(|p| p.name.get_ref() == &args.producer)
        .map(|p| *p.rate.get_ref())
        .with_context(|| {
            format!(
                "--producer: no producer `{}` in {}",
                args.producer, args.scenario
            )
        })?;
    let mut probes: Vec<Probe> = Vec::new();
    let mut probe = |rate: f64| -> anyhow::Result<bool> {
        let mut at_rate = settings.clone();
        at_rate.push((
            format!("producer.{}.rate", args.producer),
            format!("{rate}"),
        ));
        let mut s = load::with_settings(&loaded, &args.scenario, &at_rate)?;
        if let Some(d) = args.delivery {
            load::set_delivery(&mut s, d, &settings);
        }
        let jobs: Vec<(usize, u64)> = seeds.iter().map(|&seed| (0, seed)).collect();
        let p = match run_parallel(std::slice::from_ref(&s), &loaded.source, &jobs) {
            Ok(runs) => judge(rate, &runs, &slo, args.outside_faults, args.warmup),
            // A backlog that outgrew the machine: this rate is past what the system keeps
            // up with, as surely as one whose backlog grows within the run.
            Err(e) => Probe {
                rate,
                pass: false,
                // Up to the count: the rest (the budget and what to do) is the same for
                // every such probe.
                why: match e.downcast_ref::<mqlab_sim::engine::Stopped>() {
                    Some(s) => format!("{e}: {}; past half of the memory a run may use", s.short()),
                    None => format!("{e:#}"),
                },
                worst_latency_s: f64::INFINITY,
                lost_max: 0,
                dropped_max: 0,
                growth_max: f64::INFINITY,
            },
        };
        let pass = p.pass;
        probes.push(p);
        Ok(pass)
    };
    let found = search(start, args.precision, &mut probe)?;
    print_result(args, &seeds, found, &mut probes)?;
    Ok(if found.is_some() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The highest rate at which `probe` passes: bracket by doubling or halving from `start`
/// (at most 12 times, a factor of 4096 either way), then bisect until the bracket is within
/// `precision` of its lower end. `None` when every rate tried fails.
fn search(
    start: f64,
    precision: f64,
    probe: &mut impl FnMut(f64) -> anyhow::Result<bool>,
) -> anyhow::Result<Option<f64>> {
    let (mut lo, mut hi) = (None::<f64>, None::<f64>);
    let mut rate = start;
    for _ in 0..12 {
        if probe(rate)? {
            lo = Some(rate);
            rate *= 2.0;
        } else {
            hi = Some(rate);
            rate /= 2.0;
        }
        if lo.is_some() && hi.is_some() {
            break;
        }
    }
    let (Some(mut l), Some(mut h)) = (lo, hi) else {
        return Ok(lo);
    };
    // 30 halvings take any bracket below any sane precision.
    for _ in 0..30 {
        if (h - l) / l <= precision {
            break;
        }
        let mid = 0.5 * (l + h);
        if probe(mid)? {
            l = mid;
        } else {
            h = mid;
        }
    }
    Ok(Some(l))
}

fn print_result(
    args: &CapacityArgs,
    seeds: &[u64],
    found: Option<f64>,
    probes: &mut [Probe],
) -> std::io::Result<()> {
    probes.sort_by(|a, b| a.rate.total_cmp(&b.rate));
    if args.json {
        let rows: Vec<_> = probes
            .iter()
            .map(|p| json!({"rate_per_s": p.rate, "pass": p.pass, "why": p.why, "worst_latency_s": p.worst_latency_s,
                "lost_max": p.lost_max, "dropped_max": p.dropped_max, "backlog_growth_max": p.growth_max}))
            .collect();
        let out = json!({"scenario": args.scenario, "producer": args.producer, "slo": args.slo.join(","),
            "outside_faults": args.outside_faults, "seeds": seeds,
            "warmup": args.warmup.to_string(), "rate_per_s": found, "probes": rows});
        crate::outln!("{}", serde_json::to_string_pretty(&out).unwrap_or_default())?;
        return Ok(());
    }
    let first = seeds.first().copied().unwrap_or(0);
    let last = seeds.last().copied().unwrap_or(0);
    crate::outln!(
        "mqlab capacity {} --producer {} --slo '{}'{}   ({} seeds {first}..={last}, warm-up {})",
        args.scenario,
        args.producer,
        args.slo.join(","),
        if args.outside_faults {
            " --outside-faults"
        } else {
            ""
        },
        seeds.len(),
        args.warmup
    )?;
    match found {
        Some(r) => crate::outln!(
            "\ncapacity: {r:.1} msg/s — the highest rate at which every seed met the SLO with nothing lost or shed and a bounded backlog"
        )?,
        None => crate::outln!("\ncapacity: not found — even the lowest rate tried failed")?,
    }
    crate::outln!(
        "\n| rate/s | result | worst {} | lost max | dropped max | unprocessed max | why |",
        args.slo
            .first()
            .and_then(|s| s.split(['<', ',']).next())
            .unwrap_or("p99")
            .trim()
    )?;
    crate::outln!("| --- | --- | --- | --- | --- | --- | --- |")?;
    for p in probes.iter() {
        let mark = if Some(p.rate) == found { " ◀" } else { "" };
        crate::outln!(
            "| {:.1}{mark} | {} | {:.3} ms | {} | {} | {:.2}% | {} |",
            p.rate,
            if p.pass { "pass" } else { "FAIL" },
            p.worst_latency_s * 1e3,
            p.lost_max,
            p.dropped_max,
            p.growth_max * 100.0,
            p.why
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_finds_the_threshold_from_either_side() {
        for start in [100.0, 1234.0, 50_000.0] {
            let mut calls = 0;
            let found = search(start, 0.02, &mut |r| {
                calls += 1;
                Ok(r <= 1234.0)
            })
            .unwrap()
            .unwrap();
            assert!(
                found <= 1234.0 && found > 1234.0 / 1.02,
                "start {start}: {found}"
            );
            assert!(calls < 20, "{calls} probes");
        }
        assert_eq!(search(10.0, 0.02, &mut |_| Ok(false)).unwrap(), None);
    }
}
