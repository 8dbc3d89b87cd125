//! Small hand-built results for tests, doc examples and the golden files: a 60-second run
//! with a crash window (also with every messaging-pattern section filled), and a comparison
//! of two variants over three seeds. Deterministic
//! arithmetic only, no engine, so report tests run before (and without) the engine.

use crate::comparison::{Comparison, Input, VariantSpec};
use crate::phases::Warmup;
use hdrhistogram::Histogram;
use mqlab_sim::RunSummary;
use mqlab_sim::summary::protection::{
    AttemptRecord, BreakerTransition, ProtectionSummary, QuarantineRecord, TypeLatency,
};
use mqlab_sim::summary::{
    ClaimCheckSummary, ClassSummary, Expectation, FaultWindow, GroupSummary, Latency, Messages,
    OutputSummary, Overflow, PathSummary, PayloadSummary, PipelineSummary, RequestReplySummary,
    ResequencerSummary, SagaSummary, Series, ServiceSummary, StageSummary, Throughput,
};
use std::collections::BTreeMap;

/// A run of `crash-during-processing` under at-least-once with seed 7.
#[must_use]
pub fn run() -> RunSummary {
    run_with(7, "at-least-once", 0)
}

/// A run with a given seed, delivery and number of lost copies; `seed` perturbs the series
/// and the latencies a little so that intervals have width.
#[must_use]
#[allow(clippy::cast_precision_loss)]
pub fn run_with(seed: u64, delivery: &str, lost: u64) -> RunSummary {
    let wiggle = (seed % 5) as f64;
    let hist = latency_histogram(seed);
    let q = |p: f64| hist.value_at_quantile(p) as f64 / 1e9;
    let messages = Messages {
        produced: 60_000,
        acked: 60_000,
        copies: 60_000,
        delivered: 60_400,
        processed: 60_000 - lost,
        lost,
        duplicated: if delivery == "at-least-once" {
            400 + seed
        } else {
            0
        },
        ..Messages::default()
    };
    RunSummary {
        scenario: "crash-during-processing".into(),
        seed,
        delivery: delivery.into(),
        trace_hash: format!("{:016x}", seed.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
        events: 240_000,
        sim_time_s: 60.0,
        wall_s: 0.0,
        messages,
        latency_s: Latency {
            mean: hist.mean() / 1e9,
            p50: q(0.5),
            p90: q(0.9),
            p99: q(0.99),
            p999: q(0.999),
            max: hist.max() as f64 / 1e9,
        },
        groups: vec![GroupSummary {
            name: "payments".into(),
            topic: "orders".into(),
            delivery: delivery.into(),
            copies: 60_000,
            processed: 60_000 - lost,
            lost,
            duplicated: messages.duplicated,
            wait_mean_s: 0.0015 + wiggle * 1e-4,
            sojourn_mean_s: 0.0035 + wiggle * 1e-4,
            in_system_mean: 3.5,
            utilization: 0.67,
            max_lag: 403,
            latency_p99_s: q(0.99),
            // One group: its latency is the run's.
            latency_s: Latency {
                mean: hist.mean() / 1e9,
                p50: q(0.5),
                p90: q(0.9),
                p99: q(0.99),
                p999: q(0.999),
                max: hist.max() as f64 / 1e9,
            },
            processed_per_s: producing_rate(&series(seed, wiggle), 60.0),
            ..GroupSummary::default()
        }],
        series: series(seed, wiggle),
        expectations: vec![
            Expectation {
                check: "lost".into(),
                expected: "0".into(),
                actual: lost.to_string(),
                ok: lost == 0,
            },
            guarantee(delivery, lost, messages.duplicated),
            Expectation {
                check: "conservation".into(),
                expected: "holds".into(),
                actual: "holds".into(),
                ok: true,
            },
        ],
        version: env!("CARGO_PKG_VERSION").into(),
        scenario_hash: "0123456789abcdef".into(),
        duration_s: 60.0,
        throughput: Throughput {
            produced_per_s: 1000.0,
            // As the engine reports it: the series' copies over the producing period.
            processed_per_s: producing_rate(&series(seed, wiggle), 60.0),
            produced_bytes_per_s: 256_000.0,
            drain_s: 0.0,
            drain_processed: 0,
        },
        dropped_by_reason: BTreeMap::new(),
        conservation_ok: true,
        faults: vec![FaultWindow {
            kind: "crash".into(),
            target: "payments/1".into(),
            start_s: 20.0,
            end_s: 25.0,
            note: String::new(),
        }],
        latency_histogram: hist
            .iter_recorded()
            .map(|v| [v.value_iterated_to(), v.count_at_value()])
            .collect(),
        classes: Vec::new(),
        overflow: None,
        pipeline: None,
        services: Vec::new(),
        sagas: Vec::new(),
        request_reply: Vec::new(),
        protection: None,
        payload: None,
        outside_faults: None,
        producers: Vec::new(),
        broker_timeline: Vec::new(),
    }
}

/// `run()` with every messaging-pattern section filled in, each figure distinct so a test
/// can tell them apart: backpressure, an outbox service, a saga, a requester, poison-message
/// protection with 12 quarantine records and 12 breaker transitions (more than a report
/// shows), payload bytes with a claim check, two priority classes, a resequencer and a
/// pipeline (`payments` publishing to `charges`, read by `ledger`).
#[must_use]
pub fn run_with_patterns() -> RunSummary {
    let mut r = run();
    r.overflow = Some(Overflow {
        pauses: 17,
        paused_s: 2.5,
        rejections: 311,
        resent: 307,
        spilled: 4_096,
        spill_max: 1_024,
        held_timeouts: 29,
    });
    r.services = vec![ServiceSummary {
        producer: "orders".into(),
        publish: "outbox".into(),
        committed: 5_210,
        aborted: 13,
        refused: 41,
        published: 5_209,
        republished: 6,
        lost_events: 0,
        phantom_events: 0,
        outbox_rows: 1,
        outbox_peak: 240,
        relay_instances: 2,
        marks_failed: 1,
        relay_latency_s: Latency {
            mean: 0.031,
            p50: 0.029,
            p90: 0.041,
            p99: 0.052,
            p999: 0.071,
            max: 0.080,
        },
    }];
    r.sagas = vec![SagaSummary {
        name: "order".into(),
        started: 2_900,
        refused: 198,
        completed: 2_611,
        compensated: 288,
        half_done: 0,
        in_progress: 1,
        resends: 143,
        given_up: 2,
        late_commands: 3,
        duplicate_commands: 57,
        compensations: 402,
        compensations_out_of_order: 0,
        latency_s: latency(0.021),
    }];
    r.request_reply = vec![RequestReplySummary {
        producer: "client".into(),
        requests: 3_000,
        replies: 2_977,
        replied: 2_950,
        timed_out: 48,
        outstanding: 2,
        orphans: 19,
        duplicate_replies: 8,
        mismatched: 0,
        replies_lost: 5,
        rtt_s: latency(0.004),
    }];
    r.protection = Some(protection());
    r.payload = Some(PayloadSummary {
        bytes_produced: 987_654_321,
        broker_bytes_max: 12_345_678,
        broker_bytes: vec![0; r.series.t_s.len()],
        ingest_delay_mean_s: 0.000_75,
        ingest_delay_max_s: 0.0125,
        claim_check: Some(ClaimCheckSummary {
            stored: 77,
            stored_bytes: 770_000_000,
        }),
    });
    r.classes = [(9, 1_200, 0.25, 0.001), (1, 4_800, 0.75, 0.03)]
        .into_iter()
        .map(|(priority, produced, share, base)| ClassSummary {
            priority,
            produced,
            processed: produced - 1,
            share,
            latency_s: latency(base),
        })
        .collect();
    r.groups[0].resequencer = Some(ResequencerSummary {
        resequenced: 640,
        gaps_skipped: 12,
        skipped_full: 4,
        held_max: 33,
        held_end: 0,
    });
    r.pipeline = Some(pipeline());
    r
}

/// `payments` publishes each input once to `charges`, which `ledger` reads.
fn pipeline() -> PipelineSummary {
    let stage = |group: &str, topic: &str, processed, base| StageSummary {
        group: group.into(),
        topic: topic.into(),
        delivery: "exactly-once".into(),
        processed,
        end_to_end_s: latency(base),
        outputs: Vec::new(),
    };
    let mut payments = stage("payments", "orders", 5_000, 0.003);
    payments.outputs.push(OutputSummary {
        topic: "charges".into(),
        published: 4_990,
        republished: 0,
        aborted: 21,
        pending: 10,
        expected: 5_000,
        orphaned: 0,
    });
    PipelineSummary {
        roots: 5_000,
        derived: 4_990,
        stages: vec![payments, stage("ledger", "charges", 4_990, 0.007)],
        paths: vec![PathSummary {
            path: vec!["checkout".into(), "payments".into(), "ledger".into()],
            completed: 4_990,
            latency_s: latency(0.007),
        }],
    }
}

/// A latency whose percentiles are multiples of `base` seconds.
fn latency(base: f64) -> Latency {
    Latency {
        mean: base * 1.25,
        p50: base,
        p90: base * 3.0,
        p99: base * 8.0,
        p999: base * 20.0,
        max: base * 40.0,
    }
}

/// Two message types, 12 quarantined messages with two attempts each, and 12 breaker
/// transitions cycling closed → open → half-open → closed.
#[allow(clippy::cast_precision_loss)]
fn protection() -> ProtectionSummary {
    let states = ["closed", "open", "half-open", "closed"];
    ProtectionSummary {
        quarantined: 14,
        timed_out: 9,
        breaker_opens: 4,
        transitions: (0..12)
            .map(|i| BreakerTransition {
                at_s: 10.0 + i as f64 * 0.5,
                group: "payments".into(),
                message_type: "poison".into(),
                from: states[i % 3].into(),
                to: states[i % 3 + 1].into(),
            })
            .collect(),
        quarantine: (0..12u32)
            .map(|i| QuarantineRecord {
                group: "payments".into(),
                message_type: "poison".into(),
                message: 100 + i,
                at_s: 11.0 + f64::from(i),
                attempts: vec![
                    AttemptRecord {
                        started_s: 10.0 + f64::from(i),
                        ended_s: 10.005 + f64::from(i),
                        error: "failed".into(),
                    },
                    AttemptRecord {
                        started_s: 10.5 + f64::from(i),
                        ended_s: 11.0 + f64::from(i),
                        error: "timed out".into(),
                    },
                ],
            })
            .collect(),
        types: vec![
            TypeLatency {
                message_type: "good".into(),
                processed: 59_000,
                latency_s: latency(0.002),
            },
            TypeLatency {
                message_type: "poison".into(),
                processed: 986,
                latency_s: latency(0.5),
            },
        ],
    }
}

/// Copies per second over the buckets that end by `producing_s`.
fn producing_rate(s: &Series, producing_s: f64) -> f64 {
    let copies: f64 = (0..s.t_s.len())
        .filter(|&i| s.t_s[i] <= producing_s)
        .map(|i| s.processed_per_s[i] * s.width_s)
        .sum();
    copies / producing_s
}

/// 60 s in half-second buckets: lag 3 at steady state, a ramp during the crash at [20, 25],
/// draining by t = 30; processing slows to 600/s during the crash.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn series(seed: u64, wiggle: f64) -> Series {
    let n = 120;
    let t_s: Vec<f64> = (1..=n).map(|i| f64::from(i) * 0.5).collect();
    let lag: Vec<u64> = t_s
        .iter()
        .map(|&t| match t {
            t if (20.0..25.0).contains(&t) => 3 + ((t - 20.0) * 80.0) as u64,
            t if (25.0..30.0).contains(&t) => 3 + ((30.0 - t) * 80.0) as u64,
            t if t > 58.0 => 0,
            _ => 3 + (seed % 3),
        })
        .collect();
    let processed: Vec<f64> = t_s
        .iter()
        .map(|&t| {
            if (20.0..25.0).contains(&t) {
                600.0
            } else {
                1000.0 + wiggle
            }
        })
        .collect();
    Series {
        produced_per_s: vec![1000.0; t_s.len()],
        processed_per_s: processed,
        depth: lag.clone(),
        lag_by_group: BTreeMap::from([("payments".to_string(), lag.clone())]),
        lag,
        t_s,
        width_s: 0.5,
    }
}

