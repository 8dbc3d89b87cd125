//! The scaling row: every shipped scenario at three times its load, at a run's size and
//! four times it, with the cost of an event at each. The other rows are M/M/1 variants
//! below capacity, where nothing piles up; a walk over a backlog (a priority class's
//! oldest message, a FIFO group with nothing in flight, a late delete: each was one)
//! costs nothing there and grows with the run where a queue is overloaded. At three
//! times their load most shipped scenarios are, so an event that costs more as the run
//! grows shows here as growth, whatever the machine's speed.

use super::child;
use anyhow::Context;
use serde::Serialize;
use std::path::Path;
use std::process::Command;

/// `--load` of every run.
pub const LOAD: f64 = 3.0;
/// The larger run's messages over the smaller's.
pub const GROWTH: u64 = 4;
/// Largest cost per event at `GROWTH` times the messages over the smaller run's: a walk
/// over a backlog that grows with the run costs `GROWTH` times as much.
pub const LIMIT: f64 = 2.0;
/// What each run may hold (`MQLAB_MEMORY_LIMIT`): a scenario that diverges at this load
/// (saga's resend storm) is stopped within seconds and shown stopped.
const MEMORY: &str = "1GB";

/// One scenario's two runs, each the fastest of the rounds.
#[derive(Debug, Clone, Serialize)]
pub struct Scaled {
    pub scenario: String,
    pub small: Point,
    pub large: Point,
}

/// One run: its events and wall time, or why it was stopped.
#[derive(Debug, Clone, Serialize)]
pub struct Point {
    pub messages: u64,
    pub events: u64,
    pub wall_s: f64,
    /// The engine's reason, where it stopped the run for outgrowing `MEMORY`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
}

impl Point {
    fn ns_per_event(&self) -> Option<f64> {
        (self.stopped.is_none() && self.events > 0).then(|| self.wall_s * 1e9 / self.events as f64)
    }
}

impl Scaled {
    /// The larger run's cost per event over the smaller's (`None` if either stopped).
    pub fn growth(&self) -> Option<f64> {
        Some(self.large.ns_per_event()? / self.small.ns_per_event()?)
    }
}

/// The smaller run's messages for perf's `messages` (50,000 at the default 10,000,000).
pub fn small(messages: u64) -> u64 {
    (messages / 200).max(1_000)
}

/// Runs every shipped scenario at both sizes once, into `best` (each run keeps its
/// fastest).
pub fn measure(
    exe: &Path,
    messages: u64,
    best: &mut Vec<Scaled>,
    progress: impl Fn(&str),
) -> anyhow::Result<()> {
    let n = small(messages);
    // The shipped scenarios, not the benchmarks under `scenarios/bench/`.
    let files: Vec<String> = crate::load::scenario_files("scenarios")?
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    for (i, file) in files.iter().enumerate() {
        progress(&format!("scaling: {file}"));
        let small = point(exe, file, n)?;
        let large = point(exe, file, n * GROWTH)?;
        match best.get_mut(i) {
            Some(b) => {
                keep(&mut b.small, small);
                keep(&mut b.large, large);
            }
            None => best.push(Scaled {
                scenario: file.clone(),
                small,
                large,
            }),
        }
    }
    Ok(())
}

fn keep(best: &mut Point, again: Point) {
    if again.wall_s < best.wall_s {
        *best = again;
    }
}

/// `mqlab run FILE --load 3 --messages N --json` under the memory limit.
fn point(exe: &Path, file: &str, messages: u64) -> anyhow::Result<Point> {
    let mut cmd = Command::new(exe);
    cmd.args(["run", file, "--load", &LOAD.to_string()])
        .args(["--messages", &messages.to_string(), "--json"])
        .env("MQLAB_MEMORY_LIMIT", MEMORY);
    let o = child::measure(cmd)?;
    let what = format!("scaling: mqlab run {file} --load {LOAD} --messages {messages}");
    child::check(&o, &what, &[0, 1, 3])?;
    if o.status.code() == Some(3) {
        // Too big for the limit: stopped by the memory guard (or refused up front).
        let why = o.stderr.lines().next().unwrap_or_default().to_string();
        return Ok(Point {
            messages,
            events: 0,
            wall_s: o.wall_s,
            stopped: Some(why),
        });
    }
    let v: serde_json::Value =
        serde_json::from_str(&o.stdout).with_context(|| format!("{what}: printed no JSON"))?;
    Ok(Point {
        messages,
        events: v["events"].as_u64().unwrap_or(0),
        wall_s: o.wall_s,
        stopped: None,
    })
}

/// The Markdown table and its verdict.
pub fn markdown(scaled: &[Scaled]) -> String {
    let Some(first) = scaled.first() else {
        return String::new();
    };
    let (n, big) = (first.small.messages, first.large.messages);
    let grouped = super::table::grouped;
    let mut s = format!(
        "Every shipped scenario at three times its load (`--load {LOAD}`), at {} and {} \
         messages, each run the fastest of the rounds, limited to {MEMORY} \
         (`MQLAB_MEMORY_LIMIT`): the cost of an event must not grow with the run (at most \
         {LIMIT}x at {GROWTH}x the messages; a walk over a backlog costs {GROWTH}x). Small \
         runs' figures include the process's start.\n\n\
         | scenario | events at {} | ns/event | events at {} | ns/event | growth |\n\
         |---|--:|--:|--:|--:|--:|\n",
        grouped(n),
        grouped(big),
        grouped(n),
        grouped(big),
    );
    let cell = |p: &Point| match p.ns_per_event() {
        Some(ns) => (grouped(p.events), format!("{ns:.0}")),
        None => ("stopped".to_string(), format!("({:.1} s)", p.wall_s)),
    };
    for sc in scaled {
        let (a, b) = (cell(&sc.small), cell(&sc.large));
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            sc.scenario.trim_start_matches("scenarios/"),
            a.0,
            a.1,
            b.0,
            b.1,
            sc.growth().map_or("-".to_string(), |g| format!("{g:.2}x")),
        ));
    }
    let worst = scaled
        .iter()
        .filter_map(|sc| Some((sc.growth()?, sc.scenario.as_str())))
        .max_by(|a, b| a.0.total_cmp(&b.0));
    if let Some((g, name)) = worst {
        s.push_str(&format!(
            "\nWorst growth {g:.2}x ({}): {}.\n",
            name.trim_start_matches("scenarios/"),
            if g <= LIMIT {
                format!("every scenario within {LIMIT}x")
            } else {
                format!("NOT within {LIMIT}x")
            }
        ));
    }
    for sc in scaled {
        if let Some(why) = sc.large.stopped.as_ref().or(sc.small.stopped.as_ref()) {
            // Up to the count, without the error's own code spans.
            let short = why.split(';').next().unwrap_or(why).replace('`', "");
            s.push_str(&format!(
                "\n{} diverges at this load, stopped by the memory guard: {}.\n",
                sc.scenario.trim_start_matches("scenarios/"),
                short.trim_start_matches("error: "),
            ));
        }
    }
    s
}
