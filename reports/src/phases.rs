//! Steady state and fault phases, computed from a run's fixed-bucket `series` and its
//! `faults`: the warm-up cut (fixed or MSER-5), statistics before / during / after each fault
//! window, time-to-recover and time-to-drain. Per run only; `comparison` adds the intervals
//! over seeds.

use mqlab_sim::RunSummary;
use mqlab_sim::summary::Series;
use serde::{Deserialize, Serialize};
use std::fmt;

/// How much of the start of a run to discard from steady-state statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "rule", content = "s")]
pub enum Warmup {
    /// Keep everything.
    #[default]
    None,
    /// Discard this many simulated seconds.
    Fixed(f64),
    /// MSER-5 (White 1997): batch the lag series in fives and cut where the remaining
    /// batches' mean has the smallest standard error, looking only at the first half of the
    /// stretch before the first fault (or the end of production).
    Mser5,
}

impl Warmup {
    /// Parses `none`, `mser5` / `mser-5`, a duration in any scenario unit (`10s`, `500ms`,
    /// `2m`, `250us`), or a bare number of seconds (`10`).
    ///
    /// # Errors
    /// Anything else, with the accepted forms.
    pub fn parse(text: &str) -> Result<Warmup, String> {
        let t = text.trim();
        match t {
            "none" | "0" => return Ok(Warmup::None),
            "mser5" | "mser-5" | "MSER-5" => return Ok(Warmup::Mser5),
            _ => {}
        }
        // Every unit a scenario's durations take (`2m`, `500us`), and a bare number of
        // seconds as before.
        let secs = match mqlab_sim::time::parse_duration(t) {
            Ok(d) => Ok(d.as_secs_f64()),
            Err(e) => t.parse::<f64>().map_err(|_| e),
        };
        match secs {
            Ok(s) if s.is_finite() && s >= 0.0 => Ok(Warmup::Fixed(s)),
            Ok(_) => Err(format!("bad warm-up `{text}`: not a duration")),
            Err(e) => Err(format!(
                "bad warm-up `{text}`: {e} (expected none, mser5, or a duration such as 10s)"
            )),
        }
    }

    /// Simulated seconds to discard from `run`.
    #[must_use]
    pub fn cut_s(self, run: &RunSummary) -> f64 {
        match self {
            Warmup::None => 0.0,
            Warmup::Fixed(s) => s,
            // The faults are the experiment, not the warm-up: MSER only looks before them.
            Warmup::Mser5 => {
                let first_fault = run
                    .faults
                    .iter()
                    .map(|f| f.start_s)
                    .fold(run.duration_s, f64::min);
                mser5_cut(&run.series, first_fault)
            }
        }
    }
}

impl fmt::Display for Warmup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warmup::None => write!(f, "none"),
            Warmup::Fixed(s) => write!(f, "fixed {s}s"),
            Warmup::Mser5 => write!(f, "MSER-5"),
        }
    }
}

/// Number of buckets that end by `until_s` (the end of production, or the first fault): the
/// drain is not steady state.
fn producing(series: &Series, until_s: f64) -> usize {
    series
        .t_s
        .iter()
        .take_while(|t| **t <= until_s + 1e-9)
        .count()
}

#[allow(clippy::cast_precision_loss)] // bucket counts are small
fn mser5_cut(series: &Series, until_s: f64) -> f64 {
    let n = producing(series, until_s);
    let batches: Vec<f64> = series.lag[..n]
        .chunks_exact(5)
        .map(|c| c.iter().map(|v| *v as f64).sum::<f64>() / 5.0)
        .collect();
    let k = batches.len();
    if k < 4 {
        return 0.0;
    }
    let mut best = (f64::INFINITY, 0);
    // Only the first half is eligible: past that MSER's statistic is unreliable.
    for d in 0..=k / 2 {
        let rest = &batches[d..];
        let m = rest.iter().sum::<f64>() / rest.len() as f64;
        let ss: f64 = rest.iter().map(|x| (x - m).powi(2)).sum();
        let stat = ss / (rest.len() as f64).powi(2);
        if stat < best.0 {
            best = (stat, d);
        }
    }
    if best.1 == 0 {
        0.0
    } else {
        series.t_s[best.1 * 5 - 1]
    }
}

/// Means of a stretch of the series.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Stretch {
    /// Buckets in the stretch (0: the stretch is empty, the means are 0).
    pub buckets: usize,
    /// Mean processed copies per second.
    pub processed_per_s: f64,
    /// Mean total lag.
    pub lag_mean: f64,
    /// Largest lag.
    pub lag_max: u64,
    /// Mean broker depth.
    pub depth_mean: f64,
}

