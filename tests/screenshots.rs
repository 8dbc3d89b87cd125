//! The HTML report as a person sees it: pages rendered in headless Chromium and judged from
//! the PNG itself (issue 15's checks). Each chart of a real run and a real comparison of
//! `food-delivery.toml` is laid on one contact sheet at a known place, so one browser launch
//! serves every assertion: each group's latency line shows in the plot, a series lying
//! under another still shows through the dashes of the one on top (and the legend says they
//! coincide), and the fault window is shaded and named. CI installs Debian's `chromium`;
//! elsewhere the tests are skipped with a note when it is absent.

use crate::support::{mqlab, root, scratch};
use std::path::Path;

/// Chromium's command name, or `None` (skip) outside CI when it is not installed.
fn chromium() -> Option<&'static str> {
    let found = ["chromium", "chromium-browser"].into_iter().find(|b| {
        std::process::Command::new(b)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if found.is_none() {
        assert!(std::env::var_os("CI").is_none(), "CI must install chromium");
        eprintln!("skipped: chromium not installed");
    }
    found
}

/// Screenshots `page` at `size` (CSS pixels = PNG pixels) into `png`.
fn shoot(browser: &str, page: &Path, png: &Path, (w, h): (u32, u32)) {
    let log = png.with_extension("log");
    // A container's small /dev/shm can hang Chromium: keep it out, and give up after 60 s
    // rather than stall CI. sRGB and scale 1, so colours and places are the SVG's own.
    let mut child = std::process::Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
            "--force-color-profile=srgb",
        ])
        .arg(format!("--window-size={w},{h}"))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", page.display()))
        .stdout(std::process::Stdio::null())
        // To a file, not a pipe: a pipe nobody reads until exit could fill and stall it.
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > std::time::Duration::from_secs(60) {
            let _ = child.kill();
            panic!("chromium did not finish within 60 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(
        png.exists(),
        "no screenshot: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}

/// A decoded screenshot, one RGB triple per pixel.
struct Shot {
    width: usize,
    rgb: Vec<[u8; 3]>,
}

impl Shot {
    fn load(path: &Path) -> Shot {
        let decoder =
            png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        let n = info.color_type.samples();
        assert!(n >= 3, "colour screenshot");
        let rgb = buf[..info.buffer_size()]
            .chunks(n)
            .map(|p| [p[0], p[1], p[2]])
            .collect();
        Shot {
            width: info.width as usize,
            rgb,
        }
    }

    /// Pixels within `tol` of `color` on every channel, in the box `x` × `y`.
    fn count(
        &self,
        x: std::ops::Range<usize>,
        y: std::ops::Range<usize>,
        color: [u8; 3],
        tol: u8,
    ) -> usize {
        y.flat_map(|row| x.clone().map(move |col| row * self.width + col))
            .filter_map(|i| self.rgb.get(i))
            .filter(|p| p.iter().zip(color).all(|(a, b)| a.abs_diff(b) <= tol))
            .count()
    }
}

/// The charts' colours in drawing order (tab10), the plot's size and the fault shade, as
/// `mqlab_reports` draws them.
const COLORS: [[u8; 3]; 7] = [
    [31, 119, 180],
    [214, 39, 40],
    [44, 160, 44],
    [255, 127, 14],
    [148, 103, 189],
    [140, 86, 75],
    [227, 119, 194],
];
const PLOT_W: usize = 760;
const PLOT_H: usize = 320;
/// The tab10 red at 12% over white.
const SHADE: [u8; 3] = [250, 229, 229];
/// The fault label's dark red.
const LABEL: [u8; 3] = [150, 20, 20];

/// The `<svg>` elements of a page, in order.
fn svgs(page: &str) -> Vec<String> {
    page.split("<svg")
        .skip(1)
        .map(|s| format!("<svg{}</svg>", s.split("</svg>").next().unwrap()))
        .collect()
}

/// One page with chart `i` at the top left of slot `i` (`PLOT_H` pixels each), so a
/// screenshot crops to one chart by rows.
fn contact_sheet(charts: &[String]) -> String {
    let mut page = String::from(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"/><style>body{margin:0;background:#fff}div{position:absolute;left:0}</style></head><body>",
    );
    for (i, svg) in charts.iter().enumerate() {
        page.push_str(&format!("<div style=\"top:{}px\">{svg}</div>", i * PLOT_H));
    }
    page + "</body></html>"
}

/// `mqlab ARGS --report html --out FILE` on `food-delivery.toml`; the page.
fn food_delivery_page(dir: &Path, name: &str, args: &[&str]) -> String {
    let out = dir.join(format!("{name}.html"));
    let res = mqlab()
        .args(args)
        .arg(root().join("scenarios/food-delivery.toml"))
        .args(["--report", "html", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    // 1 is a failed check, which the page then shows: only 2 is an error.
    assert!(
        matches!(res.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    std::fs::read_to_string(out).unwrap()
}

/// Issue 15: the merged latency curve could not say which group made it jump; in the
/// compare report at-least-once lay hidden under exactly-once while the legend listed it;
/// fault windows were shaded but not named.
#[test]
fn chart_screenshots_show_group_lines_coinciding_series_and_named_faults() {
    let Some(browser) = chromium() else {
        return;
    };
    let dir = scratch("chart-shots");
    let run = food_delivery_page(&dir, "run", &["run"]);
    let compare = food_delivery_page(&dir, "compare", &["compare", "--seeds", "1..2"]);
    let (run_svgs, compare_svgs) = (svgs(&run), svgs(&compare));
    assert_eq!((run_svgs.len(), compare_svgs.len()), (3, 3));
    let sheet = dir.join("sheet.html");
    std::fs::write(
        &sheet,
        contact_sheet(&[run_svgs.clone(), compare_svgs.clone()].concat()),
    )
    .unwrap();
    let png = dir.join("sheet.png");
    shoot(
        browser,
        &sheet,
        &png,
        (1600, u32::try_from(6 * PLOT_H).unwrap()),
    );
    let shot = Shot::load(&png);
    // The plot column of slot `i`: the legend, to its right, does not count.
    let plot = |i: usize, color: [u8; 3], tol: u8| {
        shot.count(0..PLOT_W, i * PLOT_H..(i + 1) * PLOT_H, color, tol)
    };

    // Per-group latency: the merged curve and each of the six groups draw their own line.
    for (k, color) in COLORS.iter().enumerate() {
        let n = plot(2, *color, 10);
        assert!(
            n > 150,
            "latency line {k} ({color:?}) has {n} pixels in the plot"
        );
    }
    assert!(run_svgs[2].contains("analytics") && run_svgs[2].contains("payments"));

    // Coinciding series: compare's lag lines of at-least-once and exactly-once are one path;
    // the legend and the caption say so, and both colours show in the plot (the one
    // underneath through the dashes on top).
    assert!(
        compare_svgs[1].contains("exactly-once = at-least-once"),
        "{}",
        compare_svgs[1]
    );
    let caption = compare
        .split("</svg>")
        .nth(2)
        .unwrap()
        .split("</figure>")
        .next()
        .unwrap();
    assert!(
        caption.contains("exactly-once = at-least-once"),
        "{caption}"
    );
    let (under, over) = (plot(4, COLORS[1], 10), plot(4, COLORS[2], 10));
    assert!(
        under > 300 && over > 300,
        "at-least-once {under} px, exactly-once {over} px"
    );

    // Fault windows: every time chart shades 20–35 s and names the fault in the band.
    for (slot, svg) in [
        (0, &run_svgs[0]),
        (1, &run_svgs[1]),
        (3, &compare_svgs[0]),
        (4, &compare_svgs[1]),
    ] {
        assert!(
            svg.contains("crash analytics"),
            "slot {slot}: no fault label"
        );
        let shade = plot(slot, SHADE, 2);
        assert!(shade > 5_000, "slot {slot}: {shade} shaded pixels");
        let label = plot(slot, LABEL, 60);
        assert!(label > 60, "slot {slot}: {label} label pixels");
    }
}

/// Opens the whole HTML report in headless Chromium and checks the screenshot is not
/// blank: text, tables and coloured chart lines.
#[test]
fn html_report_renders_in_headless_chromium() {
    let Some(browser) = chromium() else {
        return;
    };
    let dir = scratch("chromium");
    let page = dir.join("page.html");
    std::fs::write(&page, food_delivery_page(&dir, "run", &["run"])).unwrap();
    let png = dir.join("shot.png");
    shoot(browser, &page, &png, (1000, 1400));
    let shot = Shot::load(&png);
    let total = shot.rgb.len();
    let dark = shot
        .rgb
        .iter()
        .filter(|p| p.iter().any(|c| *c < 200))
        .count();
    let colored = shot
        .rgb
        .iter()
        .filter(|p| (i32::from(p[0]) - i32::from(p[2])).abs() > 60)
        .count();
    // Text, axes and coloured lines: a blank page has neither dark nor coloured pixels.
    assert!(
        dark * 200 > total,
        "screenshot looks blank: {dark} dark of {total}"
    );
    assert!(colored > 500, "no coloured chart lines: {colored}");
}
