//! The aggregate of a `compare`: per variant (delivery × `--set` values), statistics over
//! seeds with intervals, the guarantees each delivery claims and whether they held, fault
//! phases, and paired differences between variants. Built from runs already made; this
//! module never runs the engine, so the binary decides how runs are spread over threads.

mod builder;
mod digest;
mod guarantees;
pub use builder::Builder;
use builder::record;
pub use digest::Digest;
pub use guarantees::{reproduce, shell_word};

use crate::ReportError;
use crate::phases::{self, Warmup};
use crate::stats::{Estimate, paired_difference};
use hdrhistogram::Histogram;
use mqlab_sim::RunSummary;
use mqlab_sim::metrics::new_histogram;
use mqlab_sim::summary::histogram::buckets;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One variant: a delivery and the `--set` values it ran with.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VariantSpec {
    /// Human label, `delivery` then each `key=value`.
    pub label: String,
    /// Delivery variant, in scenario-file spelling.
    pub delivery: String,
    /// `--set` keys and the value this variant used.
    pub settings: BTreeMap<String, String>,
}

/// What the binary hands over: the runs, variant-major (`runs[v * seeds.len() + i]` is
/// variant `v` on `seeds[i]`), and how to name the command that reproduces a run.
#[derive(Clone, Debug)]
pub struct Input<'a> {
    /// Scenario path as the user typed it, for reproduce commands.
    pub scenario_path: &'a str,
    /// The seeds, in order.
    pub seeds: &'a [u64],
    /// The variants, in order.
    pub variants: &'a [VariantSpec],
    /// Whether any group of the scenario declares `ordered = true`.
    pub ordered: bool,
    /// Warm-up rule for steady-state statistics.
    pub warmup: Warmup,
}

/// The whole comparison, as `mqlab compare --json` prints it (with the runs).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// mqlab version that produced it.
    pub version: String,
    /// Scenario name.
    pub scenario: String,
    /// Scenario path as given on the command line.
    pub scenario_path: String,
    /// FNV-1a of the scenario source.
    pub scenario_hash: String,
    /// Seeds every variant ran on (common random numbers).
    pub seeds: Vec<u64>,
    /// The warm-up rule applied to steady-state statistics.
    pub warmup: Warmup,
    /// Per-variant aggregates, in variant order.
    pub variants: Vec<VariantStats>,
    /// Paired differences between variants.
    pub differences: Vec<Difference>,
    /// Every run, variant-major then seed order.
    pub runs: Vec<RunSummary>,
}

/// Mean, range and how many seeds were non-zero, for a count per run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CountStats {
    /// Mean over seeds.
    pub mean: f64,
    /// Smallest.
    pub min: u64,
    /// Largest.
    pub max: u64,
    /// Seeds on which it was above 0.
    pub nonzero_seeds: usize,
}

impl CountStats {
    fn of(values: &[u64]) -> CountStats {
        #[allow(clippy::cast_precision_loss)]
        let as_f: Vec<f64> = values.iter().map(|v| *v as f64).collect();
        CountStats {
            mean: crate::stats::mean(&as_f),
            min: values.iter().copied().min().unwrap_or(0),
            max: values.iter().copied().max().unwrap_or(0),
            nonzero_seeds: values.iter().filter(|v| **v > 0).count(),
        }
    }
}

/// A guarantee and whether it held on every seed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Guarantee {
    /// `guarantee GROUP (DELIVERY)` (or `no loss`, `no duplicates`), `conservation`,
    /// `in order`, or `expect <check>`.
    pub name: String,
    /// True when the delivery variant promises it (a violation is a bug, exit 1); false for
    /// the scenario's `[expect]` checks, which a weaker variant may fail by design.
    pub claimed: bool,
    /// Held on every seed.
    pub held: bool,
    /// Seeds on which it failed.
    pub violated_seeds: usize,
    /// The first (lowest-listed) seed that failed.
    pub first_seed: Option<u64>,
    /// The command that reproduces that failure.
    pub reproduce: Option<String>,
}

/// One fault window's phases over seeds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PhaseStats {
    /// `kind target`.
    pub fault: String,
    /// Window start.
    pub start_s: f64,
    /// Window end.
    pub end_s: f64,
    /// Processed per second before, during, after.
    pub processed_per_s: [Estimate; 3],
    /// Mean lag before, during, after.
    pub lag_mean: [Estimate; 3],
    /// Time to recover, over the seeds that recovered.
    pub recover_s: Estimate,
    /// Seeds whose lag never came back to its pre-fault level.
    pub not_recovered: usize,
}

