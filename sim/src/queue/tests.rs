//! The queue on its own, and its visibility timer as the engine drives it.

use super::*;
use crate::time::SimDuration;

fn msg(id: u32) -> Msg {
    Msg::numbered(id)
}

/// A queue of classes by producer 0..3 = class 0..3, holding `per` of each.
fn classes(weights: Vec<u32>, per: u32) -> SqsQueue {
    let mut q = SqsQueue::default();
    q.make_priority(vec![0, 1, 2, 3], weights);
    for id in 0..4 * per {
        let mut m = msg(id);
        m.producer = (id % 4) as u16;
        q.send(m);
    }
    q
}

fn served(q: &mut SqsQueue, n: usize) -> Vec<u16> {
    (0..n)
        .map(|_| {
            let i = q.pop_visible().expect("visible");
            q.slot(i).msg.producer
        })
        .collect()
}

#[test]
fn strict_priority_serves_the_highest_class_first() {
    let mut q = classes(Vec::new(), 2);
    assert_eq!(served(&mut q, 8), [3, 3, 2, 2, 1, 1, 0, 0]);
}

#[test]
fn weighted_round_robin_serves_classes_by_weight_and_skips_empty_ones() {
    let mut q = classes(vec![1, 1, 2, 4], 8);
    let first = served(&mut q, 8);
    let count = |c: u16| first.iter().filter(|&&x| x == c).count();
    assert_eq!([count(0), count(1), count(2), count(3)], [1, 1, 2, 4]);
    // Class 3 runs out after 8: the rest share by their own weights.
    let mut q = classes(vec![1, 1, 2, 100], 2);
    assert_eq!(served(&mut q, 8).iter().filter(|&&x| x == 3).count(), 2);
}

#[test]
fn an_undeleted_message_reappears_after_its_visibility_timeout() {
    let mut q = SqsQueue::default();
    q.send(msg(1));
    let i = q.pop_visible().unwrap();
    let receipt = q.receive(i, SimTime(10));
    assert!(!q.has_visible());
    assert_eq!(q.expire(SimTime(9)), 0);
    assert_eq!(q.expire(SimTime(10)), 1);
    assert!(q.has_visible());
    // The old receipt no longer deletes it (SQS wants the latest receipt handle).
    let j = q.pop_visible().unwrap();
    let newer = q.receive(j, SimTime(20));
    assert!(!q.delete(i, receipt));
    assert!(q.delete(j, newer));
    assert!(q.is_empty());
}

#[test]
fn a_deleted_message_does_not_come_back() {
    let mut q = SqsQueue::default();
    q.send(msg(1));
    let i = q.pop_visible().unwrap();
    let r = q.receive(i, SimTime::ZERO + SimDuration(5));
    assert!(q.delete(i, r));
    assert_eq!(q.expire(SimTime(100)), 0);
    assert_eq!(q.len(), 0);
}

#[test]
fn a_stale_receipt_never_deletes_the_next_message_in_a_reused_slot() {
    let mut q = SqsQueue::default();
    q.send(msg(1));
    let i = q.pop_visible().unwrap();
    let old = q.receive(i, SimTime(10));
    q.remove(i);
    q.send(msg(2));
    assert!(!q.delete(i, old));
    assert_eq!(q.expire(SimTime(10)), 0);
    assert_eq!(q.len(), 1);
}

#[test]
fn a_fifo_queue_holds_a_groups_next_message_until_the_first_is_deleted() {
    let mut q = SqsQueue::default();
    q.make_fifo(2);
    let keyed = |id, key| Msg { key, ..msg(id) };
    q.send(keyed(1, 0));
    q.send(keyed(2, 0));
    q.send(keyed(3, 1));
    let a = q.pop_visible().unwrap();
    let ra = q.receive(a, SimTime(10));
    // Group 0 is busy: the next receive skips to group 1.
    let b = q.pop_visible().unwrap();
    assert_eq!(q.slot(b).msg.id, 3);
    assert_eq!(q.pop_visible(), None);
    assert!(q.delete(a, ra));
    let next = q.pop_visible().unwrap();
    assert_eq!(q.slot(next).msg.id, 2);
}

