//! `mqlab perf` end to end on tiny sizes: it builds the heap_limit anchor itself, runs the
//! rows as whole processes and prints their ratios to the anchor and the targets. (SimPy is
//! left out: it needs PyPI once.)

use crate::support::{mqlab, root, scratch};
use std::path::Path;

pub(crate) fn perf(extra: &[&str]) -> String {
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
        format!("{:.1}%", rate / heap_rate * 100.0)
    );
    assert!(
        targets.iter().all(|t| t["each_round"].is_null()),
        "one round has no spread: {targets:?}"
    );
}

#[test]
fn perf_shows_how_far_each_wall_figure_moved_between_rounds() {
    let text = perf(&["--rows", "queue", "--repeat", "2"]);
    let targets = table(&text, "| target | needed | wall |");
    assert_eq!(targets.len(), 2, "{text}");
    for t in &targets {
        // The last column: the figure as each round alone gives it, lowest to highest,
        // shown the way the wall figure is.
        let (lo, hi) = t[6]
            .split_once('–')
            .unwrap_or_else(|| panic!("a range: {t:?}"));
        let unit = if t[2].ends_with('%') { "%" } else { "x" };
        let number = |s: &str| -> f64 {
            s.strip_suffix(unit)
                .unwrap_or_else(|| panic!("{s} in {unit}: {t:?}"))
                .parse()
                .unwrap()
        };
        assert!(number(lo) <= number(hi), "{t:?}");
    }
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
    assert!(cells[10].ends_with('%'), "ratio to heap_limit: {mm1}");
    assert_eq!(cells[11], "-", "no SimPy ratio without SimPy: {mm1}");
    assert_eq!(
        cells[8], "-",
        "instructions not counted unless asked: {mm1}"
    );
    let target = text
        .lines()
        .find(|l| l.starts_with("| mm1 messages/s vs heap_limit customers/s |"))
        .unwrap_or_else(|| panic!("no heap_limit target:\n{text}"));
    assert!(
        target.ends_with("| - | - |"),
        "no instruction verdict: {target}"
    );
    assert!(
        text.contains("Instructions: not counted (`--instructions`"),
        "{text}"
    );
    assert!(
        text.starts_with("`mqlab perf --messages 20000 --rows mm1 --skip-simpy`: 20,000 messages"),
        "the report names the command that makes it again: {text}"
    );
    assert!(text.contains("mqlab run scenarios/mm1.toml --messages 20000 --json"));
}

#[test]
fn perf_runs_a_bare_loop_doing_food_deliverys_fan_out_beside_it() {
    let v: serde_json::Value =
        serde_json::from_str(&perf(&["--rows", "food-delivery", "--json"])).expect("JSON");
    let rows = v["rows"].as_array().unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r["row"].as_str().unwrap()).collect();
    assert_eq!(names, ["food-delivery", "fanout_limit"]);
    let (food, bare) = (&rows[0], &rows[1]);
    let n = |r: &serde_json::Value, k: &str| r[k].as_u64().unwrap();
    // The bare loop runs as many orders, every one to all six groups: three events a
    // message (its arrival, its append, its acknowledgement) and one a copy.
    assert_eq!(n(bare, "produced"), 20_000);
    assert_eq!(n(bare, "processed"), 6 * 20_000);
    assert_eq!(n(bare, "events"), 9 * 20_000);
    // mqlab's run of the scenario does at least that much: every copy processed (its
    // crash loses nothing), and more events (produce timeouts, commits, samples).
    assert_eq!(n(food, "processed"), 6 * n(food, "produced"));
    assert!(n(food, "events") > 9 * n(food, "produced"), "{food}");
    // Beside the targets: what a processed copy costs mqlab against the bare loop, the
    // ratio of the two rows' copies per second.
    let beside = v["beside"].as_array().unwrap();
    let fig = beside
        .iter()
        .find(|b| {
            b["what"]
                .as_str()
                .unwrap()
                .starts_with("food-delivery: cost per processed copy vs fanout_limit")
        })
        .unwrap_or_else(|| panic!("no fan-out figure: {beside:?}"));
    let rate = |r: &serde_json::Value| n(r, "processed") as f64 / r["wall_s"].as_f64().unwrap();
    assert_eq!(fig["wall"], format!("{:.3}x", rate(bare) / rate(food)));
}

