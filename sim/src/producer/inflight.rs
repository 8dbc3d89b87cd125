//! A producer's requests in flight by message id, as a `BTreeMap<u32, Inflight>` answers
//! (same entries, same id order) but kept as a deque sorted by id. Ids grow in production
//! order and a request is answered or given up in roughly that order, so a new request is
//! a push at the back and a settled one a removal near the front: a few instructions,
//! where the tree cost a walk and a node each time on every message.

use super::Inflight;
use std::collections::VecDeque;

/// Requests awaiting their answer, by message id.
#[derive(Clone, Debug, Default)]
pub struct InflightMap {
    entries: VecDeque<(u32, Inflight)>,
}

impl InflightMap {
    /// Where `id` is, or would go.
    #[inline]
    fn find(&self, id: u32) -> Result<usize, usize> {
        // Most lookups are of the oldest or newest request.
        match (self.entries.front(), self.entries.back()) {
            (Some(f), _) if f.0 == id => Ok(0),
            (_, Some(b)) if b.0 == id => Ok(self.entries.len() - 1),
            (_, Some(b)) if b.0 < id => Err(self.entries.len()),
            _ => self.entries.binary_search_by_key(&id, |e| e.0),
        }
    }

    /// The request of message `id`.
    #[inline]
    #[must_use]
    pub fn get(&self, id: &u32) -> Option<&Inflight> {
        self.find(*id).ok().map(|i| &self.entries[i].1)
    }

    /// The request of message `id`, to change.
    #[inline]
    pub fn get_mut(&mut self, id: &u32) -> Option<&mut Inflight> {
        self.find(*id).ok().map(|i| &mut self.entries[i].1)
    }

    /// Message `id` has a request.
    #[inline]
    #[must_use]
    pub fn contains_key(&self, id: &u32) -> bool {
        self.find(*id).is_ok()
    }

    /// Keeps `req` as message `id`'s request; returns the one it replaces.
    #[inline]
    pub fn insert(&mut self, id: u32, req: Inflight) -> Option<Inflight> {
        match self.find(id) {
            Ok(i) => Some(std::mem::replace(&mut self.entries[i].1, req)),
            Err(i) if i == self.entries.len() => {
                self.entries.push_back((id, req));
                None
            }
            Err(i) => {
                self.entries.insert(i, (id, req));
                None
            }
        }
    }

    /// Forgets message `id`'s request; returns it.
    #[inline]
    pub fn remove(&mut self, id: &u32) -> Option<Inflight> {
        let i = self.find(*id).ok()?;
        if i == 0 {
            return self.entries.pop_front().map(|e| e.1);
        }
        self.entries.remove(i).map(|e| e.1)
    }

    /// Every request, by id.
    pub fn iter(&self) -> impl Iterator<Item = (&u32, &Inflight)> {
        self.entries.iter().map(|(id, r)| (id, r))
    }

    /// Every message id with a request, ascending.
    pub fn keys(&self) -> impl Iterator<Item = &u32> {
        self.entries.iter().map(|(id, _)| id)
    }

    /// Every request, by id.
    pub fn values(&self) -> impl Iterator<Item = &Inflight> {
        self.entries.iter().map(|(_, r)| r)
    }

    /// Requests held.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// No request held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
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
}
