//! A group joining a log late from the latest offset (`start_at`, `offset_reset =
//! "latest"`): its copies are the messages appended after it joined, as the model's are.
//! On Redis Streams the group is created at its join at the ID of the stream's last entry,
//! so its copies are exactly the entries after that one. Which messages those are is
//! known in three ways, whichever comes first, all under the books' lock: the join looks
//! at the entries the producers were told of before it; a producer told of its entry after
//! the join compares it with the group's start; and the group reading an entry (which
//! Redis gives it only after its start) makes it its copy. Until then a message is no
//! copy of the group, and one made before the join never is.

use crate::books::{Books, NOT_SENT};
use crate::schedule::Send;
use mqlab_sim::SimTime;

/// A stream entry's ID, `ms-seq`, ordered as Redis orders them.
pub type Position = (u64, u64);

/// What the books keep for late groups from the latest offset.
#[derive(Debug, Default)]
pub struct LateJoins {
    /// Per group: it joins late from the latest offset.
    pub latest: Vec<bool>,
    /// Per group, once it joined: per partition, the entry it started after.
    pub from: Vec<Option<Vec<Position>>>,
    /// Per topic and message: its partition and entry, once its producer was told.
    pub entry: Vec<Vec<Option<(u32, Position)>>>,
}

impl LateJoins {
    /// Whether some group joins late from the latest offset.
    #[must_use]
    pub fn any(&self) -> bool {
        self.latest.iter().any(|&l| l)
    }
}

impl Books {
    /// The broker appended `s` as entry `at` of its partition (its producer was told at
    /// `now_ns`): a copy for every late group already joined whose start it lies after.
    pub fn appended(&mut self, s: &Send, at: Position, now_ns: u64) {
        if !self.late.any() {
            return;
        }
        let entries = &mut self.late.entry[s.topic as usize];
        if let Some(e) = entries.get_mut(s.id as usize) {
            *e = Some((u32::from(s.partition), at));
        }
        for k in 0..self.topic_groups[s.topic as usize].len() {
            let g = self.topic_groups[s.topic as usize][k];
            let after = self.late.from[g]
                .as_ref()
                .and_then(|from| from.get(s.partition as usize))
                .is_some_and(|&start| at > start);
            if self.late.latest[g] && after {
                self.address_late(g, s.topic as usize, s.id, now_ns);
            }
        }
    }

    /// Group `g` joined at `now_ns`, created after entry `from[p]` of each partition `p`:
    /// every message its producer was told lies after that is its copy.
    pub fn joined(&mut self, g: usize, from: Vec<Position>, now_ns: u64) {
        let t = self.groups[g].topic;
        let after: Vec<u32> = self.late.entry[t]
            .iter()
            .enumerate()
            .filter_map(|(id, e)| {
                let (p, at) = (*e)?;
                (at > *from.get(p as usize)?).then_some(id as u32)
            })
            .collect();
        self.late.from[g] = Some(from);
        for id in after {
            self.address_late(g, t, id, now_ns);
        }
    }

    /// Group `g` read `s` at `now_ns`: Redis gives a group only entries after its start,
    /// so it is the group's copy whether or not its producer has been told yet.
    pub fn read_after_join(&mut self, g: usize, s: &Send, now_ns: u64) {
        if self.late.latest.get(g).copied().unwrap_or(false) && self.late.from[g].is_some() {
            self.address_late(g, s.topic as usize, s.id, now_ns);
        }
    }

    /// Makes message `id` of topic `t` group `g`'s copy (once), counted in as if from its
    /// publish: the books counted only addressed copies at the publish.
    fn address_late(&mut self, g: usize, t: usize, id: u32, now_ns: u64) {
        let published = self.published_ns[t].get(id as usize).copied();
        let gb = &mut self.groups[g];
        if (id as usize) >= gb.ledger.len() || gb.ledger.addressed(id) {
            return;
        }
        gb.ledger.address(id);
        if let Some(at) = published.filter(|&at| at != NOT_SENT) {
            gb.published += 1;
            gb.metrics.enter_since(SimTime(now_ns), SimTime(at));
        }
    }
}