/// The engine's per-group guarantee line for the `payments` group.
fn guarantee(delivery: &str, lost: u64, duplicated: u64) -> Expectation {
    let (expected, ok) = match delivery {
        "at-most-once" => ("duplicated = 0", duplicated == 0),
        "at-least-once" => ("lost = 0", lost == 0),
        _ => ("lost = 0 and duplicated = 0", lost == 0 && duplicated == 0),
    };
    Expectation {
        check: format!("guarantee payments ({delivery})"),
        expected: expected.into(),
        actual: format!("lost = {lost}, duplicated = {duplicated}"),
        ok,
    }
}

/// Latencies from 1 ms up with a long tail, shifted by the seed.
fn latency_histogram(seed: u64) -> Histogram<u64> {
    let mut h = Histogram::<u64>::new(3).expect("3 significant figures is valid");
    for i in 0..2000u64 {
        // A deterministic heavy tail: most near 2 ms, 1% near 40 ms, 0.1% near 200 ms.
        let base = 1_000_000 + (i * 7919 + seed * 104_729) % 2_000_000;
        let v = match i % 1000 {
            0 => base * 200,
            1..=9 => base * 20,
            _ => base,
        };
        h.record(v).expect("auto-resizing histogram");
    }
    h
}

/// at-most-once (losing 0–2 copies) against at-least-once over seeds 1, 2, 3, no warm-up.
#[must_use]
pub fn comparison() -> Comparison {
    let seeds = [1, 2, 3];
    let variants: Vec<VariantSpec> = ["at-most-once", "at-least-once"]
        .iter()
        .map(|d| VariantSpec {
            label: (*d).to_string(),
            delivery: (*d).to_string(),
            settings: BTreeMap::new(),
        })
        .collect();
    let runs = variants
        .iter()
        .flat_map(|v| {
            seeds.iter().map(|&s| {
                let lost = if v.delivery == "at-most-once" {
                    s - 1
                } else {
                    0
                };
                run_with(s, &v.delivery, lost)
            })
        })
        .collect();
    let input = Input {
        scenario_path: "scenarios/crash-during-processing.toml",
        seeds: &seeds,
        variants: &variants,
        ordered: false,
        warmup: Warmup::None,
    };
    Comparison::build(&input, runs)
}
