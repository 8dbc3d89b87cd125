//! `mqlab perf`'s replicated row: a replicated log's cost per message, shown beside mm1's by
//! wall time and by instructions, with no limit to judge it by.

use crate::perf::{between_markers, perf, readme_with_markers, table};
use crate::support::scratch;

/// A row's wall time per produced message, from the JSON.
fn ns_per_message(v: &serde_json::Value, row: &str) -> f64 {
    let r = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["row"] == row)
        .unwrap_or_else(|| panic!("no {row} row: {v}"));
    r["wall_s"].as_f64().unwrap() * 1e9 / r["produced"].as_f64().unwrap()
}

/// A program's instructions per message as counted, from the JSON.
fn counted(v: &serde_json::Value, program: &str) -> f64 {
    v["instructions"]["Ok"]
        .as_array()
        .expect("counts in the JSON")
        .iter()
        .find(|c| c["program"] == program)
        .unwrap_or_else(|| panic!("{program} not counted: {v}"))["instructions_per_message"]
        .as_f64()
        .unwrap()
}

#[test]
fn perf_shows_the_replicated_log_beside_mm1_without_judging_it() {
    let dir = scratch("perf-replicated");
    let readme = readme_with_markers(&dir);
    let json = perf(&[
        "--repeat",
        "2",
        "--rows",
        "replicated",
        "--instructions",
        "--json",
        "--readme",
        readme.to_str().unwrap(),
    ]);
    let v: serde_json::Value = serde_json::from_str(&json).expect("perf --json prints JSON");
    let text = between_markers(&readme);

    // mm1 comes with it, as the base of its ratio; the replicated run loses nothing.
    let rows: Vec<&str> = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["row"].as_str().unwrap())
        .collect();
    assert_eq!(rows, ["mm1", "replicated"], "{v}");
    let r = &v["rows"][1];
    assert!(r["produced"].as_u64().unwrap() > 19_000, "{r}");
    assert_eq!(r["processed"], r["produced"], "{r}");
    assert!(
        r["command"]
            .as_str()
            .unwrap()
            .contains("scenarios/bench/replicated.toml"),
        "{r}"
    );

    // Shown beside the targets, not among them: no limit, no verdict.
    let targets = v["targets"].as_array().unwrap();
    assert!(
        targets
            .iter()
            .all(|t| !t["target"].as_str().unwrap().contains("replicated")),
        "{v}"
    );
    let b = &v["beside"][0];
    let wall = ns_per_message(&v, "replicated") / ns_per_message(&v, "mm1");
    let instructions = counted(&v, "replicated") / counted(&v, "mm1");
    assert_eq!(b["wall"], format!("{wall:.3}x").as_str(), "{b}");
    assert_eq!(
        b["instructions"],
        format!("{instructions:.3}x").as_str(),
        "{b}"
    );
    assert!(b["each_round"].as_str().unwrap().contains('–'), "{b}");
    // Replication costs the simulator: every write is fetched by two followers and
    // acknowledged at the high watermark, where mm1's log has one replica.
    assert!(
        instructions > 1.5,
        "replicated {instructions:.2}x mm1's instructions"
    );

    // The Markdown says the same, in its own table and in the count's ratio column.
    let shown = table(&text, "| figure | wall |");
    assert_eq!(shown.len(), 1, "{text}");
    assert_eq!(
        shown[0][..3],
        [
            "replicated log (3 brokers, acks = \"all\"): cost per message vs mm1".to_string(),
            format!("{wall:.3}x"),
            format!("{instructions:.3}x"),
        ],
        "{text}"
    );
    let program = table(&text, "| program | messages requested |");
    let rep = program.iter().find(|c| c[0] == "replicated").unwrap();
    assert_eq!(rep[5], format!("{instructions:.2}x mm1"), "{rep:?}");
}
