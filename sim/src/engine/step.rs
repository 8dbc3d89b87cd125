//! The run loop: the next event off the queue, its handler, and the end of the run once
//! nothing can change any more.

use super::{Engine, LogKind, Phase};
use crate::time::SimTime;

impl Engine {
    /// True once nothing is left to do or the drain period ended.
    #[must_use]
    pub fn is_finished(&self) -> bool {
        self.phase == Phase::Finished
    }

    /// Processes the next event; false when the run is finished.
    pub fn step(&mut self) -> bool {
        self.step_inline()
    }

    /// `step`'s body, inlined into `run`'s loop: a call per event saved and restored
    /// every callee-saved register around the handlers inlined into it.
    #[inline(always)]
    pub(super) fn step_inline(&mut self) -> bool {
        if self.phase == Phase::Finished {
            return false;
        }
        // Nothing is due once the run is quiescent (asked first: it has no side effects,
        // and the queue then looks once for both the earliest time and its event).
        let limit = (!self.quiescent()).then_some(self.end);
        match self.queue.pop_due(limit) {
            Ok((t, packed)) => {
                assert!(t >= self.now, "time went backwards: {t} after {}", self.now);
                self.now = t;
                self.events += 1;
                self.hash = (self.hash.rotate_left(5) ^ t.0).wrapping_mul(0x9e37_79b9_7f4a_7c15)
                    ^ packed.digest();
                if self.plain {
                    self.plain_dispatch(packed);
                } else {
                    self.dispatch(packed.event());
                }
                while let Some(t) = self.unpark_due.pop() {
                    self.unpark(t);
                }
                true
            }
            Err(next) => {
                if next.is_some_and(|t| t > self.end) {
                    self.now = self.end;
                }
                self.finish();
                false
            }
        }
    }

    /// Processes every event up to and including `t`, then sets the clock to `t`
    /// (never past the end of the run).
    pub fn run_until(&mut self, t: SimTime) {
        let t = t.min(self.end);
        while self.phase != Phase::Finished {
            match self.queue.peek_time() {
                Some(next) if next <= t => {
                    self.step();
                }
                _ => break,
            }
        }
        // Nothing is due by `t`. Quiescent, or at the end with only what comes after it
        // left (retries that outlast the drain): the run ends here, as `step` ends it
        // running flat out (before, a run sliced to its end with copies in flight stayed
        // short of finished however far it was asked to go).
        if self.phase != Phase::Finished && (self.quiescent() || t == self.end) {
            self.step();
        }
        if self.phase != Phase::Finished && t > self.now {
            self.now = t;
        }
    }

    /// Runs to the end and returns the result.
    pub fn run(mut self) -> crate::summary::RunSummary {
        while self.step_inline() {}
        self.summary()
    }

    /// Nothing can change any more: producers stopped, no work pending, nothing left to
    /// commit, no queue waiting on a visibility timeout.
    #[inline]
    pub(super) fn quiescent(&self) -> bool {
        self.now >= self.stop && self.settled()
    }

    /// The rest of `quiescent`, kept out of line: `step` asks on every event, and only
    /// the time test is worth inlining there (the models' `settled` checks would bloat it).
    #[inline(never)]
    pub(super) fn settled(&self) -> bool {
        self.queue.pending_work() == 0
            && self.producers.iter().all(|p| p.open == 0)
            && self.groups.iter().all(|g| self.model_settled(g))
    }

    pub(super) fn finish(&mut self) {
        if self.phase == Phase::Finished {
            return;
        }
        // Closes the last, partial bucket (an empty one is skipped, a sliver merged).
        self.close_bucket_at_end(true);
        // After the last sample, so the series shows the run as it went.
        self.pipeline.closing = true;
        self.close_consumers();
        self.phase = Phase::Finished;
        self.note(LogKind::Phase, format!("run finished at {}", self.now));
    }
}
