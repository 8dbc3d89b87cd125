//! An in-process no-op broker (`--broker noop`): each group's copies go through a
//! shared in-memory queue, so a run measures the driver alone — the seeded schedule, the
//! producer loop, encoding and decoding, the books under their lock, and the consumer
//! threads — with no network and no broker work. What a real run costs beyond this is the
//! client's and the broker's.
//!
//! It honours routing (each message goes to the groups the model routes it to) and the
//! delivery variants' accounting, and nothing else: no limits, no faults but an instance's
//! crash window (it takes nothing while down), no redelivery (the copy a crash cuts is
//! dropped, `consumer-crashed`).

use crate::driver::{self, Ctx, Instance, Outcome, Publisher};
use crate::schedule::Send;
use crate::wire;
use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// One group's queue.
#[derive(Default)]
struct Queue {
    items: Mutex<VecDeque<Vec<u8>>>,
    ready: Condvar,
}

struct NoopPublisher {
    queues: Arc<Vec<Queue>>,
    routes: Vec<Vec<u32>>,
}

impl Publisher for NoopPublisher {
    fn publish(&mut self, batch: &[(Send, Vec<u8>)]) -> Result<Vec<bool>, String> {
        for (s, payload) in batch {
            for &g in &self.routes[s.route as usize] {
                let q = &self.queues[g as usize];
                q.items
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push_back(payload.clone());
                q.ready.notify_one();
            }
        }
        Ok(vec![true; batch.len()])
    }

    fn finish(&mut self, _ctx: &Ctx) -> Result<(), String> {
        Ok(())
    }

    fn reconnect(&mut self) -> Result<(), String> {
        Ok(())
    }
}

/// Runs the workload through the in-process queues; returns when the run is over.
pub fn run(ctx: &Arc<Ctx>) {
    let queues: Arc<Vec<Queue>> = Arc::new(
        (0..ctx.sc.consumers.len())
            .map(|_| Queue::default())
            .collect(),
    );
    let mut threads = Vec::new();
    for inst in driver::instances(&ctx.sc, ctx.seed) {
        let who = driver::consumer_name(&ctx.sc, &inst);
        let (ctx2, q2) = (Arc::clone(ctx), Arc::clone(&queues));
        threads.push(driver::spawn_worker(ctx, who, move || {
            consume(&ctx2, &q2, inst);
        }));
    }
    ctx.start();
    for p in 0..ctx.sc.producers.len() {
        let ctx2 = Arc::clone(ctx);
        let mut out = NoopPublisher {
            queues: Arc::clone(&queues),
            routes: ctx.work.routes[p].clone(),
        };
        let who = driver::producer_name(&ctx.sc, p);
        threads.push(driver::spawn_worker(ctx, who, move || {
            driver::produce(&ctx2, p, &mut out);
        }));
    }
    driver::await_end(ctx, Duration::from_millis(500));
    for q in queues.iter() {
        q.ready.notify_all();
    }
    for t in threads {
        let _ = t.join();
    }
    for (g, q) in queues.iter().enumerate() {
        let left = q
            .items
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut books = ctx.books();
        for m in left.iter().filter_map(|b| wire::decode(b)) {
            books.groups[g].in_system.push(m.id);
        }
    }
}

fn consume(ctx: &Ctx, queues: &[Queue], mut inst: Instance) {
    let g = inst.group;
    let q = &queues[g];
    while !ctx.stopped() {
        let now = ctx.now_ns();
        if let Some((at, until)) = inst.next_crash(now)
            && at <= now
        {
            // Down: it takes nothing until the window ends (for good, the run's end).
            ctx.sleep_until(until);
            continue;
        }
        let next = {
            let mut items = q
                .items
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if items.is_empty() {
                items = q
                    .ready
                    .wait_timeout(items, Duration::from_millis(20))
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .0;
            }
            items.pop_front()
        };
        let Some(data) = next else { continue };
        ctx.touch();
        let Some(m) = wire::decode(&data) else {
            continue;
        };
        if !ctx.books().delivered(g, &m) {
            continue;
        }
        match inst.process(ctx, m.poison) {
            (start, Outcome::Done) => {
                ctx.books().apply(g, &m, start, ctx.now_ns());
            }
            (_, Outcome::Failed) => ctx.books().dead_letter(g, m.id, ctx.now_ns()),
            // No redelivery here: the copy is gone with the instance, by name.
            (_, Outcome::Crashed) => {
                ctx.books()
                    .drop_copy(g, m.id, "consumer-crashed", ctx.now_ns());
            }
            // In hand at the end: in flight, as the model counts it (it was counted lost).
            (_, Outcome::Stopped) => ctx.books().groups[g].in_system.push(m.id),
        }
    }
}
