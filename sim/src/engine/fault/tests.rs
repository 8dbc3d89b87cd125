//! Overlapping fault windows nest: an outer window 2s–8s and an inner one 3s–4s on the
//! same target leave it affected until 8s, whatever the kind, whether the faults come from
//! the scenario or from the dashboard's `inject_fault`.

use super::super::Engine;
use crate::dist::Dist;
use crate::scenario::{FaultConfig, FaultKind, Scenario};
use crate::time::{SimDuration, SimTime};
use toml::Spanned;

const BASE: &str = r#"
name = "nest"
duration = "20s"
drain = "1s"
[broker]
nodes = 2
replication = 2
[[topic]]
name = "t"
partitions = 2
[[producer]]
name = "p"
topic = "t"
rate = 10
[[consumer]]
group = "g"
topic = "t"
instances = 2
[[saga]]
name = "s"
rate = 1
[[saga.step]]
service = "a"
compensation = "undo"
[[saga.step]]
service = "b"
"#;

fn engine(faults: &str) -> Engine {
    let s = Scenario::from_toml(&format!("{BASE}{faults}"), "nest.toml").expect("valid");
    Engine::new(&s, 1)
}

fn window(kind: &str, target: &str, at: &str, duration: &str, extra: &str) -> String {
    format!(
        "[[fault]]\nat = \"{at}\"\nkind = \"{kind}\"\ntarget = \"{target}\"\nduration = \"{duration}\"\n{extra}\n"
    )
}

fn at(e: &mut Engine, ms: u64) {
    e.run_until(SimTime::ZERO + SimDuration::from_millis(ms));
}

type Probe = fn(&Engine) -> bool;

/// Each kind: (outer kind, outer target, inner kind, inner target, whether the probed
/// thing is affected).
fn cases() -> Vec<(
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    Probe,
)> {
    vec![
        ("crash", "g/0", "crash", "g/0", |e| !e.instances[0].up),
        ("crash", "g", "crash", "g/0", |e| !e.instances[0].up),
        ("crash", "g/0", "crash", "g", |e| !e.instances[0].up),
        ("crash", "p", "crash", "p", |e| !e.producers[0].up),
        ("crash", "saga/s", "crash", "saga/s", |e| {
            !e.saga_part_up(0, None)
        }),
        ("crash", "saga/s/a", "crash", "saga/s/a", |e| {
            !e.saga_part_up(0, Some(0))
        }),
        ("partition", "g/0", "partition", "g/0", |e| {
            !e.instances[0].reachable
        }),
        ("partition", "g", "partition", "g/0", |e| {
            !e.instances[0].reachable
        }),
        ("partition", "p", "partition", "p", |e| {
            !e.producers[0].reachable
        }),
        ("partition", "broker/1", "partition", "broker/1", |e| {
            !e.nodes_up[1]
        }),
        (
            "broker-crash",
            "broker/1",
            "broker-crash",
            "broker/1",
            |e| !e.nodes_up[1],
        ),
        ("broker-crash", "broker/1", "partition", "broker/1", |e| {
            !e.nodes_up[1]
        }),
        ("partition", "broker/1", "broker-crash", "broker/1", |e| {
            !e.nodes_up[1]
        }),
        ("outage", "p", "outage", "p", |e| e.outage_open(0)),
        ("poison", "p", "poison", "p", |e| {
            !e.producers[0].poison.is_empty()
        }),
    ]
}

fn extra(kind: &str) -> &'static str {
    if kind == "poison" { "rate = 0.5" } else { "" }
}

#[test]
fn an_inner_window_ending_leaves_the_outer_one_in_force() {
    for (ok, ot, ik, it, affected) in cases() {
        let outer = window(ok, ot, "2s", "6s", extra(ok));
        let inner = window(ik, it, "3s", "1s", extra(ik));
        let mut e = engine(&format!("{outer}{inner}"));
        let what = format!("{ok} {ot} 2s-8s around {ik} {it} 3s-4s");
        at(&mut e, 3500);
        assert!(affected(&e), "{what}: not affected inside both");
        at(&mut e, 5000);
        assert!(
            affected(&e),
            "{what}: restored at 5s by the inner window's end"
        );
        at(&mut e, 9000);
        assert!(!affected(&e), "{what}: still affected after both ended");
    }
}

