//! The pattern sections as the reports draw them, checked against the fixture with every
//! pattern, and a made-up section drawn in every format.

use super::tables;
use crate::{Format, Options, Report, fixture, write};
use mqlab_sim::section::Section;
use mqlab_sim::summary::sections;

fn render(format: Format) -> String {
    let mut out = Vec::new();
    let report = Report::Run(fixture::run_with_patterns());
    write(&report, format, &Options::default(), &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

/// Each section table's title and its first row, as cells, in order.
const SECTIONS: [(&str, &[&str]); 16] = [
    (
        "Backpressure",
        &["17", "2.500 s", "29", "311", "307", "4096", "1024"],
    ),
    ("Pipeline", &["5000", "4990"]),
    (
        "Stages",
        &[
            "payments",
            "orders",
            "exactly-once",
            "5000",
            "3.750 ms",
            "3.000 ms",
            "24.000 ms",
            "120.000 ms",
        ],
    ),
    (
        "Service outputs",
        &["payments", "charges", "4990", "0", "21", "10", "5000", "0"],
    ),
    (
        "Paths",
        &[
            "checkout → payments → ledger",
            "4990",
            "8.750 ms",
            "7.000 ms",
            "56.000 ms",
            "280.000 ms",
        ],
    ),
    (
        "Services (outbox / dual write)",
        &[
            "orders", "outbox", "5210", "13", "41", "5209", "6", "0", "0", "1",
        ],
    ),
    (
        "Sagas",
        &[
            "order",
            "2900",
            "2611",
            "288",
            "0",
            "1",
            "198",
            "143",
            "2",
            "57",
            "3",
            "402",
            "0",
            "26.250 ms",
            "21.000 ms",
            "168.000 ms",
            "840.000 ms",
        ],
    ),
    (
        "Sagas: checks",
        &[
            "saga order outcomes",
            "started = completed + compensated + half-done + in progress",
            "2900 = 2611 + 288 + 0 + 1",
            "held",
        ],
    ),
    (
        "Request-reply",
        &[
            "client",
            "3000",
            "2950",
            "48",
            "2",
            "2977",
            "19",
            "8",
            "0",
            "5",
            "5.000 ms",
            "4.000 ms",
            "12.000 ms",
            "32.000 ms",
            "160.000 ms",
        ],
    ),
    ("Poison-message protection", &["14", "9", "4"]),
    (
        "Latency by message type",
        &[
            "good",
            "59000",
            "2.500 ms",
            "2.000 ms",
            "16.000 ms",
            "80.000 ms",
        ],
    ),
    (
        "Quarantined messages",
        &[
            "payments",
            "poison",
            "100",
            "11.000 s",
            "2",
            "10.000–10.005 s failed; 10.500–11.000 s timed out",
        ],
    ),
    (
        "Circuit-breaker transitions",
        &["10.000 s", "payments", "poison", "closed", "open"],
    ),
    (
        "Payload bytes / claim check",
        &[
            "987654321 B",
            "256000.0 B/s",
            "12345678 B",
            "0.750 ms",
            "12.500 ms",
            "77",
            "770000000 B",
        ],
    ),
    (
        "Priority classes",
        &[
            "9",
            "1200",
            "1199",
            "25.0 %",
            "1.250 ms",
            "1.000 ms",
            "8.000 ms",
            "40.000 ms",
        ],
    ),
    ("Resequencers", &["payments", "640", "33", "0", "12", "4"]),
];

#[test]
fn a_run_without_patterns_gets_no_pattern_table() {
    assert!(tables(&sections(&fixture::run())).is_empty());
}

#[test]
fn markdown_shows_every_section_with_its_figures_after_the_core_tables() {
    let md = render(Format::Markdown);
    let mut at = md.find("## Fault phases").expect("core tables first");
    for (title, cells) in SECTIONS {
        let heading = md[at..]
            .find(&format!("\n## {title}\n"))
            .unwrap_or_else(|| panic!("{title} missing or out of order"));
        at += heading + 1;
        let section = md[at..].split("\n## ").next().unwrap();
        let row = format!("| {} |", cells.join(" | "));
        assert!(section.contains(&row), "{title}: no row {row}\n{section}");
    }
}

#[test]
fn html_shows_the_same_tables_and_figures() {
    let html = render(Format::Html);
    for (title, cells) in SECTIONS {
        let section = html
            .split(&format!("<h2>{title}</h2>"))
            .nth(1)
            .unwrap_or_else(|| panic!("{title} missing"));
        // Text cells carry their left alignment, verdicts their mark.
        let section = section
            .split("<h2>")
            .next()
            .unwrap()
            .replace(" class=\"l\"", "")
            .replace("<td class=\"l pass\">✓ ", "<td>");
        let row: String = cells.iter().map(|c| format!("<td>{c}</td>")).collect();
        assert!(section.contains(&row), "{title}: no row {row}\n{section}");
    }
}

/// Issue 13: a new pattern is a builder and a registration; no renderer learns it. A
/// made-up section (no shipped pattern has it) renders in Markdown, HTML and text with
/// its figures, aligned by kind, and its failing check marked.
#[test]
fn a_made_up_section_renders_in_every_format_without_renderer_changes() {
    let t = tables(&[Section::example()]);
    let titles: Vec<&str> = t.iter().map(|t| t.title.as_str()).collect();
    assert_eq!(
        titles,
        ["Rate limiter", "Refusals by client", "Rate limiter: checks"]
    );
    let mut md = Vec::new();
    let mut html = Vec::new();
    let mut text = Vec::new();
    for table in &t {
        crate::markdown::write_table(table, &mut md).unwrap();
        crate::html::write_table(table, &mut html).unwrap();
        crate::text::write_table(table, &mut text).unwrap();
    }
    let (md, html, text) = (
        String::from_utf8(md).unwrap(),
        String::from_utf8(html).unwrap(),
        String::from_utf8(text).unwrap(),
    );
    let figures = [
        "edge",
        "throttling",
        "9120",
        "880",
        "91.2 %",
        "12.500 ms",
        "12.500 s",
        "456.0/s",
        "2500000 B",
        "125000.0 B/s",
    ];
    assert!(md.contains(&format!("| {} |", figures.join(" | "))), "{md}");
    assert!(
        md.contains("| :--- | :--- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"),
        "text left, numbers right:\n{md}"
    );
    assert!(md.contains("Per limiter: requests let through"), "{md}");
    assert!(
        md.contains("| refused share | &lt;= 5% | 8.8% | FAILED |"),
        "{md}"
    );
    let row: String = figures
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let class = if i < 2 { " class=\"l\"" } else { "" };
            format!("<td{class}>{c}</td>")
        })
        .collect();
    assert!(html.contains(&row), "{html}");
    assert!(
        html.contains("<td class=\"l fail\">✗ FAILED</td>"),
        "{html}"
    );
    assert!(text.contains("RATE LIMITER") && text.contains("REFUSALS BY CLIENT"));
    let lines: Vec<&str> = text.lines().collect();
    let header = lines.iter().position(|l| l.starts_with("limiter")).unwrap();
    // `allowed` is right-aligned under its header.
    let col = lines[header].find("allowed").unwrap() + "allowed".len();
    assert_eq!(&lines[header + 1][col - 4..col], "9120", "{text}");
}

