//! Claim check with heavy-tailed payloads (issue 6, item 8): the shipped scenario keeps
//! the broker's memory and latency bounded, the same scenario without the claim check
//! fails `max_broker_bytes`; sizes follow their distribution; bandwidth makes ingest a
//! FIFO queue; a scenario that does not use bytes runs exactly as before.

use crate::support::{load, mqlab, parse, root, run, run_with};
use mqlab_sim::summary::{Expectation, PayloadSummary};
use mqlab_sim::{Delivery, RunSummary, Scenario};

fn shipped() -> (Scenario, String) {
    let path = root().join("scenarios/claim-check.toml");
    (
        load(&path),
        std::fs::read_to_string(&path).expect("readable"),
    )
}

/// The shipped scenario without its `claim_check` line: every payload through the broker.
fn broken_text() -> String {
    let (_, text) = shipped();
    let broken: String = text
        .lines()
        .filter(|l| !l.starts_with("claim_check"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(broken, text, "the scenario has a claim_check line");
    broken
}

fn check<'a>(s: &'a RunSummary, name: &str) -> &'a Expectation {
    s.expectations
        .iter()
        .find(|e| e.check == name)
        .unwrap_or_else(|| panic!("no `{name}` expectation in {:?}", s.expectations))
}

fn payload(s: &RunSummary) -> &PayloadSummary {
    s.payload.as_ref().expect("payload figures")
}

#[test]
fn claim_check_scenario_holds_with_bounded_broker_memory() {
    let (s, _) = shipped();
    let r = run(&s, s.seed);
    assert!(r.ok(), "{:?}", r.expectations);
    assert!(check(&r, "max_broker_bytes").ok);
    let p = payload(&r);
    let claim = p.claim_check.expect("claim check figures");
    // About (16KB/64KB)^1.2 = 19% of the payloads are above the threshold.
    let share = claim.stored as f64 / r.messages.produced as f64;
    let theory = 0.25f64.powf(1.2);
    assert!((share - theory).abs() < 0.03, "stored share {share}");
    assert!(
        claim.stored_bytes > p.bytes_produced / 2,
        "{claim:?} of {p:?}"
    );
    assert!(p.broker_bytes_max <= 16_000_000, "{p:?}");
    // Fully drained and committed: the broker holds nothing at the end.
    assert_eq!(p.broker_bytes.last(), Some(&0), "{:?}", p.broker_bytes);
    assert_eq!(p.broker_bytes.len(), r.series.t_s.len());
}

#[test]
fn without_claim_check_the_checker_fails_on_max_broker_bytes() {
    let (s, _) = shipped();
    let good = run(&s, s.seed);
    let broken = parse(&broken_text());
    let bad = run(&broken, broken.seed);
    let bytes = check(&bad, "max_broker_bytes");
    assert!(!bytes.ok, "{bytes:?}");
    assert!(!bad.ok());
    assert!(payload(&bad).claim_check.is_none());
    // Same messages, same sizes: only where the payloads go differs.
    assert_eq!(bad.messages.produced, good.messages.produced);
    assert_eq!(payload(&bad).bytes_produced, payload(&good).bytes_produced);
    assert!(payload(&bad).broker_bytes_max > 4 * payload(&good).broker_bytes_max);
    // Head-of-line blocking: huge payloads hold the ingest, everyone behind them waits.
    assert!(payload(&bad).ingest_delay_max_s > 10.0 * payload(&good).ingest_delay_max_s);
    assert!(bad.latency_s.p99 > 2.0 * good.latency_s.p99);
    assert!(bad.conservation_ok);
}