/// The bare loop is a fair reference only if it does the scenario's work: its copies'
/// mean latency (fetch hop, queueing and service in six groups) is the scenario's, run
/// without the crash the loop leaves out.
#[test]
fn the_bare_fan_out_loop_queues_as_food_delivery_does() {
    let dir = scratch("fanout-limit");
    // Built where `mqlab perf` builds it (a no-op once it has).
    perf(&["--rows", "food-delivery"]);
    let bare = std::process::Command::new(root().join("target/anchors/release/fanout_limit"))
        .args(["--messages", "100000"])
        .output()
        .expect("fanout_limit runs");
    assert!(bare.status.success(), "{bare:?}");
    let bare: serde_json::Value = serde_json::from_slice(&bare.stdout).expect("its JSON");
    let text = std::fs::read_to_string(root().join("scenarios/food-delivery.toml")).unwrap();
    let (head, fault) = text.split_once("[[fault]]").expect("the crash");
    let (_, rest) = fault.split_once("\n\n").expect("a block");
    let file = dir.join("food-delivery-without-the-crash.toml");
    std::fs::write(&file, format!("{head}{rest}")).unwrap();
    let out = mqlab()
        .args([
            "run",
            file.to_str().unwrap(),
            "--messages",
            "100000",
            "--json",
        ])
        .assert()
        .success();
    let run: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert!(
        run["faults"].as_array().is_none_or(Vec::is_empty),
        "no crash left"
    );
    let groups = run["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 6);
    let copies: f64 = groups
        .iter()
        .map(|g| g["processed"].as_f64().unwrap())
        .sum();
    let mean = groups
        .iter()
        .map(|g| g["latency_s"]["mean"].as_f64().unwrap() * g["processed"].as_f64().unwrap())
        .sum::<f64>()
        / copies;
    let theirs = bare["mean_latency_s"].as_f64().unwrap();
    assert!(
        (theirs / mean - 1.0).abs() < 0.05,
        "fanout_limit's mean latency {theirs} s against the scenario's {mean} s"
    );
}

#[test]
fn perf_runs_a_bare_loop_doing_partitions_1000s_job_and_mm1s_beside_it() {
    let v: serde_json::Value =
        serde_json::from_str(&perf(&["--rows", "partitions-1000", "--json"])).expect("JSON");
    let rows = v["rows"].as_array().unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r["row"].as_str().unwrap()).collect();
    // mm1 runs for the target, the bare loop's two shapes beside partitions-1000.
    assert_eq!(
        names,
        [
            "mm1",
            "partitions-1000",
            "partitions_limit-1",
            "partitions_limit-1000"
        ]
    );
    let n = |r: &serde_json::Value, k: &str| r[k].as_u64().unwrap();
    for bare in &rows[2..] {
        // Exactly the messages asked for, each an arrival and a completion.
        assert_eq!(n(bare, "produced"), 20_000, "{bare}");
        assert_eq!(n(bare, "processed"), 20_000, "{bare}");
        assert_eq!(n(bare, "events"), 2 * 20_000, "{bare}");
    }
    let ns = |r: &serde_json::Value| r["wall_s"].as_f64().unwrap() * 1e9 / n(r, "produced") as f64;
    let beside = v["beside"].as_array().unwrap();
    let fig = |prefix: &str| {
        beside
            .iter()
            .find(|b| b["what"].as_str().unwrap().starts_with(prefix))
            .unwrap_or_else(|| panic!("no `{prefix}` figure: {beside:?}"))["wall"]
            .clone()
    };
    assert_eq!(
        fig("partitions_limit (a bare loop"),
        format!("{:.3}x", ns(&rows[3]) / ns(&rows[2]))
    );
    assert_eq!(
        fig("partitions-1000: cost per message vs partitions_limit-1000"),
        format!("{:.3}x", ns(&rows[1]) / ns(&rows[3]))
    );
}

