//! The patterns under the windowed ledgers: request-reply, sagas, services (pipelines),
//! the outbox and dead-lettering queues fold their final copies like any plain run, with
//! exactly the result of keeping everything, and their own tables (lineage, outputs'
//! records, request ids, timed-out requests, saga runs and commands, round trips, outbox
//! rows, dead letters) hold what is still live: a run four times longer holds no more.
//!
//! The shipped scenarios inject faults (which fold too, see `tests/window.rs`); these runs
//! leave them out, and the network's loss, so that what is measured is the steady pattern
//! itself.

use crate::support::{load, parse, root};
use mqlab_sim::engine::PatternRetained;
use mqlab_sim::{Engine, RunSummary, Scenario};

/// A queue whose visibility timeout is shorter than the processing's tail and which
/// dead-letters a message at its second receive: a steady trickle of dead letters, with
/// no redrive.
const DEAD_LETTERS: &str = r#"
name = "dead-letters"
seed = 5
duration = "30s"
drain = "30s"

[broker]
model = "queue"
visibility_timeout = "150ms"
max_receives = 1

[[topic]]
name = "jobs"

[[producer]]
name = "jobs"
topic = "jobs"
rate = 400

[[consumer]]
group = "workers"
topic = "jobs"
instances = 60
service_time = "exp(100ms)"
"#;

/// A service whose outputs go to a topic no group consumes (an audit trail, say): only
/// the topic's own fold can trim the lineage of its messages.
const SINK: &str = r#"
name = "sink"
seed = 9
duration = "30s"
drain = "10s"

[broker]
model = "log"

[[topic]]
name = "orders"
partitions = 2

[[topic]]
name = "audit"

[[producer]]
name = "orders"
topic = "orders"
rate = 500

[[consumer]]
group = "auditor"
topic = "orders"
instances = 2
service_time = "exp(1ms)"
delivery = "at-least-once"

  [[consumer.output]]
  topic = "audit"
"#;

/// The pattern scenarios, without their faults.
fn steady() -> Vec<(String, Scenario)> {
    let mut v: Vec<(String, Scenario)> = [
        "request-reply",
        "saga",
        "outbox",
        "food-delivery",
        "food-delivery-pipeline",
    ]
    .iter()
    .map(|n| {
        let s = load(&root().join(format!("scenarios/{n}.toml")));
        (n.to_string(), s)
    })
    .collect();
    v.push(("dead-letters".into(), parse(DEAD_LETTERS)));
    v.push(("sink".into(), parse(SINK)));
    for (_, s) in &mut v {
        s.faults.clear();
        // A request lost on the network holds its message until the producer's timeout
        // (30s by default), longer than the short runs here.
        s.network.loss = toml::Spanned::new(0..0, 0.0);
    }
    v
}

/// Runs `s` with its producing duration times `scale`, folding every `every` messages:
/// the patterns' retained entries at the end, the messages folded, and the result.
fn run(s: &Scenario, scale: f64, every: u32) -> (PatternRetained, u64, RunSummary) {
    let mut s = s.clone();
    s.duration = s.duration.mul_f64(scale);
    let mut e = Engine::new(&s, s.seed);
    e.fold_every(every);
    while e.step() {}
    (e.pattern_retained(), e.retained().folded, e.summary())
}

fn json(r: &RunSummary) -> String {
    serde_json::to_string_pretty(r).expect("serialisable")
}

#[test]
fn pattern_scenarios_fold_and_folding_often_changes_nothing() {
    for (name, s) in steady() {
        let (_, none, plain) = run(&s, 0.5, u32::MAX);
        let (_, folded, often) = run(&s, 0.5, 64);
        assert_eq!(none, 0, "{name}");
        assert!(
            folded > plain.messages.produced / 2,
            "{name}: folded {folded} of {} messages",
            plain.messages.produced
        );
        assert!(
            json(&plain) == json(&often),
            "{name}: the folded run differs"
        );
    }
}

#[test]
fn pattern_tables_hold_what_is_live_not_the_run() {
    let entries = |r: &PatternRetained| {
        [
            ("lineage", r.lineage),
            ("outputs", r.outputs),
            ("requests", r.requests),
            ("timed_out", r.timed_out),
            ("saga_runs", r.saga_runs),
            ("saga_commands", r.saga_commands),
            ("db_round_trips", r.db_round_trips),
            ("outbox_rows", r.outbox_rows),
            ("dead_letters", r.dead_letters),
            ("protection", r.protection),
        ]
    };
    for (name, s) in steady() {
        let (one, _, r1) = run(&s, 0.25, 256);
        let (four, _, r4) = run(&s, 1.0, 256);
        assert!(
            r4.messages.produced > 3 * r1.messages.produced,
            "{name}: {} vs {}",
            r4.messages.produced,
            r1.messages.produced
        );
        assert!(r1.conservation_ok && r4.conservation_ok, "{name}");
        // Each table holds about one fold's worth (256 messages a topic) and the backlog
        // at the end, whatever the run's length: kept for every message ever made, the
        // long run's would be four times the short one's.
        for ((table, a), (_, b)) in entries(&one).into_iter().zip(entries(&four)) {
            assert!(
                b <= 2 * a.max(1_000),
                "{name}: {table} holds {a} after {} messages, {b} after {}",
                r1.messages.produced,
                r4.messages.produced
            );
        }
        let total: usize = entries(&four).iter().map(|e| e.1).sum();
        assert!(
            (total as u64) < r4.messages.copies / 4,
            "{name}: {four:?} after {} copies",
            r4.messages.copies
        );
    }
}

#[test]
fn the_pattern_tables_are_in_use_where_they_grew() {
    // The bounds above are not vacuous: the tables fill while a run is under way.
    for (name, s) in steady() {
        let mut e = Engine::new(&s, s.seed);
        e.fold_every(u32::MAX);
        let mut peak = PatternRetained::default();
        let mut steps = 0u64;
        while e.step() {
            steps += 1;
            if steps.is_multiple_of(4096) {
                let r = e.pattern_retained();
                peak.lineage = peak.lineage.max(r.lineage);
                peak.requests = peak.requests.max(r.requests);
                peak.saga_commands = peak.saga_commands.max(r.saga_commands);
                peak.dead_letters = peak.dead_letters.max(r.dead_letters);
            }
        }
        let held = match name.as_str() {
            "request-reply" => peak.requests,
            "saga" => peak.saga_commands,
            "food-delivery-pipeline" | "sink" => peak.lineage,
            "dead-letters" => peak.dead_letters,
            _ => continue,
        };
        assert!(held > 1_000, "{name}: {peak:?}");
    }
}
