//! What the census counts of a group's copies: one definition, used both for the copies a
//! ledger folds during the run and for the ones still resident when the summary is made,
//! so a folded copy lands in exactly the class the end-of-run census would give it.

use super::{Class, MessageFlags};

/// Copies by final class, with the first examples of each anomaly.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CopyCounts {
    /// Copies addressed to the group.
    pub copies: u64,
    /// Applied at least once.
    pub processed: u64,
    /// Applied twice or more.
    pub duplicated: u64,
    /// Duplicated, and the broker held the message twice (a resend).
    pub duplicated_by_resend: u64,
    /// Dead-lettered.
    pub dead_lettered: u64,
    /// Dropped by a known mechanism.
    pub dropped: u64,
    /// Still somewhere in the system.
    pub in_flight: u64,
    /// Accepted, acknowledged or owed, and gone without a trace.
    pub lost: u64,
    /// Gone, and never accepted, acknowledged or owed: a copy no class explains.
    pub unaccounted: u64,
    /// The first duplicated copies, by message id.
    pub duplicated_examples: Vec<u32>,
    /// The first dropped copies.
    pub dropped_examples: Vec<u32>,
    /// The first lost copies.
    pub lost_examples: Vec<u32>,
}

impl CopyCounts {
    /// Counts copy `id` of final class `class`; `in_system` says whether it is still
    /// somewhere the census looks (only asked for a copy of no other class).
    #[inline(always)]
    pub fn add(
        &mut self,
        id: u32,
        class: Class,
        flags: &MessageFlags,
        in_system: impl FnOnce() -> bool,
    ) {
        self.copies += 1;
        match class {
            Class::Processed(n) => {
                self.processed += 1;
                if n >= 2 {
                    example(&mut self.duplicated_examples, id);
                    self.duplicated += 1;
                    self.duplicated_by_resend += u64::from(flags.repeated(id));
                }
            }
            Class::DeadLettered => self.dead_lettered += 1,
            Class::Dropped => {
                self.dropped += 1;
                example(&mut self.dropped_examples, id);
            }
            Class::Gone if in_system() => self.in_flight += 1,
            Class::Gone if flags.accepted(id) || flags.acked(id) || flags.owed(id) => {
                self.lost += 1;
                example(&mut self.lost_examples, id);
            }
            Class::Gone => self.unaccounted += 1,
        }
    }
}

impl CopyCounts {
    /// A group's summary with these counts and examples filled in (the rest at default):
    /// the census of a model run and of a real one (`mqlab bench`) alike.
    #[must_use]
    pub fn into_summary(self) -> crate::summary::GroupSummary {
        let mut s = crate::summary::GroupSummary {
            copies: self.copies,
            processed: self.processed,
            duplicated: self.duplicated,
            duplicated_by_resend: self.duplicated_by_resend,
            dead_lettered: self.dead_lettered,
            dropped: self.dropped,
            in_flight: self.in_flight,
            lost: self.lost,
            ..crate::summary::GroupSummary::default()
        };
        s.examples.duplicated = self.duplicated_examples;
        s.examples.dropped = self.dropped_examples;
        s.examples.lost = self.lost_examples;
        s
    }
}

/// Keeps `id` among the first examples of an anomaly.
fn example(ids: &mut Vec<u32>, id: u32) {
    if ids.len() < crate::metrics::EXAMPLES {
        ids.push(id);
    }
}
