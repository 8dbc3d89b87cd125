//! The memory guard: a run whose modelled system stops keeping up (a resend storm, an
//! overload with unbounded buffers) holds more messages with every simulated second, and
//! would be killed by the kernel once the machine's memory is gone, hours in and with
//! nothing said. The up-front estimate (`Scenario::ledger_bytes_estimate`) cannot see a
//! storm coming, so the engine weighs what it holds at each fold look — the references
//! to messages that are not final yet, which `lowest_live` counts anyway, the pending
//! events and the windowed tables — and stops the run at the first look that finds more
//! than half its budget (the half a margin for what the weights miss). Looks are spaced
//! by what is held, so as a run nears its budget they come closer together, at most
//! half the headroom apart. A run that fits never notices (nothing on the per-event path
//! changes, and when a fold looks changes no result), so the guard cannot change a
//! result, only replace an out-of-memory kill with a reason.

use super::Engine;
use crate::time::SimTime;

/// Bytes one held reference costs, measured: a storm's process grew by 53 to 120 bytes a
/// reference (`saga.toml` with one instance per service and a 200ms step timeout, from
/// 1M to 11M held; at three times its load, to 92M), the message and its request, queue
/// slot and ledger entries. The larger figure, so that the estimate errs towards
/// stopping early.
const HELD_BYTES: u64 = 128;

/// A log's retained entry is the message alone, in the partition's ring: mm1 with an hour's
/// retention held 5M entries in 148 MB, ledger and all.
const RETAINED_BYTES: u64 = std::mem::size_of::<crate::message::Msg>() as u64;

/// A pending event: its 32-byte entry, in a buffer that doubles as it grows. (The event
/// queue's calendar adds its slots, at most 65,536 of them, each a `Vec` header and room
/// for at most 16 entries beyond what its bucket holds: about 35 MB at most.)
const EVENT_BYTES: u64 = 64;

/// Bytes of held messages past which the run stops, and why it stopped (boxed: the
/// engine's hot fields stay as they were).
#[derive(Debug)]
pub(super) struct Guard {
    budget: u64,
    /// Each topic's held bytes at its latest look.
    weights: Vec<u64>,
    stopped: Option<Box<Stopped>>,
}

impl Default for Guard {
    fn default() -> Guard {
        Guard {
            budget: u64::MAX,
            weights: Vec::new(),
            stopped: None,
        }
    }
}

/// Why a run was stopped before its end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stopped {
    /// When, in simulated time.
    pub at: SimTime,
    /// The topic whose fold look found it.
    pub topic: String,
    /// That topic's messages referenced and not final yet (queued, in flight,
    /// unacknowledged, awaited, retained by the log), counted per reference.
    pub held: u64,
    /// What the run holds in memory, estimated: every topic's held messages, the pending
    /// events and the windowed tables.
    pub bytes: u64,
    /// What the run was allowed.
    pub budget: u64,
}

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (queued, in flight, unacknowledged, awaited or retained); the run holds \
             about {}, past half \
             of the {} it may use \
             (MQLAB_MEMORY_LIMIT, else the available memory). A backlog that keeps growing \
             means the modelled system is not keeping up (an overload, or resends feeding \
             on a backlog): lower a rate (--load below 1), shorten the run or give the slow \
             stage more capacity; a long retention holds every message it keeps",
            self.short(),
            in_units(self.bytes),
            in_units(self.budget)
        )
    }
}

impl std::error::Error for Stopped {}

impl Stopped {
    /// Where and what: the message up to the count, without the budget and the advice.
    #[must_use]
    pub fn short(&self) -> String {
        format!(
            "stopped at {} simulated: topic `{}` holds {} messages not final yet",
            self.at, self.topic, self.held
        )
    }
}

/// `1.48 GB`, or `15 MB` below a gigabyte.
fn in_units(bytes: u64) -> String {
    if bytes >= 1_000_000_000 {
        format!("{:.2} GB", bytes as f64 / 1e9)
    } else {
        format!("{:.0} MB", bytes as f64 / 1e6)
    }
}

impl Engine {
    /// Lets the run hold about `bytes` of messages at most: past that it stops (see
    /// `run_within`).
    pub fn limit_memory(&mut self, bytes: u64) {
        self.guard.budget = bytes;
    }

    /// Why the run stopped early, if it did.
    #[must_use]
    pub fn stopped(&self) -> Option<&Stopped> {
        self.guard.stopped.as_deref()
    }

    /// `run` under a memory budget: the result, or why the run was stopped before its
    /// end (the result would describe a run cut short, so it is not given).
    pub fn run_within(mut self, bytes: u64) -> Result<crate::summary::RunSummary, Stopped> {
        self.limit_memory(bytes);
        while self.step_inline() {}
        match self.guard.stopped.take() {
            Some(s) => Err(*s),
            None => Ok(self.summary()),
        }
    }

