//! Every invalid scenario in `tests/fixtures/invalid/` fails with its own message at its
//! own line and column (both written in the fixture's first two lines), through the
//! library and through the binary (exit code 2, nothing on stdout).

use crate::support::{mqlab, root};
use mqlab_sim::Scenario;

fn fixtures() -> Vec<(std::path::PathBuf, String, String)> {
    let mut v: Vec<_> = std::fs::read_dir(root().join("tests/fixtures/invalid"))
        .expect("fixtures")
        .map(|e| e.expect("entry").path())
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("fixture");
            let mut lines = text.lines();
            let expect = lines
                .next()
                .and_then(|l| l.strip_prefix("# expect: "))
                .expect("# expect: line")
                .to_string();
            let at = lines
                .next()
                .and_then(|l| l.strip_prefix("# at: "))
                .expect("# at: line")
                .to_string();
            (p, expect, at)
        })
        .collect();
    v.sort();
    assert!(v.len() >= 15, "fixtures missing: {v:?}");
    v
}

#[test]
fn each_invalid_scenario_names_its_problem_and_place() {
    for (path, expect, at) in fixtures() {
        let text = std::fs::read_to_string(&path).expect("fixture");
        let err = Scenario::from_toml(&text, "f.toml")
            .expect_err(&format!("{} should be invalid", path.display()));
        let shown = err.to_string();
        assert!(
            shown.contains(&expect),
            "{}: `{shown}` lacks `{expect}`",
            path.display()
        );
        assert!(
            shown.starts_with(&format!("f.toml:{at}: ")),
            "{}: `{shown}` not at {at}",
            path.display()
        );
        assert!(
            shown.contains(" | "),
            "{}: no source excerpt in `{shown}`",
            path.display()
        );
    }
}

#[test]
fn the_binary_exits_2_with_file_line_and_column() {
    for (path, expect, at) in fixtures() {
        for cmd in [&["validate"][..], &["run"][..], &["run", "--json"][..]] {
            let out = mqlab().args(cmd).arg(&path).output().expect("runs");
            assert_eq!(out.status.code(), Some(2), "{cmd:?} {}", path.display());
            assert!(
                out.stdout.is_empty(),
                "{cmd:?} {}: stdout not empty",
                path.display()
            );
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                stderr.contains(&format!("{}:{at}: ", path.display())),
                "{}: {stderr}",
                path.display()
            );
            assert!(stderr.contains(&expect), "{}: {stderr}", path.display());
            assert!(!stderr.contains("panicked"), "{}: {stderr}", path.display());
        }
    }
}

/// The producers a run derives for service outputs count toward the 16-bit producer
/// index as the file's own do: 65,536 declared producers and one output are one too many
/// (a fixture file of that size would be 2 MB, so the text is built here).
#[test]
fn derived_producers_count_toward_the_producer_limit() {
    let mut text = String::from(
        "name = \"x\"\nduration = \"1s\"\n[[topic]]\nname = \"a\"\n[[topic]]\nname = \"b\"\n",
    );
    for i in 0..1 << 16 {
        text.push_str(&format!(
            "[[producer]]\nname = \"p{i}\"\ntopic = \"a\"\nrate = 1\n"
        ));
    }
    let within = Scenario::from_toml(&text, "f.toml");
    assert!(within.is_ok(), "{:?}", within.err());
    text.push_str(
        "[[consumer]]\ngroup = \"g\"\ntopic = \"a\"\n[[consumer.output]]\ntopic = \"b\"\n",
    );
    let err = Scenario::from_toml(&text, "f.toml")
        .expect_err("one derived producer past the limit")
        .to_string();
    let line = text.lines().count();
    assert!(
        err.starts_with(&format!("f.toml:{line}:9: ")) && err.contains("there are 65537 producers"),
        "{err}"
    );
}
