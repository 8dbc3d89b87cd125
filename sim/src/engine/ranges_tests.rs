//! A group whose instances own narrow contiguous ranges keeps its fetchable partitions in
//! bits (`log::Ranges`) instead of each instance's candidates (`log::Ready`): every run
//! gives the summary it gives with the candidates alone, on either path, through
//! rebalances that turn the bits on, off and on again.

use super::Engine;
use crate::scenario::Scenario;

/// What a run kept, step by step: whether group 0's bits were on after each event.
struct Kept {
    summary: String,
    on: Vec<bool>,
}

fn run(text: &str, generic: bool, candidates_only: bool) -> Kept {
    let s = Scenario::from_toml(text, "ranges.toml").expect("a valid scenario");
    let mut e = Engine::new(&s, s.seed);
    if generic {
        e.force_generic();
    }
    if candidates_only {
        e.keep_candidates();
    }
    let mut on = Vec::new();
    while e.step() {
        on.push(e.groups[0].ranges.on());
    }
    // Debug rather than `==`: a NaN figure must compare equal to itself.
    Kept {
        summary: format!("{:?}", e.summary()),
        on,
    }
}

/// Runs `text` with bits and with candidates only, on both paths; asserts the same summary
/// each way and returns the bits' run on the default path.
fn same_either_way(text: &str, what: &str) -> Kept {
    for generic in [true, false] {
        let bits = run(text, generic, false);
        let candidates = run(text, generic, true);
        assert!(
            candidates.on.iter().all(|on| !on),
            "{what}: kept candidates only"
        );
        assert!(
            bits.summary == candidates.summary,
            "{what} (generic {generic}): the bits' summary differs from the candidates'\n\
             bits:       {}\ncandidates: {}",
            bits.summary,
            candidates.summary
        );
    }
    run(text, false, false)
}

/// A log of `partitions` partitions read by `instances` instances (assigned as
/// `assignment` says) at utilisation 0.9, with `extra` appended (faults, a second group).
fn scenario(partitions: u32, instances: u32, assignment: &str, extra: &str) -> String {
    format!(
        r#"
        name = "ranges"
        seed = 7
        duration = "3s"
        drain = "5s"
        [[topic]]
        name = "t"
        partitions = {partitions}
        [[producer]]
        name = "p"
        topic = "t"
        rate = {rate}
        keys = 1000
        partitioner = "key"
        [[consumer]]
        group = "g"
        topic = "t"
        instances = {instances}
        service_time = "exp(1ms)"
        assignment = "{assignment}"
        {extra}
        "#,
        rate = 900 * instances
    )
}

/// How many times a run's bits went from on to off, and from off to on, after the start.
fn switches(on: &[bool]) -> (usize, usize) {
    let off = on.windows(2).filter(|w| w[0] && !w[1]).count();
    let back = on.windows(2).filter(|w| !w[0] && w[1]).count();
    (off, back)
}

/// Thirty partitions, ten to each of three instances, and instance 1 down from 1s to 2s,
/// with `consumer` added to the group: the bits' run gives the candidates' summary on
/// either path, and keeps its bits all along (ten each, then fifteen each while one is
/// down, then ten again).
fn ten_each_through_a_crash(consumer: &str, what: &str) -> Kept {
    let extra = format!(
        r#"
        {consumer}
        [[fault]]
        at = "1s"
        kind = "crash"
        target = "g/1"
        duration = "1s"
        "#
    );
    let kept = same_either_way(&scenario(30, 3, "range", &extra), what);
    assert!(
        kept.on.iter().all(|&on| on),
        "{what}: bits from the start to the end"
    );
    kept
}

#[test]
fn ranges_of_ten_keep_bits_through_a_crash_and_give_what_candidates_give() {
    ten_each_through_a_crash("", "30 partitions, 3 instances");
}

/// A rebalance that pauses the group holds every instance, the ones completing a
/// message too: the completion lane's fetch over the bits waits out the pause as the
/// candidates' fetch does.
#[test]
fn ranges_of_ten_wait_out_a_rebalance_pause_as_candidates_do() {
    let paused = ten_each_through_a_crash(
        r#"rebalance_pause = "300ms""#,
        "30 partitions, 3 instances, paused rebalances",
    );
    // The pauses cost time: the run without them is another run.
    let unpaused = ten_each_through_a_crash("", "30 partitions, 3 instances");
    assert_ne!(
        paused.summary, unpaused.summary,
        "the pauses changed the run"
    );
}

#[test]
fn a_range_too_wide_turns_the_bits_off_until_the_crashed_instance_is_back() {
    let crash = r#"
        [[fault]]
        at = "1s"
        kind = "crash"
        target = "g/1"
        duration = "1s"
        [[fault]]
        at = "1200ms"
        kind = "slow"
        target = "g"
        duration = "300ms"
        factor = 3
        "#;
    let kept = same_either_way(
        &scenario(500, 2, "range", crash),
        "500 partitions, 2 instances",
    );
    // 250 each fit; 500 in the one left do not; 250 each again once it is back.
    assert!(kept.on[0], "bits at the start");
    assert_eq!(
        switches(&kept.on),
        (1, 1),
        "off at the crash, on at the rejoin"
    );
    assert!(*kept.on.last().unwrap(), "bits at the end");
}

#[test]
fn a_round_robin_assignment_keeps_candidates_and_a_ranged_group_beside_it_keeps_bits() {
    let second = r#"
        delivery = "at-least-once"
        commit_interval = "50ms"
        [[consumer]]
        group = "h"
        topic = "t"
        instances = 2
        service_time = "exp(1ms)"
        delivery = "at-most-once"
        [[fault]]
        at = "500ms"
        kind = "partition"
        target = "g/0"
        duration = "700ms"
        "#;
    // Group g owns partitions 0, 4, 8, ... and so on: never a contiguous range.
    let kept = same_either_way(&scenario(40, 4, "round-robin", second), "round robin");
    assert!(kept.on.iter().all(|on| !on), "round robin keeps candidates");
    let kept = same_either_way(&scenario(40, 4, "range", second), "range beside another");
    assert!(kept.on.iter().any(|&on| on), "a range keeps bits");
}

/// Instances of two or three partitions each look at every one (`Ready::scans`): nothing
/// tells them, so the group keeps no bits for a take to clear.
#[test]
fn a_group_whose_instances_scan_their_few_partitions_keeps_no_bits() {
    let kept = same_either_way(&scenario(6, 3, "range", ""), "6 partitions, 3 instances");
    assert!(
        kept.on.iter().all(|on| !on),
        "scanning instances keep no bits"
    );
}
