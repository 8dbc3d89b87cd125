//! SVG charts drawn with plotters: lines over a linear x axis, shaded and labelled x windows
//! (the fault windows), an optional right axis for a second unit, and the HdrHistogram-style
//! percentile plot whose x axis is `log10(1 / (1 − q))`, so 90%, 99%, 99.9% are evenly
//! spaced. Lines that would hide one another are drawn dashed or dotted over the line they
//! lie on, and the legend, drawn beside the plot so it never covers data, says which
//! coincide. Returns SVG text; the HTML report inlines it.

mod overlap;
mod ticks;

use crate::ReportError;
use hdrhistogram::Histogram;
use overlap::Overlap;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// One named line.
pub struct Line {
    /// Legend label.
    pub label: String,
    /// Points in data coordinates (on the right axis's scale when `right`).
    pub points: Vec<(f64, f64)>,
    /// Read against the chart's right axis.
    pub right: bool,
}

impl Line {
    /// A line read against the left axis.
    pub fn new(label: impl Into<String>, points: Vec<(f64, f64)>) -> Line {
        Line {
            label: label.into(),
            points,
            right: false,
        }
    }
}

/// How an axis's tick values read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Counts and rates: `3.5k`.
    Count,
    /// Seconds: `250 ms`, `100 s`.
    Seconds,
}

impl Unit {
    fn label(self, v: f64) -> String {
        match self {
            Unit::Count => ticks::count(v),
            Unit::Seconds => ticks::seconds(v),
        }
    }
}

/// A shaded x window and what it was (a fault: `crash analytics`).
pub struct Window {
    /// Start, in x units.
    pub start: f64,
    /// End, in x units.
    pub end: f64,
    /// Written at the window's top left.
    pub label: String,
}

/// A second y axis on the right, for lines in another unit (processed copies beside
/// produced messages).
pub struct RightAxis {
    /// Its description.
    pub desc: String,
    /// Right-axis units per left-axis unit at the same height.
    pub per_left: f64,
}

/// What to draw.
pub struct Chart<'a> {
    /// Caption.
    pub title: &'a str,
    /// X axis description.
    pub x_desc: &'a str,
    /// Y axis description.
    pub y_desc: &'a str,
    /// How x ticks read (ignored by the percentile plot).
    pub x_unit: Unit,
    /// How y ticks read (ignored by the percentile plot).
    pub y_unit: Unit,
    /// The lines.
    pub lines: Vec<Line>,
    /// X windows to shade and label (fault windows).
    pub shade: Vec<Window>,
    /// The percentile plot: x is `log10(1/(1−q))` labelled as percentiles, y is
    /// `log10(latency in ms)` labelled as durations (log axes both ways, as HdrHistogram
    /// plots).
    pub percentile_x: bool,
    /// A right axis for the lines marked `right`.
    pub right: Option<RightAxis>,
}

/// A drawn chart: the `<svg>` and sentences about it for the page (which lines coincide).
pub struct Drawn {
    /// The standalone `<svg>` element.
    pub svg: String,
    /// Notes to print under the chart.
    pub notes: Vec<String>,
}

/// The ten "tab10" colours: distinct for up to ten variants.
pub const COLORS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Fault windows' fill: the tab10 red at 12% over white.
pub const SHADE: RGBColor = RGBColor(214, 39, 40);
const SHADE_ALPHA: f64 = 0.12;

/// The plot's size; the legend's column is added to the right of it.
const PLOT: (u32, u32) = (760, 320);
const FONT: &str = "sans-serif";
// Plotters writes a font size `n` as `n / 1.24` px in SVG: 15 is 12 px on the page.
const TEXT: u32 = 15;
const CAPTION: u32 = 20;

/// A count as a tick reads: `6`, `3.5k`.
#[must_use]
pub fn count_label(v: f64) -> String {
    ticks::count(v)
}

