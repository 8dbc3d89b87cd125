//! `mqlab compare`, `mqlab capacity` and `mqlab run --report` end to end on the real engine:
//! thread-count independence, the confidence interval against Erlang C, the reproduce
//! command of a violated expectation, sweeps, and the capacity search. Horizons are short and
//! seeds few: the whole file runs in seconds.

use crate::reports::assert_html_page;
use crate::support::{mqlab, scratch};
use mqlab_sim::Scenario;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A small crash scenario: at-most-once loses the message in hand, at-least-once replays
/// up to a second of work.
const CRASH: &str = r#"
name = "crash-small"
description = "A consumer crashes mid-run; at-most-once loses, at-least-once repeats."
seed = 1
duration = "10s"
drain = "20s"
[broker]
model = "log"
[[topic]]
name = "orders"
partitions = 3
[[producer]]
name = "checkout"
topic = "orders"
rate = 500
keys = 100
[[consumer]]
group = "payments"
topic = "orders"
instances = 3
service_time = "exp(2ms)"
commit_interval = "1s"
[[fault]]
at = "4s"
kind = "crash"
target = "payments/1"
duration = "2s"
[expect]
lost = 0
"#;

fn crash_scenario(dir: &Path) -> PathBuf {
    let path = dir.join("crash.toml");
    std::fs::write(&path, CRASH).unwrap();
    path
}

