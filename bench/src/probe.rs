//! The loopback round trip to the broker, measured before the workload with the same
//! client: `--vs-model` runs the model with half of it as the network's one-way latency,
//! so the model's latencies include the wire (not yet the client's and broker's own
//! per-message work, which the model has no key for).

use std::time::{Duration, Instant};

/// Round trips timed; the median is reported (robust to a scheduler hiccup).
pub const ROUND_TRIPS: usize = 200;

/// The median of `ROUND_TRIPS` timings of `once`.
///
/// # Errors
/// The first failed round trip.
pub fn median_rtt(mut once: impl FnMut() -> Result<(), String>) -> Result<Duration, String> {
    let mut times = Vec::with_capacity(ROUND_TRIPS);
    for _ in 0..ROUND_TRIPS {
        let t = Instant::now();
        once()?;
        times.push(t.elapsed());
    }
    times.sort();
    Ok(times[times.len() / 2])
}
