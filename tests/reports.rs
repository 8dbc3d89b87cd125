//! `mqlab report` and the report files end to end, on hand-built results from
//! `mqlab_reports::fixture` (no engine needed): every format from a saved result, and the
//! failure paths — a corrupt or newer result and an unwritable output each exit 2 and leave
//! no partial file. The HTML page in headless Chromium is in `screenshots`.

use crate::support::{mqlab, scratch};
use std::path::{Path, PathBuf};

/// Files in `dir` other than `keep`: what a failed write may have left behind.
pub fn leftovers(dir: &Path, keep: &[&str]) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !keep.contains(&n.as_str()))
        .collect()
}

fn saved_run(dir: &Path) -> PathBuf {
    let path = dir.join("run.json");
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&mqlab_reports::fixture::run()).unwrap(),
    )
    .unwrap();
    path
}

fn report(result: &Path, format: &str) -> Vec<u8> {
    let out = mqlab()
        .arg("report")
        .arg(result)
        .args(["--format", format])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Checks the page parses as XML, names no URL, and has one SVG with data per figure.
pub fn assert_html_page(page: &str, charts: usize) {
    let mut rd = quick_xml::Reader::from_str(page);
    loop {
        match rd.read_event() {
            Ok(quick_xml::events::Event::Eof) => break,
            Ok(_) => {}
            Err(e) => panic!("HTML is not well-formed at {}: {e}", rd.buffer_position()),
        }
    }
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "no external URL"
    );
    assert_eq!(page.matches("<figure>").count(), charts);
    assert_eq!(page.matches("<svg").count(), charts);
    for svg in page.split("<svg").skip(1) {
        assert!(
            svg.split("</svg>").next().unwrap().contains("<polyline"),
            "chart without data"
        );
    }
}

#[test]
fn html_report_from_saved_run_is_standalone_with_three_charts() {
    let dir = scratch("html");
    let result = saved_run(&dir);
    let out = dir.join("page.html");
    mqlab()
        .arg("report")
        .arg(&result)
        .args(["--format", "html", "--out"])
        .arg(&out)
        .assert()
        .success();
    assert_html_page(&std::fs::read_to_string(&out).unwrap(), 3);
    assert_eq!(
        leftovers(&dir, &["run.json", "page.html"]),
        Vec::<String>::new()
    );
}

#[test]
fn markdown_and_json_reports_are_byte_identical_on_rerun() {
    let dir = scratch("md");
    let result = saved_run(&dir);
    let md = report(&result, "md");
    assert_eq!(md, report(&result, "md"));
    assert!(
        String::from_utf8(md)
            .unwrap()
            .contains("seed 7 · delivery at-least-once")
    );
    let json = report(&result, "json");
    let back: mqlab_sim::RunSummary = serde_json::from_slice(&json).unwrap();
    assert!(
        back == mqlab_reports::fixture::run(),
        "json re-emits the same result"
    );
}

#[test]
fn csv_report_parses_back_with_the_csv_crate() {
    let dir = scratch("csv");
    let bytes = report(&saved_run(&dir), "csv");
    let mut rd = csv::Reader::from_reader(bytes.as_slice());
    assert_eq!(
        rd.headers().unwrap(),
        vec!["run", "variant", "seed", "t_s", "metric", "value"]
    );
    let rows: Vec<csv::StringRecord> = rd.records().map(Result::unwrap).collect();
    let lag_at_22 = rows
        .iter()
        .find(|r| &r[4] == "lag" && &r[3] == "22.000000")
        .unwrap();
    assert_eq!(&lag_at_22[5], "163");
    assert!(
        rows.iter()
            .all(|r| &r[2] == "7" && r[5].parse::<f64>().is_ok())
    );
}