/// Draws `chart` as a standalone `<svg>` element.
///
/// # Errors
/// Plotters fails to lay the chart out.
pub fn svg(chart: &Chart<'_>) -> Result<Drawn, ReportError> {
    let err = |e: &dyn std::fmt::Display| ReportError::Chart {
        chart: chart.title.to_string(),
        message: e.to_string(),
    };
    let (x0, x1, y0, y1) = bounds(chart);
    let per_left = chart.right.as_ref().map_or(1.0, |r| r.per_left);
    // Right-axis lines in left-axis coordinates: one coordinate system draws everything.
    let lines: Vec<Vec<(f64, f64)>> = chart
        .lines
        .iter()
        .map(|l| {
            let k = if l.right { per_left } else { 1.0 };
            l.points.iter().map(|&(x, y)| (x, y / k)).collect()
        })
        .collect();
    let over =
        overlap::overlaps(&pixel_paths(chart, &lines, (x0, x1, y0, y1)).map_err(|e| err(&e))?);
    let styles = styles(&over);
    let labels: Vec<String> = (0..chart.lines.len())
        .map(|i| legend_label(chart, i, over[i]))
        .collect();
    let legend_w = labels.iter().map(|l| text_width(l)).max().unwrap_or(0) + 48;
    let legend_w = u32::try_from(legend_w.max(120)).unwrap_or(120);
    let mut buf = String::new();
    let notes;
    {
        let root =
            SVGBackend::with_string(&mut buf, (PLOT.0 + legend_w, PLOT.1)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let (plot, legend_area) = root.split_horizontally(PLOT.0);
        let mut ctx = build(chart, &plot, (x0, x1, y0, y1)).map_err(|e| err(&e))?;
        draw_mesh(chart, &mut ctx, (x1, y0, y1)).map_err(|e| err(&e))?;
        if let Some(r) = &chart.right {
            draw_right_axis(&ctx, &plot, r, chart.y_unit, (x1, y0, y1)).map_err(|e| err(&e))?;
        }
        let ctx = &mut ctx;
        draw_windows(chart, ctx, (y0, y1)).map_err(|e| err(&e))?;
        draw_lines(ctx, &lines, &styles).map_err(|e| err(&e))?;
        notes = legend(chart, &legend_area, &labels, &over, &styles).map_err(|e| err(&e))?;
        root.present().map_err(|e| err(&e))?;
    }
    // Inline SVG in HTML needs no namespace, and leaving it out keeps the page free of URLs.
    Ok(Drawn {
        svg: buf.replace(" xmlns=\"http://www.w3.org/2000/svg\"", ""),
        notes,
    })
}

type Ctx<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;
type Area<'b> = DrawingArea<SVGBackend<'b>, plotters::coord::Shift>;
type DrawError = DrawingAreaErrorKind<<SVGBackend<'static> as DrawingBackend>::ErrorType>;

/// The plot's frame: caption, margins and label areas, over the data bounds.
fn build<'a, 'b>(
    chart: &Chart<'_>,
    area: &'a Area<'b>,
    (x0, x1, y0, y1): (f64, f64, f64, f64),
) -> Result<Ctx<'a, 'b>, DrawError> {
    ChartBuilder::on(area)
        .caption(chart.title, (FONT, CAPTION))
        .margin(12)
        // Room for the right axis, which `draw_right_axis` draws: plotters would repeat the
        // left axis's labels there too.
        .margin_right(if chart.right.is_some() { 90 } else { 12 })
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(x0..x1, y0..y1)
}

/// Where each line's points land in the plot, in pixels: laid out once on a scratch
/// canvas, so the legend's width can depend on which lines coincide.
fn pixel_paths(
    chart: &Chart<'_>,
    lines: &[Vec<(f64, f64)>],
    bounds: (f64, f64, f64, f64),
) -> Result<Vec<Vec<(f64, f64)>>, DrawError> {
    let mut scratch = String::new();
    let area = SVGBackend::with_string(&mut scratch, PLOT).into_drawing_area();
    let ctx = build(chart, &area, bounds)?;
    Ok(lines
        .iter()
        .map(|pts| {
            pts.iter()
                .map(|p| {
                    let (px, py) = ctx.backend_coord(p);
                    (f64::from(px), f64::from(py))
                })
                .collect()
        })
        .collect())
}

/// The grid, the axes and their tick labels.
fn draw_mesh(
    chart: &Chart<'_>,
    ctx: &mut Ctx<'_, '_>,
    (x1, y0, y1): (f64, f64, f64),
) -> Result<(), DrawError> {
    let (xu, yu) = (chart.x_unit, chart.y_unit);
    let x_fmt = move |x: &f64| xu.label(*x);
    let y_fmt = move |y: &f64| yu.label(*y);
    let pct = |x: &f64| ticks::percentile(*x);
    let log_ms = |y: &f64| ticks::log_ms(*y);
    let mut mesh = ctx.configure_mesh();
    // Only the grid at labelled ticks: the fine grid between them greyed the whole plot
    // (and the fault bands with it).
    mesh.x_desc(chart.x_desc)
        .y_desc(chart.y_desc)
        .light_line_style(TRANSPARENT)
        .bold_line_style(BLACK.mix(0.12))
        .axis_desc_style((FONT, TEXT + 1))
        .label_style((FONT, TEXT));
    if chart.percentile_x {
        // One tick per decade of 1/(1−q): 0%, 90%, 99%, 99.9%, ...; one per decade of ms.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        mesh.x_labels(x1.floor() as usize + 1)
            .x_label_formatter(&pct)
            .y_labels((y1 - y0).round() as usize + 1)
            .y_label_formatter(&log_ms);
    } else {
        mesh.x_label_formatter(&x_fmt).y_label_formatter(&y_fmt);
    }
    mesh.draw()
}

/// A round step giving about five ticks over `range`: 1, 2 or 5 times a power of ten.
fn tick_step(range: f64) -> f64 {
    let raw = (range / 5.0).max(f64::MIN_POSITIVE);
    let decade = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * decade)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * decade)
}

