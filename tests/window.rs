//! The windowed ledgers change no result: a run that folds its final copies every 64
//! messages gives exactly the summary (every count, example, figure and the trace hash)
//! of the same run keeping every copy to the end, on the shipped scenarios and on
//! generated ones, faults and all. A copy folded too early panics when the engine touches
//! it again, so a missed reference cannot pass quietly. The faults and late joiners fold
//! too: each test below also checks that its run did fold, or it would prove nothing.

use crate::properties::{shape, toml_of};
use crate::support::{load, parse, root, scenario_paths};
use mqlab_sim::scenario::{FaultConfig, FaultKind, ReplayTo};
use mqlab_sim::{Engine, Scenario, SimDuration, SimTime};
use proptest::prelude::*;
use toml::Spanned;

/// The summary as JSON, folding every `every` messages (`None`: never), and how many
/// messages were folded.
fn json(s: &Scenario, seed: u64, every: Option<u32>) -> (String, u64) {
    json_injected(s, seed, every, &[])
}

/// `json`, with faults injected live (as the dashboard does) once the clock passes each
/// one's time; the count folded is what was folded after the last one.
fn json_injected(
    s: &Scenario,
    seed: u64,
    every: Option<u32>,
    live: &[FaultConfig],
) -> (String, u64) {
    let mut e = Engine::new(s, seed);
    e.fold_every(every.unwrap_or(u32::MAX));
    let mut live = live.iter().peekable();
    let mut before = 0;
    while e.step() {
        while let Some(f) = live.next_if(|f| e.now().since(SimTime::ZERO) >= f.at) {
            e.inject_fault(f.clone()).expect("injected");
            before = e.retained().folded;
        }
    }
    let folded = e.retained().folded - before;
    (
        serde_json::to_string_pretty(&e.summary()).expect("serialisable"),
        folded,
    )
}

/// Runs `s` never folding, folding every 64 and every message: the summaries must be
/// identical, and the folding runs must have folded something. Returns what the
/// every-64 run folded.
fn same_folded_or_not(s: &Scenario, what: &str, live: &[FaultConfig]) -> u64 {
    let (plain, none) = json_injected(s, s.seed, None, live);
    assert_eq!(none, 0, "{what}");
    let (often, n) = json_injected(s, s.seed, Some(64), live);
    assert!(
        plain == often,
        "{what}: folding every 64 changes the result"
    );
    let (always, _) = json_injected(s, s.seed, Some(1), live);
    assert!(
        plain == always,
        "{what}: folding at every look changes the result"
    );
    assert!(n > 0, "{what}: nothing folded");
    n
}

/// The shipped scenarios whose faults must not keep the whole ledger any more.
const FAULT_SCENARIOS: [&str; 8] = [
    "crash-during-processing",
    "kafka-broker-failover",
    "kafka-exactly-once",
    "network-partition",
    "poison-pill",
    "rabbitmq-topic-routing",
    "redis-pubsub-slow-subscriber",
    "slow-consumer",
];

#[test]
fn folding_often_changes_nothing_in_any_shipped_scenario() {
    let mut folding = Vec::new();
    for path in scenario_paths() {
        let s = load(&path);
        let (plain, none) = json(&s, s.seed, None);
        assert_eq!(none, 0, "{}", path.display());
        let (folded, n) = json(&s, s.seed, Some(64));
        assert!(
            plain == folded,
            "{}: the folded run differs",
            path.display()
        );
        if n > 0 {
            folding.push(
                path.file_stem()
                    .expect("a name")
                    .to_string_lossy()
                    .into_owned(),
            );
        }
    }
    // Every one folds: the plain ones, the ones with faults, the patterns (services,
    // outboxes, sagas, requesters) and the ones where patterns and faults meet.
    let all = scenario_paths().len();
    assert_eq!(folding.len(), all, "only {folding:?} folded anything");
    for name in FAULT_SCENARIOS {
        assert!(folding.iter().any(|f| f == name), "{name} keeps every copy");
    }
}

/// Exactly-once with a resequencer: what each application released is kept until its
/// transaction commits, past the fold, and pruning it asked the ledger about copies
/// already folded (`ordering.toml` under exactly-once panicked at 100,000 messages). Its
/// default run, folding at every look, must prune across folds and change nothing.
#[test]
fn a_transactional_resequencer_prunes_what_it_released_across_folds() {
    let text = std::fs::read_to_string(root().join("scenarios/ordering.toml")).expect("readable");
    let text = text.replace(
        "delivery = \"at-least-once\"",
        "delivery = \"exactly-once\"",
    );
    assert!(text.contains("exactly-once") && text.contains("resequence = true"));
    let mut s = parse(&text);
    // Twice its duration: written when the first prune came at 1,024 released entries
    // in every run; `fold_every` now brings it down to 64 in the runs that fold.
    s.duration = s.duration.mul_f64(2.0);
    same_folded_or_not(&s, "ordering, exactly-once", &[]);
}

