//! Ordering with a consumer-side resequencer (issue 6, item 3): `ordering.toml` applies
//! every order's events in sequence with `resequence = true`, fails its `out_of_order`
//! expectation without it, and needs no resequencer when partitioned by key. A missing
//! message holds its successors no longer than the gap timeout (and not at all when it is
//! dead-lettered or dropped), the buffer keeps its bound, and every delivery variant
//! conserves copies through a crash.

use crate::support::{parse, root, run, run_with};
use mqlab_sim::summary::{Expectation, ResequencerSummary};
use mqlab_sim::{Delivery, RunSummary};

fn text() -> String {
    std::fs::read_to_string(root().join("scenarios/ordering.toml")).expect("ordering.toml")
}

/// The shipped scenario with each `key = ...` line whose key is in `set` replaced (or
/// removed when the value is empty), and `extra` appended at the end.
fn variant(set: &[(&str, &str)], extra: &str) -> mqlab_sim::Scenario {
    let mut out = String::new();
    for line in text().lines() {
        let key = line.split(" = ").next().unwrap_or("");
        match set.iter().find(|(k, _)| *k == key) {
            Some((_, "")) => {}
            Some((k, v)) => out.push_str(&format!("{k} = {v}\n")),
            None => out.push_str(&format!("{line}\n")),
        }
    }
    parse(&format!("{out}\n{extra}"))
}

fn check<'a>(s: &'a RunSummary, name: &str) -> &'a Expectation {
    s.expectations
        .iter()
        .find(|e| e.check == name)
        .unwrap_or_else(|| panic!("no `{name}` expectation in {:?}", s.expectations))
}

fn reseq(s: &RunSummary) -> ResequencerSummary {
    s.groups[0].resequencer.expect("the group resequences")
}

const NO_RESEQUENCER: [(&str, &str); 3] = [
    ("resequence", "false"),
    ("resequence_buffer", ""),
    ("gap_timeout", ""),
];

#[test]
fn ordering_scenario_holds_with_the_resequencer() {
    let s = variant(&[], "");
    let summary = run(&s, s.seed);
    assert!(summary.ok(), "{:?}", summary.expectations);
    assert_eq!(summary.messages.out_of_order, 0);
    let r = reseq(&summary);
    // The events really did arrive out of order; the resequencer put them back.
    assert!(r.resequenced > 100, "{r:?}");
    assert!(r.held_max >= 2 && r.held_max <= 1000, "{r:?}");
    assert_eq!((r.gaps_skipped, r.held_end), (0, 0), "{r:?}");
    assert_eq!(summary.messages.processed, summary.messages.copies);
}

#[test]
fn without_the_resequencer_events_apply_out_of_order_and_the_checker_fails() {
    let s = variant(&NO_RESEQUENCER, "");
    let summary = run(&s, s.seed);
    let ooo = check(&summary, "out_of_order");
    assert!(!ooo.ok, "{ooo:?}");
    assert!(
        summary.messages.out_of_order > 100,
        "{:?}",
        summary.messages
    );
    assert!(summary.groups[0].resequencer.is_none());
    assert!(!summary.ok());
    // Nothing else is wrong: every event was applied, just not in order.
    assert_eq!(summary.messages.processed, summary.messages.copies);
    assert!(summary.conservation_ok);
}

#[test]
fn key_partitioning_keeps_order_without_a_resequencer() {
    let mut set = NO_RESEQUENCER.to_vec();
    set.push(("partitioner", "\"key\""));
    let s = variant(&set, "");
    let summary = run(&s, s.seed);
    assert_eq!(summary.messages.out_of_order, 0);
    assert!(summary.ok(), "{:?}", summary.expectations);
}

#[test]
fn competing_consumers_on_a_queue_reorder_and_the_resequencer_fixes_it() {
    let queue = [
        ("model", "\"queue\""),
        ("partitions", ""),
        ("partitioner", ""),
    ];
    let with = variant(&queue, "");
    let mut set = queue.to_vec();
    set.extend(NO_RESEQUENCER);
    let without = variant(&set, "");
    let (a, b) = (run(&with, with.seed), run(&without, without.seed));
    assert_eq!(a.messages.out_of_order, 0, "{:?}", a.expectations);
    assert!(reseq(&a).resequenced > 0);
    assert!(b.messages.out_of_order > 0, "{:?}", b.messages);
}

#[test]
fn a_dead_lettered_event_releases_its_successors_at_once_not_after_the_gap_timeout() {
    // Poison events fail once more after 100 ms, then go to the dead-letter queue; the
    // events after them, held meanwhile, follow at once: no gap waits out its 2 s.
    let poison = "[[fault]]\nat = \"2s\"\nkind = \"poison\"\ntarget = \"checkout\"\nrate = 0.003\n";
    let s = variant(&[("gap_timeout", "\"2s\"\nmax_retries = 1")], poison);
    let summary = run(&s, s.seed);
    assert!(
        summary.messages.dead_lettered > 20,
        "{:?}",
        summary.messages
    );
    let r = reseq(&summary);
    assert_eq!(r.gaps_skipped, 0, "{r:?}");
    assert_eq!(summary.messages.out_of_order, 0);
    assert_eq!(summary.messages.in_flight, 0);
    assert!(summary.latency_s.max < 2.0, "{:?}", summary.latency_s);
}

