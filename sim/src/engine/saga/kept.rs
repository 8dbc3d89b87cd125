//! What the sagas keep as the run goes on: the runs from the oldest one not final on,
//! and each step's commands from the oldest one a service or the orchestrator may still
//! see on. Commands and replies are ordinary messages of their queues, so the windowed
//! ledgers decide when one is final; here is only what the pattern holds by id.
//!
//! A command's (saga, step) record is forgotten once the command is folded (no service
//! applies it again) and no reply kept answers one as old; a run once it is no longer in
//! progress (nothing makes it active again) and none of its commands is kept (no service
//! can change what it applied): its class is final and counted.

use super::{Run, SagaOutcome, Sagas};
use crate::engine::patterns::{PatternCtx, PatternView};
use std::collections::VecDeque;
use std::ops::{Index, IndexMut};

/// Runs by run id, from `base` on.
#[derive(Debug, Default)]
pub(super) struct Runs {
    base: u32,
    v: VecDeque<Run>,
}

impl Runs {
    /// The next run's id.
    pub(super) fn next(&self) -> u32 {
        self.base + self.v.len() as u32
    }

    pub(super) fn push(&mut self, r: Run) {
        self.v.push_back(r);
    }

    /// Run `run`, unless it is final and forgotten.
    pub(super) fn get(&self, run: u32) -> Option<&Run> {
        run.checked_sub(self.base)
            .and_then(|i| self.v.get(i as usize))
    }

    /// The ids of the runs kept.
    pub(super) fn ids(&self) -> std::ops::Range<u32> {
        self.base..self.next()
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &Run> {
        self.v.iter()
    }

    pub(super) fn iter_mut(&mut self) -> impl Iterator<Item = &mut Run> {
        self.v.iter_mut()
    }
}

impl Index<usize> for Runs {
    type Output = Run;
    fn index(&self, run: usize) -> &Run {
        &self.v[run - self.base as usize]
    }
}

impl IndexMut<usize> for Runs {
    fn index_mut(&mut self, run: usize) -> &mut Run {
        &mut self.v[run - self.base as usize]
    }
}

/// One step's commands by message id, from `base` on: (saga run, whether it is the
/// compensation).
#[derive(Clone, Debug, Default)]
pub(super) struct Commands {
    base: u32,
    v: VecDeque<(u32, bool)>,
}

impl Commands {
    /// Command message `id` was just made (the orchestrator is its queue's only producer,
    /// so ids are its sends, in order).
    pub(super) fn push(&mut self, id: u32, entry: (u32, bool)) {
        debug_assert_eq!(self.base + self.v.len() as u32, id);
        self.v.push_back(entry);
    }
}

impl Index<usize> for Commands {
    type Output = (u32, bool);
    fn index(&self, id: usize) -> &(u32, bool) {
        &self.v[id - self.base as usize]
    }
}

/// Saga `s`'s step `k` commands below `cut` are final and no reply kept answers one:
/// forgotten, and with them every run that is final.
pub(in crate::engine) fn forget_commands(mut c: PatternCtx, s: u32, k: u8, cut: u32) {
    let Sagas { defs, runs } = c.sagas_mut();
    let cmds = &mut defs[s as usize].commands[usize::from(k)];
    while cmds.base < cut
        && let Some((run, _)) = cmds.v.pop_front()
    {
        cmds.base += 1;
        runs[run as usize].kept -= 1;
    }
    crate::engine::pipeline::shrink(&mut cmds.v);
    while let Some(r) = runs.v.front()
        && !r.state.active()
        && r.kept == 0
    {
        let folded = &mut defs[r.def as usize].folded;
        match r.outcome() {
            SagaOutcome::Completed => folded[0] += 1,
            SagaOutcome::Compensated => folded[1] += 1,
            SagaOutcome::HalfDone => folded[2] += 1,
            SagaOutcome::InProgress => unreachable!("an active run"),
        }
        runs.v.pop_front();
        runs.base += 1;
    }
    crate::engine::pipeline::shrink(&mut runs.v);
}

/// Entries the sagas hold: (runs, commands' records).
pub(in crate::engine) fn saga_resident(v: PatternView) -> (usize, usize) {
    let s = v.sagas();
    let commands = s.defs.iter().flat_map(|d| &d.commands).map(|c| c.v.len());
    (s.runs.v.len(), commands.sum())
}