#[test]
fn the_inner_window_listed_first_nests_too() {
    // The inner window's events come first in the queue's fault order.
    let inner = window("crash", "g/0", "3s", "1s", "");
    let outer = window("crash", "g", "2s", "6s", "");
    let mut e = engine(&format!("{inner}{outer}"));
    at(&mut e, 5000);
    assert!(!e.instances[0].up && !e.instances[1].up);
    at(&mut e, 9000);
    assert!(e.instances[0].up && e.instances[1].up);
}

#[test]
fn overlapping_slow_windows_run_at_the_largest_factor() {
    let outer = window("slow", "g/0", "2s", "6s", "factor = 20");
    let inner = window("slow", "g", "3s", "1s", "factor = 2");
    let mut e = engine(&format!("{outer}{inner}"));
    at(&mut e, 3500);
    assert_eq!((e.instances[0].slow, e.instances[1].slow), (20.0, 2.0));
    at(&mut e, 5000);
    assert_eq!((e.instances[0].slow, e.instances[1].slow), (20.0, 1.0));
    at(&mut e, 9000);
    assert_eq!(e.instances[0].slow, 1.0);
    let outer = window("slow", "g/0", "2s", "6s", "factor = 2");
    let inner = window("slow", "g/0", "3s", "1s", "factor = 30");
    let mut e = engine(&format!("{outer}{inner}"));
    at(&mut e, 3500);
    assert_eq!(e.instances[0].slow, 30.0);
    at(&mut e, 5000);
    assert_eq!(e.instances[0].slow, 2.0);
}

#[test]
fn an_inner_latency_spike_ending_restores_the_outer_spike() {
    let outer = window("latency-spike", "network", "2s", "6s", "latency = \"50ms\"");
    let inner = window("latency-spike", "network", "3s", "1s", "latency = \"5ms\"");
    let mut e = engine(&format!("{outer}{inner}"));
    at(&mut e, 3500);
    assert_eq!(e.latency, Dist::Const(SimDuration::from_millis(5)));
    at(&mut e, 5000);
    assert_eq!(e.latency, Dist::Const(SimDuration::from_millis(50)));
    at(&mut e, 9000);
    assert!(e.latency.is_zero());
}

fn injected(kind: FaultKind, target: &str, at_ms: u64, ms: u64) -> FaultConfig {
    let mut f = FaultConfig::new(kind, target, SimDuration::from_millis(at_ms));
    f.duration = Some(SimDuration::from_millis(ms));
    if kind == FaultKind::Slow {
        f.factor = Some(Spanned::new(0..0, 4.0));
    }
    f
}

#[test]
fn faults_injected_from_the_dashboard_nest() {
    // (kind, outer target, inner target)
    let kinds = [
        (FaultKind::Crash, "g/0", "g"),
        (FaultKind::Crash, "p", "p"),
        (FaultKind::Partition, "g/0", "g"),
        (FaultKind::BrokerCrash, "broker/1", "broker/1"),
        (FaultKind::Slow, "g/0", "g/0"),
    ];
    for (kind, outer, inner) in kinds {
        let mut e = engine("");
        at(&mut e, 1000);
        e.inject_fault(injected(kind, outer, 2000, 6000))
            .expect("injected");
        e.inject_fault(injected(kind, inner, 3000, 1000))
            .expect("injected");
        let affected = |e: &Engine| match outer {
            "p" => !e.producers[0].up,
            "broker/1" => !e.nodes_up[1],
            _ => !e.instances[0].up || !e.instances[0].reachable || e.instances[0].slow > 1.0,
        };
        at(&mut e, 5000);
        assert!(
            affected(&e),
            "{kind:?} {outer}: restored by the inner window"
        );
        at(&mut e, 9000);
        assert!(!affected(&e), "{kind:?} {outer}: not restored at the end");
    }
}
