//! `mqlab explore` and `mqlab shrink` through the real binary: a known violation is found
//! within a few runs, the same arguments give the same runs and files whatever the thread
//! count, and each shrunk file is strictly smaller yet still fails with `mqlab run`.

use crate::support::{load, mqlab, scratch};

/// At-most-once consumers that expect to lose nothing: a crash of one with a message in
/// hand loses it, so a random fault schedule with a crash breaks `lost = 0`.
const FRAGILE: &str = r#"
name = "fragile"
seed = 3
duration = "4s"
drain = "10s"
[broker]
model = "log"
[[topic]]
name = "payments"
partitions = 3
[[producer]]
name = "checkout"
topic = "payments"
rate = 300
keys = 50
[[consumer]]
group = "charger"
topic = "payments"
instances = 3
service_time = "exp(4ms)"
delivery = "at-most-once"
commit_interval = "1s"
[expect]
lost = 0
"#;

fn explore(dir: &std::path::Path, jobs: &str) -> String {
    let out = mqlab()
        .args(["explore"])
        .arg(dir.join("fragile.toml"))
        .args(["--runs", "40", "--faults", "crash", "--max-failures", "3"])
        .args(["--jobs", jobs, "--out"])
        .arg(dir.join(format!("found-{jobs}")))
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    String::from_utf8(out.stdout).expect("utf-8")
}

/// `faults 9 -> 1, messages 1200 -> 300, events …`: the before and after of each figure.
fn sizes(report: &str) -> Vec<(u64, u64)> {
    let line = report
        .lines()
        .find(|l| l.trim_start().starts_with("faults"))
        .expect("a size line");
    line.split(',')
        .map(|part| {
            let nums: Vec<u64> = part
                .split_whitespace()
                .filter_map(|w| w.parse().ok())
                .collect();
            (nums[0], nums[1])
        })
        .collect()
}

#[test]
fn explore_finds_the_loss_and_shrinks_it_to_a_file_that_still_fails() {
    let dir = scratch("explore");
    std::fs::write(dir.join("fragile.toml"), FRAGILE).expect("write");
    let one = explore(&dir, "1");
    assert!(one.contains("lost"), "{one}");
    let files: Vec<_> = std::fs::read_dir(dir.join("found-1"))
        .expect("out dir")
        .map(|e| e.expect("entry").path())
        .collect();
    let lost = files
        .iter()
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("lost-"))
        })
        .expect("a shrunk file for `lost`");
    // Strictly smaller on every figure: faults, messages and events.
    for (before, after) in sizes(&one[one.find("lost:").expect("lost line")..]) {
        assert!(after < before, "{one}");
    }
    let shrunk = load(lost);
    assert!(shrunk.faults.len() <= 1, "{:?}", shrunk.faults);
    mqlab().arg("run").arg(lost).assert().code(1);

    // The same runs and files on two threads.
    let two = explore(&dir, "2");
    let strip = |s: &str, d: &str| {
        s.lines()
            .filter(|l| !l.starts_with("explored"))
            .map(|l| l.replace(d, "X"))
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(&one, "found-1"), strip(&two, "found-2"));
    for f in &files {
        let other = dir.join("found-2").join(f.file_name().expect("name"));
        assert_eq!(
            std::fs::read(f).ok(),
            std::fs::read(other).ok(),
            "{}",
            f.display()
        );
    }
}

/// `--no-shrink` still writes the failing run, whole: the drawn schedule is the only way
/// to rerun what the report names, so the file holds every fault it drew and `mqlab run`
/// of it fails the same check with the figures the report printed.
#[test]
fn explore_without_shrinking_writes_each_failing_run_as_found() {
    let dir = scratch("explore-found");
    std::fs::write(dir.join("fragile.toml"), FRAGILE).expect("write");
    let out = mqlab()
        .args(["explore"])
        .arg(dir.join("fragile.toml"))
        .args(["--runs", "40", "--faults", "crash", "--max-failures", "3"])
        .args(["--no-shrink", "--out"])
        .arg(dir.join("found"))
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let report = String::from_utf8(out.stdout).expect("utf-8");
    let line = report
        .lines()
        .find(|l| l.starts_with("lost: "))
        .unwrap_or_else(|| panic!("a line for `lost`: {report}"));
    let path = line["lost: ".len()..line.find(" (as found").expect("as found")].to_string();
    let figure = |name: &str| -> u64 {
        let at = line.find(name).expect(name) + name.len() + 1;
        line[at..]
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|d| d.parse().ok())
            .expect("a figure")
    };
    let found = load(std::path::Path::new(&path));
    assert_eq!(found.faults.len() as u64, figure("faults"), "{line}");
    assert!(
        found
            .faults
            .iter()
            .all(|f| *f.kind.get_ref() == mqlab_sim::scenario::FaultKind::Crash)
    );
    let rerun = mqlab()
        .arg("run")
        .arg(&path)
        .arg("--json")
        .output()
        .expect("runs");
    assert_eq!(rerun.status.code(), Some(1), "{rerun:?}");
    let json: serde_json::Value = serde_json::from_slice(&rerun.stdout).expect("json");
    assert!(
        json["messages"]["lost"].as_u64().expect("lost") > 0,
        "{json}"
    );
    assert_eq!(
        json["messages"]["produced"].as_u64(),
        Some(figure("messages"))
    );
}

