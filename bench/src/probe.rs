//! The probe run before the workload, with the same clients: the loopback round trip
//! (the median of `ROUND_TRIPS` synchronous calls) and the per-message overhead (a burst
//! of `BURST` messages published and consumed through a scratch channel, stream or queue
//! as fast as they go: the time per message beyond one round trip, which is the client's
//! and the broker's own work on a message at saturation). `--vs-model` runs the model
//! with both (`calibrate`).

use mqlab_sim::dist::Dist;
use mqlab_sim::scenario::Scenario;
use mqlab_sim::size::{Bandwidth, SizeDist};
use mqlab_sim::time::SimDuration;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};
use toml::Spanned;

/// Round trips timed; the median is reported (robust to a scheduler hiccup).
pub const ROUND_TRIPS: usize = 200;

/// Messages in the burst: enough that one round trip is a small part of it, few enough to
/// take well under a second on a loaded machine.
pub const BURST: u32 = 2000;

/// Messages published per pipelined batch in the burst (the driver's own batch).
pub const BATCH: usize = 64;

/// What the probe measured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    /// Median loopback round trip, seconds.
    pub rtt_s: f64,
    /// Seconds per message of the burst beyond one round trip: from the first publish to
    /// the last delivery, less `rtt_s`, over `messages`.
    pub per_message_s: f64,
    /// Messages in the burst.
    pub messages: u32,
    /// Bytes of each (the scenario's payload size, at least the header).
    pub payload_bytes: u64,
}

impl Probe {
    /// The probe's figures from a burst of `messages` that took `burst`.
    #[must_use]
    pub fn new(rtt: Duration, burst: Duration, messages: u32, payload_bytes: u64) -> Probe {
        let beyond = burst.saturating_sub(rtt).as_secs_f64();
        Probe {
            rtt_s: rtt.as_secs_f64(),
            per_message_s: beyond / f64::from(messages.max(1)),
            messages,
            payload_bytes,
        }
    }
}

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

/// The scenario the model runs next to a real one: the network's one-way latency is half
/// the round trip, and the broker ingests one message at a time taking the probed
/// per-message time, as a `broker.bandwidth` of the model's mean payload size per that
/// time (a message of another size takes proportionally longer or shorter). The
/// bandwidth is the model's only per-message broker cost that queues: at saturation the
/// model's broker is then as fast as the real one, client included.
#[must_use]
pub fn calibrate(sc: &Scenario, p: &Probe) -> Scenario {
    let mut out = sc.clone();
    out.network.latency = Dist::Const(SimDuration((p.rtt_s * 1e9 / 2.0) as u64));
    let bytes = model_bytes(sc);
    if p.per_message_s > 0.0 && bytes > 0.0 {
        let per_s = (bytes / p.per_message_s).ceil().max(1.0) as u64;
        out.broker.bandwidth = Some(Spanned::new(0..0, Bandwidth(per_s)));
    }
    out
}

/// The mean payload size of the scenario's producers, weighted by rate, in the model's
/// bytes.
fn model_bytes(sc: &Scenario) -> f64 {
    let (mut bytes, mut rate) = (0.0, 0.0);
    for p in &sc.producers {
        let r = *p.rate.get_ref();
        bytes += r * mean_size(p.payload_bytes);
        rate += r;
    }
    if rate > 0.0 { bytes / rate } else { 0.0 }
}

/// A size distribution's mean (a Pareto without a finite mean: its cap, or its scale).
fn mean_size(d: SizeDist) -> f64 {
    match d {
        SizeDist::Const(b) => b as f64,
        SizeDist::LogNormal { mean, .. } => mean as f64,
        SizeDist::Pareto { min, alpha, max } if alpha > 1.0 => {
            let m = min as f64 * alpha / (alpha - 1.0);
            max.map_or(m, |c| m.min(c as f64))
        }
        SizeDist::Pareto { min, max, .. } => max.unwrap_or(min) as f64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(payload: &str) -> Scenario {
        let src = format!(
            "name = \"c\"\nduration = \"1s\"\n[broker]\nmodel = \"pubsub\"\n[[topic]]\nname = \"t\"\n\
             [[producer]]\nname = \"p\"\ntopic = \"t\"\nrate = 100\npayload_bytes = {payload}\n\
             [[consumer]]\ngroup = \"g\"\ntopic = \"t\"\nservice_time = \"0s\"\n"
        );
        Scenario::from_toml(&src, "c.toml").expect("valid")
    }

    /// Half the round trip each way, and a bandwidth at which one message of the
    /// scenario's size takes the probed time (to the nanosecond the rounding allows).
    #[test]
    fn calibrate_sets_one_way_latency_and_a_per_message_ingest() {
        let p = Probe::new(
            Duration::from_micros(100),
            Duration::from_micros(100 + 2000 * 40),
            2000,
            64,
        );
        assert!((p.per_message_s - 40e-6).abs() < 1e-12, "{p:?}");
        let sc = calibrate(&scenario("64"), &p);
        assert_eq!(sc.network.latency, Dist::Const(SimDuration(50_000)));
        let bw = *sc.broker.bandwidth.expect("a bandwidth").get_ref();
        assert_eq!(bw.transfer_ns(64), 40_000);
        // A burst faster than one round trip measured nothing beyond it: no ingest cost.
        let none = Probe::new(
            Duration::from_micros(100),
            Duration::from_micros(90),
            2000,
            64,
        );
        assert_eq!(none.per_message_s, 0.0);
        assert!(calibrate(&scenario("64"), &none).broker.bandwidth.is_none());
    }
}