/// The bare loop is a reference for partitions-1000 only if it does that job: each of
/// its shapes is M/M/1 at utilisation 0.9 an instance, so a message's mean time in the
/// system is 1 / (mu - lambda): 10 ms at one partition (mu = 1,000/s), 1 ms over 100
/// instances (mu = 10,000/s each), as mqlab's run of partitions-1000 gives.
#[test]
fn the_bare_partitions_loop_queues_as_m_m_1_and_as_partitions_1000_does() {
    // Built where `mqlab perf` builds it (a no-op once it has).
    perf(&["--rows", "partitions-1000"]);
    let exe = root().join("target/anchors/release/partitions_limit");
    let mean = |args: &[&str]| -> f64 {
        // Four seeds of a million: the start from empty and the slow mixing at 0.9 leave
        // each within a few percent.
        let runs: Vec<f64> = (1..=4)
            .map(|seed| {
                let out = std::process::Command::new(&exe)
                    .args(args)
                    .args(["--messages", "1000000", "--seed", &seed.to_string()])
                    .output()
                    .expect("partitions_limit runs");
                assert!(out.status.success(), "{out:?}");
                let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("its JSON");
                v["sojourn_mean_s"].as_f64().unwrap()
            })
            .collect();
        runs.iter().sum::<f64>() / runs.len() as f64
    };
    let one = mean(&["--partitions", "1", "--instances", "1", "--service", "1e-3"]);
    let many = mean(&[
        "--partitions",
        "1000",
        "--instances",
        "100",
        "--service",
        "100e-6",
    ]);
    assert!((one / 10e-3 - 1.0).abs() < 0.06, "one partition: {one} s");
    assert!(
        (many / 1e-3 - 1.0).abs() < 0.06,
        "1,000 partitions: {many} s"
    );
    let out = mqlab()
        .args([
            "run",
            "scenarios/bench/partitions-1000.toml",
            "--messages",
            "1000000",
            "--json",
        ])
        .assert()
        .success();
    let run: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let ours = run["latency_s"]["mean"].as_f64().unwrap();
    assert!(
        (many / ours - 1.0).abs() < 0.06,
        "partitions_limit's {many} s against partitions-1000's {ours} s"
    );
}

/// A Markdown file with the report's markers around an old table.
pub(crate) fn readme_with_markers(dir: &Path) -> std::path::PathBuf {
    let f = dir.join("README.md");
    std::fs::write(
        &f,
        "# Title\n\nBefore.\n\n<!-- mqlab perf: begin -->\nold table\n<!-- mqlab perf: end -->\n\nAfter.\n",
    )
    .unwrap();
    f
}

/// What the file holds between the markers, and whether the rest is as it was.
pub(crate) fn between_markers(f: &Path) -> String {
    let text = std::fs::read_to_string(f).unwrap();
    let (before, rest) = text.split_once("<!-- mqlab perf: begin -->\n").unwrap();
    let (block, after) = rest.split_once("<!-- mqlab perf: end -->\n").unwrap();
    assert_eq!(before, "# Title\n\nBefore.\n\n");
    assert_eq!(after, "\nAfter.\n");
    block.to_string()
}

/// The cells of the table whose header starts `header`, one row a line.
pub(crate) fn table(text: &str, header: &str) -> Vec<Vec<String>> {
    text.lines()
        .skip_while(|l| !l.starts_with(header))
        .skip(2)
        .take_while(|l| l.starts_with("| "))
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect()
}

fn number(cell: &str) -> f64 {
    cell.replace(',', "")
        .parse()
        .unwrap_or_else(|_| panic!("not a number: {cell}"))
}