/// A small log scenario: 2,000 messages a second at constant spacing (a fold every 64
/// messages is every 32ms), two partitions, three consumers; `extra` adds lines.
fn log_scenario(delivery: &str, extra: &str) -> String {
    format!(
        r#"
        name = "adversarial"
        seed = 3
        duration = "1500ms"
        drain = "5s"
        [broker]
        model = "log"
        nodes = 3
        replication = 3
        replica_lag = "exp(2ms)"
        [network]
        latency = "exp(300us)"
        [[topic]]
        name = "t"
        partitions = 2
        [[producer]]
        name = "p"
        topic = "t"
        rate = 2000
        arrival = "constant"
        keys = 40
        partitioner = "key"
        request_timeout = "20ms"
        retries = 5
        [[consumer]]
        group = "g"
        topic = "t"
        instances = 3
        service_time = "exp(300us)"
        delivery = "{delivery}"
        commit_interval = "40ms"
        {extra}
        "#
    )
}

/// `[[fault]]` lines.
fn fault(at: &str, kind: &str, target: &str, more: &str) -> String {
    format!("[[fault]]\nat = \"{at}\"\nkind = \"{kind}\"\ntarget = \"{target}\"\n{more}\n")
}

#[test]
fn crashes_and_rewinds_right_after_a_fold_keep_every_count() {
    // Each fault falls just after a multiple of 64 messages (32ms at 2,000/s): a crash
    // replays from the last commit, a replay rewinds to the earliest retained entry, a
    // point in time or a number of messages, all reading entries a fold must not have
    // forgotten.
    let mut faults = String::new();
    faults += &fault("96.5ms", "crash", "g/0", "duration = \"60ms\"");
    faults += &fault("192.5ms", "crash", "g", "duration = \"30ms\"");
    faults += &fault("320.5ms", "replay", "g", "");
    faults += &fault("448.5ms", "replay", "g", "shift_by = 100");
    faults += &fault("640.5ms", "replay", "g", "to = \"500ms\"");
    faults += &fault("800.5ms", "crash", "p", "duration = \"50ms\"");
    faults += &fault(
        "960.5ms",
        "slow",
        "g/1",
        "duration = \"200ms\"\nfactor = 30",
    );
    for delivery in ["at-least-once", "at-most-once", "exactly-once"] {
        let s = parse(&log_scenario(delivery, &faults));
        same_folded_or_not(&s, delivery, &[]);
    }
}

#[test]
fn a_late_joiner_from_the_earliest_offset_after_several_folds() {
    // The second group joins after about 24 folds' worth of messages. With retention the
    // log keeps 400ms of history for it to replay (the window cannot pass what is
    // retained); without, the log keeps everything for it, as Kafka without a retention
    // limit would, and the window cannot pass its first message. From the latest offset
    // it never sees the early ones.
    let late = |reset: &str| {
        format!(
            "[[consumer]]\ngroup = \"late\"\ntopic = \"t\"\ninstances = 2\nservice_time = \"exp(200us)\"\nstart_at = \"800ms\"\noffset_reset = \"{reset}\"\n"
        )
    };
    for (reset, retention) in [("earliest", true), ("earliest", false), ("latest", false)] {
        let mut text = log_scenario("at-least-once", &late(reset));
        if retention {
            text = text.replace("partitions = 2", "partitions = 2\nretention = \"400ms\"");
        }
        let s = parse(&text);
        same_folded_or_not(&s, &format!("{reset}, retention {retention}"), &[]);
        // And it folds before the group joins, not only once every group is in, unless
        // the log keeps every message for the group.
        let mut e = Engine::new(&s, s.seed);
        e.fold_every(64);
        while e.step() && e.now().since(SimTime::ZERO) < SimDuration::from_millis(790) {}
        let kept_for_it = reset == "earliest" && !retention;
        assert_eq!(
            e.retained().folded == 0,
            kept_for_it,
            "{reset}, retention {retention}: {} folded before the join",
            e.retained().folded
        );
    }
}

#[test]
fn network_partitions_holding_requests_across_folds() {
    // A producer cut off for longer than several folds: its requests time out and are
    // resent until it heals, the messages held in its requests all the while; an instance
    // cut off goes on with its message as a zombie; a broker cut off takes its replicas
    // out of the ISR under acks = all, parking the writes.
    let mut faults = String::new();
    faults += &fault("100ms", "partition", "p", "duration = \"150ms\"");
    faults += &fault("400ms", "partition", "g/1", "duration = \"120ms\"");
    faults += &fault("700ms", "partition", "broker/0", "duration = \"200ms\"");
    faults += &fault("750ms", "partition", "broker/1", "duration = \"100ms\"");
    let text = log_scenario("at-least-once", &faults).replace(
        "replication = 3",
        "replication = 3\nacks = \"all\"\nmin_insync_replicas = 2",
    );
    same_folded_or_not(&parse(&text), "partitions", &[]);
}

