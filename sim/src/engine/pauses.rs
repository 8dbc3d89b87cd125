//! The producers' pauses (watermarks, or plain `block` waiting for room), kept in bounded
//! memory: a run that pauses every few seconds for hours must not grow with its length.
//! Open pauses (at most two a topic) are kept apart; of the closed ones only the most
//! recent `KEEP` are, and the older ones survive as a count and a total paused time, which
//! is all the summary reports of them.

use crate::snapshot::PauseSpan;
use crate::time::SimTime;
use std::collections::VecDeque;

/// Closed pauses kept for the snapshot (the dashboard shows the recent ones).
pub(super) const KEEP: usize = 1_000;

#[derive(Debug, Default)]
pub(super) struct Pauses {
    /// Pauses still under way, by id.
    open: Vec<(usize, PauseSpan)>,
    /// The most recent closed pauses, in the order they closed.
    closed: VecDeque<PauseSpan>,
    /// Pauses ever opened (the next id).
    opened: usize,
    /// Paused time of the closed pauses no longer in `closed`.
    forgotten_ns: u64,
}

impl Pauses {
    /// Records a pause that starts now; returns its id.
    pub(super) fn open(&mut self, span: PauseSpan) -> usize {
        let id = self.opened;
        self.opened += 1;
        self.open.push((id, span));
        id
    }

    /// The open pause `id`.
    pub(super) fn get(&self, id: usize) -> &PauseSpan {
        &self
            .open
            .iter()
            .find(|(i, _)| *i == id)
            .expect("an open pause")
            .1
    }

    /// Ends the open pause `id` at `at` with the partition's backlog then; returns it.
    pub(super) fn close(&mut self, id: usize, at: SimTime, backlog: u64) -> &PauseSpan {
        let i = self
            .open
            .iter()
            .position(|(i, _)| *i == id)
            .expect("an open pause");
        let (_, mut span) = self.open.swap_remove(i);
        span.resumed_at = Some(at);
        span.resumed_backlog = Some(backlog);
        if self.closed.len() == KEEP
            && let Some(old) = self.closed.pop_front()
        {
            self.forgotten_ns += old.resumed_at.unwrap_or(at).since(old.paused_at).0;
        }
        self.closed.push_back(span);
        self.closed.back().expect("just pushed")
    }

    /// Pauses ever opened.
    pub(super) fn count(&self) -> u64 {
        self.opened as u64
    }

    /// Total time paused up to `now`, every pause counted (open ones up to `now`).
    pub(super) fn paused_ns(&self, now: SimTime) -> u64 {
        let closed: u64 = self
            .closed
            .iter()
            .map(|p| p.resumed_at.unwrap_or(now).since(p.paused_at).0)
            .sum();
        let open: u64 = self
            .open
            .iter()
            .map(|(_, p)| now.since(p.paused_at).0)
            .sum();
        self.forgotten_ns + closed + open
    }

    /// The kept pauses, oldest first: the recent closed ones and every open one.
    pub(super) fn recent(&self) -> Vec<PauseSpan> {
        let mut all: Vec<PauseSpan> = self.closed.iter().cloned().collect();
        all.extend(self.open.iter().map(|(_, p)| p.clone()));
        all.sort_by_key(|p| p.paused_at);
        all
    }

    /// Spans held in memory (for the bounded-memory tests).
    pub(super) fn kept(&self) -> usize {
        self.open.len() + self.closed.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(at: u64) -> PauseSpan {
        PauseSpan {
            topic: "t".into(),
            partition: 0,
            paused_at: SimTime(at),
            paused_backlog: 10,
            resumed_at: None,
            resumed_backlog: None,
        }
    }

    #[test]
    fn old_pauses_fold_into_the_count_and_the_paused_time() {
        let mut p = Pauses::default();
        let n = 3 * KEEP as u64;
        for k in 0..n {
            let id = p.open(span(k * 10));
            p.close(id, SimTime(k * 10 + 4), 2);
        }
        // Still open at the end: counts up to `now`.
        p.open(span(n * 10));
        assert_eq!(p.count(), n + 1);
        assert_eq!(p.kept(), KEEP + 1);
        assert_eq!(p.paused_ns(SimTime(n * 10 + 7)), 4 * n + 7);
        let recent = p.recent();
        assert_eq!(recent.len(), KEEP + 1);
        assert_eq!(recent[0].paused_at, SimTime((n - KEEP as u64) * 10));
        assert!(recent.last().unwrap().resumed_at.is_none());
    }
}
