//! Memory that follows the backlog, not the run's length: a run ten or sixty times longer
//! holds no more entries in the tables that used to grow with every message or pause
//! (the claim check's byte prefix sums, the producers' pause spans) once its messages are
//! done.

use crate::support::{load, root};
use mqlab_sim::{Engine, RunSummary};

/// Runs the scenario with its producing duration times `scale`; the engine's retained
/// entries at the end, and the result.
fn run_scaled(file: &str, scale: f64) -> (mqlab_sim::engine::Retained, RunSummary) {
    let mut s = load(&root().join(file));
    s.duration = s.duration.mul_f64(scale);
    let seed = s.seed;
    let mut e = Engine::new(&s, seed);
    while e.step() {}
    (e.retained(), e.summary())
}

#[test]
fn the_claim_checks_byte_prefix_does_not_grow_with_the_run() {
    let (one, r1) = run_scaled("scenarios/claim-check.toml", 1.0);
    let (ten, r10) = run_scaled("scenarios/claim-check.toml", 10.0);
    assert_eq!(r1.messages.in_flight, 0);
    assert_eq!(r10.messages.in_flight, 0);
    assert!(r10.messages.produced > 9 * r1.messages.produced);
    // The sums cover what the log still held at its last append (trimmed as the groups
    // commit), at most twice that before the dead half is dropped: a few commit
    // intervals of messages, not one entry per message ever produced.
    assert!(one.byte_prefix > 0, "{one:?}");
    assert!(
        (one.byte_prefix as u64) < r1.messages.produced / 4,
        "{one:?} for {} messages",
        r1.messages.produced
    );
    assert!(
        ten.byte_prefix <= 2 * one.byte_prefix.max(200),
        "1x {one:?}, 10x {ten:?}"
    );
}

#[test]
fn pause_spans_are_bounded_and_still_counted() {
    let (one, r1) = run_scaled("scenarios/backpressure.toml", 1.0);
    let (long, rl) = run_scaled("scenarios/backpressure.toml", 60.0);
    let (o1, ol) = (r1.overflow.unwrap(), rl.overflow.unwrap());
    // Short run: every pause is kept.
    assert_eq!(one.pauses as u64, o1.pauses);
    // Long run: more pauses than are kept (at most two open per topic besides the 1,000
    // closed), every one counted, and the forgotten ones' time still in the total: the
    // mean pause is the short run's (the same bursts against the same watermarks), not
    // diluted by half as it would be were only the kept spans summed.
    assert!(ol.pauses > 1_500, "{ol:?}");
    assert!(long.pauses <= 1_000 + 2, "{long:?}");
    let mean_1 = o1.paused_s / o1.pauses as f64;
    let mean_l = ol.paused_s / ol.pauses as f64;
    assert!(
        (mean_l / mean_1 - 1.0).abs() < 0.3,
        "mean pause {mean_l}s over {} pauses vs {mean_1}s",
        ol.pauses
    );
    assert!(ol.paused_s <= rl.sim_time_s);
}

#[test]
fn the_ledgers_and_message_flags_follow_the_backlog_not_the_run() {
    // M/M/1 at utilisation 0.9: the backlog is a handful of messages (9 on average), so
    // every copy is final a few milliseconds after it is made. Four times the messages
    // must not hold more of the per-message tables: they fold every 65,536 messages, so
    // about one fold's worth stays resident (a copy byte, two bits and a flag byte each,
    // in vectors of at most twice that capacity), where keeping everything costs 2.25
    // bytes per message.
    let (one, r1) = run_scaled("scenarios/mm1.toml", 4.0);
    let (four, r4) = run_scaled("scenarios/mm1.toml", 16.0);
    assert!(r4.messages.produced > 3 * r1.messages.produced);
    assert!(r1.messages.produced > 300_000, "{}", r1.messages.produced);
    assert!(r4.conservation_ok && r1.conservation_ok);
    assert_eq!(r4.messages.processed, r4.messages.produced);
    assert!(one.window_bytes > 0, "{one:?}");
    assert!(one.window_bytes <= 6 * 65_536, "{one:?}");
    assert!(
        four.window_bytes <= one.window_bytes + 4_096,
        "{one:?} then {four:?}"
    );
    assert!(
        (four.window_bytes as u64) < r4.messages.produced / 2,
        "{four:?} for {} messages",
        r4.messages.produced
    );
}

#[test]
fn the_event_queue_keeps_room_for_what_is_pending_not_for_every_burst_it_saw() {
    // A pipeline whose transactions publish their outputs together: each commit puts a
    // burst into one of the calendar's buckets, and the buffer that burst grew traded
    // places with another slot's at every refill, so each burst left one more slot with
    // a burst's room for good (73 MB at 200,000 messages, 134 MB at 2,000,000, for about
    // 2,000 events pending). Ten times the run keeps about the same room.
    let (one, r1) = run_scaled("scenarios/food-delivery-pipeline.toml", 1.0);
    let (ten, r10) = run_scaled("scenarios/food-delivery-pipeline.toml", 10.0);
    assert!(r10.messages.produced > 9 * r1.messages.produced);
    assert!(one.event_room > 0, "{one:?}");
    assert!(
        ten.event_room <= 2 * one.event_room,
        "1x {one:?}, 10x {ten:?}"
    );
}
