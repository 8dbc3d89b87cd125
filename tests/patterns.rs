//! Messaging patterns (issue 6): each pattern's scenario meets its own `[expect]`, and a
//! deliberately broken variant makes the checker fail on the failure the pattern prevents.

use crate::support::{load, parse, root, run};
use mqlab_sim::{Engine, RunSummary, Scenario};

fn scenario(name: &str) -> (Scenario, String) {
    let path = root().join("scenarios").join(name);
    let text = std::fs::read_to_string(&path).expect("readable scenario");
    (load(&path), text)
}

fn check<'a>(s: &'a RunSummary, name: &str) -> &'a mqlab_sim::summary::Expectation {
    s.expectations
        .iter()
        .find(|e| e.check == name)
        .unwrap_or_else(|| panic!("no `{name}` expectation in {:?}", s.expectations))
}

fn all_hold(s: &RunSummary) -> bool {
    s.expectations.iter().all(|e| e.ok)
}

/// The shipped scenario with its `[broker]` block replaced.
fn with_broker(text: &str, broker: &str) -> Scenario {
    let start = text.find("[broker]").expect("[broker]");
    let end = start + text[start..].find("\n\n").expect("end of [broker]");
    parse(&format!("{}{broker}{}", &text[..start], &text[end..]))
}

// ---- backpressure with watermarks ----

#[test]
fn backpressure_scenario_holds_and_pauses_the_producer() {
    let (s, _) = scenario("backpressure.toml");
    let mut engine = Engine::new(&s, s.seed);
    while engine.step() {}
    let pauses = engine.snapshot().pauses;
    let summary = engine.summary();
    assert!(all_hold(&summary), "{:?}", summary.expectations);
    assert_eq!(summary.messages.dropped, 0);
    assert!(
        pauses.len() >= 5,
        "bursts should pause the producer: {pauses:?}"
    );
    assert!(pauses.iter().all(|p| p.resumed_at.is_some()), "{pauses:?}");
}

#[test]
fn watermarks_pause_the_producer_exactly_between_high_and_then_low() {
    let (s, _) = scenario("backpressure.toml");
    let (high, low) = (200, 50);
    let mut engine = Engine::new(&s, s.seed);
    let mut before: Option<(usize, bool, u64)> = None;
    while engine.step() {
        let snap = engine.snapshot();
        let backlog = snap.topics[0].depth[0];
        let paused = snap.pauses.last().is_some_and(|p| p.resumed_at.is_none());
        let at = snap.now;
        if paused {
            // Paused only once the backlog reached the high mark, and still above the low.
            assert!(
                backlog > low && backlog <= high,
                "paused at backlog {backlog}, {at}"
            );
        } else {
            // Not paused: every send went in, and the backlog is below the high mark.
            assert!(backlog < high, "running at backlog {backlog}, {at}");
            assert_eq!(
                snap.producers[0].blocked, 0,
                "a send waits while running, {at}"
            );
        }
        if let Some((spans, was_paused, was_backlog)) = before
            && was_paused
            && paused
            && spans == snap.pauses.len()
        {
            // Within one pause no send gets in: the backlog can only fall.
            assert!(backlog <= was_backlog, "backlog rose while paused, {at}");
        }
        before = Some((snap.pauses.len(), paused, backlog));
    }
    let pauses = engine.snapshot().pauses;
    assert!(pauses.len() >= 5, "{pauses:?}");
    let mut last = None;
    for p in &pauses {
        // Recorded at the crossing itself: the backlog equals each mark then.
        assert_eq!(p.paused_backlog, high, "{p:?}");
        assert_eq!(p.resumed_backlog, Some(low), "{p:?}");
        let resumed = p.resumed_at.expect("resumed after the burst");
        assert!(resumed > p.paused_at, "{p:?}");
        assert!(
            last.is_none_or(|l| p.paused_at >= l),
            "pauses overlap: {p:?}"
        );
        last = Some(resumed);
    }
}

#[test]
fn backpressure_broken_without_watermarks_rejects_and_the_checker_fails_on_dropped() {
    let (_, text) = scenario("backpressure.toml");
    let broken = with_broker(
        &text,
        "[broker]\nmodel = \"queue\"\ncapacity = 200\non_full = \"reject\"",
    );
    let summary = run(&broken, broken.seed);
    assert!(summary.messages.dropped > 0);
    let dropped = check(&summary, "dropped");
    assert!(!dropped.ok, "{dropped:?}");
    assert_eq!(
        summary.messages.lost, 0,
        "a rejected message is dropped, not lost"
    );
}

