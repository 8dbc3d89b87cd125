//! Validation of `[[producer]]`: rates a nanosecond clock can express, counts that fit
//! the engine's fields (retries, producers, keys), `max_in_flight`, and the pattern
//! settings. Split from `validate.rs` to keep each file to one screenful of rules.

use super::{Invalid, fail, known_topic, positive, topic_of};
use crate::scenario::{Acks, Arrival, BrokerModel, ProducerConfig, Publish, Scenario};
use crate::time::NANOS_PER_SEC;

/// Producers are numbered in 16 bits (a message carries its producer's index).
const MAX_PRODUCERS: usize = 1 << 16;
/// A send's attempt number is 8 bits wide.
const MAX_RETRIES: u32 = 255;
/// Kafka refuses an idempotent producer with more requests in flight than the broker
/// remembers sequences for.
const MAX_IDEMPOTENT_IN_FLIGHT: u32 = 5;

/// Every producer, and what they add up to.
pub(super) fn producers(s: &Scenario) -> Result<(), Invalid> {
    if let Some(p) = s.producers.get(MAX_PRODUCERS) {
        return fail(
            p.name.span(),
            format!("at most {MAX_PRODUCERS} producers (producer indices are 16 bits)"),
        );
    }
    let mut keys: u64 = 0;
    for p in &s.producers {
        producer(s, p)?;
        // Keys of all producers are numbered in one 32-bit space.
        keys += u64::from(*p.keys.get_ref());
        if keys > u64::from(u32::MAX) {
            return fail(
                p.keys.span(),
                format!(
                    "the producers' keys add up to {keys}, more than {} in all",
                    u32::MAX
                ),
            );
        }
    }
    Ok(())
}

/// The producers a run derives (one per service output, reply and saga step) come after
/// the scenario's own: their indices and their keys must fit the same 16-bit and 32-bit
/// spaces. The keys' error points at the largest declared count, the one to shrink.
pub(super) fn with_derived(s: &Scenario) -> Result<(), Invalid> {
    let mut run = s.clone();
    run.derive_run();
    if run.producers.len() > MAX_PRODUCERS {
        let output = s
            .consumers
            .iter()
            .find_map(|c| c.outputs.first())
            .map(|o| o.topic.span());
        return Err((
            output.or_else(|| s.producers.last().map(|p| p.name.span())),
            format!(
                "with the producers the run adds (one per service output, reply and saga \
                 step) there are {} producers, more than {MAX_PRODUCERS} (producer indices \
                 are 16 bits)",
                run.producers.len()
            ),
        ));
    }
    let total: u64 = run
        .producers
        .iter()
        .map(|p| u64::from(*p.keys.get_ref()))
        .sum();
    if total <= u64::from(u32::MAX) {
        return Ok(());
    }
    let declared = s.producers.iter().filter(|p| !p.derived).map(|p| &p.keys);
    let outputs = s
        .consumers
        .iter()
        .flat_map(|c| c.outputs.iter().filter_map(|o| o.keys.as_ref()));
    let largest = declared.chain(outputs).max_by_key(|k| *k.get_ref());
    Err((
        largest.map(|k| k.span()),
        format!(
            "with the producers the run adds (one per service output, reply and saga \
             step) the producers' keys add up to {total}, more than {} in all",
            u32::MAX
        ),
    ))
}

