//! `broker-crash` on a broker mqlab spawned: a controller thread SIGKILLs the server at the
//! fault's time and starts it again after `duration` on the same port and data directory.
//! Clients that lose their connection ask `Outages::ride_out` whether a kill explains it;
//! if so they wait for the restarted server and reconnect, and the run goes on (any other
//! lost connection still ends the run, marked partial).

use crate::driver::Ctx;
use crate::spawn::SpawnedBroker;
use mqlab_sim::scenario::{FaultKind, Scenario};
use serde::{Deserialize, Serialize};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// When the broker was really down: killed at `killed_s`, accepting connections again at
/// `back_s` (seconds since the start; a restart takes longer than the fault's `duration`
/// by the server's boot time).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OutageWindow {
    /// SIGKILL sent.
    pub killed_s: f64,
    /// The restarted server accepts connections (0 when it never came back).
    pub back_s: f64,
    /// Copies the broker had taken and not yet seen processed or dropped when it was
    /// killed (queued, or in a consumer's hands): what a crash can lose.
    pub backlog: u64,
}

/// The broker-crash windows of a run, and the state clients read.
#[derive(Debug, Default)]
pub struct Outages {
    /// `(at_ns, until_ns)` of every `broker-crash` fault, in time order.
    pub windows: Vec<(u64, u64)>,
    /// Kills so far: a connection opened before the latest kill may have died of it.
    kills: AtomicU64,
    /// Between a kill and the restarted server accepting connections.
    down: AtomicBool,
    /// What happened.
    log: Mutex<Vec<OutageWindow>>,
}

impl Outages {
    /// The scenario's `broker-crash` windows (a crash without `duration` never restarts).
    /// Overlapping windows nest into one outage, as the model nests overlapping faults: a
    /// crash while the server is down does not kill it again once it is back.
    #[must_use]
    pub fn of(sc: &Scenario) -> Outages {
        let mut windows: Vec<(u64, u64)> = sc
            .faults
            .iter()
            .filter(|f| *f.kind.get_ref() == FaultKind::BrokerCrash)
            .map(|f| (f.at.0, f.duration.map_or(u64::MAX, |d| (f.at + d).0)))
            .collect();
        windows.sort_unstable();
        windows.dedup_by(|next, kept| {
            let overlaps = next.0 <= kept.1;
            if overlaps {
                kept.1 = kept.1.max(next.1);
            }
            overlaps
        });
        Outages {
            windows,
            ..Outages::default()
        }
    }

    /// How many kills so far: a client notes it when it connects.
    #[must_use]
    pub fn generation(&self) -> u64 {
        self.kills.load(Ordering::SeqCst)
    }

