//! The poison-message protection part of a `RunSummary`: quarantine records with their
//! error histories, circuit-breaker transitions, processing timeouts, and per-message-type
//! latency. Present only when a scenario uses those features.

use super::Latency;
use serde::{Deserialize, Serialize};

/// What poison-message protection did in a run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ProtectionSummary {
    /// Copies quarantined (also counted in `dead_lettered`).
    pub quarantined: u64,
    /// Attempts abandoned at a consumer's `processing_timeout`.
    pub timed_out: u64,
    /// Times a circuit breaker opened (closed → open and half-open → open).
    pub breaker_opens: u64,
    /// Breaker state changes, oldest first (the first `TRANSITIONS_KEPT`).
    pub transitions: Vec<BreakerTransition>,
    /// Quarantined messages with their error histories (the first `RECORDS_KEPT`).
    pub quarantine: Vec<QuarantineRecord>,
    /// Per message type (producer): copies processed and end-to-end latency.
    pub types: Vec<TypeLatency>,
}

/// How many transitions a summary keeps.
pub const TRANSITIONS_KEPT: usize = 200;
/// How many quarantine records a summary keeps.
pub const RECORDS_KEPT: usize = 50;

/// One change of a breaker's state.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BreakerTransition {
    /// When, simulated seconds.
    pub at_s: f64,
    /// Consumer group.
    pub group: String,
    /// Message type (producer name).
    #[serde(rename = "type")]
    pub message_type: String,
    /// `closed`, `open` or `half-open`.
    pub from: String,
    /// `closed`, `open` or `half-open`.
    pub to: String,
}

/// A quarantined message and every attempt at it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct QuarantineRecord {
    /// Consumer group.
    pub group: String,
    /// Message type (producer name).
    #[serde(rename = "type")]
    pub message_type: String,
    /// Message id within its topic.
    pub message: u32,
    /// When it was quarantined, simulated seconds.
    pub at_s: f64,
    /// Its attempts, oldest first.
    pub attempts: Vec<AttemptRecord>,
}

/// One processing attempt that failed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AttemptRecord {
    /// When it started, simulated seconds.
    pub started_s: f64,
    /// When it ended, simulated seconds.
    pub ended_s: f64,
    /// `failed` or `timed out`.
    pub error: String,
}

/// One message type's figures.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TypeLatency {
    /// Producer name.
    #[serde(rename = "type")]
    pub message_type: String,
    /// Copies processed.
    pub processed: u64,
    /// End to end, produce to processed.
    pub latency_s: Latency,
}
