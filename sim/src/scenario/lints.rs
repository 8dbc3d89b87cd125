//! What a valid scenario asks that the model takes without doing: warnings, not errors,
//! because the same file drives `mqlab bench` against a real server, where it does
//! happen. A run shows each beside the fault it concerns (`FaultWindow::note`), and
//! `mqlab validate` names its line and column, so no one reads a quiet run as what the
//! fault would do.

use super::{BrokerModel, FaultConfig, FaultKind, Scenario, Target, resolve_target};
use std::ops::Range;

/// One warning: where in the file (a byte span, where the scenario came from one) and
/// what the model does not do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lint {
    /// The fault's `kind` in the file.
    pub span: Option<Range<usize>>,
    /// What the model does not do, lowercase.
    pub message: String,
}

/// Every warning for `s`, in the file's order.
#[must_use]
pub fn lints(s: &Scenario) -> Vec<Lint> {
    s.faults
        .iter()
        .filter_map(|f| {
            fault_note(s, f).map(|message| Lint {
                span: Some(f.kind.span()),
                message: format!(
                    "{} of {}: {message}",
                    f.kind.get_ref().as_str(),
                    f.target.get_ref()
                ),
            })
        })
        .collect()
}

/// What fault `f` does not do in the model, if anything. A broker node's faults
/// (`broker-crash`, and `partition` of `broker/N`) act on `log` topics' replicas only:
/// a queue, exchange or pub/sub topic goes on through them, where a real server's restart
/// requeues what its consumers held, refuses sends and drops a pub/sub channel's
/// subscribers.
#[must_use]
pub fn fault_note(s: &Scenario, f: &FaultConfig) -> Option<String> {
    let broker_fault = matches!(
        f.kind.get_ref(),
        FaultKind::BrokerCrash | FaultKind::Partition
    ) && matches!(
        resolve_target(s, f.target.get_ref()),
        Some(Target::Broker(_))
    );
    if !broker_fault {
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
        "the model's broker faults act on `log` topics only: {noun} {} {verb} on through it, \
         {outcome} (`mqlab bench --spawn` kills a real server instead)",
        untouched.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scenario of topics `(name, model)` read by one group each, with `faults`
    /// (`kind`, `target`) at 1 s for 1 s.
    fn scenario(topics: &[(&str, &str)], faults: &[(&str, &str)]) -> Scenario {
        let mut toml = String::from("name = \"t\"\nduration = \"5s\"\n[broker]\nmodel = \"log\"\n");
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
    fn a_broker_fault_on_topics_the_model_does_not_crash_is_named_with_each_of_them() {
        for model in ["queue", "pubsub"] {
            let s = scenario(&[("jobs", model)], &[("broker-crash", "broker/0")]);
            let lints = s.lints();
            assert_eq!(lints.len(), 1, "{model}");
            let m = &lints[0].message;
            assert!(m.starts_with("broker-crash of broker/0: "), "{m}");
            assert!(
                m.contains(&format!("topic `jobs` ({model}) runs on")),
                "{m}"
            );
            assert!(m.contains("no outage at all"), "{m}");
            // The span is the fault's kind in the file.
            let toml_kind = "\"broker-crash\"";
            let span = lints[0].span.clone().expect("a span");
            assert_eq!(span.len(), toml_kind.len(), "{model}");
        }
        // A log beside them: the log's replicas do crash, the others are named.
        let s = scenario(
            &[("orders", "log"), ("a", "queue"), ("b", "pubsub")],
            &[("partition", "broker/0")],
        );
        let m = &s.lints()[0].message;
        assert!(
            m.contains("topics `a` (queue), `b` (pubsub) run on through it, unharmed"),
            "{m}"
        );
        assert!(!m.contains("orders"), "{m}");
    }

    #[test]
    fn faults_the_model_carries_out_say_nothing() {
        // A log's broker crash, and every fault of a client, on any model.
        let s = scenario(&[("orders", "log")], &[("broker-crash", "broker/0")]);
        assert!(s.lints().is_empty());
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