#[test]
fn perf_counts_instructions_for_every_ratio_target_and_judges_them_from_the_counts_shown() {
    let dir = scratch("perf-instructions");
    let readme = readme_with_markers(&dir);
    let json = perf(&[
        "--rows",
        "queue,exchange,partitions-1000,keys-100k",
        "--instructions",
        "--json",
        "--readme",
        readme.to_str().unwrap(),
    ]);
    let text = between_markers(&readme);
    let v: serde_json::Value = serde_json::from_str(&json).expect("perf --json prints JSON");

    // Every program counted once at 20,000 (below the caps), with the produced messages.
    let counted = table(&text, "| program | messages requested |");
    let programs: Vec<&str> = counted.iter().map(|c| c[0].as_str()).collect();
    assert_eq!(
        programs,
        [
            "heap_limit",
            "mm1",
            "queue",
            "exchange",
            "partitions-1000",
            "keys-100k",
            "keys-100k-resequenced"
        ],
        "{text}"
    );
    let per_message = |program: &str| {
        let c = counted.iter().find(|c| c[0] == program).unwrap();
        assert_eq!(c[1], "20,000", "{c:?}");
        let (messages, instructions) = (number(&c[2]), number(&c[3]));
        assert!(
            instructions > 100.0 * messages,
            "a whole process's count: {c:?}"
        );
        let x = instructions / messages;
        assert_eq!(c[4], format!("{x:.1}"), "{c:?}");
        x
    };
    let json_counted = v["instructions"]["Ok"]
        .as_array()
        .expect("counts in the JSON");
    for (c, j) in counted.iter().zip(json_counted) {
        assert_eq!(j["program"], c[0].as_str());
        assert_eq!(j["instructions"].as_f64().unwrap(), number(&c[3]), "{j}");
    }

    // The rows' table shows each program's instructions per message beside its wall figures.
    let rows = table(&text, "| row | messages |");
    for r in &rows {
        let program = r[0].split(' ').next().unwrap();
        if programs.contains(&program) {
            assert_eq!(r[7], format!("{:.1}", per_message(program)), "{r:?}");
        } else {
            assert_eq!(r[7], "-", "{r:?}");
        }
    }

    // Each target's instruction ratio is the quotient of the counts above, and its verdict
    // applies the target's own limit to it.
    let targets = table(&text, "| target | needed | wall |");
    let pairs = [
        (
            "mm1 messages/s vs heap_limit customers/s",
            "heap_limit",
            "mm1",
        ),
        ("queue model: cost per message vs mm1", "queue", "mm1"),
        ("exchange model: cost per message vs mm1", "exchange", "mm1"),
        (
            "1,000 partitions, 100 instances: cost per message vs mm1",
            "partitions-1000",
            "mm1",
        ),
        (
            "100,000 ordered keys with a resequencer: cost per message vs keys-100k",
            "keys-100k-resequenced",
            "keys-100k",
        ),
    ];
    assert_eq!(targets.len(), pairs.len(), "{text}");
    for ((t, (name, over, under)), j) in targets
        .iter()
        .zip(pairs)
        .zip(v["targets"].as_array().unwrap())
    {
        assert_eq!(t[0], name);
        let x = per_message(over) / per_message(under);
        let (shown, met) = if let Some(limit) = t[1].strip_prefix("<= ") {
            (format!("{x:.3}x"), x <= number(limit.trim_end_matches('x')))
        } else {
            assert_eq!(t[1], ">= 50%");
            (format!("{:.1}%", x * 100.0), x >= 0.5)
        };
        assert_eq!(t[4], shown, "{t:?}");
        assert_eq!(t[5], if met { "yes" } else { "NO" }, "{t:?}");
        assert_eq!(j["instructions"], shown.as_str(), "{j}");
        assert_eq!(j["instructions_ok"], met, "{j}");
        assert!(
            t[2] != "-" && ["yes", "NO"].contains(&t[3].as_str()),
            "the wall verdict stays: {t:?}"
        );
    }
    // The program table's ratio column gives the same quotients, mm1's as a multiple of
    // heap_limit's count.
    let mm1 = counted.iter().find(|c| c[0] == "mm1").unwrap();
    let x = per_message("mm1") / per_message("heap_limit");
    assert_eq!(mm1[5], format!("{x:.2}x heap_limit"));
}

