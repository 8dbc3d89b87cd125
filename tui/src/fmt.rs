//! Number and time formatting shared by the panels: compact counts (`12.3k`), rates and
//! latencies in seconds shown the way `SimDuration` prints them. Pure functions only.

use mqlab_sim::{SimDuration, SimTime};

/// A count in at most 6 characters: exact below 10 000, then `12.3k`, `4.56M`, `7.8G`.
#[must_use]
pub fn count(n: u64) -> String {
    #[allow(clippy::cast_precision_loss)] // display only
    let f = n as f64;
    match n {
        0..10_000 => n.to_string(),
        10_000..1_000_000 => trim(format!("{:.1}", f / 1e3), "k"),
        1_000_000..1_000_000_000 => trim(format!("{:.2}", f / 1e6), "M"),
        _ => trim(format!("{:.2}", f / 1e9), "G"),
    }
}

fn trim(s: String, unit: &str) -> String {
    let t = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        &s
    };
    format!("{t}{unit}")
}

/// An `[expect]` bound as the engine writes it (`<= 50ms`), shortened to `≤50ms`.
#[must_use]
pub fn bound(expected: &str) -> String {
    match expected.strip_prefix("<=") {
        Some(rest) => format!("≤{}", rest.trim()),
        None => expected.to_string(),
    }
}

/// A per-second rate: `980/s`, `12.3k/s`.
#[must_use]
pub fn rate(per_s: f64) -> String {
    if !per_s.is_finite() || per_s <= 0.0 {
        return "0/s".to_string();
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // rounded, positive
    let n = per_s.round() as u64;
    format!("{}/s", count(n))
}

/// Seconds of simulated time (latencies) printed like `SimDuration`: `12.345ms`.
#[must_use]
pub fn secs(s: f64) -> String {
    SimDuration::from_secs_f64(s).to_string()
}

/// A simulated instant with at most one decimal of seconds, for the header and axes:
/// `12.3s`, `0s`, `2m05s` past ten minutes.
#[must_use]
pub fn clock(t: SimTime) -> String {
    let tenths = t.0 / 100_000_000;
    let s = tenths / 10;
    if s >= 600 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else if tenths.is_multiple_of(10) {
        format!("{s}s")
    } else {
        format!("{s}.{}s", tenths % 10)
    }
}

/// A bar of `width` cells filled in proportion `value / max`, with eighth-cell precision.
#[must_use]
pub fn bar(value: f64, max: f64, width: usize) -> String {
    const PARTS: [char; 8] = [' ', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];
    if width == 0 {
        return String::new();
    }
    let frac = if max > 0.0 && value.is_finite() {
        (value / max).clamp(0.0, 1.0)
    } else {
        0.0
    };
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )] // a few hundred cells at most
    let eighths = (frac * (width * 8) as f64).round() as usize;
    let mut s: String = "█".repeat(eighths / 8);
    if !eighths.is_multiple_of(8) {
        s.push(PARTS[eighths % 8]);
    }
    let used = s.chars().count();
    s.extend(std::iter::repeat_n(' ', width - used));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_stay_short() {
        assert_eq!(count(0), "0");
        assert_eq!(count(9_999), "9999");
        assert_eq!(count(12_345), "12.3k");
        assert_eq!(count(10_000), "10k");
        assert_eq!(count(4_560_000), "4.56M");
        assert_eq!(count(7_800_000_000), "7.8G");
    }

    #[test]
    fn clock_prints_tenths_then_minutes() {
        assert_eq!(clock(SimTime(0)), "0s");
        assert_eq!(clock(SimTime(12_345_000_000)), "12.3s");
        assert_eq!(clock(SimTime(125 * 60 * 1_000_000_000 / 10)), "12m30s");
    }

    #[test]
    fn bars_fill_in_eighths_and_keep_their_width() {
        assert_eq!(bar(1.0, 2.0, 4), "██  ");
        assert_eq!(bar(0.0, 0.0, 3), "   ");
        assert_eq!(bar(1.0, 16.0, 2), "▏ ");
        assert_eq!(bar(5.0, 1.0, 2), "██");
    }
}
