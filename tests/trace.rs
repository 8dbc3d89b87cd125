//! `mqlab trace` (issue 14, item 3): the history of one message. Tracing never changes
//! the run; the trace of a copy duplicated by a crash shows both applications with the
//! crash and the redelivery between them; the trace of a lost copy shows where it was
//! lost; the result and the summary name example ids and the command that traces one.

use crate::support::{self, mqlab};
use mqlab_sim::engine::{TraceEvent, TraceSpec};
use mqlab_sim::{Engine, RunSummary, Scenario};
use serde_json::Value;

const CRASH: &str = "scenarios/crash-during-processing.toml";

/// A run traced on `spec`: its result and the message's history.
fn traced(s: &Scenario, seed: u64, spec: &TraceSpec) -> (RunSummary, Vec<TraceEvent>) {
    let mut e = Engine::new(s, seed);
    e.trace(spec).unwrap();
    while e.step() {}
    let history = e.history().unwrap();
    (e.summary(), history)
}

fn json(args: &[&str]) -> Value {
    let out = mqlab().args(args).output().unwrap();
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", String::from_utf8_lossy(&out.stderr)))
}

/// The first example id of `anomaly` in group 0 of `mqlab run <args> --json`.
fn example(args: &[&str], anomaly: &str) -> u64 {
    let mut all = args.to_vec();
    all.push("--json");
    let r = json(&all);
    r["groups"][0]["examples"][anomaly][0]
        .as_u64()
        .unwrap_or_else(|| panic!("no {anomaly} example in {args:?}: {}", r["groups"][0]))
}

/// Position of the first event named `event` at or after `from`.
fn find(events: &[Value], event: &str, from: usize) -> usize {
    events
        .iter()
        .skip(from)
        .position(|e| e["event"] == event)
        .map(|i| i + from)
        .unwrap_or_else(|| panic!("no `{event}` after step {from} in {events:#?}"))
}

fn time(e: &Value) -> f64 {
    e["t_s"].as_f64().unwrap()
}

#[test]
fn tracing_never_changes_the_run() {
    for path in support::scenario_paths() {
        let s = support::load(&path);
        let plain = Engine::new(&s, s.seed).run();
        let g = &plain.groups[0];
        // An anomalous copy where there is one (its path crosses the most hooks), and the
        // topic's first message.
        let anomalous = g
            .examples
            .by_anomaly()
            .iter()
            .find_map(|(_, ids)| ids.first().copied());
        for id in anomalous.into_iter().chain([0]) {
            let spec = TraceSpec {
                message: id,
                group: Some(g.name.clone()),
                topic: None,
            };
            let (run, history) = traced(&s, s.seed, &spec);
            let name = path.display();
            assert_eq!(
                run.trace_hash, plain.trace_hash,
                "seed={} {name} message {id}",
                s.seed
            );
            assert_eq!(
                run, plain,
                "seed={} {name} message {id}: the result differs",
                s.seed
            );
            assert_eq!(
                history.first().map(|e| e.event.as_str()),
                Some("created"),
                "{name} {id}"
            );
            assert_eq!(
                history.last().map(|e| e.event.as_str()),
                Some("outcome"),
                "{name} {id}"
            );
            assert!(
                history.windows(2).all(|w| w[0].at <= w[1].at),
                "{name} {id}: time order"
            );
        }
    }
}

