//! Kafka-style replication of one partition: replicas on broker nodes, a leader, the
//! in-sync replica set (ISR), log end offsets and the high watermark, and leader election
//! when nodes fail. Pure bookkeeping; the engine moves messages and schedules fetches.

/// One replica of a partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Replica {
    /// Broker node hosting it.
    pub node: u32,
    /// Its log end offset.
    pub leo: u64,
    /// In the in-sync replica set.
    pub in_sync: bool,
    /// A follower fetch is on its way back (so no second one is sent).
    pub fetching: bool,
    /// Its log is on disk up to here; the rest is lost if its node crashes.
    pub flushed: u64,
}

/// A partition's replicas; `replicas[0]` is the preferred leader.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplicaSet {
    /// The replicas.
    pub replicas: Vec<Replica>,
    /// Index of the leader in `replicas`, if the partition is online.
    pub leader: Option<usize>,
}

/// What an election did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Election {
    /// The new leader, if any replica could lead.
    pub leader: Option<usize>,
    /// The log is cut back to this offset (the new leader's log end).
    pub truncate_to: Option<u64>,
    /// The new leader was not in sync (unclean election).
    pub unclean: bool,
}

impl ReplicaSet {
    /// Replicas of partition `p` on `nodes` nodes, spread round-robin as Kafka does.
    #[must_use]
    pub fn new(p: u32, replication: u32, nodes: u32) -> ReplicaSet {
        let replicas = (0..replication)
            .map(|k| Replica {
                node: (p + k) % nodes,
                leo: 0,
                in_sync: true,
                fetching: false,
                flushed: 0,
            })
            .collect();
        ReplicaSet {
            replicas,
            leader: Some(0),
        }
    }

    /// The high watermark: the lowest log end offset in the ISR (what every in-sync replica
    /// has, and so what consumers may read and `acks = all` may acknowledge).
    #[must_use]
    pub fn high_watermark(&self) -> u64 {
        self.replicas
            .iter()
            .filter(|r| r.in_sync)
            .map(|r| r.leo)
            .min()
            .unwrap_or(0)
    }

    /// In-sync replicas.
    #[must_use]
    pub fn isr_size(&self) -> usize {
        self.replicas.iter().filter(|r| r.in_sync).count()
    }

    /// The node `n` failed: its replicas leave the ISR (but the ISR never empties: the
    /// last in-sync replica stays in it, so that a clean election can wait for it).
    /// Returns the election if the leader was there.
    pub fn node_down(&mut self, n: u32, up: &[bool], unclean_allowed: bool) -> Option<Election> {
        self.node_lost(n, up, unclean_allowed, true)
    }

    /// Node `n` is gone for the others: crashed (`crashed`: its unflushed log is lost) or
    /// cut off by a network partition (its log survives, out of reach).
    pub fn node_lost(
        &mut self,
        n: u32,
        up: &[bool],
        unclean_allowed: bool,
        crashed: bool,
    ) -> Option<Election> {
        for r in self.replicas.iter_mut().filter(|r| r.node == n && crashed) {
            // The page cache dies with the node: only what was flushed survives.
            r.leo = r.leo.min(r.flushed);
        }
        for i in 0..self.replicas.len() {
            if self.replicas[i].node == n && self.isr_size() > 1 {
                self.replicas[i].in_sync = false;
            }
            if self.replicas[i].node == n {
                self.replicas[i].fetching = false;
            }
        }
        let leader = self.leader?;
        (self.replicas[leader].node == n).then(|| self.elect(up, unclean_allowed))
    }

    /// Chooses a leader among live replicas: in-sync first (clean), then, if allowed, the
    /// live one with the longest log (unclean). Truncates every replica to its log.
    pub fn elect(&mut self, up: &[bool], unclean_allowed: bool) -> Election {
        let live = |r: &Replica| up[r.node as usize];
        let clean = self.replicas.iter().position(|r| r.in_sync && live(r));
        let unclean = if unclean_allowed && clean.is_none() {
            (0..self.replicas.len())
                .filter(|&i| live(&self.replicas[i]))
                .max_by_key(|&i| (self.replicas[i].leo, std::cmp::Reverse(i)))
        } else {
            None
        };
        self.leader = clean.or(unclean);
        let Some(l) = self.leader else {
            return Election {
                leader: None,
                truncate_to: None,
                unclean: false,
            };
        };
        let end = self.replicas[l].leo;
        if unclean.is_some() {
            for (i, r) in self.replicas.iter_mut().enumerate() {
                r.in_sync = i == l;
            }
        }
        for r in &mut self.replicas {
            r.leo = r.leo.min(end);
        }
        Election {
            leader: Some(l),
            truncate_to: Some(end),
            unclean: unclean.is_some(),
        }
    }

