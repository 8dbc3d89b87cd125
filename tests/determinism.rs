//! Determinism is the product: every shipped scenario, run twice from the same seed, gives
//! the same trace hash and the same result (wall time aside); another seed gives another.

use crate::support::{load, run, scenario_paths};
use mqlab_sim::{Engine, SimTime};

#[test]
fn every_scenario_is_identical_across_runs_and_differs_across_seeds() {
    for path in scenario_paths() {
        let s = load(&path);
        let a = run(&s, s.seed);
        let b = run(&s, s.seed);
        assert_eq!(
            a.trace_hash,
            b.trace_hash,
            "seed={} {}",
            s.seed,
            path.display()
        );
        assert_eq!(a, b, "seed={} {}: results differ", s.seed, path.display());
        let json_a = serde_json::to_string(&a).expect("json");
        let json_b = serde_json::to_string(&b).expect("json");
        assert_eq!(json_a, json_b, "seed={} {}", s.seed, path.display());
        let other = run(&s, s.seed + 1);
        assert_ne!(
            a.trace_hash,
            other.trace_hash,
            "seed={} and seed={} {}",
            s.seed,
            s.seed + 1,
            path.display()
        );
    }
}

#[test]
fn stepping_in_slices_gives_the_same_run_as_running_flat_out() {
    // The dashboard drives the engine with run_until at arbitrary times; the trace must not
    // depend on how the run is sliced.
    let path = crate::support::root().join("scenarios/food-delivery.toml");
    let s = load(&path);
    let flat = run(&s, s.seed);
    let mut e = Engine::new(&s, s.seed);
    let mut t = SimTime::ZERO;
    while !e.is_finished() {
        t += mqlab_sim::SimDuration(37_777_777);
        e.run_until(t);
        let _ = e.snapshot();
    }
    assert_eq!(e.summary(), flat, "seed={} {}", s.seed, path.display());
}

#[test]
fn an_injected_fault_replays_exactly_from_the_exported_scenario() {
    let path = crate::support::root().join("scenarios/mm1.toml");
    let s = load(&path);
    let mut live = Engine::new(&s, 3);
    live.run_until(SimTime(12_000_000_000));
    let mut fault = mqlab_sim::scenario::FaultConfig::new(
        mqlab_sim::scenario::FaultKind::Crash,
        "server/0",
        mqlab_sim::SimDuration::ZERO,
    );
    fault.duration = Some(mqlab_sim::SimDuration::from_secs(2));
    live.inject_fault(fault).expect("valid fault");
    let replayed = run(live.scenario(), 3);
    while live.step() {}
    let live = live.summary();
    assert_eq!(live.trace_hash, replayed.trace_hash);
    assert_ne!(
        live.trace_hash,
        run(&s, 3).trace_hash,
        "the fault changed nothing"
    );
}

#[test]
fn an_outage_injected_live_replays_exactly_from_the_exported_scenario() {
    // The dashboard's menu offers outages on scenarios with no breaker: the per-type state
    // they need is built at injection, and the run matches the exported one.
    let path = crate::support::root().join("scenarios/poison-pill.toml");
    let s = load(&path);
    let producer = s.producers[0].name.get_ref().clone();
    let mut live = Engine::new(&s, 5);
    live.run_until(SimTime(3_000_000_000));
    let mut fault = mqlab_sim::scenario::FaultConfig::new(
        mqlab_sim::scenario::FaultKind::Outage,
        &producer,
        mqlab_sim::SimDuration::ZERO,
    );
    fault.duration = Some(mqlab_sim::SimDuration::from_secs(2));
    live.inject_fault(fault).expect("valid fault");
    let replayed = run(live.scenario(), 5);
    while live.step() {}
    let live = live.summary();
    assert_eq!(live.trace_hash, replayed.trace_hash);
    assert_eq!(live.messages, replayed.messages);
    assert!(
        live.messages.dead_lettered > run(&s, 5).messages.dead_lettered,
        "the outage failed nothing: {:?}",
        live.messages
    );
}

/// Slicing with `run_until`, as the dashboard does, ends a run that ends with copies
/// still in flight (a poison burst's retries outlast the drain) the way running flat out
/// does, rather than leaving it short of finished at its end for ever.
#[test]
fn a_run_sliced_to_its_end_with_copies_in_flight_finishes_as_flat_out() {
    let text = r#"
name = "stuck"
seed = 709075415
duration = "30s"
drain = "30s"
[broker]
model = "log"
[[topic]]
name = "payments"
[[producer]]
name = "gateway"
topic = "payments"
rate = 31
[[consumer]]
group = "ledger"
topic = "payments"
service_time = "1ms"
[[fault]]
at = "1471768ns"
kind = "poison"
rate = 0.1
target = "gateway"
"#;
    let s = mqlab_sim::Scenario::from_toml(text, "stuck.toml").expect("valid");
    let flat = run(&s, s.seed);
    assert!(
        flat.messages.in_flight > 0,
        "copies left in flight at the end"
    );
    let mut e = Engine::new(&s, s.seed);
    let mut t = SimTime::ZERO;
    while !e.is_finished() {
        t += mqlab_sim::SimDuration(250_000_000);
        assert!(t.0 < 200_000_000_000, "still not finished at {t}");
        e.run_until(t);
    }
    assert_eq!(e.summary(), flat);
}

/// A storm the memory guard stops finishes under `run_until` too, at the instant it
/// was stopped, and its snapshot (what the dashboard shows) says why.
#[test]
fn a_storm_the_guard_stops_finishes_when_sliced_and_its_snapshot_says_why() {
    let storm = crate::support::storm();
    let s = mqlab_sim::Scenario::from_toml(&storm, "storm.toml").expect("valid");
    let budget = 8_000_000;
    let stopped = Engine::new(&s, s.seed)
        .run_within(budget)
        .expect_err("the storm outgrows 8 MB");
    let mut e = Engine::new(&s, s.seed);
    e.limit_memory(budget);
    let mut t = SimTime::ZERO;
    while !e.is_finished() {
        t += mqlab_sim::SimDuration(250_000_000);
        assert!(t.0 < 1_000_000_000_000, "still not finished at {t}");
        e.run_until(t);
    }
    assert_eq!(e.stopped(), Some(&stopped));
    let snap = e.snapshot();
    assert_eq!(snap.stopped, Some(stopped.short()));
    assert!(
        snap.log
            .iter()
            .any(|l| l.text.contains("memory guard: stopped at")),
        "the log says so"
    );
}

/// Every shipped scenario sliced with `run_until` (as the dashboard drives it, here a
/// second at a time) ends with the flat-out run's result, faults, retries outlasting the
/// drain and all.
#[test]
fn every_scenario_sliced_ends_as_flat_out() {
    for path in scenario_paths() {
        let s = load(&path);
        let flat = run(&s, s.seed);
        let mut e = Engine::new(&s, s.seed);
        let mut t = SimTime::ZERO;
        while !e.is_finished() {
            t += mqlab_sim::SimDuration::from_secs(1);
            assert!(
                t.0 < 100_000_000_000_000,
                "{}: never finished",
                path.display()
            );
            e.run_until(t);
        }
        assert_eq!(e.summary(), flat, "seed={} {}", s.seed, path.display());
    }
}
