//! What both brokers' drivers share: the run clock, the books, the stop flag, the
//! producer loop that sends on the seeded schedule, consumer service times and crash
//! windows, and the main loop that samples, waits for the drain and stops everything.

use crate::books::Books;
use crate::schedule::{Send, Workload};
use mqlab_sim::dist::Dist;
use mqlab_sim::rng::{SimRng, StreamKind, stream};
use mqlab_sim::scenario::{FaultConfig, FaultKind, Scenario};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// Shared by every thread of one run.
#[derive(Debug)]
pub struct Ctx {
    /// The scenario.
    pub sc: Scenario,
    /// Its seed for this run.
    pub seed: u64,
    /// The workload.
    pub work: Workload,
    /// Time zero, set by `start` once the setup is done (streams, queues, consumers and
    /// producers connected): intended send times and every fault's `at` count from here,
    /// as the model's count from its first event. Before it the clock reads 0.
    t0: OnceLock<Instant>,
    /// The accounting.
    pub books: Mutex<Books>,
    /// Set when everything must stop (end of drain, or a failure).
    pub stop: AtomicBool,
    /// Producers still sending.
    pub producing: AtomicU64,
    /// When a consumer last received anything, ns since `t0`.
    pub last_delivery_ns: AtomicU64,
    /// `broker-crash` windows, and whether the broker is down now.
    pub outages: crate::outage::Outages,
    /// Consumer instances reconnecting after a broker restart. While one is, the run does
    /// not end for want of deliveries: a restarted RabbitMQ's quorum queue delivers
    /// nothing until it has recovered and its consumer is back, which on a loaded machine
    /// can take longer than the quiet period.
    pub rejoining: AtomicU64,
}

impl Ctx {
    /// A context whose clock starts at `start`.
    #[must_use]
    pub fn new(sc: Scenario, seed: u64, work: Workload) -> Arc<Ctx> {
        let books = Books::new(&sc, &work);
        let outages = crate::outage::Outages::of(&sc);
        Arc::new(Ctx {
            producing: AtomicU64::new(sc.producers.len() as u64),
            sc,
            seed,
            work,
            t0: OnceLock::new(),
            books: Mutex::new(books),
            stop: AtomicBool::new(false),
            last_delivery_ns: AtomicU64::new(0),
            outages,
            rejoining: AtomicU64::new(0),
        })
    }

    /// Starts the workload's clock (once; later calls change nothing). A driver calls it
    /// when its setup is done, just before the producers start: a fault at `0s` then
    /// meets the workload, not the setup.
    pub fn start(&self) {
        let _ = self.t0.set(Instant::now());
    }

    /// Whether the workload's clock runs.
    #[must_use]
    pub fn started(&self) -> bool {
        self.t0.get().is_some()
    }

    /// Nanoseconds since time zero (0 until `start`).
    #[must_use]
    pub fn now_ns(&self) -> u64 {
        self.t0.get().map_or(0, |t0| {
            u64::try_from(t0.elapsed().as_nanos()).unwrap_or(u64::MAX)
        })
    }

    /// The books (a poisoned lock only means another thread panicked: keep counting).
    pub fn books(&self) -> MutexGuard<'_, Books> {
        self.books
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether the run is over.
    #[must_use]
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Stops the run early, saying why (the result is marked partial).
    pub fn fail(&self, why: String) {
        self.books().fail(why);
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Sleeps until `at_ns` (or the stop flag); false when stopped. Before `start` it
    /// waits for the start first (`at_ns` counts from it).
    pub fn sleep_until(&self, at_ns: u64) -> bool {
        loop {
            if self.stopped() {
                return false;
            }
            if !self.started() {
                std::thread::sleep(Duration::from_millis(1));
                continue;
            }
            let now = self.now_ns();
            if now >= at_ns {
                return true;
            }
            std::thread::sleep(Duration::from_nanos((at_ns - now).min(50_000_000)));
        }
    }

    /// Counts a consumer instance as reconnecting after a broker restart until the guard
    /// is dropped; then its quiet period starts afresh (`touch`).
    #[must_use]
    pub fn rejoin(&self) -> Rejoin<'_> {
        self.rejoining.fetch_add(1, Ordering::SeqCst);
        Rejoin(self)
    }

