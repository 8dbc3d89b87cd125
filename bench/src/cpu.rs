//! CPU time per process over a run, from `/proc/PID/stat` (utime + stime), so a result
//! says whether the driver or the broker was the limit: a figure near one core for the
//! broker and well under it for the driver means the broker was (Linux only; elsewhere the
//! figures are absent).

use serde::{Deserialize, Serialize};
use std::time::Instant;

/// CPU used during the workload (from the first connection to the end of the drain).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CpuUse {
    /// Wall time of the window, seconds.
    pub wall_s: f64,
    /// CPU seconds of the driver (this process: every client thread and the runtime).
    pub driver_s: f64,
    /// CPU seconds of the spawned broker's processes (redis-server, or beam.smp and its
    /// helpers); 0 when the broker was not spawned (its processes are not known).
    pub broker_s: f64,
}

/// Kernel clock ticks per second for `/proc/PID/stat` (`USER_HZ`: 100 on every Linux
/// the tests run on).
const TICKS: f64 = 100.0;

/// utime + stime of `pid` in seconds (0 when it is gone or not on Linux).
#[must_use]
pub fn of(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // After the command name (in parentheses, may hold spaces): field 3 is the state, so
    // utime and stime (fields 14 and 15) are the 12th and 13th after it.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    (ticks(11) + ticks(12)) as f64 / TICKS
}

/// A start point: the driver's CPU and each broker process's, and the time.
#[derive(Debug)]
pub struct Mark {
    at: Instant,
    driver: f64,
    broker: Vec<(u32, f64)>,
}

impl Mark {
    /// Now, for the driver and the processes `broker`.
    #[must_use]
    pub fn now(broker: &[u32]) -> Mark {
        Mark {
            at: Instant::now(),
            driver: of(std::process::id()),
            broker: broker.iter().map(|&p| (p, of(p))).collect(),
        }
    }

    /// The use since the mark: the driver, and the broker processes alive now (one that
    /// started since, a restart's, counted whole; a killed one's use is not known).
    #[must_use]
    pub fn since(&self, broker_now: &[u32]) -> CpuUse {
        let mut broker = 0.0;
        for &p in broker_now {
            let start = self
                .broker
                .iter()
                .find(|(q, _)| *q == p)
                .map_or(0.0, |m| m.1);
            broker += (of(p) - start).max(0.0);
        }
        CpuUse {
            wall_s: self.at.elapsed().as_secs_f64(),
            driver_s: (of(std::process::id()) - self.driver).max(0.0),
            broker_s: broker,
        }
    }
}
