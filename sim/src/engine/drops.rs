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
    /// By group, by message id (0: never dropped).
    by_group: Vec<Vec<u8>>,
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
        let (g, id) = (g as usize, id as usize);
        if self.by_group.len() <= g {
            self.by_group.resize_with(g + 1, Vec::new);
        }
        let copies = &mut self.by_group[g];
        if copies.len() <= id {
            copies.resize(id + 1, 0);
        }
        copies[id] = code;
    }
}

impl Engine {
    /// Why copy `id` of group `g` was last dropped.
    pub(super) fn drop_reason(&self, g: u32, id: u32) -> &'static str {
        let code = self
            .drops
            .by_group
            .get(g as usize)
            .and_then(|c| c.get(id as usize))
            .copied()
            .unwrap_or(0);
        code.checked_sub(1)
            .map_or("no reason recorded", |k| self.drops.names[usize::from(k)])
    }

    /// Copies whose final class is dropped, by the reason they were dropped for.
    pub(super) fn dropped_by_reason(&self) -> BTreeMap<String, u64> {
        let d = &self.drops;
        let mut counts = vec![0u64; d.names.len()];
        for (g, copies) in d.by_group.iter().enumerate() {
            let ledger = &self.groups[g].ledger;
            for (id, &code) in copies.iter().enumerate() {
                if code > 0 && ledger.class(id as u32) == Class::Dropped {
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
