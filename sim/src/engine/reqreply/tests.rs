//! Unit tests of the requester's handlers, driven by hand on an engine that never runs.

use super::super::Engine;
use super::*;

/// An engine whose producer 0 is a requester with a 100ms timeout; nothing is run, the
/// tests drive the requester's handlers by hand.
fn engine(correlation: &str) -> Engine {
    let text = format!(
        r#"
name = "unit"
duration = "10s"
[[topic]]
name = "rpc"
[[producer]]
name = "client"
topic = "rpc"
rate = 1
reply_timeout = "100ms"
correlation = "{correlation}"
"#
    );
    let s = Scenario::from_toml(&text, "unit.toml").expect("valid");
    Engine::new(&s, 1)
}

fn at(e: &mut Engine, ms: u64) {
    e.now = SimTime::ZERO + SimDuration::from_millis(ms);
}

fn stats(e: &Engine) -> RequestReplySummary {
    e.request_reply_summaries().remove(0)
}

#[test]
fn replies_out_of_order_match_by_id_but_the_naive_client_swaps_them() {
    for (correlation, mismatched) in [("id", 0), ("none", 2)] {
        let mut e = engine(correlation);
        e.request_sent(0, 0);
        at(&mut e, 1);
        e.request_sent(0, 1);
        at(&mut e, 5);
        e.on_reply(0, 1);
        at(&mut e, 9);
        e.on_reply(0, 0);
        let s = stats(&e);
        assert_eq!((s.replied, s.mismatched), (2, mismatched), "{correlation}");
        // By id the round trips are 4ms and 9ms; the naive client sees 5ms and 8ms.
        let max = if mismatched == 0 { 0.009 } else { 0.008 };
        assert!((s.rtt_s.max - max).abs() < 1e-5, "{correlation}: {s:?}");
    }
}

#[test]
fn a_late_reply_is_an_orphan_once_and_then_a_duplicate() {
    let mut e = engine("id");
    e.request_sent(0, 7);
    at(&mut e, 100);
    e.on_reply_timeout(0);
    at(&mut e, 150);
    e.on_reply(0, 7);
    e.on_reply(0, 7);
    let s = stats(&e);
    assert_eq!(
        (
            s.requests,
            s.replied,
            s.timed_out,
            s.orphans,
            s.duplicate_replies
        ),
        (1, 0, 1, 1, 1)
    );
}

#[test]
fn a_repeated_reply_is_counted_and_never_matched_twice() {
    let mut e = engine("id");
    e.request_sent(0, 3);
    e.request_sent(0, 4);
    at(&mut e, 10);
    e.on_reply(0, 3);
    e.on_reply(0, 3);
    let s = stats(&e);
    assert_eq!((s.replied, s.duplicate_replies, s.outstanding), (1, 1, 1));
    // The timeout later takes only the request still waiting.
    at(&mut e, 100);
    e.on_reply_timeout(0);
    let s = stats(&e);
    assert_eq!((s.timed_out, s.outstanding), (1, 0));
}

#[test]
fn plain_scenarios_keep_no_requester_state() {
    let s = Scenario::from_toml(
        "name = \"x\"\nduration = \"1s\"\n[[topic]]\nname = \"t\"\n[[producer]]\nname = \"p\"\ntopic = \"t\"\nrate = 1\n",
        "x.toml",
    )
    .expect("valid");
    assert!(requesters(&s).is_empty());
}