#[test]
fn poison_messages_retried_dead_lettered_and_redriven() {
    // A log group retries poison and dead-letters it; a queue group receives it until
    // `max_receives`, keeps the dead letters for a redrive, and an operator redrives them
    // (the kept dead letters hold the window back until then).
    let poison = fault("200ms", "poison", "p", "rate = 0.05\nduration = \"400ms\"");
    let log = log_scenario(
        "at-least-once",
        &format!("max_retries = 1\nbackoff = \"2ms\"\n{poison}"),
    );
    same_folded_or_not(&parse(&log), "log", &[]);
    let queue = log_scenario(
        "at-least-once",
        &format!("{poison}{}", fault("900ms", "redrive", "g", "")),
    )
    .replace(
        "model = \"log\"",
        "model = \"queue\"\nvisibility_timeout = \"30ms\"\nmax_receives = 2",
    )
    .replace("replication = 3", "replication = 1")
    .replace("partitions = 2", "partitions = 1");
    same_folded_or_not(&parse(&queue), "queue", &[]);
}

#[test]
fn broker_failover_with_truncation() {
    // acks = leader, logs flushed every 50ms and an unclean election allowed: the crashed
    // leader's successor lacks what it had not fetched, and the log is cut back below
    // entries consumers may already have read.
    let mut faults = String::new();
    faults += &fault(
        "300.5ms",
        "broker-crash",
        "broker/0",
        "duration = \"200ms\"",
    );
    faults += &fault("350ms", "broker-crash", "broker/1", "duration = \"100ms\"");
    faults += &fault(
        "800.5ms",
        "broker-crash",
        "broker/2",
        "duration = \"150ms\"",
    );
    for acks in ["leader", "all"] {
        let text = log_scenario("at-least-once", &faults).replace(
            "replication = 3",
            &format!(
                "replication = 3\nacks = \"{acks}\"\nflush_interval = \"50ms\"\nunclean_leader_election = true"
            ),
        );
        same_folded_or_not(&parse(&text), acks, &[]);
    }
}

#[test]
fn faults_injected_live_after_folds() {
    // As from the dashboard's fault menu, mid-run: a crash, a replay to the earliest
    // retained entry, a producer partition and a broker crash.
    let live = |kind, target: &str, at_ms, ms: Option<u64>| {
        let mut f = FaultConfig::new(kind, target, SimDuration::from_millis(at_ms));
        f.duration = ms.map(SimDuration::from_millis);
        f
    };
    let mut replay = live(FaultKind::Replay, "g", 600, None);
    replay.to = Some(Spanned::new(0..0, ReplayTo::Earliest));
    let faults = [
        live(FaultKind::Crash, "g/0", 300, Some(50)),
        live(FaultKind::Partition, "p", 450, Some(80)),
        replay,
        live(FaultKind::BrokerCrash, "broker/0", 900, Some(100)),
    ];
    let s = parse(&log_scenario("at-least-once", ""));
    same_folded_or_not(&s, "live", &faults);
}

#[test]
fn a_crash_scenario_holds_a_window_not_the_whole_run() {
    // crash-during-processing, its 30,000 messages made 480,000 and 1,440,000: a copy is
    // final a few commits after it is made, so the longer run holds no more of the
    // per-message tables than the shorter one (about a fold's worth, 65,536 messages, in
    // vectors of at most twice that capacity), where keeping every copy costs 2.25 bytes
    // a message.
    let run = |scale: f64| {
        let mut s = load(&root().join("scenarios/crash-during-processing.toml"));
        s.duration = s.duration.mul_f64(scale);
        let mut e = Engine::new(&s, s.seed);
        while e.step() {}
        let r = e.summary();
        assert!(r.conservation_ok);
        (e.retained(), r.messages.produced)
    };
    let (one, _) = run(16.0);
    let (four, produced) = run(48.0);
    assert!(produced > 1_400_000, "{produced}");
    assert!(one.window_bytes <= 6 * 65_536, "{one:?}");
    assert!(four.folded > produced / 2, "{four:?}");
    assert!(
        four.window_bytes <= one.window_bytes + 4_096,
        "{one:?} then {four:?}"
    );
    assert!(
        (four.window_bytes as u64) < produced / 2,
        "{four:?} for {produced} messages"
    );
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(24),
        ..ProptestConfig::default()
    })]

    #[test]
    fn folding_often_changes_nothing_in_generated_scenarios(
        shape in shape(),
        seed in 0u64..1000,
    ) {
        // Faults and all: they fold like the rest.
        let text = toml_of(&shape);
        let scenario = match Scenario::from_toml(&text, "generated.toml") {
            Ok(s) => s,
            Err(_) if shape.extras != 0 => return Err(TestCaseError::reject("pattern not valid here")),
            Err(e) => return Err(TestCaseError::fail(e.to_string())),
        };
        let (plain, _) = json(&scenario, seed, None);
        let (folded, _) = json(&scenario, seed, Some(64));
        prop_assert!(plain == folded, "seed={seed}\n{text}");
    }
}