/// The right axis: its line, ticks at round values of its own unit, and its description.
fn draw_right_axis(
    ctx: &Ctx<'_, '_>,
    plot: &Area<'_>,
    r: &RightAxis,
    unit: Unit,
    (x1, y0, y1): (f64, f64, f64),
) -> Result<(), DrawError> {
    let (top, bottom) = (ctx.backend_coord(&(x1, y1)), ctx.backend_coord(&(x1, y0)));
    let x = top.0;
    plot.draw(&PathElement::new(vec![top, bottom], BLACK.stroke_width(1)))?;
    let label = TextStyle::from((FONT, TEXT))
        .color(&BLACK)
        .pos(Pos::new(HPos::Left, VPos::Center));
    let (lo, hi) = (y0 * r.per_left, y1 * r.per_left);
    let step = tick_step(hi - lo);
    let mut v = (lo / step).ceil() * step;
    while v <= hi + step * 1e-9 {
        let y = ctx.backend_coord(&(x1, v / r.per_left)).1;
        plot.draw(&PathElement::new(
            vec![(x, y), (x + 5, y)],
            BLACK.stroke_width(1),
        ))?;
        plot.draw(&Text::new(unit.label(v), (x + 8, y), label.clone()))?;
        v += step;
    }
    let desc = TextStyle::from((FONT, TEXT + 1))
        .color(&BLACK)
        .pos(Pos::new(HPos::Center, VPos::Top))
        .transform(FontTransform::Rotate90);
    plot.draw(&Text::new(
        r.desc.as_str(),
        (x + 62, (top.1 + bottom.1) / 2),
        desc,
    ))
}

/// Label rows' height in pixels.
const LABEL_ROW: i32 = 14;

/// Shades each window and writes what it was at its top left; a label that would run into
/// the one before drops to the next row.
fn draw_windows(
    chart: &Chart<'_>,
    ctx: &mut Ctx<'_, '_>,
    (y0, y1): (f64, f64),
) -> Result<(), DrawError> {
    let fill = SHADE.mix(SHADE_ALPHA).filled();
    ctx.draw_series(
        chart
            .shade
            .iter()
            .map(|w| Rectangle::new([(w.start, y0), (w.end, y1)], fill)),
    )?;
    let style = TextStyle::from((FONT, TEXT)).color(&RGBColor(150, 20, 20));
    // Each row's rightmost pixel used so far.
    let mut rows: Vec<i32> = Vec::new();
    for w in &chart.shade {
        let left = ctx.backend_coord(&(w.start, y1)).0 + 3;
        let width = text_width(&w.label);
        let row = rows
            .iter()
            .position(|&end| end + 6 <= left)
            .unwrap_or(rows.len());
        if row == rows.len() {
            rows.push(0);
        }
        rows[row] = left + width;
        #[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
        let dy = 3 + LABEL_ROW * row as i32;
        ctx.plotting_area().draw(
            &(EmptyElement::at((w.start, y1)) + Text::new(w.label.clone(), (3, dy), style.clone())),
        )?;
    }
    Ok(())
}