#[test]
fn a_fifo_message_that_times_out_comes_back_before_its_successors() {
    let mut q = SqsQueue::default();
    q.make_fifo(1);
    q.send(msg(1));
    q.send(msg(2));
    let a = q.pop_visible().unwrap();
    q.receive(a, SimTime(10));
    assert_eq!(q.expire(SimTime(10)), 1);
    let back = q.pop_visible().unwrap();
    assert_eq!(q.slot(back).msg.id, 1);
}

#[test]
fn drop_oldest_takes_the_head() {
    let mut q = SqsQueue::default();
    q.send(msg(1));
    q.send(msg(2));
    assert_eq!(q.drop_oldest().map(|m| m.id), Some(1));
    assert_eq!(q.len(), 1);
}

/// Sends `n` messages and receives each at time `k` with a lease to `k + 10`.
fn leased(n: u32) -> (SqsQueue, Vec<(u32, u32)>) {
    let mut q = SqsQueue::default();
    let held = (0..n)
        .map(|k| {
            q.send(msg(k));
            let i = q.pop_visible().unwrap();
            (i, q.receive(i, SimTime(u64::from(k) + 10)))
        })
        .collect();
    (q, held)
}

#[test]
fn the_timer_is_armed_at_the_earliest_live_lease_only() {
    let (mut q, held) = leased(3);
    // The two oldest were deleted: their timeouts would expire nothing.
    assert!(q.delete(held[0].0, held[0].1));
    assert!(q.delete(held[1].0, held[1].1));
    assert_eq!(q.arm_timer(), Some(SimTime(12)));
    assert_eq!(q.arm_timer(), None, "armed once");
    assert_eq!(q.expire(SimTime(12)), 1);
    assert_eq!(q.arm_timer(), None, "no lease left to time");
}

#[test]
fn deletes_keep_the_timeouts_as_few_as_the_leases_behind_the_oldest_live_one() {
    let (mut q, held) = leased(1000);
    for &(i, receipt) in &held[..999] {
        assert!(q.delete(i, receipt));
    }
    assert_eq!(q.expiry.len(), 1);
    assert_eq!(q.arm_timer(), Some(SimTime(1009)));
}

#[test]
fn a_lease_put_back_or_received_again_no_longer_arms_the_timer() {
    let (mut q, held) = leased(2);
    // Back at the head (a closed channel, a nack), then received again later.
    assert!(q.requeue(held[0].0, held[0].1));
    let i = q.pop_visible().unwrap();
    assert_eq!(i, held[0].0);
    q.receive(i, SimTime(50));
    assert_eq!(q.arm_timer(), Some(SimTime(11)));
    assert_eq!(q.expire(SimTime(11)), 1);
    assert_eq!(q.arm_timer(), Some(SimTime(50)));
}

#[test]
fn an_old_lease_on_a_reused_slot_arms_nothing_for_the_slots_next_message() {
    let (mut q, held) = leased(2);
    let (slot, _) = held[0];
    q.remove(slot);
    q.send(msg(7));
    assert_eq!(q.slot(slot).msg.id, 7, "the slot was reused");
    // The slot's old lease (until 10) is not the new message's: only message 1's counts.
    assert_eq!(q.arm_timer(), Some(SimTime(11)));
    assert_eq!(q.expire(SimTime(11)), 1);
    assert!(q.slot(slot).visible);
    assert_eq!(q.arm_timer(), None);
}

/// A run of one consumer that serves every message in 1ms and fails the two poison
/// messages of `POISON` (which SQS does not delete: they come back when their lease runs
/// out): each message's trace.
const POISON: &str = r#"
    name = "lease"
    duration = "2s"
    drain = "60s"
    [broker]
    model = "queue"
    visibility_timeout = "1005ms"
    max_receives = 3
    [[topic]]
    name = "q"
    [[producer]]
    name = "p"
    topic = "q"
    rate = 50
    arrival = "constant"
    [[consumer]]
    group = "g"
    topic = "q"
    service_time = "1ms"
    max_retries = 0
    [[fault]]
    at = "500ms"
    kind = "poison"
    target = "p"
    count = 2
"#;

