//! When a run's hot events take the plain path's handlers, the lean consume handlers on
//! the generic path (`lean.rs`), or the generic ones: leaving them when a fault starts or
//! a trace begins, and coming back once the faults are over.

use super::super::Engine;
use super::super::fault;
use crate::scenario::{FaultKind, Target};

impl Engine {
    /// Forces the generic handlers from now on, for every group (tests compare the two
    /// paths).
    #[doc(hidden)]
    pub fn force_generic(&mut self) {
        self.resumable = false;
        self.lean_resumable = false;
        self.leave_plain();
    }

    /// Back to the plain path, once every fault is over, when every fault so far is one
    /// the lean handlers can come back from (`fault::recoverable`) and left nothing they
    /// leave out: every instance live and at full speed, no zombie's work in hand, and
    /// everything `plain_eligible` asks of the scenario still so; or, where the scenario
    /// keeps the produce side generic or a fault left it so (a broker's crash, a network
    /// partition: `fault::lean_recoverable`), back to the lean consumers (`lean.rs`).
    /// Asked when a fault ends and at every sample, so a run whose faults come early (a
    /// scenario scaled up with `--messages`) spends the rest of its time on the plain path.
    pub(in crate::engine) fn resume_plain(&mut self) {
        if self.plain || !(self.resumable || self.lean_resumable) {
            return;
        }
        let over = |ok: fn(FaultKind, Target) -> bool| {
            self.faults
                .iter()
                .all(|f| !f.open && ok(*f.cfg.kind.get_ref(), f.target))
        };
        let calm = (0..self.instances.len() as u32).all(|i| {
            let inst = &self.instances[i as usize];
            self.live(i) && inst.slow == 1.0 && inst.work.is_none_or(|w| !w.fenced)
        });
        if !calm {
            return;
        }
        if self.resumable && over(fault::recoverable) && self.plain_eligible() {
            // The lean flags mean nothing while the plain path runs: cleared, so that
            // they say which handlers run.
            if self.lean {
                self.set_lean(false);
            }
            self.plain = true;
        } else if !self.lean
            && self.lean_resumable
            && over(fault::lean_recoverable)
            && self.lean_run_fits()
        {
            // The produce side still needs the generic handlers (a producer down, say, or
            // a run built generic): the fitting groups' consumers need not.
            self.set_lean(true);
        }
    }

    /// Leaves the plain path (a fault or a trace needs the generic handlers; after a
    /// fault, `resume_plain` may bring it back). The plain path leaves a lone replica's
    /// log end and flushed offsets behind (see `plain_append`); they are brought up to
    /// what the generic path would have left, the partition's log end, before anything
    /// reads them.
    pub(in crate::engine) fn leave_plain(&mut self) {
        if self.lean {
            self.set_lean(false);
        }
        if !self.plain {
            return;
        }
        self.plain = false;
        for topic in &mut self.topics {
            for part in &mut topic.partitions {
                part.replicas.leader_appended(part.end);
                part.replicas.flush(&self.nodes_up);
            }
        }
    }

    /// Whether the plain path is in use (tests check that it is where they expect).
    #[doc(hidden)]
    #[must_use]
    pub fn plain_path(&self) -> bool {
        self.plain
    }
}
