//! Duplicates by cause, per group: why each copy counted in `duplicated` was applied a
//! second time. Present for a group that duplicated or that sets `idempotence`.

use serde::{Deserialize, Serialize};

/// A group's duplicated copies split by the cause of their second application; the
/// fields sum to the group's `duplicated`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DuplicateCauses {
    /// Taken after an application whose commit never took effect (a crash before the
    /// commit, or an SQS delete refused because another holder had received it since),
    /// with nothing to recognise it.
    pub crash_before_commit: u64,
    /// Two holders had the message at once and both applied it (a visibility timeout
    /// expiring under a slow consumer, a zombie after a partition, a lease outrun).
    pub race: u64,
    /// Its effect was applied and the mark never written (a crash in between).
    pub unmarked: u64,
    /// Its mark had expired (`dedup_ttl`) when the message came again.
    pub expired: u64,
    /// The broker held the message twice (a producer's or relay's resend).
    pub resend: u64,
    /// An operator replay moved the offsets back over it.
    pub replay: u64,
}

impl DuplicateCauses {
    /// The sum over causes.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.crash_before_commit
            + self.race
            + self.unmarked
            + self.expired
            + self.resend
            + self.replay
    }

    /// Adds one of `cause`.
    pub fn add(&mut self, cause: crate::dedup::Cause) {
        use crate::dedup::Cause;
        *match cause {
            Cause::CrashBeforeCommit => &mut self.crash_before_commit,
            Cause::Race => &mut self.race,
            Cause::Unmarked => &mut self.unmarked,
            Cause::Expired => &mut self.expired,
            Cause::Resend => &mut self.resend,
            Cause::Replay => &mut self.replay,
        } += 1;
    }

    /// `race 3, unmarked 1` (the nonzero ones).
    #[must_use]
    pub fn describe(&self) -> String {
        let all = [
            ("crash before commit", self.crash_before_commit),
            ("race", self.race),
            ("unmarked", self.unmarked),
            ("expired", self.expired),
            ("resend", self.resend),
            ("replay", self.replay),
        ];
        let parts: Vec<String> = all
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        if parts.is_empty() {
            "none".into()
        } else {
            parts.join(", ")
        }
    }
}
