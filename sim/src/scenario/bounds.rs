//! Durations with limits, checked while serde reads them so the error points at the value
//! itself (line and column), not at the file's first line: `positive` for periods that
//! must advance time, and the limits SQS documents for the settings that copy its API.
//! Only reading: the fields stay plain `SimDuration`s for the engine.

use crate::time::SimDuration;
use serde::{Deserialize, Deserializer, de::Error};

/// SQS `VisibilityTimeout`: 0 seconds to 12 hours.
pub const SQS_VISIBILITY_MAX: SimDuration = SimDuration::from_secs(12 * 3600);
/// SQS `WaitTimeSeconds` (long polling): 0 to 20 seconds.
pub const SQS_WAIT_MAX: SimDuration = SimDuration::from_secs(20);
/// SQS redrive policy `maxReceiveCount`: 1 to 1,000.
pub const SQS_MAX_RECEIVES: std::ops::RangeInclusive<u32> = 1..=1000;

/// Most consumer instances in one group. The engine keeps state per instance from the
/// start, so `instances = 4294967295` asked for 8.8 GB before the first event; real groups
/// stop gaining long before this (a Kafka group gains nothing past its partition count).
pub const MAX_INSTANCES: u32 = 10_000;
/// Most partitions of one topic (state per partition from the start, as instances). Kafka
/// advises at most about 200,000 per cluster; one topic beyond 100,000 is a typo.
pub const MAX_PARTITIONS: u32 = 100_000;
/// Most broker nodes (state per node from the start).
pub const MAX_NODES: u32 = 1_000;

/// A duration that must be greater than zero (a period, a timeout that re-arms itself):
/// zero would schedule an endless stream of events at one instant.
///
/// # Errors
/// Zero, or not a duration.
pub fn positive<'de, D: Deserializer<'de>>(d: D) -> Result<SimDuration, D::Error> {
    let v = SimDuration::deserialize(d)?;
    if v.is_zero() {
        return Err(D::Error::custom(
            "must be greater than zero (a duration such as \"100ms\")",
        ));
    }
    Ok(v)
}

/// `visibility_timeout`: at most 12 hours, as SQS allows.
///
/// # Errors
/// Longer than 12 hours, or not a duration.
pub fn sqs_visibility<'de, D: Deserializer<'de>>(d: D) -> Result<SimDuration, D::Error> {
    at_most(
        d,
        SQS_VISIBILITY_MAX,
        "an SQS visibility timeout is at most 12h",
    )
}

/// `wait_time`: at most 20 seconds, as SQS long polling allows.
///
/// # Errors
/// Longer than 20 seconds, or not a duration.
pub fn sqs_wait<'de, D: Deserializer<'de>>(d: D) -> Result<SimDuration, D::Error> {
    at_most(d, SQS_WAIT_MAX, "an SQS receive waits at most 20s")
}

/// A name shown on terminals and in reports: no control characters, so a name cannot
/// clear the screen or move the cursor when printed.
///
/// # Errors
/// A control character, or not a string.
pub fn printable<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let v = String::deserialize(d)?;
    check_printable(&v, false).map_err(D::Error::custom)?;
    Ok(v)
}

/// Text shown on terminals that may run over lines (`description`): newlines and tabs
/// are fine, other control characters are not.
///
/// # Errors
/// A control character other than a newline or tab, or not a string.
pub fn printable_text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let v = String::deserialize(d)?;
    check_printable(&v, true).map_err(D::Error::custom)?;
    Ok(v)
}

/// The first control character in `text` (newlines and tabs allowed with `multiline`).
///
/// # Errors
/// Which character, escaped.
pub fn check_printable(text: &str, multiline: bool) -> Result<(), String> {
    match text
        .chars()
        .find(|&c| c.is_control() && !(multiline && matches!(c, '\n' | '\t')))
    {
        Some(c) => Err(format!(
            "control character {} is not allowed here: it would reach terminals raw",
            c.escape_unicode()
        )),
        None => Ok(()),
    }
}

fn at_most<'de, D: Deserializer<'de>>(
    d: D,
    max: SimDuration,
    why: &str,
) -> Result<SimDuration, D::Error> {
    let v = SimDuration::deserialize(d)?;
    if v > max {
        return Err(D::Error::custom(format!("{why}, not {v}")));
    }
    Ok(v)
}