/// How a line is stroked: solid, or over the line it lies on dashed, dotted, then dashed
/// with dots at its points, so each stays visible.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stroke {
    Solid,
    Dashed,
    Dotted,
    Marked,
}

fn styles(over: &[Option<Overlap>]) -> Vec<Stroke> {
    let mut out: Vec<Stroke> = Vec::new();
    for o in over {
        out.push(match o.map(|o| out[o.on]) {
            None => Stroke::Solid,
            Some(Stroke::Solid) => Stroke::Dashed,
            Some(Stroke::Dashed) => Stroke::Dotted,
            Some(_) => Stroke::Marked,
        });
    }
    out
}

fn draw_lines(
    ctx: &mut Ctx<'_, '_>,
    lines: &[Vec<(f64, f64)>],
    styles: &[Stroke],
) -> Result<(), DrawError> {
    for (i, (pts, stroke)) in lines.iter().zip(styles).enumerate() {
        let style = COLORS[i % COLORS.len()].stroke_width(2);
        let pts = pts.iter().copied();
        match stroke {
            Stroke::Solid => {
                ctx.draw_series(LineSeries::new(pts, style))?;
            }
            Stroke::Dashed => {
                ctx.draw_series(DashedLineSeries::new(pts, 8, 6, style))?;
            }
            Stroke::Dotted => {
                ctx.draw_series(DashedLineSeries::new(pts, 2, 5, style))?;
            }
            Stroke::Marked => {
                ctx.draw_series(DashedLineSeries::new(pts.clone(), 8, 6, style))?;
                ctx.draw_series(pts.map(|p| Circle::new(p, 3, style.filled())))?;
            }
        }
    }
    Ok(())
}

/// Pixels a label takes at 12 px (a sans-serif character averages under 7 px).
fn text_width(s: &str) -> i32 {
    i32::try_from(s.chars().count())
        .unwrap_or(i32::MAX / 8)
        .saturating_mul(7)
}

/// What the legend writes for line `i`: its label, and the line it coincides with.
fn legend_label(chart: &Chart<'_>, i: usize, over: Option<Overlap>) -> String {
    let l = &chart.lines[i];
    let mut s = l.label.clone();
    if chart.right.is_some() {
        s.push_str(if l.right { " (right)" } else { " (left)" });
    }
    match over {
        Some(o) if o.whole => format!("{s} = {}", chart.lines[o.on].label),
        Some(o) => format!("{s} (mostly on {})", chart.lines[o.on].label),
        None => s,
    }
}

/// The legend in its own column, one row per line with its stroke; returns the notes on
/// coinciding lines.
fn legend(
    chart: &Chart<'_>,
    area: &Area<'_>,
    labels: &[String],
    over: &[Option<Overlap>],
    styles: &[Stroke],
) -> Result<Vec<String>, DrawError> {
    let text = TextStyle::from((FONT, TEXT)).color(&BLACK);
    // Below the caption, level with the plot's top.
    let top = 40;
    for (i, stroke) in styles.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        #[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
        let y = top + 18 * i as i32;
        let style = color.stroke_width(2);
        match stroke {
            Stroke::Solid => area.draw(&PathElement::new(vec![(4, y), (30, y)], style))?,
            Stroke::Dashed | Stroke::Marked => {
                for x in [4, 18] {
                    area.draw(&PathElement::new(vec![(x, y), (x + 8, y)], style))?;
                }
            }
            Stroke::Dotted => {
                for x in [4, 11, 18, 25] {
                    area.draw(&PathElement::new(vec![(x, y), (x + 2, y)], style))?;
                }
            }
        }
        if *stroke == Stroke::Marked {
            area.draw(&Circle::new((17, y), 3, style.filled()))?;
        }
        area.draw(&Text::new(labels[i].as_str(), (36, y - 6), text.clone()))?;
    }
    Ok(notes(chart, over))
}

