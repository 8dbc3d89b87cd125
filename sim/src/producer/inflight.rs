//! A producer's requests in flight by message id, as a `BTreeMap<u32, Inflight>` answers
//! (same entries, same id order) but kept as a deque of slots sorted by id. Ids grow in
//! production order, so a new request is a push at the back. Answers come back in
//! roughly that order on one partition, but out of it across partitions (each
//! partition's high watermark acknowledges its own requests): a settled request's slot
//! is emptied in place rather than removed from the middle (a `memmove` of the slots
//! behind it), and empty slots leave at the front. With the slots of consecutive ids side
//! by side, a request is found at `id - front` in one look, where a binary search cost
//! about a hundred instructions a lookup on a replicated log (kafka-broker-failover).

use super::Inflight;
use std::collections::VecDeque;

/// Empty slots allowed beyond this many and four times the requests held, before they
/// are swept out (a request held long, say parked at a full broker, keeps the slots of
/// every id settled after it).
const SPARE: usize = 64;

/// Requests awaiting their answer, by message id.
#[derive(Clone, Debug, Default)]
pub struct InflightMap {
    /// Ascending ids; `None` a settled request's slot, never at either end.
    entries: VecDeque<(u32, Option<Inflight>)>,
    /// Requests held (slots that are `Some`).
    live: usize,
}

impl InflightMap {
    /// Where `id`'s slot is, or would go.
    #[inline]
    fn find(&self, id: u32) -> Result<usize, usize> {
        let Some(&(front, _)) = self.entries.front() else {
            return Err(0);
        };
        let Some(guess) = id.checked_sub(front) else {
            return Err(0);
        };
        match self.entries.get(guess as usize) {
            Some(e) if e.0 == id => Ok(guess as usize),
            // A new request, past the newest.
            None if self.entries.back().is_some_and(|b| b.0 < id) => Err(self.entries.len()),
            // Ids with gaps (a topic another producer also writes, or slots swept).
            _ => self.entries.binary_search_by_key(&id, |e| e.0),
        }
    }

    /// The request of message `id`.
    #[inline]
    #[must_use]
    pub fn get(&self, id: &u32) -> Option<&Inflight> {
        self.find(*id).ok().and_then(|i| self.entries[i].1.as_ref())
    }

    /// The request of message `id`, to change.
    #[inline]
    pub fn get_mut(&mut self, id: &u32) -> Option<&mut Inflight> {
        self.find(*id).ok().and_then(|i| self.entries[i].1.as_mut())
    }

    /// Message `id` has a request.
    #[inline]
    #[must_use]
    pub fn contains_key(&self, id: &u32) -> bool {
        self.get(id).is_some()
    }

    /// Keeps `req` as message `id`'s request; returns the one it replaces.
    #[inline]
    pub fn insert(&mut self, id: u32, req: Inflight) -> Option<Inflight> {
        match self.find(id) {
            Ok(i) => {
                let old = self.entries[i].1.replace(req);
                self.live += usize::from(old.is_none());
                old
            }
            Err(i) => {
                if i == self.entries.len() {
                    self.entries.push_back((id, Some(req)));
                } else {
                    self.entries.insert(i, (id, Some(req)));
                }
                self.live += 1;
                None
            }
        }
    }

    /// Forgets message `id`'s request; returns it.
    #[inline]
    pub fn remove(&mut self, id: &u32) -> Option<Inflight> {
        self.remove_if(id, |_| true)
    }

    /// Forgets message `id`'s request if `settled` says so (one lookup for both).
    #[inline]
    pub fn remove_if(
        &mut self,
        id: &u32,
        settled: impl FnOnce(&Inflight) -> bool,
    ) -> Option<Inflight> {
        let i = self.find(*id).ok()?;
        let slot = &mut self.entries[i].1;
        if !slot.as_ref().is_some_and(settled) {
            return None;
        }
        let req = slot.take();
        self.live -= 1;
        if i == 0 {
            while self.entries.front().is_some_and(|e| e.1.is_none()) {
                self.entries.pop_front();
            }
        } else if i + 1 == self.entries.len() {
            while self.entries.back().is_some_and(|e| e.1.is_none()) {
                self.entries.pop_back();
            }
        } else if self.entries.len() > SPARE + 4 * self.live {
            self.entries.retain(|e| e.1.is_some());
        }
        req
    }

