//! The HTML report's charts: what each one plots, with which units and axes. A run gets
//! throughput (produced messages and processed copies, each on its own labelled axis when a
//! message fans out to several copies), depth and lag, and latency by percentile per group;
//! a comparison gets each variant's mean series, percentile curves and, for `--set`
//! sweeps, p99 and lost/duplicated copies against the swept value. Every time chart shades
//! and names the fault windows.

use crate::ReportError;
use crate::charts::{self, Chart, Drawn, Line, RightAxis, Unit, Window};
use crate::comparison::Comparison;
use crate::hdr;
use mqlab_sim::RunSummary;
use mqlab_sim::time::parse_duration;

/// The fault windows, each named by its kind and target (`crash analytics`).
fn windows(r: &RunSummary) -> Vec<Window> {
    r.faults
        .iter()
        .map(|f| Window {
            start: f.start_s,
            end: f.end_s,
            label: format!("{} {}", f.kind, f.target),
        })
        .collect()
}

fn series_line(label: &str, t: &[f64], v: impl Iterator<Item = f64>) -> Line {
    Line::new(label, t.iter().copied().zip(v).collect())
}

/// Copies per produced message: one per group the message reaches.
#[allow(clippy::cast_precision_loss)]
fn fan_out(r: &RunSummary) -> f64 {
    if r.messages.produced == 0 {
        return 1.0;
    }
    r.messages.copies as f64 / r.messages.produced as f64
}

/// Produced messages and processed copies: one axis while they are the same thing, else
/// processed on a right axis scaled by the fan-out, so the two lines meet while every
/// group keeps up and each axis says what it counts.
fn throughput_chart(r: &RunSummary) -> Chart<'static> {
    let s = &r.series;
    let produced = series_line("produced", &s.t_s, s.produced_per_s.iter().copied());
    let mut processed = series_line("processed", &s.t_s, s.processed_per_s.iter().copied());
    let fan = fan_out(r);
    let right = if (fan - 1.0).abs() < 1e-9 {
        None
    } else {
        processed.right = true;
        processed.label = "processed copies".into();
        Some(RightAxis {
            desc: format!(
                "processed copies / s ({} per message)",
                charts::count_label(fan)
            ),
            per_left: fan,
        })
    };
    Chart {
        title: "Throughput over time",
        x_desc: "simulated time",
        y_desc: if right.is_some() {
            "produced messages / s"
        } else {
            "messages / s"
        },
        x_unit: Unit::Seconds,
        y_unit: Unit::Count,
        lines: vec![produced, processed],
        shade: windows(r),
        percentile_x: false,
        right,
    }
}

#[allow(clippy::cast_precision_loss)]
pub fn run_charts(r: &RunSummary) -> Result<Vec<Drawn>, ReportError> {
    let s = &r.series;
    let mut depth_lag = vec![
        series_line(
            "depth (messages held)",
            &s.t_s,
            s.depth.iter().map(|v| *v as f64),
        ),
        series_line(
            "lag (copies, all groups)",
            &s.t_s,
            s.lag.iter().map(|v| *v as f64),
        ),
    ];
    if s.lag_by_group.len() > 1 {
        for (g, lag) in &s.lag_by_group {
            depth_lag.push(series_line(
                &format!("lag {g}"),
                &s.t_s,
                lag.iter().map(|v| *v as f64),
            ));
        }
    }
    let merged_label = if r.groups.len() > 1 {
        format!("all groups ({})", r.delivery)
    } else {
        r.delivery.clone()
    };
    let charts = [
        throughput_chart(r),
        Chart {
            title: "Depth and lag over time",
            x_desc: "simulated time",
            y_desc: "messages / copies",
            x_unit: Unit::Seconds,
            y_unit: Unit::Count,
            lines: depth_lag,
            shade: windows(r),
            percentile_x: false,
            right: None,
        },
        Chart {
            title: "Latency by percentile",
            x_desc: "percentile (log scale of 1/(1-q))",
            y_desc: "latency (log scale)",
            x_unit: Unit::Count,
            y_unit: Unit::Seconds,
            lines: crate::views::percentile_lines(
                r,
                charts::percentile_points(&hdr::histogram(r)?),
                &merged_label,
            ),
            shade: Vec::new(),
            percentile_x: true,
            right: None,
        },
    ];
    draw_all(&charts)
}

