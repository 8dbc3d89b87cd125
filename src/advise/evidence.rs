//! Backing the decision with runs: every candidate under every delivery variant over the
//! seeds, spread over the cores with rayon (results kept in job order, so the evidence is
//! the same whatever the thread count), then judged need by need on the runs of the
//! variant the user needs. Every figure is one run's, which `mqlab run FILE --seed S
//! --delivery V --json` on the written candidate reproduces.

use super::candidate::Candidate;
use super::decide::Model;
use super::needs::{Durability, Needs, Ordering};
use indicatif::{ProgressBar, ProgressStyle};
use mqlab_sim::{Delivery, RunSummary};
use rayon::prelude::*;
use serde::Serialize;
use std::io::IsTerminal;

/// A candidate keeps up when it processes at least this share of its copies while the
/// producers produce (the rest is backlog the faults left, drained afterwards).
pub const KEEPS_UP: f64 = 0.95;

/// One run's figures, as `mqlab run --json` reports them.
#[derive(Clone, Debug, Serialize)]
pub struct RunFigures {
    pub seed: u64,
    pub delivery: String,
    pub trace_hash: String,
    pub copies: u64,
    pub processed: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub out_of_order: u64,
    pub dropped: u64,
    pub dead_lettered: u64,
    pub in_flight: u64,
    pub p99_s: f64,
    pub processed_per_s: f64,
    /// processed_per_s over the copies' rate (copies / duration_s).
    pub keeps_up: f64,
}

impl RunFigures {
    fn of(r: &RunSummary) -> RunFigures {
        let m = &r.messages;
        let copies_per_s = m.copies as f64 / r.duration_s.max(f64::MIN_POSITIVE);
        RunFigures {
            seed: r.seed,
            delivery: r.delivery.clone(),
            trace_hash: r.trace_hash.clone(),
            copies: m.copies,
            processed: m.processed,
            lost: m.lost,
            duplicated: m.duplicated,
            out_of_order: m.out_of_order,
            dropped: m.dropped,
            dead_lettered: m.dead_lettered,
            in_flight: m.in_flight,
            p99_s: r.latency_s.p99,
            processed_per_s: r.throughput.processed_per_s,
            keeps_up: if copies_per_s > 0.0 {
                r.throughput.processed_per_s / copies_per_s
            } else {
                1.0
            },
        }
    }
}

/// One delivery variant of a candidate: its runs and their worst figures.
#[derive(Clone, Debug, Serialize)]
pub struct Variant {
    pub delivery: String,
    pub runs: Vec<RunFigures>,
    pub lost_max: u64,
    pub duplicated_max: u64,
    pub out_of_order_max: u64,
    pub dropped_max: u64,
    pub in_flight_max: u64,
    pub p99_max_s: f64,
    pub keeps_up_min: f64,
}

impl Variant {
    fn of(delivery: Delivery, runs: Vec<RunFigures>) -> Variant {
        let max = |f: fn(&RunFigures) -> u64| runs.iter().map(f).max().unwrap_or(0);
        Variant {
            delivery: delivery.as_str().into(),
            lost_max: max(|r| r.lost),
            duplicated_max: max(|r| r.duplicated),
            out_of_order_max: max(|r| r.out_of_order),
            dropped_max: max(|r| r.dropped),
            in_flight_max: max(|r| r.in_flight),
            p99_max_s: runs.iter().map(|r| r.p99_s).fold(0.0, f64::max),
            keeps_up_min: runs
                .iter()
                .map(|r| r.keeps_up)
                .fold(f64::INFINITY, f64::min),
            runs,
        }
    }
}

/// Whether a candidate met one need, and the figure that says so.
#[derive(Clone, Debug, Serialize)]
pub struct Judgement {
    pub need: String,
    pub met: bool,
    pub detail: String,
    /// Throughput or latency: more consumers may meet it.
    pub sizing: bool,
}

/// Everything the runs said about one candidate.
#[derive(Clone, Debug, Serialize)]
pub struct Evidence {
    pub model: Model,
    pub variants: Vec<Variant>,
    pub needs: Vec<Judgement>,
    pub met_all: bool,
}

