//! Validation of the poison-message protection keys: a consumer's `circuit_breaker`,
//! `cool_down`, `processing_timeout`, the faults' `mode`, and the `[expect]` keys
//! `quarantined` and `p99_latency_of`. Only reads the scenario.

use super::validate::Invalid;
use super::{BrokerModel, FaultKind, Scenario};

/// Checks the protection keys; the first problem wins.
pub(super) fn validate(s: &Scenario) -> Result<(), Invalid> {
    for c in &s.consumers {
        if let Some(n) = &c.circuit_breaker {
            if *n.get_ref() == 0 {
                return Err((
                    Some(n.span()),
                    "circuit_breaker must be greater than zero".into(),
                ));
            }
            let topic = s
                .topics
                .iter()
                .find(|t| t.name.get_ref() == c.topic.get_ref());
            let model = topic.map(|t| t.model(&s.broker));
            if !matches!(model, Some(BrokerModel::Queue | BrokerModel::Exchange)) {
                return Err((
                    Some(n.span()),
                    "`circuit_breaker` applies to groups on a queue or exchange topic (it sets \
                     messages of an open type aside, which a log's offsets cannot)"
                        .into(),
                ));
            }
            if c.cool_down.is_zero() {
                return Err((
                    Some(n.span()),
                    format!(
                        "group `{}`: cool_down must be greater than zero",
                        c.group.get_ref()
                    ),
                ));
            }
        }
        if let Some(t) = &c.processing_timeout
            && t.get_ref().is_zero()
        {
            return Err((
                Some(t.span()),
                "processing_timeout must be greater than zero".into(),
            ));
        }
    }
    for f in &s.faults {
        if let Some(m) = &f.mode
            && !matches!(f.kind.get_ref(), FaultKind::Poison | FaultKind::Outage)
        {
            return Err((
                Some(m.span()),
                "`mode` applies to poison and outage faults".into(),
            ));
        }
    }
    if let Some(table) = &s.expect.p99_latency_of {
        for name in table.get_ref().keys() {
            if !s.producers.iter().any(|p| p.name.get_ref() == name) {
                return Err((
                    Some(table.span()),
                    format!("p99_latency_of names `{name}`, which is no producer"),
                ));
            }
        }
    }
    Ok(())
}