#[test]
fn protection_shows_the_first_records_and_transitions_and_says_how_many() {
    let shown = 10;
    let md = render(Format::Markdown);
    assert!(md.contains("The first 10 of 14 quarantined"), "{md}");
    assert!(md.contains("The first 10 of 12 recorded"), "{md}");
    assert!(md.contains(&format!("| payments | poison | {} |", 100 + shown - 1)));
    assert!(!md.contains(&format!("| payments | poison | {} |", 100 + shown)));
    let transitions = md.split("## Circuit-breaker transitions").nth(1).unwrap();
    assert_eq!(transitions.matches("| payments | poison |").count(), 10);
}

#[test]
fn protection_says_all_when_every_record_is_shown() {
    let mut r = fixture::run_with_patterns();
    let p = r.protection.as_mut().unwrap();
    p.quarantined = 3;
    p.quarantine.truncate(3);
    p.transitions.truncate(2);
    let notes: Vec<String> = tables(&sections(&r)).into_iter().map(|t| t.note).collect();
    assert!(notes.iter().any(|n| n.starts_with("All 3 quarantined")));
    assert!(notes.iter().any(|n| n.starts_with("All 2 recorded")));
}

#[test]
fn payload_without_claim_check_has_no_claim_check_columns() {
    let mut r = fixture::run_with_patterns();
    r.payload.as_mut().unwrap().claim_check = None;
    let tables = tables(&sections(&r));
    let t = tables
        .iter()
        .find(|t| t.title == "Payload bytes / claim check")
        .unwrap();
    assert_eq!(t.header.len(), 5);
    assert_eq!(t.rows[0].len(), 5);
}