/// The sentences under a chart: which lines coincide with which, and which mostly lie on
/// another, each list grouped by the line underneath (`a, b = c`).
fn notes(chart: &Chart<'_>, over: &[Option<Overlap>]) -> Vec<String> {
    let group = |whole: bool, sep: &str| -> Vec<String> {
        let mut by_target: Vec<(usize, Vec<&str>)> = Vec::new();
        for (i, o) in over.iter().enumerate() {
            let Some(o) = o.filter(|o| o.whole == whole) else {
                continue;
            };
            let name = chart.lines[i].label.as_str();
            match by_target.iter_mut().find(|(t, _)| *t == o.on) {
                Some((_, names)) => names.push(name),
                None => by_target.push((o.on, vec![name])),
            }
        }
        by_target
            .into_iter()
            .map(|(t, names)| format!("{}{sep}{}", names.join(", "), chart.lines[t].label))
            .collect()
    };
    let (whole, mostly) = (group(true, " = "), group(false, " on "));
    let mut out = Vec::new();
    if !whole.is_empty() {
        out.push(format!(
            "Coinciding lines (within a pixel everywhere; the later one is drawn dashed or dotted over the other): {}.",
            whole.join("; ")
        ));
    }
    if !mostly.is_empty() {
        out.push(format!(
            "Lines lying mostly on another (drawn dashed or dotted over it): {}.",
            mostly.join("; ")
        ));
    }
    out
}

/// `(x0, x1, y0, y1)`: linear charts start at 0 and leave 8% headroom (room for the fault
/// labels too); the percentile chart spans whole decades of latency.
fn bounds(chart: &Chart<'_>) -> (f64, f64, f64, f64) {
    let per_left = chart.right.as_ref().map_or(1.0, |r| r.per_left);
    let pts = || {
        chart.lines.iter().flat_map(move |l| {
            let k = if l.right { per_left } else { 1.0 };
            l.points.iter().map(move |&(x, y)| (x, y / k))
        })
    };
    let min = |f: fn(&(f64, f64)) -> f64| pts().map(|p| f(&p)).fold(f64::INFINITY, f64::min);
    let max = |f: fn(&(f64, f64)) -> f64| pts().map(|p| f(&p)).fold(f64::NEG_INFINITY, f64::max);
    let (x0, x1) = (min(|p| p.0), max(|p| p.0));
    let (x0, x1) = if x0.is_finite() && x1 > x0 {
        (x0.min(0.0), x1)
    } else {
        (0.0, 1.0)
    };
    let (y0, y1) = (min(|p| p.1), max(|p| p.1));
    if chart.percentile_x {
        return match (y0.is_finite(), y1.is_finite()) {
            (true, true) => (x0, x1, y0.floor(), y1.ceil().max(y0.floor() + 1.0)),
            _ => (x0, x1, 0.0, 1.0),
        };
    }
    let headroom = if chart.shade.is_empty() { 1.08 } else { 1.15 };
    (x0, x1, 0.0, if y1 > 0.0 { y1 * headroom } else { 1.0 })
}

/// The percentile curve of a latency histogram (ns) as `(log10(1/(1−q)), log10(ms))`, from
/// just above q = 0 up to the highest percentile the sample supports (1 / count). Latencies under 1 ns
/// are drawn at 1 ns: a log axis has no zero.
#[must_use]
#[allow(clippy::cast_precision_loss)]
pub fn percentile_points(h: &Histogram<u64>) -> Vec<(f64, f64)> {
    if h.is_empty() {
        return Vec::new();
    }
    let x_max = (h.len() as f64).log10().min(6.0);
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let steps = (x_max * 20.0).ceil().max(1.0) as u32;
    // From the first step on, not q = 0: the single fastest message would stretch the log
    // axis over decades nobody reads.
    (1..=steps)
        .map(|k| {
            let x = x_max * f64::from(k) / f64::from(steps);
            let q = 1.0 - 10f64.powf(-x);
            (x, (h.value_at_quantile(q).max(1) as f64 / 1e6).log10())
        })
        .collect()
}

#[cfg(test)]
mod tests;
