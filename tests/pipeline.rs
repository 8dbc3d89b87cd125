//! Services that consume and publish: Jackson networks against queueing theory (a tandem
//! of M/M/1 stages sums their sojourns, by Burke's theorem each stage sees Poisson
//! arrivals; a probabilistic fork thins the stream), and delivery across stages under
//! crashes — exactly-once as Kafka transactions loses and duplicates nothing end to end,
//! at-least-once republishes and its duplicates multiply downstream.

use crate::support::{assert_in_interval, parse, run, run_with};
use mqlab_sim::RunSummary;
use mqlab_sim::scenario::Delivery;

const SEEDS: u64 = 10;

/// `stages` M/M/1 services in a row on single-partition logs: `s0` consumes `t0` and
/// publishes to `t1`, ..., the last is a sink.
fn tandem(stages: usize, lambda: f64, service_ms: f64, duration_s: u32) -> String {
    let mut toml = format!(
        "name = \"tandem\"\nduration = \"{duration_s}s\"\ndrain = \"60s\"\n\
         [[producer]]\nname = \"p\"\ntopic = \"t0\"\nrate = {lambda}\n"
    );
    for k in 0..stages {
        toml += &format!("[[topic]]\nname = \"t{k}\"\n");
    }
    for k in 0..stages {
        toml += &format!(
            "[[consumer]]\ngroup = \"s{k}\"\ntopic = \"t{k}\"\nservice_time = \"exp({service_ms}ms)\"\n"
        );
        if k + 1 < stages {
            toml += &format!("[[consumer.output]]\ntopic = \"t{}\"\n", k + 1);
        }
    }
    toml
}

fn sink_mean(r: &RunSummary) -> f64 {
    let p = r.pipeline.as_ref().expect("a pipeline section");
    assert_eq!(p.paths.len(), 1, "{:?}", p.paths);
    p.paths[0].latency_s.mean
}

fn check_tandem(stages: usize) {
    let (lambda, mu) = (500.0, 1000.0);
    let s = parse(&tandem(stages, lambda, 1000.0 / mu, 60));
    let runs: Vec<RunSummary> = (1..=SEEDS).map(|seed| run(&s, seed)).collect();
    for r in &runs {
        assert!(r.ok(), "{:?}", r.expectations);
        assert_eq!(r.messages.in_flight, 0);
    }
    let sojourn = 1.0 / (mu - lambda);
    let e2e: Vec<f64> = runs.iter().map(sink_mean).collect();
    assert_in_interval(
        &format!("{stages}-stage tandem mean end-to-end sojourn"),
        &e2e,
        stages as f64 * sojourn,
    );
    // Burke: each stage's departures are Poisson, so each stage is an M/M/1 of its own.
    for k in 0..stages {
        let xs: Vec<f64> = runs.iter().map(|r| r.groups[k].sojourn_mean_s).collect();
        assert_in_interval(&format!("stage {k} sojourn"), &xs, sojourn);
    }
}

#[test]
fn a_tandem_of_two_mm1_services_sums_their_sojourns() {
    check_tandem(2);
}

#[test]
fn a_tandem_of_three_mm1_services_sums_their_sojourns() {
    check_tandem(3);
}

#[test]
fn a_probabilistic_fork_makes_each_branch_an_mm1_at_its_thinned_rate() {
    let (lambda, mu) = (600.0, 1000.0);
    let toml = format!(
        r#"
        name = "fork"
        duration = "60s"
        drain = "60s"
        [[topic]]
        name = "in"
        [[topic]]
        name = "left"
        [[topic]]
        name = "right"
        [[producer]]
        name = "p"
        topic = "in"
        rate = {lambda}
        [[consumer]]
        group = "router"
        topic = "in"
        service_time = "exp(0.5ms)"
          [[consumer.output]]
          topic = "left"
          fraction = 0.25
          [[consumer.output]]
          topic = "right"
          fraction = 0.75
        [[consumer]]
        group = "l"
        topic = "left"
        service_time = "exp(1ms)"
        [[consumer]]
        group = "r"
        topic = "right"
        service_time = "exp(1ms)"
        "#
    );
    let s = parse(&toml);
    let runs: Vec<RunSummary> = (1..=SEEDS).map(|seed| run(&s, seed)).collect();
    for (branch, p, g) in [("left", 0.25, 1), ("right", 0.75, 2)] {
        let rates: Vec<f64> = runs
            .iter()
            .map(|r| r.groups[g].copies as f64 / r.duration_s)
            .collect();
        assert_in_interval(&format!("{branch} arrival rate"), &rates, lambda * p);
        let xs: Vec<f64> = runs.iter().map(|r| r.groups[g].sojourn_mean_s).collect();
        assert_in_interval(&format!("{branch} sojourn"), &xs, 1.0 / (mu - lambda * p));
    }
}

