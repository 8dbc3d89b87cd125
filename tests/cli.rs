//! The command line as users and CI scripts rely on it: exit codes 0/1/2, pure JSON on
//! stdout with `--json`, the contract's fields, `validate`, `list`, and `--out`.

use crate::support::{mqlab, scratch};
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
    // Not bad input (2): a file that would run on a machine with the memory.
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("GB for its per-message ledger") && err.contains("GB are available"),
        "{err}"
    );
    assert!(started.elapsed().as_secs() < 10, "refused before running");
}

/// A run whose backlog outgrows the memory it may use is stopped with a reason, where the
/// up-front estimate could not see it coming: `saga.toml` broken as its description
/// says (one instance per service, a 200ms step timeout) storms after the inventory
/// crash, and under an 8 MB limit it is stopped at its first fold look (65,536 messages,
/// some 60,000 of them held). Nothing is written; mm1 under the same limit runs.
#[test]
fn a_run_whose_backlog_outgrows_its_memory_is_stopped_with_a_reason() {
    let dir = crate::support::scratch("storm");
    let storm = crate::support::storm();
    let path = dir.join("storm.toml");
    std::fs::write(&path, storm).expect("write");
    let out_file = dir.join("storm.json");
    let out = mqlab()
        .env("MQLAB_MEMORY_LIMIT", "8MB")
        .arg("run")
        .arg(&path)
        .arg("--out")
        .arg(&out_file)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("storm.toml: seed 11: stopped at "), "{err}");
    assert!(err.contains("topic `order.inventory` holds"), "{err}");
    assert!(err.contains("past half of the 8 MB it may use"), "{err}");
    assert!(!out_file.exists(), "no report of a run cut short");
    // `trace` runs the same engine under the same guard, and says so the same way.
    let traced = mqlab()
        .env("MQLAB_MEMORY_LIMIT", "8MB")
        .arg("trace")
        .arg(&path)
        .args(["--message", "5", "--topic", "order-events"])
        .output()
        .expect("runs");
    assert_eq!(traced.status.code(), Some(3), "{traced:?}");
    assert!(String::from_utf8_lossy(&traced.stderr).contains("storm.toml: seed 11: stopped at "));
    // The same run without the limit goes to its end (this machine has the memory).
    let full = mqlab()
        .arg("run")
        .arg(&path)
        .arg("--json")
        .output()
        .expect("runs");
    assert!(matches!(full.status.code(), Some(0 | 1)), "{full:?}");
    // A run that holds a handful of messages fits in 8 MB.
    let mm1 = mqlab()
        .env("MQLAB_MEMORY_LIMIT", "8MB")
        .args([
            "run",
            "scenarios/mm1.toml",
            "--messages",
            "300000",
            "--json",
        ])
        .output()
        .expect("runs");
    assert_eq!(mm1.status.code(), Some(0), "{mm1:?}");
    let bad = mqlab()
        .env("MQLAB_MEMORY_LIMIT", "lots")
        .args(["run", "scenarios/mm1.toml"])
        .output()
        .expect("runs");
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("MQLAB_MEMORY_LIMIT=lots"));
}

/// `--load F` multiplies every producer's and saga's rate, nothing else: saga.toml at
/// twice its load produces and starts about twice as many (Poisson counts over 30s, so
/// within 10%), over the same `duration`; the summary's first line reproduces it.
#[test]
fn load_multiplies_every_rate() {
    let run = |extra: &[&str]| {
        let out = mqlab()
            .args(["run", "scenarios/saga.toml", "--json"])
            .args(extra)
            .output()
            .expect("runs");
        serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("json")
    };
    let (one, two) = (run(&[]), run(&["--load", "2"]));
    assert_eq!(one["duration_s"], two["duration_s"]);
    let ratio = |f: &dyn Fn(&serde_json::Value) -> f64| f(&two) / f(&one);
    let produced = ratio(&|v| v["throughput"]["produced_per_s"].as_f64().expect("rate"));
    let sagas = ratio(&|v| v["sagas"][0]["started"].as_f64().expect("started"));
    assert!((produced - 2.0).abs() < 0.2, "produced x{produced}");
    assert!((sagas - 2.0).abs() < 0.2, "sagas started x{sagas}");
    let text = mqlab()
        .args([
            "run",
            "scenarios/mm1.toml",
            "--load",
            "0.5",
            "--messages",
            "2000",
        ])
        .output()
        .expect("runs");
    let first = String::from_utf8_lossy(&text.stdout);
    assert!(
        first.starts_with("mqlab run scenarios/mm1.toml --seed 1 --load 0.5 --messages 2000 "),
        "{first}"
    );
    // A factor too small to type as a decimal is reproduced as typed, and a --messages
    // that the rates so made could not produce in a run's longest time is refused.
    let tiny = mqlab()
        .args(["run", "scenarios/mm1.toml", "--load", "1e-300"])
        .output()
        .expect("runs");
    assert!(
        String::from_utf8_lossy(&tiny.stdout).contains(" --load 1e-300 "),
        "{tiny:?}"
    );
    let never = mqlab()
        .args([
            "run",
            "scenarios/mm1.toml",
            "--load",
            "1e-12",
            "--messages",
            "1000",
        ])
        .output()
        .expect("runs");
    assert_eq!(never.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&never.stderr).contains("longer than a run can last"));
    for bad in ["0", "-1", "x", "inf"] {
        let out = mqlab()
            .args(["run", "scenarios/mm1.toml", "--load", bad])
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(2), "--load {bad}");
    }
}

