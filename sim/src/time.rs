//! Simulated time: `SimTime` (an instant since the run started) and `SimDuration`,
//! both integer nanoseconds, and the parser for duration strings such as `"2ms"`.
//! Nothing here reads a wall clock; the engine's epoch is always 0.

use std::fmt;
use std::ops::{Add, AddAssign, Sub};

/// Nanoseconds in one second.
pub const NANOS_PER_SEC: u64 = 1_000_000_000;

/// An instant of simulated time, in nanoseconds since the run started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SimTime(pub u64);

/// A span of simulated time, in nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SimDuration(pub u64);

impl SimTime {
    /// The start of every run.
    pub const ZERO: SimTime = SimTime(0);
    /// Later than any event a run can schedule.
    pub const MAX: SimTime = SimTime(u64::MAX);

    /// Seconds as a float, for reports only (never for scheduling).
    #[must_use]
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / NANOS_PER_SEC as f64
    }

    /// Time elapsed since `earlier`, or zero if `earlier` is later.
    #[must_use]
    pub fn since(self, earlier: SimTime) -> SimDuration {
        SimDuration(self.0.saturating_sub(earlier.0))
    }

    /// Time elapsed since `earlier`, which is not later: `since` for the per-message
    /// figures whose order the engine guarantees (a copy is processed after it was born,
    /// arrived and started), without the clamp every one of them paid for. The tests,
    /// built with debug assertions, hold the order.
    #[must_use]
    #[inline(always)]
    pub fn after(self, earlier: SimTime) -> SimDuration {
        debug_assert!(earlier <= self, "{earlier} is after {self}");
        SimDuration(self.0.wrapping_sub(earlier.0))
    }
}

impl SimDuration {
    /// No time at all.
    pub const ZERO: SimDuration = SimDuration(0);

    /// A duration of whole milliseconds.
    #[must_use]
    pub const fn from_millis(ms: u64) -> SimDuration {
        SimDuration(ms * 1_000_000)
    }

    /// A duration of whole seconds.
    #[must_use]
    pub const fn from_secs(s: u64) -> SimDuration {
        SimDuration(s * NANOS_PER_SEC)
    }

    /// Converts float seconds, rounding to the nearest nanosecond and saturating.
    #[must_use]
    pub fn from_secs_f64(s: f64) -> SimDuration {
        if s.is_nan() || s <= 0.0 {
            SimDuration(0)
        } else {
            // `as` saturates on overflow, which is what a duration wants.
            SimDuration((s * NANOS_PER_SEC as f64).round() as u64)
        }
    }

    /// Seconds as a float, for reports and distribution parameters.
    #[must_use]
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / NANOS_PER_SEC as f64
    }

    /// Multiplies by a float factor (slow faults, backoff), saturating.
    #[must_use]
    pub fn mul_f64(self, factor: f64) -> SimDuration {
        SimDuration::from_secs_f64(self.as_secs_f64() * factor)
    }

    /// How much longer `self` is than `other` (zero if shorter).
    #[must_use]
    pub fn since_duration(self, other: SimDuration) -> SimDuration {
        SimDuration(self.0.saturating_sub(other.0))
    }

    /// True for the zero duration.
    #[must_use]
    pub fn is_zero(self) -> bool {
        self.0 == 0
    }
}

impl Add<SimDuration> for SimTime {
    type Output = SimTime;
    fn add(self, d: SimDuration) -> SimTime {
        SimTime(self.0.saturating_add(d.0))
    }
}

impl AddAssign<SimDuration> for SimTime {
    fn add_assign(&mut self, d: SimDuration) {
        *self = *self + d;
    }
}

impl Add for SimDuration {
    type Output = SimDuration;
    fn add(self, d: SimDuration) -> SimDuration {
        SimDuration(self.0.saturating_add(d.0))
    }
}

impl Sub for SimTime {
    type Output = SimDuration;
    fn sub(self, earlier: SimTime) -> SimDuration {
        self.since(earlier)
    }
}