/// Three services on partitioned logs with offsets committed every 200ms and crashes,
/// overlapping ones and a network partition (a zombie) at every stage.
const SWARM: &str = r#"
name = "three-stage-crash-swarm"
duration = "12s"
drain = "30s"
[broker]
model = "log"
[[topic]]
name = "a"
partitions = 4
[[topic]]
name = "b"
partitions = 4
[[topic]]
name = "c"
partitions = 4
[[producer]]
name = "p"
topic = "a"
rate = 250
keys = 100
[[consumer]]
group = "first"
topic = "a"
instances = 2
service_time = "exp(2ms)"
commit_interval = "200ms"
  [[consumer.output]]
  topic = "b"
[[consumer]]
group = "middle"
topic = "b"
instances = 2
service_time = "exp(2ms)"
commit_interval = "200ms"
  [[consumer.output]]
  topic = "c"
[[consumer]]
group = "last"
topic = "c"
instances = 2
service_time = "exp(2ms)"
commit_interval = "200ms"
[[fault]]
at = "2s"
kind = "crash"
target = "first/0"
duration = "1s"
[[fault]]
at = "2.5s"
kind = "crash"
target = "middle/1"
duration = "1s"
[[fault]]
at = "4s"
kind = "crash"
target = "last/0"
duration = "500ms"
[[fault]]
at = "6s"
kind = "crash"
target = "first/1"
duration = "2s"
[[fault]]
at = "6.5s"
kind = "crash"
target = "first/1"
duration = "200ms"
[[fault]]
at = "7s"
kind = "partition"
target = "middle/0"
duration = "1s"
[[fault]]
at = "9s"
kind = "crash"
target = "last/1"
duration = "1s"
[[fault]]
at = "9.1s"
kind = "crash"
target = "middle/1"
duration = "1s"
"#;

#[test]
fn exactly_once_across_three_stages_under_a_crash_swarm_loses_and_duplicates_nothing() {
    let s = parse(SWARM);
    for seed in 1..=64 {
        let r = run_with(&s, Delivery::ExactlyOnce, seed);
        let m = &r.messages;
        assert!(r.ok(), "seed {seed}: {:?}", r.expectations);
        assert_eq!(
            (m.lost, m.duplicated, m.in_flight),
            (0, 0, 0),
            "seed {seed}: {m:?}"
        );
        let p = r.pipeline.as_ref().expect("pipeline");
        // End to end: every root completed the path once.
        assert_eq!(p.paths.len(), 1);
        assert_eq!(p.paths[0].completed, p.roots, "seed {seed}: {p:?}");
        assert_eq!(r.groups[2].processed, p.roots, "seed {seed}");
    }
}

#[test]
fn at_least_once_duplicates_multiply_down_the_pipeline() {
    let s = parse(SWARM);
    let (mut first, mut last) = (0, 0);
    for seed in 1..=16 {
        let r = run_with(&s, Delivery::AtLeastOnce, seed);
        assert_eq!(r.messages.lost, 0, "seed {seed}: {:?}", r.messages);
        // Failing only `[expect]`-less guarantee rows would be a bug: lineage holds.
        assert!(
            r.expectations
                .iter()
                .filter(|e| e.check.starts_with("lineage"))
                .all(|e| e.ok),
            "seed {seed}: {:?}",
            r.expectations
        );
        first += r.groups[0].duplicated;
        last += r.groups[2].duplicated;
        let p = r.pipeline.as_ref().expect("pipeline");
        let republished: u64 = p.stages[0].outputs[0].republished;
        assert!(
            republished >= r.groups[0].duplicated,
            "seed {seed}: each duplicate processing at the first stage republishes"
        );
    }
    assert!(first > 0, "the crashes caused no redelivery at all");
    assert!(
        last > first,
        "duplicates should multiply downstream: first stage {first}, last {last}"
    );
}