/// Statistics over the buckets whose end lies in `(from_s, to_s]`.
#[must_use]
#[allow(clippy::cast_precision_loss)]
pub fn stretch(series: &Series, from_s: f64, to_s: f64) -> Stretch {
    let idx: Vec<usize> = (0..series.t_s.len())
        .filter(|&i| series.t_s[i] > from_s + 1e-9 && series.t_s[i] <= to_s + 1e-9)
        .collect();
    if idx.is_empty() {
        return Stretch::default();
    }
    let n = idx.len() as f64;
    // Copies over seconds, so that a short last bucket weighs what it lasted.
    let width = |i: usize| series.t_s[i] - if i == 0 { 0.0 } else { series.t_s[i - 1] };
    let seconds: f64 = idx.iter().map(|&i| width(i)).sum();
    let copies: f64 = idx
        .iter()
        .map(|&i| series.processed_per_s[i] * width(i))
        .sum();
    Stretch {
        buckets: idx.len(),
        processed_per_s: if seconds > 0.0 { copies / seconds } else { 0.0 },
        lag_mean: idx.iter().map(|&i| series.lag[i] as f64).sum::<f64>() / n,
        lag_max: idx.iter().map(|&i| series.lag[i]).max().unwrap_or(0),
        depth_mean: idx.iter().map(|&i| series.depth[i] as f64).sum::<f64>() / n,
    }
}

/// The run's throughput with the first `cut_s` seconds discarded: copies processed for the
/// first time while producers produced, from the cut on, per second of that stretch. With no
/// cut it is `throughput.processed_per_s`, the figure `mqlab run` prints; the copies before
/// the cut come from the series (interpolated within the bucket holding the cut).
#[must_use]
pub fn throughput(run: &RunSummary, cut_s: f64) -> f64 {
    let producing_s = run.duration_s;
    if cut_s <= 0.0 {
        return run.throughput.processed_per_s;
    }
    if cut_s >= producing_s {
        return 0.0;
    }
    let s = &run.series;
    let mut before = 0.0;
    for i in 0..s.t_s.len() {
        let start = if i == 0 { 0.0 } else { s.t_s[i - 1] };
        if start >= cut_s {
            break;
        }
        before += s.processed_per_s[i] * (s.t_s[i].min(cut_s) - start);
    }
    let total = run.throughput.processed_per_s * producing_s;
    ((total - before) / (producing_s - cut_s)).max(0.0)
}

/// One fault window of one run, split in three.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FaultPhases {
    /// `kind target`.
    pub fault: String,
    /// Window start.
    pub start_s: f64,
    /// Window end.
    pub end_s: f64,
    /// From the warm-up cut (or the previous fault's end) to the start.
    pub before: Stretch,
    /// The window itself.
    pub during: Stretch,
    /// From the end to the next fault or the end of production.
    pub after: Stretch,
    /// Seconds after the window until lag is back at or under its pre-fault mean; `None` when
    /// it never is.
    pub recover_s: Option<f64>,
}

/// Phases of every fault window of `run`, in the order the faults are listed.
#[must_use]
pub fn fault_phases(run: &RunSummary, warmup_s: f64) -> Vec<FaultPhases> {
    let s = &run.series;
    let end_of_production = run.duration_s;
    let mut out = Vec::new();
    for (i, f) in run.faults.iter().enumerate() {
        let prev_end = run.faults[..i]
            .iter()
            .map(|p| p.end_s)
            .filter(|e| *e <= f.start_s)
            .fold(warmup_s, f64::max);
        let next_start = run.faults[i + 1..]
            .iter()
            .map(|n| n.start_s)
            .filter(|st| *st >= f.end_s)
            .fold(end_of_production, f64::min);
        let before = stretch(s, prev_end, f.start_s);
        // The mean, not the peak: with periodic commits the lag is a sawtooth whose peak the
        // lag falls under at the first commit after any fault, which would say "recovered"
        // before the backlog is worked off. With no pre-fault bucket the baseline is 0.
        #[allow(clippy::cast_precision_loss)]
        let baseline = before.lag_mean;
        let recover_s = (0..s.t_s.len())
            .find(|&j| s.t_s[j] >= f.end_s - 1e-9 && s.lag[j] as f64 <= baseline)
            .map(|j| (s.t_s[j] - f.end_s).max(0.0));
        out.push(FaultPhases {
            fault: format!("{} {}", f.kind, f.target),
            start_s: f.start_s,
            end_s: f.end_s,
            before,
            during: stretch(s, f.start_s, f.end_s),
            after: stretch(s, f.end_s, next_start),
            recover_s,
        });
    }
    out
}

