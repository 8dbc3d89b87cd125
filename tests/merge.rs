//! Sharded sweeps end to end on the built binary: N `compare --shard K/N` processes run in
//! parallel, `mqlab merge` of their parts gives the unsharded command's bytes; parts that
//! are missing, repeated, or from another sweep or version are refused by name. Also the
//! compact results: the JSON's histograms decode with the `hdrhistogram` crate's own
//! deserializer, and results written with the older `[value_ns, count]` pairs still read.

use crate::support::scratch;
use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::Deserializer;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

const SMALL: &str = r#"
name = "shard-small"
description = "A consumer crashes mid-run; at-most-once loses, at-least-once repeats."
seed = 1
duration = "4s"
drain = "10s"
[broker]
model = "log"
[[topic]]
name = "orders"
partitions = 2
[[producer]]
name = "checkout"
topic = "orders"
rate = 300
keys = 50
[[consumer]]
group = "payments"
topic = "orders"
instances = 2
service_time = "exp(2ms)"
commit_interval = "500ms"
[[fault]]
at = "1s"
kind = "crash"
target = "payments/1"
duration = "1s"
"#;

fn mqlab() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mqlab"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

fn ok(out: &Output) -> &Output {
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The sweep's arguments: 3 deliveries × 2 instance counts × 5 seeds = 30 runs.
fn sweep(scenario: &Path) -> Vec<String> {
    [
        "compare",
        &scenario.display().to_string(),
        "--seeds",
        "1..5",
        "--set",
        "consumer.payments.instances=2,3",
    ]
    .map(String::from)
    .to_vec()
}

/// Runs the N shards as N processes at once, as a job array would, each into its own part.
fn shards(dir: &Path, scenario: &Path, n: usize) -> Vec<String> {
    let children: Vec<_> = (0..n)
        .map(|k| {
            let part = dir.join(format!("part-{k}.json"));
            let child = mqlab()
                .args(sweep(scenario))
                .args(["--shard", &format!("{k}/{n}"), "--out"])
                .arg(&part)
                .spawn()
                .unwrap();
            (child, part)
        })
        .collect();
    children
        .into_iter()
        .map(|(child, part)| {
            let out = child.wait_with_output().unwrap();
            assert_eq!(out.status.code(), Some(0), "a shard failed");
            part.display().to_string()
        })
        .collect()
}

/// The JSON with every run's wall-clock `wall_s` replaced by `_`: the one figure two
/// executions of the same run cannot share.
fn without_wall_times(json: &[u8]) -> String {
    let text = String::from_utf8(json.to_vec()).unwrap();
    let key = "\"wall_s\":";
    let mut out = String::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find(key) {
        out.push_str(&rest[..at + key.len()]);
        out.push('_');
        rest = rest[at + key.len()..]
            .trim_start_matches(|c: char| c.is_ascii_digit() || "+-.eE".contains(c));
    }
    out.push_str(rest);
    out
}

#[test]
fn merged_shards_give_the_unsharded_bytes_whatever_the_shard_count() {
    let dir = scratch("merge-bytes");
    let scenario = dir.join("small.toml");
    std::fs::write(&scenario, SMALL).unwrap();
    let whole_json = ok(&mqlab()
        .args(sweep(&scenario))
        .arg("--json")
        .output()
        .unwrap())
    .clone();
    let whole_md = ok(&mqlab().args(sweep(&scenario)).output().unwrap()).clone();
    assert_eq!(
        without_wall_times(&whole_json.stdout)
            .matches("\"wall_s\":_")
            .count(),
        30
    );
    for n in [1, 4, 7] {
        let sub = dir.join(format!("n{n}"));
        std::fs::create_dir_all(&sub).unwrap();
        let mut parts = shards(&sub, &scenario, n);
        // Any order on the command line.
        parts.reverse();
        let json = mqlab()
            .arg("merge")
            .args(&parts)
            .arg("--json")
            .output()
            .unwrap();
        assert_eq!(json.status.code(), whole_json.status.code());
        assert!(json.stderr.is_empty(), "no progress bar off a terminal");
        assert!(
            without_wall_times(&json.stdout) == without_wall_times(&whole_json.stdout),
            "merged JSON of {n} shards differs from the unsharded JSON"
        );
        let md = mqlab().arg("merge").args(&parts).output().unwrap();
        assert!(
            md.stdout == whole_md.stdout,
            "merged tables of {n} shards differ"
        );
        assert_eq!(md.status.code(), whole_md.status.code());
    }
}

#[test]
fn missing_repeated_and_foreign_parts_are_refused_by_name() {
    let dir = scratch("merge-refuse");
    let scenario = dir.join("small.toml");
    std::fs::write(&scenario, SMALL).unwrap();
    let parts = shards(&dir, &scenario, 3);
    let refused = |args: &[&str]| {
        let out = mqlab().arg("merge").args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?} was merged");
        String::from_utf8(out.stderr).unwrap()
    };
    let err = refused(&[&parts[0], &parts[2]]);
    assert!(err.contains("missing shard 1/3"), "{err}");
    let err = refused(&[&parts[0], &parts[1], &parts[2], &parts[1]]);
    assert!(
        err.contains("shard 1/3 given twice") && err.contains(&parts[1]),
        "{err}"
    );
    // Another scenario text under the same path's sweep.
    let other = dir.join("other");
    std::fs::create_dir_all(&other).unwrap();
    let changed = other.join("small.toml");
    std::fs::write(&changed, SMALL.replace("rate = 300", "rate = 310")).unwrap();
    let foreign = shards(&other, &changed, 3);
    let err = refused(&[&parts[0], &foreign[1], &parts[2]]);
    assert!(
        err.contains(&foreign[1]) && err.contains("another sweep") && err.contains("scenario"),
        "{err}"
    );
    // Other arguments: different seeds.
    let seeds = dir.join("seeds.json");
    let mut args = sweep(&scenario);
    args[3] = "1..6".into();
    let out = mqlab()
        .args(args)
        .args(["--shard", "1/3", "--out"])
        .arg(&seeds)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let seeds = seeds.display().to_string();
    let err = refused(&[&parts[0], &seeds, &parts[2]]);
    assert!(err.contains(&seeds) && err.contains("`seeds`"), "{err}");
    // Another mqlab version.
    let old = dir.join("old.json");
    let text = std::fs::read_to_string(&parts[1]).unwrap();
    let ours = format!("\"version\":\"{}\"", env!("CARGO_PKG_VERSION"));
    std::fs::write(&old, text.replacen(&ours, "\"version\":\"0.0.1\"", 1)).unwrap();
    let old = old.display().to_string();
    let err = refused(&[&parts[0], &old, &parts[2]]);
    assert!(err.contains(&old) && err.contains("mqlab 0.0.1"), "{err}");
    // Not a part at all.
    let err = refused(&[&scenario.display().to_string()]);
    assert!(err.contains("not a part"), "{err}");
}

