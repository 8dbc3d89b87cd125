//! The command line as users and CI scripts rely on it: exit codes 0/1/2, pure JSON on
//! stdout with `--json`, the contract's fields, `validate`, `list`, and `--out`.

use crate::support::mqlab;
use serde_json::Value;

#[test]
fn run_json_prints_exactly_the_contract_fields() {
    let out = mqlab()
        .args(["run", "scenarios/mm1.toml", "--json", "--seed", "4"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&out.stdout).expect("stdout is one JSON object");
    for key in [
        "scenario",
        "seed",
        "delivery",
        "trace_hash",
        "events",
        "sim_time_s",
        "wall_s",
        "messages",
        "latency_s",
        "groups",
        "series",
        "expectations",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    for key in [
        "produced",
        "acked",
        "copies",
        "delivered",
        "processed",
        "lost",
        "duplicated",
        "out_of_order",
        "dead_lettered",
        "dropped",
        "in_flight",
    ] {
        assert!(v["messages"][key].is_u64(), "messages.{key}");
    }
    for key in ["mean", "p50", "p90", "p99", "p999", "max"] {
        assert!(v["latency_s"][key].is_f64(), "latency_s.{key}");
    }
    for key in [
        "name",
        "copies",
        "processed",
        "lost",
        "duplicated",
        "out_of_order",
        "dead_lettered",
        "dropped",
        "in_flight",
        "wait_mean_s",
        "sojourn_mean_s",
        "in_system_mean",
        "utilization",
        "max_lag",
    ] {
        assert!(v["groups"][0].get(key).is_some(), "groups[0].{key}");
    }
    for key in ["t_s", "produced_per_s", "processed_per_s", "depth", "lag"] {
        assert!(v["series"][key].is_array(), "series.{key}");
    }
    for key in ["check", "expected", "actual", "ok"] {
        assert!(
            v["expectations"][0].get(key).is_some(),
            "expectations[0].{key}"
        );
    }
    assert_eq!(v["seed"], 4);
}

#[test]
fn a_failed_expectation_exits_1_and_says_which() {
    let out = mqlab()
        .args([
            "run",
            "scenarios/crash-during-processing.toml",
            "--delivery",
            "at-most-once",
        ])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("FAIL lost"), "{text}");
    assert!(
        text.contains(" over)"),
        "the failed line says by how much: {text}"
    );
    assert!(
        text.starts_with("mqlab run scenarios/crash-during-processing.toml --seed 1"),
        "{text}"
    );
}

#[test]
fn bad_flags_and_missing_files_exit_2() {
    let out = mqlab()
        .args(["run", "scenarios/mm1.toml", "--delivery", "twice"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown delivery `twice`"));
    let out = mqlab()
        .args(["run", "scenarios/no-such.toml"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("cannot read scenario scenarios/no-such.toml")
    );
}

#[test]
fn check_determinism_passes_on_shipped_scenarios() {
    let out = mqlab()
        .args(["run", "scenarios/food-delivery.toml", "--check-determinism"])
        .output()
        .expect("runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("(identical)"));
}

#[test]
fn validate_and_list_describe_the_scenarios() {
    let out = mqlab()
        .args(["validate", "scenarios/mmc.toml"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok"));
    let out = mqlab().arg("list").output().expect("runs");
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    for name in [
        "food-delivery",
        "crash-during-processing",
        "poison-pill",
        "slow-consumer",
        "mm1",
        "mmc",
        "partitioned-vs-shared",
    ] {
        assert!(
            text.contains(&format!("  {name}: ")),
            "{name} missing from list:\n{text}"
        );
    }
}

#[test]
fn out_writes_the_json_result_and_leaves_no_temporary_file() {
    let dir = std::env::temp_dir().join(format!("mqlab-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let file = dir.join("result.json");
    let out = mqlab()
        .args(["run", "scenarios/mm1.toml", "--out"])
        .arg(&file)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0));
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(&file).expect("written")).expect("json");
    assert_eq!(v["scenario"], "mm1");
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .expect("dir")
        .filter_map(Result::ok)
        .filter(|e| e.file_name() != "result.json")
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let unwritable = mqlab()
        .args([
            "run",
            "scenarios/mm1.toml",
            "--out",
            "/nonexistent-dir/r.json",
        ])
        .output()
        .expect("runs");
    assert_eq!(unwritable.status.code(), Some(2));
    std::fs::remove_dir_all(&dir).ok();
}

/// A run whose ledger cannot fit is refused before it starts, with both numbers: about
/// 4e9 messages to 40 groups need some 200 GB, which no machine this runs on has free.
#[test]
fn a_run_too_big_for_this_machine_is_refused_up_front_with_the_numbers() {
    let dir = crate::support::scratch("too-big");
    let mut text = String::from(
        "name = \"big\"\nduration = \"4000s\"\n[[topic]]\nname = \"t\"\n\
         [[producer]]\nname = \"p\"\ntopic = \"t\"\nrate = 1000000\n",
    );
    for g in 0..40 {
        text.push_str(&format!("[[consumer]]\ngroup = \"g{g}\"\ntopic = \"t\"\n"));
    }
    let path = dir.join("big.toml");
    std::fs::write(&path, text).expect("write");
    let started = std::time::Instant::now();
    let out = mqlab().arg("run").arg(&path).output().expect("runs");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("GB for its per-message ledger") && err.contains("GB available"),
        "{err}"
    );
    assert!(started.elapsed().as_secs() < 10, "refused before running");
}