/// Runs every candidate under every variant over `seeds`, and judges them.
pub fn gather(
    candidates: &[Candidate],
    seeds: &[u64],
    needs: &Needs,
) -> anyhow::Result<Vec<Evidence>> {
    let jobs: Vec<(usize, Delivery, u64)> = (0..candidates.len())
        .flat_map(|c| {
            Delivery::ALL
                .into_iter()
                .flat_map(move |d| seeds.iter().map(move |&s| (c, d, s)))
        })
        .collect();
    let bar = progress(jobs.len());
    let runs: Vec<RunFigures> = jobs
        .par_iter()
        .map(|&(c, d, seed)| {
            let cand = &candidates[c];
            let mut s = cand.scenario.clone();
            s.set_delivery(d);
            let r = crate::run::simulate(&s, &cand.toml, seed, rayon::current_num_threads())?;
            bar.inc(1);
            Ok(RunFigures::of(&r))
        })
        .collect::<anyhow::Result<_>>()?;
    bar.finish_and_clear();
    let per_variant = seeds.len();
    let mut chunks = runs.chunks(per_variant);
    Ok(candidates
        .iter()
        .map(|cand| {
            let variants: Vec<Variant> = Delivery::ALL
                .into_iter()
                .map(|d| Variant::of(d, chunks.next().unwrap_or_default().to_vec()))
                .collect();
            let needed = &variants[Delivery::ALL
                .iter()
                .position(|d| *d == needs.delivery)
                .unwrap_or(1)];
            let judged = judge(needs, cand, needed);
            Evidence {
                model: cand.model,
                met_all: judged.iter().all(|j| j.met),
                needs: judged,
                variants,
            }
        })
        .collect())
}

fn progress(len: usize) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len as u64);
    if let Ok(style) =
        ProgressStyle::with_template("{bar:40} {pos}/{len} runs {elapsed} (eta {eta})")
    {
        bar.set_style(style);
    }
    bar
}

fn judge(needs: &Needs, cand: &Candidate, v: &Variant) -> Vec<Judgement> {
    let mut out = Vec::new();
    let mut push = |need: String, met: bool, detail: String| {
        let sizing = need.starts_with("throughput") || need.starts_with("p99");
        out.push(Judgement {
            need,
            met,
            detail,
            sizing,
        });
    };
    push(
        format!("throughput ≥ {:.0}%", KEEPS_UP * 100.0),
        v.keeps_up_min >= KEEPS_UP,
        format!("{:.1}%", v.keeps_up_min * 100.0),
    );
    let target = needs.p99_latency;
    push(
        format!("p99 ≤ {target}"),
        v.p99_max_s <= target.as_secs_f64(),
        crate::text::secs(v.p99_max_s),
    );
    let (met, detail) = match needs.delivery {
        Delivery::AtMostOnce => (
            v.duplicated_max == 0,
            format!("{} duplicated", v.duplicated_max),
        ),
        Delivery::AtLeastOnce => {
            let missing = v.lost_max + v.dropped_max + v.in_flight_max;
            (missing == 0, format!("{missing} lost or dropped"))
        }
        Delivery::ExactlyOnce => {
            let missing = v.lost_max + v.dropped_max + v.in_flight_max;
            (
                missing == 0 && v.duplicated_max == 0,
                format!("{missing} lost or dropped, {} duplicated", v.duplicated_max),
            )
        }
    };
    push(needs.delivery.as_str().to_string(), met, detail);
    if needs.ordering != Ordering::None {
        let name = if needs.ordering == Ordering::Total {
            "total order"
        } else {
            "per-key order"
        };
        push(
            name.into(),
            v.out_of_order_max == 0,
            format!("{} out of order", v.out_of_order_max),
        );
    }
    let asked = [
        ("replay", needs.replay),
        ("routing", !needs.routing.is_empty()),
        ("priorities", needs.priorities > 1),
        ("durability", needs.durability != Durability::None),
    ];
    for (need, is_asked) in asked {
        if !is_asked {
            continue;
        }
        match cand.structural.iter().find(|(n, _)| *n == need) {
            Some((_, why)) => push(need.into(), false, why.clone()),
            None => push(need.into(), true, "by construction".into()),
        }
    }
    out
}