#[test]
fn perf_names_a_missing_valgrind_and_writes_the_same_report_into_the_readme() {
    let dir = scratch("perf-no-valgrind");
    // PATH as it is, but without valgrind: a folder of links to every other program on it.
    let bin = dir.join("bin");
    std::fs::create_dir(&bin).unwrap();
    let path = std::env::var_os("PATH").unwrap();
    for d in std::env::split_paths(&path) {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let link = bin.join(e.file_name());
            if e.file_name() != "valgrind" && !link.exists() {
                std::os::unix::fs::symlink(e.path(), link).unwrap();
            }
        }
    }
    let readme = readme_with_markers(&dir);
    let out = mqlab()
        .args([
            "perf",
            "--messages",
            "20000",
            "--skip-simpy",
            "--rows",
            "mm1",
            "--instructions",
            "--readme",
        ])
        .arg(&readme)
        .env("PATH", &bin)
        .assert()
        .success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(
        text.contains("Instructions: not counted: valgrind not found on PATH"),
        "{text}"
    );
    let target = &table(&text, "| target | needed | wall |")[0];
    assert_eq!(target[0], "mm1 messages/s vs heap_limit customers/s");
    assert_eq!(
        (target[4].as_str(), target[5].as_str()),
        ("-", "-"),
        "{target:?}"
    );
    assert!(
        text.starts_with("`mqlab perf --messages 20000 --rows mm1 --skip-simpy --instructions`"),
        "{text}"
    );
    // The README gets exactly what was printed, set off by blank lines.
    assert_eq!(
        between_markers(&readme),
        format!("\n{}\n", text.trim_end()) + "\n"
    );
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

#[test]
fn the_readme_holds_one_report_block_for_perf_to_rewrite() {
    let text = std::fs::read_to_string(crate::support::root().join("README.md")).unwrap();
    let at = |marker: &str| -> Vec<usize> {
        text.lines()
            .enumerate()
            .filter(|(_, l)| l.trim_end() == marker)
            .map(|(i, _)| i)
            .collect()
    };
    let (begin, end) = (
        at("<!-- mqlab perf: begin -->"),
        at("<!-- mqlab perf: end -->"),
    );
    assert!(
        begin.len() == 1 && end.len() == 1 && begin[0] < end[0],
        "begin {begin:?}, end {end:?}"
    );
    let block: Vec<&str> = text
        .lines()
        .skip(begin[0])
        .take(end[0] - begin[0])
        .collect();
    assert!(
        block.iter().any(|l| l.starts_with("| row | messages |")),
        "the block holds the report: {block:?}"
    );
}

#[test]
fn perf_refuses_a_readme_without_markers_before_measuring_anything() {
    let dir = scratch("perf-no-markers");
    let f = dir.join("notes.md");
    std::fs::write(&f, "# Notes\n").unwrap();
    let out = mqlab()
        .args(["perf", "--messages", "20000", "--skip-simpy", "--readme"])
        .arg(&f)
        .assert()
        .failure();
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(err.contains("<!-- mqlab perf: begin -->"), "{err}");
    assert!(!err.contains("perf: building"), "nothing ran: {err}");
    assert_eq!(std::fs::read_to_string(&f).unwrap(), "# Notes\n");
}

#[test]
fn repeated_runs_go_in_interleaved_rounds_so_a_busy_spell_cannot_tilt_one_ratio() {
    let out = mqlab()
        .args(["perf", "--messages", "20000", "--skip-simpy"])
        .args(["--rows", "queue", "--repeat", "2"])
        .assert()
        .success();
    let err = String::from_utf8(out.get_output().stderr.clone()).unwrap();
    let ran: Vec<&str> = err
        .lines()
        .filter_map(|l| l.strip_prefix("perf: "))
        .collect();
    // Each round runs the anchor and every row once before the next round starts.
    assert_eq!(
        ran,
        [
            "heap_limit (round 1 of 2)",
            "mm1 (round 1 of 2)",
            "queue (round 1 of 2)",
            "heap_limit (round 2 of 2)",
            "mm1 (round 2 of 2)",
            "queue (round 2 of 2)",
        ],
        "{err}"
    );
    let head = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(
        head.lines()
            .next()
            .is_some_and(|l| l.contains("fastest of 2 interleaved rounds")),
        "{head}"
    );
}

