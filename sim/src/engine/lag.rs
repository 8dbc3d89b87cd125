//! A group's lag on the log: the messages it has not committed, the sum over partitions of
//! (log end offset − committed offset). It is kept as a running sum for the series and
//! `max_lag`, but moved only here, where a log end or a committed offset moves, by exactly
//! how far it moved, so it is that sum at every instant. (Adjusted instead at scattered
//! places by one per message it once went below zero: retention skipped an entry the very
//! append that brought it had not counted yet.)

use super::Engine;
use crate::consumer::Store;

impl Engine {
    /// Partition `p` of topic `t` grew by one entry: every group reading the topic lags
    /// one more; a group not reading yet (it starts at the latest offset) moves with the
    /// end, so it has nothing to catch up when it joins.
    #[inline]
    pub(super) fn log_grew(&mut self, t: u32, p: u32) {
        let end = self.topics[t as usize].partitions[p as usize].end;
        for k in 0..self.topics[t as usize].groups.len() {
            let g = self.topics[t as usize].groups[k];
            let group = &mut self.groups[g as usize];
            let reads = group.receives_now();
            let Store::Log(parts) = &mut group.store else {
                continue;
            };
            if reads {
                group.lag += 1;
            } else {
                let gp = &mut parts[p as usize];
                (gp.committed, gp.done, gp.position) = (end, end, end);
            }
        }
    }

    /// Moves group `g`'s committed offset in partition `p` to `to` (never past the log
    /// end), and its lag by as much; returns where it was.
    #[inline]
    pub(super) fn set_committed(&mut self, g: u32, p: u32, to: u64) -> u64 {
        #[cfg(debug_assertions)]
        {
            let end =
                self.topics[self.groups[g as usize].topic as usize].partitions[p as usize].end;
            assert!(to <= end, "committed offset {to} past the log end {end}");
        }
        let group = &mut self.groups[g as usize];
        let Store::Log(parts) = &mut group.store else {
            unreachable!("a log group")
        };
        let gp = &mut parts[p as usize];
        let from = std::mem::replace(&mut gp.committed, to);
        // lag ≥ end − from ≥ to − from: no step of this goes below zero.
        group.lag = group.lag + from - to;
        from
    }

    /// Counts group `g`'s lag afresh from the offsets (after a truncation moved log ends).
    pub(super) fn recount_lag(&mut self, g: u32) {
        let lag = self.lag_of_offsets(g);
        if let Some(lag) = lag {
            self.groups[g as usize].lag = lag;
        }
    }

    /// The sum over a log group's partitions of (log end − committed); `None` for a queue.
    pub(super) fn lag_of_offsets(&self, g: u32) -> Option<u64> {
        let group = &self.groups[g as usize];
        let Store::Log(parts) = &group.store else {
            return None;
        };
        let ends = &self.topics[group.topic as usize].partitions;
        Some(
            parts
                .iter()
                .zip(ends)
                .map(|(gp, part)| part.end - gp.committed)
                .sum(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Scenario;

    /// A generated scenario found the old bookkeeping going below zero: `block` parks the
    /// producer's requests for seconds, its 2 ms request timeout resends them, and a resend
    /// carries its first arrival, so with a 700 ms retention the append that brings it
    /// also expires it, before the append had counted it.
    const RESENDS_OLDER_THAN_RETENTION: &str = r#"
        name = "generated"
        duration = "3s"
        drain = "20s"
        [broker]
        nodes = 3
        replication = 2
        acks = "all"
        replica_lag = "exp(3ms)"
        capacity = 20
        on_full = "block"
        [network]
        latency = "exp(1us)"
        [[topic]]
        name = "t"
        partitions = PARTITIONS
        retention = "700ms"
        [[producer]]
        name = "p"
        topic = "t"
        rate = 153
        keys = 7
        request_timeout = "2ms"
        [[consumer]]
        group = "g"
        topic = "t"
        instances = 2
        service_time = "exp(100us)"
        commit_interval = "700ms"
        rebalance_pause = "30ms"
        [[consumer]]
        group = "late"
        topic = "t"
        start_at = "1s"
        offset_reset = "earliest"
        service_time = "exp(1ms)"
        DELIVERY
        [[fault]]
        at = "1500ms"
        kind = "broker-crash"
        target = "broker/0"
        duration = "200ms"
        [[fault]]
        at = "2s"
        kind = "crash"
        target = "g/1"
        duration = "300ms"
    "#;

    #[test]
    fn lag_is_the_uncommitted_offsets_at_every_step() {
        for (parts, delivery) in [
            (1, "at-least-once"),
            (3, "at-least-once"),
            (2, "at-most-once"),
            (2, "exactly-once"),
        ] {
            let text = RESENDS_OLDER_THAN_RETENTION
                .replace("PARTITIONS", &parts.to_string())
                .replace("DELIVERY", &format!("delivery = \"{delivery}\""));
            let s = Scenario::from_toml(&text, "lag.toml").expect("valid");
            for seed in 0..4 {
                let mut e = Engine::new(&s, seed);
                let mut steps = 0u64;
                while e.step() {
                    steps += 1;
                    for g in 0..e.groups.len() as u32 {
                        assert_eq!(
                            Some(e.groups[g as usize].lag),
                            e.lag_of_offsets(g),
                            "{parts} partition(s), {delivery}, seed {seed}, group {g}, \
                             step {steps} at {}",
                            e.now
                        );
                    }
                }
                assert!(steps > 1000, "the scenario ran: {steps} steps");
            }
        }
    }
}