fn fmt_nanos(n: u64, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let (div, unit) = match n {
        0 => return write!(f, "0s"),
        n if n < 1_000 => return write!(f, "{n}ns"),
        n if n < 1_000_000 => (1e3, "us"),
        n if n < NANOS_PER_SEC => (1e6, "ms"),
        _ => (1e9, "s"),
    };
    let v = n as f64 / div;
    // Three decimals, trailing zeros trimmed: "12.345ms", "2ms", "1.5s".
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    write!(f, "{s}{unit}")
}

impl fmt::Display for SimTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_nanos(self.0, f)
    }
}

impl fmt::Display for SimDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_nanos(self.0, f)
    }
}

/// Parses `"250us"`, `"2ms"`, `"1.5s"`, `"10m"`, `"1h"`, `"20ns"` or `"0"`.
///
/// # Errors
/// A message saying what was expected, for the scenario loader to place.
pub fn parse_duration(text: &str) -> Result<SimDuration, String> {
    let t = text.trim();
    if t == "0" {
        return Ok(SimDuration::ZERO);
    }
    if t.starts_with('-') {
        return Err(format!(
            "duration `{text}` is negative: a duration is zero or more"
        ));
    }
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| format!("duration `{text}` has no unit (use ns, us, ms, s, m or h)"))?;
    let (num, unit) = t.split_at(split);
    let scale: f64 = match unit.trim() {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" | "min" => 60e9,
        "h" => 3600e9,
        other => {
            return Err(format!(
                "unknown unit `{other}` in duration `{text}` (use ns, us, ms, s, m or h)"
            ));
        }
    };
    let value: f64 = num
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like \"250us\", \"2ms\" or \"1.5s\""))?;
    let nanos = value * scale;
    if !nanos.is_finite() || nanos > u64::MAX as f64 / 2.0 {
        return Err(format!("duration `{text}` is too long"));
    }
    Ok(SimDuration(nanos.round() as u64))
}

impl<'de> serde::Deserialize<'de> for SimDuration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_duration(&s).map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for SimDuration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_every_documented_unit() {
        assert_eq!(parse_duration("250us"), Ok(SimDuration(250_000)));
        assert_eq!(parse_duration("2ms"), Ok(SimDuration(2_000_000)));
        assert_eq!(parse_duration("1.5s"), Ok(SimDuration(1_500_000_000)));
        assert_eq!(parse_duration("10m"), Ok(SimDuration(600 * NANOS_PER_SEC)));
        assert_eq!(parse_duration("0"), Ok(SimDuration::ZERO));
    }

    #[test]
    fn rejects_missing_and_unknown_units() {
        assert!(parse_duration("5").unwrap_err().contains("no unit"));
        assert!(
            parse_duration("5 parsecs")
                .unwrap_err()
                .contains("unknown unit")
        );
        assert!(parse_duration("-2ms").unwrap_err().contains("negative"));
        assert!(parse_duration("ms").is_err());
    }

    #[test]
    fn display_uses_the_largest_fitting_unit() {
        assert_eq!(SimDuration(12_345_000).to_string(), "12.345ms");
        assert_eq!(SimDuration(1_500_000_000).to_string(), "1.5s");
        assert_eq!(SimDuration(0).to_string(), "0s");
    }

    proptest! {
        #[test]
        fn display_round_trips_through_parse(n in 0u64..10_000_000_000_000) {
            let d = SimDuration(n);
            let back = parse_duration(&d.to_string()).unwrap();
            // Display keeps three significant decimals of its unit.
            let tolerance = (n / 1000).max(1);
            prop_assert!(back.0.abs_diff(n) <= tolerance, "{n} -> {d} -> {}", back.0);
        }

        #[test]
        fn time_addition_never_goes_backwards(t in any::<u64>(), d in any::<u64>()) {
            prop_assert!(SimTime(t) + SimDuration(d) >= SimTime(t));
        }
    }
}
