//! The end-of-run commit rule: when the run ends (drained, or the drain period over), every
//! live consumer closes gracefully and commits what it has processed, as
//! `KafkaConsumer.close()` commits with auto-commit and a Kafka Streams task commits on
//! close (on a queue: the batched deletes and acks are sent). A member that cannot commit
//! (crashed, or cut off, and not yet expired from its group) leaves its transactions open:
//! under exactly-once they abort, so their copies are in flight, never processed.
//! Touches only commit state and the ledger: no event is scheduled, nothing is fetched.

use super::Engine;
use crate::consumer::Store;
use crate::scenario::Delivery;

impl Engine {
    /// Applies the end-of-run commit rule to every group.
    pub(super) fn close_consumers(&mut self) {
        for g in 0..self.groups.len() as u32 {
            if !self.groups[g as usize].commits_after_processing() {
                continue;
            }
            match self.groups[g as usize].store {
                Store::Log(_) => self.close_log_group(g),
                Store::Queue(_) => self.close_queue_group(g),
            }
        }
        if self.pipeline.on {
            self.stage_close();
        }
    }

    fn live(&self, i: u32) -> bool {
        let inst = &self.instances[i as usize];
        inst.up && inst.reachable
    }

    fn close_log_group(&mut self, g: u32) {
        let group = &self.groups[g as usize];
        let Store::Log(parts) = &group.store else {
            return;
        };
        let first = group.first;
        // (partition, committed, done, owner live)
        let open: Vec<(u32, u64, u64, bool)> = parts
            .iter()
            .enumerate()
            .filter(|(_, gp)| gp.done > gp.committed)
            .map(|(p, gp)| {
                let live = gp.owner.is_some_and(|o| self.live(first + o));
                (p as u32, gp.committed, gp.done, live)
            })
            .collect();
        let exactly_once = group.delivery == Delivery::ExactlyOnce;
        let topic = group.topic as usize;
        for (p, committed, done, live) in open {
            if live {
                self.commit_partition(g, p, done);
            } else if exactly_once {
                let msgs: Vec<crate::message::Msg> = self.topics[topic].partitions[p as usize]
                    .iter_from(committed)
                    .take((done - committed) as usize)
                    .copied()
                    .collect();
                for m in msgs {
                    self.roll_back(g, m);
                }
            }
        }
    }

    fn close_queue_group(&mut self, g: u32) {
        // A crashed or cut-off member's batch was already given back when it left.
        let live: Vec<u32> = self.groups[g as usize]
            .instances()
            .filter(|&i| self.live(i))
            .collect();
        for i in live {
            let pending = std::mem::take(&mut self.instances[i as usize].pending);
            let group = &mut self.groups[g as usize];
            let Store::Queue(q) = &mut group.store else {
                return;
            };
            for a in &pending {
                group.ledger.commit(a.msg.id);
                q.delete(a.slot, a.receipt);
            }
            group.lag = q.len();
            if self.is_stage(g) {
                for a in &pending {
                    self.stage_committed(g, a.msg.id);
                }
            }
            if self.tracing() {
                self.trace_acks(
                    g,
                    &pending,
                    "sent as the consumer closed at the end of the run",
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Scenario;

    /// An exactly-once group whose `commit_interval` outlasts the run, on `model`.
    fn scenario(model: &str, extra: &str) -> Scenario {
        let text = format!(
            r#"
name = "close"
duration = "2s"
drain = "1s"
[broker]
model = "{model}"
[[topic]]
name = "t"
partitions = {parts}
[[producer]]
name = "p"
topic = "t"
rate = 200
partitioner = "round-robin"
[[consumer]]
group = "g"
topic = "t"
instances = 2
service_time = "exp(2ms)"
delivery = "exactly-once"
commit_interval = "60s"
{extra}
"#,
            parts = if model == "log" { 2 } else { 1 }
        );
        Scenario::from_toml(&text, "close.toml").expect("valid")
    }

    fn run(s: &Scenario) -> Engine {
        let mut e = Engine::new(s, 3);
        while e.step() {}
        e
    }

    /// Copies whose side effect is applied but not committed.
    fn uncommitted(e: &Engine) -> usize {
        let ledger = &e.groups[0].ledger;
        (0..ledger.len() as u32)
            .filter(|&id| ledger.applied(id) > 0 && !ledger.committed(id))
            .count()
    }

    #[test]
    fn live_consumers_commit_when_the_run_ends() {
        for model in ["log", "queue"] {
            let e = run(&scenario(model, ""));
            let r = e.summary();
            assert!(r.messages.processed > 300, "{model}: {:?}", r.messages);
            assert_eq!(uncommitted(&e), 0, "{model}: processed yet never committed");
            assert_eq!(e.snapshot().groups[0].lag, 0, "{model}: lag after close");
        }
    }

    #[test]
    fn a_silent_members_open_transaction_is_in_flight_not_processed() {
        // Crashed at 1s for good; its session (10s) outlasts the run, so its partitions'
        // transactions are neither committed nor yet aborted by the group.
        let faults = "session_timeout = \"10s\"\n[[fault]]\nat = \"1s\"\nkind = \"crash\"\ntarget = \"g/0\"\n";
        let e = run(&scenario("log", faults));
        let r = e.summary();
        let m = r.messages;
        assert_eq!(uncommitted(&e), 0, "{m:?}");
        assert!(
            m.in_flight > 0,
            "the crashed member's work counts processed: {m:?}"
        );
        assert_eq!((m.lost, m.duplicated), (0, 0), "{m:?}");
        assert!(r.conservation_ok, "{m:?}");
    }
}
