//! What a valid scenario asks that the model takes without doing, or that the real
//! system it follows would refuse: warnings, not errors. A broker fault on a node that
//! hosts none of a queue, exchange or pub/sub topic's state passes that topic by, and says
//! so; a Kafka producer configuration Kafka refuses still
//! runs as written, so that files written before the warning keep their results. A run
//! shows a fault's beside the fault (`FaultWindow::note`) and the others on standard
//! error; `mqlab validate` names each one's line and column.

use super::{
    Acks, BrokerModel, FaultConfig, FaultKind, ProducerConfig, SERVER_NODE, Scenario, Target,
    resolve_target,
};
use std::ops::Range;

/// One warning: where in the file (a byte span of what the scenario was read from) and
/// what the model does not do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lint {
    /// The fault's `kind` in the file.
    pub span: Range<usize>,
    /// What the model does not do, lowercase.
    pub message: String,
    /// A fault's note: a run says it beside the fault rather than as a warning.
    pub fault: bool,
}

/// Every warning for `s`: the producers', then the faults'.
#[must_use]
pub fn lints(s: &Scenario) -> Vec<Lint> {
    let producers = s.producers.iter().filter_map(|p| {
        refused_by_kafka(s, p).map(|message| Lint {
            span: p.name.span(),
            message: format!("producer `{}`: {message}", p.name.get_ref()),
            fault: false,
        })
    });
    let faults = s.faults.iter().filter_map(|f| {
        fault_note(s, f).map(|message| Lint {
            span: f.kind.span(),
            message: format!(
                "{} of {}: {message}",
                f.kind.get_ref().as_str(),
                f.target.get_ref()
            ),
            fault: true,
        })
    });
    producers.chain(faults).collect()
}

/// What Kafka's producer would refuse of an idempotent producer `p` on a log topic: its
/// configuration check throws a `ConfigException` for `acks` other than `all` or for
/// `retries = 0` when idempotence is asked for (`max_in_flight` above 5, the third, is
/// refused by the scenario's validation, as it is a limit the model itself relies on).
/// A producer a service publishes through is the service's, and not warned about here.
fn refused_by_kafka(s: &Scenario, p: &ProducerConfig) -> Option<String> {
    let on_log = s
        .topics
        .iter()
        .find(|t| t.name.get_ref() == p.topic.get_ref())
        .is_some_and(|t| t.model(&s.broker) == BrokerModel::Log);
    if !p.idempotent || p.derived || !on_log {
        return None;
    }
    let mut refused = Vec::new();
    if s.broker.acks != Acks::All {
        refused.push(format!(
            "`acks = \"{}\"` (\"Must set acks to all in order to use the idempotent producer\")",
            s.broker.acks.as_str()
        ));
    }
    if *p.retries.get_ref() == 0 {
        refused.push(
            "`retries = 0` (\"Must set retries to non-zero when using the idempotent producer\")"
                .to_string(),
        );
    }
    (!refused.is_empty()).then(|| {
        format!(
            "`idempotent = true` with {}: Kafka's producer refuses this configuration, and \
             the model runs it as written",
            refused.join(" and ")
        )
    })
}

