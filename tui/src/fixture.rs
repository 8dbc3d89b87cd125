//! Test-only: hand-built `Snapshot`s with every feature a panel shows (a crashed and a
//! slow instance, a failing expectation, fan-out to two groups, a log), so panels can be
//! rendered and snapshotted without an engine.

use mqlab_sim::snapshot::{
    GroupView, InstanceState, InstanceView, LiveCounts, LogEntry, LogKind, Phase, ProducerView,
    TopicView,
};
use mqlab_sim::summary::{Expectation, Latency, Series, Throughput};
use mqlab_sim::{SimDuration, SimTime, Snapshot};
use std::collections::BTreeMap;

fn instance(state: InstanceState, busy: bool, partitions: &[u32], processed: u64) -> InstanceView {
    InstanceView {
        state,
        busy,
        partitions: partitions.to_vec(),
        processed,
    }
}

/// `buckets` half-second buckets of a run with a stall at bucket 20..30.
pub fn series(buckets: u32) -> Series {
    let mut s = Series::default();
    let mut by_group = (Vec::new(), Vec::new());
    for i in 0..buckets {
        let t = f64::from(i + 1) * 0.5;
        // A steady producer and a consumer that stalls at the crash (bucket 20..30).
        let produced = 1000.0 + 50.0 * (f64::from(i) * 0.7).sin();
        let stalled = (20..30).contains(&i);
        let processed = if stalled {
            400.0
        } else if (30..36).contains(&i) {
            1500.0
        } else {
            produced - 5.0
        };
        let lag = if stalled {
            u64::from(i - 19) * 300
        } else if (30..36).contains(&i) {
            u64::from(36 - i) * 400
        } else {
            12
        };
        s.t_s.push(t);
        s.produced_per_s.push(produced);
        s.processed_per_s.push(processed);
        s.depth.push(lag + 40);
        s.lag.push(lag + 3);
        by_group.0.push(lag);
        by_group.1.push(3);
    }
    s.lag_by_group.insert("payments".into(), by_group.0);
    s.lag_by_group.insert("analytics".into(), by_group.1);
    s
}

fn log() -> Vec<LogEntry> {
    let e = |ms: u64, kind, text: &str| LogEntry {
        at: SimTime(ms * 1_000_000),
        kind,
        text: text.to_string(),
    };
    vec![
        e(10_000, LogKind::Fault, "crash payments/1 for 5s"),
        e(
            10_000,
            LogKind::Rebalance,
            "payments: partitions 1,2 -> payments/0",
        ),
        e(
            12_250,
            LogKind::DeadLetter,
            "payments: copy 4411 dead-lettered after 3 retries",
        ),
        e(15_000, LogKind::Restart, "payments/1 restarted"),
        e(
            15_000,
            LogKind::Rebalance,
            "payments: partition 2 -> payments/1",
        ),
        e(16_000, LogKind::Fault, "slow payments/2 x10 for 10s"),
        e(
            17_500,
            LogKind::Loss,
            "payments: 14 copies replayed (duplicated)",
        ),
    ]
}

/// The fault windows of the fixture's log: the crash at 10 s for 5 s, the slow-down at
/// 16 s for 10 s (still open at 18.2 s).
pub fn fault_windows() -> Vec<crate::control::FaultWindow> {
    let w = |from_ms: u64, to_ms: u64, label: &str| crate::control::FaultWindow {
        start: SimTime(from_ms * 1_000_000),
        end: Some(SimTime(to_ms * 1_000_000)),
        label: label.into(),
    };
    vec![
        w(10_000, 15_000, "crash payments/1"),
        w(16_000, 26_000, "slow payments/2"),
    ]
}