#[test]
fn shrink_keeps_the_named_check_failing_and_refuses_a_passing_file() {
    let dir = scratch("shrink");
    let failing = format!(
        "{FRAGILE}\n[[fault]]\nat = \"1s\"\nkind = \"crash\"\ntarget = \"charger\"\nduration = \"500ms\"\n\
         [[fault]]\nat = \"2s\"\nkind = \"slow\"\ntarget = \"charger/0\"\nduration = \"1s\"\nfactor = 5\n"
    );
    let path = dir.join("failing.toml");
    std::fs::write(&path, failing).expect("write");
    mqlab().arg("run").arg(&path).assert().code(1);
    let out = dir.join("small.toml");
    let done = mqlab()
        .args(["shrink"])
        .arg(&path)
        .args(["--check", "lost", "--out"])
        .arg(&out)
        .output()
        .expect("runs");
    assert_eq!(done.status.code(), Some(1), "{done:?}");
    let small = load(&out);
    assert_eq!(small.faults.len(), 1, "the slow window is not needed");
    mqlab().arg("run").arg(&out).assert().code(1);

    // A check that does not fail is refused with what does.
    let refused = mqlab()
        .args(["shrink"])
        .arg(&path)
        .args(["--check", "duplicated"])
        .output()
        .expect("runs");
    assert_eq!(refused.status.code(), Some(2));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("does not fail `duplicated`") && err.contains("lost"),
        "{err}"
    );
}

/// A drawn schedule that sets off a storm (`saga.toml` broken as its description says:
/// one instance per service, a 200ms step timeout, so the resends feed on the backlog
/// after the inventory crash) is stopped by the memory guard and reported as failing
/// `memory`, written as found (a shrink would run every try to its limit), where before
/// the guard explore grew until the kernel killed it. `mqlab run` of the file stops the
/// same way (exit 3), and `mqlab shrink` refuses it with why.
#[test]
fn explore_reports_a_storm_the_memory_guard_stopped_and_shrink_refuses_it() {
    let dir = scratch("explore-storm");
    let storm = crate::support::storm();
    let path = dir.join("storm.toml");
    std::fs::write(&path, storm).expect("write");
    let out_dir = dir.join("found");
    let out = mqlab()
        .env("MQLAB_MEMORY_LIMIT", "16MB")
        .args(["explore"])
        .arg(&path)
        .args(["--runs", "2", "--jobs", "1", "--out"])
        .arg(&out_dir)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        report.contains("memory ") && report.contains("not shrunk"),
        "{report}"
    );
    let found = out_dir.join("memory-0.toml");
    let text = std::fs::read_to_string(&found).expect("the storm is written");
    assert!(text.contains("exits 3"), "{text}");
    let again = mqlab()
        .env("MQLAB_MEMORY_LIMIT", "16MB")
        .arg("run")
        .arg(&found)
        .output()
        .expect("runs");
    assert_eq!(again.status.code(), Some(3), "{again:?}");
    assert!(String::from_utf8_lossy(&again.stderr).contains("stopped at "));
    let refused = mqlab()
        .env("MQLAB_MEMORY_LIMIT", "16MB")
        .arg("shrink")
        .arg(&path)
        .output()
        .expect("runs");
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("outgrows the memory"));
    // A limit the scenario does not fit in before any fault: refused up front (exit 3),
    // not every drawn schedule reported as failing `memory`.
    let tiny = mqlab()
        .env("MQLAB_MEMORY_LIMIT", "1KB")
        .args([
            "explore",
            "scenarios/mm1.toml",
            "--runs",
            "2",
            "--no-shrink",
        ])
        .output()
        .expect("runs");
    assert_eq!(tiny.status.code(), Some(3), "{tiny:?}");
    assert!(String::from_utf8_lossy(&tiny.stderr).contains("MB are available"));
}