#[test]
fn perf_sets_compare_beside_the_machines_own_gain_and_the_event_queue_beside_a_bare_heap() {
    let v: serde_json::Value = serde_json::from_str(&perf(&[
        "--rows",
        "compare,hold",
        "--json",
        "--repeat",
        "2",
    ]))
    .expect("perf --json prints JSON");
    let rows = v["rows"].as_array().unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r["row"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["compare-1-job", "compare-2-jobs", "heap_limit-2-processes"]
    );
    // heap_limit serves the row's customers as one process (the anchor's own run) and
    // split half each between two.
    let heap = &v["anchors"][0];
    assert_eq!(heap["customers"], 20000);
    assert_eq!(rows[2]["produced"], 20000);
    assert!(
        rows[2]["command"]
            .as_str()
            .unwrap()
            .contains("--customers 10000")
    );
    let one = heap["process_wall_s"].as_f64().unwrap();
    assert!(
        one >= heap["wall_s"].as_f64().unwrap(),
        "the process holds its loop: {heap}"
    );
    let two = &v["two_processes"];
    let gain = one / rows[2]["wall_s"].as_f64().unwrap();
    assert!((two["gain"].as_f64().unwrap() - gain).abs() < 1e-9, "{two}");
    assert!(two["each_round"].as_str().unwrap().contains('–'), "{two}");

    let holds = v["holds"].as_array().expect("the hold row's figures");
    let pending: Vec<u64> = holds
        .iter()
        .map(|h| h["pending"].as_u64().unwrap())
        .collect();
    assert_eq!(pending, [2, 32, 100, 1_000, 10_000]);
    for h in holds {
        assert_eq!(h["events"], 20000);
        for k in ["mqlab_ns", "heap_limit_ns"] {
            let ns = h[k].as_f64().unwrap();
            assert!(ns > 0.0 && ns < 1e5, "{h}");
        }
    }
    // The hold row times no process of its own and judges no target.
    assert!(
        v["targets"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["target"] == "compare, 64 seeds: 2 jobs vs 1 job")
    );

    let text = perf(&["--rows", "hold"]);
    assert!(
        text.contains("| pending events | events | mqlab ns/event |"),
        "{text}"
    );
    assert!(
        text.contains("From 2 to 100 pending an event costs"),
        "{text}"
    );
    assert!(
        !text.contains("second core"),
        "no compare row, no gain: {text}"
    );
}

/// The scaling row runs every shipped scenario at three times its load, at 1/200 of the
/// messages (1,000 at the least) and four times that, and shows each one's cost per event
/// at both sizes and their ratio; its JSON holds the same runs. Growth itself is a
/// benchmark figure, not asserted here.
#[test]
fn perf_scaling_runs_every_shipped_scenario_at_two_sizes() {
    let v: serde_json::Value =
        serde_json::from_str(&perf(&["--rows", "scaling", "--json"])).expect("JSON");
    let scaled = v["scaled"].as_array().expect("the scaling row's figures");
    let mut shipped: Vec<String> = std::fs::read_dir(crate::support::root().join("scenarios"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .map(|p| format!("scenarios/{}", p.file_name().unwrap().to_string_lossy()))
        .collect();
    shipped.sort();
    let names: Vec<&str> = scaled
        .iter()
        .map(|s| s["scenario"].as_str().unwrap())
        .collect();
    assert_eq!(names, shipped);
    for s in scaled {
        assert_eq!(s["small"]["messages"], 1000, "{s}");
        assert_eq!(s["large"]["messages"], 4000, "{s}");
        // Small runs fit in the row's 1 GB: none is stopped, each ran events.
        for size in ["small", "large"] {
            assert!(s[size]["stopped"].is_null(), "{s}");
            assert!(s[size]["events"].as_u64().unwrap() > 0, "{s}");
            assert!(s[size]["wall_s"].as_f64().unwrap() > 0.0, "{s}");
        }
        // Four times the messages at the same rates: more events, not fewer.
        assert!(
            s["large"]["events"].as_u64() > s["small"]["events"].as_u64(),
            "{s}"
        );
    }
    let text = perf(&["--rows", "scaling"]);
    assert!(text.contains("| scenario | events at 1,000 | ns/event | events at 4,000 |"));
    assert!(text.contains("| mm1.toml | "), "{text}");
    assert!(text.contains("Worst growth "), "{text}");
}