    /// Records a delivery's time (for the pub/sub drain, which has no count to wait for).
    pub fn touch(&self) {
        self.last_delivery_ns
            .store(self.now_ns(), Ordering::Relaxed);
    }
}

/// Spawns one of a run's worker threads (a consumer instance or a producer). Should it
/// panic, the run fails, marked partial and naming it, and stops: otherwise `await_end`
/// would wait for the counts it never gives (a producer's last send, a consumer's
/// deliveries) until the drain's end, or for ever while a producer was still counted as
/// sending.
pub fn spawn_worker<F>(ctx: &Arc<Ctx>, who: String, f: F) -> std::thread::JoinHandle<()>
where
    F: FnOnce() + std::marker::Send + 'static,
{
    let ctx = Arc::clone(ctx);
    std::thread::spawn(move || {
        let _watch = Watch { ctx: &ctx, who };
        f();
    })
}

/// Fails the run if dropped while its thread panics (`spawn_worker`).
struct Watch<'a> {
    ctx: &'a Ctx,
    who: String,
}

impl Drop for Watch<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.ctx.fail(format!(
                "{} panicked (its message is on stderr); the run stopped there",
                self.who
            ));
        }
    }
}

/// The name a worker thread goes by in a failure.
#[must_use]
pub fn consumer_name(sc: &Scenario, inst: &Instance) -> String {
    let group = sc.consumers[inst.group].group.get_ref();
    format!("consumer {group}/{}", inst.local)
}

/// The name a producer thread goes by in a failure.
#[must_use]
pub fn producer_name(sc: &Scenario, p: usize) -> String {
    format!("producer {}", sc.producers[p].name.get_ref())
}

/// A consumer instance reconnecting after a broker restart (`Ctx::rejoin`).
pub struct Rejoin<'a>(&'a Ctx);