    /// Every request, by id.
    pub fn iter(&self) -> impl Iterator<Item = (&u32, &Inflight)> {
        self.entries
            .iter()
            .filter_map(|(id, r)| r.as_ref().map(|r| (id, r)))
    }

    /// Every message id with a request, ascending.
    pub fn keys(&self) -> impl Iterator<Item = &u32> {
        self.iter().map(|(id, _)| id)
    }

    /// Every request, by id.
    pub fn values(&self) -> impl Iterator<Item = &Inflight> {
        self.iter().map(|(_, r)| r)
    }

    /// Requests held.
    #[must_use]
    pub fn len(&self) -> usize {
        self.live
    }

    /// No request held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }
}

impl std::ops::Index<&u32> for InflightMap {
    type Output = Inflight;

    fn index(&self, id: &u32) -> &Inflight {
        self.get(id).expect("a request in flight")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Msg;
    use std::collections::BTreeMap;

    fn req(attempt: u8) -> Inflight {
        Inflight {
            msg: Msg::numbered(0),
            partition: 0,
            attempt,
            in_transit: 0,
            done: false,
            refused: false,
        }
    }

    /// Against the `BTreeMap` it replaces, on a mixed run of new ids, resends of old
    /// ones and removals in and out of order.
    #[test]
    fn answers_as_the_ordered_map_does() {
        let mut tree = BTreeMap::new();
        let mut map = InflightMap::default();
        let mut x: u64 = 11;
        let mut next = 0u32;
        for step in 0..30_000u32 {
            x = crate::producer::mix(x);
            let id = match x % 8 {
                0..=3 => {
                    next += 1 + (x >> 60) as u32;
                    next
                }
                _ => ((x >> 20) as u32) % (next + 1),
            };
            let attempt = (step % 200) as u8;
            if (x >> 8) % 5 < 2 {
                let a = tree.remove(&id).map(|r: Inflight| r.attempt);
                assert_eq!(map.remove(&id).map(|r| r.attempt), a);
            } else if (x >> 8) % 5 == 2 {
                let oldest = tree.keys().next().copied();
                if let Some(o) = oldest {
                    tree.remove(&o);
                    assert!(map.remove(&o).is_some());
                }
            } else {
                let a = tree.insert(id, req(attempt)).map(|r| r.attempt);
                assert_eq!(map.insert(id, req(attempt)).map(|r| r.attempt), a);
            }
            assert_eq!(
                map.get(&id).map(|r| r.attempt),
                tree.get(&id).map(|r| r.attempt)
            );
            assert_eq!(map.contains_key(&id), tree.contains_key(&id));
            assert_eq!(map.len(), tree.len());
        }
        let ours: Vec<(u32, u8)> = map.iter().map(|(&id, r)| (id, r.attempt)).collect();
        let theirs: Vec<(u32, u8)> = tree.iter().map(|(&id, r)| (id, r.attempt)).collect();
        assert_eq!(ours, theirs);
        assert!(!ours.is_empty(), "the run leaves some in flight");
    }

    /// One request held while 100,000 after it come and go, answered out of order: the
    /// settled ones' slots are swept, so what is kept follows the requests held, not how
    /// many were settled behind the oldest; and every one is still found where it is.
    #[test]
    fn a_request_held_long_keeps_no_trail_of_settled_slots() {
        let mut map = InflightMap::default();
        map.insert(0, req(7));
        let mut held = std::collections::VecDeque::new();
        for id in 1..100_000u32 {
            map.insert(id, req(1));
            held.push_back(id);
            if held.len() > 20 {
                // The second oldest first, then the oldest: never in id order.
                let second = held.remove(1).expect("held");
                assert!(map.remove(&second).is_some());
                if id % 3 == 0 {
                    let first = held.pop_front().expect("held");
                    assert!(map.remove(&first).is_some());
                }
            }
            assert!(map.entries.len() <= SPARE + 4 * map.len() + 1, "{id}");
        }
        assert_eq!(map.len(), held.len() + 1);
        assert_eq!(map.get(&0).map(|r| r.attempt), Some(7));
        for id in &held {
            assert!(map.contains_key(id), "{id}");
        }
        let keys: Vec<u32> = map.keys().copied().collect();
        let mut want: Vec<u32> = std::iter::once(0).chain(held.iter().copied()).collect();
        want.sort_unstable();
        assert_eq!(keys, want);
    }
}
