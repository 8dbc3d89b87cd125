//! HTML: one standalone page — inline CSS, inline SVG charts, no script, no external URL —
//! that opens offline and pastes into a design review. The page is well-formed XML (every
//! element closed, text escaped) so tests can parse it.

use crate::charts::{self, Chart, Line};
use crate::comparison::Comparison;
use crate::hdr;
use crate::tables::{self, Table};
use crate::{Options, Report, ReportError};
use mqlab_sim::RunSummary;
use mqlab_sim::time::parse_duration;
use std::io;

const STYLE: &str = "body{font-family:sans-serif;margin:2em;color:#222;max-width:70em}\
table{border-collapse:collapse;margin:0.5em 0 1.5em}\
td,th{border:1px solid #bbb;padding:0.25em 0.6em;text-align:right;font-size:0.9em}\
th{background:#eee}td:first-child{text-align:left}\
figure{margin:1em 0}.meta{color:#555}\
code{font-size:0.85em}";

/// Writes `report` as a standalone HTML page.
pub fn write<W: io::Write>(report: &Report, opts: &Options, w: &mut W) -> Result<(), ReportError> {
    let figures = match report {
        Report::Run(r) => run_charts(r)?,
        Report::Comparison(c) => comparison_charts(c)?,
    };
    let (title, header, tables) = tables::report_parts(report, opts);
    writeln!(
        w,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>"
    )?;
    writeln!(
        w,
        "<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>",
        esc(&title)
    )?;
    writeln!(
        w,
        "<h1>{}</h1>\n<p class=\"meta\">{}</p>",
        esc(&title),
        esc(&header)
    )?;
    // The chart's own caption is drawn inside the SVG, so the figure needs no figcaption.
    for svg in &figures {
        writeln!(w, "<figure>\n{svg}\n</figure>")?;
    }
    for t in &tables {
        write_table(t, w)?;
    }
    writeln!(w, "</body>\n</html>")?;
    Ok(())
}

fn write_table<W: io::Write>(t: &Table, w: &mut W) -> io::Result<()> {
    writeln!(w, "<h2>{}</h2>", esc(&t.title))?;
    if !t.note.is_empty() {
        writeln!(w, "<p>{}</p>", esc(&t.note))?;
    }
    write!(w, "<table>\n<tr>")?;
    for h in &t.header {
        write!(w, "<th>{}</th>", esc(h))?;
    }
    writeln!(w, "</tr>")?;
    for row in &t.rows {
        write!(w, "<tr>")?;
        for cell in row {
            // Markdown code spans (reproduce commands) become <code>.
            match cell.strip_prefix('`').and_then(|c| c.strip_suffix('`')) {
                Some(code) => write!(w, "<td><code>{}</code></td>", esc(code))?,
                None => write!(w, "<td>{}</td>", esc(cell))?,
            }
        }
        writeln!(w, "</tr>")?;
    }
    writeln!(w, "</table>")
}

/// Escapes text for element content and attribute values.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

type Figures = Vec<String>;

fn windows(r: &RunSummary) -> Vec<(f64, f64)> {
    r.faults.iter().map(|f| (f.start_s, f.end_s)).collect()
}

fn series_line(label: &str, t: &[f64], v: impl Iterator<Item = f64>) -> Line {
    Line {
        label: label.into(),
        points: t.iter().copied().zip(v).collect(),
    }
}

