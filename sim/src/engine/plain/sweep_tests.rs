//! The grid a sceptic would walk, on every test run: each broker model with each
//! `on_full`, a capacity that never fills, one that fills at once and one in between, and
//! each set of faults the plain path comes back from. The plain path must leave what the
//! generic path leaves at every point. The proptest beside it draws a dozen random points
//! in a debug build; this walks all 135, with the settings the grid does not name turned
//! in step with the point's index (each by its own divisor, so they do not move together).

use super::tests::{eligible, same_both_ways};
use crate::scenario::Scenario;

#[test]
fn every_model_on_full_capacity_and_fault_set_gives_the_same_summary_on_both_paths() {
    let mut k = 0usize;
    for model in 0..3 {
        for on_full in 0..3 {
            for capacity in [1_000_000u64, 3, 25] {
                for faults in 0..5 {
                    let text = eligible(
                        model,
                        1 + (k % 7) as u32,
                        1 + (k % 4) as u32,
                        1 + k % 2,
                        [300, 1500, 2800][(k / 11) % 3],
                        (k / 5) % 3,
                        (k / 2) % 4,
                        (k / 3) % 2,
                        (k / 4) % 2 == 1,
                        (k / 6) % 2 == 1,
                        1 + (k * 7 % 40) as u32,
                        capacity,
                        on_full,
                        (k / 9) % 2,
                        (k / 13) % 6,
                        (k / 7) % 3,
                        faults,
                    );
                    let s = Scenario::from_toml(&text, "sweep.toml").expect("a valid scenario");
                    let what = format!("grid point {k}:\n{text}");
                    assert!(
                        same_both_ways(&s, k as u64, &what),
                        "eligible, yet generic: {what}"
                    );
                    k += 1;
                }
            }
        }
    }
    assert_eq!(k, 135);
}

/// The queue lane's own receive (`plain/done_lanes.rs`) where it hands back to the
/// engine: leases shorter than the service, so messages come back and are redriven at
/// `max_receives`; long polling and short polling, so receives find the queue empty;
/// batches, which the lane leaves to the model; and crashes and a slow spell, which
/// leave the plain path and come back. Each point must leave what the generic path
/// leaves, and the grid must redrive and poll in vain somewhere, or it tested nothing.
#[test]
fn the_queue_lanes_receive_redrives_waits_and_polls_as_the_generic_path_does() {
    let (mut redriven, mut empty) = (0, 0);
    let mut k = 0u64;
    for vt in ["5ms", "30s"] {
        for max_receives in [1, 3] {
            for wait in [
                "",
                "wait_time = \"0\"\npoll_interval = \"3ms\"\n",
                "wait_time = \"50ms\"\n",
            ] {
                for batch in [1, 4] {
                    let text = format!(
                        r#"name = "lane"
duration = "3s"
drain = "3s"
[broker]
model = "queue"
visibility_timeout = "{vt}"
max_receives = {max_receives}
[[topic]]
name = "jobs"
[[producer]]
name = "p"
topic = "jobs"
rate = 500
[[consumer]]
group = "w"
topic = "jobs"
instances = 2
service_time = "exp(4ms)"
batch = {batch}
{wait}
[[fault]]
kind = "crash"
target = "w/0"
at = "1s"
duration = "300ms"
[[fault]]
kind = "slow"
target = "w"
at = "1500ms"
duration = "500ms"
factor = 3
"#
                    );
                    let s = Scenario::from_toml(&text, "lane.toml").expect("a valid scenario");
                    let what = format!("queue lane point {k}:\n{text}");
                    assert!(
                        same_both_ways(&s, k, &what),
                        "eligible, yet generic: {what}"
                    );
                    let summary = super::super::Engine::new(&s, k).run();
                    redriven += summary.messages.dead_lettered;
                    empty += summary.groups[0].empty_receives;
                    k += 1;
                }
            }
        }
    }
    assert!(
        redriven > 0 && empty > 0,
        "redriven {redriven}, empty receives {empty}"
    );
}

/// The queue lane's receive for RabbitMQ with `prefetch = 1`: a delivered message stops
/// counting against the ready-only length limit at the receive, which lets a blocked or
/// parked producer in again. Every `on_full` with a limit that fills, one or three
/// instances, a second group with a deeper prefetch that the lane leaves to the model,
/// and a crash and a slow spell that leave the plain path and come back. Each point must
/// leave what the generic path leaves, and some must have filled the queue.
#[test]
fn the_exchange_lanes_receive_frees_room_as_the_generic_path_does() {
    let (mut full, mut k) = (0, 0u64);
    for on_full in ["block", "reject", "drop-oldest"] {
        for capacity in [3, 40] {
            for (instances, second) in [(1, ""), (3, ""), (1, "\nprefetch = 5")] {
                let text = format!(
                    r#"name = "exchange-lane"
duration = "4s"
drain = "4s"
[broker]
model = "exchange"
capacity = {capacity}
on_full = "{on_full}"
[[topic]]
name = "jobs"
exchange = "direct"
[[producer]]
name = "p"
topic = "jobs"
routing_keys = ["job"]
rate = {rate}
[[consumer]]
group = "w"
topic = "jobs"
instances = {instances}
service_time = "exp(4ms)"
bindings = ["job"]
[[consumer]]
group = "v"
topic = "jobs"
service_time = "exp(1ms)"
bindings = ["job"]{second}
[[fault]]
kind = "crash"
target = "w/0"
at = "1s"
duration = "400ms"
[[fault]]
kind = "slow"
target = "w"
at = "2s"
duration = "1s"
factor = 3
"#,
                    rate = 300 * instances
                );
                let s = Scenario::from_toml(&text, "exchange-lane.toml").expect("valid");
                let what = format!("exchange lane point {k}:\n{text}");
                assert!(
                    same_both_ways(&s, k, &what),
                    "eligible, yet generic: {what}"
                );
                let summary = super::super::Engine::new(&s, k).run();
                full += u64::from(
                    summary.messages.dropped > 0 || summary.groups[0].max_lag >= capacity,
                );
                k += 1;
            }
        }
    }
    assert!(full > 0, "no point filled its queue");
}