fn compare_json(args: &[&str], threads: &str) -> Value {
    let out = mqlab()
        .arg("compare")
        .args(args)
        .arg("--json")
        .env("RAYON_NUM_THREADS", threads)
        .output()
        .unwrap();
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // stderr is not a terminal here: no progress bar, nothing at all.
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn compare_json_is_byte_identical_with_1_and_4_threads() {
    let args = [
        "compare",
        "scenarios/crash-during-processing.toml",
        "--seeds",
        "1..8",
        "--json",
    ];
    let stdout = |threads: &str| {
        let out = mqlab()
            .args(args)
            .env("RAYON_NUM_THREADS", threads)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        without_wall_times(&String::from_utf8(out.stdout).unwrap())
    };
    let one = stdout("1");
    assert!(one.starts_with('{') && one.contains("\"runs\":["));
    assert_eq!(
        one.matches("\"wall_s\":_").count(),
        24,
        "3 variants x 8 seeds"
    );
    assert!(one == stdout("4"), "1 and 4 threads differ");
}

/// The raw JSON text with every `"wall_s":NUMBER` value replaced by `_`: the bytes are
/// compared as printed, so a formatting difference would show too.
fn without_wall_times(json: &str) -> String {
    let key = "\"wall_s\":";
    let mut out = String::with_capacity(json.len());
    let mut rest = json;
    while let Some(at) = rest.find(key) {
        out.push_str(&rest[..at + key.len()]);
        out.push('_');
        rest = rest[at + key.len()..]
            .trim_start_matches(|c: char| c.is_ascii_digit() || "+-.eE".contains(c));
    }
    out.push_str(rest);
    out
}

/// Erlang C: the mean wait in queue of M/M/c.
fn erlang_c_wait_s(lambda: f64, mu: f64, c: u32) -> f64 {
    let a = lambda / mu;
    let rho = a / f64::from(c);
    let mut term = 1.0;
    let mut sum = 1.0;
    for k in 1..c {
        term *= a / f64::from(k);
        sum += term;
    }
    let last = term * a / f64::from(c) / (1.0 - rho);
    let p_wait = last / (sum + last);
    p_wait / (f64::from(c) * mu - lambda)
}

/// The theoretical wait of an M/M/c scenario: `queue` model with c instances, or one
/// partition served by one instance.
fn theory_wait_s(path: &str) -> f64 {
    let s = Scenario::from_toml(&std::fs::read_to_string(path).unwrap(), path).unwrap();
    let lambda = *s.producers[0].rate.get_ref();
    let mu = 1.0 / s.consumers[0].service_time.mean().as_secs_f64();
    erlang_c_wait_s(lambda, mu, *s.consumers[0].instances.get_ref())
}

#[test]
fn erlang_c_formula_matches_known_values() {
    // M/M/1 at rho 0.9, mu 1000/s: Wq = rho / (mu - lambda) = 9 ms.
    assert!((erlang_c_wait_s(900.0, 1000.0, 1) - 0.009).abs() < 1e-12);
    // M/M/2, lambda 1.5, mu 1: P(wait) = 0.642857, Wq = 1.285714.
    assert!((erlang_c_wait_s(1.5, 1.0, 2) - 1.285_714).abs() < 1e-6);
}

/// Over 30 seeds the 95% interval of the mean wait contains the Erlang C value, and its
/// half-width is exactly t(0.975, 29) · sd / √30 recomputed from the runs (a wrong formula —
/// z instead of t, population sd, sd / n — fails the second check).
#[test]
fn wait_interval_over_30_seeds_contains_erlang_c() {
    for path in ["scenarios/mmc.toml", "scenarios/mm1.toml"] {
        if !Path::new(path).exists() {
            assert_ne!(path, "scenarios/mm1.toml", "{path} missing");
            eprintln!("skipped {path}: not in this tree yet");
            continue;
        }
        let c = compare_json(
            &[path, "--seeds", "1..30", "--delivery", "at-least-once"],
            "2",
        );
        let e = &c["variants"][0]["wait_mean_s"];
        let (lo, hi, mean) = (
            e["lo"].as_f64().unwrap(),
            e["hi"].as_f64().unwrap(),
            e["mean"].as_f64().unwrap(),
        );
        let want = theory_wait_s(path);
        assert!(
            lo <= want && want <= hi,
            "{path}: Erlang C {want} outside [{lo}, {hi}]"
        );
        let waits: Vec<f64> = c["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["groups"][0]["wait_mean_s"].as_f64().unwrap())
            .collect();
        assert_eq!(waits.len(), 30);
        let m = waits.iter().sum::<f64>() / 30.0;
        let sd = (waits.iter().map(|w| (w - m).powi(2)).sum::<f64>() / 29.0).sqrt();
        let half = 2.045_229_642 * sd / 30f64.sqrt();
        assert!(
            (mean - m).abs() < 1e-12 && ((hi - lo) / 2.0 - half).abs() < 1e-9 * half.max(1e-12),
            "{path}: interval formula"
        );
    }
}

#[test]
fn violated_expectation_names_its_first_seed_and_the_command_reproduces_it() {
    let dir = scratch("repro");
    let path = crash_scenario(&dir);
    let c = compare_json(&[path.to_str().unwrap(), "--seeds", "1..5"], "2");
    let amo = &c["variants"][0];
    assert_eq!(amo["spec"]["delivery"], "at-most-once");
    let lost = amo["guarantees"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "expect lost")
        .unwrap();
    assert_eq!(lost["held"], false);
    let cmd = lost["reproduce"].as_str().unwrap();
    let seed = lost["first_seed"].as_u64().unwrap();
    assert_eq!(
        cmd,
        format!(
            "mqlab run {} --seed {seed} --delivery at-most-once",
            path.display()
        )
    );
    // Run exactly that command and find the loss again.
    let words: Vec<&str> = cmd.split_whitespace().skip(1).collect();
    let out = mqlab().args(&words).arg("--json").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let run: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(run["messages"]["lost"].as_u64().unwrap() > 0);
    // Claimed guarantees held: exit 0, and at-least-once duplicated on every seed.
    let alo = &c["variants"][1];
    assert_eq!(alo["counts"]["duplicated"]["nonzero_seeds"], 5);
    assert!(c["differences"].as_array().unwrap().len() >= 3 * 5);
}

#[test]
fn compare_html_report_overlays_variants_and_sweep() {
    let dir = scratch("sweep");
    let path = crash_scenario(&dir);
    let page = dir.join("cmp.html");
    let out = mqlab()
        .arg("compare")
        .arg(&path)
        .args([
            "--seeds",
            "1..3",
            "--delivery",
            "at-least-once",
            "--set",
            "producer.checkout.rate=200,400",
            "--warmup",
            "mser5",
            "--report",
            "html",
            "--out",
        ])
        .arg(&page)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html = std::fs::read_to_string(&page).unwrap();
    // Throughput, lag, percentiles, and the two sweep charts.
    assert_html_page(&html, 5);
    assert!(html.contains("at-least-once producer.checkout.rate=400"));
    assert!(html.contains("MSER-5"));
}

#[test]
fn unknown_set_key_is_exit_2_with_the_accepted_keys() {
    let dir = scratch("badset");
    let path = crash_scenario(&dir);
    let out = mqlab()
        .arg("compare")
        .arg(&path)
        .args(["--set", "consumer.payments.colour=red"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    // The group's table lists the keys it takes, as the file's error would.
    assert!(
        err.contains("consumer.payments.colour=red: unknown field `colour`")
            && err.contains("`instances`"),
        "{err}"
    );
    let out = mqlab()
        .arg("compare")
        .arg(&path)
        .args(["--set", "consumer.payments.instances=1"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "the crash target payments/1 would not exist"
    );
}

fn capacity(slo: &str) -> Value {
    let out = mqlab()
        .args([
            "capacity",
            "scenarios/mm1.toml",
            "--producer",
            "arrivals",
            "--slo",
            slo,
        ])
        .args(["--seeds", "1..3", "--set", "duration=20s", "--json"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn capacity_of_mm1_is_near_the_theoretical_p99_limit() {
    // M/M/1 with mu = 1000/s: p99 of the sojourn is ln(100) / (mu - lambda) < 50 ms below
    // lambda ~ 908/s. Short runs are noisy, so accept a band around it.
    let v = capacity("p99<50ms");
    let rate = v["rate_per_s"].as_f64().unwrap();
    assert!((800.0..=960.0).contains(&rate), "capacity {rate}");
    let probes = v["probes"].as_array().unwrap();
    assert!(
        probes
            .iter()
            .any(|p| p["pass"] == false && p["rate_per_s"].as_f64().unwrap() > rate)
    );
}

#[test]
fn capacity_with_a_loose_slo_stops_where_the_backlog_grows() {
    // With p99 < 60 s the SLO never binds: the search must stop at the service rate, where
    // the queue stops keeping up (rho = 1).
    let v = capacity("p99<60s");
    let rate = v["rate_per_s"].as_f64().unwrap();
    assert!((950.0..=1020.0).contains(&rate), "capacity {rate}");
    let failed = v["probes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["pass"] == false)
        .unwrap();
    assert!(
        failed["why"].as_str().unwrap().contains("left unprocessed"),
        "{failed}"
    );
}

#[test]
fn run_writes_its_report_atomically_with_out() {
    let dir = scratch("runreport");
    let md = dir.join("run.md");
    mqlab()
        .args(["run", "scenarios/mm1.toml", "--report", "md", "--out"])
        .arg(&md)
        .assert()
        .success();
    let text = std::fs::read_to_string(&md).unwrap();
    assert!(text.starts_with("# mqlab run: mm1\n\nseed 1 ·"));
    let html = dir.join("run.html");
    mqlab()
        .args(["run", "scenarios/mm1.toml", "--report", "html", "--out"])
        .arg(&html)
        .assert()
        .success();
    assert_html_page(&std::fs::read_to_string(&html).unwrap(), 3);
}

#[test]
fn saved_comparison_feeds_every_report_format() {
    let dir = scratch("savedcmp");
    let path = crash_scenario(&dir);
    let saved = dir.join("cmp.json");
    mqlab()
        .arg("compare")
        .arg(&path)
        .args(["--seeds", "1..2", "--out"])
        .arg(&saved)
        .assert()
        .success();
    for (format, marker) in [
        ("md", "## Paired differences"),
        ("html", "<svg"),
        ("csv", "run,variant,seed,t_s,metric,value"),
        ("hdr", "Tag=exactly-once,"),
        ("json", "\"runs\""),
    ] {
        let out = mqlab()
            .arg("report")
            .arg(&saved)
            .args(["--format", format])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{format}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains(marker),
            "{format}"
        );
    }
}

/// The README's suggested sweep: turning the resequencer off drops its own settings
/// instead of failing on them.
#[test]
fn resequence_sweep_from_the_readme_runs_on_ordering() {
    let out = mqlab()
        .args([
            "compare",
            "scenarios/ordering.toml",
            "--seeds",
            "1",
            "--set",
            "consumer.fulfilment.resequence=true,false",
            "--delivery",
            "at-least-once",
            "--json",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(2), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["runs"].as_array().map(Vec::len), Some(2), "{err}");
}