fn decode(text: &str) -> Histogram<u64> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap();
    Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .unwrap()
}

#[test]
fn histograms_in_the_json_decode_with_the_hdrhistogram_crate() {
    let dir = scratch("merge-hdr");
    let scenario = dir.join("small.toml");
    std::fs::write(&scenario, SMALL).unwrap();
    // One run: every processed copy is one sample (at-least-once undoes nothing).
    let out = mqlab()
        .args(["run", &scenario.display().to_string(), "--json"])
        .args(["--delivery", "at-least-once"])
        .output()
        .unwrap();
    let run: Value = serde_json::from_slice(&ok(&out).stdout).unwrap();
    let h = decode(run["latency_histogram"].as_str().unwrap());
    assert_eq!(h.len(), run["messages"]["processed"].as_u64().unwrap());
    for (q, key) in [(0.5, "p50"), (0.99, "p99"), (0.999, "p999")] {
        let want = run["latency_s"][key].as_f64().unwrap();
        assert!(
            (h.value_at_quantile(q) as f64 / 1e9 - want).abs() < 1e-12,
            "{key}"
        );
    }
    assert!((h.max() as f64 / 1e9 - run["latency_s"]["max"].as_f64().unwrap()).abs() < 1e-12);
    // A comparison: one histogram per variant holds every sample of its runs.
    let out = mqlab()
        .args(sweep(&scenario))
        .args(["--delivery", "at-most-once,at-least-once", "--json"])
        .output()
        .unwrap();
    let c: Value = serde_json::from_slice(&ok(&out).stdout).unwrap();
    for v in c["variants"].as_array().unwrap() {
        let h = decode(v["latency_histogram"].as_str().unwrap());
        let processed: u64 = v["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                c["runs"][i.as_u64().unwrap() as usize]["messages"]["processed"]
                    .as_u64()
                    .unwrap()
            })
            .sum();
        assert_eq!(h.len(), processed, "{}", v["spec"]["label"]);
    }
    assert!(
        c["runs"][0].get("latency_histogram").is_none(),
        "a comparison's runs carry no histogram of their own"
    );
}

