//! `--set KEY=VALUE` on any scenario key (issue 15): applied to the file before it is
//! read, so each value is checked exactly as the file's would be, and an error names the
//! key and what it takes. One test per key family, each with a bad value.

use crate::support::mqlab;
use serde_json::Value;

/// `mqlab run SCENARIO --json` with `sets`: (exit code, JSON or null, stderr).
fn run(scenario: &str, sets: &[&str]) -> (Option<i32>, Value, String) {
    let mut cmd = mqlab();
    cmd.args(["run", scenario, "--json"]);
    for s in sets {
        cmd.args(["--set", s]);
    }
    let out = cmd.output().expect("runs");
    let json = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (
        out.status.code(),
        json,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs `sets` expecting exit 2 and returns stderr.
fn refused(scenario: &str, sets: &[&str]) -> String {
    let (code, _, err) = run(scenario, sets);
    assert_eq!(code, Some(2), "{sets:?} should be refused: {err}");
    err
}

fn group<'a>(r: &'a Value, name: &str) -> &'a Value {
    r["groups"]
        .as_array()
        .and_then(|gs| gs.iter().find(|g| g["name"] == name))
        .unwrap_or_else(|| panic!("no group {name}"))
}

#[test]
fn broker_acks_is_compared_as_the_failover_scenario_says() {
    // kafka-broker-failover's description: with acks = "leader" the messages the
    // followers had not fetched when broker 0 died are acknowledged, cut and lost; with
    // "all" nothing acknowledged is ever cut.
    let out = mqlab()
        .args(["compare", "scenarios/kafka-broker-failover.toml"])
        .args(["--delivery", "at-least-once", "--seeds", "1", "--json"])
        .args(["--set", "broker.acks=leader,all"])
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(2), "{err}");
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let runs = v["runs"].as_array().expect("runs");
    let lost = |i: usize| runs[i]["messages"]["lost"].as_u64().expect("lost");
    assert!(lost(0) > 0, "acks=leader loses the unreplicated tail");
    assert_eq!(lost(1), 0, "acks=all loses nothing acknowledged");
    let err = refused(
        "scenarios/kafka-broker-failover.toml",
        &["broker.acks=most"],
    );
    assert!(
        err.contains("--set broker.acks=most: unknown variant `most`, expected one of `none`, `leader`, `all`"),
        "{err}"
    );
}

#[test]
fn broker_replication_and_min_insync_are_checked_against_the_nodes() {
    let ok = [
        "broker.replication=2",
        "broker.min_insync_replicas=2",
        "duration=2s",
    ];
    let (code, _, err) = run("scenarios/kafka-broker-failover.toml", &ok);
    assert_ne!(code, Some(2), "{err}");
    let err = refused(
        "scenarios/kafka-broker-failover.toml",
        &["broker.replication=4"],
    );
    assert!(err.contains("--set broker.replication=4"), "{err}");
    assert!(err.contains('3'), "the error names the node count: {err}");
    let err = refused(
        "scenarios/kafka-broker-failover.toml",
        &["broker.min_insync_replicas=-1"],
    );
    assert!(err.contains("--set broker.min_insync_replicas=-1"), "{err}");
}

#[test]
fn topic_partitions_by_the_topics_name() {
    let (code, _, err) = run(
        "scenarios/mm1.toml",
        &["topic.jobs.partitions=4", "duration=1s"],
    );
    assert_ne!(code, Some(2), "{err}");
    let err = refused("scenarios/mm1.toml", &["topic.jobs.partitions=0"]);
    assert!(err.contains("--set topic.jobs.partitions=0"), "{err}");
    let err = refused("scenarios/mm1.toml", &["topic.job.partitions=2"]);
    assert!(err.contains("no topic `job` (known: jobs)"), "{err}");
}

#[test]
fn network_loss_is_a_fraction() {
    // Lost produce requests are resent, so everything still arrives; but acks are missed.
    let (code, r, err) = run(
        "scenarios/mm1.toml",
        &[
            "network.loss=0.2",
            "duration=2s",
            "producer.arrivals.rate=100",
        ],
    );
    assert_ne!(code, Some(2), "{err}");
    assert!(r["messages"]["produced"].as_u64().unwrap_or(0) > 0, "{err}");
    let err = refused("scenarios/mm1.toml", &["network.loss=1.5"]);
    assert!(err.contains("--set network.loss=1.5: a fraction"), "{err}");
}