#[test]
fn a_rejected_event_does_not_hold_its_successors() {
    // A tiny partition refuses events under a burst: they are dropped at the broker, and
    // the order's later events go on without waiting for them.
    let s = variant(
        &[
            ("model", "\"log\"\ncapacity = 3\non_full = \"reject\""),
            ("gap_timeout", "\"2s\""),
        ],
        "",
    );
    let summary = run(&s, s.seed);
    assert!(summary.messages.dropped > 20, "{:?}", summary.messages);
    let r = reseq(&summary);
    assert!(r.resequenced > 100, "{r:?}");
    assert_eq!(r.gaps_skipped, 0, "{r:?}");
    assert_eq!(summary.messages.out_of_order, 0);
    assert!(summary.latency_s.max < 1.0, "{:?}", summary.latency_s);
}

#[test]
fn a_message_that_never_comes_holds_its_successors_only_until_the_gap_timeout() {
    // At-most-once commits before processing: the events in hand when an instance
    // crashes are lost without a trace, and nothing tells the resequencer.
    let crash: String = ["5s", "7s", "9s"]
        .iter()
        .map(|at| {
            format!("[[fault]]\nat = \"{at}\"\nkind = \"crash\"\ntarget = \"fulfilment\"\nduration = \"100ms\"\n")
        })
        .collect();
    let crash = crash.as_str();
    let s = variant(
        &[
            ("delivery", "\"at-most-once\""),
            ("gap_timeout", "\"300ms\""),
            ("lost", ""),
        ],
        crash,
    );
    let summary = run(&s, s.seed);
    assert!(summary.messages.lost > 0, "{:?}", summary.messages);
    let r = reseq(&summary);
    assert!(r.gaps_skipped > 0, "{r:?}");
    assert_eq!(r.skipped_full, 0, "{r:?}");
    assert_eq!((r.held_end, summary.messages.in_flight), (0, 0));
    // Skipped, not stuck: the successors waited the timeout, plus what the 100 ms crash
    // delayed them before they were held.
    assert!(summary.latency_s.max > 0.3, "{:?}", summary.latency_s);
    assert!(summary.latency_s.max < 0.45, "{:?}", summary.latency_s);
    // Nothing came late, so nothing was applied out of order.
    assert_eq!(summary.messages.out_of_order, 0);
    // And the gap check caught it.
    assert!(!check(&summary, "gaps_skipped").ok);

    // Without a resequencer the successors of the lost events go through at once: the
    // wait above is the resequencer's, and it ends at the gap timeout.
    let mut set = NO_RESEQUENCER.to_vec();
    set.extend([
        ("delivery", "\"at-most-once\""),
        ("lost", ""),
        ("gaps_skipped", ""),
    ]);
    let plain = run(&variant(&set, crash), s.seed);
    assert!(plain.latency_s.max < 0.3, "{:?}", plain.latency_s);
}

#[test]
fn the_buffer_never_holds_more_than_its_bound_and_a_full_one_skips_gaps() {
    let s = variant(&[("resequence_buffer", "3")], "");
    let summary = run(&s, s.seed);
    let r = reseq(&summary);
    assert!(r.held_max <= 3, "{r:?}");
    assert!(r.skipped_full > 0, "{r:?}");
    assert_eq!(r.gaps_skipped, r.skipped_full, "{r:?}");
    // Let go past a gap, the predecessor then comes late: out of order, and both
    // expectations say so.
    assert!(summary.messages.out_of_order > 0);
    assert!(!check(&summary, "gaps_skipped").ok);
    assert!(!check(&summary, "out_of_order").ok);
    assert!(summary.conservation_ok);
}

#[test]
fn ordering_is_deterministic() {
    let s = variant(&[], "");
    let (a, b) = (run(&s, 3), run(&s, 3));
    assert_eq!(a.trace_hash, b.trace_hash, "seed=3 scenarios/ordering.toml");
    assert_eq!(a.groups, b.groups);
    assert_ne!(a.trace_hash, run(&s, 4).trace_hash);
}

#[test]
fn every_delivery_variant_conserves_copies_through_a_crash() {
    let crash =
        "[[fault]]\nat = \"5s\"\nkind = \"crash\"\ntarget = \"fulfilment/1\"\nduration = \"2s\"\n";
    let mut s = variant(&[("lost", ""), ("gaps_skipped", "")], crash);
    s.consumers[0].commit_interval = mqlab_sim::SimDuration::from_millis(500);
    for d in Delivery::ALL {
        for seed in [1, 2] {
            let summary = run_with(&s, d, seed);
            let at = format!("seed={seed} delivery={} ordering", d.as_str());
            assert!(summary.conservation_ok, "{at}: {:?}", summary.messages);
            assert_eq!(summary.messages.in_flight, 0, "{at}");
            assert_eq!(reseq(&summary).held_end, 0, "{at}");
            let m = &summary.messages;
            match d {
                Delivery::AtMostOnce => assert_eq!(m.duplicated, 0, "{at}"),
                Delivery::AtLeastOnce => assert_eq!(m.lost, 0, "{at}"),
                Delivery::ExactlyOnce => {
                    assert_eq!((m.lost, m.duplicated), (0, 0), "{at}");
                }
            }
        }
    }
}