#[test]
fn results_with_the_older_bucket_pairs_still_make_the_same_reports() {
    let dir = scratch("merge-old");
    let scenario = dir.join("small.toml");
    std::fs::write(&scenario, SMALL).unwrap();
    let new = dir.join("new.json");
    ok(&mqlab()
        .args(sweep(&scenario))
        .arg("--out")
        .arg(&new)
        .output()
        .unwrap());
    // As mqlab wrote it before the encoding: pairs in every run, none per variant.
    let mut c: Value = serde_json::from_str(&std::fs::read_to_string(&new).unwrap()).unwrap();
    let variants = c["variants"].as_array_mut().unwrap();
    let per_variant: Vec<(Vec<u64>, Histogram<u64>)> = variants
        .iter_mut()
        .map(|v| {
            let h = decode(v["latency_histogram"].as_str().unwrap());
            v.as_object_mut().unwrap().remove("latency_histogram");
            let runs = v["runs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i.as_u64().unwrap());
            (runs.collect(), h)
        })
        .collect();
    for (runs, h) in per_variant {
        // The whole variant's buckets in its first run, none in the others: the merge is
        // the same.
        let pairs: Vec<Value> = h
            .iter_recorded()
            .map(|b| serde_json::json!([b.value_iterated_to(), b.count_at_value()]))
            .collect();
        for (k, i) in runs.iter().enumerate() {
            c["runs"][*i as usize]["latency_histogram"] =
                Value::Array(if k == 0 { pairs.clone() } else { Vec::new() });
        }
    }
    let old = dir.join("old.json");
    std::fs::write(&old, serde_json::to_string(&c).unwrap()).unwrap();
    for format in ["hdr", "md", "json"] {
        let report = |path: &Path| {
            let out = mqlab()
                .arg("report")
                .arg(path)
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
        };
        assert!(report(&old) == report(&new), "{format} differs");
    }
    // A histogram string that is not one is a clear error.
    let text = std::fs::read_to_string(&new).unwrap();
    let bad = text.replacen(
        "\"latency_histogram\":\"HISTF",
        "\"latency_histogram\":\"XXXXX",
        1,
    );
    std::fs::write(&old, bad).unwrap();
    let out = mqlab()
        .arg("report")
        .arg(&old)
        .args(["--format", "md"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("latency_histogram"), "{err}");
}

#[test]
fn merged_explore_shards_report_and_shrink_what_one_explore_does() {
    let dir = scratch("merge-explore");
    let scenario = dir.join("amo.toml");
    let amo = SMALL.replace(
        "commit_interval = \"500ms\"",
        "commit_interval = \"500ms\"\ndelivery = \"at-most-once\"\n[expect]\nlost = 0",
    );
    std::fs::write(&scenario, amo).unwrap();
    let explore = |extra: &[&str]| {
        mqlab()
            .args(["explore", &scenario.display().to_string(), "--runs", "30"])
            .args(extra)
            .output()
            .unwrap()
    };
    let whole_dir = dir.join("whole");
    let whole = explore(&["--out", &whole_dir.display().to_string()]);
    assert_eq!(
        whole.status.code(),
        Some(1),
        "at-most-once loses under crashes"
    );
    let mut parts = Vec::new();
    let children: Vec<_> = (0..3)
        .map(|k| {
            let part = dir.join(format!("explore-{k}.json"));
            let child = mqlab()
                .args(["explore", &scenario.display().to_string(), "--runs", "30"])
                .args(["--shard", &format!("{k}/3")])
                .stdout(std::fs::File::create(&part).unwrap())
                .spawn()
                .unwrap();
            parts.push(part.display().to_string());
            child
        })
        .collect();
    for mut c in children {
        assert_eq!(c.wait().unwrap().code(), Some(0));
    }
    let merged_dir = dir.join("merged");
    let merged = mqlab()
        .arg("merge")
        .args(&parts)
        .args(["--out", &merged_dir.display().to_string()])
        .output()
        .unwrap();
    assert_eq!(merged.status.code(), Some(1));
    // The first line holds wall-clock time; everything after it must agree.
    let rest = |out: &Output, dir: &Path| {
        let text = String::from_utf8(out.stdout.clone()).unwrap();
        let text = text.replace(&dir.display().to_string(), "DIR");
        text.lines().skip(1).collect::<Vec<_>>().join("\n")
    };
    let (a, b) = (rest(&whole, &whole_dir), rest(&merged, &merged_dir));
    assert!(a.contains("failing runs; by check"), "{a}");
    assert_eq!(a, b);
    let files = |d: &Path| {
        let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| {
                let p = e.unwrap().path();
                (
                    p.file_name().unwrap().to_string_lossy().into(),
                    std::fs::read(&p).unwrap(),
                )
            })
            .collect();
        v.sort();
        v
    };
    let shrunk = files(&whole_dir);
    assert!(!shrunk.is_empty());
    assert!(
        shrunk == files(&merged_dir),
        "the shrunk scenario files differ"
    );
}

/// The value after `key` on the first line that has it (`completions: 4` → `4`).
fn value_after<'a>(text: &'a str, key: &str) -> &'a str {
    let line = text
        .lines()
        .find(|l| l.contains(key))
        .unwrap_or_else(|| panic!("no {key}"));
    line[line.find(key).unwrap() + key.len()..]
        .trim()
        .trim_matches('"')
}

