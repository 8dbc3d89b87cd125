//! Request-reply (issue 6, item 1): requests carry a correlation id and a reply-to queue, a
//! server group replies, the requester reports round trips, timeouts and late (orphan)
//! replies, and the checker flags a reply matched to the wrong request. The shipped
//! scenario holds; its naive-client variant (`correlation = "none"`) fails the checker.

use crate::support::{load, mqlab, parse, root, run, run_with, t_interval};
use mqlab_sim::summary::{Expectation, RequestReplySummary};
use mqlab_sim::{Delivery, RunSummary, Scenario};

fn shipped() -> (Scenario, String) {
    let path = root().join("scenarios/request-reply.toml");
    let text = std::fs::read_to_string(&path).expect("readable scenario");
    (load(&path), text)
}

/// The shipped scenario with the naive client that pairs a reply with its oldest request.
fn naive_text() -> String {
    let (_, text) = shipped();
    assert!(text.contains("correlation = \"id\""));
    text.replace("correlation = \"id\"", "correlation = \"none\"")
}

fn check<'a>(s: &'a RunSummary, name: &str) -> &'a Expectation {
    s.expectations
        .iter()
        .find(|e| e.check == name)
        .unwrap_or_else(|| panic!("no `{name}` expectation in {:?}", s.expectations))
}

/// The requester's reply queue, as the group that consumes it.
fn reply_queue(s: &RunSummary) -> &mqlab_sim::summary::GroupSummary {
    s.groups
        .iter()
        .find(|g| g.name == "client.replies" || g.name == "p.replies")
        .unwrap_or_else(|| panic!("a reply queue: {:?}", s.groups))
}

fn requester(s: &RunSummary) -> &RequestReplySummary {
    let [r] = &s.request_reply[..] else {
        panic!("one requester: {:?}", s.request_reply);
    };
    r
}

/// Every request ends in one state, every reply is counted once.
fn assert_accounted(r: &RequestReplySummary) {
    assert_eq!(r.requests, r.replied + r.timed_out + r.outstanding, "{r:?}");
    assert_eq!(
        r.replies,
        r.replied + r.orphans + r.duplicate_replies,
        "{r:?}"
    );
    assert!(
        r.orphans <= r.timed_out,
        "an orphan's request timed out: {r:?}"
    );
}

/// One server, constant service, low constant rate: no request ever waits.
fn unqueued(latency: &str, service: &str, timeout: &str, correlation: &str) -> Scenario {
    parse(&format!(
        r#"
name = "rtt"
duration = "20s"
[broker]
model = "queue"
[network]
latency = "{latency}"
[[topic]]
name = "rpc"
[[producer]]
name = "client"
topic = "rpc"
rate = 10
arrival = "constant"
reply_timeout = "{timeout}"
correlation = "{correlation}"
[[consumer]]
group = "server"
topic = "rpc"
instances = 1
service_time = "{service}"
delivery = "at-least-once"
"#
    ))
}

/// `x` is `want` seconds within the histogram's precision (3 significant digits).
fn close(x: f64, want: f64) -> bool {
    (x - want).abs() <= want * 1e-3
}

#[test]
fn scenario_holds_and_late_replies_of_timed_out_requests_are_orphans() {
    let (s, _) = shipped();
    let summary = run(&s, s.seed);
    assert!(summary.ok(), "{:?}", summary.expectations);
    let r = requester(&summary);
    assert_accounted(r);
    assert_eq!(r.mismatched, 0);
    assert!(check(&summary, "mismatched").ok);
    // The slow window makes requests time out, and their replies still come.
    assert!(r.timed_out > 100, "{r:?}");
    assert!(r.orphans > 100, "{r:?}");
    assert!(r.replied > r.timed_out, "{r:?}");
    // Each server applies each request once here, and every reply gets back: replies are
    // messages of the client's reply queue, each processed once by the client.
    assert_eq!(summary.messages.duplicated, 0);
    let (servers, replies) = (&summary.groups[0], reply_queue(&summary));
    assert_eq!(r.replies, servers.processed);
    assert_eq!(replies.copies, servers.processed);
    assert_eq!(replies.processed, r.replies);
    assert_eq!(r.duplicate_replies, 0);
    // Only replies within the timeout are matched (histogram precision aside).
    assert!(r.rtt_s.max <= 0.5 * 1.001, "{r:?}");
    assert!(r.rtt_s.p50 < r.rtt_s.p99, "{r:?}");
}

