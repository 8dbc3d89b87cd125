//! Per-group and per-producer views and scoped SLOs (issue 15): each group's latency and
//! throughput, latency outside fault windows, publish → ack latency, the broker timeline,
//! and `capacity` judging one group's SLO.

use crate::support::{load, mqlab, root, run};
use mqlab_sim::RunSummary;
use serde_json::Value;

fn food_delivery() -> RunSummary {
    let mut s = load(&root().join("scenarios/food-delivery.toml"));
    s.duration = mqlab_sim::SimDuration::from_secs(40);
    run(&s, 42)
}

#[test]
fn group_views_add_up_to_the_run() {
    let r = food_delivery();
    // One throughput definition: the groups' first processings while producing.
    let sum: f64 = r.groups.iter().map(|g| g.processed_per_s).sum();
    let total = r.throughput.processed_per_s;
    assert!(
        (sum - total).abs() <= 1e-9 * total.max(1.0),
        "{sum} vs {total}"
    );
    // A quantile of a mixture lies between its components' quantiles.
    let (lo, hi) = r.groups.iter().fold((f64::MAX, 0.0_f64), |(lo, hi), g| {
        (lo.min(g.latency_s.p99), hi.max(g.latency_s.p99))
    });
    assert!(
        lo <= r.latency_s.p99 && r.latency_s.p99 <= hi,
        "{lo} {} {hi}",
        r.latency_s.p99
    );
    // Analytics is down 20s..35s: its tail is the outage; payments never waits for it.
    let g = |n: &str| r.groups.iter().find(|g| g.name == n).expect("group");
    assert!(
        g("analytics").latency_s.p99 > 1.0,
        "{:?}",
        g("analytics").latency_s
    );
    assert!(
        g("payments").latency_s.p99 < 0.05,
        "{:?}",
        g("payments").latency_s
    );
    // The percentile ladder ends at the sample's own p99.9 when it has 1000+ samples.
    let ladder = &g("payments").latency_by_percentile_s;
    assert!(ladder.len() >= 60, "{}", ladder.len());
    assert!(ladder[0][1] <= ladder[ladder.len() - 1][1]);
}

#[test]
fn outside_faults_counts_only_copies_whose_life_missed_every_window() {
    let r = food_delivery();
    let outside = r.outside_faults.expect("the scenario has a fault");
    let per_group: u64 = r
        .groups
        .iter()
        .map(|g| g.outside_faults.expect("per group too").samples)
        .sum();
    assert_eq!(outside.samples, per_group);
    // Copies born after 35s or processed before 20s: fewer than all, most of 40s of them.
    assert!(outside.samples < r.messages.processed, "{outside:?}");
    assert!(outside.samples * 2 > r.messages.processed, "{outside:?}");
    let analytics = r
        .groups
        .iter()
        .find(|g| g.name == "analytics")
        .expect("group");
    let o = analytics.outside_faults.expect("per group");
    assert!(o.latency_s.p99 < analytics.latency_s.p99, "{o:?}");
    // Without faults there is no such view (every copy is outside).
    let mm1 = run(&load(&root().join("scenarios/mm1.toml")), 1);
    assert!(mm1.outside_faults.is_none() && mm1.groups[0].outside_faults.is_none());
}

#[test]
fn producers_report_throughput_and_publish_to_ack_latency() {
    let mut s = load(&root().join("scenarios/mm1.toml"));
    s.duration = mqlab_sim::SimDuration::from_secs(5);
    let r = run(&s, 1);
    let p = &r.producers[0];
    assert_eq!(
        (p.name.as_str(), p.produced, p.acked),
        ("arrivals", r.messages.produced, r.messages.acked)
    );
    assert!((p.produced_per_s - r.throughput.produced_per_s).abs() < 1e-9);
    // Zero network latency and acks = "leader": the append is the ack.
    assert!(p.ack_latency_s.max < 1e-6, "{:?}", p.ack_latency_s);
}

#[test]
fn the_broker_timeline_shows_the_failover() {
    // Kafka: a broker's failure takes it out of every ISR it was in and elects new leaders
    // for the partitions it led; back, it rejoins each ISR once caught up.
    let mut s = load(&root().join("scenarios/kafka-broker-failover.toml"));
    s.duration = mqlab_sim::SimDuration::from_secs(40);
    let r = run(&s, 1);
    let with = |needle: &str| {
        r.broker_timeline
            .iter()
            .filter(|e| e.kind == "replication" && e.text.contains(needle))
            .collect::<Vec<_>>()
    };
    let shrank = with("ISR shrank");
    assert_eq!(shrank.len(), 6, "every partition has a replica on broker/0");
    assert!(shrank.iter().all(|e| (e.t_s - 20.0).abs() < 1e-9));
    let elections = with("election, leader now");
    assert!((1..=6).contains(&elections.len()), "{elections:?}");
    let back = with("back in the ISR");
    assert_eq!(back.len(), 6);
    assert!(back.iter().all(|e| e.t_s >= 35.0));
    // acks = "all": acknowledged once the followers fetched it (exp(20ms) behind).
    assert!(
        r.producers[0].ack_latency_s.p50 > 0.005,
        "{:?}",
        r.producers[0].ack_latency_s
    );
}

fn capacity(slo: &[&str]) -> Value {
    let mut cmd = mqlab();
    cmd.args([
        "capacity",
        "scenarios/food-delivery.toml",
        "--producer",
        "checkout",
    ]);
    for s in slo {
        cmd.arg("--slo").arg(s);
    }
    let out = cmd
        .args(["--seeds", "1..2", "--precision", "0.25", "--json"])
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(2), "{err}");
    serde_json::from_slice(&out.stdout).expect("JSON")
}

#[test]
fn capacity_finds_a_rate_for_one_groups_slo_on_food_delivery() {
    // Judged on every group merged, the analytics outage's tail dominates p99 at any rate.
    let merged = capacity(&["p99<50ms"]);
    assert!(merged["rate_per_s"].is_null(), "{merged}");
    // Payments alone meets it at the scenario's own 400/s.
    let payments = capacity(&["p99(payments)<50ms"]);
    let rate = payments["rate_per_s"].as_f64().expect("a rate");
    assert!(rate >= 400.0, "{payments}");
    // A second bound on a slower group narrows it; both hold at the answer.
    let both = capacity(&["p99(payments)<50ms", "p50(analytics)<20ms"]);
    let narrower = both["rate_per_s"].as_f64().expect("a rate");
    assert!(narrower <= rate, "{both}");
}

#[test]
fn a_bad_slo_names_what_it_expected() {
    let out = mqlab()
        .args([
            "capacity",
            "scenarios/food-delivery.toml",
            "--producer",
            "checkout",
        ])
        .args(["--slo", "p99(payment)<50ms"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no consumer group `payment` (groups: payments,"),
        "{err}"
    );
}

#[test]
fn the_dashboards_event_log_shows_the_broker_timeline() {
    use mqlab_sim::snapshot::LogKind;
    use mqlab_sim::{Engine, SimTime};
    let s = load(&root().join("scenarios/kafka-broker-failover.toml"));
    let mut e = Engine::new(&s, 1);
    e.run_until(SimTime(21_000_000_000));
    let snap = e.snapshot();
    let broker: Vec<&str> = snap
        .log
        .iter()
        .filter(|l| l.kind == LogKind::Broker)
        .map(|l| l.text.as_str())
        .collect();
    assert!(
        broker.iter().any(|t| t.contains("ISR shrank")),
        "{broker:?}"
    );
    assert!(
        broker.iter().any(|t| t.contains("leader now broker/")),
        "{broker:?}"
    );
}
