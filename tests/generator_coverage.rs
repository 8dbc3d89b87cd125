//! What the property generator (`properties.rs`) never writes, it never checks: three
//! late-join defects lived through 100,000-run surveys because no generated scenario had a
//! late group. This test lists the scenario keys (as the loader names them) and fault
//! kinds the generator never uses, and holds that list to `NOT_GENERATED`: a key added to
//! the loader fails it until the generator uses it or the list names it, and a key the
//! generator comes to use fails it until it leaves the list.

use crate::properties::{shape, toml_of};
use mqlab_sim::Scenario;
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;
use std::collections::BTreeSet;

/// Keys (`section.key`) and fault kinds (`fault.kind=K`) no generated scenario has yet:
/// the invariants are not checked on them at random (other tests cover each by hand).
/// `description`, `seed`, `sample_interval` and `expect` change no behaviour the
/// invariants see.
const NOT_GENERATED: &[&str] = &[
    "consumer.bindings",
    "consumer.buffer",
    "consumer.on_overflow",
    "consumer.poll_interval",
    "consumer.reconnect",
    "consumer.scheduling",
    "consumer.weights",
    "description",
    "expect",
    "fault.count",
    "producer.claim_reference_bytes",
    "producer.claim_store_latency",
    "producer.db_failure",
    "producer.db_latency",
    "producer.priority",
    "producer.relay_batch",
    "producer.relay_interval",
    "producer.routing_keys",
    "saga",
    "sample_interval",
    "seed",
    "topic.dedup_window",
    "topic.fifo",
    "topic.model",
];

/// The sections whose keys are listed: a table's header, as the loader's errors name it.
const SECTIONS: &[(&str, &str)] = &[
    ("", ""),
    ("broker", "[broker]"),
    ("network", "[network]"),
    ("topic", "[[topic]]"),
    ("producer", "[[producer]]"),
    ("consumer", "[[consumer]]"),
    ("fault", "[[fault]]"),
];

/// What the loader accepts in `text`'s place of `zzz_unknown`: its error lists it.
fn loader_accepts(text: &str) -> Vec<String> {
    let err = Scenario::from_toml(text, "keys.toml")
        .expect_err("an unknown name is refused")
        .to_string();
    let list = err
        .split("expected one of ")
        .nth(1)
        .unwrap_or_else(|| panic!("no list in {err}"));
    let list = list.lines().next().unwrap_or(list);
    let list = list.split(';').next().unwrap_or(list);
    list.split(',')
        .map(|k| k.trim().trim_matches('`').to_string())
        .filter(|k| !k.is_empty())
        .collect()
}

/// The keys the loader takes in a section.
fn loader_keys(header: &str) -> Vec<String> {
    loader_accepts(&format!(
        "name = \"x\"\nduration = \"1s\"\n{header}\nzzz_unknown = 1\n"
    ))
}

/// The fault kinds the loader takes.
fn fault_kinds() -> Vec<String> {
    loader_accepts(
        "name = \"x\"\nduration = \"1s\"\n[[fault]]\nat = \"1s\"\nkind = \"zzz_unknown\"\ntarget = \"g\"\n",
    )
}

/// `section.key` for every key of every table in `doc`, and `fault.kind=K` per fault.
fn used(doc: &toml::Table, out: &mut BTreeSet<String>) {
    for (key, value) in doc {
        match value {
            toml::Value::Table(t) => {
                out.insert(key.clone());
                for k in t.keys() {
                    out.insert(format!("{key}.{k}"));
                }
            }
            toml::Value::Array(items) if items.iter().all(toml::Value::is_table) => {
                out.insert(key.clone());
                for t in items.iter().filter_map(toml::Value::as_table) {
                    for k in t.keys() {
                        out.insert(format!("{key}.{k}"));
                    }
                    if key == "fault"
                        && let Some(kind) = t.get("kind").and_then(toml::Value::as_str)
                    {
                        out.insert(format!("fault.kind={kind}"));
                    }
                }
            }
            _ => {
                out.insert(key.clone());
            }
        }
    }
}

#[test]
fn the_property_generator_writes_every_scenario_key_but_the_listed() {
    let mut expected = BTreeSet::new();
    for (section, header) in SECTIONS {
        for key in loader_keys(header) {
            expected.insert(if section.is_empty() {
                key
            } else {
                format!("{section}.{key}")
            });
        }
    }
    let kinds = fault_kinds();
    assert!(kinds.iter().any(|k| k == "broker-crash"), "{kinds:?}");
    for kind in kinds {
        expected.insert(format!("fault.kind={kind}"));
    }
    let mut runner = TestRunner::deterministic();
    let mut seen = BTreeSet::new();
    for _ in 0..3000 {
        let s = shape().new_tree(&mut runner).expect("a shape").current();
        let doc: toml::Table = toml::from_str(&toml_of(&s)).expect("generated TOML parses");
        used(&doc, &mut seen);
    }
    let missing: Vec<&str> = expected
        .iter()
        .filter(|k| !seen.contains(*k))
        .map(String::as_str)
        .collect();
    assert_eq!(
        missing, NOT_GENERATED,
        "scenario keys and fault kinds the property generator never writes (left) against \
         the list of those it is known to leave out (right)"
    );
}
