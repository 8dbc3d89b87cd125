//! Checks of a consumer group's idempotence settings: a mode refines at-least-once
//! delivery (exactly-once is the transactional mode), and the store's durations are
//! positive.

use super::{Invalid, fail};
use crate::scenario::{BrokerModel, ConsumerConfig, Delivery, Idempotence, Scenario};

/// A group's `idempotence`, `dedup_ttl` and `claim_lease`.
pub(super) fn check(s: &Scenario, c: &ConsumerConfig) -> Result<(), Invalid> {
    for (v, what) in [(&c.dedup_ttl, "dedup_ttl"), (&c.claim_lease, "claim_lease")] {
        if let Some(d) = v
            && d.get_ref().is_zero()
        {
            return fail(d.span(), format!("{what} must be greater than zero"));
        }
    }
    let Some(mode) = &c.idempotence else {
        return Ok(());
    };
    let pubsub = s
        .topics
        .iter()
        .find(|t| t.name.get_ref() == c.topic.get_ref())
        .is_some_and(|t| t.model(&s.broker) == BrokerModel::Pubsub);
    match (*mode.get_ref(), c.delivery) {
        (Idempotence::None, _) => Ok(()),
        _ if pubsub => fail(
            mode.span(),
            "a pub/sub subscriber is at-most-once by nature: idempotence does not apply".into(),
        ),
        (_, Delivery::AtMostOnce) => fail(
            mode.span(),
            "idempotence applies to at-least-once delivery (at-most-once never redelivers)".into(),
        ),
        (Idempotence::Transactional, _) | (_, Delivery::AtLeastOnce) => Ok(()),
        (m, Delivery::ExactlyOnce) => fail(
            mode.span(),
            format!(
                "exactly-once is the transactional mode; for `{}` write delivery = \"at-least-once\"",
                m.as_str()
            ),
        ),
    }
}
