//! Idempotent consumers (issue 18): each idempotence mode duplicates exactly through the
//! holes its design has — the check-then-act race, an effect applied but not marked, an
//! expired mark — and only when that hole's trigger happens; every duplicate is
//! attributed to its cause; replay and redrive behave as Kafka's offset reset and SQS's
//! DLQ redrive do.

use crate::support::{parse, run};
use mqlab_sim::RunSummary;
use mqlab_sim::summary::{DuplicateCauses, GroupSummary};

const MODES: [&str; 4] = ["none", "check-then-mark", "claim", "transactional"];

/// `body` with `{mode}` replaced by each mode's consumer lines.
fn each_mode(body: &str, seed: u64) -> Vec<(&'static str, RunSummary)> {
    MODES
        .iter()
        .map(|&mode| {
            let lines = format!("idempotence = \"{mode}\"");
            let text = body.replace("{mode}", &lines);
            (mode, run(&parse(&text), seed))
        })
        .collect()
}

fn group(r: &RunSummary) -> &GroupSummary {
    &r.groups[0]
}

fn causes(r: &RunSummary) -> DuplicateCauses {
    group(r)
        .duplicated_by_cause
        .expect("a group with idempotence set reports causes")
}

/// Every expectation row held (conservation, the invariants, the mode's guarantee).
fn all_held(mode: &str, r: &RunSummary) {
    for e in &r.expectations {
        assert!(e.ok, "{mode}: {} failed: {}", e.check, e.actual);
    }
    assert_eq!(causes(r).total(), group(r).duplicated, "{mode}: causes sum");
}

/// The duplicates of a run all have one cause, and there are some.
fn only(mode: &str, r: &RunSummary, pick: fn(&DuplicateCauses) -> u64, what: &str) {
    let (c, dup) = (causes(r), group(r).duplicated);
    assert!(dup > 0, "{mode}: the {what} trigger should duplicate");
    assert_eq!(pick(&c), dup, "{mode}: every duplicate from {what}: {c:?}");
}

fn none_duplicated(mode: &str, r: &RunSummary) {
    assert_eq!(group(r).duplicated, 0, "{mode}: {:?}", causes(r));
}

const LOG: &str = r#"
name = "x"
duration = "5s"
drain = "30s"
[[topic]]
name = "t"
[[producer]]
name = "p"
topic = "t"
rate = 100
[[consumer]]
group = "g"
topic = "t"
service_time = "exp(2ms)"
dedup_latency = "exp(1ms)"
dedup_ttl = "1s"
{mode}
"#;

#[test]
fn without_a_trigger_no_mode_duplicates() {
    let queue = LOG.replace(
        "name = \"t\"\n[[producer]]",
        "name = \"t\"\nmodel = \"queue\"\n[[producer]]",
    );
    for body in [LOG, queue.as_str()] {
        for (mode, r) in each_mode(body, 3) {
            all_held(mode, &r);
            none_duplicated(mode, &r);
            assert_eq!(group(&r).processed, group(&r).copies, "{mode}");
        }
    }
}

/// Two competing consumers and a visibility timeout shorter than every processing: the
/// second receives each message while the first still works on it.
const RACE: &str = r#"
name = "x"
duration = "3s"
drain = "30s"
[broker]
model = "queue"
visibility_timeout = "30ms"
max_receives = 10
[[topic]]
name = "t"
[[producer]]
name = "p"
topic = "t"
rate = 5
arrival = "constant"
[[consumer]]
group = "g"
topic = "t"
instances = 2
service_time = "50ms"
{mode}
"#;

#[test]
fn concurrent_holders_duplicate_through_the_check_then_act_race_only_without_a_claim() {
    for (mode, r) in each_mode(RACE, 1) {
        all_held(mode, &r);
        match mode {
            "none" | "check-then-mark" => only(mode, &r, |c| c.race, "race"),
            _ => none_duplicated(mode, &r),
        }
    }
}

/// One consumer whose every mark takes 20ms: crashes land between applying and marking.
const UNMARKED: &str = r#"
name = "x"
duration = "4s"
drain = "30s"
[[topic]]
name = "t"
[[producer]]
name = "p"
topic = "t"
rate = 20
arrival = "constant"
[[consumer]]
group = "g"
topic = "t"
service_time = "1ms"
dedup_latency = "20ms"
claim_lease = "300ms"
{mode}
[[fault]]
at = "1032ms"
kind = "crash"
target = "g/0"
duration = "50ms"
[[fault]]
at = "2035ms"
kind = "crash"
target = "g/0"
duration = "50ms"
"#;

#[test]
fn a_crash_between_effect_and_mark_duplicates_only_where_the_mark_is_apart() {
    for (mode, r) in each_mode(UNMARKED, 1) {
        all_held(mode, &r);
        match mode {
            "check-then-mark" | "claim" => only(mode, &r, |c| c.unmarked, "unmarked"),
            _ => none_duplicated(mode, &r),
        }
    }
}

