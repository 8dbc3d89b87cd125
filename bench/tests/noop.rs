//! The in-process no-op broker (`--broker noop`): no server, so these always run. What a
//! copy cut short becomes is decided by the driver; forgotten, the census calls it lost.

mod common;

use common::bench_with;
use mqlab_bench::{BenchResult, BrokerKind};
use mqlab_sim::{Engine, Scenario};

/// One consumer, always busy: 20 ms a message at 200 a second, so it has a message in
/// hand whenever the run ends, and a backlog the drain cannot clear.
const BUSY: &str = r#"
name = "always-busy"
seed = 3
duration = "2s"
drain = "1s"
[broker]
model = "log"
[[topic]]
name = "t"
partitions = 1
[[producer]]
name = "p"
topic = "t"
rate = 200
[[consumer]]
group = "g"
topic = "t"
instances = 1
service_time = "20ms"
delivery = "at-least-once"
"#;

/// The workload through the no-op broker (`bench_with` spawns nothing for it).
fn noop(src: &str) -> (BenchResult, Scenario) {
    bench_with(src, BrokerKind::Noop, None, None)
}

/// The copy in service when the drain ends is in flight, as the model counts it; the
/// driver forgot it and the census called it lost (1 lost, against the model's 0).
#[test]
fn noop_copy_in_hand_at_the_stop_is_in_flight_not_lost() {
    let (r, sc) = noop(BUSY);
    let model = Engine::new(&sc, sc.seed).run();
    let (m, e) = (&r.summary.messages, &model.messages);
    assert_eq!(m.lost, 0, "{m:?}");
    assert_eq!(e.lost, 0, "the model loses nothing either: {e:?}");
    assert!(m.in_flight > 100, "a backlog the drain cannot clear: {m:?}");
    assert_eq!(
        m.processed + m.in_flight,
        m.copies,
        "every copy placed: {m:?}"
    );
    assert!(r.summary.conservation_ok);
}

/// A crash in service cuts the copy in hand; the no-op broker keeps nothing to deliver
/// again, so it is dropped by name, never lost.
#[test]
fn noop_copy_in_hand_at_a_crash_is_dropped_by_name() {
    let src = format!("{BUSY}[[fault]]\nat = \"1s\"\nkind = \"crash\"\ntarget = \"g\"\n");
    let (r, _) = noop(&src);
    let m = &r.summary.messages;
    assert_eq!(m.lost, 0, "{m:?}");
    // Down for good, it takes nothing more: the rest waits in flight (it took and
    // dropped every copy published while it was down). At most the one in hand is cut:
    // none when a service ended within the thread's wake-up of the crash (real time,
    // 20 ms services back to back; a loaded CI host once woke the consumer after both),
    // so the copies delivered are the processed and the one cut, if any.
    assert!(m.dropped <= 1, "{m:?}");
    assert_eq!(m.delivered, m.processed + m.dropped, "{m:?}");
    assert!(m.in_flight > 100, "{m:?}");
    let cut = (m.dropped == 1).then_some(&1);
    assert_eq!(
        r.summary.dropped_by_reason.get("consumer-crashed"),
        cut,
        "{:?}",
        r.summary.dropped_by_reason
    );
    assert!(r.summary.conservation_ok);
}
