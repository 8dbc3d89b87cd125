//! Number formatting shared by the text formats: fixed precision everywhere, so a report is
//! byte-identical for the same result, and one unit per column so a reader can compare rows.

use crate::stats::Estimate;

/// Seconds as milliseconds with three decimals: `12.345 ms`.
pub fn ms(s: f64) -> String {
    format!("{:.3} ms", s * 1e3)
}

/// Seconds with three decimals: `1.250 s`.
pub fn secs(s: f64) -> String {
    format!("{s:.3} s")
}

/// A plain number with `decimals` places.
pub fn num(v: f64, decimals: usize) -> String {
    format!("{v:.decimals$}")
}

/// `mean [lo, hi]` with `render` applied to each, or `n/a` without data.
pub fn est(e: &Estimate, render: impl Fn(f64) -> String) -> String {
    if e.n == 0 {
        return "n/a".into();
    }
    format!("{} [{}, {}]", render(e.mean), render(e.lo), render(e.hi))
}

/// An estimate of seconds in milliseconds.
pub fn est_ms(e: &Estimate) -> String {
    est(e, |v| format!("{:.3}", v * 1e3)) + " ms"
}

/// An estimate with a fixed number of decimals.
pub fn est_num(e: &Estimate, decimals: usize) -> String {
    est(e, |v| num(v, decimals))
}

/// Tag-safe form of a label (HdrHistogram tags and file-ish contexts): spaces and commas
/// become `;`.
pub fn tag(label: &str) -> String {
    label.replace([' ', ',', '\n', '\r'], ";")
}