#[test]
fn a_dead_claimer_without_a_lease_stalls_its_partition() {
    let text = UNMARKED
        .replace("claim_lease = \"300ms\"\n", "")
        .replace("{mode}", "idempotence = \"claim\"");
    let r = run(&parse(&text), 1);
    let g = group(&r);
    assert_eq!((g.duplicated, g.lost), (0, 0));
    assert!(g.in_flight > 0, "the claim stands for good: {g:?}");
    assert!(
        g.processed < g.copies / 2,
        "everything after it waits: {g:?}"
    );
}

/// Offsets committed every second: a crash replays up to a second of applied messages.
const CRASH: &str = r#"
name = "x"
duration = "4s"
drain = "30s"
[[topic]]
name = "t"
[[producer]]
name = "p"
topic = "t"
rate = 100
[[consumer]]
group = "g"
topic = "t"
service_time = "exp(2ms)"
commit_interval = "1s"
claim_lease = "200ms"
{mode}
[[fault]]
at = "2500ms"
kind = "crash"
target = "g/0"
duration = "100ms"
"#;

#[test]
fn a_redelivery_after_a_crash_before_commit_duplicates_only_without_a_store() {
    for (mode, r) in each_mode(CRASH, 2) {
        all_held(mode, &r);
        match mode {
            "none" => only(mode, &r, |c| c.crash_before_commit, "crash before commit"),
            _ => none_duplicated(mode, &r),
        }
    }
}

/// Acknowledgements lost on the network: the producer resends what the broker has.
const RESEND: &str = r#"
name = "x"
duration = "3s"
drain = "30s"
[network]
latency = "1ms"
loss = 0.1
[[topic]]
name = "t"
[[producer]]
name = "p"
topic = "t"
rate = 100
request_timeout = "20ms"
retries = 5
[[consumer]]
group = "g"
topic = "t"
service_time = "exp(1ms)"
{mode}
"#;

#[test]
fn a_producer_resend_duplicates_only_without_a_store() {
    for (mode, r) in each_mode(RESEND, 4) {
        all_held(mode, &r);
        match mode {
            "none" => only(mode, &r, |c| c.resend, "resend"),
            _ => none_duplicated(mode, &r),
        }
    }
}

/// A log kept an hour; at 15s an operator replays the group from the start.
fn replay(ttl: &str) -> String {
    format!(
        r#"
name = "x"
duration = "20s"
drain = "30s"
[[topic]]
name = "t"
retention = "1h"
[[producer]]
name = "p"
topic = "t"
rate = 50
[[consumer]]
group = "g"
topic = "t"
service_time = "exp(1ms)"
dedup_ttl = "{ttl}"
{{mode}}
[[fault]]
at = "15s"
kind = "replay"
target = "g"
"#
    )
}

#[test]
fn a_replay_past_the_ttl_duplicates_under_every_mode_but_the_transactional_one() {
    for (mode, r) in each_mode(&replay("5s"), 5) {
        all_held(mode, &r);
        match mode {
            "none" => only(mode, &r, |c| c.replay, "replay"),
            "check-then-mark" | "claim" => {
                only(mode, &r, |c| c.expired, "expired mark");
                // Only the messages marked more than the TTL before the replay.
                let g = group(&r);
                assert!(g.duplicated < g.copies * 3 / 4, "{mode}: {g:?}");
            }
            _ => none_duplicated(mode, &r),
        }
    }
}

#[test]
fn a_replay_within_the_ttl_duplicates_only_where_nothing_is_marked() {
    for (mode, r) in each_mode(&replay("1h"), 5) {
        all_held(mode, &r);
        match mode {
            "none" => {
                only(mode, &r, |c| c.replay, "replay");
                // From the earliest retained offset: everything before 15s again.
                let g = group(&r);
                assert!(g.duplicated > g.copies / 2, "{g:?}");
            }
            _ => none_duplicated(mode, &r),
        }
    }
}

#[test]
fn a_replay_back_by_n_or_to_a_time_replays_that_much() {
    let base = replay("1h").replace("{mode}", "");
    let by = run(
        &parse(&base.replace("target = \"g\"", "target = \"g\"\nshift_by = 100")),
        5,
    );
    assert_eq!(group(&by).duplicated, 100, "back by 100 on one partition");
    let to = run(
        &parse(&base.replace("target = \"g\"", "target = \"g\"\nto = \"10s\"")),
        5,
    );
    let d = group(&to).duplicated as f64;
    // What arrived in the last 5 s before the replay: about 250 at 50/s.
    assert!((150.0..350.0).contains(&d), "{d}");
}

/// SQS with redrive after two receives; an operator redrives the dead letters at 8s.
fn redrive(fault: &str, redrive: bool) -> RunSummary {
    let action = if redrive {
        "[[fault]]\nat = \"8s\"\nkind = \"redrive\"\ntarget = \"g\"\n"
    } else {
        ""
    };
    let text = format!(
        r#"
name = "x"
duration = "4s"
drain = "30s"
[broker]
model = "queue"
visibility_timeout = "100ms"
max_receives = 2
[[topic]]
name = "t"
[[producer]]
name = "p"
topic = "t"
rate = 50
[[consumer]]
group = "g"
topic = "t"
service_time = "exp(2ms)"
max_retries = 0
idempotence = "check-then-mark"
{fault}
{action}
"#
    );
    run(&parse(&text), 6)
}