#[test]
fn hdr_report_round_trips_through_the_hdrhistogram_log_reader() {
    use base64::Engine as _;
    use hdrhistogram::Histogram;
    use hdrhistogram::serialization::Deserializer;
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
    let dir = scratch("hdr");
    let log = report(&saved_run(&dir), "hdr");
    let text = String::from_utf8(log.clone()).unwrap();
    assert!(
        text.lines()
            .any(|l| l == "#[Histogram log format version 1.3]")
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("\"StartTimestamp\",\"Interval_Length\""))
    );
    let mut read = Vec::new();
    for entry in IntervalLogIterator::new(&log) {
        if let LogEntry::Interval(i) = entry.unwrap() {
            assert!(i.tag().is_none(), "a single run is one untagged aggregate");
            let raw = base64::engine::general_purpose::STANDARD
                .decode(i.encoded_histogram())
                .unwrap();
            let h: Histogram<u64> = Deserializer::new()
                .deserialize(&mut raw.as_slice())
                .unwrap();
            read.push(h);
        }
    }
    assert_eq!(read.len(), 1);
    let run = mqlab_reports::fixture::run();
    // Same percentiles as the run reported (values in ns, the summary in s).
    for (q, secs) in [
        (0.5, run.latency_s.p50),
        (0.99, run.latency_s.p99),
        (0.999, run.latency_s.p999),
    ] {
        #[allow(clippy::cast_precision_loss)]
        let got = read[0].value_at_quantile(q) as f64 / 1e9;
        assert!((got - secs).abs() < 1e-9, "q={q}: {got} vs {secs}");
    }
}

#[test]
fn corrupt_result_is_exit_2_and_no_output_file() {
    let dir = scratch("corrupt");
    let bad = dir.join("bad.json");
    let text = serde_json::to_string(&mqlab_reports::fixture::run()).unwrap();
    std::fs::write(&bad, &text[..text.len() / 3]).unwrap();
    let out = dir.join("page.html");
    let res = mqlab()
        .arg("report")
        .arg(&bad)
        .args(["--format", "html", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(res.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&res.stderr).contains("not a valid mqlab result"));
    assert_eq!(
        leftovers(&dir, &["bad.json"]),
        Vec::<String>::new(),
        "no partial file"
    );
}

#[test]
fn result_from_a_newer_mqlab_is_exit_2() {
    let dir = scratch("newer");
    let mut run = mqlab_reports::fixture::run();
    run.version = "99.0.0".into();
    let path = dir.join("new.json");
    std::fs::write(&path, serde_json::to_string(&run).unwrap()).unwrap();
    let res = mqlab()
        .arg("report")
        .arg(&path)
        .args(["--format", "md"])
        .output()
        .unwrap();
    assert_eq!(res.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&res.stderr).contains("newer than this mqlab"));
}

#[test]
fn unwritable_output_is_exit_2_and_leaves_nothing() {
    let dir = scratch("unwritable");
    let result = saved_run(&dir);
    // The parent is a regular file, and a folder stands where the file should go.
    std::fs::write(dir.join("plain"), "x").unwrap();
    std::fs::create_dir(dir.join("taken.html")).unwrap();
    for target in [dir.join("plain").join("page.html"), dir.join("taken.html")] {
        let res = mqlab()
            .arg("report")
            .arg(&result)
            .args(["--format", "html", "--out"])
            .arg(&target)
            .output()
            .unwrap();
        assert_eq!(res.status.code(), Some(2), "{}", target.display());
        assert!(String::from_utf8_lossy(&res.stderr).contains("cannot write"));
    }
    assert_eq!(
        leftovers(&dir, &["run.json", "plain", "taken.html"]),
        Vec::<String>::new()
    );
    assert_eq!(
        std::fs::read_dir(dir.join("taken.html")).unwrap().count(),
        0
    );
}

/// The rows of the Markdown table under `## {title}`, each as column name → cell.
fn md_rows(md: &str, title: &str) -> Vec<std::collections::BTreeMap<String, String>> {
    let section = md
        .split(&format!("\n## {title}\n"))
        .nth(1)
        .unwrap_or_else(|| panic!("no `{title}` table in\n{md}"));
    let section = section.split("\n## ").next().unwrap();
    let cells = |line: &str| -> Vec<String> {
        let inner = line.trim().trim_start_matches("| ").trim_end_matches(" |");
        inner.split(" | ").map(str::to_string).collect()
    };
    let mut lines = section.lines().filter(|l| l.starts_with('|'));
    let header = cells(lines.next().expect("header"));
    lines
        .skip(1)
        .map(|l| header.iter().cloned().zip(cells(l)).collect())
        .collect()
}

