//! One throughput everywhere and an honest last bucket: `mqlab run` and `mqlab compare`
//! report the same figure (copies processed while producers produced, over the producing
//! period), the drain is reported apart, and the run's last, partial bucket never shows a
//! sliver's spike.

use crate::support::{load, mqlab, root, run};
use serde_json::Value;

fn json(args: &[&str]) -> Value {
    let out = mqlab()
        .args(args)
        .arg("--json")
        .output()
        .expect("mqlab runs");
    assert!(out.status.code().is_some_and(|c| c <= 1), "{out:?}");
    serde_json::from_slice(&out.stdout).expect("json")
}

#[test]
fn run_and_compare_report_one_throughput() {
    // Offsets committed every 5 s: the run waits 5 s into the drain for the last commit.
    let path = "scenarios/crash-during-processing.toml";
    let r = json(&["run", path, "--seed", "1"]);
    let c = json(&[
        "compare",
        path,
        "--delivery",
        "at-least-once",
        "--seeds",
        "1",
    ]);
    let run_rate = r["throughput"]["processed_per_s"].as_f64().unwrap();
    let compare_rate = c["variants"][0]["throughput_per_s"]["mean"]
        .as_f64()
        .unwrap();
    assert!(
        (run_rate - compare_rate).abs() < 1e-9,
        "run {run_rate}/s, compare {compare_rate}/s"
    );
    // Nothing is backed up at the end of production here, so processing kept up with
    // producing: the rate is the producing rate, not diluted by the 5 s of drain.
    let produced = r["throughput"]["produced_per_s"].as_f64().unwrap();
    assert!(
        (run_rate - produced).abs() / produced < 0.01,
        "{run_rate} vs {produced}"
    );
    assert!((r["throughput"]["drain_s"].as_f64().unwrap() - 5.0).abs() < 1e-9);
}

#[test]
fn the_producing_and_drain_counts_add_up_to_the_processed_copies() {
    let s = load(&root().join("scenarios/backpressure.toml"));
    let r = run(&s, s.seed);
    let th = r.throughput;
    let producing = (th.processed_per_s * r.duration_s).round() as u64;
    assert_eq!(
        producing + th.drain_processed,
        r.messages.processed,
        "{th:?}"
    );
    assert!((th.drain_s - (r.sim_time_s - r.duration_s)).abs() < 1e-9);
}

#[test]
fn the_last_bucket_is_never_a_sliver_with_a_spike() {
    // slow-consumer ends 2.8 ms into its last 500 ms bucket: alone, its two copies read as
    // 716/s against a peak of 564/s everywhere else.
    let s = load(&root().join("scenarios/slow-consumer.toml"));
    let r = run(&s, s.seed);
    let t = &r.series.t_s;
    let n = t.len();
    assert!(n > 2);
    let width = r.series.width_s;
    assert!(
        (width - (t[n - 2] - t[n - 3])).abs() < 1e-9,
        "width_s {width}"
    );
    assert!(
        t[n - 1] - t[n - 2] >= width / 2.0,
        "last bucket {}s",
        t[n - 1] - t[n - 2]
    );
    let p = &r.series.processed_per_s;
    let peak_before = p[..n - 1].iter().copied().fold(0.0, f64::max);
    assert!(
        p[n - 1] <= peak_before,
        "last {} > peak {peak_before}",
        p[n - 1]
    );
}

#[test]
fn a_nanosecond_sample_interval_is_coarsened_to_a_bounded_series() {
    // Unbounded, "1ns" over 2 s would be two billion buckets (and "1us" over 10 s a 669 MB
    // result): the series merges pairs of buckets whenever it reaches its bound.
    for interval in ["1ns", "1us"] {
        let s = crate::support::parse(&format!(
            r#"
name = "fine"
duration = "2s"
drain = "1s"
sample_interval = "{interval}"
[[topic]]
name = "t"
[[producer]]
name = "p"
topic = "t"
rate = 1000
[[consumer]]
group = "g"
topic = "t"
service_time = "exp(500us)"
"#
        ));
        let r = run(&s, 1);
        let n = r.series.t_s.len();
        assert!(
            n <= mqlab_sim::metrics::MAX_BUCKETS,
            "{interval}: {n} buckets"
        );
        assert!(r.series.width_s >= 2.0 / mqlab_sim::metrics::MAX_BUCKETS as f64);
        let json = serde_json::to_string(&r).expect("json");
        assert!(json.len() < 2_000_000, "{interval}: {} bytes", json.len());
        // The rates still add up to the copies processed.
        let t = &r.series.t_s;
        let copies: f64 = (0..n)
            .map(|i| r.series.processed_per_s[i] * (t[i] - if i == 0 { 0.0 } else { t[i - 1] }))
            .sum();
        let processed = r.messages.processed as f64;
        assert!(
            (copies - processed).abs() < 1e-6 * processed,
            "{copies} vs {processed}"
        );
    }
}
