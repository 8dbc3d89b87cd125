//! Why copies were dropped. The reason is kept per copy (one byte, and only for groups
//! that drop anything), so the summary counts by reason exactly the copies whose final
//! class is `dropped`: a copy dropped and then processed anyway (a late resend appended
//! after its producer gave up, say) is processed, not a drop, and the reasons always sum
//! to `dropped`.

use super::Engine;
use crate::ledger::Class;
use std::collections::BTreeMap;

/// Drop reasons by copy.
#[derive(Debug, Default)]
pub(super) struct DropReasons {
    /// The reasons seen so far; a copy stores its reason's index plus one.
    names: Vec<&'static str>,
    /// By group: the reasons of its copies not folded yet.
    by_group: Vec<Codes>,
    /// By reason: folded copies whose final class is dropped.
    folded: Vec<u64>,
}

/// One group's drop reasons by message id from `base` (0: never dropped), a window like
/// its ledger's.
#[derive(Debug, Default)]
struct Codes {
    base: u32,
    codes: Vec<u8>,
}

impl DropReasons {
    /// Copy `id` of group `g` was dropped for `reason`.
    pub(super) fn record(&mut self, g: u32, id: u32, reason: &'static str) {
        let k = self
            .names
            .iter()
            .position(|&n| n == reason)
            .unwrap_or_else(|| {
                self.names.push(reason);
                self.names.len() - 1
            });
        let code = u8::try_from(k + 1).expect("a handful of drop reasons");
        let g = g as usize;
        if self.by_group.len() <= g {
            self.by_group.resize_with(g + 1, Codes::default);
        }
        let c = &mut self.by_group[g];
        // A folded copy is final: nothing drops it again.
        let i = (id - c.base) as usize;
        if c.codes.len() <= i {
            c.codes.resize(i + 1, 0);
        }
        c.codes[i] = code;
    }

    /// Counts group `g`'s copies below `below` whose final class is dropped by reason,
    /// and forgets them; `ledger` is the group's, not folded past `below` yet.
    pub(super) fn fold(&mut self, g: u32, below: u32, ledger: &crate::ledger::Ledger) {
        let Some(c) = self.by_group.get_mut(g as usize) else {
            return;
        };
        if below <= c.base {
            return;
        }
        let n = ((below - c.base) as usize).min(c.codes.len());
        if self.folded.len() < self.names.len() {
            self.folded.resize(self.names.len(), 0);
        }
        for (i, &code) in c.codes[..n].iter().enumerate() {
            if code > 0 && ledger.class(c.base + i as u32) == Class::Dropped {
                self.folded[usize::from(code) - 1] += 1;
            }
        }
        c.codes.drain(..n);
        c.base = below;
        let keep = 2 * c.codes.len().max(crate::ledger::FOLD_EVERY as usize);
        if c.codes.capacity() > 2 * keep {
            c.codes.shrink_to(keep);
        }
    }

    /// Bytes held for the copies not folded yet.
    pub(super) fn resident_bytes(&self) -> usize {
        self.by_group.iter().map(|c| c.codes.capacity()).sum()
    }
}

impl Engine {
    /// Why copy `id` of group `g` was last dropped.
    pub(super) fn drop_reason(&self, g: u32, id: u32) -> &'static str {
        let code = self
            .drops
            .by_group
            .get(g as usize)
            .and_then(|c| c.codes.get(id.checked_sub(c.base)? as usize))
            .copied()
            .unwrap_or(0);
        code.checked_sub(1)
            .map_or("no reason recorded", |k| self.drops.names[usize::from(k)])
    }

    /// Copies whose final class is dropped, by the reason they were dropped for.
    pub(super) fn dropped_by_reason(&self) -> BTreeMap<String, u64> {
        let d = &self.drops;
        let mut counts = vec![0u64; d.names.len()];
        for (n, &folded) in counts.iter_mut().zip(&d.folded) {
            *n = folded;
        }
        for (g, c) in d.by_group.iter().enumerate() {
            let ledger = &self.groups[g].ledger;
            for (i, &code) in c.codes.iter().enumerate() {
                if code > 0 && ledger.class(c.base + i as u32) == Class::Dropped {
                    counts[usize::from(code) - 1] += 1;
                }
            }
        }
        d.names
            .iter()
            .zip(counts)
            .filter(|&(_, n)| n > 0)
            .map(|(name, n)| ((*name).to_string(), n))
            .collect()
    }
}
