//! Runs too big to hold. Message ids are 32-bit per topic, and the ledger keeps a byte per
//! message and group for the whole run; a scenario whose producers would create more than
//! 2^32 − 1 messages on one topic is refused up front with the number, instead of running
//! for hours and then being killed or overflowing.

use super::super::Scenario;
use super::{Invalid, fail};

/// Most messages one topic can number.
pub const MAX_MESSAGES_PER_TOPIC: f64 = u32::MAX as f64;

/// Refuses a topic whose producers would create more messages than it can number.
pub(super) fn check(s: &Scenario) -> Result<(), Invalid> {
    let duration_s = s.duration.as_secs_f64();
    for t in &s.topics {
        let producers = s
            .producers
            .iter()
            .filter(|p| p.topic.get_ref() == t.name.get_ref());
        let expected: f64 = producers
            .clone()
            .map(|p| *p.rate.get_ref() * duration_s)
            .sum();
        if expected <= MAX_MESSAGES_PER_TOPIC {
            continue;
        }
        let groups = s
            .consumers
            .iter()
            .filter(|c| c.topic.get_ref() == t.name.get_ref())
            .count();
        let busiest = producers
            .max_by(|a, b| a.rate.get_ref().total_cmp(b.rate.get_ref()))
            .expect("a topic with messages has a producer");
        return fail(
            busiest.rate.span(),
            format!(
                "topic `{}` would get about {expected:.3e} messages (rate x duration), more than the {} a run can number on one topic (and at least {:.0} GB of ledger); lower the rate or the duration",
                t.name.get_ref(),
                u32::MAX,
                expected * (1 + groups) as f64 / 1e9
            ),
        );
    }
    Ok(())
}

/// Bytes the run's per-message state will need at most, at the peak: a flag byte per
/// message, and per copy a ledger byte plus its bits (entered, sampled) and, for groups
/// that drop, a reason byte: each topic's window (`window_messages`), at most every
/// message of the run (rate × duration). The estimate the command line holds against the
/// machine's free memory before it starts.
#[must_use]
pub fn ledger_bytes(s: &Scenario) -> f64 {
    let duration_s = s.duration.as_secs_f64();
    s.topics
        .iter()
        .map(|t| {
            let name = t.name.get_ref();
            let rate: f64 = s
                .producers
                .iter()
                .filter(|p| p.topic.get_ref() == name)
                .map(|p| *p.rate.get_ref())
                .sum();
            let groups = s
                .consumers
                .iter()
                .filter(|c| c.topic.get_ref() == name)
                .count() as f64;
            let all = rate * duration_s;
            all.min(window_messages(s, t, rate)) * (1.0 + groups * (1.0 + 0.25))
        })
        .sum()
}

/// Messages of topic `t` (produced at `rate` a second) a folding run holds at once, at
/// most: the interval between two folds with the vectors' spare capacity, plus what is
/// not final yet. That is the backlog a group slower than the rate leaves (its instances
/// over the mean service time; a log partition feeds one instance), what a `retention`
/// keeps read or not, and what piles up while a fault window is open (taken as all the
/// rate: a crashed group or broker takes nothing; a fault without an end lasts the run).
/// A queue or exchange group keeps its dead letters where the scenario redrives them,
/// which holds the window at the first one: there, where a fault or a
/// `processing_timeout` makes dead letters, the whole run counts. A requester's request
/// holds its message until the reply or its `reply_timeout`.
fn window_messages(s: &Scenario, t: &crate::scenario::TopicConfig, rate: f64) -> f64 {
    use crate::scenario::{BrokerModel, FaultKind};
    let duration_s = s.duration.as_secs_f64();
    let name = t.name.get_ref();
    let model = t
        .model
        .as_ref()
        .map_or(*s.broker.model.get_ref(), |m| *m.get_ref());
    let groups = || s.consumers.iter().filter(|c| c.topic.get_ref() == name);
    let failing = s
        .faults
        .iter()
        .any(|f| matches!(f.kind.get_ref(), FaultKind::Poison | FaultKind::Outage))
        || groups().any(|c| c.processing_timeout.is_some());
    let redriven = s
        .faults
        .iter()
        .any(|f| *f.kind.get_ref() == FaultKind::Redrive);
    if failing && redriven && matches!(model, BrokerModel::Queue | BrokerModel::Exchange) {
        return f64::INFINITY;
    }
    let behind = groups()
        .map(|c| {
            let mut servers = f64::from(*c.instances.get_ref());
            match model {
                BrokerModel::Log => servers = servers.min(f64::from(*t.partitions.get_ref())),
                BrokerModel::Pubsub => servers = 1.0,
                BrokerModel::Queue | BrokerModel::Exchange => {}
            }
            let mean = c.service_time.mean().as_secs_f64();
            let capacity = if mean > 0.0 {
                servers / mean
            } else {
                f64::INFINITY
            };
            (rate - capacity).max(0.0) * duration_s
        })
        .fold(0.0, f64::max);
    let retained = t.retention.map_or(0.0, |r| rate * r.as_secs_f64());
    let faults: f64 = s
        .faults
        .iter()
        .filter(|f| !crate::scenario::is_operator_action(*f.kind.get_ref()))
        .map(|f| {
            let open = f
                .duration
                .map_or(duration_s - f.at.as_secs_f64(), |d| d.as_secs_f64());
            rate * open.clamp(0.0, duration_s)
        })
        .sum();
    let awaiting: f64 = s
        .producers
        .iter()
        .filter(|p| p.topic.get_ref() == name)
        .filter_map(|p| {
            p.reply_timeout
                .as_ref()
                .map(|r| *p.rate.get_ref() * r.get_ref().as_secs_f64())
        })
        .sum();
    4.0 * f64::from(crate::ledger::FOLD_EVERY) + behind + retained + faults + awaiting
}

#[cfg(test)]
mod tests {
    use crate::scenario::Scenario;

    #[test]
    fn a_run_too_big_to_number_is_refused_at_the_rate_with_the_number() {
        let text = "name = \"x\"\nduration = \"100h\"\n[[topic]]\nname = \"t\"\n[[producer]]\nname = \"p\"\ntopic = \"t\"\nrate = 1e6\n[[consumer]]\ngroup = \"g\"\ntopic = \"t\"\n";
        let e = Scenario::from_toml(text, "x.toml")
            .expect_err("refused")
            .to_string();
        assert!(
            e.starts_with("x.toml:8:8: topic `t` would get about 3.600e11 messages"),
            "{e}"
        );
        assert!(e.contains("4294967295"), "{e}");
        let fits = text.replace("100h", "1h");
        Scenario::from_toml(&fits, "x.toml").expect("3.6e9 messages fit");
    }
}