#[test]
fn a_failed_message_comes_back_exactly_when_its_lease_runs_out_however_many_ended_before() {
    let s = crate::Scenario::from_toml(POISON, "lease.toml").unwrap();
    let vt = SimDuration(1_005_000_000);
    let produced = crate::Engine::new(&s, 1).run().messages.produced;
    assert!(produced > 50, "{produced}");
    let mut failed = 0;
    for id in 0..produced as u32 {
        let mut e = crate::Engine::new(&s, 1);
        let spec = crate::engine::TraceSpec {
            message: id,
            ..Default::default()
        };
        e.trace(&spec).unwrap();
        while e.step() {}
        let history = e.history().unwrap();
        let at = |event: &str| -> Vec<SimTime> {
            history
                .iter()
                .filter(|h| h.event == event)
                .map(|h| h.at)
                .collect()
        };
        let received: Vec<SimTime> = [at("delivered"), at("redelivered")].concat();
        let dead = at("dead_lettered");
        if dead.is_empty() {
            // Deleted after its one receive, long before its lease would end.
            assert_eq!(received.len(), 1, "message {id}: {history:#?}");
            continue;
        }
        failed += 1;
        // Arrivals come every 20ms and take 1ms, and the lease is 1005ms: the consumer is
        // idle whenever a lease ends, so the message is received again at that instant,
        // and redriven at the receive after `max_receives`.
        let r = received[0];
        assert_eq!(received, [r, r + vt, r + vt + vt], "message {id}");
        assert_eq!(dead, [r + vt + vt + vt], "message {id}");
    }
    assert_eq!(failed, 2, "both poison messages failed");
}

/// The definition the lines must keep: one line of visible messages, oldest first (a
/// message put back, or a FIFO message whose lease ran out, goes to its head). With
/// classes, the class to serve is picked among those waiting and its oldest taken; FIFO,
/// the oldest whose group has nothing in flight. Either found by walking the line.
struct OneLine {
    line: VecDeque<u32>,
    /// By slot: its class (or FIFO group).
    line_of: Vec<u8>,
    /// With classes.
    picker: Option<Classes>,
    /// FIFO: by group, one of its messages is in flight.
    locked: Vec<bool>,
    fifo: bool,
}

impl OneLine {
    fn pop(&mut self) -> Option<u32> {
        let of = |v: u32| self.line_of[v as usize];
        let at = match &mut self.picker {
            Some(picker) => {
                let waiting = self.line.iter().fold(0u8, |w, &v| w | 1 << of(v));
                if waiting == 0 {
                    return None;
                }
                let pick = picker.pick(waiting);
                self.line.iter().position(|&v| of(v) == pick)?
            }
            None if !self.fifo => 0,
            None => {
                let at = self
                    .line
                    .iter()
                    .position(|&v| !self.locked[of(v) as usize])?;
                self.locked[of(self.line[at]) as usize] = true;
                at
            }
        };
        self.line.remove(at)
    }
}

