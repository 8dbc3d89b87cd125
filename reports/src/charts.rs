//! SVG charts drawn with plotters: lines over a linear x axis, optional shaded x windows (the
//! fault windows), and the HdrHistogram-style percentile plot whose x axis is
//! `log10(1 / (1 − q))`, so 90%, 99%, 99.9% are evenly spaced. Returns SVG text; the HTML
//! report inlines it.

use crate::ReportError;
use hdrhistogram::Histogram;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

/// One named line.
pub struct Line {
    /// Legend label.
    pub label: String,
    /// Points in data coordinates.
    pub points: Vec<(f64, f64)>,
}

/// What to draw.
pub struct Chart<'a> {
    /// Caption.
    pub title: &'a str,
    /// X axis description.
    pub x_desc: &'a str,
    /// Y axis description.
    pub y_desc: &'a str,
    /// The lines.
    pub lines: Vec<Line>,
    /// X windows to shade (fault windows).
    pub shade: Vec<(f64, f64)>,
    /// The percentile plot: x is `log10(1/(1−q))` labelled as percentiles, y is
    /// `log10(latency in ms)` labelled in ms (log axes both ways, as HdrHistogram plots).
    pub percentile_x: bool,
}

/// The ten "tab10" colours: distinct for up to ten variants.
const COLORS: [RGBColor; 10] = [
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

const SIZE: (u32, u32) = (760, 300);

/// Draws `chart` as a standalone `<svg>` element.
///
/// # Errors
/// Plotters fails to lay the chart out.
pub fn svg(chart: &Chart<'_>) -> Result<String, ReportError> {
    let err = |e: &dyn std::fmt::Display| ReportError::Chart {
        chart: chart.title.to_string(),
        message: e.to_string(),
    };
    let (x0, x1, y0, y1) = bounds(chart);
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let mut ctx = ChartBuilder::on(&root)
            .caption(chart.title, ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(64)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(|e| err(&e))?;
        let pct = |x: &f64| percentile_label(*x);
        let log_ms = |y: &f64| log_ms_label(*y);
        let mut mesh = ctx.configure_mesh();
        mesh.x_desc(chart.x_desc).y_desc(chart.y_desc);
        if chart.percentile_x {
            // One tick per decade of 1/(1−q): 0%, 90%, 99%, 99.9%, ...
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            mesh.x_labels(x1.floor() as usize + 1)
                .x_label_formatter(&pct)
                .y_labels((y1 - y0).round() as usize + 1)
                .y_label_formatter(&log_ms);
        }
        mesh.draw().map_err(|e| err(&e))?;
        let shade = RGBColor(214, 39, 40).mix(0.12).filled();
        ctx.draw_series(
            chart
                .shade
                .iter()
                .map(|&(a, b)| Rectangle::new([(a, y0), (b, y1)], shade)),
        )
        .map_err(|e| err(&e))?;
        draw_lines(chart, &mut ctx).map_err(|e| err(&e))?;
        root.present().map_err(|e| err(&e))?;
    }
    // Inline SVG in HTML needs no namespace, and leaving it out keeps the page free of URLs.
    Ok(buf.replace(" xmlns=\"http://www.w3.org/2000/svg\"", ""))
}

type Ctx<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;
type DrawError = DrawingAreaErrorKind<<SVGBackend<'static> as DrawingBackend>::ErrorType>;

/// The lines and, when there are several, their legend.
fn draw_lines<'a, 'b: 'a>(chart: &Chart<'_>, ctx: &mut Ctx<'a, 'b>) -> Result<(), DrawError> {
    let n = chart.lines.len();
    for (i, line) in chart.lines.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        // With a few lines, earlier ones are drawn wider so that identical variants (which
        // overlap exactly) stay visible; with many, that would only thicken the tangle.
        #[allow(clippy::cast_possible_truncation)]
        let width = if n <= 4 { 2 + (n - 1 - i) as u32 } else { 2 };
        ctx.draw_series(LineSeries::new(
            line.points.iter().copied(),
            color.stroke_width(width),
        ))?
        .label(line.label.as_str())
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
    }
    if chart.lines.len() > 1 {
        ctx.configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            // Percentile curves rise to the right: their lower right is empty.
            .position(if chart.percentile_x {
                SeriesLabelPosition::LowerRight
            } else {
                SeriesLabelPosition::UpperLeft
            })
            .draw()?;
    }
    Ok(())
}

/// `(x0, x1, y0, y1)`: linear charts start at 0 and leave 8% headroom; the percentile chart
/// spans whole decades of latency.
fn bounds(chart: &Chart<'_>) -> (f64, f64, f64, f64) {
    let pts = || chart.lines.iter().flat_map(|l| l.points.iter());
    let min = |f: fn(&(f64, f64)) -> f64| pts().map(f).fold(f64::INFINITY, f64::min);
    let max = |f: fn(&(f64, f64)) -> f64| pts().map(f).fold(f64::NEG_INFINITY, f64::max);
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
    (x0, x1, 0.0, if y1 > 0.0 { y1 * 1.08 } else { 1.0 })
}

/// `-1` → `0.1 ms`, `0` → `1 ms`, `2` → `100 ms`.
fn log_ms_label(y: f64) -> String {
    let ms = 10f64.powf(y);
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let digits = if y >= 0.0 { 0 } else { (-y).ceil() as usize };
    format!("{ms:.digits$} ms")
}

/// `0` → `0%`, `1` → `90%`, `2` → `99%`, `3` → `99.9%`.
fn percentile_label(x: f64) -> String {
    let q = 100.0 * (1.0 - 10f64.powf(-x));
    let digits = if x <= 2.0 {
        0
    } else {
        (x - 2.0).ceil() as usize
    };
    format!("{q:.digits$}%")
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
mod tests {
    use super::*;

    #[test]
    fn percentile_labels_read_as_nines() {
        assert_eq!(percentile_label(0.0), "0%");
        assert_eq!(percentile_label(1.0), "90%");
        assert_eq!(percentile_label(2.0), "99%");
        assert_eq!(percentile_label(3.0), "99.9%");
        assert_eq!(log_ms_label(-1.0), "0.1 ms");
        assert_eq!(log_ms_label(2.0), "100 ms");
    }

    #[test]
    fn chart_is_one_svg_with_a_polyline() {
        let svg = svg(&Chart {
            title: "t",
            x_desc: "x",
            y_desc: "y",
            lines: vec![Line {
                label: "a".into(),
                points: vec![(0.0, 1.0), (1.0, 2.0)],
            }],
            shade: vec![(0.2, 0.4)],
            percentile_x: false,
        })
        .unwrap();
        assert_eq!(svg.matches("<svg").count(), 1);
        assert!(svg.contains("<polyline"));
        assert!(!svg.contains("http"));
    }
}