/// Merges `parts` and checks the tables are the unsharded compare's, byte for byte.
fn assert_merges_to(parts: &[String], scenario: &Path, seeds: &str) {
    let whole = mqlab()
        .args(["compare", &scenario.display().to_string(), "--seeds", seeds])
        .output()
        .unwrap();
    let merged = mqlab().arg("merge").args(parts).output().unwrap();
    assert_eq!(
        merged.status.code(),
        whole.status.code(),
        "{}",
        String::from_utf8_lossy(&merged.stderr)
    );
    assert!(merged.stdout == whole.stdout, "merged tables differ");
}

#[test]
fn the_shipped_slurm_array_and_indexed_job_run_locally() {
    let dir = scratch("merge-schedulers");
    let scenario = dir.join("small.toml");
    std::fs::write(&scenario, SMALL).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sweep");
    // Slurm: one process per array task, SLURM_ARRAY_TASK_ID as K.
    let script = root.join("sweep.slurm");
    let text = std::fs::read_to_string(&script).unwrap();
    assert_eq!(value_after(&text, "#SBATCH --array="), "0-3");
    assert_eq!(value_after(&text, "SHARDS="), "4");
    let parts_dir = dir.join("slurm");
    let tasks: Vec<_> = (0..4)
        .map(|k| {
            Command::new("sh")
                .arg(&script)
                .env("MQLAB", env!("CARGO_BIN_EXE_mqlab"))
                .env("SCENARIO", &scenario)
                .env("SEEDS", "1..3")
                .env("PARTS", &parts_dir)
                .env("SLURM_ARRAY_TASK_ID", k.to_string())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut t in tasks {
        assert_eq!(t.wait().unwrap().code(), Some(0));
    }
    let parts: Vec<String> = (0..4)
        .map(|k| {
            parts_dir
                .join(format!("part-{k}.json"))
                .display()
                .to_string()
        })
        .collect();
    assert_merges_to(&parts, &scenario, "1..3");
    // Kubernetes: the pods' command, one process per completion index.
    let yaml = std::fs::read_to_string(root.join("indexed-job.yaml")).unwrap();
    assert_eq!(value_after(&yaml, "completionMode:"), "Indexed");
    let shards = value_after(&yaml, "value:");
    assert_eq!(value_after(&yaml, "completions:"), shards);
    assert_eq!(value_after(&yaml, "parallelism:"), shards);
    let results = dir.join("results");
    std::fs::create_dir_all(&results).unwrap();
    let line = yaml
        .lines()
        .find(|l| l.contains("- mqlab compare"))
        .unwrap();
    let command = line
        .trim()
        .trim_start_matches("- ")
        .replace(
            "scenarios/crash-during-processing.toml",
            &scenario.display().to_string(),
        )
        .replace("1..64", "1..3")
        .replace("/results", &results.display().to_string());
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_mqlab")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let pods: Vec<_> = (0..4)
        .map(|k| {
            Command::new("sh")
                .args(["-c", &command])
                .env("PATH", &path)
                .env("SHARDS", shards)
                .env("JOB_COMPLETION_INDEX", k.to_string())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut p in pods {
        assert_eq!(p.wait().unwrap().code(), Some(0));
    }
    let parts: Vec<String> = (0..4)
        .map(|k| results.join(format!("part-{k}.json")).display().to_string())
        .collect();
    assert_merges_to(&parts, &scenario, "1..3");
}