#[test]
fn naive_correlation_answers_the_wrong_request_and_the_checker_fails() {
    let (s, _) = shipped();
    let naive = parse(&naive_text());
    let (good, bad) = (run(&s, s.seed), run(&naive, naive.seed));
    let mismatched = check(&bad, "mismatched");
    assert!(!mismatched.ok, "{mismatched:?}");
    assert!(!bad.ok());
    let r = requester(&bad);
    assert_accounted(r);
    assert!(r.mismatched > 1000, "{r:?}");
    // The bug is all in the client: the broker and the servers do exactly the same.
    assert_eq!(good.trace_hash, bad.trace_hash);
    assert_eq!(good.messages, bad.messages);
    assert_eq!(requester(&good).replies, r.replies);
}

#[test]
fn the_cli_exits_0_on_the_scenario_and_1_on_the_naive_client() {
    let ok = mqlab()
        .args(["run", "scenarios/request-reply.toml"])
        .output()
        .expect("runs");
    assert_eq!(ok.status.code(), Some(0));
    let text = String::from_utf8_lossy(&ok.stdout);
    // The request-reply section: its table's header, then the requester's row.
    let section = text.split("\nRequest-reply — ").nth(1).expect("section");
    assert!(
        section.contains("\nrequester  requests  replied") && section.contains("\nclient "),
        "{text}"
    );
    let dir = std::env::temp_dir().join(format!("mqlab-rr-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("naive.toml");
    std::fs::write(&path, naive_text()).expect("written");
    let bad = mqlab()
        .args(["run", path.to_str().expect("utf-8 path"), "--json"])
        .output()
        .expect("runs");
    assert_eq!(bad.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&bad.stdout).expect("JSON");
    let rr = &v["request_reply"][0];
    assert!(rr["mismatched"].as_u64().expect("mismatched") > 0, "{rr}");
    assert!(rr["rtt_s"]["p99"].as_f64().is_some(), "{rr}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn without_queueing_the_round_trip_is_service_plus_four_hops() {
    // Request: client → broker → server; reply: server → broker → client.
    let s = unqueued("1ms", "5ms", "1s", "id");
    let summary = run(&s, 3);
    let r = requester(&summary);
    assert_accounted(r);
    assert_eq!((r.timed_out, r.orphans, r.mismatched), (0, 0, 0), "{r:?}");
    assert_eq!(r.replied, r.requests);
    assert!(r.requests >= 190, "{r:?}");
    for x in [r.rtt_s.p50, r.rtt_s.p99, r.rtt_s.max] {
        assert!(close(x, 0.009), "rtt {x} vs 9ms: {r:?}");
    }
    // With an instantaneous network it is the service time alone.
    let s = unqueued("0", "5ms", "1s", "id");
    let r = requester(&run(&s, 3)).clone();
    assert!(
        close(r.rtt_s.max, 0.005) && close(r.rtt_s.p50, 0.005),
        "{r:?}"
    );
}

#[test]
fn the_round_trip_of_an_md1_server_is_its_sojourn_and_pollaczek_khinchine_holds() {
    // Poisson requests to one server of constant service time over an instantaneous
    // network: the round trip is the request's sojourn, whose mean is S + rho S / (2(1 - rho)).
    let (lambda, service) = (80.0, 0.010);
    let s = parse(&format!(
        r#"
name = "md1-rtt"
duration = "200s"
[broker]
model = "queue"
[[topic]]
name = "rpc"
[[producer]]
name = "client"
topic = "rpc"
rate = {lambda}
reply_timeout = "1h"
[[consumer]]
group = "server"
topic = "rpc"
instances = 1
service_time = "10ms"
"#
    ));
    let means: Vec<f64> = (1..=10)
        .map(|seed| {
            let summary = run(&s, seed);
            let r = requester(&summary);
            assert_eq!(r.replied, r.requests);
            let sojourn = summary.groups[0].sojourn_mean_s;
            assert!(close(r.rtt_s.mean, sojourn), "{r:?} vs sojourn {sojourn}");
            r.rtt_s.mean
        })
        .collect();
    let rho = lambda * service;
    let theory = service + rho * service / (2.0 * (1.0 - rho));
    let (mean, half) = t_interval(&means);
    assert!(
        (mean - theory).abs() <= half,
        "rtt mean {mean} +- {half} vs M/D/1 {theory}"
    );
}

#[test]
fn a_naive_client_is_right_while_replies_come_back_in_order() {
    // One server, constant service, no timeouts: replies are in request order, so the
    // oldest outstanding request is always the right one and nothing is flagged.
    let s = unqueued("1ms", "5ms", "1s", "none");
    let r = requester(&run(&s, 3)).clone();
    assert_eq!((r.mismatched, r.timed_out), (0, 0), "{r:?}");
    assert_eq!(r.replied, r.requests);
}

#[test]
fn a_timeout_below_the_service_time_times_out_every_request_and_orphans_every_reply() {
    let mut text =
        std::fs::read_to_string(root().join("scenarios/request-reply.toml")).expect("scenario");
    text = text.replace("reply_timeout = \"500ms\"", "reply_timeout = \"1ms\"");
    text = text.replace(
        "mismatched = 0",
        "mismatched = 0\ntimeouts = 0\norphans = 0",
    );
    let s = parse(&text);
    let summary = run(&s, s.seed);
    let r = requester(&summary);
    assert_accounted(r);
    // Four hops of at least 0.5ms each: no reply can be in time.
    assert_eq!(r.replied, 0, "{r:?}");
    assert_eq!(r.timed_out, r.requests);
    assert_eq!(r.orphans, r.requests);
    assert!(!check(&summary, "timeouts").ok);
    assert!(!check(&summary, "orphans").ok);
    assert!(check(&summary, "mismatched").ok);
}

#[test]
fn replays_after_a_crash_send_duplicate_replies_that_never_match_twice() {
    let s = parse(
        r#"
name = "rr-crash"
duration = "20s"
[[topic]]
name = "rpc"
partitions = 4
[[producer]]
name = "client"
topic = "rpc"
rate = 200
keys = 100
reply_timeout = "30s"
[[consumer]]
group = "servers"
topic = "rpc"
instances = 2
service_time = "exp(2ms)"
delivery = "at-least-once"
commit_interval = "2s"
[[fault]]
at = "7s"
kind = "crash"
target = "servers/1"
duration = "2s"
"#,
    );
    let summary = run(&s, 11);
    assert!(summary.messages.duplicated > 0, "{:?}", summary.messages);
    let r = requester(&summary);
    assert_accounted(r);
    assert!(r.duplicate_replies > 0, "{r:?}");
    // Each request is answered once; the replays' replies are only counted.
    assert_eq!(r.replied, r.requests, "{r:?}");
    assert_eq!(r.replies, r.replied + r.duplicate_replies);
    assert_eq!(r.mismatched, 0);
}

#[test]
fn every_delivery_variant_conserves_and_accounts_every_request() {
    let (s, _) = shipped();
    for d in [
        Delivery::AtMostOnce,
        Delivery::AtLeastOnce,
        Delivery::ExactlyOnce,
    ] {
        let summary = run_with(&s, d, s.seed);
        assert!(summary.conservation_ok, "{d:?}: {:?}", summary.messages);
        assert_accounted(requester(&summary));
    }
}

#[test]
fn same_seed_same_run_and_another_seed_another() {
    let (s, _) = shipped();
    let (a, b, c) = (run(&s, 21), run(&s, 21), run(&s, 22));
    assert_eq!(a, b);
    assert_ne!(a.trace_hash, c.trace_hash);
    assert_ne!(a.request_reply, c.request_reply);
}

#[test]
fn runs_without_requesters_report_no_request_reply() {
    let s = load(&root().join("scenarios/mm1.toml"));
    let summary = run(&s, s.seed);
    assert!(summary.request_reply.is_empty());
    let json = serde_json::to_string(&summary).expect("serialises");
    assert!(!json.contains("request_reply"));
}

mod generated {
    //! Random request-reply set-ups: every request and every reply accounted for, the
    //! ledger conserved, and a client matching by id never mismatched.

    use super::{assert_accounted, requester};
    use mqlab_sim::{Engine, Scenario};
    use proptest::prelude::*;

    #[allow(clippy::too_many_arguments)]
    fn toml_of(
        model: &str,
        instances: u32,
        service_us: u32,
        latency_us: u32,
        timeout_ms: u32,
        delivery: &str,
        fault: &str,
        by_id: bool,
    ) -> String {
        let fault = match fault {
            "crash" => {
                "[[fault]]\nat = \"1s\"\nkind = \"crash\"\ntarget = \"g/0\"\nduration = \"500ms\""
            }
            "slow" => {
                "[[fault]]\nat = \"1s\"\nkind = \"slow\"\ntarget = \"g\"\nduration = \"1s\"\nfactor = 20"
            }
            "crash-client" => {
                "[[fault]]\nat = \"1s\"\nkind = \"crash\"\ntarget = \"p\"\nduration = \"300ms\""
            }
            "cut-client" => {
                "[[fault]]\nat = \"1s\"\nkind = \"partition\"\ntarget = \"p\"\nduration = \"300ms\""
            }
            _ => "",
        };
        format!(
            r#"
name = "generated-rr"
duration = "3s"
drain = "10s"
[broker]
model = "{model}"
visibility_timeout = "200ms"
[network]
latency = "exp({latency_us}us)"
[[topic]]
name = "t"
{exchange}
[[producer]]
name = "p"
topic = "t"
rate = 300
reply_timeout = "{timeout_ms}ms"
correlation = "{correlation}"
[[consumer]]
group = "g"
topic = "t"
instances = {instances}
service_time = "exp({service_us}us)"
delivery = "{delivery}"
commit_interval = "100ms"
{fault}
"#,
            exchange = if model == "exchange" {
                "exchange = \"fanout\""
            } else {
                ""
            },
            correlation = if by_id { "id" } else { "none" },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

        #[test]
        fn every_request_and_reply_is_accounted_for(
            model in prop::sample::select(vec!["log", "queue", "exchange"]),
            instances in 1u32..4,
            service_us in 200u32..8000,
            latency_us in prop::sample::select(vec![0u32, 400]),
            timeout_ms in prop::sample::select(vec![5u32, 50, 2000]),
            delivery in prop::sample::select(vec!["at-most-once", "at-least-once", "exactly-once"]),
            fault in prop::sample::select(vec!["none", "crash", "slow", "crash-client", "cut-client"]),
            by_id in any::<bool>(),
            seed in 0u64..1000,
        ) {
            let text = toml_of(model, instances, service_us, latency_us, timeout_ms, delivery, fault, by_id);
            let s = Scenario::from_toml(&text, "generated.toml")
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let summary = Engine::new(&s, seed).run();
            prop_assert!(summary.conservation_ok, "seed={seed}\n{text}");
            let r = requester(&summary);
            assert_accounted(r);
            let client = summary.producers.iter().find(|p| p.name == "p").expect("p");
            prop_assert_eq!(r.requests, client.produced);
            let served = summary.groups[0].processed;
            // A processed request was answered at least once (unless the drain's end cut
            // a reply off on its way back).
            if summary.sim_time_s < 13.0 {
                prop_assert!(
                    r.replies + r.replies_lost >= served,
                    "seed={seed} {r:?}\n{text}"
                );
            }
            if by_id {
                prop_assert_eq!(r.mismatched, 0);
            }
        }
    }
}

#[test]
fn compare_sets_the_correlation_and_only_the_naive_runs_mismatch() {
    let out = mqlab()
        .args([
            "compare",
            "scenarios/request-reply.toml",
            "--delivery",
            "at-least-once",
            "--set",
            "producer.client.correlation=id,none",
            "--seeds",
            "1..2",
            "--json",
        ])
        .output()
        .expect("runs");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let runs = v["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 4);
    let mismatched: Vec<u64> = runs
        .iter()
        .map(|r| {
            r["request_reply"][0]["mismatched"]
                .as_u64()
                .expect("mismatched")
        })
        .collect();
    assert_eq!(
        mismatched.iter().filter(|&&m| m == 0).count(),
        2,
        "{mismatched:?}"
    );
    assert_eq!(
        mismatched.iter().filter(|&&m| m > 0).count(),
        2,
        "{mismatched:?}"
    );
    // Without a requester the setting is refused (exit 2).
    let refused = mqlab()
        .args([
            "compare",
            "scenarios/mm1.toml",
            "--set",
            "producer.arrivals.correlation=none",
        ])
        .output()
        .expect("runs");
    assert_eq!(refused.status.code(), Some(2));
}

#[test]
fn replies_to_a_crashed_requester_are_lost_and_their_requests_time_out() {
    let (_, text) = shipped();
    // The client is down from 5s to 6s; replies to what it sent just before are dropped.
    let s = parse(&format!(
        "{text}\n[[fault]]\nat = \"5s\"\nkind = \"crash\"\ntarget = \"client\"\nduration = \"1s\"\n"
    ));
    let summary = run(&s, s.seed);
    let r = requester(&summary);
    assert_accounted(r);
    assert!(r.replies_lost > 0, "{r:?}");
    assert!(r.timed_out >= r.replies_lost, "{r:?}");
    assert_eq!(r.replies + r.replies_lost, summary.groups[0].processed);
    // The lost replies are copies of the reply queue dropped with the connection.
    let replies = reply_queue(&summary);
    assert_eq!(replies.dropped, r.replies_lost);
    assert_eq!(replies.processed, r.replies);
    let plain = requester(&run(&shipped().0, s.seed)).clone();
    assert_eq!(plain.replies_lost, 0);
}

#[test]
fn replies_cross_the_network_as_messages_that_are_lost_resent_and_duplicated() {
    // The requests are neither lost nor duplicated: an idempotent client on a log that
    // resends within 10ms, servers applying each once. The replies are messages the servers
    // publish to the client's reply queue over a lossy network with their own client's
    // defaults: a lost reply is resent after its 30s request timeout (so its request
    // times out, and the reply comes late, an orphan), and a lost acknowledgement makes
    // the server resend a reply the queue already has (the client receives it twice).
    let s = parse(
        r#"
name = "rr-loss"
duration = "20s"
[network]
latency = "1ms"
loss = 0.05
[[topic]]
name = "rpc"
[[producer]]
name = "client"
topic = "rpc"
rate = 100
idempotent = true
request_timeout = "10ms"
reply_timeout = "1s"
[[consumer]]
group = "servers"
topic = "rpc"
instances = 2
service_time = "exp(2ms)"
delivery = "at-least-once"
"#,
    );
    let summary = run(&s, 5);
    let r = requester(&summary);
    assert_accounted(r);
    let servers = &summary.groups[0];
    assert_eq!((servers.duplicated, servers.lost), (0, 0), "{servers:?}");
    assert_eq!(servers.processed, r.requests);
    assert!(r.duplicate_replies > 0, "{r:?}");
    assert!(r.timed_out > 0 && r.orphans > 0, "{r:?}");
    let replies = reply_queue(&summary);
    // A reply applied three times is one duplicated copy in the ledger, two repeats here.
    assert!(replies.duplicated > 0, "{replies:?}");
    assert!(r.duplicate_replies >= replies.duplicated, "{r:?}");
    // The servers publish replies with a producer of their own, one per request served.
    let server = summary
        .producers
        .iter()
        .find(|p| p.name == "servers>client.replies")
        .expect("the servers' reply producer");
    assert_eq!(server.produced, servers.processed);
}

#[test]
fn a_topic_named_as_a_requesters_reply_queue_is_refused_with_its_place() {
    let text = "name = \"x\"\nduration = \"1s\"\n[[topic]]\nname = \"rpc\"\n[[topic]]\nname = \"client.replies\"\n[[producer]]\nname = \"client\"\ntopic = \"rpc\"\nrate = 1\nreply_timeout = \"1s\"\n";
    let err = Scenario::from_toml(text, "clash.toml")
        .expect_err("a clash")
        .to_string();
    assert!(err.contains("clash.toml:11"), "{err}");
    assert!(err.contains("`client.replies`"), "{err}");
}
