//! The messages an idempotent producer has sent to a log that the broker has not taken
//! yet, by partition, in sequence (message id) order. The broker's next expected sequence
//! on a partition is the first of them. Sends go out almost always in id order and are
//! taken in it, so each partition's ids live in a sorted `VecDeque`: a send is a push at
//! the back, the broker taking one a pop at the front. A `BTreeSet<(partition, id)>` here
//! cost three tree walks per message.

use std::collections::VecDeque;

/// Ids not taken yet, per partition, ascending.
#[derive(Clone, Debug, Default)]
pub struct Unresolved {
    parts: Vec<VecDeque<u32>>,
    len: usize,
}

impl Unresolved {
    /// Message `id` goes to `partition` and waits for the broker (nothing if it already
    /// waits there).
    #[inline]
    pub fn insert(&mut self, partition: u32, id: u32) {
        let p = partition as usize;
        if p >= self.parts.len() {
            self.parts.resize_with(p + 1, VecDeque::new);
        }
        let ids = &mut self.parts[p];
        match ids.back() {
            Some(&last) if last >= id => {
                // A resend reopened after a failover: an older id goes back in its place.
                if let Err(at) = ids.binary_search(&id) {
                    ids.insert(at, id);
                    self.len += 1;
                }
            }
            _ => {
                ids.push_back(id);
                self.len += 1;
            }
        }
    }

    /// The broker took (or the producer gave up) message `id` of `partition`.
    #[inline]
    pub fn remove(&mut self, partition: u32, id: u32) {
        let Some(ids) = self.parts.get_mut(partition as usize) else {
            return;
        };
        if ids.front() == Some(&id) {
            ids.pop_front();
            self.len -= 1;
        } else if let Ok(at) = ids.binary_search(&id) {
            ids.remove(at);
            self.len -= 1;
        }
    }

    /// The first id still waiting on `partition`: the broker's next expected sequence.
    #[inline]
    #[must_use]
    pub fn first(&self, partition: u32) -> Option<u32> {
        self.parts.get(partition as usize)?.front().copied()
    }

    /// The ids waiting on `partition` after `id`, ascending.
    pub fn after(&self, partition: u32, id: u32) -> impl Iterator<Item = u32> + '_ {
        let ids = self.parts.get(partition as usize);
        let from = ids.map_or(0, |ids| ids.partition_point(|&x| x <= id));
        ids.into_iter()
            .flat_map(move |ids| ids.range(from..).copied())
    }

    /// Every id waiting, on any partition.
    pub fn ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.parts.iter().flatten().copied()
    }

    /// Nothing waits anywhere.
    #[inline]
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Ids waiting, on every partition.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// Against the `BTreeSet<(partition, id)>` it replaces, on a mixed run of sends
    /// in order, reopened older ids, repeated inserts and removals anywhere.
    #[test]
    fn answers_as_the_ordered_set_of_pairs_does() {
        let mut set = BTreeSet::new();
        let mut seq = Unresolved::default();
        let mut x: u64 = 7;
        let mut next_id = 0u32;
        for _ in 0..20_000 {
            x = crate::producer::mix(x);
            let partition = (x % 3) as u32;
            let id = match (x >> 8) % 10 {
                0..=5 => {
                    next_id += 1;
                    next_id
                }
                // An older id, maybe already waiting.
                _ => ((x >> 16) as u32) % (next_id + 1),
            };
            match (x >> 40) % 3 {
                0 => {
                    set.remove(&(partition, id));
                    seq.remove(partition, id);
                }
                1 => {
                    let front = set
                        .range((partition, 0)..=(partition, u32::MAX))
                        .next()
                        .map(|&(_, i)| i);
                    if let Some(f) = front {
                        set.remove(&(partition, f));
                        seq.remove(partition, f);
                    }
                }
                _ => {
                    set.insert((partition, id));
                    seq.insert(partition, id);
                }
            }
            let first = set
                .range((partition, 0)..=(partition, u32::MAX))
                .next()
                .map(|&(_, i)| i);
            assert_eq!(seq.first(partition), first);
            let behind: Vec<u32> = set
                .range((partition, id + 1)..=(partition, u32::MAX))
                .map(|&(_, i)| i)
                .collect();
            assert_eq!(seq.after(partition, id).collect::<Vec<_>>(), behind);
            assert_eq!(seq.len(), set.len());
            assert_eq!(seq.is_empty(), set.is_empty());
        }
        let mut all: Vec<u32> = seq.ids().collect();
        let mut want: Vec<u32> = set.iter().map(|&(_, i)| i).collect();
        all.sort_unstable();
        want.sort_unstable();
        assert_eq!(all, want);
        assert!(!all.is_empty(), "the run leaves some waiting");
    }
}
