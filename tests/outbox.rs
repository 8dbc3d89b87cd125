//! Transactional outbox vs dual write (issue 6, item 4): the outbox scenario holds its
//! `[expect]`; dual write (commit, then publish) fails on lost events and publish-first
//! (publish, then commit) on phantom events, both only because the service crashes
//! between its two steps or a commit fails.

use crate::support::{mqlab, parse, root, run, run_with};
use mqlab_sim::summary::{Expectation, ServiceSummary};
use mqlab_sim::{Delivery, RunSummary, Scenario};

fn text() -> String {
    std::fs::read_to_string(root().join("scenarios/outbox.toml")).expect("readable scenario")
}

/// The shipped scenario with `publish` replaced (the relay's keys dropped unless outbox).
fn variant(publish: &str) -> Scenario {
    parse(&variant_text(&text(), publish))
}

fn variant_text(text: &str, publish: &str) -> String {
    let swapped = text.replace("publish = \"outbox\"", &format!("publish = \"{publish}\""));
    assert!(
        publish == "outbox" || swapped != text,
        "no `publish` to swap"
    );
    swapped
        .lines()
        .filter(|l| publish == "outbox" || !l.starts_with("relay_"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Without the crash faults.
fn without_crashes(text: &str) -> String {
    let start = text.find("\n[[fault]]").expect("faults");
    let end = text.find("\n[expect]").expect("[expect]");
    format!("{}{}", &text[..start], &text[end..])
}

fn check<'a>(s: &'a RunSummary, name: &str) -> &'a Expectation {
    s.expectations
        .iter()
        .find(|e| e.check == name)
        .unwrap_or_else(|| panic!("no `{name}` expectation in {:?}", s.expectations))
}

fn service(s: &RunSummary) -> &ServiceSummary {
    assert_eq!(s.services.len(), 1, "{:?}", s.services);
    &s.services[0]
}

#[test]
fn outbox_scenario_holds_through_crashes() {
    let s = variant("outbox");
    let summary = run(&s, s.seed);
    assert!(summary.ok(), "{:?}", summary.expectations);
    let svc = service(&summary);
    assert_eq!(svc.publish, "outbox");
    assert!(
        svc.aborted > 0,
        "crashes should roll transactions back: {svc:?}"
    );
    assert!(svc.refused > 0, "arrivals while down are refused: {svc:?}");
    // Every committed change was published, none twice counted as new, none left over.
    assert_eq!(svc.published, svc.committed, "{svc:?}");
    assert_eq!((svc.lost_events, svc.phantom_events), (0, 0), "{svc:?}");
    assert_eq!(svc.outbox_rows, 0, "{svc:?}");
    assert_eq!(summary.messages.processed, svc.committed);
    assert_eq!(summary.messages.produced, svc.committed);
}

#[test]
fn dual_write_loses_the_events_a_crash_catches_between_commit_and_publish() {
    let s = variant("dual-write");
    let summary = run(&s, s.seed);
    let svc = service(&summary);
    assert!(svc.lost_events > 0, "{svc:?}");
    // One group: each lost event is exactly one lost copy, and nothing else is lost.
    assert_eq!(summary.messages.lost, svc.lost_events);
    assert_eq!(svc.committed, svc.published + svc.lost_events, "{svc:?}");
    assert!(!check(&summary, "lost").ok);
    assert!(check(&summary, "phantom").ok);
    assert!(summary.conservation_ok);
    assert!(!summary.ok());
}

#[test]
fn publish_first_leaves_phantom_events_and_the_checker_fails_on_phantom() {
    let s = variant("publish-first");
    let summary = run(&s, s.seed);
    let svc = service(&summary);
    assert!(svc.phantom_events > 0, "{svc:?}");
    // Every event was published; those whose transaction never committed are phantoms,
    // and downstream processed them as real orders.
    assert_eq!(svc.published, svc.committed + svc.phantom_events, "{svc:?}");
    assert_eq!(summary.messages.processed, svc.published);
    let phantom = check(&summary, "phantom");
    assert!(!phantom.ok, "{phantom:?}");
    assert!(check(&summary, "lost").ok);
    assert_eq!(summary.messages.lost, 0);
    assert!(summary.conservation_ok);
}

#[test]
fn failed_commits_alone_make_publish_first_phantoms_without_any_crash() {
    let s = parse(&without_crashes(&variant_text(&text(), "publish-first")));
    let summary = run(&s, s.seed);
    let svc = service(&summary);
    assert_eq!(svc.refused, 0);
    assert!(svc.phantom_events > 0, "db_failure = 0.001: {svc:?}");
    assert_eq!(svc.phantom_events, svc.aborted, "{svc:?}");
    let none = without_crashes(&variant_text(&text(), "publish-first"))
        .replace("db_failure = 0.001", "db_failure = 0");
    let clean = run(&parse(&none), s.seed);
    assert_eq!(service(&clean).phantom_events, 0);
    assert!(clean.ok(), "{:?}", clean.expectations);
}

#[test]
fn dual_write_loses_nothing_without_a_crash() {
    let s = parse(&without_crashes(&variant_text(&text(), "dual-write")));
    let summary = run(&s, s.seed);
    let svc = service(&summary);
    assert_eq!(svc.lost_events, 0, "{svc:?}");
    assert_eq!(svc.published, svc.committed);
    assert!(svc.aborted > 0, "failed commits still happen: {svc:?}");
    assert!(summary.ok(), "{:?}", summary.expectations);
}

#[test]
fn outbox_publishes_at_least_once_so_a_consumer_without_dedup_sees_duplicates() {
    let s = variant("outbox");
    let summary = run_with(&s, Delivery::AtLeastOnce, s.seed);
    let svc = service(&summary);
    assert!(svc.republished > 0, "a crash should hit the relay: {svc:?}");
    assert!(summary.messages.duplicated > 0, "{:?}", summary.messages);
    // The consumer never crashes: every duplicate comes from a republished row.
    assert!(summary.messages.duplicated <= svc.republished);
    assert_eq!(summary.messages.lost, 0);
    assert!(!check(&summary, "duplicated").ok);
    // The deduplicating consumer applies the very same deliveries once.
    let exactly = run_with(&s, Delivery::ExactlyOnce, s.seed);
    assert_eq!(exactly.messages.duplicated, 0);
    assert_eq!(service(&exactly).republished, svc.republished);
}

#[test]
fn every_publish_mode_conserves_copies_under_every_delivery_and_seed() {
    for publish in ["outbox", "dual-write", "publish-first"] {
        let s = variant(publish);
        for delivery in [
            Delivery::AtMostOnce,
            Delivery::AtLeastOnce,
            Delivery::ExactlyOnce,
        ] {
            for seed in [s.seed, 11, 12] {
                let r = run_with(&s, delivery, seed);
                let m = &r.messages;
                assert!(
                    r.conservation_ok,
                    "{publish} {delivery:?} seed={seed}: {m:?}"
                );
                assert_eq!(
                    m.copies,
                    m.processed + m.lost + m.dead_lettered + m.dropped + m.in_flight
                );
            }
        }
    }
}

#[test]
fn every_publish_mode_is_deterministic() {
    for publish in ["outbox", "dual-write", "publish-first"] {
        let s = variant(publish);
        let (a, b) = (run(&s, 5), run(&s, 5));
        assert_eq!(a.trace_hash, b.trace_hash, "{publish} seed=5");
        assert_eq!(a.services, b.services, "{publish} seed=5");
        assert_ne!(a.trace_hash, run(&s, 6).trace_hash, "{publish} seed=6");
    }
}

#[test]
fn a_direct_producer_has_no_service_section() {
    let s = parse(
        &text()
            .replace("publish = \"outbox\"", "publish = \"direct\"")
            .lines()
            .filter(|l| !l.starts_with("relay_") && !l.starts_with("db_"))
            .collect::<Vec<_>>()
            .join("\n"),
    );
    let summary = run(&s, s.seed);
    assert!(summary.services.is_empty());
    let json = serde_json::to_string(&summary).expect("json");
    assert!(!json.contains("\"services\""));
    // A direct producer's crash refuses nothing it would count, and loses nothing.
    assert_eq!(summary.messages.lost, 0);
}

#[test]
fn mqlab_run_exits_0_on_the_outbox_and_1_on_each_broken_variant() {
    let dir = std::env::temp_dir().join(format!("mqlab-outbox-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    for (publish, code, failing) in [
        ("outbox", 0, None),
        ("dual-write", 1, Some("lost")),
        ("publish-first", 1, Some("phantom")),
    ] {
        let path = dir.join(format!("{publish}.toml"));
        std::fs::write(&path, variant_text(&text(), publish)).expect("write variant");
        let out = mqlab()
            .args(["run", path.to_str().expect("utf-8 path"), "--json"])
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(code), "{publish}");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
        assert_eq!(v["services"][0]["publish"], publish);
        let failed: Vec<&str> = v["expectations"]
            .as_array()
            .expect("expectations")
            .iter()
            .filter(|e| e["ok"] == false)
            .map(|e| e["check"].as_str().expect("check"))
            .collect();
        if let Some(check) = failing {
            assert!(failed.contains(&check), "{publish}: {failed:?}");
        } else {
            assert!(failed.is_empty(), "{publish}: {failed:?}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// One order at 1 s, a transaction of two 10 ms round trips (commit point at 1.015 s, the
/// reply at 1.020 s), and one crash at `crash_at` for 100 ms.
fn one_order(publish: &str, crash_at: &str) -> RunSummary {
    let relay = if publish == "outbox" {
        "relay_interval = \"5ms\"\n"
    } else {
        ""
    };
    run(
        &parse(&format!(
            r#"
name = "one-order"
duration = "1.5s"

[[topic]]
name = "orders"

[[producer]]
name = "svc"
topic = "orders"
rate = 1
arrival = "constant"
publish = "{publish}"
db_latency = "10ms"
{relay}
[[consumer]]
group = "billing"
topic = "orders"
delivery = "exactly-once"

[[fault]]
at = "{crash_at}"
kind = "crash"
target = "svc"
duration = "100ms"
"#
        )),
        1,
    )
}

#[test]
fn a_crash_before_the_commit_point_rolls_back_and_one_after_it_commits() {
    // Before the commit point: nothing happened, except that publish-first already told
    // the world (a phantom).
    for publish in ["dual-write", "outbox", "publish-first"] {
        let r = one_order(publish, "1.012s");
        let svc = service(&r);
        assert_eq!((svc.committed, svc.aborted), (0, 1), "{publish}: {svc:?}");
        assert_eq!(svc.lost_events, 0, "{publish}");
        let phantom = u64::from(publish == "publish-first");
        assert_eq!(svc.phantom_events, phantom, "{publish}");
        assert_eq!(r.messages.processed, phantom, "{publish}");
        assert_eq!(r.messages.lost, 0, "{publish}");
    }
    // After it, before the reply: committed; dual write never publishes (lost), the
    // outbox's relay publishes after the restart, publish-first had published already.
    for (publish, lost) in [("dual-write", 1), ("outbox", 0), ("publish-first", 0)] {
        let r = one_order(publish, "1.017s");
        let svc = service(&r);
        assert_eq!((svc.committed, svc.aborted), (1, 0), "{publish}: {svc:?}");
        assert_eq!(
            (svc.lost_events, svc.phantom_events),
            (lost, 0),
            "{publish}"
        );
        assert_eq!((r.messages.lost, r.messages.processed), (lost, 1 - lost));
        assert!(r.conservation_ok);
    }
    // The outbox's event waited for the restart (1.117 s) and a relay poll.
    let r = one_order("outbox", "1.017s");
    assert!(r.latency_s.max >= 0.117, "{:?}", r.latency_s);
    // After the reply nothing is at stake.
    let r = one_order("dual-write", "1.021s");
    assert_eq!((r.messages.lost, r.messages.processed), (0, 1));
}

#[test]
fn outbox_over_a_lossy_network_with_acks_all_still_loses_nothing() {
    let lossy = text()
        .replace(
            "model = \"log\"",
            "model = \"log\"\nacks = \"all\"\n\n[network]\nlatency = \"exp(2ms)\"\nloss = 0.02",
        )
        .replace(
            "relay_batch = 100",
            "relay_batch = 100\nrequest_timeout = \"200ms\"",
        );
    let s = parse(&lossy);
    let r = run(&s, s.seed);
    let svc = service(&r);
    assert!(r.ok(), "{:?}", r.expectations);
    assert_eq!(r.messages.processed, svc.committed);
    assert_eq!(svc.outbox_rows, 0, "{svc:?}");
    // Crashes and lost acknowledgements: the relay publishes again until acknowledged.
    assert!(svc.republished > 0, "{svc:?}");
}

#[test]
fn compare_sets_publish_per_variant() {
    let out = mqlab()
        .args([
            "compare",
            "scenarios/outbox.toml",
            "--delivery",
            "exactly-once",
            "--seeds",
            "1..2",
            "--set",
            "producer.order-service.publish=outbox,dual-write",
            "--json",
        ])
        .output()
        .expect("runs");
    // Dual write violates the exactly-once group's guarantee (lost copies).
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    let runs = v["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 4);
    for r in runs {
        let lost = r["messages"]["lost"].as_u64().expect("lost");
        match r["services"][0]["publish"].as_str() {
            Some("outbox") => assert_eq!(lost, 0),
            Some("dual-write") => assert!(lost > 0),
            other => panic!("unexpected publish {other:?}"),
        }
    }
}

#[test]
fn a_relay_republishing_a_given_up_message_is_not_answered_by_the_old_send() {
    // The client gave a parked send up; the broker appended it later and answered. That
    // stale answer must not settle the relay's new send of the same message (it used to
    // remove the new request while it was on the wire, and the engine panicked).
    let text = r#"
name = "generated"
duration = "3s"
drain = "20s"
[broker]
nodes = 3
replication = 2
acks = "all"
replica_lag = "exp(3ms)"
model = "log"
capacity = 20
on_full = "block"
visibility_timeout = "300ms"
max_receives = 3
[network]
latency = "exp(300us)"
[[topic]]
name = "t"
partitions = 1
[[producer]]
name = "p"
topic = "t"
rate = 52
keys = 7
request_timeout = "2ms"
publish = "outbox"
[[consumer]]
group = "g"
topic = "t"
instances = 1
service_time = "exp(693us)"
delivery = "at-least-once"
commit_interval = "0ms"
ordered = true
max_retries = 1
backoff = "10ms"
[[fault]]
at = "410ms"
kind = "crash"
target = "g/0"
duration = "851ms"
[[fault]]
at = "112ms"
kind = "latency-spike"
target = "network"
duration = "301ms"
latency = "exp(5ms)"
[[fault]]
at = "1s"
kind = "crash"
target = "p"
duration = "300ms"
"#;
    let s = crate::support::parse(text);
    for seed in [4, 651] {
        let r = crate::support::run(&s, seed);
        assert!(r.conservation_ok, "seed {seed}");
        assert_eq!(r.messages.lost, 0, "seed {seed}: {:?}", r.messages);
    }
}
