//! The end of a run: when `await_end` stops waiting.
use super::{Ctx, await_end, spawn_worker};
use mqlab_sim::Scenario;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const SRC: &str = r#"
name = "rejoin"
duration = "1s"
drain = "5s"
[broker]
model = "queue"
[[topic]]
name = "jobs"
[[producer]]
name = "p"
topic = "jobs"
rate = 10
[[consumer]]
group = "w"
topic = "jobs"
service_time = "1ms"
"#;

/// A copy still in the broker and no delivery for longer than the quiet period: the
/// run would end (and a restarted RabbitMQ's unread quorum queue would be counted
/// lost) while its consumer is still reconnecting. It ends only a quiet period after
/// the consumer is back.
#[test]
fn a_consumer_rejoining_after_a_restart_holds_the_end_past_the_quiet_period() {
    let sc = Scenario::from_toml(SRC, "rejoin.toml").expect("valid");
    let work = crate::schedule::workload(&sc, 1);
    let first = work.sends[0];
    let ctx = Ctx::new(sc, 1, work);
    ctx.producing.store(0, Ordering::SeqCst);
    ctx.start();
    ctx.books().published(&first, 0, true);
    let t = Instant::now();
    std::thread::scope(|s| {
        let back = ctx.rejoin();
        s.spawn(move || {
            std::thread::sleep(Duration::from_millis(400));
            drop(back);
        });
        await_end(&ctx, Duration::from_millis(50));
    });
    let took = t.elapsed();
    assert!(took >= Duration::from_millis(450), "ended after {took:?}");
    assert!(
        took < Duration::from_secs(4),
        "ended at the drain's end: {took:?}"
    );
}

/// Runs `await_end` on a thread of its own; how long it took, or `None` if it had
/// not returned within `limit` (a hang, reported instead of hanging the suite).
fn await_end_within(ctx: &std::sync::Arc<Ctx>, limit: Duration) -> Option<Duration> {
    let (tx, rx) = std::sync::mpsc::channel();
    let ctx = std::sync::Arc::clone(ctx);
    std::thread::spawn(move || {
        let t = Instant::now();
        await_end(&ctx, Duration::from_millis(50));
        let _ = tx.send(t.elapsed());
    });
    rx.recv_timeout(limit).ok()
}

fn ctx_with(drain: &str) -> std::sync::Arc<Ctx> {
    let src = SRC.replace("drain = \"5s\"", &format!("drain = \"{drain}\""));
    let sc = Scenario::from_toml(&src, "hang.toml").expect("valid");
    let work = crate::schedule::workload(&sc, 1);
    Ctx::new(sc, 1, work)
}

/// A consumer thread that panics (as one did when the books met two wall-clock times
/// out of order) while a producer is still counted as sending: the run stops at once,
/// marked partial and naming the thread, instead of waiting out a 10-minute drain.
#[test]
fn a_worker_that_panics_stops_the_run_marked_partial_naming_it() {
    let ctx = ctx_with("600s");
    ctx.start();
    let who = super::consumer_name(&ctx.sc, &super::instances(&ctx.sc, 1)[0]);
    let t = spawn_worker(&ctx, who, || panic!("a deliberate panic in a worker"));
    let took = await_end_within(&ctx, Duration::from_secs(20)).expect("await_end returned");
    assert!(t.join().is_err(), "the worker panicked");
    assert!(took < Duration::from_secs(10), "took {took:?}");
    let why = ctx
        .books()
        .partial
        .clone()
        .expect("the run is marked partial");
    assert!(why.contains("consumer w/0 panicked"), "{why}");
}

/// A producer stuck in a send (still counted as sending) does not hold the run past
/// the drain's end.
#[test]
fn the_drain_end_stops_the_run_with_a_producer_still_sending() {
    let ctx = ctx_with("1s");
    ctx.start();
    await_end_within(&ctx, Duration::from_secs(20)).expect("await_end returned");
    assert!(ctx.producing.load(Ordering::SeqCst) > 0);
    // On the run's own clock (the wall time of the thread that waited starts a little
    // after time zero).
    let ended = Duration::from_nanos(ctx.now_ns());
    assert!(
        ended >= Duration::from_secs(2),
        "ended before the drain's end: {ended:?}"
    );
    assert!(ctx.stopped());
}

/// A send given up is settled at once, and no other copy is: the run waits for the
/// copies the broker took. The books once counted a give-up out without counting it in,
/// so a producer that gave up sends ended the run with as many copies unprocessed.
#[test]
fn a_send_given_up_settles_itself_and_no_other_copy() {
    let ctx = ctx_with("5s");
    let (a, b) = (ctx.work.sends[0], ctx.work.sends[1]);
    let mut books = ctx.books();
    books.published(&a, 1, false);
    assert!(books.settled(), "the given-up copy is settled at once");
    books.published(&b, 2, true);
    assert!(!books.settled(), "the copy the broker took is not");
    // The server had taken the given-up one after all: processed, it is counted out
    // once, not again.
    books.apply(0, &a, 3, 4);
    assert!(!books.settled(), "the taken copy is still unprocessed");
    books.apply(0, &b, 5, 6);
    assert!(books.settled());
    assert_eq!(
        (books.groups[0].published, books.groups[0].finished),
        (2, 2)
    );
}
