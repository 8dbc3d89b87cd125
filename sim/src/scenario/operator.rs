//! Operator actions as scenario events (`[[fault]]` entries of kind `replay` and
//! `redrive`): their settings and their checks. What they do lives in the engine
//! (`engine/fault/operator.rs`).

use super::validate::{Invalid, Target};
use super::{BrokerModel, FaultConfig, FaultKind, Scenario};
use crate::time::{SimDuration, parse_duration};

/// `replay`'s `to`: where a log group's committed offsets go back to (Kafka's
/// `kafka-consumer-groups --reset-offsets`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplayTo {
    /// The earliest offset still retained (`--to-earliest`).
    Earliest,
    /// The first offset appended at or after this point of the run (`--to-datetime`).
    Time(SimDuration),
}

impl<'de> serde::Deserialize<'de> for ReplayTo {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s == "earliest" {
            return Ok(ReplayTo::Earliest);
        }
        parse_duration(&s).map(ReplayTo::Time).map_err(|e| {
            serde::de::Error::custom(format!(
                "`to` is \"earliest\" or a point of the run such as \"10m\" ({e})"
            ))
        })
    }
}

impl ReplayTo {
    /// The scenario-file spelling.
    #[must_use]
    pub fn to_text(self) -> String {
        match self {
            ReplayTo::Earliest => "earliest".into(),
            ReplayTo::Time(t) => format!("{}ns", t.0),
        }
    }
}

/// Whether a fault kind is an operator action (an instant, not a window).
#[must_use]
pub fn is_operator_action(kind: FaultKind) -> bool {
    matches!(kind, FaultKind::Replay | FaultKind::Redrive)
}

/// Checks a `replay` or `redrive` entry: it targets a whole group of the right model,
/// is an instant, and a replay says where to at most once.
pub(super) fn check(s: &Scenario, f: &FaultConfig, target: Target) -> Result<(), Invalid> {
    let kind = *f.kind.get_ref();
    let Target::Group(g) = target else {
        return Err((
            Some(f.target.span()),
            format!("a {} targets a consumer group", kind.as_str()),
        ));
    };
    if f.duration.is_some() {
        return Err((
            Some(f.kind.span()),
            format!(
                "a {} is an instant action: it takes no `duration`",
                kind.as_str()
            ),
        ));
    }
    let c = &s.consumers[g];
    let model = s
        .topics
        .iter()
        .find(|t| t.name.get_ref() == c.topic.get_ref())
        .map(|t| t.model(&s.broker));
    match kind {
        FaultKind::Replay => {
            if model != Some(BrokerModel::Log) {
                return Err((
                    Some(f.target.span()),
                    "a replay resets committed offsets: it targets a group on a log topic".into(),
                ));
            }
            if let (Some(_), Some(n)) = (&f.to, &f.shift_by) {
                return Err((
                    Some(n.span()),
                    "a replay takes `to` or `shift_by`, not both".into(),
                ));
            }
            if let Some(n) = &f.shift_by
                && *n.get_ref() == 0
            {
                return Err((Some(n.span()), "shift_by must be greater than zero".into()));
            }
        }
        _ => {
            if !matches!(model, Some(BrokerModel::Queue | BrokerModel::Exchange)) {
                return Err((
                    Some(f.target.span()),
                    "a redrive moves dead letters back to a queue: it targets a group on a queue or exchange topic".into(),
                ));
            }
        }
    }
    if (f.to.is_some() || f.shift_by.is_some()) && kind != FaultKind::Replay {
        return Err((
            Some(f.kind.span()),
            "`to` and `shift_by` apply to a replay".into(),
        ));
    }
    Ok(())
}
