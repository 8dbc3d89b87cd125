//! The services' figures: per stage and per path for the summary, what the dashboard
//! shows of a stage, and the `lineage` check.

use super::PRODUCER;
use crate::engine::Engine;
use crate::metrics::latency_of;
use crate::summary::{OutputSummary, PathSummary, PipelineSummary, StageSummary};

impl Engine {
    fn group_index(&self, g: &crate::consumer::Group) -> usize {
        self.groups
            .iter()
            .position(|x| std::ptr::eq(x, g))
            .expect("a group of this engine")
    }

    /// The topics group `g` publishes to, for the dashboard.
    pub(in crate::engine) fn stage_outputs(&self, g: &crate::consumer::Group) -> Vec<String> {
        if !self.pipeline.on {
            return Vec::new();
        }
        self.pipeline.outputs[self.group_index(g)]
            .iter()
            .map(|o| {
                let t = self.producers[o.producer as usize].topic;
                self.topics[t as usize].name.clone()
            })
            .collect()
    }

    /// The scenario has services.
    pub(in crate::engine) fn pipeline_on(&self) -> bool {
        self.pipeline.on
    }

    /// Group `g`'s end-to-end p99 so far, for the dashboard (0 without services).
    pub(in crate::engine) fn stage_p99(&self, g: &crate::consumer::Group) -> f64 {
        if !self.pipeline.on {
            return 0.0;
        }
        latency_of(&self.pipeline.e2e[self.group_index(g)]).p99
    }

    /// For the summary (none without services).
    pub(in crate::engine) fn pipeline_summary(&self) -> Option<PipelineSummary> {
        let pl = &self.pipeline;
        if !pl.on {
            return None;
        }
        let stages = self
            .groups
            .iter()
            .enumerate()
            .map(|(g, group)| StageSummary {
                group: group.name.clone(),
                topic: self.topics[group.topic as usize].name.clone(),
                delivery: group.delivery.as_str().to_string(),
                processed: group.metrics.processed,
                end_to_end_s: latency_of(&pl.e2e[g]),
                outputs: pl.outputs[g]
                    .iter()
                    .enumerate()
                    .map(|(j, o)| OutputSummary {
                        topic: self.topics[self.producers[o.producer as usize].topic as usize]
                            .name
                            .clone(),
                        published: o.published,
                        republished: o.republished,
                        aborted: o.aborted,
                        pending: pl.pending[g].len() as u64 * u64::from(o.count),
                        expected: self.expected_outputs(g, j),
                        orphaned: self.orphaned_outputs(g, j),
                    })
                    .collect(),
            })
            .collect();
        let paths = pl
            .sinks
            .iter()
            .map(|(&path, (h, completed))| PathSummary {
                path: pl
                    .hops(path)
                    .into_iter()
                    .map(|hop| {
                        if hop & PRODUCER != 0 {
                            self.producers[(hop & !PRODUCER) as usize].name.clone()
                        } else {
                            self.groups[hop as usize].name.clone()
                        }
                    })
                    .collect(),
                completed: *completed,
                latency_s: latency_of(h),
            })
            .collect();
        Some(PipelineSummary {
            roots: pl.roots,
            derived: pl.derived,
            stages,
            paths,
        })
    }

    /// Outputs `j` of group `g` published for inputs the census does not count
    /// processed: outputs of an aborted transaction that got out.
    fn orphaned_outputs(&self, g: usize, j: usize) -> u64 {
        let ledger = &self.groups[g].ledger;
        let o = &self.pipeline.outputs[g][j];
        let live = self.orphans_in(g, j, ledger.base()..ledger.len() as u32);
        (o.folded_inputs.1 + live) * u64::from(o.count)
    }

    /// Inputs of group `g` whose outputs `j` must have been published: the processed
    /// ones the output selects (in the census's sense of processed).
    fn expected_outputs(&self, g: usize, j: usize) -> u64 {
        let ledger = &self.groups[g].ledger;
        let o = &self.pipeline.outputs[g][j];
        let live = self.expected_in(g, j, ledger.base()..ledger.len() as u32);
        (o.folded_inputs.0 + live) * u64::from(o.count)
    }
}
/// The `lineage` check of each service output: every processed input published exactly
/// its outputs (or holds them in a transaction still open at the end), and nothing was
/// published for an input that is not processed.
pub(in crate::engine) fn lineage_rows(s: &PipelineSummary) -> Vec<crate::summary::Expectation> {
    let mut rows = Vec::new();
    for st in &s.stages {
        for o in &st.outputs {
            rows.push(crate::summary::Expectation {
                check: format!("lineage {}>{}", st.group, o.topic),
                expected: "published + pending = expected, orphaned = 0".into(),
                actual: if o.pending > 0 {
                    format!(
                        "published {} + pending {}, expected {}, orphaned {}",
                        o.published, o.pending, o.expected, o.orphaned
                    )
                } else {
                    format!(
                        "published {}, expected {}, orphaned {}",
                        o.published, o.expected, o.orphaned
                    )
                },
                ok: o.published + o.pending == o.expected && o.orphaned == 0,
            });
        }
    }
    rows
}