/// A queue's state lives on broker/0: a broker-crash of broker/1 is valid (a log beside
/// it would lose replicas there) but passes the queue by, and the run says so beside the
/// fault, in the text and the JSON, and `validate` names the fault's line. What it says
/// is held to what the run does: the queue's run is the same run without the fault, and
/// the same crash of broker/0 is an outage, with nothing said.
#[test]
fn a_broker_crash_the_model_does_not_carry_out_is_said_where_the_fault_is() {
    let dir = scratch("lint");
    let quiet = "name = \"q\"\nduration = \"5s\"\n[broker]\nmodel = \"queue\"\nnodes = 2\n\
                 [[topic]]\nname = \"jobs\"\n[[producer]]\nname = \"p\"\ntopic = \"jobs\"\n\
                 rate = 200\n[[consumer]]\ngroup = \"w\"\ntopic = \"jobs\"\n\
                 service_time = \"exp(3ms)\"\n";
    let crash_of = |node: u32| {
        format!(
            "{quiet}[[fault]]\nat = \"1s\"\nkind = \"broker-crash\"\ntarget = \"broker/{node}\"\n\
             duration = \"2s\"\n"
        )
    };
    let crash = crash_of(1);
    let (quiet_path, crash_path) = (dir.join("quiet.toml"), dir.join("crash.toml"));
    std::fs::write(&quiet_path, quiet).expect("write");
    std::fs::write(&crash_path, &crash).expect("write");
    let json = |p: &std::path::Path| -> Value {
        let out = mqlab()
            .args(["run", "--json"])
            .arg(p)
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(0));
        serde_json::from_slice(&out.stdout).expect("json")
    };
    let (q, c) = (json(&quiet_path), json(&crash_path));
    let note = c["faults"][0]["note"]
        .as_str()
        .expect("a note on the fault");
    assert!(
        note.contains("live on broker/0") && note.contains("`jobs` (queue)"),
        "{note}"
    );
    assert_eq!(
        c["latency_s"], q["latency_s"],
        "the queue ran through the crash"
    );
    assert_eq!(c["messages"], q["messages"]);
    let home_path = dir.join("home.toml");
    std::fs::write(&home_path, crash_of(0)).expect("write");
    let home = json(&home_path);
    assert!(home["faults"][0].get("note").is_none(), "{home}");
    assert!(
        home["latency_s"]["max"].as_f64() > Some(1.9),
        "its sends wait out the outage: {}",
        home["latency_s"]
    );
    let text = mqlab().arg("run").arg(&crash_path).output().expect("runs");
    let text = String::from_utf8_lossy(&text.stdout);
    let at = text
        .find("fault     broker-crash broker/1")
        .expect("the fault line");
    assert!(
        text[at..]
            .lines()
            .nth(1)
            .is_some_and(|l| l.contains("live on broker/0")),
        "{text}"
    );
    let out = mqlab()
        .arg("validate")
        .arg(&crash_path)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0), "a warning, not an error");
    let said = String::from_utf8_lossy(&out.stdout);
    // `kind` is line 18, its value from column 8.
    assert!(
        said.contains("crash.toml:18:8: warning: broker-crash of broker/1"),
        "{said}"
    );
    let quiet_said = mqlab()
        .arg("validate")
        .arg(&quiet_path)
        .output()
        .expect("runs");
    assert!(!String::from_utf8_lossy(&quiet_said.stdout).contains("warning"));
    // The dashboard's log says it when the fault starts.
    let scenario = mqlab_sim::Scenario::from_toml(&crash, "crash.toml").expect("valid");
    let mut engine = mqlab_sim::Engine::new(&scenario, 1);
    engine.run_until(mqlab_sim::SimTime(1_500_000_000));
    let log = engine.snapshot().log;
    assert!(
        log.iter().any(|l| l.at == mqlab_sim::SimTime(1_000_000_000)
            && l.text.starts_with(
                "broker/1: the model's queue, exchange and pub/sub topics live on broker/0"
            )),
        "{log:?}"
    );
}

/// An idempotent producer Kafka would refuse (`acks = "leader"`, the model's default) runs
/// as written, with a warning at its line on standard error: `--json` stays one object on
/// standard output. With `--set` changing the file, the warning names the file only.
#[test]
fn an_idempotent_producer_kafka_refuses_runs_with_a_warning_on_standard_error() {
    let dir = scratch("idem");
    let file = dir.join("idem.toml");
    std::fs::write(
        &file,
        "name = \"idem\"\nduration = \"2s\"\n[[topic]]\nname = \"t\"\n[[producer]]\n\
         name = \"p\"\ntopic = \"t\"\nrate = 50\nidempotent = true\n[[consumer]]\n\
         group = \"g\"\ntopic = \"t\"\nservice_time = \"1ms\"\n",
    )
    .expect("write");
    let out = mqlab()
        .args(["run", "--json"])
        .arg(&file)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0));
    let _: Value = serde_json::from_slice(&out.stdout).expect("stdout is one JSON object");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "idem.toml:6:8: warning: producer `p`: `idempotent = true` with `acks = \"leader\"`"
        ),
        "{err}"
    );
    let out = mqlab()
        .args(["run", "--json", "--set", "broker.acks=all"])
        .arg(&file)
        .output()
        .expect("runs");
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = mqlab()
        .args(["run", "--json", "--set", "producer.p.retries=0"])
        .arg(&file)
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("idem.toml: warning: producer `p`") && err.contains("`retries = 0`"),
        "{err}"
    );
}
