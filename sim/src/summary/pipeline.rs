//! The pipeline part of a `RunSummary`: per service (a group with `[[consumer.output]]`)
//! what it published, per group the end-to-end latency from the root message's intended
//! send, and per path through the pipeline how many roots completed it and how long that
//! took. Present only when a scenario has services.

use super::Latency;
use serde::{Deserialize, Serialize};

/// Services and end-to-end figures of a run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PipelineSummary {
    /// Messages the scenario's own producers created (the roots of every lineage).
    pub roots: u64,
    /// Messages services published (each counted once, however often republished).
    pub derived: u64,
    /// Per consumer group, in scenario order.
    pub stages: Vec<StageSummary>,
    /// Per path from a producer through services to a group that publishes nothing.
    pub paths: Vec<PathSummary>,
}

/// One consumer group seen as a stage.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StageSummary {
    /// Group name.
    pub group: String,
    /// Topic it consumes.
    pub topic: String,
    /// Delivery variant.
    pub delivery: String,
    /// Copies processed (first applications).
    pub processed: u64,
    /// From each processed copy's root message's intended send time to its processing.
    pub end_to_end_s: Latency,
    /// What it publishes (empty: a sink).
    pub outputs: Vec<OutputSummary>,
}

/// One output of a service.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OutputSummary {
    /// Topic published to.
    pub topic: String,
    /// Distinct messages published.
    pub published: u64,
    /// Publications of a message already published: an input processed again (a
    /// redelivery after a crash, a zombie) publishes its outputs again, and each is a
    /// duplicate downstream.
    pub republished: u64,
    /// Exactly-once: outputs of transactions that aborted (never visible downstream).
    pub aborted: u64,
    /// Exactly-once: outputs of transactions still open when the run ended.
    pub pending: u64,
    /// Outputs the processed inputs owe: `count` for each processed input the output's
    /// `fraction` selects. The `lineage` check holds `published` to this.
    pub expected: u64,
    /// Outputs published for inputs that are not processed (an aborted transaction's
    /// outputs that got out); the `lineage` check holds this to 0.
    pub orphaned: u64,
}

/// A path: producer, then each group that processed the lineage, ending at a sink.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PathSummary {
    /// Producer name, then group names.
    pub path: Vec<String>,
    /// Copies the sink processed along this path.
    pub completed: u64,
    /// From the root's intended send time to processing at the sink.
    pub latency_s: Latency,
}