/// A run 18.2 s into a 60 s scenario, with faults and a failing `duplicated` bound.
pub fn snapshot() -> Snapshot {
    Snapshot {
        scenario: "food-delivery".into(),
        seed: 7,
        delivery: "at-least-once".into(),
        now: SimTime(18_200_000_000),
        duration: SimDuration::from_secs(60),
        end: SimTime(120_000_000_000),
        phase: Phase::Producing,
        events: 123_456,
        trace_hash: 0x0123_4567_89ab_cdef,
        counts: LiveCounts {
            produced: 18_190,
            acked: 18_180,
            delivered: 17_400,
            processed: 17_020,
            duplicated: 14,
            out_of_order: 0,
            dead_lettered: 1,
            dropped: 0,
            lost_known: 0,
        },
        latency: Latency {
            mean: 0.004_2,
            p50: 0.002_1,
            p90: 0.006_3,
            p99: 0.048_0,
            p999: 0.310_0,
            max: 0.950_0,
        },
        groups: vec![
            GroupView {
                name: "payments".into(),
                topic: "orders".into(),
                delivery: "at-least-once".into(),
                lag: 1_204,
                partition_lag: vec![400, 0, 804],
                processed: 8_600,
                max_lag: 3_000,
                instances: vec![
                    instance(InstanceState::Up, true, &[0, 1], 5_000),
                    instance(InstanceState::Down, false, &[], 2_100),
                    instance(InstanceState::Slow, true, &[2], 1_500),
                ],
                outputs: vec!["charges".into()],
                end_to_end_p99_s: 0.048,
                stage_p99_s: 0.031,
                replayable: false,
                redrivable: false,
            },
            GroupView {
                name: "analytics".into(),
                topic: "orders".into(),
                delivery: "at-least-once".into(),
                lag: 3,
                partition_lag: vec![1, 1, 1],
                processed: 8_420,
                max_lag: 40,
                instances: vec![instance(InstanceState::Up, false, &[0, 1, 2], 8_420)],
                outputs: Vec::new(),
                end_to_end_p99_s: 0.0,
                stage_p99_s: 0.0,
                replayable: false,
                redrivable: false,
            },
        ],
        producers: vec![
            ProducerView {
                name: "checkout".into(),
                topic: "orders".into(),
                produced: 15_000,
                blocked: 0,
                up: true,
            },
            ProducerView {
                name: "mobile".into(),
                topic: "orders".into(),
                produced: 3_190,
                blocked: 12,
                up: true,
            },
        ],
        topics: vec![TopicView {
            name: "orders".into(),
            depth: vec![401, 1, 805],
        }],
        series: series(36),
        expectations: vec![
            Expectation {
                check: "lost".into(),
                expected: "<= 0".into(),
                actual: "0".into(),
                ok: true,
            },
            Expectation {
                check: "duplicated".into(),
                expected: "<= 0".into(),
                actual: "14".into(),
                ok: false,
            },
            Expectation {
                check: "p99_latency".into(),
                expected: "<= 50ms".into(),
                actual: "48ms".into(),
                ok: true,
            },
        ],
        log: log(),
        log_total: 7,
        brokers: vec![true],
        pauses: Vec::new(),
        // 18,190 produced and 17,020 copies processed in the 18.2 s so far.
        throughput: Throughput {
            produced_per_s: 18_190.0 / 18.2,
            processed_per_s: 17_020.0 / 18.2,
            ..Throughput::default()
        },
        patterns: mqlab_sim::snapshot::PatternsView::default(),
        lineage: Vec::new(),
        stopped: None,
    }
}

/// The same run for another delivery variant (compare mode).
pub fn variant(delivery: &str, duplicated: u64, lost: u64) -> Snapshot {
    let mut s = snapshot();
    s.delivery = delivery.into();
    s.counts.duplicated = duplicated;
    s.counts.lost_known = lost;
    for g in &mut s.groups {
        g.delivery = delivery.into();
    }
    for e in &mut s.expectations {
        match e.check.as_str() {
            "duplicated" => {
                e.actual = duplicated.to_string();
                e.ok = duplicated == 0;
            }
            "lost" => {
                e.actual = lost.to_string();
                e.ok = lost == 0;
            }
            _ => {}
        }
    }
    s
}

/// A snapshot with nothing in it yet (time 0), to check panels cope with empty data.
pub fn empty() -> Snapshot {
    let mut s = snapshot();
    s.now = SimTime::ZERO;
    s.events = 0;
    s.counts = LiveCounts::default();
    s.latency = Latency::default();
    s.series = Series {
        lag_by_group: BTreeMap::new(),
        ..Series::default()
    };
    s.log.clear();
    s.log_total = 0;
    s
}