#[test]
fn at_most_once_losses_at_a_stage_never_reach_the_next() {
    let s = parse(SWARM);
    // A crash loses the message in hand only if there is one: take a seed where it did.
    let r = (1..=20)
        .map(|seed| run_with(&s, Delivery::AtMostOnce, seed))
        .find(|r| r.groups[0].lost > 0 && r.groups[1].lost > 0)
        .expect("a seed where crashes at both first stages lost a message in hand");
    let p = r.pipeline.as_ref().expect("pipeline");
    // A lost input publishes nothing: the next stage's copies are the processed inputs.
    assert_eq!(r.groups[1].copies, r.groups[0].processed);
    assert_eq!(r.groups[2].copies, r.groups[1].processed);
    assert_eq!(p.paths[0].completed, r.groups[2].processed);
    assert!(p.paths[0].completed < p.roots);
    assert!(
        r.expectations
            .iter()
            .filter(|e| e.check.starts_with("lineage"))
            .all(|e| e.ok)
    );
}

#[test]
fn the_transaction_commit_interval_is_paid_at_every_hop() {
    let at = |interval: &str| {
        let toml = tandem(3, 200.0, 1.0, 20).replace(
            "service_time = \"exp(1ms)\"\n",
            &format!("service_time = \"exp(1ms)\"\ndelivery = \"exactly-once\"\ncommit_interval = \"{interval}\"\n"),
        );
        sink_mean(&run(&parse(&toml), 1))
    };
    let (fast, slow) = (at("10ms"), at("500ms"));
    // Two hops wait for their transaction to commit, each up to one interval: the first
    // half of one on average, the second nearly a whole one, because every group's commit
    // timer starts at 0 and it receives its input in bursts at the upstream commits.
    assert!(
        slow - fast > 0.25 && slow - fast < 1.1,
        "end to end {fast}s with 10ms commits, {slow}s with 500ms"
    );
}

#[test]
fn a_fan_out_count_and_rekeying_keep_lineage_and_order() {
    let toml = r#"
        name = "fan-out"
        duration = "5s"
        [[topic]]
        name = "in"
        partitions = 2
        [[topic]]
        name = "out"
        partitions = 3
        [[producer]]
        name = "p"
        topic = "in"
        rate = 200
        keys = 50
        [[consumer]]
        group = "split"
        topic = "in"
        instances = 2
          [[consumer.output]]
          topic = "out"
          count = 3
          keys = 7
        [[consumer]]
        group = "sink"
        topic = "out"
        ordered = true
    "#;
    let r = run(&parse(toml), 4);
    assert!(r.ok(), "{:?}", r.expectations);
    assert_eq!(r.groups[1].copies, 3 * r.groups[0].processed);
    assert_eq!(r.groups[1].out_of_order, 0);
    let p = r.pipeline.as_ref().expect("pipeline");
    assert_eq!(p.derived, 3 * p.roots);
}

#[test]
fn a_cycle_an_unknown_topic_and_bad_bounds_are_refused_at_their_line() {
    let base = tandem(2, 10.0, 1.0, 1);
    let cycle = format!("{base}[[consumer.output]]\ntopic = \"t0\"\n");
    let err = mqlab_sim::Scenario::from_toml(&cycle, "c.toml")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("cycle") && err.contains("s0 → s1 → s0"),
        "{err}"
    );
    assert!(err.starts_with("c.toml:"), "{err}");
    let unknown = base.replace(
        "topic = \"t1\"\n[[consumer]]",
        "topic = \"nope\"\n[[consumer]]",
    );
    let err = mqlab_sim::Scenario::from_toml(&unknown, "u.toml")
        .unwrap_err()
        .to_string();
    assert!(err.contains("no topic named `nope`"), "{err}");
    for (bad, what) in [
        ("count = 0", "count must be"),
        ("fraction = 0.0", "fraction must be"),
        ("fraction = 1.5", "fraction must be"),
    ] {
        let text = base.replacen("topic = \"t1\"\n", &format!("topic = \"t1\"\n{bad}\n"), 1);
        let err = mqlab_sim::Scenario::from_toml(&text, "b.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains(what), "{bad}: {err}");
    }
}
