//! The lean consume handlers on the generic path (`lean.rs`) leave what the generic ones
//! leave: a grid of what sends a run down the generic path (a network with latency, loss
//! and duplication, `acks = "all"`, replication, idempotent producers, an exactly-once
//! group beside others, a broker that fills under each `on_full`) crossed with each broker
//! model and each fault the lean handlers come back from, or do not; every copy is
//! accounted for; and they serve the groups they should, when they should.

use super::super::Engine;
use super::tests::same_both_ways;
use crate::scenario::Scenario;
use crate::time::{SimDuration, SimTime};

/// A scenario on the generic path: `model` 0 a log, 1 an SQS-like queue, 2 an exchange;
/// `net` 0 an instant network with `acks = "all"`, 1 latency, 2 latency with loss and
/// duplication; `fault` 0 none, 1 a group crash, 2 a slow instance, 3 a producer crash,
/// 4 a network partition cutting an instance off, 5 a crash and a slow spell
/// overlapping, 6 a broker crash overlapping a partition that cuts the producer off, 7 a
/// latency spike overlapping a partition that cuts a broker off, 8 poison (the lean
/// handlers do not come back after it: poison may still sit in the log).
fn generic(model: usize, net: usize, fault: usize, k: usize) -> String {
    let broker = ["log", "queue", "exchange"][model];
    let acks = if net == 0 {
        "all"
    } else {
        ["all", "leader"][k % 2]
    };
    let latency = ["0", "exp(1ms)", "lognormal(500us,200us)"][net];
    let (loss, dup) = if net == 2 { (0.03, 0.03) } else { (0.0, 0.0) };
    let mut s = format!(
        "name = \"lean\"\nduration = \"2s\"\ndrain = \"4s\"\n[broker]\nmodel = \"{broker}\"\n\
         acks = \"{acks}\"\n"
    );
    if model == 0 && k % 2 == 1 {
        s += "nodes = 3\nreplication = 3\nreplica_lag = \"exp(1ms)\"\n";
    }
    // A broker that fills now and then, under each `on_full` but spill.
    if !k.is_multiple_of(5) {
        let on_full = ["block", "reject", "drop-oldest"][k % 3];
        s += &format!("capacity = {}\non_full = \"{on_full}\"\n", [30, 8][k % 2]);
    }
    s += &format!("[network]\nlatency = \"{latency}\"\nloss = {loss}\nduplicate = {dup}\n");
    s += "[[topic]]\nname = \"t\"\n";
    if model == 0 {
        s += &format!("partitions = {}\n", [1, 6, 12][k % 3]);
    }
    if model == 2 {
        s += "exchange = \"direct\"\n";
    }
    s += &format!(
        "[[producer]]\nname = \"p\"\ntopic = \"t\"\nrate = {}\nrequest_timeout = \"200ms\"\n\
         retries = 4\nidempotent = {}\n",
        [700, 1500][k % 2],
        k % 4 < 2
    );
    if model == 0 {
        s += "keys = 500\npartitioner = \"key\"\n";
    }
    if model == 2 {
        s += "routing_keys = [\"job\"]\n";
    }
    // A log topic is read by three groups, the last exactly-once; a queue by one.
    let groups = if model == 0 { 3 } else { 1 };
    for g in 0..groups {
        let delivery = match (g, k % 3) {
            (2, _) => "exactly-once",
            (_, 0) => "at-most-once",
            _ => "at-least-once",
        };
        s += &format!(
            "[[consumer]]\ngroup = \"g{g}\"\ntopic = \"t\"\ninstances = {}\n\
             service_time = \"exp({}us)\"\ndelivery = \"{delivery}\"\n",
            1 + (k + g) % 3,
            [400, 900, 1600][(k + g) % 3]
        );
        if delivery != "at-most-once" {
            s += &format!(
                "commit_interval = \"{}\"\n",
                ["0", "50ms", "0", "300ms"][(k + g) % 4]
            );
        }
        if model == 2 {
            s += &format!("bindings = [\"job\"]\nprefetch = {}\n", [1, 4][k % 2]);
        }
    }
    // The group a crash hits: on a log, now and then the exactly-once one, whose
    // transaction then aborts and replays.
    let victim = format!("g{}", (k / 2) % groups);
    let one = |at: &str, kind: &str, target: &str, rest: &str| {
        format!("[[fault]]\nat = \"{at}\"\nkind = \"{kind}\"\ntarget = \"{target}\"\n{rest}")
    };
    s += &match fault {
        1 => one("600ms", "crash", &victim, "duration = \"400ms\"\n"),
        2 => one(
            "500ms",
            "slow",
            "g0/0",
            "duration = \"500ms\"\nfactor = 5\n",
        ),
        3 => one("700ms", "crash", "p", "duration = \"300ms\"\n"),
        4 => one("600ms", "partition", "g0/0", "duration = \"300ms\"\n"),
        5 => {
            one(
                "400ms",
                "crash",
                &format!("{victim}/0"),
                "duration = \"600ms\"\n",
            ) + &one(
                "700ms",
                "slow",
                &victim,
                "duration = \"500ms\"\nfactor = 3\n",
            )
        }
        6 => {
            one(
                "500ms",
                "broker-crash",
                "broker/0",
                "duration = \"400ms\"\n",
            ) + &one("700ms", "partition", "p", "duration = \"300ms\"\n")
        }
        7 => {
            one(
                "400ms",
                "latency-spike",
                "network",
                "duration = \"500ms\"\nlatency = \"exp(8ms)\"\n",
            ) + &one("600ms", "partition", "broker/0", "duration = \"200ms\"\n")
        }
        8 => one("500ms", "poison", "p", "duration = \"100ms\"\nrate = 0.2\n"),
        _ => String::new(),
    };
    s
}