/// One variant over every seed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct VariantStats {
    /// Which variant.
    pub spec: VariantSpec,
    /// Indices of its runs in `Comparison::runs`.
    pub runs: Vec<usize>,
    /// The delivery the runs actually had (the runs' `delivery`, joined with `/` if they
    /// differ): a pub/sub group stays at-most-once whatever was asked.
    #[serde(default)]
    pub ran_as: String,
    /// `lost`, `duplicated`, `out_of_order`, `dead_lettered`, `dropped`.
    pub counts: BTreeMap<String, CountStats>,
    /// End-to-end p50 latency, seconds.
    pub latency_p50_s: Estimate,
    /// End-to-end p99 latency, seconds.
    pub latency_p99_s: Estimate,
    /// End-to-end p99.9 latency, seconds.
    pub latency_p999_s: Estimate,
    /// Mean wait (broker arrival to first processing), copies-weighted over groups.
    pub wait_mean_s: Estimate,
    /// Processed copies per second over the steady producing period.
    pub throughput_per_s: Estimate,
    /// Largest lag of the run.
    pub max_lag: CountStats,
    /// Seconds discarded as warm-up.
    pub warmup_s: Estimate,
    /// Guarantees and expectations.
    pub guarantees: Vec<Guarantee>,
    /// Per fault window.
    pub phases: Vec<PhaseStats>,
    /// Seconds after producers stop until the lag is 0, over the seeds that drained.
    pub drain_s: Estimate,
    /// Seeds that never drained.
    pub not_drained: usize,
    /// What a full broker did, mean per seed: present on every variant when any run of the
    /// comparison filled its broker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overflow: Option<OverflowMeans>,
    /// End-to-end latency of every run of the variant, merged: nonzero `[value_ns, count]`
    /// buckets, in JSON HdrHistogram's compressed V2 encoding in base64 (the runs of a
    /// comparison carry none of their own).
    #[serde(default, with = "mqlab_sim::summary::histogram")]
    pub latency_histogram: Vec<[u64; 2]>,
}

/// A full broker's answers, mean per seed (0 for a seed whose broker never filled).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OverflowMeans {
    /// Messages acknowledged to producers.
    pub acked: f64,
    /// Producer pauses at the high watermark.
    pub pauses: f64,
    /// Seconds paused.
    pub paused_s: f64,
    /// Sends refused.
    pub rejections: f64,
    /// Refusals answered with a resend.
    pub resent: f64,
    /// Messages spilled.
    pub spilled: f64,
    /// Most messages spilled at once.
    pub spill_max: f64,
    /// Held sends whose timeout ran out (block).
    #[serde(default)]
    pub held_timeouts: f64,
}

impl OverflowMeans {
    #[allow(clippy::cast_precision_loss)]
    fn of(runs: &[Digest]) -> OverflowMeans {
        let mean = |get: &dyn Fn(&Digest) -> f64| {
            runs.iter().map(get).sum::<f64>() / runs.len().max(1) as f64
        };
        let of = |get: fn(&mqlab_sim::summary::Overflow) -> u64| {
            move |r: &Digest| r.overflow.as_ref().map_or(0.0, |o| get(o) as f64)
        };
        OverflowMeans {
            acked: mean(&|r| r.acked as f64),
            pauses: mean(&of(|o| o.pauses)),
            paused_s: mean(&|r| r.overflow.as_ref().map_or(0.0, |o| o.paused_s)),
            rejections: mean(&of(|o| o.rejections)),
            resent: mean(&of(|o| o.resent)),
            spilled: mean(&of(|o| o.spilled)),
            spill_max: mean(&of(|o| o.spill_max)),
            held_timeouts: mean(&of(|o| o.held_timeouts)),
        }
    }
}

/// `b − a` for one metric, seed by seed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Difference {
    /// Label of variant a.
    pub a: String,
    /// Label of variant b.
    pub b: String,
    /// Metric name (as in `VariantStats`).
    pub metric: String,
    /// The paired difference with its interval.
    pub estimate: Estimate,
}

/// Reads one figure from a run's digest.
type Metric = fn(&Digest) -> f64;

