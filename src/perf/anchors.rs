//! The reference programs `mqlab perf` measures mqlab against, built or installed by the
//! command itself from the copies in `bench/anchors/`: `heap_limit`, a bare
//! single-threaded Rust event loop doing the M/M/1 job (the ceiling for an event-driven
//! design on this machine), and `simpy_mmc.py`, the same model in SimPy 4.1.2 (what most
//! people would reach for); beside the food-delivery row, `fanout_limit`, a bare loop
//! doing that scenario's fan-out; beside the partitions-1000 row, `partitions_limit`, a
//! bare loop doing its job and mm1's. All are cached under `target/anchors/`.

use super::child::{self, Outcome};
use super::rows::Measured;
use anyhow::Context;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The SimPy release the anchor is pinned to.
pub const SIMPY: &str = "4.1.2";

/// One anchor's figure.
#[derive(Debug, Clone, Serialize)]
pub struct Anchor {
    pub name: String,
    pub command: String,
    pub customers: u64,
    /// The program's own timing of its model run (heap_limit: the loop; SimPy: building
    /// the model and `env.run()`).
    pub wall_s: f64,
    pub customers_per_s: f64,
    /// The whole process, spawn to exit (what two heap_limits at once are set against).
    pub process_wall_s: f64,
    pub peak_mib: Option<f64>,
}

/// Where the anchors' sources are and where their builds go.
pub struct Place {
    pub sources: PathBuf,
    pub cache: PathBuf,
}

impl Place {
    /// Where heap_limit's release build lands.
    pub fn heap_limit(&self) -> PathBuf {
        self.built("heap_limit")
    }

    /// Where the release build of the anchor `name` lands.
    fn built(&self, name: &str) -> PathBuf {
        self.cache.join("release").join(name)
    }

    pub fn new(root: &Path) -> Self {
        Place {
            sources: root.join("bench").join("anchors"),
            cache: root.join("target").join("anchors"),
        }
    }
}

/// heap_limit's arguments for the M/M/1 job of `mm1.toml`, before the customer count.
pub const HEAP_LIMIT_ARGS: [&str; 8] = [
    "mmc",
    "--lam",
    "0.9",
    "--mu",
    "1",
    "--c",
    "1",
    "--customers",
];

/// Builds heap_limit (a no-op once built) and runs `customers` M/M/1 customers at
/// utilisation 0.9, as `mm1.toml`.
pub fn heap_limit(place: &Place, customers: u64) -> anyhow::Result<Anchor> {
    build(place, "heap_limit")?;
    let (cmd, shown) = heap_limit_mmc(&place.heap_limit(), customers);
    let o = child::measure(cmd)?;
    child::check(&o, "heap_limit", &[0])?;
    read(&o, "heap_limit (bare Rust event loop)", shown)
}

/// The command running `customers` of heap_limit's M/M/1 job, and how it is shown.
pub fn heap_limit_mmc(exe: &Path, customers: u64) -> (Command, String) {
    let mut cmd = Command::new(exe);
    cmd.args(HEAP_LIMIT_ARGS).arg(customers.to_string());
    let shown = format!(
        "{} {} {customers}",
        exe.display(),
        HEAP_LIMIT_ARGS.join(" ")
    );
    (cmd, shown)
}

/// heap_limit's `hold` with `pending` events for `events` events: nanoseconds an event.
pub fn heap_limit_hold(place: &Place, pending: usize, events: u64) -> anyhow::Result<f64> {
    build(place, "heap_limit")?;
    let mut cmd = Command::new(place.heap_limit());
    cmd.args(["hold", "--pending", &pending.to_string()])
        .args(["--events", &events.to_string()]);
    let o = child::measure(cmd)?;
    child::check(&o, "heap_limit hold", &[0])?;
    number(
        &json_of(&o, "heap_limit hold")?,
        "heap_limit hold",
        "ns_per_event",
    )
}

/// The row of `fanout_limit`, beside food-delivery's.
pub const FANOUT_LIMIT: &str = "fanout_limit";

/// Builds fanout_limit (a no-op once built) and runs `messages` of food-delivery's
/// orders through it: a row like mqlab's, its whole process timed.
pub fn fanout_limit(place: &Place, messages: u64) -> anyhow::Result<Measured> {
    build(place, FANOUT_LIMIT)?;
    let args = ["--messages".to_string(), messages.to_string()];
    bare_row(place, FANOUT_LIMIT, FANOUT_LIMIT, &args, "copies")
}

/// Runs the built anchor `name` with `args` as the row `row`: its whole process timed,
/// its messages and events read from the JSON line it prints, and its processed copies
/// from its field `processed`.
fn bare_row(
    place: &Place,
    name: &str,
    row: &str,
    args: &[String],
    processed: &str,
) -> anyhow::Result<Measured> {
    let exe = place.built(name);
    let mut cmd = Command::new(&exe);
    cmd.args(args);
    let o = child::measure(cmd)?;
    child::check(&o, name, &[0])?;
    let v = json_of(&o, name)?;
    // Counts, exact in a double up to 2^53.
    let num = |k: &str| number(&v, name, k).map(|x| x as u64);
    Ok(Measured {
        row: row.to_string(),
        command: format!("{} {}", exe.display(), args.join(" ")),
        produced: num("messages")?,
        processed: num(processed)?,
        events: num("events")?,
        wall_s: o.wall_s,
        peak_mib: o.peak_mib,
    })
}