#[allow(clippy::cast_precision_loss)]
fn run_charts(r: &RunSummary) -> Result<Figures, ReportError> {
    let s = &r.series;
    let mut depth_lag = vec![
        series_line("depth", &s.t_s, s.depth.iter().map(|v| *v as f64)),
        series_line("lag", &s.t_s, s.lag.iter().map(|v| *v as f64)),
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
    let charts = [
        Chart {
            title: "Throughput over time",
            x_desc: "simulated time (s)",
            y_desc: "messages / s",
            lines: vec![
                series_line("produced", &s.t_s, s.produced_per_s.iter().copied()),
                series_line("processed", &s.t_s, s.processed_per_s.iter().copied()),
            ],
            shade: windows(r),
            percentile_x: false,
        },
        Chart {
            title: "Depth and lag over time (fault windows shaded)",
            x_desc: "simulated time (s)",
            y_desc: "messages",
            lines: depth_lag,
            shade: windows(r),
            percentile_x: false,
        },
        Chart {
            title: "Latency by percentile",
            x_desc: "percentile (log scale of 1/(1-q))",
            y_desc: "latency (log scale)",
            lines: crate::views::percentile_lines(
                r,
                charts::percentile_points(&hdr::histogram(r)?),
                &if r.groups.len() > 1 {
                    format!("all groups ({})", r.delivery)
                } else {
                    r.delivery.clone()
                },
            ),
            shade: Vec::new(),
            percentile_x: true,
        },
    ];
    draw_all(&charts)
}

fn draw_all(charts: &[Chart<'_>]) -> Result<Figures, ReportError> {
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
fn comparison_charts(c: &Comparison) -> Result<Figures, ReportError> {
    let line = |v: &crate::comparison::VariantStats, get| Line {
        label: v.spec.label.clone(),
        points: mean_series(c, &v.runs, get),
    };
    let shade = c.runs.first().map(windows).unwrap_or_default();
    let mut percentiles = Vec::new();
    for v in &c.variants {
        let h = hdr::of_buckets(&v.latency_histogram)?;
        percentiles.push(Line {
            label: v.spec.label.clone(),
            points: charts::percentile_points(&h),
        });
    }
    let mut list = vec![
        Chart {
            title: "Processed per second over time (mean over seeds)",
            x_desc: "simulated time (s)",
            y_desc: "copies / s",
            lines: c
                .variants
                .iter()
                .map(|v| line(v, |r, j| r.series.processed_per_s.get(j).copied()))
                .collect(),
            shade: shade.clone(),
            percentile_x: false,
        },
        Chart {
            title: "Lag over time (mean over seeds, fault windows shaded)",
            x_desc: "simulated time (s)",
            y_desc: "messages",
            lines: c
                .variants
                .iter()
                .map(|v| line(v, |r, j| r.series.lag.get(j).map(|x| *x as f64)))
                .collect(),
            shade,
            percentile_x: false,
        },
        Chart {
            title: "Latency by percentile (all seeds merged)",
            x_desc: "percentile (log scale of 1/(1-q))",
            y_desc: "latency (log scale)",
            lines: percentiles,
            shade: Vec::new(),
            percentile_x: true,
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
        None => lines.push(Line {
            label,
            points: vec![point],
        }),
    }
}

/// For `--set` sweeps: p99, and lost and duplicated copies, against the first swept key,
/// one line per delivery (and per value of any other key). Durations (`5s`) are placed in
/// seconds; values that are neither numbers nor durations at their position in the sweep.
fn sweep_charts<'a>(c: &Comparison, key: &'a str) -> Vec<Chart<'a>> {
    let mut p99: Vec<Line> = Vec::new();
    let mut lost: Vec<Line> = Vec::new();
    for (pos, v) in c.variants.iter().enumerate() {
        let mut rest = v.spec.settings.clone();
        let value = rest.remove(key).unwrap_or_default();
        #[allow(clippy::cast_precision_loss)]
        let x = value
            .parse::<f64>()
            .ok()
            .or_else(|| parse_duration(&value).ok().map(|d| d.as_secs_f64()))
            .unwrap_or(pos as f64);
        let others: Vec<String> = rest.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let name = [vec![v.spec.delivery.clone()], others].concat().join(" ");
        let mean = |k: &str| v.counts.get(k).map_or(0.0, |s| s.mean);
        add_point(&mut p99, name.clone(), (x, v.latency_p99_s.mean * 1e3));
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
    let x_desc = key;
    vec![
        Chart {
            title: "Sweep: p99 latency (mean over seeds)",
            x_desc,
            y_desc: "p99 (ms)",
            lines: p99,
            shade: Vec::new(),
            percentile_x: false,
        },
        Chart {
            title: "Sweep: lost and duplicated copies (mean over seeds)",
            x_desc,
            y_desc: "copies",
            lines: lost,
            shade: Vec::new(),
            percentile_x: false,
        },
    ]
}

#[cfg(test)]
mod tests {
    use crate::{Format, Options, Report, fixture, write};
    use quick_xml::events::Event;

    fn html(report: &Report) -> String {
        let mut out = Vec::new();
        write(report, Format::Html, &Options::default(), &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// Parses the page as XML: a mismatched or unclosed tag is an error.
    fn assert_well_formed(page: &str) {
        let mut rd = quick_xml::Reader::from_str(page);
        let mut depth = 0i32;
        loop {
            match rd.read_event().expect("well-formed") {
                Event::Start(_) => depth += 1,
                Event::End(_) => depth -= 1,
                Event::Eof => break,
                _ => {}
            }
        }
        assert_eq!(depth, 0, "every element closed");
    }

    #[test]
    fn run_page_is_well_formed_self_contained_with_one_svg_per_chart() {
        let page = html(&Report::Run(fixture::run()));
        assert_well_formed(&page);
        assert!(!page.contains("http"), "no external URL");
        let figures = page.matches("<figure>").count();
        assert_eq!(figures, 3);
        assert_eq!(page.matches("<svg").count(), figures);
        for svg in page.split("<svg").skip(1) {
            let body = svg.split("</svg>").next().unwrap();
            assert!(body.contains("<polyline"), "chart has data points");
        }
        assert_eq!(page, html(&Report::Run(fixture::run())), "byte-identical");
    }

    #[test]
    fn run_page_with_pattern_tables_is_well_formed() {
        let page = html(&Report::Run(fixture::run_with_patterns()));
        assert_well_formed(&page);
        assert!(page.contains("<h2>Sagas</h2>"));
        // The core tables, latency by group and faults, then the pattern tables.
        assert_eq!(page.matches("<table>").count(), 6 + 2 + 11);
    }

    #[test]
    fn comparison_page_overlays_variants_and_plots_sweeps() {
        let mut c = fixture::comparison();
        for (i, v) in c.variants.iter_mut().enumerate() {
            v.spec
                .settings
                .insert("consumer.payments.instances".into(), (i + 1).to_string());
        }
        let page = html(&Report::Comparison(Box::new(c)));
        assert_well_formed(&page);
        assert_eq!(page.matches("<svg").count(), 5);
        assert!(page.contains("Sweep: p99 latency"));
        assert!(page.contains("<code>mqlab run"));
    }
}