/// The metrics compared pairwise, with how to read each from a run.
const PAIRED: [(&str, Metric); 5] = [
    ("lost", |r| u64_f(r.lost)),
    ("duplicated", |r| u64_f(r.duplicated)),
    ("latency_p99_s", |r| r.latency_p99_s),
    ("wait_mean_s", |r| r.wait_mean_s),
    // The one throughput, as in the variant table (after the warm-up cut).
    ("throughput_per_s", |r| r.steady_per_s),
];

#[allow(clippy::cast_precision_loss)]
fn u64_f(v: u64) -> f64 {
    v as f64
}

/// Copies-weighted mean wait over the groups of a run.
#[must_use]
pub fn wait_mean_s(r: &RunSummary) -> f64 {
    let copies: u64 = r.groups.iter().map(|g| g.copies).sum();
    if copies == 0 {
        return 0.0;
    }
    r.groups
        .iter()
        .map(|g| g.wait_mean_s * u64_f(g.copies))
        .sum::<f64>()
        / u64_f(copies)
}

impl Comparison {
    /// Aggregates `runs` (variant-major, seed-aligned; see `Input`) and keeps them, each
    /// without its latency histogram (merged into its variant's).
    ///
    /// # Panics
    /// When `runs.len() != variants.len() * seeds.len()` (the binary builds both), or a run's
    /// histogram is not one the engine made.
    #[must_use]
    pub fn build(input: &Input<'_>, runs: Vec<RunSummary>) -> Comparison {
        let mut builder = Builder::new(input);
        let runs: Vec<RunSummary> = runs
            .into_iter()
            .map(|r| builder.push(r).expect("histograms the engine made"))
            .collect();
        Comparison {
            runs,
            ..builder.finish(input)
        }
    }

    /// Aggregates runs reduced to digests, and each variant's merged histogram; `runs` stays
    /// empty.
    pub(super) fn of_digests(
        input: &Input<'_>,
        digests: &[Digest],
        histograms: &[Histogram<u64>],
    ) -> Comparison {
        let ns = input.seeds.len();
        assert_eq!(
            digests.len(),
            input.variants.len() * ns,
            "one run per variant and seed"
        );
        let any_overflow = digests.iter().any(|d| d.overflow.is_some());
        let variants: Vec<VariantStats> = input
            .variants
            .iter()
            .enumerate()
            .map(|(v, spec)| {
                let range = v * ns..(v + 1) * ns;
                let mut stats = variant_stats(input, spec, &digests[range.clone()]);
                stats.runs = range.clone().collect();
                stats.overflow = any_overflow.then(|| OverflowMeans::of(&digests[range]));
                stats.latency_histogram = histograms.get(v).map(buckets).unwrap_or_default();
                stats
            })
            .collect();
        let differences = differences(&variants, digests);
        let first = digests.first();
        Comparison {
            version: first.map(|r| r.version.clone()).unwrap_or_default(),
            scenario: first.map(|r| r.scenario.clone()).unwrap_or_default(),
            scenario_path: input.scenario_path.to_string(),
            scenario_hash: first.map(|r| r.scenario_hash.clone()).unwrap_or_default(),
            seeds: input.seeds.to_vec(),
            warmup: input.warmup,
            variants,
            differences,
            runs: Vec::new(),
        }
    }

    /// Results written before the per-variant `overflow` means and histograms carry those
    /// figures only in their runs: computes them from the runs.
    ///
    /// # Errors
    /// A run's histogram is not one the engine could have made.
    pub(crate) fn restore_from_runs(&mut self) -> Result<(), ReportError> {
        let overflowed = self.runs.iter().any(|r| r.overflow.is_some());
        let restore_overflow = overflowed && self.variants.iter().all(|v| v.overflow.is_none());
        for v in &mut self.variants {
            let runs: Vec<&RunSummary> = v.runs.iter().filter_map(|&i| self.runs.get(i)).collect();
            if restore_overflow {
                let d: Vec<Digest> = runs.iter().map(|r| Digest::of(r, self.warmup)).collect();
                v.overflow = Some(OverflowMeans::of(&d));
            }
            if v.latency_histogram.is_empty() {
                let mut h = new_histogram();
                for r in runs {
                    record(&mut h, &r.latency_histogram)?;
                }
                v.latency_histogram = buckets(&h);
            }
        }
        // As this version writes a comparison: the histograms live in the variants.
        for r in &mut self.runs {
            r.latency_histogram = Vec::new();
        }
        Ok(())
    }

