//! The rows `mqlab perf` measures: each a whole `mqlab` process (parse, run, check, write
//! the JSON), as a user runs it.

use super::child;
use anyhow::Context;
use serde::Serialize;
use std::path::Path;
use std::process::Command;

/// A row of the table, as named on the command line.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Row {
    /// `mm1.toml`: the log, one partition, one consumer.
    Mm1,
    /// mm1 on the queue model.
    Queue,
    /// mm1 on the exchange model.
    Exchange,
    /// `food-delivery.toml`: six groups, so six copies per message; beside it
    /// `fanout_limit`, a bare event loop doing the same fan-out.
    FoodDelivery,
    /// 1,000 partitions served by 100 instances; beside it `partitions_limit`, a bare
    /// event loop doing its job and mm1's.
    #[value(name = "partitions-1000")]
    Partitions1000,
    /// 100,000 keys under `ordered = true`, with and without a resequencer.
    #[value(name = "keys-100k")]
    Keys100k,
    /// mm1's load on a replicated log (three brokers, `acks = "all"`): no target of its
    /// own, its cost per message shown beside mm1's.
    Replicated,
    /// mm1 at ten times the messages, for the peak resident set.
    Memory,
    /// `compare` over 64 seeds with one worker thread, then two, and heap_limit split
    /// between two processes at once (against its own one-process run: what a second
    /// core gives this machine).
    Compare,
    /// The event queue alone in the hold model at 2 to 10,000 pending events, beside
    /// heap_limit's `BinaryHeap`.
    Hold,
    /// Every shipped scenario at three times its load, at 1/200 of the messages and four
    /// times that: the cost of an event must not grow with the run.
    Scaling,
}

impl Row {
    pub const ALL: [Row; 11] = [
        Row::Mm1,
        Row::Queue,
        Row::Exchange,
        Row::FoodDelivery,
        Row::Partitions1000,
        Row::Keys100k,
        Row::Replicated,
        Row::Memory,
        Row::Compare,
        Row::Hold,
        Row::Scaling,
    ];

    /// The rows this one's targets (or figure beside them) compare against.
    pub fn baseline(self) -> Option<Row> {
        match self {
            Row::Queue | Row::Exchange | Row::Partitions1000 | Row::Replicated => Some(Row::Mm1),
            _ => None,
        }
    }
}

/// One measured process.
#[derive(Debug, Clone, Serialize)]
pub struct Measured {
    pub row: String,
    pub command: String,
    pub produced: u64,
    /// Processed copies (a message fanned out to six groups is six).
    pub processed: u64,
    pub events: u64,
    pub wall_s: f64,
    pub peak_mib: Option<f64>,
}

impl Measured {
    pub fn messages_per_s(&self) -> f64 {
        self.produced as f64 / self.wall_s
    }
    pub fn copies_per_s(&self) -> f64 {
        self.processed as f64 / self.wall_s
    }
    pub fn ns_per_message(&self) -> f64 {
        self.wall_s * 1e9 / self.produced.max(1) as f64
    }
}

/// Seeds of the `compare` row.
pub const SWEEP_SEEDS: u64 = 64;

/// The scenario file each single-scenario process runs (memory runs mm1's).
const SCENARIOS: [(&str, &str); 8] = [
    ("mm1", "scenarios/mm1.toml"),
    ("queue", "scenarios/bench/mm1-queue.toml"),
    ("exchange", "scenarios/bench/mm1-exchange.toml"),
    ("food-delivery", "scenarios/food-delivery.toml"),
    ("partitions-1000", "scenarios/bench/partitions-1000.toml"),
    ("keys-100k", "scenarios/bench/keys-100k.toml"),
    (
        "keys-100k-resequenced",
        "scenarios/bench/keys-100k-resequenced.toml",
    ),
    ("replicated", "scenarios/bench/replicated.toml"),
];

/// The scenario file of the process named `process`, if it runs one with `mqlab run`.
pub fn scenario(process: &str) -> Option<&'static str> {
    SCENARIOS
        .iter()
        .find(|(name, _)| *name == process)
        .map(|(_, file)| *file)
}

/// Runs `row` with `messages` messages (the memory row ten times as many; the compare row
/// spreads them over its 64 seeds) and measures each process it takes (none for the hold
/// and scaling rows, which `hold` and `scaling` measure).
pub fn run(
    exe: &Path,
    place: &super::anchors::Place,
    row: Row,
    messages: u64,
) -> anyhow::Result<Vec<Measured>> {
    let one = |name: &str, n: u64| {
        let file = scenario(name).expect("every single-scenario process has its file");
        run_one(exe, name, file, n)
    };
    Ok(match row {
        Row::Mm1 => vec![one("mm1", messages)?],
        Row::Queue => vec![one("queue", messages)?],
        Row::Exchange => vec![one("exchange", messages)?],
        // A bare loop doing its fan-out beside it, in the same round.
        Row::FoodDelivery => vec![
            one("food-delivery", messages)?,
            super::anchors::fanout_limit(place, messages)?,
        ],
        // A bare loop doing its job and mm1's beside it, in the same round.
        Row::Partitions1000 => {
            let mut rows = vec![one("partitions-1000", messages)?];
            rows.extend(super::anchors::partitions_limit(place, messages)?);
            rows
        }
        Row::Keys100k => vec![
            one("keys-100k", messages)?,
            one("keys-100k-resequenced", messages)?,
        ],
        Row::Replicated => vec![one("replicated", messages)?],
        Row::Memory => {
            let file = scenario("mm1").expect("mm1 has its file");
            vec![run_one(exe, "memory", file, messages * 10)?]
        }
        Row::Compare => vec![
            sweep(exe, "compare-1-job", messages, 1)?,
            sweep(exe, "compare-2-jobs", messages, 2)?,
            two_at_once(&place.heap_limit(), messages)?,
        ],
        Row::Hold | Row::Scaling => Vec::new(),
    })
}

