//! `mqlab perf` end to end on tiny sizes: it builds the heap_limit anchor itself, runs the
//! rows as whole processes and prints their ratios to the anchor and the targets. (SimPy is
//! left out: it needs PyPI once.)

use crate::support::mqlab;

fn perf(extra: &[&str]) -> String {
    let out = mqlab()
        .args(["perf", "--messages", "20000", "--skip-simpy"])
        .args(extra)
        .assert()
        .success();
    String::from_utf8(out.get_output().stdout.clone()).unwrap()
}

#[test]
fn perf_measures_rows_beside_the_bare_loop_and_judges_the_targets() {
    let v: serde_json::Value = serde_json::from_str(&perf(&["--rows", "queue,memory", "--json"]))
        .expect("perf --json prints JSON");
    let anchors = v["anchors"].as_array().unwrap();
    assert_eq!(anchors.len(), 1, "SimPy skipped: {anchors:?}");
    let heap = &anchors[0];
    assert_eq!(heap["customers"], 20000, "heap_limit ran as many customers");
    let heap_rate = heap["customers_per_s"].as_f64().unwrap();
    assert!(heap_rate > 0.0);

    let rows = v["rows"].as_array().unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r["row"].as_str().unwrap()).collect();
    // The queue row's target needs mm1 beside it, so mm1 runs though not asked for.
    assert_eq!(names, ["mm1", "queue", "memory"]);
    for r in rows {
        let want = if r["row"] == "memory" {
            200_000.0
        } else {
            20_000.0
        };
        let produced = r["produced"].as_f64().unwrap();
        // Poisson arrivals: the count is within a few standard deviations of its mean.
        assert!((produced - want).abs() < 5.0 * want.sqrt(), "{r}");
        assert_eq!(r["processed"], r["produced"], "mm1 drains fully: {r}");
        assert!(r["wall_s"].as_f64().unwrap() > 0.0);
        let peak = r["peak_mib"].as_f64().expect("peak resident set read");
        assert!(peak > 1.0 && peak < 300.0, "{r}");
    }
    let targets = v["targets"].as_array().unwrap();
    let judged: Vec<&str> = targets
        .iter()
        .map(|t| t["target"].as_str().unwrap())
        .collect();
    assert_eq!(
        judged,
        [
            "mm1 messages/s vs heap_limit customers/s",
            "queue model: cost per message vs mm1",
            &format!(
                "mm1 at {} messages: peak resident set",
                grouped(rows[2]["produced"].as_u64().unwrap())
            ),
        ]
    );
    // The ratio is the row's messages over its wall time against the anchor's rate.
    let mm1 = &rows[0];
    let rate = mm1["produced"].as_f64().unwrap() / mm1["wall_s"].as_f64().unwrap();
    assert_eq!(
        targets[0]["measured"],
        format!("{:.0}%", rate / heap_rate * 100.0)
    );
}

#[test]
fn perf_prints_a_markdown_table_with_the_ratios() {
    let text = perf(&["--rows", "mm1"]);
    let heap = text
        .lines()
        .find(|l| l.starts_with("| heap_limit"))
        .unwrap_or_else(|| panic!("no heap_limit row:\n{text}"));
    assert!(heap.ends_with("| 100% | - |"), "{heap}");
    let mm1 = text.lines().find(|l| l.starts_with("| mm1 |")).unwrap();
    let cells: Vec<&str> = mm1.split('|').map(str::trim).collect();
    assert!(cells[9].ends_with('%'), "ratio to heap_limit: {mm1}");
    assert_eq!(cells[10], "-", "no SimPy ratio without SimPy: {mm1}");
    assert!(
        text.contains("| mm1 messages/s vs heap_limit customers/s |"),
        "{text}"
    );
    assert!(text.contains("mqlab run scenarios/mm1.toml --messages 20000 --json"));
}

fn grouped(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
