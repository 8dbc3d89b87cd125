//! Tick labels a person reads at a glance: counts with SI suffixes (`3.5k`, `1.2M`) and
//! durations with a unit that fits (`250 ms`, `100 s`), never `3500.0` or `100000 ms`.

/// Up to `decimals` places, trailing zeros and a bare point dropped: `2.50` → `2.5`.
fn trim(v: f64, decimals: usize) -> String {
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        let t = s.trim_end_matches('0').trim_end_matches('.');
        // `-0` reads as a sign error on an axis.
        if t == "-0" { "0".into() } else { t.into() }
    } else {
        s
    }
}

/// A count: `0`, `0.25`, `950`, `3.5k`, `12k`, `1.2M`, `3G`.
pub fn count(v: f64) -> String {
    let a = v.abs();
    for (scale, suffix) in [(1e9, "G"), (1e6, "M"), (1e3, "k")] {
        if a >= scale {
            return format!("{}{suffix}", trim(v / scale, 2));
        }
    }
    trim(v, 2)
}

/// Seconds as a duration: `0 s`, `250 µs`, `1.5 ms`, `250 ms`, `2.5 s`, `100 s`.
pub fn seconds(s: f64) -> String {
    let a = s.abs();
    let (v, unit) = if a == 0.0 || a >= 1.0 {
        (s, "s")
    } else if a >= 1e-3 {
        (s * 1e3, "ms")
    } else if a >= 1e-6 {
        (s * 1e6, "µs")
    } else {
        (s * 1e9, "ns")
    };
    // Values like 0.1 s come out as 100.00000000000001 ms: two places is plenty on an axis.
    format!("{} {unit}", trim(v, 2))
}

/// `0` → `0%`, `1` → `90%`, `2` → `99%`, `3` → `99.9%` (x of the percentile plot).
pub fn percentile(x: f64) -> String {
    let q = 100.0 * (1.0 - 10f64.powf(-x));
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let digits = if x <= 2.0 {
        0
    } else {
        (x - 2.0).ceil() as usize
    };
    format!("{q:.digits$}%")
}

/// `log10(ms)` (y of the percentile plot) as a duration: `-1` → `100 µs`, `5` → `100 s`.
pub fn log_ms(y: f64) -> String {
    seconds(10f64.powf(y) / 1e3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_read_with_si_suffixes_and_no_trailing_zeros() {
        assert_eq!(count(0.0), "0");
        assert_eq!(count(3500.0), "3.5k");
        assert_eq!(count(10000.0), "10k");
        assert_eq!(count(2_500_000.0), "2.5M");
        assert_eq!(count(950.0), "950");
        assert_eq!(count(0.25), "0.25");
        assert_eq!(count(-1500.0), "-1.5k");
    }

    #[test]
    fn durations_pick_the_unit_that_fits() {
        assert_eq!(seconds(0.0), "0 s");
        assert_eq!(seconds(100.0), "100 s");
        assert_eq!(seconds(0.25), "250 ms");
        assert_eq!(seconds(0.1), "100 ms");
        assert_eq!(seconds(2.5), "2.5 s");
        assert_eq!(seconds(1.5e-3), "1.5 ms");
        assert_eq!(seconds(2.5e-4), "250 µs");
        assert_eq!(log_ms(5.0), "100 s");
        assert_eq!(log_ms(0.0), "1 ms");
        assert_eq!(log_ms(-1.0), "100 µs");
    }

    #[test]
    fn percentile_labels_read_as_nines() {
        assert_eq!(percentile(0.0), "0%");
        assert_eq!(percentile(1.0), "90%");
        assert_eq!(percentile(2.0), "99%");
        assert_eq!(percentile(3.0), "99.9%");
    }
}