#[test]
fn a_high_watermark_alone_blocks_as_a_capacity_would() {
    // Without a low mark a paused producer resumes as soon as there is room: exactly
    // today's `block` at `capacity`.
    let (_, text) = scenario("backpressure.toml");
    let cap = with_broker(&text, "[broker]\nmodel = \"queue\"\ncapacity = 200");
    let mark = with_broker(
        &text,
        "[broker]\nmodel = \"queue\"\ncapacity = 1000\nhigh_watermark = 200",
    );
    let (a, b) = (run(&cap, cap.seed), run(&mark, mark.seed));
    assert_eq!(a.trace_hash, b.trace_hash);
    assert_eq!(a.messages, b.messages);
    assert_eq!(a.latency_s, b.latency_s);
}

#[test]
fn hysteresis_sends_in_runs_where_plain_block_trickles() {
    // The point of the low mark: fewer, longer pauses than releasing one slot at a time.
    let (s, text) = scenario("backpressure.toml");
    let plain = with_broker(
        &text,
        "[broker]\nmodel = \"queue\"\ncapacity = 1000\nhigh_watermark = 200",
    );
    let count = |s: &Scenario| {
        let mut e = Engine::new(s, s.seed);
        while e.step() {}
        e.snapshot().pauses.len()
    };
    let (with_low, without) = (count(&s), count(&plain));
    assert!(with_low * 10 < without, "{with_low} pauses vs {without}");
}

// ---- priority with fair scheduling ----

/// The shipped scenario with one consumer's `scheduling` line (and `weights`) replaced.
fn with_scheduling(text: &str, lines: &str) -> Scenario {
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with("scheduling") && !l.starts_with("weights"))
        .collect();
    let text = kept.join("\n");
    let at = text.find("\n\n[expect]").expect("[expect]");
    parse(&format!("{}\n{lines}{}", &text[..at], &text[at..]))
}

#[test]
fn fair_priority_scenario_holds_and_the_low_class_keeps_its_share() {
    let (s, _) = scenario("fair-priority.toml");
    let summary = run(&s, s.seed);
    assert!(all_hold(&summary), "{:?}", summary.expectations);
    let [low, high] = &summary.classes[..] else {
        panic!("two classes: {:?}", summary.classes);
    };
    // Reports ask for about 200 of the 1300 messages a second and get them all.
    assert!((0.17..0.24).contains(&low.share), "{low:?}");
    assert!(low.latency_s.p99 < 0.1, "{low:?}");
    assert!(high.latency_s.p99 > low.latency_s.p99, "{high:?}");
    assert_eq!(low.processed + high.processed, summary.messages.processed);
}

#[test]
fn strict_priority_starves_the_low_class_and_the_checker_fails_on_min_share() {
    let (_, text) = scenario("fair-priority.toml");
    let strict = with_scheduling(&text, "scheduling = \"strict\"");
    let summary = run(&strict, strict.seed);
    let share = check(&summary, "min_share");
    assert!(!share.ok, "{share:?}");
    let low = &summary.classes[0];
    assert!(low.share < 0.01, "{low:?}");
    // Starved, not lost: the drain serves it once checkout stops.
    assert_eq!(low.processed, low.produced);
    assert!(low.latency_s.p99 > 10.0, "{low:?}");
}

#[test]
fn weighted_scheduling_splits_a_backlogged_worker_by_the_weights() {
    let (_, text) = scenario("fair-priority.toml");
    // Both classes over capacity on their own: each gets exactly its weight's share.
    let text = text.replace("rate = 200", "rate = 1000");
    let s = with_scheduling(&text, "scheduling = \"weighted\"\nweights = [1, 3]");
    let summary = run(&s, s.seed);
    let shares: Vec<f64> = summary.classes.iter().map(|c| c.share).collect();
    assert!((shares[0] - 0.25).abs() < 0.01, "{shares:?}");
    assert!((shares[1] - 0.75).abs() < 0.01, "{shares:?}");
}

#[test]
fn runs_without_priority_scheduling_report_no_classes() {
    let (s, _) = scenario("backpressure.toml");
    assert!(run(&s, s.seed).classes.is_empty());
}