fn draw_all(charts: &[Chart<'_>]) -> Result<Vec<Drawn>, ReportError> {
    charts.iter().map(charts::svg).collect()
}

/// Mean over a variant's seeds of one series, bucket by bucket. Runs end at different times
/// once drained, and a run's last bucket may be partial (its `t_s` is the run's end, its rate
/// taken over a sliver of time): each full bucket averages the runs that have that same
/// bucket, and partial buckets are left out of the overlay.
fn mean_series(
    c: &Comparison,
    runs: &[usize],
    get: fn(&RunSummary, usize) -> Option<f64>,
) -> Vec<(f64, f64)> {
    let Some(longest) = runs
        .iter()
        .map(|&i| &c.runs[i])
        .max_by_key(|r| r.series.t_s.len())
    else {
        return Vec::new();
    };
    let t = &longest.series.t_s;
    let width = t.first().copied().unwrap_or(0.0);
    let full = |r: &RunSummary, j: usize| {
        let ts = &r.series.t_s;
        if j >= ts.len() {
            return false;
        }
        let start = if j == 0 { 0.0 } else { ts[j - 1] };
        (ts[j] - t[j]).abs() < 1e-9 && ts[j] - start > 0.99 * width
    };
    (0..t.len())
        .filter_map(|j| {
            let vals: Vec<f64> = runs
                .iter()
                .map(|&i| &c.runs[i])
                .filter(|r| full(r, j))
                .filter_map(|r| get(r, j))
                .collect();
            (!vals.is_empty()).then(|| (t[j], crate::stats::mean(&vals)))
        })
        .collect()
}

#[allow(clippy::cast_precision_loss)]
pub fn comparison_charts(c: &Comparison) -> Result<Vec<Drawn>, ReportError> {
    let line = |v: &crate::comparison::VariantStats, get| {
        Line::new(v.spec.label.clone(), mean_series(c, &v.runs, get))
    };
    let shade = || c.runs.first().map(windows).unwrap_or_default();
    let mut percentiles = Vec::new();
    for v in &c.variants {
        let h = hdr::of_buckets(&v.latency_histogram)?;
        percentiles.push(Line::new(
            v.spec.label.clone(),
            charts::percentile_points(&h),
        ));
    }
    let mut list = vec![
        Chart {
            title: "Processed per second over time (mean over seeds)",
            x_desc: "simulated time",
            y_desc: "processed copies / s",
            x_unit: Unit::Seconds,
            y_unit: Unit::Count,
            lines: c
                .variants
                .iter()
                .map(|v| line(v, |r, j| r.series.processed_per_s.get(j).copied()))
                .collect(),
            shade: shade(),
            percentile_x: false,
            right: None,
        },
        Chart {
            title: "Lag over time (mean over seeds)",
            x_desc: "simulated time",
            y_desc: "lag (copies, all groups)",
            x_unit: Unit::Seconds,
            y_unit: Unit::Count,
            lines: c
                .variants
                .iter()
                .map(|v| line(v, |r, j| r.series.lag.get(j).map(|x| *x as f64)))
                .collect(),
            shade: shade(),
            percentile_x: false,
            right: None,
        },
        Chart {
            title: "Latency by percentile (all seeds merged)",
            x_desc: "percentile (log scale of 1/(1-q))",
            y_desc: "latency (log scale)",
            x_unit: Unit::Count,
            y_unit: Unit::Seconds,
            lines: percentiles,
            shade: Vec::new(),
            percentile_x: true,
            right: None,
        },
    ];
    let key = c
        .variants
        .first()
        .and_then(|v| v.spec.settings.keys().next().cloned());
    if let Some(key) = &key {
        list.extend(sweep_charts(c, key));
    }
    draw_all(&list)
}

/// Appends a point to the line called `label`, starting it if needed.
fn add_point(lines: &mut Vec<Line>, label: String, point: (f64, f64)) {
    match lines.iter_mut().find(|l| l.label == label) {
        Some(l) => l.points.push(point),
        None => lines.push(Line::new(label, vec![point])),
    }
}

/// For `--set` sweeps: p99, and lost and duplicated copies, against the first swept key,
/// one line per delivery (and per value of any other key). Durations (`5s`) are placed in
/// seconds; values that are neither numbers nor durations at their position in the sweep.
fn sweep_charts<'a>(c: &Comparison, key: &'a str) -> Vec<Chart<'a>> {
    let mut p99: Vec<Line> = Vec::new();
    let mut lost: Vec<Line> = Vec::new();
    let mut durations = true;
    for (pos, v) in c.variants.iter().enumerate() {
        let mut rest = v.spec.settings.clone();
        let value = rest.remove(key).unwrap_or_default();
        let number = value.parse::<f64>().ok();
        let duration = parse_duration(&value).ok().map(|d| d.as_secs_f64());
        durations &= number.is_none() && duration.is_some();
        #[allow(clippy::cast_precision_loss)]
        let x = number.or(duration).unwrap_or(pos as f64);
        let others: Vec<String> = rest.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let name = [vec![v.spec.delivery.clone()], others].concat().join(" ");
        let mean = |k: &str| v.counts.get(k).map_or(0.0, |s| s.mean);
        add_point(&mut p99, name.clone(), (x, v.latency_p99_s.mean));
        add_point(&mut lost, format!("{name} lost"), (x, mean("lost")));
        add_point(
            &mut lost,
            format!("{name} duplicated"),
            (x, mean("duplicated")),
        );
    }
    for l in p99.iter_mut().chain(lost.iter_mut()) {
        l.points.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    let x_unit = if durations {
        Unit::Seconds
    } else {
        Unit::Count
    };
    vec![
        Chart {
            title: "Sweep: p99 latency (mean over seeds)",
            x_desc: key,
            y_desc: "p99 latency",
            x_unit,
            y_unit: Unit::Seconds,
            lines: p99,
            shade: Vec::new(),
            percentile_x: false,
            right: None,
        },
        Chart {
            title: "Sweep: lost and duplicated copies (mean over seeds)",
            x_desc: key,
            y_desc: "copies",
            x_unit,
            y_unit: Unit::Count,
            lines: lost,
            shade: Vec::new(),
            percentile_x: false,
            right: None,
        },
    ]
}