    /// Replicas on live nodes write their logs to disk.
    pub fn flush(&mut self, up: &[bool]) {
        for r in self.replicas.iter_mut().filter(|r| up[r.node as usize]) {
            r.flushed = r.leo;
        }
    }

    /// The leader appended up to `end`.
    pub fn leader_appended(&mut self, end: u64) {
        if let Some(l) = self.leader {
            self.replicas[l].leo = end;
        }
    }

    /// A follower's fetch brought it up to `leo`; it rejoins the ISR once caught up.
    pub fn fetched(&mut self, i: usize, leo: u64, leader_end: u64) {
        let r = &mut self.replicas[i];
        r.fetching = false;
        r.leo = r.leo.max(leo).min(leader_end);
        if r.leo == leader_end {
            r.in_sync = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(leos: [u64; 3]) -> ReplicaSet {
        let mut s = ReplicaSet::new(0, 3, 3);
        for (r, leo) in s.replicas.iter_mut().zip(leos) {
            r.leo = leo;
            r.flushed = leo;
        }
        s
    }

    #[test]
    fn a_crashed_node_keeps_only_what_it_flushed() {
        let mut s = ReplicaSet::new(0, 1, 1);
        s.replicas[0].leo = 10;
        s.flush(&[true]);
        s.replicas[0].leo = 15;
        let e = s.node_down(0, &[false], false).expect("leader down");
        assert_eq!(e.leader, None);
        assert_eq!(s.replicas[0].leo, 10);
        let back = s.elect(&[true], false);
        assert_eq!(back.truncate_to, Some(10));
    }

    #[test]
    fn high_watermark_is_the_slowest_in_sync_replica() {
        let mut s = set([10, 7, 9]);
        assert_eq!(s.high_watermark(), 7);
        s.replicas[1].in_sync = false;
        assert_eq!(s.high_watermark(), 9);
    }

    #[test]
    fn a_clean_election_truncates_to_the_new_leaders_log() {
        let mut s = set([10, 7, 9]);
        let up = [false, true, true];
        let e = s.node_down(0, &up, false).expect("leader was on node 0");
        assert_eq!(
            e,
            Election {
                leader: Some(1),
                truncate_to: Some(7),
                unclean: false
            }
        );
        assert!(s.replicas.iter().all(|r| r.leo <= 7));
    }

    #[test]
    fn without_unclean_election_the_last_in_sync_replica_is_awaited() {
        let mut s = set([10, 4, 4]);
        s.replicas[1].in_sync = false;
        s.replicas[2].in_sync = false;
        let up = [false, true, true];
        let e = s.node_down(0, &up, false).expect("leader down");
        assert_eq!(e.leader, None);
        assert!(s.replicas[0].in_sync, "the ISR never empties");
        let e = s.elect(&[true, true, true], false);
        assert_eq!(
            e,
            Election {
                leader: Some(0),
                truncate_to: Some(10),
                unclean: false
            }
        );
    }

    #[test]
    fn an_unclean_election_takes_the_longest_live_log() {
        let mut s = set([10, 4, 6]);
        s.replicas[1].in_sync = false;
        s.replicas[2].in_sync = false;
        let e = s
            .node_down(0, &[false, true, true], true)
            .expect("leader down");
        assert_eq!(
            e,
            Election {
                leader: Some(2),
                truncate_to: Some(6),
                unclean: true
            }
        );
    }

    #[test]
    fn a_follower_rejoins_the_isr_when_caught_up() {
        let mut s = set([10, 4, 10]);
        s.replicas[1].in_sync = false;
        s.fetched(1, 8, 10);
        assert!(!s.replicas[1].in_sync);
        s.fetched(1, 10, 10);
        assert!(s.replicas[1].in_sync);
    }
}