/// What fault `f` does not do in the model, if anything. Queue, exchange and pub/sub
/// topics live on `broker/0` (one RabbitMQ or Redis server), so a broker node's faults
/// (`broker-crash`, and `partition` of `broker/N`) on any other node pass them by, while a
/// log's partitions have replicas there.
#[must_use]
pub fn fault_note(s: &Scenario, f: &FaultConfig) -> Option<String> {
    let node = match resolve_target(s, f.target.get_ref()) {
        Some(Target::Broker(n))
            if matches!(
                f.kind.get_ref(),
                FaultKind::BrokerCrash | FaultKind::Partition
            ) =>
        {
            n
        }
        _ => return None,
    };
    if node == SERVER_NODE {
        return None;
    }
    let untouched: Vec<String> = s
        .topics
        .iter()
        .filter_map(|t| {
            let model = t.model(&s.broker);
            (model != BrokerModel::Log)
                .then(|| format!("`{}` ({})", t.name.get_ref(), model.as_str()))
        })
        .collect();
    if untouched.is_empty() {
        return None;
    }
    let (noun, verb) = if untouched.len() == 1 {
        ("topic", "runs")
    } else {
        ("topics", "run")
    };
    let outcome = if untouched.len() == s.topics.len() {
        "so a run shows no outage at all"
    } else {
        "unharmed"
    };
    Some(format!(
        "the model's queue, exchange and pub/sub topics live on broker/0: {noun} {} {verb} on \
         through it, {outcome}",
        untouched.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scenario of topics `(name, model)` read by one group each, with `faults`
    /// (`kind`, `target`) at 1 s for 1 s.
    fn scenario(topics: &[(&str, &str)], faults: &[(&str, &str)]) -> Scenario {
        let mut toml =
            String::from("name = \"t\"\nduration = \"5s\"\n[broker]\nmodel = \"log\"\nnodes = 2\n");
        for (name, model) in topics {
            toml += &format!(
                "[[topic]]\nname = \"{name}\"\nmodel = \"{model}\"\n[[producer]]\nname = \"p-{name}\"\n\
                 topic = \"{name}\"\nrate = 10\n[[consumer]]\ngroup = \"g-{name}\"\ntopic = \"{name}\"\n\
                 service_time = \"1ms\"\n"
            );
        }
        for (kind, target) in faults {
            toml += &format!(
                "[[fault]]\nat = \"1s\"\nkind = \"{kind}\"\ntarget = \"{target}\"\nduration = \"1s\"\n"
            );
        }
        Scenario::from_toml(&toml, "t.toml").unwrap_or_else(|e| panic!("{e}\n{toml}"))
    }

    #[test]
    fn a_broker_fault_on_a_node_the_topics_do_not_live_on_is_named_with_each_of_them() {
        for model in ["queue", "pubsub"] {
            let s = scenario(&[("jobs", model)], &[("broker-crash", "broker/1")]);
            let lints = s.lints();
            assert_eq!(lints.len(), 1, "{model}");
            let m = &lints[0].message;
            assert!(m.starts_with("broker-crash of broker/1: "), "{m}");
            assert!(
                m.contains(&format!("topic `jobs` ({model}) runs on")),
                "{m}"
            );
            assert!(m.contains("no outage at all"), "{m}");
            // The span is the fault's kind in the file.
            let toml_kind = "\"broker-crash\"";
            let span = lints[0].span.clone();
            assert_eq!(span.len(), toml_kind.len(), "{model}");
        }
        // A log beside them: the log's replicas do crash, the others are named.
        let s = scenario(
            &[("orders", "log"), ("a", "queue"), ("b", "pubsub")],
            &[("partition", "broker/1")],
        );
        let m = &s.lints()[0].message;
        assert!(
            m.contains("topics `a` (queue), `b` (pubsub) run on through it, unharmed"),
            "{m}"
        );
        assert!(!m.contains("orders"), "{m}");
    }

    /// Kafka's producer refuses idempotence with `acks` other than `all` or with
    /// `retries = 0`; the warning names each, and only for a log's producer.
    #[test]
    fn an_idempotent_producer_kafka_would_refuse_is_named_with_why() {
        let with = |broker: &str, producer: &str, model: &str| {
            let toml = format!(
                "name = \"t\"\nduration = \"5s\"\n[broker]\nmodel = \"{model}\"\n{broker}\n\
                 [[topic]]\nname = \"jobs\"\n[[producer]]\nname = \"p\"\ntopic = \"jobs\"\n\
                 rate = 10\nidempotent = true\n{producer}\n[[consumer]]\ngroup = \"g\"\n\
                 topic = \"jobs\"\nservice_time = \"1ms\"\n"
            );
            let s = Scenario::from_toml(&toml, "t.toml").unwrap_or_else(|e| panic!("{e}"));
            s.lints()
        };
        let default_acks = with("", "", "log");
        assert_eq!(default_acks.len(), 1);
        let m = &default_acks[0].message;
        assert!(
            m.starts_with("producer `p`: `idempotent = true` with `acks = \"leader\"`"),
            "{m}"
        );
        assert!(!m.contains("retries") && !default_acks[0].fault, "{m}");
        // (`acks = "none"` the scenario's validation refuses outright.)
        let both = &with("acks = \"leader\"", "retries = 0", "log")[0].message;
        assert!(
            both.contains("`acks = \"leader\"`") && both.contains("`retries = 0`"),
            "{both}"
        );
        assert!(with("acks = \"all\"", "retries = 3", "log").is_empty());
        let retries = &with("acks = \"all\"", "retries = 0", "log")[0].message;
        assert!(
            retries.contains("`retries = 0`") && !retries.contains("acks"),
            "{retries}"
        );
        // Kafka's rule, not a queue's.
        assert!(with("", "retries = 0", "queue").is_empty());
    }

    #[test]
    fn faults_the_model_carries_out_say_nothing() {
        // A broker fault on the node every topic has state on, and every fault of a
        // client, on any model.
        for model in ["log", "queue", "pubsub"] {
            for kind in ["broker-crash", "partition"] {
                let s = scenario(&[("jobs", model)], &[(kind, "broker/0")]);
                assert!(s.lints().is_empty(), "{model} {kind}: {:?}", s.lints());
            }
        }
        let s = scenario(
            &[("jobs", "queue")],
            &[
                ("crash", "g-jobs"),
                ("partition", "g-jobs/0"),
                ("partition", "p-jobs"),
            ],
        );
        assert!(s.lints().is_empty(), "{:?}", s.lints());
    }
}