/// Runs a shipped scenario with `--json --report md --out`: the JSON result and its report
/// come from the same run.
fn run_with_md_report(dir: &Path, scenario: &str) -> (mqlab_sim::RunSummary, String) {
    let md = dir.join(format!("{scenario}.md"));
    let out = mqlab()
        .arg("run")
        .arg(crate::support::root().join(format!("scenarios/{scenario}.toml")))
        .args(["--json", "--report", "md", "--out"])
        .arg(&md)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{scenario}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(dir.join(format!("{scenario}.json")), &out.stdout).unwrap();
    let run = serde_json::from_slice(&out.stdout).unwrap();
    (run, std::fs::read_to_string(md).unwrap())
}

/// How the reports print seconds in a latency column.
fn ms(s: f64) -> String {
    format!("{:.3} ms", s * 1e3)
}

#[test]
fn saga_report_shows_the_sagas_of_its_json_result_in_md_and_html() {
    let dir = scratch("saga-report");
    let (run, md) = run_with_md_report(&dir, "saga");
    assert!(!run.sagas.is_empty(), "saga.toml has a saga");
    let rows = md_rows(&md, "Sagas");
    assert_eq!(rows.len(), run.sagas.len());
    for (s, row) in run.sagas.iter().zip(&rows) {
        let want = [
            ("saga", s.name.clone()),
            ("started", s.started.to_string()),
            ("completed", s.completed.to_string()),
            ("compensated", s.compensated.to_string()),
            ("half-done", s.half_done.to_string()),
            ("in progress", s.in_progress.to_string()),
            ("refused", s.refused.to_string()),
            ("resends", s.resends.to_string()),
            ("given up", s.given_up.to_string()),
            ("duplicates suppressed", s.duplicate_commands.to_string()),
            ("late refused", s.late_commands.to_string()),
            ("compensations", s.compensations.to_string()),
            ("out of order", s.compensations_out_of_order.to_string()),
            ("mean", ms(s.latency_s.mean)),
            ("p50", ms(s.latency_s.p50)),
            ("p99", ms(s.latency_s.p99)),
            ("max", ms(s.latency_s.max)),
        ];
        for (column, value) in want {
            assert_eq!(row[column], value, "saga {}: {column}", s.name);
        }
    }
    // `mqlab report` of the saved result renders the same Markdown, and the HTML the same row.
    let saved = dir.join("saga.json");
    assert_eq!(String::from_utf8(report(&saved, "md")).unwrap(), md);
    // Text cells carry their left alignment.
    let html = String::from_utf8(report(&saved, "html"))
        .unwrap()
        .replace(" class=\"l\"", "");
    let s = &run.sagas[0];
    assert!(html.contains("<h2>Sagas</h2>"));
    assert!(html.contains(&format!(
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td>",
        s.name, s.started, s.completed, s.compensated
    )));
}

#[test]
fn request_reply_report_shows_the_requesters_of_its_json_result() {
    let dir = scratch("request-reply-report");
    let (run, md) = run_with_md_report(&dir, "request-reply");
    assert!(
        !run.request_reply.is_empty(),
        "request-reply.toml has a requester"
    );
    let rows = md_rows(&md, "Request-reply");
    assert_eq!(rows.len(), run.request_reply.len());
    for (q, row) in run.request_reply.iter().zip(&rows) {
        let want = [
            ("requester", q.producer.clone()),
            ("requests", q.requests.to_string()),
            ("replied", q.replied.to_string()),
            ("timed out", q.timed_out.to_string()),
            ("outstanding", q.outstanding.to_string()),
            ("replies", q.replies.to_string()),
            ("orphans", q.orphans.to_string()),
            ("duplicate", q.duplicate_replies.to_string()),
            ("mismatched", q.mismatched.to_string()),
            ("lost", q.replies_lost.to_string()),
            ("rtt mean", ms(q.rtt_s.mean)),
            ("rtt p50", ms(q.rtt_s.p50)),
            ("rtt p99", ms(q.rtt_s.p99)),
            ("rtt max", ms(q.rtt_s.max)),
        ];
        for (column, value) in want {
            assert_eq!(row[column], value, "requester {}: {column}", q.producer);
        }
    }
    assert!(
        !md.contains("\n## Sagas\n"),
        "no table for an absent section"
    );
}