    /// At a fold look of topic `t`, which found `held` references: stops the run if what
    /// it holds is past half its budget. Each topic's weight is from its own
    /// latest look; the pending events (a timer per request in flight) and the windowed
    /// tables are weighed now.
    ///
    /// Returns how many messages the next look may wait for at most: half the headroom
    /// left at `HELD_BYTES` a message, so that looks come closer together as the run nears
    /// its budget (a storm held 4.9 GB at one look and was past 13.9 GB before the next,
    /// spaced by what it held) and a handful of them bracket the stop.
    pub(super) fn weigh(&mut self, t: u32, held: usize) -> usize {
        let held = held as u64;
        let retained: u64 = self.topics[t as usize]
            .partitions
            .iter()
            .map(|p| p.end - p.base())
            .sum::<u64>()
            .min(held);
        let weights = &mut self.guard.weights;
        weights.resize(self.topics.len(), 0);
        weights[t as usize] = retained * RETAINED_BYTES + (held - retained) * HELD_BYTES;
        let bytes = weights.iter().sum::<u64>()
            + self.queue.len() as u64 * EVENT_BYTES
            + self.window_bytes() as u64;
        let half = self.guard.budget / 2;
        if self.guard.stopped.is_some() || bytes <= half {
            let headroom = (half - bytes.min(half)) / HELD_BYTES / 2;
            return usize::try_from(headroom).unwrap_or(usize::MAX);
        }
        let stopped = Stopped {
            at: self.now,
            topic: self.topics[t as usize].name.clone(),
            held,
            bytes,
            budget: self.guard.budget,
        };
        // For whoever watches the run's log (the dashboard's log panel).
        let line = format!("memory guard: {}", stopped.short());
        self.guard.stopped = Some(Box::new(stopped));
        self.note(super::LogKind::Phase, line);
        // `step` pops nothing after the end: the events of this instant run, then the
        // run finishes as a run whose drain ran out does.
        self.end = self.now;
        usize::MAX
    }
}

#[cfg(test)]
mod tests {
    use crate::Engine;
    use crate::scenario::Scenario;

    /// `saga.toml` as its description says to break it: one instance per service and a
    /// 200ms step timeout, so the inventory crash starts a resend storm that grows for
    /// the rest of the run.
    fn storm() -> Scenario {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/saga.toml");
        let text = std::fs::read_to_string(&path).expect("saga.toml");
        let text = text
            .replace("instances = 4", "instances = 1")
            .replace("step_timeout = \"500ms\"", "step_timeout = \"200ms\"");
        assert!(text.contains("instances = 1") && text.contains("\"200ms\""));
        Scenario::from_toml(&text, "storm.toml").expect("valid")
    }

    fn mm1() -> Scenario {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/mm1.toml");
        let text = std::fs::read_to_string(&path).expect("mm1.toml");
        Scenario::from_toml(&text, "mm1.toml").expect("valid")
    }

    fn engine(sc: &Scenario) -> Engine {
        let mut e = Engine::new(sc, sc.seed);
        // Looks every 1,024 messages, as a long run's would every 65,536.
        e.fold_every(1024);
        e
    }

    #[test]
    fn a_storm_is_stopped_where_it_outgrows_its_budget() {
        let sc = storm();
        let budget = 4_000_000;
        let s = engine(&sc)
            .run_within(budget)
            .expect_err("the storm outgrows 4 MB");
        assert_eq!(s.topic, "order.inventory", "the storming topic is named");
        assert!(2 * s.bytes > budget, "{s}");
        assert!(
            s.bytes <= budget + budget / 2,
            "the first look past half: {s}"
        );
        assert!(s.held > 1_000, "{s}");
        // The storm starts with the inventory crash at 18s; the run ends at 60s.
        let end = sc.duration + sc.drain;
        assert!(s.at.0 > 18_000_000_000 && s.at.0 < end.0, "{s}");
        assert!(s.to_string().contains("order.inventory"));
        // A budget it fits in: the full run.
        assert!(engine(&sc).run_within(1 << 40).is_ok());
    }

    #[test]
    fn a_run_that_fits_is_not_changed_by_its_budget() {
        for sc in [storm(), mm1()] {
            let free = engine(&sc).run();
            let within = engine(&sc).run_within(1 << 40).expect("fits");
            assert_eq!(free, within);
        }
        // mm1 holds a handful of messages at a time: a small budget does not stop it.
        let sc = mm1();
        assert!(engine(&sc).run_within(1_000_000).is_ok());
    }
}