#[test]
fn redriven_dead_letters_whose_failure_cleared_are_processed_once() {
    let outage = "[[fault]]\nat = \"1s\"\nkind = \"outage\"\ntarget = \"p\"\nduration = \"1s\"\n";
    let before = redrive(outage, false);
    assert!(group(&before).dead_lettered > 10, "{:?}", group(&before));
    let after = redrive(outage, true);
    let g = group(&after);
    all_held("redrive", &after);
    assert_eq!((g.dead_lettered, g.duplicated, g.lost), (0, 0, 0), "{g:?}");
    assert_eq!(g.processed, g.copies);
}

#[test]
fn redriven_dead_letters_still_poisoned_are_dead_lettered_again_with_fresh_receive_counts() {
    let poison = "[[fault]]\nat = \"1s\"\nkind = \"poison\"\ntarget = \"p\"\ncount = 5\n";
    let before = redrive(poison, false);
    let after = redrive(poison, true);
    assert_eq!(group(&before).dead_lettered, 5);
    assert_eq!(group(&after).dead_lettered, 5);
    all_held("redrive", &after);
    // Received max_receives (2) times more each: their counts started again from zero.
    assert_eq!(after.messages.delivered, before.messages.delivered + 5 * 2);
}

#[test]
fn operator_actions_are_refused_where_they_do_not_apply() {
    let queue_replay =
        RACE.replace("{mode}", "") + "[[fault]]\nat = \"1s\"\nkind = \"replay\"\ntarget = \"g\"\n";
    let e = mqlab_sim::Scenario::from_toml(&queue_replay, "x.toml").expect_err("a queue");
    assert!(e.to_string().contains("log topic"), "{e}");
    let log_redrive = LOG.replace("{mode}", "")
        + "[[fault]]\nat = \"1s\"\nkind = \"redrive\"\ntarget = \"g\"\nduration = \"1s\"\n";
    let e = mqlab_sim::Scenario::from_toml(&log_redrive, "x.toml").expect_err("a duration");
    assert!(e.to_string().contains("instant"), "{e}");
    let eo = LOG.replace(
        "{mode}",
        "idempotence = \"claim\"\ndelivery = \"exactly-once\"",
    );
    let e = mqlab_sim::Scenario::from_toml(&eo, "x.toml").expect_err("exactly-once");
    assert!(e.to_string().contains("transactional"), "{e}");
}

#[test]
fn the_shipped_scenario_sets_the_modes_side_by_side() {
    let path = crate::support::root().join("scenarios/idempotent-consumer.toml");
    let s = crate::support::load(&path);
    let mut by_mode = Vec::new();
    for mode in MODES {
        let mut s = s.clone();
        for c in &mut s.consumers {
            c.set_idempotence(mqlab_sim::scenario::Idempotence::parse(mode).expect("a mode"));
        }
        by_mode.push((mode, run(&s, s.seed)));
    }
    for (mode, r) in &by_mode {
        for g in &r.groups {
            let c = g.duplicated_by_cause.expect("causes");
            assert_eq!(c.total(), g.duplicated, "{mode}");
            match *mode {
                "check-then-mark" if g.name == "charger" => assert!(c.race > 0, "{c:?}"),
                "check-then-mark" => assert!(c.expired > 0, "{c:?}"),
                "transactional" => assert_eq!(g.duplicated, 0, "{mode} {}", g.name),
                _ => {}
            }
        }
    }
}

#[test]
fn compare_sets_the_modes_side_by_side_from_the_command_line() {
    let out = crate::support::mqlab()
        .args([
            "compare",
            "scenarios/idempotent-consumer.toml",
            "--seeds",
            "7",
            "--delivery",
            "at-least-once",
            "--set",
            "consumer.charger.idempotence=none,transactional",
            "--json",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(2), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let runs = v["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 2, "{err}");
    let charger = |run: &serde_json::Value| {
        run["groups"]
            .as_array()
            .and_then(|g| g.iter().find(|g| g["name"] == "charger"))
            .cloned()
            .expect("charger")
    };
    let (none, tx) = (charger(&runs[0]), charger(&runs[1]));
    assert!(none["duplicated"].as_u64() > Some(0), "{none}");
    assert!(
        none["duplicated_by_cause"]["race"].as_u64() > Some(0),
        "{none}"
    );
    assert_eq!(tx["duplicated"].as_u64(), Some(0), "{tx}");
    let bad = crate::support::mqlab()
        .args([
            "compare",
            "scenarios/idempotent-consumer.toml",
            "--set",
            "consumer.charger.idempotence=maybe",
        ])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("check-then-mark"));
}