fn producer(s: &Scenario, p: &ProducerConfig) -> Result<(), Invalid> {
    known_topic(s, &p.topic)?;
    rates(p)?;
    positive(&p.keys, "keys")?;
    positive(&p.events_per_key, "events_per_key")?;
    positive(&p.zipf_exponent, "zipf_exponent")?;
    let t = topic_of(s, p.topic.get_ref());
    if let Some(k) = p.routing_keys.first()
        && t.model(&s.broker) != BrokerModel::Exchange
    {
        return fail(
            k.span(),
            "`routing_keys` apply to topics of model \"exchange\"".into(),
        );
    }
    if p.idempotent && s.broker.acks == Acks::None && t.model(&s.broker) == BrokerModel::Log {
        // Without answers nothing is resent, so one lost request would leave a gap in the
        // partition's sequence that refuses every later message for good.
        return fail(
            p.name.span(),
            "an idempotent producer needs the broker's answers to resend in sequence: \
             Kafka refuses enable.idempotence with acks = 0, so set the broker's acks to \
             \"all\" (as Kafka requires; \"leader\" runs, with a warning), or idempotent = false"
                .into(),
        );
    }
    if let Some(pr) = &p.priority
        && *pr.get_ref() > 7
    {
        return fail(
            pr.span(),
            format!("priority must be 0 to 7, not {}", pr.get_ref()),
        );
    }
    if let Some(c) = &p.claim_check
        && p.claim_reference_bytes.get_ref() >= c.get_ref()
    {
        return fail(
            c.span(),
            format!(
                "claim_check ({} bytes) must be larger than claim_reference_bytes ({} bytes)",
                c.get_ref().0,
                p.claim_reference_bytes.get_ref().0
            ),
        );
    }
    if let Some(k) = p.routing_keys.get(255) {
        return fail(k.span(), "at most 255 routing keys per producer".into());
    }
    retries(p)?;
    crate::scenario::publish::check(p)
}

/// A rate the nanosecond clock can express: at most one message per nanosecond, also
/// during a bursty producer's on periods (where the rate is `rate` over the duty cycle).
fn rates(p: &ProducerConfig) -> Result<(), Invalid> {
    let rate = *p.rate.get_ref();
    if !(rate.is_finite() && rate > 0.0) {
        return fail(
            p.rate.span(),
            format!("rate must be a positive number of messages per second, not {rate}"),
        );
    }
    let most = NANOS_PER_SEC as f64;
    if rate > most {
        return fail(
            p.rate.span(),
            format!(
                "rate {rate} is more than {most} messages per second, one per nanosecond (the clock's resolution)"
            ),
        );
    }
    if p.arrival != Arrival::Bursty {
        return Ok(());
    }
    let (on, off) = (*p.burst_on.get_ref(), *p.burst_off.get_ref());
    if on.is_zero() {
        return fail(
            p.burst_on.span(),
            "burst_on must be greater than zero (a bursty producer must have on periods)".into(),
        );
    }
    let duty = on.as_secs_f64() / (on.as_secs_f64() + off.as_secs_f64());
    if rate / duty > most {
        return fail(
            p.burst_on.span(),
            format!(
                "with burst_on = \"{on}\" and burst_off = \"{off}\" the rate during an on period is {:.0} per second, more than one per nanosecond",
                rate / duty
            ),
        );
    }
    Ok(())
}

/// `retries` fits its counter; `max_in_flight` is at least 1, and at most 5 for an
/// idempotent producer, as Kafka requires.
fn retries(p: &ProducerConfig) -> Result<(), Invalid> {
    if *p.retries.get_ref() > MAX_RETRIES {
        return fail(
            p.retries.span(),
            format!(
                "retries must be at most {MAX_RETRIES}, not {}",
                p.retries.get_ref()
            ),
        );
    }
    let Some(m) = &p.max_in_flight else {
        return Ok(());
    };
    positive(m, "max_in_flight")?;
    if p.idempotent && *m.get_ref() > MAX_IDEMPOTENT_IN_FLIGHT {
        return fail(
            m.span(),
            format!(
                "an idempotent producer allows at most {MAX_IDEMPOTENT_IN_FLIGHT} requests in flight (as Kafka), not {}",
                m.get_ref()
            ),
        );
    }
    if p.publish() != Publish::Direct {
        return fail(
            m.span(),
            "`max_in_flight` applies to plain producers, not to a service with `publish`".into(),
        );
    }
    Ok(())
}