/// The row of heap_limit split between two processes started together; set against
/// heap_limit's own run of all the customers as one process (the anchor), it is what a
/// second core gives this machine.
pub const TWO_PROCESSES: &str = "heap_limit-2-processes";

/// Two heap_limits started together, `customers` between them; wall time from the first
/// spawn to the last exit.
fn two_at_once(heap_limit: &Path, customers: u64) -> anyhow::Result<Measured> {
    let each = customers / 2;
    let started = std::time::Instant::now();
    let (a, b) = std::thread::scope(|scope| {
        let run = || {
            let (cmd, _) = super::anchors::heap_limit_mmc(heap_limit, each);
            child::measure(cmd)
        };
        let a = scope.spawn(run);
        let b = scope.spawn(run);
        (
            a.join().expect("a measuring thread"),
            b.join().expect("a measuring thread"),
        )
    });
    let wall_s = started.elapsed().as_secs_f64();
    let (a, b) = (a?, b?);
    child::check(&a, TWO_PROCESSES, &[0])?;
    child::check(&b, TWO_PROCESSES, &[0])?;
    let (_, shown) = super::anchors::heap_limit_mmc(heap_limit, each);
    Ok(Measured {
        row: TWO_PROCESSES.to_string(),
        command: format!("two at once: {shown}"),
        produced: 2 * each,
        processed: 2 * each,
        events: 4 * each,
        wall_s,
        peak_mib: a.peak_mib.into_iter().chain(b.peak_mib).reduce(f64::max),
    })
}

/// `mqlab run SCENARIO --messages N --json`.
fn run_one(exe: &Path, row: &str, scenario: &str, messages: u64) -> anyhow::Result<Measured> {
    let args = vec![
        "run".to_string(),
        scenario.to_string(),
        "--messages".into(),
        messages.to_string(),
        "--json".into(),
    ];
    let (o, v) = measured(exe, &args, &[], row)?;
    let m = &v["messages"];
    Ok(Measured {
        row: row.to_string(),
        command: format!("mqlab {}", args.join(" ")),
        produced: m["produced"].as_u64().unwrap_or(0),
        processed: m["processed"].as_u64().unwrap_or(0),
        events: v["events"].as_u64().unwrap_or(0),
        wall_s: o.wall_s,
        peak_mib: o.peak_mib,
    })
}

/// `mqlab compare mm1.toml` over 64 seeds, `messages` in all, on `jobs` worker threads.
fn sweep(exe: &Path, row: &str, messages: u64, jobs: u32) -> anyhow::Result<Measured> {
    // mm1 produces 900 messages a simulated second.
    let seconds = (messages as f64 / SWEEP_SEEDS as f64 / 900.0).max(0.001);
    let args = vec![
        "compare".to_string(),
        "scenarios/mm1.toml".into(),
        "--delivery".into(),
        "at-least-once".into(),
        "--seeds".into(),
        format!("1..{SWEEP_SEEDS}"),
        "--set".into(),
        format!("duration={seconds:.3}s"),
        "--json".into(),
    ];
    let env = [("RAYON_NUM_THREADS", jobs.to_string())];
    let (o, v) = measured(exe, &args, &env, row)?;
    let runs = v["runs"].as_array().context("compare printed no runs")?;
    let sum = |f: &dyn Fn(&serde_json::Value) -> Option<u64>| runs.iter().filter_map(f).sum();
    Ok(Measured {
        row: row.to_string(),
        command: format!("RAYON_NUM_THREADS={jobs} mqlab {}", args.join(" ")),
        produced: sum(&|r| r["messages"]["produced"].as_u64()),
        processed: sum(&|r| r["messages"]["processed"].as_u64()),
        events: sum(&|r| r["events"].as_u64()),
        wall_s: o.wall_s,
        peak_mib: o.peak_mib,
    })
}

/// Runs `mqlab ARGS` and reads its JSON; exit 1 (an expectation failed) still measures.
fn measured(
    exe: &Path,
    args: &[String],
    env: &[(&str, String)],
    row: &str,
) -> anyhow::Result<(child::Outcome, serde_json::Value)> {
    let mut cmd = Command::new(exe);
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let o = child::measure(cmd)?;
    child::check(
        &o,
        &format!("row {row} (mqlab {})", args.join(" ")),
        &[0, 1],
    )?;
    let v = serde_json::from_str(&o.stdout)
        .with_context(|| format!("row {row}: mqlab printed no JSON"))?;
    Ok((o, v))
}
