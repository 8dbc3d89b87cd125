//! What the binary does with its output channels: a reader that goes away (`| head`), an
//! `--out` that is not a regular file or whose folder is missing, a signal while the
//! output is being written, errors on stderr, and a summary whose first line reproduces
//! the run.

use crate::support::{mqlab, scratch};
use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_mqlab");

/// Runs in a few milliseconds; `{duration}` is filled in.
const TINY: &str = r#"name = "tiny"
duration = "{duration}"
drain = "5s"

[[topic]]
name = "jobs"

[[producer]]
name = "shop"
topic = "jobs"
rate = 200

[[consumer]]
group = "workers"
topic = "jobs"
service_time = "exp(1ms)"
"#;

fn tiny(dir: &Path, duration: &str) -> String {
    let path = dir.join("tiny.toml");
    std::fs::write(&path, TINY.replace("{duration}", duration)).unwrap();
    path.display().to_string()
}

/// Runs `args` with stdout a pipe whose reader is already gone.
fn into_closed_pipe(args: &[&str]) -> std::process::Output {
    let mut child = Command::new(BIN)
        .args(args)
        .current_dir(crate::support::root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    child.wait_with_output().unwrap()
}

#[test]
fn a_closed_pipe_ends_every_printing_command_quietly() {
    let dir = scratch("pipe");
    let s = tiny(&dir, "2s");
    let result = dir.join("r.json");
    mqlab()
        .args(["run", &s, "--out", result.to_str().unwrap()])
        .assert()
        .success();
    let r = result.to_str().unwrap();
    let commands: [&[&str]; 9] = [
        &["run", &s],
        &["run", &s, "--json"],
        &["run", &s, "--report", "md"],
        &["compare", &s, "--seeds", "1..2"],
        &["compare", &s, "--seeds", "1..2", "--json"],
        &["report", r, "--format", "md"],
        &["list", "scenarios"],
        &["validate", &s],
        &[
            "capacity",
            &s,
            "--producer",
            "shop",
            "--slo",
            "p99<50ms",
            "--seeds",
            "1",
            "--precision",
            "0.5",
        ],
    ];
    for args in commands {
        let out = into_closed_pipe(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(err.is_empty(), "{args:?} says something: {err}");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
    }
}

#[test]
fn out_writes_through_a_fifo_and_leaves_it_a_fifo() {
    let dir = scratch("fifo");
    let s = tiny(&dir, "1s");
    let fifo = dir.join("out.fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    // `cat` under `timeout`: when the FIFO is replaced rather than written, its reader
    // would wait forever.
    let reader = Command::new("timeout")
        .arg("60")
        .arg("cat")
        .arg(&fifo)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    mqlab()
        .args(["run", &s, "--out", fifo.to_str().unwrap()])
        .timeout(Duration::from_secs(60))
        .assert()
        .success();
    let text = String::from_utf8(reader.wait_with_output().unwrap().stdout).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).expect("the JSON came through");
    assert_eq!(v["scenario"], "tiny");
    let kind = std::fs::symlink_metadata(&fifo).unwrap().file_type();
    assert!(kind.is_fifo(), "the FIFO was replaced: {kind:?}");
}

#[test]
fn out_to_a_character_device_writes_to_it_and_keeps_it() {
    let dir = scratch("chardev");
    let s = tiny(&dir, "1s");
    // Our own node with /dev/null's numbers (1, 3): never the real /dev/null.
    let null = dir.join("null");
    let made = Command::new("mknod")
        .arg(&null)
        .args(["c", "1", "3"])
        .status()
        .is_ok_and(|s| s.success());
    if !made {
        eprintln!("skipped: cannot mknod here (not root)");
        return;
    }
    mqlab()
        .args(["run", &s, "--out", null.to_str().unwrap()])
        .assert()
        .success();
    let kind = std::fs::symlink_metadata(&null).unwrap().file_type();
    assert!(kind.is_char_device(), "the device became {kind:?}");
    let left: Vec<_> = std::fs::read_dir(&*dir).unwrap().collect();
    assert_eq!(left.len(), 2, "only the scenario and the device: {left:?}");
}

#[test]
fn a_missing_out_folder_fails_before_the_run() {
    let dir = scratch("nofolder");
    // Hours of simulation: the error must come before any of it.
    let s = tiny(&dir, "100000s");
    let started = Instant::now();
    let out = mqlab()
        .args([
            "run",
            &s,
            "--out",
            dir.join("no/such/r.json").to_str().unwrap(),
        ])
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(started.elapsed() < Duration::from_secs(20), "it ran first");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot write") && err.contains("no/such"),
        "{err}"
    );
}

#[test]
fn sigint_while_writing_removes_the_temporary_file() {
    let dir = scratch("sigint");
    let s = tiny(&dir, "1s");
    let target = dir.join("r.json");
    let child = Command::new(BIN)
        .args(["run", &s, "--json", "--out", target.to_str().unwrap()])
        .env("MQLAB_TEST_OUT_PAUSE_MS", "20000")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let tmp = || {
        std::fs::read_dir(&*dir)
            .unwrap()
            .filter_map(Result::ok)
            .any(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
    };
    let started = Instant::now();
    while !tmp() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no temporary file appeared"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = child.wait_with_output().unwrap().status;
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        status.signal(),
        Some(2),
        "dies of SIGINT as before: {status:?}"
    );
    assert!(!tmp(), "the temporary file was left behind");
    assert!(!target.exists(), "no partial result");
}

#[test]
fn list_prints_its_errors_on_stderr() {
    let dir = scratch("list");
    tiny(&dir, "1s");
    std::fs::write(dir.join("broken.toml"), "name = 1\n").unwrap();
    let out = mqlab()
        .args(["list", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stdout.contains("tiny.toml") && !stdout.contains("broken"),
        "{stdout}"
    );
    assert!(
        stderr.contains("broken.toml") && stderr.contains("invalid"),
        "{stderr}"
    );
}

#[test]
fn the_summary_reproduces_scale_messages_and_delivery() {
    let dir = scratch("reproduce");
    let s = tiny(&dir, "1s");
    for (extra, shown) in [
        (vec!["--scale", "2"], " --scale 2"),
        (vec!["--messages", "50"], " --messages 50"),
        (
            vec!["--delivery", "at-most-once"],
            " --delivery at-most-once",
        ),
    ] {
        let out = mqlab().args(["run", &s]).args(&extra).output().unwrap();
        let first = String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .unwrap_or("")
            .to_string();
        assert!(
            first.starts_with(&format!("mqlab run {s} --seed 0 ")),
            "{first}"
        );
        assert!(first.contains(shown), "{extra:?}: {first}");
    }
}

#[test]
fn messages_zero_is_refused_like_scale_zero() {
    let dir = scratch("zero");
    let s = tiny(&dir, "1s");
    for flag in ["--messages", "--scale"] {
        let out = mqlab().args(["run", &s, flag, "0"]).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{flag} 0");
        assert!(out.stdout.is_empty(), "{flag} 0 ran");
    }
    // Small enough to round to no time at all.
    let out = mqlab()
        .args(["run", &s, "--scale", "1e-30"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("duration"));
}

#[test]
fn invalid_utf8_names_line_and_column() {
    let dir = scratch("utf8");
    let path = dir.join("latin1.toml");
    std::fs::write(&path, b"name = \"x\"\ndescription = \"caf\xe9\"\n").unwrap();
    let out = mqlab()
        .args(["validate", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{}:2:19: ", path.display())), "{err}");
    assert!(err.contains("0xe9"), "{err}");
}

#[test]
fn an_absurd_value_in_a_result_is_refused_quickly_with_its_path() {
    let dir = scratch("absurd");
    let s = tiny(&dir, "2s");
    let result = dir.join("r.json");
    mqlab()
        .args(["run", &s, "--out", result.to_str().unwrap()])
        .assert()
        .success();
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&result).unwrap()).unwrap();
    v["series"]["produced_per_s"][0] = serde_json::json!(1.7e308);
    std::fs::write(&result, v.to_string()).unwrap();
    let out = mqlab()
        .args(["report", result.to_str().unwrap(), "--format", "html"])
        .timeout(Duration::from_secs(30))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("`series.produced_per_s[0]`"), "{err}");
}

#[test]
fn warmup_takes_every_duration_unit() {
    let dir = scratch("warmup");
    let s = tiny(&dir, "2s");
    let result = dir.join("r.json");
    mqlab()
        .args(["run", &s, "--out", result.to_str().unwrap()])
        .assert()
        .success();
    for w in ["2m", "250us", "1s", "1"] {
        mqlab()
            .args([
                "report",
                result.to_str().unwrap(),
                "--format",
                "md",
                "--warmup",
                w,
            ])
            .assert()
            .success();
    }
}