#[test]
fn exactly_once_rolls_releases_back_with_their_transaction_and_stays_in_order() {
    // Crashes roll back up to 2 s of transactions; the events those applications released
    // from the buffer are held again, so the replay applies everything once and in order.
    // At-least-once replays the same work: duplicates, but still in order.
    let faults: String = [(3, 0), (6, 1), (9, 2), (12, 0), (15, 1)]
        .iter()
        .map(|(at, i)| {
            format!("[[fault]]\nat = \"{at}s\"\nkind = \"crash\"\ntarget = \"fulfilment/{i}\"\nduration = \"1s\"\n")
        })
        .collect();
    let settings = [
        ("gap_timeout", "\"60s\"\ncommit_interval = \"2s\""),
        ("resequence_buffer", "100000"),
    ];
    let log = variant(&settings, &faults);
    let mut queue_settings = settings.to_vec();
    queue_settings.extend([
        ("model", "\"queue\""),
        ("partitions", ""),
        ("partitioner", ""),
    ]);
    let queue = variant(&queue_settings, &faults);
    for (name, s) in [("log", &log), ("queue", &queue)] {
        for seed in [1, 3] {
            let at = format!("{name} seed={seed}");
            let eos = run_with(s, Delivery::ExactlyOnce, seed);
            let m = &eos.messages;
            assert_eq!(
                (m.lost, m.duplicated, m.out_of_order),
                (0, 0, 0),
                "{at}: {m:?}"
            );
            assert_eq!(m.in_flight, 0, "{at}");
            assert_eq!(reseq(&eos).gaps_skipped, 0, "{at}");
            let alo = run_with(s, Delivery::AtLeastOnce, seed);
            assert!(alo.messages.duplicated > 0, "{at}: {:?}", alo.messages);
            assert_eq!(alo.messages.out_of_order, 0, "{at}: {:?}", alo.messages);
        }
    }
}

#[test]
fn a_gap_timeout_shorter_than_the_partitions_skew_reorders_anyway() {
    // A crashed instance leaves two for three partitions: the one serving two of them is
    // over capacity, so they fall seconds behind the third. A 1 s gap timeout gives up on
    // events still queued there (they then come late, out of order); 60 s waits them out.
    let faults =
        "[[fault]]\nat = \"4s\"\nkind = \"crash\"\ntarget = \"fulfilment/1\"\nduration = \"10s\"\n";
    let short = variant(&[("gaps_skipped", "")], faults);
    let long = variant(&[("gap_timeout", "\"60s\"")], faults);
    for d in [Delivery::AtLeastOnce, Delivery::ExactlyOnce] {
        let (a, b) = (run_with(&short, d, 1), run_with(&long, d, 1));
        let at = d.as_str();
        assert!(reseq(&a).gaps_skipped > 0, "{at}: {:?}", reseq(&a));
        assert!(a.messages.out_of_order > 0, "{at}: {:?}", a.messages);
        assert_eq!(reseq(&b).gaps_skipped, 0, "{at}: {:?}", reseq(&b));
        assert_eq!(b.messages.out_of_order, 0, "{at}: {:?}", b.messages);
        assert!(b.ok(), "{at}: {:?}", b.expectations);
        if d == Delivery::ExactlyOnce {
            assert_eq!(b.messages.duplicated, 0, "{at}");
        }
    }
}

/// Found while writing the tests above: an instance crashing again the instant it
/// restarted took back a partition that the previous owner was still finishing a message
/// of; that owner's completion then committed past the reset position and the next fetch
/// panicked ("uncommitted offsets are retained"). Its completion is now fenced.
#[test]
fn back_to_back_crash_windows_do_not_commit_past_a_reset_partition() {
    let s = parse(
        r#"
        name = "back-to-back-crashes"
        duration = "20s"
        [[topic]]
        name = "orders"
        partitions = 3
        [[producer]]
        name = "checkout"
        topic = "orders"
        rate = 600
        keys = 100
        partitioner = "round-robin"
        [[consumer]]
        group = "fulfilment"
        topic = "orders"
        instances = 3
        service_time = "exp(3ms)"
        [[fault]]
        at = "5s"
        kind = "crash"
        target = "fulfilment/1"
        duration = "2s"
        [[fault]]
        at = "7s"
        kind = "crash"
        target = "fulfilment/1"
        duration = "2s"
        "#,
    );
    for d in Delivery::ALL {
        for seed in 1..=6 {
            let summary = run_with(&s, d, seed);
            let at = format!("seed={seed} delivery={}", d.as_str());
            assert!(summary.ok(), "{at}: {:?}", summary.expectations);
            assert_eq!(summary.messages.in_flight, 0, "{at}");
        }
    }
}
