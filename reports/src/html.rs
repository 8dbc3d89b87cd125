//! HTML: one standalone page — inline CSS, inline SVG charts, no script, no external URL —
//! that opens offline and pastes into a design review. The page is well-formed XML (every
//! element closed, text escaped) so tests can parse it. Tables never wrap a cell: text
//! columns are left-aligned, numbers right-aligned, and the page grows as wide as its
//! widest table (the browser scrolls sideways); checks are coloured pass or fail and marked
//! ✓ or ✗, so the verdict survives a print without colour.

mod figures;

use crate::tables::{self, Table};
use crate::{Options, Report, ReportError};
use std::io;

const STYLE: &str = "body{font-family:sans-serif;margin:2em;color:#222}\
p{max-width:60em}\
table{border-collapse:collapse;margin:0.5em 0 1.5em}\
td,th{border:1px solid #bbb;padding:0.25em 0.6em;font-size:0.9em;white-space:nowrap}\
td,th{text-align:right}th{background:#eee}.l{text-align:left}\
td.pass{background:#e1f3e1;color:#17641a}td.fail{background:#fbe0e0;color:#a31515;font-weight:bold}\
figure{margin:1em 0}figcaption{color:#555;font-size:0.9em;max-width:60em}.meta{color:#555}\
code{font-size:0.85em}";

/// Writes `report` as a standalone HTML page.
pub fn write<W: io::Write>(report: &Report, opts: &Options, w: &mut W) -> Result<(), ReportError> {
    let figures = match report {
        Report::Run(r) => figures::run_charts(r)?,
        Report::Comparison(c) => figures::comparison_charts(c)?,
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
    // The chart's own caption is drawn inside the SVG; the figcaption says which lines
    // coincide.
    for f in &figures {
        writeln!(w, "<figure>\n{}", f.svg)?;
        if !f.notes.is_empty() {
            writeln!(w, "<figcaption>{}</figcaption>", esc(&f.notes.join(" ")))?;
        }
        writeln!(w, "</figure>")?;
    }
    for t in &tables {
        write_table(t, w)?;
    }
    writeln!(w, "</body>\n</html>")?;
    Ok(())
}

pub(crate) fn write_table<W: io::Write>(t: &Table, w: &mut W) -> io::Result<()> {
    writeln!(w, "<h2>{}</h2>", esc(&t.title))?;
    if !t.note.is_empty() {
        writeln!(w, "<p>{}</p>", esc(&t.note))?;
    }
    // Cells are right-aligned unless marked left: numbers stay plain `<td>`.
    let align: Vec<&str> = tables::numeric_columns(t)
        .iter()
        .map(|n| if *n { "" } else { " class=\"l\"" })
        .collect();
    write!(w, "<table>\n<tr>")?;
    for (h, a) in t.header.iter().zip(&align) {
        write!(w, "<th{a}>{}</th>", esc(h))?;
    }
    writeln!(w, "</tr>")?;
    for row in &t.rows {
        write!(w, "<tr>")?;
        for (i, cell) in row.iter().enumerate() {
            let a = align.get(i).copied().unwrap_or("");
            let verdict = (t.verdict == Some(i))
                .then(|| tables::verdict(cell))
                .flatten();
            // Markdown code spans (reproduce commands) become <code>.
            match (
                verdict,
                cell.strip_prefix('`').and_then(|c| c.strip_suffix('`')),
            ) {
                (Some(true), _) => write!(w, "<td class=\"l pass\">✓ {}</td>", esc(cell))?,
                (Some(false), _) => write!(w, "<td class=\"l fail\">✗ {}</td>", esc(cell))?,
                (None, Some(code)) => write!(w, "<td{a}><code>{}</code></td>", esc(code))?,
                (None, None) => write!(w, "<td{a}>{}</td>", esc(cell))?,
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
        // The core tables, latency by group and faults, then the pattern tables: 16 section
        // tables (pipeline 4, protection 4, services 2: theirs and the outbox relays', six
        // of one) and the checks of sagas and request-reply.
        assert_eq!(page.matches("<table>").count(), 6 + 2 + 16 + 2);
    }

    /// Issue 15: checks were plain text; now green ✓ or red ✗, colour and mark both.
    #[test]
    fn checks_are_coloured_and_marked_pass_or_fail() {
        let mut r = fixture::run();
        r.expectations[0].ok = false;
        r.expectations[0].actual = "3".into();
        let page = html(&Report::Run(r));
        let checks = page.split("<h2>Checks</h2>").nth(1).unwrap();
        let checks = checks.split("</table>").next().unwrap();
        assert!(
            checks.contains("<td class=\"l fail\">✗ FAILED</td>"),
            "{checks}"
        );
        assert!(
            checks.contains("<td class=\"l pass\">✓ held</td>"),
            "{checks}"
        );
        assert!(!checks.contains("<td>held</td>") && !checks.contains("<td>FAILED</td>"));
        for rule in ["td.pass{background:#e1f3e1", "td.fail{background:#fbe0e0"] {
            assert!(page.contains(rule), "{rule}");
        }
    }

    /// Issue 15: cells wrapped inside a page capped at 70em, every column right-aligned.
    #[test]
    fn tables_never_wrap_and_align_text_left_numbers_right() {
        let page = html(&Report::Run(fixture::run()));
        assert!(page.contains("white-space:nowrap"));
        let body_rule = page
            .split("body{")
            .nth(1)
            .unwrap()
            .split('}')
            .next()
            .unwrap();
        assert!(
            !body_rule.contains("max-width"),
            "the page grows with its tables"
        );
        let groups = page.split("<h2>Consumer groups</h2>").nth(1).unwrap();
        let header = groups.split("</tr>").next().unwrap();
        assert!(
            header
                .contains("<th class=\"l\">group</th><th class=\"l\">delivery</th><th>copies</th>"),
            "{header}"
        );
        let row = groups.split("</tr>").nth(1).unwrap();
        assert!(
            row.contains("<td class=\"l\">payments</td><td class=\"l\">at-least-once</td><td>"),
            "{row}"
        );
    }

    /// Issue 15: every time chart names its fault windows, not only shades them.
    #[test]
    fn time_charts_label_the_fault_windows() {
        for page in [
            html(&Report::Run(fixture::run())),
            html(&Report::Comparison(Box::new(fixture::comparison()))),
        ] {
            let labelled = page
                .split("<svg")
                .skip(1)
                .filter(|svg| svg.contains("simulated time"))
                .map(|svg| svg.matches("crash payments/1").count())
                .collect::<Vec<_>>();
            assert_eq!(labelled, [1, 1], "each time chart labels the window once");
        }
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
