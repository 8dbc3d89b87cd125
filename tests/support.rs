//! Shared helpers: loading scenarios, running them, Student-t intervals.

use mqlab_sim::{Delivery, Engine, RunSummary, Scenario};
use std::path::{Path, PathBuf};

/// The workspace root (tests run with the package root as the working directory).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `saga.toml` broken as its description says (one instance per service, a 200ms step
/// timeout): after the inventory crash the orchestrator's resends feed on the backlog, a
/// storm that grows until the memory guard stops it.
pub fn storm() -> String {
    let saga = std::fs::read_to_string(root().join("scenarios/saga.toml")).expect("saga.toml");
    let storm = saga
        .replace("instances = 4", "instances = 1")
        .replace("step_timeout = \"500ms\"", "step_timeout = \"200ms\"");
    assert_ne!(
        storm, saga,
        "saga.toml still has the settings the storm changes"
    );
    storm
}

/// Every `scenarios/*.toml`, sorted.
pub fn scenario_paths() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join("scenarios"))
        .expect("scenarios folder")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    v.sort();
    assert!(v.len() >= 7, "expected the shipped scenarios, found {v:?}");
    v
}

pub fn load(path: &std::path::Path) -> Scenario {
    let text = std::fs::read_to_string(path).expect("readable scenario");
    Scenario::from_toml(&text, &path.display().to_string()).unwrap_or_else(|e| panic!("{e}"))
}

pub fn parse(toml: &str) -> Scenario {
    Scenario::from_toml(toml, "inline.toml").unwrap_or_else(|e| panic!("{e}"))
}

pub fn run(s: &Scenario, seed: u64) -> RunSummary {
    Engine::new(s, seed).run()
}

pub fn run_with(s: &Scenario, delivery: Delivery, seed: u64) -> RunSummary {
    let mut s = s.clone();
    s.set_delivery(delivery);
    run(&s, seed)
}

/// The theory's `expected` lies in the 95% interval of `xs` (one figure per seed), and
/// the interval is narrow enough (under a tenth of the value) to have proved something.
pub fn assert_in_interval(what: &str, xs: &[f64], expected: f64) {
    let (mean, half) = t_interval(xs);
    assert!(
        (mean - expected).abs() <= half,
        "{what}: theory {expected:.6} outside 95% interval {mean:.6} ± {half:.6} over {} seeds",
        xs.len()
    );
    assert!(
        half < 0.1 * expected,
        "{what}: interval ±{half} too wide for {expected}"
    );
}

/// Mean and half-width of the 95% Student-t interval of `xs`.
pub fn t_interval(xs: &[f64]) -> (f64, f64) {
    let n = xs.len();
    assert!(n >= 2);
    let mean = xs.iter().sum::<f64>() / n as f64;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    (mean, t_975(n - 1) * (var / n as f64).sqrt())
}

/// The 0.975 quantile of Student's t (table values; df beyond 30 uses 30's).
pub fn t_975(df: usize) -> f64 {
    const T: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    T[df.clamp(1, 30) - 1]
}

/// Erlang C: probability that an arrival waits in an M/M/c queue with offered load `a`.
pub fn erlang_c(c: u32, a: f64) -> f64 {
    let mut term = 1.0;
    let mut sum = 1.0;
    for k in 1..c {
        term *= a / f64::from(k);
        sum += term;
    }
    let last = term * a / f64::from(c) * f64::from(c) / (f64::from(c) - a);
    last / (sum + last)
}

#[test]
fn erlang_c_matches_known_values() {
    // M/M/1: C = rho. Textbook value for c = 2, a = 1: 1/3.
    assert!((erlang_c(1, 0.7) - 0.7).abs() < 1e-12);
    assert!((erlang_c(2, 1.0) - 1.0 / 3.0).abs() < 1e-12);
}

/// The real `mqlab` binary, run from the repository root (so `scenarios/…` resolves).
pub fn mqlab() -> assert_cmd::Command {
    let mut c = assert_cmd::Command::cargo_bin("mqlab").expect("binary");
    c.current_dir(root());
    c
}

/// A fresh scratch folder for one test, removed when the test passes and kept for a look
/// when it fails.
pub struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

pub fn scratch(name: &str) -> Scratch {
    let dir = std::env::temp_dir().join(format!("mqlab-it-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    Scratch(dir)
}
