//! Speed must never change behaviour (issue 7): a 1-million-message M/M/1 run must give
//! exactly the trace hash and the JSON result that the unoptimised engine gave.
//!
//! The golden file `tests/fixtures/performance/mm1-1m.json` was produced by the engine as
//! it stood before any optimisation (branch point 451d720), on the 2-core x86-64 Linux
//! build machine. Floating-point distributions go through the platform math library
//! (DESIGN.md, "Known pitfalls"), so on another platform the figures may legitimately
//! differ; regenerate there with `MQLAB_BLESS=1 cargo test --test integration
//! performance` — but only from an engine known to be behaviour-identical, never to make
//! an optimisation pass.

use crate::support::{load, root, run};
use mqlab_sim::SimDuration;

/// `mm1.toml` (900 messages/s) produced for 1111 s: about one million messages.
fn mm1_one_million() -> mqlab_sim::Scenario {
    let mut s = load(&root().join("scenarios/mm1.toml"));
    s.duration = SimDuration::from_secs(1111);
    s
}

#[test]
fn one_million_message_mm1_run_matches_the_unoptimised_engine() {
    let s = mm1_one_million();
    let result = run(&s, s.seed);
    assert!(
        result.messages.produced > 990_000,
        "the run is no longer about a million messages: {}",
        result.messages.produced
    );
    let json = serde_json::to_string_pretty(&result).expect("json") + "\n";
    let golden_path = root().join("tests/fixtures/performance/mm1-1m.json");
    if std::env::var_os("MQLAB_BLESS").is_some() {
        std::fs::write(&golden_path, &json).expect("write golden");
    }
    let golden = std::fs::read_to_string(&golden_path).expect("golden file");
    let golden_hash =
        serde_json::from_str::<serde_json::Value>(&golden).expect("golden json")["trace_hash"]
            .clone();
    assert_eq!(
        serde_json::Value::from(result.trace_hash.clone()),
        golden_hash,
        "seed={} mm1 at 1111 s: trace hash changed",
        s.seed
    );
    if json != golden {
        let line = json
            .lines()
            .zip(golden.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(0);
        panic!(
            "seed={} mm1 at 1111 s: JSON differs from the golden file from line {}: `{}` vs `{}`",
            s.seed,
            line + 1,
            json.lines().nth(line).unwrap_or(""),
            golden.lines().nth(line).unwrap_or("")
        );
    }
}

fn mqlab_json(args: &[&str]) -> serde_json::Value {
    let out = assert_cmd::Command::cargo_bin("mqlab")
        .expect("binary")
        .current_dir(root())
        .args(args)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0), "mqlab {args:?}");
    serde_json::from_slice(&out.stdout).expect("one JSON object")
}

#[test]
fn scale_multiplies_only_the_producing_duration() {
    // `--scale 3` is the same run as the scenario edited to three times its duration.
    let scaled = mqlab_json(&["run", "scenarios/mm1.toml", "--json", "--scale", "3"]);
    let mut s = load(&root().join("scenarios/mm1.toml"));
    s.duration = SimDuration::from_secs(300);
    let edited = run(&s, s.seed);
    assert_eq!(scaled["trace_hash"], edited.trace_hash.as_str());
    assert_eq!(scaled["duration_s"], 300.0);
    assert_eq!(scaled["messages"]["produced"], edited.messages.produced);
}

#[test]
fn messages_sets_the_duration_from_the_total_rate_and_bad_knobs_exit_2() {
    let v = mqlab_json(&["run", "scenarios/mm1.toml", "--json", "--messages", "9000"]);
    assert_eq!(v["duration_s"], 10.0, "9000 messages at 900/s");
    for bad in [
        &["--scale", "0"][..],
        &["--scale", "-1"],
        &["--scale", "2", "--messages", "5"],
    ] {
        let code = assert_cmd::Command::cargo_bin("mqlab")
            .expect("binary")
            .current_dir(root())
            .args(["run", "scenarios/mm1.toml"])
            .args(bad)
            .output()
            .expect("runs")
            .status
            .code();
        assert_eq!(code, Some(2), "{bad:?}");
    }
}