/// The anchor run beside partitions-1000.
pub const PARTITIONS_LIMIT: &str = "partitions_limit";

/// The shapes `partitions_limit` runs, as its rows are named: mm1's job (one partition,
/// one instance, 1 ms service) and partitions-1000's (1,000 partitions over 100
/// instances, 100 us service), both at utilisation 0.9 an instance.
pub const PARTITIONS_LIMIT_SHAPES: [(&str, u32, u32, &str); 2] = [
    ("partitions_limit-1", 1, 1, "1e-3"),
    ("partitions_limit-1000", 1000, 100, "100e-6"),
];

/// Builds partitions_limit (a no-op once built) and runs `messages` of each of its shapes:
/// rows like mqlab's, each process timed whole.
pub fn partitions_limit(place: &Place, messages: u64) -> anyhow::Result<Vec<Measured>> {
    build(place, PARTITIONS_LIMIT)?;
    PARTITIONS_LIMIT_SHAPES
        .iter()
        .map(|&(row, partitions, instances, service)| {
            let args = [
                "--partitions".to_string(),
                partitions.to_string(),
                "--instances".to_string(),
                instances.to_string(),
                "--service".to_string(),
                service.to_string(),
                "--messages".to_string(),
                messages.to_string(),
            ];
            bare_row(place, PARTITIONS_LIMIT, row, &args, "messages")
        })
        .collect()
}

/// Builds the anchor `name` into the cache (a no-op once built).
fn build(place: &Place, name: &str) -> anyhow::Result<()> {
    let manifest = place.sources.join(name).join("Cargo.toml");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let built = Command::new(&cargo)
        .args([
            "build",
            "--release",
            "--quiet",
            "--locked",
            "--manifest-path",
        ])
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&place.cache)
        .status()
        .with_context(|| format!("cannot run {}", cargo.to_string_lossy()))?;
    anyhow::ensure!(built.success(), "building {} failed", manifest.display());
    Ok(())
}

/// Creates a virtual environment with SimPy (once) and runs `customers` M/M/1 customers.
pub fn simpy(place: &Place, customers: u64) -> anyhow::Result<Anchor> {
    let venv = place.cache.join(format!("simpy-{SIMPY}"));
    let python = venv.join("bin").join("python");
    let wanted = format!("import simpy; assert simpy.__version__ == '{SIMPY}'");
    let ready = |py: &Path| {
        Command::new(py)
            .args(["-c", &wanted])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !ready(&python) {
        let made = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .context(
                "cannot run python3 (needed for the SimPy anchor; --skip-simpy leaves it out)",
            )?;
        anyhow::ensure!(made.success(), "python3 -m venv {} failed", venv.display());
        let pip = Command::new(venv.join("bin").join("pip"))
            .args(["install", "--quiet", &format!("simpy=={SIMPY}")])
            .status()
            .context("cannot run pip")?;
        anyhow::ensure!(
            pip.success() && ready(&python),
            "pip install simpy=={SIMPY} failed (--skip-simpy leaves SimPy out)"
        );
    }
    let script = place.sources.join("simpy_mmc.py");
    let mut cmd = Command::new(&python);
    cmd.arg(&script)
        .args(["--lam", "0.9", "--mu", "1", "--c", "1", "--customers"])
        .arg(customers.to_string());
    let shown = format!(
        "python {} --lam 0.9 --mu 1 --c 1 --customers {customers}",
        script.display()
    );
    let o = child::measure(cmd)?;
    child::check(&o, "simpy_mmc.py", &[0])?;
    read(&o, &format!("SimPy {SIMPY}"), shown)
}

/// The one JSON line anchor `name` printed.
fn json_of(o: &Outcome, name: &str) -> anyhow::Result<serde_json::Value> {
    serde_json::from_str(o.stdout.trim())
        .with_context(|| format!("{name} printed no JSON: {}", o.stdout.trim()))
}

/// Field `k` of anchor `name`'s JSON `v`, a number.
fn number(v: &serde_json::Value, name: &str, k: &str) -> anyhow::Result<f64> {
    v[k].as_f64()
        .with_context(|| format!("{name}'s output has no `{k}`"))
}

/// Reads the one JSON line an anchor prints.
fn read(o: &Outcome, name: &str, command: String) -> anyhow::Result<Anchor> {
    let v = json_of(o, name)?;
    let num = |k: &str| number(&v, name, k);
    Ok(Anchor {
        name: name.to_string(),
        command,
        customers: num("customers")? as u64,
        wall_s: num("wall_s")?,
        customers_per_s: num("customers_per_s")?,
        process_wall_s: o.wall_s,
        peak_mib: o.peak_mib,
    })
}