#[test]
fn a_copy_duplicated_by_a_crash_shows_both_applications_the_crash_and_the_redelivery() {
    let run = ["run", CRASH, "--delivery", "at-least-once"];
    let id = example(&run, "duplicated").to_string();
    let t = json(&[
        "trace",
        CRASH,
        "--delivery",
        "at-least-once",
        "--message",
        &id,
        "--group",
        "charger",
        "--json",
    ]);
    let events = t.as_array().unwrap();
    let applied = find(events, "applied", 0);
    let crash = find(events, "crash", applied);
    let redelivered = find(events, "redelivered", crash);
    let again = find(events, "applied_again", redelivered);
    // Time order, and the crash hit the instance that had applied it.
    assert!(time(&events[applied]) <= time(&events[crash]));
    assert!(time(&events[crash]) <= time(&events[redelivered]));
    assert!(time(&events[redelivered]) <= time(&events[again]));
    assert_eq!(
        events[crash]["component"], events[applied]["component"],
        "{events:#?}"
    );
    assert_ne!(
        events[again]["component"], events[crash]["component"],
        "replayed elsewhere"
    );
    // Nothing committed the offset between the two applications (that is the duplicate).
    assert!(
        !events[applied..again]
            .iter()
            .any(|e| e["event"] == "committed"),
        "{events:#?}"
    );
    let outcome = events.last().unwrap();
    assert_eq!(outcome["event"], "outcome");
    assert!(
        outcome["detail"].as_str().unwrap().contains("DUPLICATED"),
        "{outcome}"
    );
}

#[test]
fn an_at_most_once_copy_lost_in_a_crash_shows_where_it_was_lost() {
    let run = ["run", CRASH, "--delivery", "at-most-once"];
    let id = example(&run, "lost").to_string();
    let t = json(&[
        "trace",
        CRASH,
        "--delivery",
        "at-most-once",
        "--message",
        &id,
        "--group",
        "charger",
        "--json",
    ]);
    let events = t.as_array().unwrap();
    let appended = find(events, "appended", 0);
    let committed = find(events, "committed", appended);
    let delivered = find(events, "delivered", appended);
    let crash = find(events, "crash", delivered.max(committed));
    let lost = find(events, "lost", crash);
    // Committed before processing, then the crash took it from the instance holding it.
    assert!(
        !events.iter().any(|e| e["event"] == "applied"),
        "{events:#?}"
    );
    assert_eq!(events[lost]["component"], events[crash]["component"]);
    assert_eq!(events[lost]["component"], events[delivered]["component"]);
    assert_eq!(time(&events[lost]), time(&events[crash]));
    let outcome = events.last().unwrap();
    assert!(
        outcome["detail"].as_str().unwrap().starts_with("LOST"),
        "{outcome}"
    );
}

/// Fire-and-forget over a lossy network: the producer counts it sent, the network loses it.
const LOSSY: &str = r#"name = "lossy"
duration = "2s"
drain = "2s"
[broker]
acks = "none"
[network]
latency = "1ms"
loss = 0.05
[[topic]]
name = "t"
[[producer]]
name = "p"
topic = "t"
rate = 500
[[consumer]]
group = "g"
topic = "t"
service_time = "exp(1ms)"
delivery = "at-most-once"
"#;

#[test]
fn a_copy_lost_on_the_network_shows_the_loss_at_the_network() {
    let dir = support::scratch("trace-lossy");
    let path = dir.join("lossy.toml");
    std::fs::write(&path, LOSSY).unwrap();
    let p = path.to_str().unwrap();
    let id = example(&["run", p], "lost").to_string();
    let t = json(&["trace", p, "--message", &id, "--json"]);
    let events = t.as_array().unwrap();
    let sent = find(events, "sent", 0);
    let lost = find(events, "lost_on_network", sent);
    assert_eq!(events[lost]["component"], "network");
    assert!(
        !events.iter().any(|e| e["event"] == "appended"),
        "{events:#?}"
    );
    assert!(
        events.last().unwrap()["detail"]
            .as_str()
            .unwrap()
            .starts_with("LOST")
    );
}

