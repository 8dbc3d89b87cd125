//! Poison-message protection (issue 6, item 7): the circuit-breaker scenario meets its
//! `[expect]`; without the breaker and the processing timeout the checker fails; breaker
//! transitions, timeouts and quarantine histories happen exactly when they should.

use crate::support::{load, parse, root, run, run_with};
use mqlab_sim::summary::ProtectionSummary;
use mqlab_sim::{Delivery, RunSummary, Scenario};

fn shipped() -> (Scenario, String) {
    let path = root().join("scenarios/circuit-breaker.toml");
    (
        load(&path),
        std::fs::read_to_string(&path).expect("readable"),
    )
}

/// The shipped scenario without the consumer lines starting with any of `keys`.
fn without(text: &str, keys: &[&str]) -> Scenario {
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| !keys.iter().any(|k| l.starts_with(k)))
        .collect();
    parse(&kept.join("\n"))
}

fn check<'a>(s: &'a RunSummary, name: &str) -> &'a mqlab_sim::summary::Expectation {
    s.expectations
        .iter()
        .find(|e| e.check == name)
        .unwrap_or_else(|| panic!("no `{name}` in {:?}", s.expectations))
}

fn protection(s: &RunSummary) -> &ProtectionSummary {
    s.protection.as_ref().expect("protection figures")
}