#[test]
fn the_binary_exits_1_without_claim_check_and_0_with_it() {
    let dir = std::env::temp_dir().join(format!("mqlab-claim-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let broken = dir.join("claim-check-broken.toml");
    std::fs::write(&broken, broken_text()).expect("write");
    let mut c = mqlab();
    c.arg("run").arg(&broken).assert().code(1);
    let mut c = mqlab();
    let out = c
        .arg("run")
        .arg(root().join("scenarios/claim-check.toml"))
        .assert()
        .code(0);
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(text.contains("broker peak"), "{text}");
    assert!(text.contains("in the external store"), "{text}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn both_variants_conserve_under_every_delivery() {
    let (good, _) = shipped();
    let broken = parse(&broken_text());
    for s in [&good, &broken] {
        for d in [
            Delivery::AtMostOnce,
            Delivery::AtLeastOnce,
            Delivery::ExactlyOnce,
        ] {
            let r = run_with(s, d, 3);
            assert!(r.conservation_ok, "{d:?}: {:?}", r.messages);
            assert_eq!(r.messages.in_flight, 0, "{d:?}");
        }
    }
}

#[test]
fn same_seed_same_run_and_another_seed_another() {
    let (s, _) = shipped();
    let (a, b) = (run(&s, 11), run(&s, 11));
    assert_eq!(a.trace_hash, b.trace_hash);
    assert_eq!(a.payload, b.payload);
    let c = run(&s, 12);
    assert_ne!(a.trace_hash, c.trace_hash);
    assert_ne!(payload(&a).bytes_produced, payload(&c).bytes_produced);
}

const PLAIN: &str = r#"
name = "plain"
seed = 4
duration = "20s"
[broker]
model = "log"
[[topic]]
name = "t"
partitions = 2
[[producer]]
name = "p"
topic = "t"
rate = 500
keys = 50
PAYLOAD
[[consumer]]
group = "g"
topic = "t"
instances = 2
service_time = "exp(3ms)"
commit_interval = "500ms"
EXPECT
"#;

fn plain(payload: &str, expect: &str) -> Scenario {
    parse(&PLAIN.replace("PAYLOAD", payload).replace("EXPECT", expect))
}

#[test]
fn sizes_without_bandwidth_or_claim_check_change_nothing_but_the_byte_figures() {
    let base = run(&plain("", ""), 4);
    assert!(base.payload.is_none(), "no byte state unless asked");
    for (payload, expect) in [
        ("payload_bytes = 256", ""),
        ("payload_bytes = \"256B\"", ""),
        ("", "[expect]\nmax_broker_bytes = \"1GB\""),
        ("payload_bytes = \"pareto(4KB, 1.2)\"", ""),
        ("payload_bytes = \"lognormal(16KB, 64KB)\"", ""),
    ] {
        let r = run(&plain(payload, expect), 4);
        assert_eq!(r.trace_hash, base.trace_hash, "{payload} {expect}");
        assert_eq!(r.messages, base.messages, "{payload} {expect}");
        assert_eq!(r.latency_s, base.latency_s, "{payload} {expect}");
    }
    let fixed = run(&plain("", "[expect]\nmax_broker_bytes = \"1GB\""), 4);
    assert_eq!(
        payload(&fixed).bytes_produced,
        256 * fixed.messages.produced
    );
    assert!(payload(&fixed).broker_bytes_max >= 256);
    assert_eq!(payload(&fixed).broker_bytes_max % 256, 0);
}

#[test]
fn pareto_sizes_have_their_closed_form_mean() {
    // Pareto(min, alpha): mean = alpha min / (alpha - 1), variance
    // min^2 alpha / ((alpha - 1)^2 (alpha - 2)); shape 2.5 keeps the variance finite.
    let (min, alpha) = (1000.0f64, 2.5f64);
    let mut total = 0.0;
    let mut n = 0.0;
    for seed in 1..=4 {
        let r = run(&plain("payload_bytes = \"pareto(1000B, 2.5)\"", ""), seed);
        total += payload(&r).bytes_produced as f64;
        n += r.messages.produced as f64;
    }
    let mean = alpha * min / (alpha - 1.0);
    let sd = (min * min * alpha / ((alpha - 1.0).powi(2) * (alpha - 2.0))).sqrt();
    let se = sd / n.sqrt();
    let got = total / n;
    // Sizes are truncated to whole bytes: on average half a byte below.
    assert!(
        (got + 0.5 - mean).abs() < 5.0 * se,
        "mean {got} vs {mean} (se {se})"
    );
}

#[test]
fn lognormal_sizes_have_their_mean() {
    let mut total = 0.0;
    let mut n = 0.0;
    for seed in 1..=4 {
        let r = run(&plain("payload_bytes = \"lognormal(16KB, 8KB)\"", ""), seed);
        total += payload(&r).bytes_produced as f64;
        n += r.messages.produced as f64;
    }
    let se = 8000.0 / n.sqrt();
    let got = total / n;
    assert!((got + 0.5 - 16_000.0).abs() < 5.0 * se, "mean {got}");
}

const INGEST: &str = r#"
name = "ingest"
duration = "10s"
drain = "10s"
[broker]
model = "log"
BANDWIDTH
[[topic]]
name = "t"
[[producer]]
name = "p"
topic = "t"
rate = 100
arrival = "constant"
payload_bytes = "1MB"
[[consumer]]
group = "g"
topic = "t"
service_time = "1ms"
"#;

fn ingest(bandwidth: &str) -> RunSummary {
    let s = parse(&INGEST.replace("BANDWIDTH", bandwidth));
    run(&s, 1)
}

#[test]
fn bandwidth_delays_each_message_by_exactly_its_transfer_time_below_saturation() {
    // 1MB every 10ms at 200MB/s: each transfer takes 5ms and ends before the next starts.
    let free = ingest("");
    let limited = ingest("bandwidth = \"200MB/s\"");
    let p = payload(&limited);
    assert_eq!(p.ingest_delay_max_s, 0.005);
    assert!((p.ingest_delay_mean_s - 0.005).abs() < 1e-12, "{p:?}");
    assert_eq!(limited.messages.processed, free.messages.processed);
    // End to end: exactly the 1ms service without, 6ms with (to the histogram's precision).
    for (r, want) in [(&free, 0.001), (&limited, 0.006)] {
        for got in [r.latency_s.p50, r.latency_s.p99, r.latency_s.max] {
            assert!((got - want).abs() / want < 2e-3, "{got} vs {want}");
        }
    }
}

#[test]
fn bandwidth_below_the_offered_bytes_makes_the_ingest_queue_grow() {
    // 1MB every 10ms at 50MB/s: a transfer takes 20ms, so the n-th message waits about
    // n * 10ms. The last of 1000 messages waits about 10s.
    let r = ingest("bandwidth = \"50MB/s\"");
    let p = payload(&r);
    let n = r.messages.produced as f64;
    let last = n * 0.020 - (n - 1.0) * 0.010;
    assert!(
        (p.ingest_delay_max_s - last).abs() < 1e-6,
        "{p:?} vs {last}"
    );
    assert!(r.conservation_ok);
}

#[test]
fn a_queue_counts_its_bytes_and_releases_them_on_delete() {
    let text = PLAIN
        .replace("model = \"log\"", "model = \"queue\"")
        .replace("partitions = 2", "")
        .replace("commit_interval = \"500ms\"", "")
        .replace("PAYLOAD", "payload_bytes = \"pareto(4KB, 1.5)\"")
        .replace("EXPECT", "");
    let r = run(&parse(&text), 4);
    let p = payload(&r);
    assert!(p.broker_bytes_max >= 4000, "{p:?}");
    assert!(p.broker_bytes.iter().any(|&b| b > 0));
    assert_eq!(p.broker_bytes.last(), Some(&0), "{:?}", p.broker_bytes);
    assert!(r.conservation_ok);
}

const HEAD_OF_LINE: &str = r#"
name = "head-of-line"
duration = "10s"
[broker]
model = "log"
bandwidth = "200MB/s"
[[topic]]
name = "t"
[[producer]]
name = "small"
topic = "t"
rate = 100
arrival = "constant"
payload_bytes = "1KB"
[[producer]]
name = "big"
topic = "t"
rate = 0.5
arrival = "constant"
payload_bytes = "100MB"
CLAIM
[[consumer]]
group = "g"
topic = "t"
service_time = "1ms"
"#;

#[test]
fn one_huge_payload_blocks_the_ingest_and_a_claim_check_unblocks_it() {
    // A 100MB payload takes 500ms at 200MB/s; the small messages sent meanwhile wait
    // behind it. Through the store only a 128-byte reference is ingested.
    let blocked = run(&parse(&HEAD_OF_LINE.replace("CLAIM", "")), 1);
    let claimed = run(
        &parse(&HEAD_OF_LINE.replace(
            "CLAIM",
            "claim_check = \"1MB\"\nclaim_store_latency = \"10ms\"",
        )),
        1,
    );
    assert!(blocked.latency_s.max >= 0.5, "{:?}", blocked.latency_s);
    assert!((payload(&blocked).ingest_delay_max_s - 0.5).abs() < 0.01);
    // With the claim check: at most a put, a get and the service, whoever's message.
    assert!(claimed.latency_s.max < 0.025, "{:?}", claimed.latency_s);
    // One every 2s, the first after a gap, the run stopping at 10s: at 2, 4, 6 and 8s.
    assert_eq!(payload(&claimed).claim_check.unwrap().stored, 4);
    assert!(payload(&claimed).broker_bytes_max < 1_000_000);
    assert!(payload(&blocked).broker_bytes_max >= 100_000_000);
}