    /// True when no variant broke a guarantee it claims.
    #[must_use]
    pub fn claims_held(&self) -> bool {
        self.variants
            .iter()
            .flat_map(|v| &v.guarantees)
            .all(|g| g.held || !g.claimed)
    }
}

fn variant_stats(input: &Input<'_>, spec: &VariantSpec, runs: &[Digest]) -> VariantStats {
    let f = |get: fn(&Digest) -> f64| Estimate::of(&runs.iter().map(get).collect::<Vec<_>>());
    let count = |get: fn(&Digest) -> u64| CountStats::of(&runs.iter().map(get).collect::<Vec<_>>());
    let mut counts = BTreeMap::new();
    counts.insert("lost".into(), count(|r| r.lost));
    counts.insert("duplicated".into(), count(|r| r.duplicated));
    counts.insert("out_of_order".into(), count(|r| r.out_of_order));
    counts.insert("dead_lettered".into(), count(|r| r.dead_lettered));
    counts.insert("dropped".into(), count(|r| r.dropped));
    let drains: Vec<f64> = runs.iter().filter_map(|r| r.drain_s).collect();
    let mut ran_as: Vec<&str> = runs.iter().map(|r| r.delivery.as_str()).collect();
    ran_as.dedup();
    VariantStats {
        spec: spec.clone(),
        ran_as: ran_as.join("/"),
        runs: Vec::new(),
        counts,
        latency_p50_s: f(|r| r.latency_p50_s),
        latency_p99_s: f(|r| r.latency_p99_s),
        latency_p999_s: f(|r| r.latency_p999_s),
        wait_mean_s: f(|r| r.wait_mean_s),
        throughput_per_s: f(|r| r.steady_per_s),
        max_lag: count(|r| r.max_lag),
        warmup_s: f(|r| r.cut_s),
        guarantees: guarantees::check(input, spec, runs),
        phases: phase_stats(runs),
        not_drained: runs.len() - drains.len(),
        drain_s: Estimate::of(&drains),
        overflow: None,
        latency_histogram: Vec::new(),
    }
}

fn phase_stats(runs: &[Digest]) -> Vec<PhaseStats> {
    let per_run: Vec<&Vec<phases::FaultPhases>> = runs.iter().map(|r| &r.phases).collect();
    let Some(first) = per_run.first() else {
        return Vec::new();
    };
    (0..first.len())
        .map(|k| {
            let of = |get: fn(&phases::FaultPhases) -> f64| {
                Estimate::of(
                    &per_run
                        .iter()
                        .filter_map(|p| p.get(k))
                        .map(get)
                        .collect::<Vec<_>>(),
                )
            };
            let recovered: Vec<f64> = per_run.iter().filter_map(|p| p.get(k)?.recover_s).collect();
            PhaseStats {
                fault: first[k].fault.clone(),
                start_s: first[k].start_s,
                end_s: first[k].end_s,
                processed_per_s: [
                    of(|p| p.before.processed_per_s),
                    of(|p| p.during.processed_per_s),
                    of(|p| p.after.processed_per_s),
                ],
                lag_mean: [
                    of(|p| p.before.lag_mean),
                    of(|p| p.during.lag_mean),
                    of(|p| p.after.lag_mean),
                ],
                not_recovered: per_run.len() - recovered.len(),
                recover_s: Estimate::of(&recovered),
            }
        })
        .collect()
}