impl Drop for Rejoin<'_> {
    fn drop(&mut self) {
        self.0.touch();
        self.0.rejoining.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A producer's connection to the broker.
pub trait Publisher {
    /// Sends a batch of messages that are all due; one result per message.
    ///
    /// # Errors
    /// The connection failed: the run stops, marked partial.
    fn publish(&mut self, batch: &[(Send, Vec<u8>)]) -> Result<Vec<bool>, String>;
    /// After the last send: waits for the broker's answers.
    ///
    /// # Errors
    /// As `publish`.
    fn finish(&mut self, ctx: &Ctx) -> Result<(), String>;
    /// A fresh connection, after the broker was killed and restarted.
    ///
    /// # Errors
    /// The server refused.
    fn reconnect(&mut self) -> Result<(), String>;
}

/// Most messages sent in one go when the driver is behind schedule (a pipeline).
const MAX_BATCH: usize = 64;

/// Mean spacings per wake-up of a fast producer.
const PER_WAKE: f64 = 16.0;

/// The least time between a producer's wake-ups: for a producer at 16,000 msg/s or more,
/// 16 mean spacings (under 1 ms; batches of about 16), since a wake-up and a hand-off to
/// the client per message cost more CPU than the broker's work on it; 0 (every message at
/// its time) below that rate. The lateness this adds is in the scheduling error.
fn wake_tick(rate: f64) -> u64 {
    let ns = PER_WAKE / rate.max(1e-9) * 1e9;
    if ns <= 1e6 { ns as u64 } else { 0 }
}

/// Sends producer `p`'s messages at their intended times; every message due when the
/// previous send returns goes out in the next batch, so a slow round trip delays but
/// never drops the schedule.
pub fn produce(ctx: &Ctx, p: usize, out: &mut dyn Publisher) {
    let mine: Vec<&Send> = ctx
        .work
        .sends
        .iter()
        .filter(|s| s.producer as usize == p)
        .collect();
    let size = ctx.work.payload_bytes[p];
    let name = ctx.sc.producers[p].name.get_ref();
    let mut era = ctx.outages.generation();
    let tick = wake_tick(*ctx.sc.producers[p].rate.get_ref());
    let mut woke = 0;
    let mut i = 0;
    while i < mine.len() {
        if !ctx.sleep_until(mine[i].at_ns.max(woke + tick)) {
            break;
        }
        woke = ctx.now_ns();
        let now = ctx.now_ns();
        let mut batch = Vec::new();
        while i < mine.len() && mine[i].at_ns <= now && batch.len() < MAX_BATCH {
            batch.push((*mine[i], crate::wire::encode(mine[i], size)));
            i += 1;
        }
        // The send time is when the batch goes to the client, not when its answer is back.
        let sent = ctx.now_ns();
        match publish_or_retry(ctx, p, out, &batch, &mut era) {
            Ok(oks) => {
                let mut books = ctx.books();
                for ((s, _), ok) in batch.iter().zip(oks) {
                    books.published(s, sent, ok);
                }
            }
            Err(_) if ctx.stopped() && ctx.outages.generation() > 0 => break,
            Err(e) => {
                ctx.fail(format!("producer {name}: {e}"));
                break;
            }
        }
    }
    // The server was killed since this producer last connected (its last sends given up
    // on the dead connection, `retries = 0`): the answers to wait for come on a new one,
    // once the server is back. Waited for on the dead one, they failed the run.
    ctx.ride_out(era, crate::outage::RIDE_OUT);
    let ended = reconnect_after_kill(ctx, out, &mut era).and_then(|()| {
        if ctx.stopped() {
            Ok(())
        } else {
            out.finish(ctx)
        }
    });
    if let Err(e) = ended
        && !ctx.stopped()
    {
        ctx.fail(format!("producer {name}: {e}"));
    }
    ctx.producing.fetch_sub(1, Ordering::Relaxed);
}

/// The server was killed since `out`'s connection was made (`era`) and is back: connects
/// again, as a client does when it next finds its connection dead, spending no retry.
fn reconnect_after_kill(ctx: &Ctx, out: &mut dyn Publisher, era: &mut u64) -> Result<(), String> {
    let g = ctx.outages.generation();
    if ctx.outages.windows.is_empty() || ctx.broker_down() || g == *era {
        return Ok(());
    }
    ctx.reconnect(Duration::from_secs(30), || out.reconnect())?;
    *era = g;
    Ok(())
}

/// Publishes `batch`; when a `broker-crash` kill explains a failure, resends it as the
/// producer's settings say: each attempt waits up to `request_timeout` for the restarted
/// server, and after `retries` resends the batch is given up (every message `false`,
/// counted `publish-failed`). A resent batch may duplicate messages the broker took
/// before it died, as a real producer's retry does.
fn publish_or_retry(
    ctx: &Ctx,
    p: usize,
    out: &mut dyn Publisher,
    batch: &[(Send, Vec<u8>)],
    era: &mut u64,
) -> Result<Vec<bool>, String> {
    let cfg = &ctx.sc.producers[p];
    let timeout = Duration::from_nanos(cfg.request_timeout.0);
    // A producer with `retries = 0` once gave up every send after the first crash on its
    // dead connection (600 of 934 against the model's 116 sent during the outages).
    reconnect_after_kill(ctx, out, era)?;
    let mut resends = 0;
    let mut err = match out.publish(batch) {
        Ok(oks) => return Ok(oks),
        Err(e) => e,
    };
    loop {
        if ctx.outages.windows.is_empty() || ctx.stopped() {
            return Err(err);
        }
        if resends >= *cfg.retries.get_ref() {
            return Ok(vec![false; batch.len()]);
        }
        resends += 1;
        let Some(g) = ctx.ride_out(*era, timeout) else {
            if ctx.broker_down() && !ctx.stopped() {
                // Timed out waiting: that attempt is spent.
                continue;
            }
            return Err(err);
        };
        *era = g;
        err = match ctx
            .reconnect(Duration::from_secs(30), || out.reconnect())
            .and_then(|()| out.publish(batch))
        {
            Ok(oks) => return Ok(oks),
            Err(e) => e,
        };
    }
}

/// A consumer instance's fixed facts: its group, its index, its service time stream and
/// its fault windows.
#[derive(Debug)]
pub struct Instance {
    /// Group index.
    pub group: usize,
    /// Index within the group.
    pub local: u32,
    /// Service time distribution.
    pub service: Dist,
    /// The model's stream for this instance (its service times).
    pub rng: SimRng,
    /// Crash windows `(at_ns, until_ns)`, in time order.
    pub crashes: Vec<(u64, u64)>,
    /// `slow` windows `(at_ns, until_ns, factor)`.
    pub slow: Vec<(u64, u64, f64)>,
    /// Network `partition` windows `(at_ns, until_ns)`: connected, but neither reading nor
    /// acknowledging.
    pub cuts: Vec<(u64, u64)>,
    /// Retries of a failed message before it leaves (`max_retries`).
    pub max_retries: u32,
    /// First retry delay, doubling (`backoff`), ns.
    pub backoff_ns: u64,
}

/// How one message's processing ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The side effect happened.
    Done,
    /// Every attempt failed (a poison message): the group's `on_failure` decides.
    Failed,
    /// The instance crashed first: nothing happened, and what becomes of the copy is the
    /// broker's to say (redelivered, or gone with a subscriber). A variant of its own, so
    /// no driver can let the census call the copy lost by forgetting it (one did).
    Crashed,
    /// The run stopped first: nothing happened, and the copy is in hand at the end (in
    /// flight, as the model counts a copy in service when the drain ends).
    Stopped,
}

