//! The per-group, per-producer and broker views of a run that the `--json` contract adds
//! beside its totals: what a user reads first in Grafana or OpenMessaging Benchmark
//! (latency by percentile per group, publish → ack latency per producer, the broker's
//! timeline). Only data; the engine fills it in.

use super::Latency;
use serde::{Deserialize, Serialize};

/// Latency of the copies whose whole life — from intended send to processed — touched no
/// fault window: what an SLO judged "outside faults" sees.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OutsideFaults {
    /// Copies processed whose life overlapped no fault window.
    pub samples: u64,
    /// Their end-to-end latency (all zero when `samples` is 0).
    pub latency_s: Latency,
}

/// One producer: what it published, what it was told, and how long being told took.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ProducerSummary {
    /// Producer name.
    pub name: String,
    /// Topic it publishes to.
    pub topic: String,
    /// Messages it created.
    pub produced: u64,
    /// Of those, messages it was told were sent (acknowledged, or fire-and-forget).
    pub acked: u64,
    /// Messages created per simulated second of the producing period.
    pub produced_per_s: f64,
    /// Acknowledgements per simulated second of the producing period (late ones counted).
    pub acked_per_s: f64,
    /// Publish → ack: from a message's intended send time to its first acknowledgement
    /// reaching the producer (time blocked or resending counts; with `acks = "none"` the
    /// ack is the send itself).
    pub ack_latency_s: Latency,
}

/// One line of the broker's timeline: ISR shrinks and expansions, leader elections and
/// offline partitions, the queue server's outages, consumer-group rebalances, producer
/// pauses at a watermark.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TimelineEntry {
    /// Simulated time.
    pub t_s: f64,
    /// `replication` (ISR, election, offline), `server` (the queue, exchange and pub/sub
    /// server down or back), `rebalance` or `backpressure`.
    pub kind: String,
    /// What happened, as the dashboard's event log says it.
    pub text: String,
}
