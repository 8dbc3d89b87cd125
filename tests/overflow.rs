//! What a full broker does (issue 6, backpressure): the same bursts under `block`,
//! `drop-oldest`, `reject` (with producer resends) and `spill`, each checked for what it
//! loses, what it costs the producer and what it does to latency; and `--set` sweeping
//! the strategy from the command line.

use crate::support::{mqlab, parse, root, run};
use mqlab_sim::RunSummary;
use mqlab_sim::summary::Overflow;

fn shipped() -> String {
    std::fs::read_to_string(root().join("scenarios/backpressure.toml")).expect("readable")
}

/// The shipped scenario under another `on_full`, at its own seed.
fn under(on_full: &str) -> RunSummary {
    let text = shipped().replace("on_full = \"block\"", &format!("on_full = \"{on_full}\""));
    let s = parse(&text);
    run(&s, s.seed)
}

fn overflow(r: &RunSummary) -> Overflow {
    r.overflow.unwrap_or_default()
}

#[test]
fn the_four_strategies_lose_and_delay_what_each_promises() {
    let block = under("block");
    let drop_oldest = under("drop-oldest");
    let reject = under("reject");
    let spill = under("spill");
    for r in [&block, &drop_oldest, &reject, &spill] {
        assert!(r.conservation_ok);
        assert_eq!((r.messages.lost, r.messages.in_flight), (0, 0));
        assert_eq!(r.messages.produced, block.messages.produced, "same bursts");
    }
    // block: nothing dropped; the producer pays in pauses.
    assert_eq!(block.messages.dropped, 0);
    assert!(overflow(&block).paused_s > 1.0, "{:?}", block.overflow);
    assert_eq!(overflow(&block).spilled, 0);
    // drop-oldest: the queue's head goes, so the survivors wait less.
    assert!(drop_oldest.messages.dropped > 100);
    assert_eq!(
        drop_oldest.dropped_by_reason.get("drop-oldest"),
        Some(&drop_oldest.messages.dropped)
    );
    assert!(drop_oldest.latency_s.p99 < block.latency_s.p99 / 2.0);
    // reject: every refusal is either resent or, with no retries left, dropped.
    let r = overflow(&reject);
    assert!(r.resent > 0 && r.rejections > r.resent, "{r:?}");
    assert_eq!(reject.messages.dropped, r.rejections - r.resent);
    assert_eq!(
        reject.dropped_by_reason.get("reject"),
        Some(&reject.messages.dropped)
    );
    assert_eq!(
        reject.messages.acked + reject.messages.dropped,
        reject.messages.produced
    );
    // spill: nothing dropped and the producer never paused; everything was acknowledged.
    let s = overflow(&spill);
    assert_eq!(spill.messages.dropped, 0);
    assert_eq!((s.pauses, s.rejections), (0, 0));
    assert!(s.spilled > 0 && s.spill_max <= 5000, "{s:?}");
    assert_eq!(spill.messages.acked, spill.messages.produced);
    // One FIFO worker that never idles while work waits serves the same messages at the
    // same times whether the excess waited in the producer or in the spill storage.
    let (a, b) = (block.latency_s.p99, spill.latency_s.p99);
    assert!((a - b).abs() <= 0.05 * a, "block p99 {a}, spill p99 {b}");
}

#[test]
fn the_broken_strategies_fail_the_dropped_expectation() {
    for on_full in ["drop-oldest", "reject"] {
        let r = under(on_full);
        let check = r.expectations.iter().find(|e| e.check == "dropped");
        assert!(
            check.is_some_and(|e| !e.ok),
            "{on_full}: {:?}",
            r.expectations
        );
    }
    for on_full in ["block", "spill"] {
        assert!(under(on_full).ok(), "{on_full}");
    }
}

/// A slow queue with one worker and a spill storage, as a scenario text.
fn spill_text(spill: &str, consumer: &str) -> String {
    format!(
        r#"
name = "spill"
duration = "2s"
drain = "120s"
[broker]
model = "queue"
capacity = 10
on_full = "spill"
{spill}
[[topic]]
name = "q"
[[producer]]
name = "p"
topic = "q"
rate = 500
arrival = "constant"
keys = 7
[[consumer]]
group = "g"
topic = "q"
service_time = "exp(1ms)"
{consumer}
"#
    )
}

#[test]
fn spilled_messages_come_back_in_order() {
    let s = parse(
        &spill_text(
            "spill_latency = \"exp(500us)\"",
            "ordered = true\nservice_time = \"exp(4ms)\"",
        )
        .replace("service_time = \"exp(1ms)\"\n", ""),
    );
    let r = run(&s, 3);
    assert!(overflow(&r).spilled > 500, "{:?}", r.overflow);
    assert_eq!(r.messages.processed, r.messages.produced);
    assert_eq!(r.messages.out_of_order, 0);
}

#[test]
fn a_full_spill_storage_refuses_with_its_own_reason() {
    let s = parse(
        &spill_text("spill_capacity = 50", "service_time = \"exp(10ms)\"")
            .replace("service_time = \"exp(1ms)\"\n", ""),
    );
    let r = run(&s, 1);
    let o = overflow(&r);
    assert_eq!(o.spill_max, 50);
    let refused = r.dropped_by_reason.get("spill-full").copied().unwrap_or(0);
    assert!(
        refused > 0 && refused == r.messages.dropped,
        "{:?}",
        r.dropped_by_reason
    );
    assert_eq!(r.messages.processed + refused, r.messages.produced);
}