fn windows<'a>(sc: &'a Scenario, name: &str, local: u32, kind: FaultKind) -> Vec<&'a FaultConfig> {
    sc.faults
        .iter()
        .filter(|f| *f.kind.get_ref() == kind)
        .filter(|f| {
            let t = f.target.get_ref();
            t == name || *t == format!("{name}/{local}")
        })
        .collect()
}

fn until(f: &FaultConfig) -> u64 {
    f.duration.map_or(u64::MAX, |d| (f.at + d).0)
}

/// Every consumer instance of the scenario, numbered as the engine numbers them.
#[must_use]
pub fn instances(sc: &Scenario, seed: u64) -> Vec<Instance> {
    let mut out = Vec::new();
    for (g, c) in sc.consumers.iter().enumerate() {
        for local in 0..*c.instances.get_ref() {
            let name = c.group.get_ref();
            let span = |k| {
                windows(sc, name, local, k)
                    .into_iter()
                    .map(|f| (f.at.0, until(f)))
                    .collect::<Vec<_>>()
            };
            let mut crashes = span(FaultKind::Crash);
            crashes.sort_unstable();
            let mut cuts = span(FaultKind::Partition);
            cuts.sort_unstable();
            let slow = windows(sc, name, local, FaultKind::Slow)
                .into_iter()
                .map(|f| {
                    (
                        f.at.0,
                        until(f),
                        f.factor.as_ref().map_or(1.0, |v| *v.get_ref()),
                    )
                })
                .collect();
            out.push(Instance {
                group: g,
                local,
                service: c.service_time,
                rng: stream(seed, StreamKind::Consumer, out.len() as u32),
                crashes,
                slow,
                cuts,
                max_retries: c.max_retries,
                backoff_ns: c.backoff.0,
            });
        }
    }
    out
}

impl Instance {
    /// The next crash window that has not ended by `now_ns`.
    #[must_use]
    pub fn next_crash(&self, now_ns: u64) -> Option<(u64, u64)> {
        self.crashes
            .iter()
            .copied()
            .find(|&(_, until)| until > now_ns)
    }

    /// Whether a crash window is open at `now_ns`.
    #[must_use]
    pub fn crashed(&self, now_ns: u64) -> bool {
        self.next_crash(now_ns).is_some_and(|(at, _)| at <= now_ns)
    }

    /// The end of the partition window open at `now_ns`, if one is.
    #[must_use]
    pub fn cut_until(&self, now_ns: u64) -> Option<u64> {
        self.cuts
            .iter()
            .filter(|&&(at, until)| at <= now_ns && now_ns < until)
            .map(|&(_, until)| until)
            .max()
    }