#[test]
fn the_summary_prints_a_trace_command_that_reproduces_an_example() {
    let out = mqlab()
        .args([
            "run",
            CRASH,
            "--delivery",
            "at-least-once",
            "--scale",
            "0.5",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("mqlab trace"))
        .unwrap_or_else(|| panic!("no trace command in:\n{text}"));
    assert!(
        line.contains("--delivery at-least-once --scale 0.5"),
        "{line}"
    );
    let args: Vec<&str> = line.split_whitespace().skip(1).collect();
    let traced = mqlab().args(&args).output().unwrap();
    assert!(
        traced.status.success(),
        "{line}: {}",
        String::from_utf8_lossy(&traced.stderr)
    );
    let history = String::from_utf8_lossy(&traced.stdout);
    assert!(history.contains("applied_again"), "{line}:\n{history}");
}

#[test]
fn unknown_ids_and_groups_are_clear_errors() {
    let out = mqlab()
        .args(["trace", CRASH, "--message", "3", "--group", "billing"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no consumer group `billing`") && err.contains("charger"),
        "{err}"
    );
    let out = mqlab()
        .args(["trace", CRASH, "--message", "4000000000", "--scale", "0.01"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("message 4000000000 was never created"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}

/// Small enough that the dashboard runs it flat out in a moment.
const SMALL: &str = r#"name = "crash-small"
description = "A consumer crashes between commits: at-least-once applies its uncommitted work again."
seed = 1
duration = "10s"
drain = "10s"

[[topic]]
name = "payments"
partitions = 3

[[producer]]
name = "checkout"
topic = "payments"
rate = 200
keys = 100

[[consumer]]
group = "charger"
topic = "payments"
instances = 3
service_time = "exp(4ms)"
delivery = "at-least-once"
commit_interval = "2s"

[[fault]]
at = "5s"
kind = "crash"
target = "charger/1"
duration = "2s"
"#;

#[test]
fn tmux_pick_an_anomaly_and_read_its_history() {
    let dir = crate::tui::scratch("trace-picker");
    std::fs::write(dir.join("small.toml"), SMALL).unwrap();
    let Some(t) = crate::tui::Tmux::start(&dir) else {
        return;
    };
    t.line("stty -g > before.stty");
    t.line(&format!(
        "{} tui small.toml; echo exit=$?",
        env!("CARGO_BIN_EXE_mqlab")
    ));
    t.wait_for("▶ running");
    t.keys(&["m"]);
    t.wait_for("■ finished");
    t.keys(&["a"]);
    let s = t.wait_for("Enter history");
    assert!(s.contains("charger") && s.contains("duplicated"), "{s}");
    t.keys(&["Enter"]);
    let s = t.wait_for("applied_again");
    for step in ["created", "applied ", "crash", "redelivered", "outcome"] {
        assert!(s.contains(step), "no {step:?} in the history:\n{s}");
    }
    let at = |w: &str| s.find(w).unwrap();
    assert!(
        at("crash") < at("redelivered") && at("redelivered") < at("applied_again"),
        "{s}"
    );
    t.keys(&["Escape"]);
    t.wait_for("Enter history");
    t.keys(&["q"]);
    let closed = std::time::Instant::now();
    while t.screen().contains("Enter history") {
        assert!(
            closed.elapsed().as_secs() < 20,
            "the picker stays open:\n{}",
            t.screen()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    t.wait_for("■ finished");
    t.keys(&["q"]);
    t.wait_for("exit=0");
    t.assert_restored(&dir);
}

/// A queue topic has no partitions: the server's refusal of a send while it is down is
/// the topic's, named so, not a `partition jobs/0` the user never declared.
#[test]
fn a_refusal_by_a_down_queue_server_is_the_topics() {
    let s = support::parse(
        "name = \"down\"\nduration = \"4s\"\n[broker]\nmodel = \"queue\"\n\
         [[topic]]\nname = \"jobs\"\n\
         [[producer]]\nname = \"p\"\ntopic = \"jobs\"\nrate = 100\nretries = 3\n\
         [[consumer]]\ngroup = \"g\"\ntopic = \"jobs\"\nservice_time = \"1ms\"\n\
         [[fault]]\nat = \"1s\"\nkind = \"broker-crash\"\ntarget = \"broker/0\"\n\
         duration = \"1s\"\n",
    );
    // A message made while the server was down: ids are dense from 0, ~100 a second.
    let spec = TraceSpec {
        message: 150,
        group: None,
        topic: None,
    };
    let (_, history) = traced(&s, s.seed, &spec);
    let refused: Vec<&TraceEvent> = history.iter().filter(|e| e.event == "refused").collect();
    assert!(!refused.is_empty(), "{history:#?}");
    assert!(
        refused.iter().all(|e| e.component == "topic jobs"),
        "{refused:#?}"
    );
}