#[test]
fn the_lean_consumers_on_the_generic_path_leave_what_the_generic_ones_leave() {
    let mut k = 0usize;
    let mut lean_at_end = 0;
    for model in 0..3 {
        for net in 0..3 {
            for fault in 0..9 {
                let text = generic(model, net, fault, k);
                let s = Scenario::from_toml(&text, "lean.toml").expect("a valid scenario");
                let what = format!("grid point {k}:\n{text}");
                assert!(!same_both_ways(&s, k as u64, &what), "plain: {what}");
                let mut e = Engine::new(&s, k as u64);
                assert!(
                    (0..e.instances.len() as u32).any(|i| e.lean_instance(i)),
                    "no group lean: {what}"
                );
                while e.step() {}
                // Every copy accounted for, whichever handlers ran (an idempotent
                // producer's rejected send once left every later one of its partition
                // unaccounted on an instant network).
                let r = e.summary();
                assert!(r.conservation_ok, "{:?}\n{what}", r.messages);
                // Back after the faults the lean handlers come back from (a broker's
                // crash or cut and a network partition too); never after poison.
                let back = (0..e.instances.len() as u32).any(|i| e.lean_instance(i));
                assert_eq!(back, fault != 8, "{what}");
                lean_at_end += usize::from(back);
                k += 1;
            }
        }
    }
    assert_eq!((k, lean_at_end), (81, 72));
}

/// food-delivery, the fan-out row the lean handlers are for: every group lean, the
/// exactly-once one (payments) too; none while analytics is down (20s to 35s), all of
/// them again after.
#[test]
fn food_delivery_serves_every_group_lean_outside_the_crash() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/food-delivery.toml");
    let text = std::fs::read_to_string(path).expect("the shipped scenario");
    let mut s = Scenario::from_toml(&text, "food-delivery.toml").expect("valid");
    s.duration = SimDuration::from_secs(40);
    let mut e = Engine::new(&s, s.seed);
    assert!(!e.plain_path());
    let lean_groups = |e: &Engine| -> Vec<String> {
        e.groups
            .iter()
            .filter(|g| g.instances().all(|i| e.lean_instance(i)))
            .map(|g| g.name.clone())
            .collect()
    };
    let all = [
        "payments",
        "restaurant",
        "driver-assignment",
        "notifications",
        "inventory",
        "analytics",
    ];
    assert_eq!(lean_groups(&e), all);
    e.run_until(SimTime::ZERO + SimDuration::from_secs(25));
    assert_eq!(
        lean_groups(&e),
        Vec::<String>::new(),
        "while analytics is down"
    );
    e.run_until(SimTime::ZERO + SimDuration::from_secs(37));
    assert_eq!(lean_groups(&e), all, "after the restart");
}