#[test]
fn consumer_delivery_per_group_wins_over_delivery_for_all() {
    let (code, r, err) = run(
        "scenarios/food-delivery.toml",
        &["consumer.payments.delivery=at-most-once", "duration=2s"],
    );
    assert_ne!(code, Some(2), "{err}");
    assert_eq!(group(&r, "payments")["delivery"], "at-most-once");
    assert_eq!(group(&r, "restaurant")["delivery"], "at-least-once");
    let out = mqlab()
        .args(["run", "scenarios/food-delivery.toml", "--json"])
        .args(["--delivery", "exactly-once", "--set", "duration=2s"])
        .args(["--set", "consumer.payments.delivery=at-most-once"])
        .output()
        .expect("runs");
    let r: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(group(&r, "payments")["delivery"], "at-most-once");
    assert_eq!(group(&r, "analytics")["delivery"], "exactly-once");
    let err = refused(
        "scenarios/food-delivery.toml",
        &["consumer.payments.delivery=twice"],
    );
    assert!(
        err.contains("unknown variant `twice`") && err.contains("`at-least-once`"),
        "{err}"
    );
    let err = refused(
        "scenarios/food-delivery.toml",
        &["consumer.payment.delivery=at-most-once"],
    );
    assert!(
        err.contains("no consumer `payment` (known: payments,"),
        "{err}"
    );
}

#[test]
fn producer_rate_sets_how_many_messages_arrive() {
    // Poisson arrivals at 50/s for 10 s: 500 expected, standard deviation about 22.
    let (code, r, err) = run(
        "scenarios/mm1.toml",
        &["producer.arrivals.rate=50", "duration=10s"],
    );
    assert_ne!(code, Some(2), "{err}");
    let produced = r["messages"]["produced"].as_u64().expect("produced");
    assert!((390..=610).contains(&produced), "{produced}");
    let err = refused("scenarios/mm1.toml", &["producer.arrivals.rate=fast"]);
    assert!(
        err.contains("--set producer.arrivals.rate=fast: invalid type"),
        "{err}"
    );
}

#[test]
fn producer_idempotence_and_max_in_flight_are_settable() {
    let ok = [
        "producer.checkout.idempotent=false",
        "producer.checkout.max_in_flight=1",
        "duration=2s",
    ];
    let (code, _, err) = run("scenarios/food-delivery.toml", &ok);
    assert_ne!(code, Some(2), "{err}");
    let err = refused(
        "scenarios/food-delivery.toml",
        &["producer.checkout.idempotent=maybe"],
    );
    assert!(
        err.contains("--set producer.checkout.idempotent=maybe: invalid type"),
        "{err}"
    );
    let err = refused(
        "scenarios/food-delivery.toml",
        &["producer.checkout.max_in_flight=0"],
    );
    assert!(
        err.contains("--set producer.checkout.max_in_flight=0"),
        "{err}"
    );
}

#[test]
fn an_unknown_key_lists_the_keys_its_table_takes() {
    let err = refused("scenarios/mm1.toml", &["broker.ack=all"]);
    assert!(
        err.contains("unknown field `ack`, expected one of"),
        "{err}"
    );
    assert!(err.contains("did you mean `acks`?"), "{err}");
}

/// The commands that take `--set` on a file that is not valid until the setting is applied.
#[test]
fn a_setting_mends_a_file_that_is_not_valid_on_its_own() {
    let dir = std::env::temp_dir().join(format!("mqlab-set-mends-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("negative-rate.toml");
    let text = std::fs::read_to_string("scenarios/mm1.toml").unwrap();
    std::fs::write(&path, text.replace("rate = 900", "rate = -5")).unwrap();
    let file = path.to_str().unwrap();
    // Without the setting the file's own line is named.
    let err = refused(file, &["duration=2s"]);
    assert!(
        err.contains("negative-rate.toml:") && err.contains("not -5"),
        "{err}"
    );
    let (code, r, err) = run(file, &["producer.arrivals.rate=100", "duration=10s"]);
    assert_eq!(code, Some(0), "{err}");
    let produced = r["messages"]["produced"].as_u64().expect("produced");
    assert!((850..=1150).contains(&produced), "{produced}");
    // A setting that does not mend it names itself.
    let err = refused(file, &["producer.arrivals.rate=-3"]);
    assert!(err.contains("--set producer.arrivals.rate=-3"), "{err}");
    for cmd in [
        vec![
            "compare",
            file,
            "--seeds",
            "1..2",
            "--set",
            "producer.arrivals.rate=80,90",
            "--set",
            "duration=5s",
        ],
        vec![
            "capacity",
            file,
            "--seeds",
            "1..1",
            "--producer",
            "arrivals",
            "--slo",
            "p99<1s",
            "--set",
            "producer.arrivals.rate=80",
            "--set",
            "duration=5s",
        ],
        vec![
            "trace",
            file,
            "--set",
            "producer.arrivals.rate=80",
            "--message",
            "3",
        ],
    ] {
        let out = mqlab().args(&cmd).output().expect("runs");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_ne!(out.status.code(), Some(2), "{cmd:?}: {err}");
        assert!(!err.contains("not -5"), "{cmd:?}: {err}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