    /// The service-time factor at `now_ns`: the largest open `slow` window's, as the
    /// engine takes it.
    #[must_use]
    pub fn slow_factor(&self, now_ns: u64) -> f64 {
        self.slow
            .iter()
            .filter(|&&(at, until, _)| at <= now_ns && now_ns < until)
            .map(|&(_, _, f)| f)
            .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))))
            .unwrap_or(1.0)
    }

    /// Sleeps until `at_ns` unless a crash or the stop comes first; false if one did.
    pub fn wait(&self, ctx: &Ctx, at_ns: u64) -> bool {
        let cut = self.next_crash(ctx.now_ns()).map_or(u64::MAX, |(at, _)| at);
        ctx.sleep_until(at_ns.min(cut)) && at_ns <= cut
    }

    /// Serves one message: sleeps the drawn service time (times the `slow` factor), unless
    /// a crash or the stop comes first. Returns when service started and whether it
    /// completed.
    pub fn serve(&mut self, ctx: &Ctx) -> (u64, bool) {
        // Work in hand keeps the run going: a poison message's retries and backoffs can
        // outlast the quiet period, which ended a pub/sub run with its subscriber's
        // backlog unread (480 copies counted lost).
        ctx.touch();
        let start = ctx.now_ns();
        let mut d = self.service.sample(&mut self.rng).0;
        let factor = self.slow_factor(start);
        if factor != 1.0 {
            d = (d as f64 * factor) as u64;
        }
        (start, self.wait(ctx, start + d))
    }

    /// Processes one message as the engine does: an attempt on a poison message fails
    /// after its service time and is retried `max_retries` times, the backoff doubling,
    /// before it fails for good. Returns when the first attempt started.
    pub fn process(&mut self, ctx: &Ctx, poison: bool) -> (u64, Outcome) {
        let mut first = None;
        for attempt in 0..=self.max_retries {
            let (start, done) = self.serve(ctx);
            let first = *first.get_or_insert(start);
            if !done {
                return (first, Self::cut(ctx));
            }
            if !poison {
                return (first, Outcome::Done);
            }
            if attempt < self.max_retries {
                let delay = self.backoff_ns.saturating_mul(1 << attempt.min(30));
                if !self.wait(ctx, ctx.now_ns() + delay) {
                    return (first, Self::cut(ctx));
                }
            }
        }
        (first.unwrap_or(0), Outcome::Failed)
    }

    /// Why a wait ended early: the stop, or else a crash window opening.
    fn cut(ctx: &Ctx) -> Outcome {
        if ctx.stopped() {
            Outcome::Stopped
        } else {
            Outcome::Crashed
        }
    }
}

/// Waits for the end: samples the series, and stops once producers are done and every
/// copy has left (or, for pub/sub, nothing arrived for a while), or at the drain's end.
pub fn await_end(ctx: &Ctx, quiet: Duration) {
    let width = ctx.books().series.width.0;
    let mut next_sample = width;
    let deadline = (ctx.sc.duration + ctx.sc.drain).0;
    while !ctx.stopped() {
        std::thread::sleep(Duration::from_millis(5));
        let now = ctx.now_ns();
        if now >= next_sample {
            ctx.books().sample(next_sample);
            next_sample += width;
        }
        // The drain's end stops the run whatever is still going: a producer stuck in a
        // send must not hold it for ever.
        if now >= deadline {
            break;
        }
        if ctx.producing.load(Ordering::Relaxed) > 0 {
            continue;
        }
        let idle = now.saturating_sub(ctx.last_delivery_ns.load(Ordering::Relaxed));
        // After a restart, consumers reconnect and a quorum queue recovers first.
        let quiet = if ctx.outages.generation() > 0 {
            quiet.max(Duration::from_secs(5))
        } else {
            quiet
        };
        // A restarting broker (`broker-crash`) is back later than the fault's end: the
        // copies it kept are still to come.
        let pending_crash = ctx.broker_down()
            || ctx
                .sc
                .faults
                .iter()
                .any(|f| f.duration.is_some_and(|d| (f.at + d).0 > now) && f.at.0 <= deadline);
        let quiet_now =
            idle >= quiet.as_nanos() as u64 && ctx.rejoining.load(Ordering::SeqCst) == 0;
        if !pending_crash && (ctx.books().settled() || quiet_now) {
            break;
        }
    }
    let now = ctx.now_ns();
    ctx.books().sample(now);
    ctx.stop.store(true, Ordering::Relaxed);
}

/// A consumer instance's answer to the start barrier, given once, at its first
/// connection: the run starts when every instance is connected, or stops at the first
/// that could not.
pub(crate) struct Ready(Option<std::sync::mpsc::Sender<Result<(), String>>>);

impl Ready {
    pub(crate) fn new(tx: &std::sync::mpsc::Sender<Result<(), String>>) -> Ready {
        Ready(Some(tx.clone()))
    }

    /// Connected (after the first time, nothing to say).
    pub(crate) fn ok(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(Ok(()));
        }
    }

    /// Connecting failed: the barrier hears why (if still waiting) and the run stops,
    /// naming `who`.
    pub(crate) fn failed(&mut self, ctx: &Ctx, who: &str, e: &str) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(Err(e.to_string()));
        }
        ctx.fail(format!("{who}: {e}"));
    }
}

#[cfg(test)]
mod tests;
