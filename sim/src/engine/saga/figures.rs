//! What the checker and the dashboard see of the sagas: every run classified, the runs
//! in progress, and the per saga figures.

use super::{SagaOutcome, SagaRunView};
use crate::engine::patterns::PatternView;
use crate::metrics::latency_of;
use crate::summary::SagaSummary;

/// Every saga kept, as the checker sees it (for tests and tools): every one started,
/// unless the run folded final ones (see `kept.rs`).
pub(in crate::engine) fn saga_runs(pv: PatternView) -> Vec<SagaRunView> {
    pv.sagas()
        .runs
        .iter()
        .map(|r| {
            let steps = |bits: u16| (0..16u8).filter(|k| bits & (1 << k) != 0).collect();
            SagaRunView {
                saga: pv.sagas().defs[r.def as usize].cfg.name.get_ref().clone(),
                outcome: r.outcome(),
                succeeded: steps(r.applied & !r.failed),
                failed: steps(r.failed),
                compensated: (0..r.undone.count_ones())
                    .map(|i| ((r.undo_order >> (4 * i)) & 0xf) as u8)
                    .collect(),
            }
        })
        .collect()
}

/// Per saga: its name and the runs in progress now, for the dashboard's snapshot.
pub(in crate::engine) fn sagas_in_progress(pv: PatternView) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = pv
        .sagas()
        .defs
        .iter()
        .map(|d| (d.cfg.name.get_ref().clone(), 0))
        .collect();
    for r in pv.sagas().runs.iter() {
        if r.outcome() == SagaOutcome::InProgress {
            v[r.def as usize].1 += 1;
        }
    }
    v
}

/// Per saga figures: the checker's classification of every saga.
pub(in crate::engine) fn saga_summaries(pv: PatternView) -> Vec<SagaSummary> {
    let mut out: Vec<SagaSummary> = pv
        .sagas()
        .defs
        .iter()
        .map(|d| SagaSummary {
            name: d.cfg.name.get_ref().clone(),
            started: d.started,
            refused: d.refused,
            resends: d.resends,
            given_up: d.given_up,
            late_commands: d.late,
            duplicate_commands: d.duplicates,
            compensations: d.compensations,
            compensations_out_of_order: d.out_of_order,
            latency_s: latency_of(&d.latency),
            completed: d.folded[0],
            compensated: d.folded[1],
            half_done: d.folded[2],
            ..SagaSummary::default()
        })
        .collect();
    for r in pv.sagas().runs.iter() {
        let s = &mut out[r.def as usize];
        match r.outcome() {
            SagaOutcome::Completed => s.completed += 1,
            SagaOutcome::Compensated => s.compensated += 1,
            SagaOutcome::HalfDone => s.half_done += 1,
            SagaOutcome::InProgress => s.in_progress += 1,
        }
    }
    out
}
