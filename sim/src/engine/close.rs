//! The end-of-run commit rule: when the run ends (drained, or the drain period over), every
//! live consumer closes gracefully and commits what it has processed, as
//! `KafkaConsumer.close()` commits with auto-commit and a Kafka Streams task commits on
//! close (on a queue: the batched deletes and acks are sent). A member that cannot commit
//! (crashed, or cut off, and not yet expired from its group) leaves its transactions open:
//! under exactly-once they abort, so their copies are in flight, never processed.
//! Each broker model's `close` (`models/`) does it its way.
//! Touches only commit state and the ledger: no event is scheduled, nothing is fetched.

use super::Engine;

impl Engine {
    /// Applies the end-of-run commit rule to every group.
    pub(super) fn close_consumers(&mut self) {
        for g in 0..self.groups.len() as u32 {
            if !self.groups[g as usize].commits_after_processing() {
                continue;
            }
            self.model_close(g);
        }
        if self.pipeline.on {
            self.stage_close();
        }
    }

    /// Whether instance `i` can still commit (up and reachable).
    pub(super) fn live(&self, i: u32) -> bool {
        let inst = &self.instances[i as usize];
        inst.up && inst.reachable
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