    /// What happened, for the result.
    #[must_use]
    pub fn happened(&self) -> Vec<OutageWindow> {
        self.log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

impl Ctx {
    /// A client connected at kill generation `era` just lost its connection: when a kill
    /// since then (or one under way) explains it, waits until the server is back (or the
    /// run stops, or `limit` passes) and returns the generation to reconnect at.
    /// `None`: no kill explains it (a real failure), or the run stopped.
    pub fn ride_out(&self, era: u64, limit: Duration) -> Option<u64> {
        let o = &self.outages;
        if o.windows.is_empty() || (o.generation() == era && !o.down.load(Ordering::SeqCst)) {
            return None;
        }
        let deadline = self.now_ns() + u64::try_from(limit.as_nanos()).unwrap_or(u64::MAX);
        while o.down.load(Ordering::SeqCst) {
            if self.stopped() || self.now_ns() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        (!self.stopped()).then(|| o.generation())
    }

    /// Whether the server is down now.
    #[must_use]
    pub fn broker_down(&self) -> bool {
        self.outages.down.load(Ordering::SeqCst)
    }

    /// Connects with `open` after a kill: retries for a while, since a restarted server
    /// accepts TCP before every queue is recovered (a quorum queue's leader, say).
    ///
    /// # Errors
    /// The last failure, once `limit` has passed.
    pub fn reconnect<T>(
        &self,
        limit: Duration,
        mut open: impl FnMut() -> Result<T, String>,
    ) -> Result<T, String> {
        let deadline = self.now_ns() + u64::try_from(limit.as_nanos()).unwrap_or(u64::MAX);
        loop {
            match open() {
                Ok(x) => return Ok(x),
                Err(e) if self.stopped() || self.now_ns() >= deadline => return Err(e),
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }
}

/// How long a client waits for a killed server to come back before the run fails: the
/// restart's own timeout, and some.
pub const RIDE_OUT: Duration = Duration::from_secs(120);

/// Kills and restarts `broker` at the scenario's `broker-crash` windows; returns when
/// done or when the run stops.
pub fn control(ctx: &Ctx, broker: &mut SpawnedBroker) {
    for &(at, until) in &ctx.outages.windows {
        if !ctx.sleep_until(at) {
            return;
        }
        // Down and counted before the kill, so any client that fails of it knows why.
        ctx.outages.down.store(true, Ordering::SeqCst);
        ctx.outages.kills.fetch_add(1, Ordering::SeqCst);
        let killed = ctx.now_ns();
        let backlog = ctx
            .books()
            .groups
            .iter()
            .map(|g| g.published.saturating_sub(g.finished))
            .sum();
        broker.kill();
        let i = {
            let mut log = ctx
                .outages
                .log
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            log.push(OutageWindow {
                killed_s: killed as f64 / 1e9,
                back_s: 0.0,
                backlog,
            });
            log.len() - 1
        };
        if until == u64::MAX || !ctx.sleep_until(until) {
            return;
        }
        if let Err(e) = broker.restart() {
            ctx.fail(format!("broker-crash: the restart failed: {e}"));
            return;
        }
        let back = ctx.now_ns();
        ctx.outages
            .log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)[i]
            .back_s = back as f64 / 1e9;
        // Quiet since the kill is not the end of the run: the clock of quiet starts again.
        ctx.touch();
        ctx.outages.down.store(false, Ordering::SeqCst);
    }
}

/// `sc` with each `broker-crash` lasting until the real server was back (`back_s` of the
/// kill at its time): a restart takes longer than `duration` by the server's boot
/// (RabbitMQ's took 5.5 s for a 1 s fault), and its clients waited all of it, so the
/// model compared with the run must be out as long. Crashes that overlap are one outage
/// and one kill (`Outages::of`): each of them then lasts until that kill's server was back,
/// so the model's nested windows end together. `None` unless the kills pair one to one
/// with the outages and every server came back.
#[must_use]
pub fn as_measured(sc: &Scenario, measured: &[OutageWindow]) -> Option<Scenario> {
    let windows = Outages::of(sc).windows;
    if windows.is_empty()
        || windows.len() != measured.len()
        || measured.iter().any(|o| o.back_s <= 0.0)
    {
        return None;
    }
    let mut out = sc.clone();
    for f in out
        .faults
        .iter_mut()
        .filter(|f| *f.kind.get_ref() == FaultKind::BrokerCrash)
    {
        let k = windows
            .iter()
            .position(|&(at, until)| at <= f.at.0 && f.at.0 <= until)?;
        let back = (measured[k].back_s * 1e9) as u64;
        f.duration = Some(mqlab_sim::SimDuration(back.saturating_sub(f.at.0).max(1)));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn windows(faults: &[(&str, Option<&str>)]) -> Vec<(u64, u64)> {
        let mut src = String::from(
            "name = \"o\"\nduration = \"10s\"\n[[topic]]\nname = \"t\"\n\
             [[producer]]\nname = \"p\"\ntopic = \"t\"\nrate = 1\n",
        );
        for (at, duration) in faults {
            src += &format!(
                "[[fault]]\nat = \"{at}\"\nkind = \"broker-crash\"\ntarget = \"broker/0\"\n"
            );
            if let Some(d) = duration {
                src += &format!("duration = \"{d}\"\n");
            }
        }
        Outages::of(&Scenario::from_toml(&src, "o.toml").expect("valid")).windows
    }

    #[test]
    fn overlapping_crashes_are_one_outage_and_apart_ones_stay_apart() {
        const S: u64 = 1_000_000_000;
        assert_eq!(
            windows(&[
                ("2s", Some("1s")),
                ("1500ms", Some("1s")),
                ("6s", Some("1s"))
            ]),
            vec![(S * 3 / 2, 3 * S), (6 * S, 7 * S)]
        );
        // One that never restarts swallows every later one.
        assert_eq!(
            windows(&[("1s", None), ("4s", Some("1s"))]),
            vec![(S, u64::MAX)]
        );
    }

    #[test]
    fn the_model_is_out_as_long_as_the_real_server_was() {
        let src = "name = \"o\"\nduration = \"10s\"\n[[topic]]\nname = \"t\"\n\
                   [[producer]]\nname = \"p\"\ntopic = \"t\"\nrate = 1\n\
                   [[fault]]\nat = \"6s\"\nkind = \"broker-crash\"\ntarget = \"broker/0\"\n\
                   duration = \"1s\"\n\
                   [[fault]]\nat = \"2s\"\nkind = \"broker-crash\"\ntarget = \"broker/0\"\n\
                   duration = \"1s\"\n";
        let sc = Scenario::from_toml(src, "o.toml").expect("valid");
        let w = |killed_s: f64, back_s: f64| OutageWindow {
            killed_s,
            back_s,
            backlog: 0,
        };
        let m = as_measured(&sc, &[w(2.0, 4.5), w(6.0, 7.25)]).expect("paired");
        let durations: Vec<u64> = m
            .faults
            .iter()
            .map(|f| f.duration.expect("set").0)
            .collect();
        // In the file's order: the one at 6 s, then the one at 2 s.
        assert_eq!(durations, [1_250_000_000, 2_500_000_000]);
        assert!(as_measured(&sc, &[w(2.0, 4.5)]).is_none(), "unpaired");
        assert!(
            as_measured(&sc, &[w(2.0, 4.5), w(6.0, 0.0)]).is_none(),
            "never back"
        );
        // Overlapping crashes are one kill: both last until that server was back.
        let nested = src.replace("at = \"6s\"", "at = \"2.5s\"");
        let sc = Scenario::from_toml(&nested, "o.toml").expect("valid");
        let m = as_measured(&sc, &[w(2.0, 8.0)]).expect("one outage, one kill");
        let ends: Vec<u64> = m
            .faults
            .iter()
            .map(|f| (f.at + f.duration.expect("set")).0)
            .collect();
        assert_eq!(ends, [8_000_000_000, 8_000_000_000]);
    }
}