#[test]
fn reads_from_the_spill_storage_are_one_at_a_time() {
    // A 1ms worker behind a 20ms-per-read storage: once the queue is full, the worker gets
    // at most one message per read, so the spilled ones take at least 20ms each to drain.
    let s = parse(&spill_text("spill_latency = \"20ms\"", "").replace("rate = 500", "rate = 2000"));
    let r = run(&s, 1);
    let spilled = overflow(&r).spilled as f64;
    assert!(spilled > 3000.0, "{:?}", r.overflow);
    let floor = spilled * 0.020;
    assert!(r.sim_time_s >= floor, "{} s < {floor} s", r.sim_time_s);
    assert!(r.sim_time_s <= floor * 1.1 + 2.0, "{} s", r.sim_time_s);
    assert_eq!(r.messages.processed, r.messages.produced);
}

#[test]
fn compare_sweeps_the_strategy_and_refuses_spill_on_a_log() {
    let out = mqlab()
        .args([
            "compare",
            "scenarios/backpressure.toml",
            "--seeds",
            "1..2",
            "--delivery",
            "at-least-once",
            "--set",
            "broker.on_full=block,spill",
        ])
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("## Overflow"), "{text}");
    assert!(text.contains("broker.on_full=spill"), "{text}");
    let out = mqlab()
        .args([
            "compare",
            "scenarios/crash-during-processing.toml",
            "--set",
            "broker.on_full=spill",
        ])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("needs queue or exchange topics"), "{err}");
}

/// On an instant network the broker never sees a resend, so an idempotent producer's
/// sequence checks refuse nothing and the run is the non-idempotent one's, under every
/// `on_full` a log takes. Before, a rejected message stayed the partition's expected
/// sequence for good (an instant network keeps no request to give up): the broker then
/// refused every later message of the partition as out of sequence, and they vanished
/// from the census (3,519 of 3,581 copies unaccounted here; conservation failed).
#[test]
fn an_idempotent_producer_on_an_instant_network_loses_nothing_to_a_rejection() {
    let text = |on_full: &str, idempotent: bool| {
        format!(
            r#"
            name = "idem-full"
            duration = "3s"
            drain = "5s"
            [broker]
            model = "log"
            capacity = 20
            on_full = "{on_full}"
            [[topic]]
            name = "t"
            partitions = 2
            [[producer]]
            name = "p"
            topic = "t"
            rate = 1200
            retries = 3
            idempotent = {idempotent}
            [[consumer]]
            group = "g"
            topic = "t"
            service_time = "exp(1ms)"
            "#
        )
    };
    for on_full in ["reject", "block", "drop-oldest"] {
        let idem = run(&parse(&text(on_full, true)), 1);
        let plain = run(&parse(&text(on_full, false)), 1);
        assert!(idem.conservation_ok, "{on_full}: {:?}", idem.messages);
        assert_eq!(idem.messages.in_flight, 0, "{on_full}");
        assert_eq!(
            format!("{:?}", idem.messages),
            format!("{:?}", plain.messages),
            "{on_full}: idempotence changed the run"
        );
        assert_eq!(idem.trace_hash, plain.trace_hash, "{on_full}");
    }
    // The rejections this test is about happen.
    let r = run(&parse(&text("reject", true)), 1);
    assert!(r.messages.dropped > 100, "{:?}", r.messages);
    assert!(
        r.messages.processed > 2 * r.messages.dropped,
        "{:?}",
        r.messages
    );
}

/// `block` holds sends at the broker; a producer whose `request_timeout` runs out first
/// sends again, and the broker, still holding the first send, later takes both: a retry
/// storm that feeds on the backlog it makes (each duplicate is served too). The result
/// counts those resends and the summary names the storm; with a timeout longer than the
/// pauses there are none, and no duplicates.
#[test]
fn resends_of_sends_a_full_broker_held_are_counted_and_named_a_retry_storm() {
    let storm = |timeout: &str| {
        format!(
            "name = \"storm\"\nseed = 1\nduration = \"10s\"\ndrain = \"30s\"\n\
             [network]\nlatency = \"1ms\"\n\
             [broker]\nmodel = \"queue\"\ncapacity = 50\non_full = \"block\"\n\
             [[topic]]\nname = \"jobs\"\n\
             [[producer]]\nname = \"p\"\ntopic = \"jobs\"\nrate = 260\nretries = 5\n\
             request_timeout = \"{timeout}\"\n\
             [[consumer]]\ngroup = \"g\"\ntopic = \"jobs\"\ninstances = 2\n\
             service_time = \"exp(10ms)\"\n\
             [[fault]]\nat = \"2s\"\nkind = \"crash\"\ntarget = \"g\"\nduration = \"3s\"\n"
        )
    };
    let dir = crate::support::scratch("storm");
    let short = dir.join("short.toml");
    std::fs::write(&short, storm("2s")).expect("write");
    let s = parse(&storm("2s"));
    let r = run(&s, s.seed);
    let held = overflow(&r).held_timeouts;
    let dup = r.groups[0].duplicated_by_resend;
    assert!(r.conservation_ok);
    assert!(dup > 100, "{:?}", r.groups[0]);
    // Every duplicate is a message the broker took twice: it needs a resend, and the
    // only resends here are of held sends (no loss on the network).
    assert!(held >= dup, "{held} held resends, {dup} duplicates");
    let text = mqlab().arg("run").arg(&short).output().expect("runs");
    let out = String::from_utf8_lossy(&text.stdout);
    assert!(
        out.contains(&format!(
            "retry storm: {held} sends timed out while the full broker held them"
        )),
        "{out}"
    );
    let s = parse(&storm("60s"));
    let calm = run(&s, s.seed);
    assert_eq!(overflow(&calm).held_timeouts, 0, "{:?}", calm.overflow);
    assert_eq!(calm.messages.duplicated, 0);
    assert!(
        overflow(&calm).paused_s > 1.0,
        "still blocked: {:?}",
        calm.overflow
    );
}