/// All pairs when there are at most four variants (the delivery comparison); beyond that,
/// each variant against the first, so a sweep stays readable.
fn differences(variants: &[VariantStats], runs: &[Digest]) -> Vec<Difference> {
    let mut pairs = Vec::new();
    for b in 1..variants.len() {
        let firsts = if variants.len() <= 4 { 0..b } else { 0..1 };
        for a in firsts {
            pairs.push((a, b));
        }
    }
    let mut out = Vec::new();
    for (a, b) in pairs {
        for (metric, get) in PAIRED {
            let xs: Vec<f64> = variants[a].runs.iter().map(|&i| get(&runs[i])).collect();
            let ys: Vec<f64> = variants[b].runs.iter().map(|&i| get(&runs[i])).collect();
            out.push(Difference {
                a: variants[a].spec.label.clone(),
                b: variants[b].spec.label.clone(),
                metric: metric.to_string(),
                estimate: paired_difference(&xs, &ys),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;

    #[test]
    fn build_aggregates_counts_and_finds_the_first_failing_seed() {
        let c = fixture::comparison();
        assert_eq!(c.runs.len(), 6);
        let amo = &c.variants[0];
        assert_eq!(amo.runs, vec![0, 1, 2]);
        let lost = amo.counts["lost"];
        assert_eq!((lost.min, lost.max, lost.nonzero_seeds), (0, 2, 2));
        assert!((lost.mean - 1.0).abs() < 1e-12);
        let expect_lost = amo
            .guarantees
            .iter()
            .find(|g| g.name == "expect lost")
            .unwrap();
        assert_eq!(
            (
                expect_lost.held,
                expect_lost.claimed,
                expect_lost.first_seed
            ),
            (false, false, Some(2))
        );
        // Two variants: one pair, five metrics.
        assert_eq!(c.differences.len(), 5);
        assert!(c.claims_held(), "an [expect] failure is not a broken claim");
        assert_eq!(amo.phases.len(), 1);
        assert_eq!(amo.phases[0].recover_s.n, 3);
    }

    #[test]
    fn a_broken_claim_is_reported_with_its_reproduce_command() {
        let seeds = [4, 5];
        let spec = VariantSpec {
            label: "at-least-once consumer.payments.instances=2".into(),
            delivery: "at-least-once".into(),
            settings: BTreeMap::from([("consumer.payments.instances".into(), "2".into())]),
        };
        let runs = vec![
            fixture::run_with(4, "at-least-once", 0),
            fixture::run_with(5, "at-least-once", 3),
        ];
        let input = Input {
            scenario_path: "s.toml",
            seeds: &seeds,
            variants: std::slice::from_ref(&spec),
            ordered: false,
            warmup: Warmup::None,
        };
        let c = Comparison::build(&input, runs);
        assert!(!c.claims_held());
        let g = &c.variants[0].guarantees[0];
        assert_eq!(
            (g.name.as_str(), g.first_seed),
            ("guarantee payments (at-least-once)", Some(5))
        );
        assert_eq!(
            g.reproduce.as_deref(),
            Some(
                "mqlab run s.toml --seed 5 --delivery at-least-once --set consumer.payments.instances=2"
            )
        );
    }

    #[test]
    fn without_engine_guarantee_lines_the_variant_claims_are_derived() {
        let seeds = [1];
        let spec = VariantSpec {
            label: "exactly-once".into(),
            delivery: "exactly-once".into(),
            settings: BTreeMap::new(),
        };
        let mut run = fixture::run_with(1, "exactly-once", 0);
        run.expectations
            .retain(|e| !e.check.starts_with("guarantee"));
        let input = Input {
            scenario_path: "s.toml",
            seeds: &seeds,
            variants: std::slice::from_ref(&spec),
            ordered: true,
            warmup: Warmup::None,
        };
        let c = Comparison::build(&input, vec![run]);
        let names: Vec<&str> = c.variants[0]
            .guarantees
            .iter()
            .filter(|g| g.claimed)
            .map(|g| g.name.as_str())
            .collect();
        assert_eq!(names, ["no loss", "no duplicates", "conservation"]);
        let order = c.variants[0]
            .guarantees
            .iter()
            .find(|g| g.name == "in order");
        assert!(
            order.is_some_and(|g| !g.claimed),
            "order is shown, not claimed"
        );
        assert_eq!(c.variants[0].ran_as, "exactly-once");
    }

    #[test]
    fn many_variants_are_compared_against_the_first_only() {
        let seeds = [1];
        let specs: Vec<VariantSpec> = (0..6)
            .map(|i| VariantSpec {
                label: format!("v{i}"),
                delivery: "at-least-once".into(),
                settings: BTreeMap::new(),
            })
            .collect();
        let runs = (0..6)
            .map(|_| fixture::run_with(1, "at-least-once", 0))
            .collect();
        let input = Input {
            scenario_path: "s.toml",
            seeds: &seeds,
            variants: &specs,
            ordered: false,
            warmup: Warmup::None,
        };
        let c = Comparison::build(&input, runs);
        assert_eq!(c.differences.len(), 5 * PAIRED.len());
        assert!(c.differences.iter().all(|d| d.a == "v0"));
    }
}