/// Runs `ops` on a queue with classes (`weights` as given, strict when none), FIFO over
/// four groups (`fifo`), or neither (`weights` none), and on the walked line, and holds
/// every receive, drop and count equal.
fn lines_against_one_line(
    fifo: bool,
    weights: Option<Vec<u32>>,
    ops: Vec<(u8, u8)>,
) -> Result<(), proptest::test_runner::TestCaseError> {
    let mut q = SqsQueue::default();
    let picker = weights.clone().map(|weights| Classes {
        of_producer: vec![0, 1, 2, 3],
        credit: vec![0; weights.len()],
        weights,
    });
    if fifo {
        q.make_fifo(4);
    } else if let Some(weights) = weights {
        q.make_priority(vec![0, 1, 2, 3], weights);
    }
    let mut model = OneLine {
        line: VecDeque::new(),
        line_of: Vec::new(),
        picker,
        locked: vec![false; 4],
        fifo,
    };
    // Received and not yet settled: (slot, receipt), oldest first.
    let mut held: VecDeque<(u32, u32)> = VecDeque::new();
    // Received, and the lease ran out: the consumer may still delete it, late.
    let mut late: Vec<(u32, u32)> = Vec::new();
    let (mut now, vt) = (SimTime::ZERO, SimDuration::from_millis(10));
    let mut id = 0;
    for (op, arg) in ops {
        now += SimDuration::from_millis(1);
        match op {
            0 | 1 => {
                let mut m = msg(id);
                id += 1;
                // Its class by producer, or its FIFO group by key.
                m.producer = u16::from(arg);
                m.key = arg.into();
                q.send(m);
                let slot = (0..q.slots.len() as u32)
                    .find(|&s| q.slots[s as usize].live && q.slots[s as usize].msg.id == m.id)
                    .expect("sent");
                if model.line_of.len() <= slot as usize {
                    model.line_of.resize(slot as usize + 1, 0);
                }
                model.line_of[slot as usize] = arg;
                model.line.push_back(slot);
            }
            2 => {
                let got = q.pop_visible();
                proptest::prop_assert_eq!(got, model.pop());
                if let Some(slot) = got {
                    held.push_back((slot, q.receive(slot, now + vt)));
                }
            }
            3 => {
                if let Some((slot, receipt)) = held.pop_front() {
                    let group = model.line_of[slot as usize] as usize;
                    if arg % 2 == 0 {
                        if q.delete(slot, receipt) {
                            model.locked[group] = false;
                        }
                    } else if q.requeue(slot, receipt) {
                        model.line.push_front(slot);
                        model.locked[group] = false;
                    }
                }
            }
            4 => {
                // Leases that ran out come back in the order they ran out: at the tail,
                // or FIFO at the head (each still its group's oldest).
                let due: Vec<u32> = q
                    .expiry
                    .iter()
                    .filter(|&&(at, s, r)| at <= now && q.leased(s, r))
                    .map(|&(_, s, _)| s)
                    .collect();
                q.expire(now);
                late.extend(held.iter().filter(|(s, _)| due.contains(s)));
                for &s in &due {
                    if fifo {
                        model.line.push_front(s);
                        model.locked[model.line_of[s as usize] as usize] = false;
                    } else {
                        model.line.push_back(s);
                    }
                }
                held.retain(|(s, _)| !due.contains(s));
            }
            5 => {
                // A late delete: it takes the message wherever it waits in line, unless
                // it was received again meanwhile (a new receipt).
                if !late.is_empty() {
                    let (slot, receipt) = late.remove(usize::from(arg) % late.len());
                    if q.delete(slot, receipt) {
                        model.line.retain(|&v| v != slot);
                    }
                }
            }
            _ => {
                let dropped = q.drop_oldest().map(|m| m.id);
                let want = model.line.pop_front().map(|s| q.slots[s as usize].msg.id);
                proptest::prop_assert_eq!(dropped, want);
            }
        }
        proptest::prop_assert_eq!(q.ready(), model.line.len() as u64);
    }
    Ok(())
}

proptest::proptest! {
    /// Sends from four classes, receives, deletes, messages put back at the head, leases
    /// running out, late deletes and the oldest dropped, in any interleaving: the queue serves exactly
    /// the messages, in exactly the order, that one walked line would, strict or weighted.
    #[test]
    fn per_class_lines_serve_as_one_walked_line_would(
        weighted in proptest::bool::ANY,
        ops in proptest::collection::vec((0u8..7, 0u8..4), 1..300),
    ) {
        let weights = if weighted { vec![1, 3, 2, 5] } else { Vec::new() };
        lines_against_one_line(false, Some(weights), ops)?;
    }

    /// The same for a FIFO queue over four message groups: a group's next message only
    /// once the one in flight is deleted or back.
    #[test]
    fn per_group_lines_serve_as_one_walked_line_would(
        ops in proptest::collection::vec((0u8..7, 0u8..4), 1..300),
    ) {
        lines_against_one_line(true, None, ops)?;
    }

    /// And for the plain queue, one line first come, first served, whose late deletes
    /// leave their entries behind until they reach the front.
    #[test]
    fn the_plain_line_serves_first_come_first_served_through_late_deletes(
        ops in proptest::collection::vec((0u8..7, 0u8..4), 1..300),
    ) {
        lines_against_one_line(false, None, ops)?;
    }
}
