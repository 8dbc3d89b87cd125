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

/// Bytes the run's per-message state will need at its end, from rate × duration: a flag
/// byte per message, and per copy a ledger byte plus its bits (entered, sampled) and, for
/// groups that drop, a reason byte. The estimate the command line holds against the
/// machine's free memory before it starts.
#[must_use]
pub fn ledger_bytes(s: &Scenario) -> f64 {
    let duration_s = s.duration.as_secs_f64();
    s.topics
        .iter()
        .map(|t| {
            let messages: f64 = s
                .producers
                .iter()
                .filter(|p| p.topic.get_ref() == t.name.get_ref())
                .map(|p| *p.rate.get_ref() * duration_s)
                .sum();
            let groups = s
                .consumers
                .iter()
                .filter(|c| c.topic.get_ref() == t.name.get_ref())
                .count() as f64;
            messages * (1.0 + groups * (1.0 + 0.25))
        })
        .sum()
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
