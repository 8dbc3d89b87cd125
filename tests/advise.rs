//! `mqlab advise`: for canonical needs, one per branch of the decision framework, the
//! recommended model is the framework's (strict ordering → a log, single-partition or
//! with a resequencer at scale; exactly-once → a log with transactions; at-most-once →
//! Redis pub/sub, or RabbitMQ when routing is complex; at-least-once → a managed queue, or
//! RabbitMQ/Kafka self-hosted; millions of small messages → a log; payloads over 256 KB →
//! a claim check), and every figure of the evidence is a real run of the written
//! scenarios: `mqlab run FILE --seed S --delivery V --json` gives the same numbers.

use crate::support::{mqlab, scratch};
use mqlab_sim::{Delivery, Engine, Scenario};
use serde_json::Value;
use std::path::Path;

/// Runs `mqlab advise ARGS --json` (two seeds of 3 s) in `dir`; returns its JSON.
fn advise(dir: &Path, args: &[&str]) -> Value {
    let out = mqlab()
        .current_dir(dir)
        .arg("advise")
        .args(args)
        .args(["--json", "--seeds", "1..2", "--duration", "3s"])
        .output()
        .expect("mqlab runs");
    let code = out.status.code();
    // 0: the runs back the recommendation; 1: they do not. Never bad input.
    assert!(
        matches!(code, Some(0 | 1)),
        "{args:?}: exit {code:?}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(code == Some(0), v["backed"].as_bool().unwrap(), "{args:?}");
    v
}

fn recommended(v: &Value) -> &Value {
    let model = v["recommended"].as_str().unwrap();
    v["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["model"] == model)
        .expect("a candidate for the recommended model")
}

fn scenario(c: &Value) -> Scenario {
    Scenario::from_toml(c["scenario"].as_str().unwrap(), "candidate.toml")
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn strict_ordering_that_one_consumer_keeps_up_with_gets_a_single_partition_log() {
    let dir = scratch("advise-total");
    let v = advise(&dir, &["--ordering", "total", "--rate", "200"]);
    assert_eq!(v["recommended"], "log");
    let s = scenario(recommended(&v));
    assert_eq!(*s.topics[0].partitions.get_ref(), 1);
    assert!(s.consumers.iter().all(|c| c.ordered && !c.resequences()));
    // Total order is one sequence: one key.
    assert_eq!(*s.producers[0].keys.get_ref(), 1);
}

#[test]
fn strict_ordering_at_scale_gets_partitions_and_a_resequencer() {
    let dir = scratch("advise-total-scale");
    // 2000/s × 2ms = 4 consumers busy: one partition cannot keep up.
    let v = advise(&dir, &["--ordering", "total", "--rate", "2000"]);
    assert_eq!(v["recommended"], "log");
    let s = scenario(recommended(&v));
    assert!(*s.topics[0].partitions.get_ref() > 1);
    assert!(s.consumers.iter().all(|c| c.resequences()));
    assert_eq!(v["decision"]["resequence"], true);
}

#[test]
fn exactly_once_gets_a_log_with_an_idempotent_producer_and_acks_all() {
    let dir = scratch("advise-eo");
    let v = advise(&dir, &["--delivery", "exactly-once"]);
    assert_eq!(v["recommended"], "log");
    let s = scenario(recommended(&v));
    assert!(s.producers.iter().all(|p| p.idempotent));
    assert_eq!(s.broker.acks, mqlab_sim::scenario::Acks::All);
    assert!(
        s.consumers
            .iter()
            .all(|c| c.delivery == Delivery::ExactlyOnce)
    );
}

#[test]
fn at_most_once_gets_pubsub_when_simple_and_an_exchange_when_routing_is_complex() {
    let dir = scratch("advise-amo");
    let v = advise(&dir, &["--delivery", "at-most-once"]);
    assert_eq!(v["recommended"], "pubsub");
    let v = advise(
        &dir,
        &["--delivery", "at-most-once", "--routing", "order.*,user.#"],
    );
    assert_eq!(v["recommended"], "exchange");
    let s = scenario(recommended(&v));
    let bindings: Vec<String> = s
        .consumers
        .iter()
        .flat_map(|c| c.bindings.iter().map(|b| b.get_ref().clone()))
        .collect();
    assert_eq!(bindings, ["order.*", "user.#"]);
}

#[test]
fn at_least_once_gets_a_managed_queue_or_a_self_hosted_exchange_or_log() {
    let dir = scratch("advise-alo");
    let v = advise(&dir, &["--hosting", "managed"]);
    assert_eq!(v["recommended"], "queue");
    let v = advise(&dir, &["--hosting", "self-hosted"]);
    assert_eq!(v["recommended"], "exchange");
    // Replay needs a log whoever runs it.
    let v = advise(&dir, &["--hosting", "managed", "--replay"]);
    assert_eq!(v["recommended"], "log");
}

#[test]
fn millions_of_small_messages_get_a_log_and_large_payloads_a_claim_check() {
    let dir = scratch("advise-volume");
    let v = advise(
        &dir,
        &[
            "--rate",
            "20000",
            "--payload",
            "200",
            "--service-time",
            "50us",
        ],
    );
    assert_eq!(v["recommended"], "log");
    let v = advise(&dir, &["--payload", "pareto(16KB, 1.2)"]);
    assert_eq!(v["decision"]["claim_check"], true);
    let s = scenario(recommended(&v));
    assert!(s.producers.iter().all(|p| p.claim_check.is_some()));
}

/// The figures `mqlab run --json` gives for one run.
fn figures(r: &Value) -> [Value; 7] {
    let m = &r["messages"];
    [
        r["trace_hash"].clone(),
        m["lost"].clone(),
        m["duplicated"].clone(),
        m["out_of_order"].clone(),
        m["dropped"].clone(),
        r["latency_s"]["p99"].clone(),
        r["throughput"]["processed_per_s"].clone(),
    ]
}

#[test]
fn the_evidence_is_what_the_written_scenarios_give_when_run_again() {
    let dir = scratch("advise-evidence");
    let needs = dir.join("needs.toml");
    std::fs::write(
        &needs,
        "[needs]\nordering = \"per-key\"\nrate = 800\np99_latency = \"200ms\"\nfan_out = 2\n",
    )
    .unwrap();
    let out = dir.join("chosen.toml");
    let v = advise(
        &dir,
        &[needs.to_str().unwrap(), "--out", out.to_str().unwrap()],
    );
    let rec = recommended(&v);
    let written = std::fs::read_to_string(&out).expect("the recommended scenario written");
    assert_eq!(written, rec["scenario"].as_str().unwrap());
    // Every candidate's every run, in process.
    for c in v["candidates"].as_array().unwrap() {
        let s = scenario(c);
        for variant in c["variants"].as_array().unwrap() {
            let d = Delivery::parse(variant["delivery"].as_str().unwrap()).unwrap();
            for run in variant["runs"].as_array().unwrap() {
                let mut s = s.clone();
                s.set_delivery(d);
                let r = Engine::new(&s, run["seed"].as_u64().unwrap()).run();
                assert_eq!(run["trace_hash"], r.trace_hash.as_str(), "{}", c["model"]);
                assert_eq!(run["duplicated"], r.messages.duplicated);
                assert_eq!(run["p99_s"], r.latency_s.p99);
            }
        }
    }
    // The written file through the real command line, over the same seeds.
    let needed = rec["variants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["delivery"] == "at-least-once")
        .unwrap();
    for run in needed["runs"].as_array().unwrap() {
        let seed = run["seed"].to_string();
        let o = mqlab()
            .args(["run", out.to_str().unwrap(), "--seed", &seed])
            .args(["--delivery", "at-least-once", "--json"])
            .output()
            .unwrap();
        let r: Value = serde_json::from_slice(&o.stdout).expect("run --json");
        let want = [
            run["trace_hash"].clone(),
            run["lost"].clone(),
            run["duplicated"].clone(),
            run["out_of_order"].clone(),
            run["dropped"].clone(),
            run["p99_s"].clone(),
            run["processed_per_s"].clone(),
        ];
        assert_eq!(figures(&r), want, "seed {seed}");
    }
    // The table's worst figures are the runs' worst.
    let p99_max = needed["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["p99_s"].as_f64().unwrap())
        .fold(0.0, f64::max);
    assert_eq!(needed["p99_max_s"].as_f64().unwrap(), p99_max);
    let met = rec["needs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["need"] == "p99 ≤ 200ms")
        .expect("the p99 need judged");
    assert_eq!(met["met"].as_bool().unwrap(), p99_max <= 0.2);
}

#[test]
fn the_text_report_shows_the_decision_path_and_the_evidence_table() {
    let dir = scratch("advise-text");
    let out = mqlab()
        .current_dir(&*dir)
        .args([
            "advise",
            "--delivery",
            "at-most-once",
            "--seeds",
            "1",
            "--duration",
            "2s",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for want in [
        "1. ordering",
        "delivery",
        "at-most-once, simple → Redis pub/sub",
        "| candidate | sizing |",
        "| pubsub ◀ |",
        "wrote advise-pubsub.toml",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    // The default file lands in the current folder and is a normal scenario.
    let file = dir.join("advise-pubsub.toml");
    let o = mqlab()
        .args(["validate", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn bad_needs_name_the_file_line_and_column_or_the_flag() {
    let dir = scratch("advise-bad");
    let needs = dir.join("needs.toml");
    std::fs::write(&needs, "[needs]\nrate = 500\nordering = \"sorted\"\n").unwrap();
    let o = mqlab()
        .current_dir(&*dir)
        .args(["advise", needs.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("needs.toml:3:12"), "{err}");
    assert!(err.contains("per-key"), "{err}");
    std::fs::write(&needs, "[needs]\nrate = -5\n").unwrap();
    let o = mqlab()
        .args(["advise", needs.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("needs.toml:2:8") && err.contains("rate"),
        "{err}"
    );
    let o = mqlab().args(["advise", "--p99", "soon"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--p99 `soon`"), "{err}");
}

#[test]
fn the_other_needs_shape_the_candidates_and_every_candidate_loads() {
    use mqlab_sim::scenario::{Arrival, BrokerModel};
    let dir = scratch("advise-shapes");
    let candidate = |v: &Value, model: &str| {
        let c = v["candidates"].as_array().unwrap().iter();
        scenario(c.clone().find(|c| c["model"] == model).unwrap())
    };
    // Bursts: the producers are bursty, with `rate` their mean.
    let v = advise(&dir, &["--burstiness", "3", "--rate", "300"]);
    let s = candidate(&v, "log");
    assert!(s.producers.iter().all(|p| p.arrival == Arrival::Bursty));
    let mean: f64 = s.producers.iter().map(|p| *p.rate.get_ref()).sum();
    assert!((mean - 300.0).abs() < 1e-9, "{mean}");
    // Priority classes: a queue served by weight, one producer per class; two groups.
    let v = advise(&dir, &["--priorities", "3", "--fan-out", "2"]);
    assert_eq!(v["recommended"], "queue");
    let s = candidate(&v, "queue");
    assert_eq!(s.producers.len(), 3);
    assert_eq!(s.consumers.len(), 2);
    assert!(s.consumers.iter().all(|c| c.scheduling.is_some()));
    // Replicated: three nodes, three replicas, acks from all.
    let v = advise(
        &dir,
        &["--durability", "replicated", "--ordering", "per-key"],
    );
    let s = candidate(&v, "log");
    assert_eq!(*s.broker.replication.get_ref(), 3);
    assert_eq!(s.broker.acks, mqlab_sim::scenario::Acks::All);
    // At-most-once that must be stored is not Redis pub/sub.
    let v = advise(
        &dir,
        &["--delivery", "at-most-once", "--durability", "disk"],
    );
    assert_eq!(v["recommended"], "exchange");
    // Routing: each group binds its pattern on a topic exchange; elsewhere every group
    // gets everything, and the routing need is not met.
    let v = advise(&dir, &["--routing", "a.*,b.#,c.x", "--fan-out", "3"]);
    let s = candidate(&v, "exchange");
    assert_eq!(s.consumers.len(), 3);
    assert_eq!(*s.broker.model.get_ref(), BrokerModel::Exchange);
    let log = v["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["model"] == "log");
    let routing = log.unwrap()["needs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["need"] == "routing");
    assert_eq!(routing.unwrap()["met"], false);
}