/// Seconds compared to the nanosecond.
fn same_time(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn circuit_breaker_scenario_holds_and_quarantines_only_the_real_poison() {
    let (s, _) = shipped();
    let r = run(&s, s.seed);
    assert!(r.ok(), "{:?}", r.expectations);
    let p = protection(&r);
    assert_eq!(p.quarantined, 5);
    assert_eq!(
        r.messages.dead_lettered, 5,
        "quarantined copies are dead-lettered"
    );
    // None of the outage's invoices is among them: each record is one of the three failing
    // pills of 5s or the two hanging ones of 40s.
    for q in &p.quarantine {
        let first = q.attempts[0].started_s;
        assert!(!(20.0..40.0).contains(&first), "{q:?}");
    }
    let opens = p.transitions.iter().filter(|t| t.to == "open").count() as u64;
    assert_eq!(opens, p.breaker_opens);
    assert!(p.breaker_opens >= 1);
    let first_open = &p.transitions[0];
    assert_eq!(
        (first_open.from.as_str(), first_open.to.as_str()),
        ("closed", "open")
    );
    assert!((20.0..21.0).contains(&first_open.at_s), "{first_open:?}");
    let last = p.transitions.last().expect("transitions");
    assert_eq!(last.to, "closed", "closed again after the outage");
    assert!(last.at_s >= 30.0, "{last:?}");
}

#[test]
fn without_breaker_and_timeout_the_checker_fails() {
    let (_, text) = shipped();
    let broken = without(
        &text,
        &["circuit_breaker", "cool_down", "processing_timeout"],
    );
    let r = run(&broken, broken.seed);
    assert!(!r.ok());
    // Invoices that would have succeeded seconds later are quarantined...
    let q = check(&r, "quarantined");
    assert!(!q.ok, "{q:?}");
    assert!(protection(&r).quarantined > 20, "{:?}", protection(&r));
    // ...and the workers retrying them starve checkout.
    let latency = check(&r, "p99_latency_of checkout");
    assert!(!latency.ok, "{latency:?}");
    // The hanging messages hold their workers for good.
    assert!(!check(&r, "in_flight").ok);
    assert_eq!(protection(&r).timed_out, 0);
    assert!(r.conservation_ok);
}

#[test]
fn the_breaker_alone_protects_checkout_and_the_outage_invoices() {
    let (_, text) = shipped();
    let no_breaker = without(&text, &["circuit_breaker", "cool_down"]);
    let r = run(&no_breaker, no_breaker.seed);
    assert!(!check(&r, "quarantined").ok);
    assert!(!check(&r, "p99_latency_of checkout").ok);
    assert!(
        check(&r, "in_flight").ok,
        "the timeout still cuts the hangs"
    );
}

#[test]
fn without_the_timeout_hanging_messages_hold_workers_forever() {
    let (_, text) = shipped();
    let no_timeout = without(&text, &["processing_timeout"]);
    let r = run(&no_timeout, no_timeout.seed);
    assert_eq!(r.messages.in_flight, 2, "the two hanging messages");
    assert!(!check(&r, "in_flight").ok);
    assert_eq!(protection(&r).quarantined, 3, "only the failing pills");
}

#[test]
fn processing_timeout_cuts_each_hanging_attempt_at_the_timeout() {
    let (s, _) = shipped();
    let r = run(&s, s.seed);
    let p = protection(&r);
    let hanging: Vec<_> = p
        .quarantine
        .iter()
        .filter(|q| q.attempts.iter().any(|a| a.error == "timed out"))
        .collect();
    assert_eq!(hanging.len(), 2, "{:?}", p.quarantine);
    for q in hanging {
        assert_eq!(q.attempts.len(), 4, "first try and max_retries = 3: {q:?}");
        for a in &q.attempts {
            assert_eq!(a.error, "timed out");
            assert!(same_time(a.ended_s - a.started_s, 1.0), "{a:?}");
        }
        assert!(same_time(q.at_s, q.attempts[3].ended_s));
    }
    assert_eq!(p.timed_out, 8);
}

#[test]
fn quarantine_records_carry_each_attempt_and_its_error() {
    let (s, _) = shipped();
    let r = run(&s, s.seed);
    let failing: Vec<_> = protection(&r)
        .quarantine
        .iter()
        .filter(|q| q.attempts.iter().all(|a| a.error == "failed"))
        .collect();
    assert_eq!(failing.len(), 3);
    for q in failing {
        assert_eq!(q.message_type, "invoices");
        assert_eq!(q.attempts.len(), 4, "{q:?}");
        // Backoff 100ms doubling: each retry starts 100ms, 200ms, 400ms after a failure.
        for (k, pair) in q.attempts.windows(2).enumerate() {
            let gap = pair[1].started_s - pair[0].ended_s;
            assert!(same_time(gap, 0.1 * f64::from(1 << k)), "{q:?}");
        }
    }
}

/// One worker, one type whose dependency is down for `outage`; each message fails once
/// (`max_retries = 0`) and is quarantined, so the records time every failure.
fn single_type(breaker: u32, outage: &str) -> Scenario {
    parse(&scenario_text(breaker, outage))
}

fn scenario_text(breaker: u32, outage: &str) -> String {
    format!(
        r#"name = "one-type"
duration = "10s"
[broker]
model = "queue"
[[topic]]
name = "q"
[[producer]]
name = "x"
topic = "q"
rate = 10
arrival = "constant"
[[consumer]]
group = "w"
topic = "q"
service_time = "1ms"
max_retries = 0
quarantine = true
circuit_breaker = {breaker}
cool_down = "2s"
[[fault]]
at = "0s"
kind = "outage"
target = "x"
duration = "{outage}"
"#
    )
}

#[test]
fn the_breaker_opens_at_exactly_the_nth_consecutive_failure() {
    // Constant arrivals at 0.1s, 0.2s, 0.3s, ...: three fall in the outage and fail.
    let r = run(&single_type(3, "350ms"), 1);
    let p = protection(&r);
    assert_eq!(p.quarantined, 3, "{p:?}");
    let open = &p.transitions[0];
    assert_eq!(open.to, "open");
    assert!(
        same_time(open.at_s, p.quarantine[2].attempts[0].ended_s),
        "{p:?}"
    );
    // One failure short of the threshold: it never opens.
    let r = run(&single_type(4, "350ms"), 1);
    let p = protection(&r);
    assert_eq!(p.quarantined, 3);
    assert!(p.transitions.is_empty(), "{:?}", p.transitions);
}

#[test]
fn half_open_probes_after_the_cool_down_and_closes_on_success() {
    let r = run(&single_type(3, "1s"), 1);
    let p = protection(&r);
    let steps: Vec<(&str, &str)> = p
        .transitions
        .iter()
        .map(|t| (t.from.as_str(), t.to.as_str()))
        .collect();
    assert_eq!(
        steps,
        [
            ("closed", "open"),
            ("open", "half-open"),
            ("half-open", "closed")
        ]
    );
    let at: Vec<f64> = p.transitions.iter().map(|t| t.at_s).collect();
    assert!(same_time(at[1] - at[0], 2.0), "cool_down later: {at:?}");
    // The probe is the oldest parked message, served at once: 1ms of service.
    assert!(same_time(at[2] - at[1], 0.001), "{at:?}");
    // Parked messages are not failures: only the three before the breaker opened.
    assert_eq!(p.quarantined, 3);
    assert_eq!(r.messages.in_flight, 0);
    assert_eq!(r.messages.processed + 3, r.messages.copies);
}

#[test]
fn a_failed_probe_reopens_for_another_cool_down() {
    // Still down at the first probe (2s after opening), up by the second.
    let r = run(&single_type(3, "3s"), 1);
    let p = protection(&r);
    let steps: Vec<&str> = p.transitions.iter().map(|t| t.to.as_str()).collect();
    assert_eq!(steps, ["open", "half-open", "open", "half-open", "closed"]);
    assert!(same_time(
        p.transitions[3].at_s - p.transitions[2].at_s,
        2.0
    ));
    assert_eq!(p.breaker_opens, 2);
    assert_eq!(
        p.quarantined, 4,
        "the failed probe exhausted its budget too"
    );
}

#[test]
fn conservation_and_expectations_hold_under_every_delivery_variant() {
    let (s, _) = shipped();
    for d in Delivery::ALL {
        let r = run_with(&s, d, s.seed);
        assert!(r.conservation_ok, "{d:?}");
        assert!(r.ok(), "{d:?}: {:?}", r.expectations);
        assert_eq!(protection(&r).quarantined, 5, "{d:?}");
    }
}

#[test]
fn protection_runs_are_deterministic() {
    let (s, _) = shipped();
    let (a, b) = (run(&s, s.seed), run(&s, s.seed));
    assert_eq!(a.trace_hash, b.trace_hash);
    assert_eq!(a.protection, b.protection);
    assert_ne!(run(&s, s.seed + 1).trace_hash, a.trace_hash);
}

#[test]
fn runs_without_protection_keys_report_none() {
    let s = load(&root().join("scenarios/poison-pill.toml"));
    let r = run(&s, s.seed);
    assert!(r.protection.is_none());
    let json = serde_json::to_string(&r).expect("json");
    assert!(!json.contains("\"protection\""));
}

#[test]
fn a_probe_lost_in_a_crash_reopens_the_breaker_instead_of_holding_the_type_forever() {
    // Opens at 0.301s, half-open at 2.301s with a 1ms probe; the worker crashes during
    // it, and at-most-once loses the probe.
    let s = parse(&format!(
        "{}\n[[fault]]\nat = \"2301500us\"\nkind = \"crash\"\ntarget = \"w\"\nduration = \"100ms\"\n",
        scenario_text(3, "1s")
    ));
    let r = run_with(&s, Delivery::AtMostOnce, 1);
    let p = protection(&r);
    let steps: Vec<&str> = p.transitions.iter().map(|t| t.to.as_str()).collect();
    assert_eq!(steps, ["open", "half-open", "open", "half-open", "closed"]);
    // The silent probe counts as failed one cool-down after it was admitted.
    assert!(same_time(
        p.transitions[2].at_s - p.transitions[1].at_s,
        2.0
    ));
    assert_eq!(
        r.messages.lost, 1,
        "the probe, taken and committed before processing"
    );
    assert_eq!(r.messages.in_flight, 0, "the parked invoices resumed");
}

#[test]
fn the_breaker_works_on_an_exchange_queue_too() {
    let (_, text) = shipped();
    let text = text
        .replace("model = \"queue\"", "model = \"exchange\"")
        .replace(
            "name = \"orders\"\n",
            "name = \"orders\"\nexchange = \"fanout\"\n",
        );
    let s = parse(&text);
    let r = run(&s, s.seed);
    assert!(r.ok(), "{:?}", r.expectations);
    assert!(protection(&r).breaker_opens >= 1);
}

#[test]
fn a_hanging_outage_is_cut_by_the_timeout_and_opens_the_breaker() {
    let text = scenario_text(3, "350ms")
        .replace(
            "max_retries = 0",
            "max_retries = 0\nprocessing_timeout = \"50ms\"",
        )
        .replace(
            "duration = \"350ms\"",
            "duration = \"350ms\"\nmode = \"hang\"",
        );
    let r = run(&parse(&text), 1);
    let p = protection(&r);
    assert_eq!(p.timed_out, 3);
    assert_eq!(p.quarantined, 3);
    for q in &p.quarantine {
        let a = &q.attempts[0];
        assert_eq!(a.error, "timed out");
        assert!(same_time(a.ended_s - a.started_s, 0.05), "{a:?}");
    }
    assert!(same_time(p.transitions[0].at_s, p.quarantine[2].at_s));
    assert_eq!(p.transitions[0].to, "open");
    assert!(r.ok(), "{:?}", r.expectations);
}
