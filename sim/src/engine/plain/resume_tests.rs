//! The plain path comes back after faults it can come back from, and only then: the run
//! ends on it with the generic path's summary, or stays generic.

use super::super::Engine;
use crate::scenario::{FaultConfig, FaultKind, Scenario};
use crate::time::{SimDuration, SimTime};

/// Runs `text` to the end both ways; the summaries, and whether the plain path was in
/// use at the end.
fn to_the_end(text: &str) -> (String, String, bool) {
    let s = Scenario::from_toml(text, "faults.toml").expect("valid");
    let run = |generic: bool| {
        let mut e = Engine::new(&s, s.seed);
        if generic {
            e.force_generic();
        }
        while e.step() {}
        (format!("{:?}", e.summary()), e.plain_path())
    };
    let ((plain, at_end), (generic, generic_at_end)) = (run(false), run(true));
    assert!(!generic_at_end, "forced generic, yet plain at the end");
    (plain, generic, at_end)
}

/// Crashes, a slow window and a producer's crash over: the run is back on the plain path
/// after them, and its summary is the generic path's (the shipped crash scenario,
/// lengthened, whose two crashes leave redeliveries, duplicates and rebalances).
#[test]
fn the_plain_path_comes_back_once_crashes_and_slow_windows_are_over() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios/crash-during-processing.toml");
    let text = std::fs::read_to_string(&path).expect("the scenario");
    let text = text.replace("duration = \"60s\"", "duration = \"90s\"");
    assert!(text.contains("duration = \"90s\""), "the run lengthened");
    let slow = "[[fault]]\nat = \"50s\"\nkind = \"slow\"\ntarget = \"charger\"\n\
                duration = \"10s\"\nfactor = 3\n\n[[fault]]\nat = \"65s\"\nkind = \"crash\"\n\
                target = \"checkout\"\nduration = \"2s\"\n";
    let text = text.replace("[expect]", &format!("{slow}\n[expect]"));
    let (plain, generic, at_end) = to_the_end(&text);
    assert!(plain == generic, "plain:   {plain}\ngeneric: {generic}");
    assert!(at_end, "the plain path did not come back after the faults");
}

/// A poison fault, or one without an end, keeps the run on the generic path: poison
/// messages may still be in the log, and the lean handlers never fail a message.
#[test]
fn poison_and_endless_faults_keep_the_generic_path() {
    let base = "name = \"f\"\nduration = \"3s\"\ndrain = \"5s\"\n[broker]\nmodel = \"log\"\n\
                [[topic]]\nname = \"t\"\npartitions = 2\n[[producer]]\nname = \"p\"\n\
                topic = \"t\"\nrate = 500\n[[consumer]]\ngroup = \"g\"\ntopic = \"t\"\n\
                instances = 2\nservice_time = \"exp(1ms)\"\n";
    for fault in [
        "[[fault]]\nat = \"1s\"\nkind = \"poison\"\ntarget = \"p\"\nduration = \"100ms\"\n\
         rate = 0.5\n",
        "[[fault]]\nat = \"1s\"\nkind = \"crash\"\ntarget = \"g/1\"\n",
    ] {
        let (plain, generic, at_end) = to_the_end(&format!("{base}{fault}"));
        assert!(
            plain == generic,
            "{fault}\nplain:   {plain}\ngeneric: {generic}"
        );
        assert!(!at_end, "{fault}: back on the plain path");
    }
}

/// A crash injected live from the dashboard leaves the plain path when it starts and
/// comes back once it is over; the run is the one forced down the generic path with the
/// same injection.
#[test]
fn a_crash_injected_live_leaves_the_plain_path_and_comes_back() {
    let text = "name = \"live\"\nduration = \"4s\"\ndrain = \"5s\"\n[broker]\nmodel = \"queue\"\n\
                visibility_timeout = \"200ms\"\n\
                [[topic]]\nname = \"t\"\n[[producer]]\nname = \"p\"\ntopic = \"t\"\nrate = 800\n\
                [[consumer]]\ngroup = \"g\"\ntopic = \"t\"\ninstances = 2\n\
                service_time = \"exp(2ms)\"\n";
    let s = Scenario::from_toml(text, "live.toml").expect("valid");
    let run = |generic: bool| {
        let mut e = Engine::new(&s, 3);
        if generic {
            e.force_generic();
        }
        e.run_until(SimTime(1_000_000_000));
        let mut fault = FaultConfig::new(FaultKind::Crash, "g/1", SimDuration::ZERO);
        fault.duration = Some(SimDuration::from_millis(500));
        e.inject_fault(fault).expect("valid fault");
        assert!(!e.plain_path(), "an injected fault leaves the plain path");
        e.run_until(SimTime(2_000_000_000));
        let back = e.plain_path();
        while e.step() {}
        (format!("{:?}", e.summary()), back)
    };
    let ((plain, back), (generic, _)) = (run(false), run(true));
    assert!(back, "not back on the plain path after the crash");
    assert!(plain == generic, "plain:   {plain}\ngeneric: {generic}");
    let calm = format!("{:?}", Engine::new(&s, 3).run());
    assert!(plain != calm, "the crash changed nothing");
}

/// A broker crash injected live on a replicated log leaves the lean consumers when it
/// starts and brings them back once it is over; the run is the one forced down the
/// generic path with the same injection (the injection also makes the network
/// asynchronous from then on).
#[test]
fn a_broker_crash_injected_live_brings_the_lean_consumers_back() {
    let text = "name = \"live\"\nduration = \"4s\"\ndrain = \"5s\"\n[broker]\nmodel = \"log\"\n\
                nodes = 3\nreplication = 3\nacks = \"all\"\nreplica_lag = \"exp(2ms)\"\n\
                [[topic]]\nname = \"t\"\npartitions = 6\n[[producer]]\nname = \"p\"\n\
                topic = \"t\"\nrate = 800\nrequest_timeout = \"300ms\"\nretries = 3\n\
                [[consumer]]\ngroup = \"g\"\ntopic = \"t\"\ninstances = 3\n\
                service_time = \"exp(2ms)\"\ncommit_interval = \"50ms\"\n";
    let s = Scenario::from_toml(text, "live.toml").expect("valid");
    let lean = |e: &Engine| (0..e.instances.len() as u32).all(|i| e.lean_instance(i));
    let run = |generic: bool| {
        let mut e = Engine::new(&s, 5);
        if generic {
            e.force_generic();
        }
        assert_eq!(lean(&e), !generic, "lean from the start");
        e.run_until(SimTime(1_000_000_000));
        let mut fault = FaultConfig::new(FaultKind::BrokerCrash, "broker/0", SimDuration::ZERO);
        fault.duration = Some(SimDuration::from_millis(300));
        e.inject_fault(fault).expect("valid fault");
        assert!(
            !lean(&e),
            "an injected broker crash leaves the lean consumers"
        );
        e.run_until(SimTime(2_000_000_000));
        let back = lean(&e);
        while e.step() {}
        (format!("{:?}", e.summary()), back)
    };
    let ((lean_run, back), (generic, _)) = (run(false), run(true));
    assert!(back, "the lean consumers not back after the broker crash");
    assert!(
        lean_run == generic,
        "lean:    {lean_run}\ngeneric: {generic}"
    );
    let calm = format!("{:?}", Engine::new(&s, 5).run());
    assert!(lean_run != calm, "the crash changed nothing");
}
