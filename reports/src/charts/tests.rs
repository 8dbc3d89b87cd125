use super::*;

fn chart(lines: Vec<Line>, shade: Vec<Window>) -> Chart<'static> {
    Chart {
        title: "t",
        x_desc: "x",
        y_desc: "y",
        x_unit: Unit::Seconds,
        y_unit: Unit::Count,
        lines,
        shade,
        percentile_x: false,
        right: None,
    }
}

/// Each `<text>` element's y and content.
fn texts(svg: &str) -> Vec<(i32, String)> {
    svg.split("<text")
        .skip(1)
        .map(|t| {
            let y = t
                .split(" y=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            let body = t
                .split_once('>')
                .unwrap()
                .1
                .split("</text>")
                .next()
                .unwrap();
            (y, body.trim().to_string())
        })
        .collect()
}

fn has_text(svg: &str, s: &str) -> bool {
    texts(svg).iter().any(|(_, t)| t == s)
}

fn ramp(k: f64) -> Vec<(f64, f64)> {
    (0..=100)
        .map(|i| (f64::from(i), k * f64::from(i) * 35.0))
        .collect()
}

#[test]
fn chart_is_one_svg_with_a_polyline() {
    let d = svg(&chart(
        vec![Line::new("a", vec![(0.0, 1.0), (1.0, 2.0)])],
        Vec::new(),
    ))
    .unwrap();
    assert_eq!(d.svg.matches("<svg").count(), 1);
    assert!(d.svg.contains("<polyline"));
    assert!(!d.svg.contains("http"));
    assert!(d.notes.is_empty());
}

/// Issue 15: compare's at-least-once line lay exactly under exactly-once while the legend
/// listed both; the legend and the notes now say they coincide, and the later line is
/// drawn dashed so the one under it shows through.
#[test]
fn coinciding_lines_are_named_in_the_legend_and_drawn_dashed() {
    let d = svg(&chart(
        vec![
            Line::new("at-most-once", ramp(0.5)),
            Line::new("at-least-once", ramp(1.0)),
            Line::new("exactly-once", ramp(1.0)),
        ],
        Vec::new(),
    ))
    .unwrap();
    assert!(
        has_text(&d.svg, "exactly-once = at-least-once"),
        "{}",
        d.svg
    );
    assert!(!d.svg.contains("at-most-once ="));
    assert_eq!(d.notes.len(), 1, "{:?}", d.notes);
    assert!(d.notes[0].starts_with("Coinciding lines"), "{:?}", d.notes);
    assert!(
        d.notes[0].ends_with(": exactly-once = at-least-once."),
        "{:?}",
        d.notes
    );
    // The first two solid (one polyline and a legend swatch each); the third is drawn as
    // dashes, many short segments.
    let strokes = |c: &str| d.svg.matches(&format!("stroke=\"{c}\"")).count();
    assert_eq!(
        (strokes("#1F77B4"), strokes("#D62728")),
        (2, 2),
        "{}",
        d.svg
    );
    assert!(strokes("#2CA02C") > 20, "dashes over the line it hides");
}

/// Issue 15: fault windows were shaded but not said what they were.
#[test]
fn fault_windows_are_shaded_and_labelled() {
    let d = svg(&chart(
        vec![Line::new("lag", ramp(1.0))],
        vec![
            Window {
                start: 20.0,
                end: 35.0,
                label: "crash analytics".into(),
            },
            Window {
                start: 22.0,
                end: 30.0,
                label: "partition broker-1".into(),
            },
        ],
    ))
    .unwrap();
    let y = |label: &str| -> i32 {
        texts(&d.svg)
            .iter()
            .find(|(_, t)| t == label)
            .unwrap_or_else(|| panic!("no {label}"))
            .0
    };
    // Overlapping windows: the second label drops a row instead of overprinting.
    assert!(y("partition broker-1") >= y("crash analytics") + 12);
}

/// Issue 15: ticks read `3.5k` and `20 s`, not `3500.0` and `20.0`.
#[test]
fn ticks_are_readable() {
    let d = svg(&chart(vec![Line::new("lag", ramp(1.0))], Vec::new())).unwrap();
    let t = texts(&d.svg);
    assert!(has_text(&d.svg, "3k") && has_text(&d.svg, "20 s"), "{t:?}");
    assert!(t.iter().all(|(_, s)| !s.ends_with(".0")), "{t:?}");
}

/// Issue 15: produced messages and processed copies on one unlabelled axis; now processed
/// copies have their own right axis, labelled, scaled by the fan-out.
#[test]
fn a_right_axis_carries_its_own_label_and_scale() {
    let mut copies = Line::new("processed copies", ramp(6.0));
    copies.right = true;
    let mut c = chart(vec![Line::new("produced", ramp(1.0)), copies], Vec::new());
    c.y_desc = "produced messages / s";
    c.right = Some(RightAxis {
        desc: "processed copies / s (6 per message)".into(),
        per_left: 6.0,
    });
    let d = svg(&c).unwrap();
    let t = texts(&d.svg);
    assert!(
        has_text(&d.svg, "processed copies / s (6 per message)"),
        "{t:?}"
    );
    assert!(has_text(&d.svg, "produced messages / s"));
    assert!(has_text(&d.svg, "produced (left)"), "{t:?}");
    // At the same height: the lines coincide, which the legend then says.
    assert!(
        has_text(&d.svg, "processed copies (right) = produced"),
        "{t:?}"
    );
    // The right axis reaches six times the left's top tick.
    assert!(has_text(&d.svg, "20k"), "{t:?}");
}