/// Seconds after producers stopped until the lag first reaches 0; `None` when it never does.
#[must_use]
pub fn drain_s(run: &RunSummary) -> Option<f64> {
    let s = &run.series;
    (0..s.t_s.len())
        .find(|&j| s.t_s[j] >= run.duration_s - 1e-9 && s.lag[j] == 0)
        .map(|j| (s.t_s[j] - run.duration_s).max(0.0))
}

/// Whether a run's backlog stays bounded.
#[derive(Clone, Debug, PartialEq)]
pub struct Backlog {
    /// Copies that arrived but were not processed over the fault-free steady stretch (from
    /// the warm-up to the first fault, or to the end of production). A fault's own backlog is
    /// a transient, so it is judged by recovery instead.
    pub excess: f64,
    /// Copies that arrived in that stretch.
    pub arrived: f64,
    /// The first fault after which the lag never came back to its pre-fault mean.
    pub unrecovered: Option<String>,
}

/// Judges `run`'s backlog after discarding `warmup_s`. The excess is counted from the
/// produced and processed rates, not from the lag: lag counts copies not yet *committed*, so
/// with periodic commits it is a sawtooth whose slope over a few teeth says nothing, while
/// the rates show a system falling behind whatever its commit policy.
#[must_use]
#[allow(clippy::cast_precision_loss)]
pub fn backlog(run: &RunSummary, warmup_s: f64) -> Backlog {
    let first_fault = run
        .faults
        .iter()
        .map(|f| f.start_s)
        .fold(run.duration_s, f64::min);
    let s = &run.series;
    // Each message becomes one copy per group that receives it.
    let copies_per_message = if run.messages.produced == 0 {
        1.0
    } else {
        run.messages.copies as f64 / run.messages.produced as f64
    };
    let (mut arrived, mut processed) = (0.0, 0.0);
    for i in 0..s.t_s.len() {
        let start = if i == 0 { 0.0 } else { s.t_s[i - 1] };
        if s.t_s[i] > warmup_s + 1e-9 && s.t_s[i] <= first_fault + 1e-9 {
            let width = s.t_s[i] - start;
            arrived += s.produced_per_s[i] * copies_per_message * width;
            processed += s.processed_per_s[i] * width;
        }
    }
    Backlog {
        excess: arrived - processed,
        arrived,
        unrecovered: fault_phases(run, warmup_s)
            .into_iter()
            .find(|p| p.recover_s.is_none())
            .map(|p| p.fault),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mqlab_sim::summary::FaultWindow;

    fn run_with_lag(lag: &[u64], duration_s: f64) -> RunSummary {
        let n = lag.len();
        #[allow(clippy::cast_precision_loss)]
        let t_s: Vec<f64> = (1..=n).map(|i| i as f64).collect();
        RunSummary {
            duration_s,
            series: Series {
                t_s,
                produced_per_s: vec![100.0; n],
                processed_per_s: vec![100.0; n],
                depth: lag.to_vec(),
                lag: lag.to_vec(),
                ..Series::default()
            },
            ..RunSummary::default()
        }
    }

    #[test]
    fn throughput_after_a_cut_counts_from_the_cut_over_what_remains() {
        // 1 s buckets: 100/s for 10 s, then 200/s; producers stop at 100 s.
        let mut run = run_with_lag(&[0; 100], 100.0);
        run.series.processed_per_s = (0..100)
            .map(|i| if i < 10 { 100.0 } else { 200.0 })
            .collect();
        run.throughput.processed_per_s = 190.0;
        assert_eq!(throughput(&run, 0.0), 190.0);
        assert!((throughput(&run, 10.0) - 200.0).abs() < 1e-9);
        // A cut inside a bucket takes that bucket's share up to the cut.
        let expected = (19_000.0 - 550.0) / 94.5;
        assert!((throughput(&run, 5.5) - expected).abs() < 1e-9);
    }

    #[test]
    fn a_short_bucket_weighs_what_it_lasted() {
        let mut run = run_with_lag(&[0; 3], 3.0);
        // Two full buckets at 100/s and a 0.01 s sliver at 1000/s.
        run.series.t_s = vec![1.0, 2.0, 2.01];
        run.series.processed_per_s = vec![100.0, 100.0, 1000.0];
        let st = stretch(&run.series, 0.0, 3.0);
        assert!((st.processed_per_s - 210.0 / 2.01).abs() < 1e-9, "{st:?}");
    }

    #[test]
    fn warmup_parses_every_documented_form() {
        assert_eq!(Warmup::parse("none"), Ok(Warmup::None));
        assert_eq!(Warmup::parse("mser5"), Ok(Warmup::Mser5));
        assert_eq!(Warmup::parse("10s"), Ok(Warmup::Fixed(10.0)));
        assert_eq!(Warmup::parse("500ms"), Ok(Warmup::Fixed(0.5)));
        assert!(Warmup::parse("soon").is_err());
        assert!(Warmup::parse("-1s").is_err());
    }

    #[test]
    fn warmup_takes_every_scenario_duration_unit() {
        assert_eq!(Warmup::parse("2m"), Ok(Warmup::Fixed(120.0)));
        assert_eq!(Warmup::parse("250us"), Ok(Warmup::Fixed(0.000_25)));
        assert_eq!(Warmup::parse("1h"), Ok(Warmup::Fixed(3600.0)));
        assert_eq!(Warmup::parse("10"), Ok(Warmup::Fixed(10.0)));
    }

    #[test]
    fn mser5_cuts_a_ramp_and_keeps_a_flat_series() {
        let mut lag: Vec<u64> = (0..20).map(|i| 200 - 10 * i).collect();
        lag.extend(std::iter::repeat_n(5, 80));
        let run = run_with_lag(&lag, 100.0);
        let cut = Warmup::Mser5.cut_s(&run);
        assert!((15.0..=25.0).contains(&cut), "cut {cut}");
        let flat = run_with_lag(&[5; 100], 100.0);
        assert!(Warmup::Mser5.cut_s(&flat) < 1e-9);
        // A fault's spike late in the run is not warm-up.
        let mut spiked = run_with_lag(&[5; 100], 100.0);
        spiked.series.lag[60..70].fill(500);
        spiked.faults = vec![FaultWindow {
            kind: "crash".into(),
            target: "g/0".into(),
            start_s: 60.0,
            end_s: 70.0,
            note: String::new(),
        }];
        assert!(Warmup::Mser5.cut_s(&spiked) < 1e-9);
    }

    #[test]
    fn phases_recovery_and_drain_follow_the_lag() {
        // Lag 2 before, 50 during [10, 15], falls back to 2 at t = 18, producers stop at 25,
        // empty at 28.
        let mut lag = vec![2u64; 10];
        lag.extend([
            50, 50, 50, 50, 50, 30, 10, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 0, 0, 0,
        ]);
        let mut run = run_with_lag(&lag, 25.0);
        run.faults = vec![FaultWindow {
            kind: "crash".into(),
            target: "payments/1".into(),
            start_s: 10.0,
            end_s: 15.0,
            note: String::new(),
        }];
        let p = &fault_phases(&run, 0.0)[0];
        assert_eq!(p.before.lag_max, 2);
        assert!((p.during.lag_mean - 50.0).abs() < 1e-9, "{p:?}");
        assert_eq!(p.recover_s, Some(3.0));
        assert_eq!(drain_s(&run), Some(3.0));
        // The crash's backlog is a transient that recovered.
        assert_eq!(backlog(&run, 0.0).unrecovered, None);
    }

    #[test]
    fn backlog_counts_what_arrived_and_was_not_processed_before_the_first_fault() {
        let mut run = run_with_lag(&[1; 40], 40.0);
        run.messages.produced = 100;
        run.messages.copies = 200;
        // Two groups: 200 copies/s arrive, 190 are processed before the fault at 20 s.
        run.series.processed_per_s = vec![190.0; 40];
        run.faults = vec![FaultWindow {
            kind: "slow".into(),
            target: "g".into(),
            start_s: 20.0,
            end_s: 22.0,
            note: String::new(),
        }];
        let b = backlog(&run, 5.0);
        assert!(
            (b.arrived - 3000.0).abs() < 1e-9 && (b.excess - 150.0).abs() < 1e-9,
            "{b:?}"
        );
        assert_eq!(b.unrecovered, None);
    }

    #[test]
    fn a_backlog_that_never_comes_down_after_a_fault_is_unrecovered() {
        let lag: Vec<u64> = (1..=30).map(|i| 7 * i).collect();
        let mut run = run_with_lag(&lag, 30.0);
        run.faults = vec![FaultWindow {
            kind: "crash".into(),
            target: "g/0".into(),
            start_s: 10.0,
            end_s: 12.0,
            note: String::new(),
        }];
        assert_eq!(backlog(&run, 0.0).unrecovered.as_deref(), Some("crash g/0"));
    }
}
