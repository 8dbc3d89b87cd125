//! `mqlab perf`: mqlab's throughput and memory, measured in one sitting beside two
//! anchors doing the same M/M/1 job — a bare Rust event loop (`heap_limit`) and SimPy —
//! with the ratios and the performance targets met or not. Absolute figures vary with the
//! machine and its load; ratios measured side by side do not. The README's performance
//! table is this command's output.

mod anchors;
mod child;
mod counters;
mod hold;
mod instructions;
mod readme;
mod rows;
mod scaling;
mod table;

use anyhow::Context;
use rows::Row;
use std::path::PathBuf;
use std::process::ExitCode;

/// `--messages`' default.
const MESSAGES: u64 = 10_000_000;
/// `--simpy-customers`' default.
const SIMPY_CUSTOMERS: u64 = 1_000_000;

/// Arguments of `mqlab perf`.
#[derive(clap::Args, Debug)]
pub struct PerfArgs {
    /// Messages per row (produced messages; the memory row runs ten times as many, the
    /// compare row spreads them over 64 seeds); heap_limit simulates as many customers.
    #[arg(long, default_value_t = MESSAGES, value_parser = clap::value_parser!(u64).range(1000..))]
    pub messages: u64,
    /// Rows to run, comma-separated (default: all of them).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub rows: Vec<Row>,
    /// Customers SimPy simulates (it is about a hundred times slower than mqlab).
    #[arg(long, default_value_t = SIMPY_CUSTOMERS, value_parser = clap::value_parser!(u64).range(100..))]
    pub simpy_customers: u64,
    /// Run every row and anchor this many times and keep each one's fastest (a busy
    /// machine only ever slows a run down). The runs go in rounds, each running the
    /// anchors and every row once, so a busy spell slows a round of everything, not all
    /// the runs of one program.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub repeat: u32,
    /// Leave SimPy out (it needs python3 with venv, and pip to reach PyPI once).
    #[arg(long)]
    pub skip_simpy: bool,
    /// Also count instructions per message, exactly, with valgrind's cachegrind, for every
    /// row a ratio target compares (mm1, queue, exchange, partitions-1000, keys-100k and
    /// keys-100k-resequenced) and heap_limit, and judge those targets on the counts too:
    /// unlike wall ratios they do not move with the host's load. Each pair is counted at
    /// the same size, at most 1,000,000 messages (200,000 for partitions-1000 and the keys
    /// rows), each run well under a minute. Without valgrind the report says so and judges
    /// by wall time alone.
    #[arg(long)]
    pub instructions: bool,
    /// Also count instructions and cache misses per message for mm1 and heap_limit: with
    /// `perf stat` where the machine has hardware counters, else with cachegrind. Implies
    /// `--instructions`.
    #[arg(long)]
    pub perf_stat: bool,
    /// Also write the Markdown report into FILE between the lines
    /// `<!-- mqlab perf: begin -->` and `<!-- mqlab perf: end -->` (the README's table).
    #[arg(long, value_name = "FILE")]
    pub readme: Option<PathBuf>,
    /// Print the report as JSON on stdout instead of Markdown tables.
    #[arg(long)]
    pub json: bool,
    /// The repository: its `scenarios/` are run, its `bench/anchors/` built, and the builds
    /// cached in its `target/anchors/`.
    #[arg(long, default_value = ".")]
    pub root: PathBuf,
}

pub fn perf(args: &PerfArgs) -> anyhow::Result<ExitCode> {
    let exe = std::env::current_exe().context("cannot find the mqlab executable")?;
    // Named from where the command was given, before it enters the repository.
    let readme = match &args.readme {
        Some(f) => Some(std::path::absolute(f).context("cannot locate --readme")?),
        None => None,
    };
    if let Some(f) = &readme {
        readme::block(
            &std::fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display()))?,
        )
        .with_context(|| format!("--readme {}", f.display()))?;
    }
    let root = &args.root;
    std::env::set_current_dir(root)
        .with_context(|| format!("cannot enter the repository {}", root.display()))?;
    anyhow::ensure!(
        std::path::Path::new("scenarios/mm1.toml").is_file(),
        "{} holds no scenarios/mm1.toml: run from the repository, or give --root",
        root.display()
    );
    let place = anchors::Place::new(std::path::Path::new("."));
    let mut wanted: Vec<Row> = if args.rows.is_empty() {
        Row::ALL.to_vec()
    } else {
        args.rows.clone()
    };
    wanted.extend(wanted.clone().into_iter().filter_map(Row::baseline));
    wanted.sort();
    wanted.dedup();

    let progress = |what: &str| eprintln!("perf: {what}");
    // Rounds, not repeats in a row: each round runs the anchors and every row once, so a
    // busy spell on a shared machine slows one round of everything rather than all of one
    // program's runs, and each ratio compares programs measured in the same sittings.
    let mut simpy: Option<anchors::Anchor> = None;
    let mut rounds: Vec<table::Round> = Vec::new();
    let mut holds: Vec<hold::Hold> = Vec::new();
    let mut scaled: Vec<scaling::Scaled> = Vec::new();
    for round in 1..=args.repeat {
        let of = if args.repeat > 1 {
            format!(" (round {round} of {})", args.repeat)
        } else {
            String::new()
        };
        progress(&format!("heap_limit{of}"));
        let heap = anchors::heap_limit(&place, args.messages)?;
        if !args.skip_simpy {
            progress(&format!("SimPy, {} customers{of}", args.simpy_customers));
            keep_faster(
                &mut simpy,
                anchors::simpy(&place, args.simpy_customers)?,
                |a| a.wall_s,
            );
        }
        let mut rows = Vec::new();
        for &row in &wanted {
            let name = clap::ValueEnum::to_possible_value(&row).expect("every row has a name");
            progress(&format!("{}{of}", name.get_name()));
            if row == Row::Hold {
                hold::measure(&place, args.messages, &mut holds)?;
            } else if row == Row::Scaling {
                scaling::measure(&exe, args.messages, &mut scaled, progress)?;
            } else {
                rows.extend(rows::run(&exe, &place, row, args.messages)?);
            }
        }
        rounds.push(table::Round { heap, rows });
    }
    // heap_limit and each row's processes keep their own fastest run (every round runs the
    // same processes in the same order).
    let mut heap: Option<anchors::Anchor> = None;
    let mut measured: Vec<rows::Measured> = Vec::new();
    for r in &rounds {
        keep_faster(&mut heap, r.heap.clone(), |a| a.wall_s);
        if measured.is_empty() {
            measured.clone_from(&r.rows);
        }
        for (best, again) in measured.iter_mut().zip(&r.rows) {
            if again.wall_s < best.wall_s {
                *best = again.clone();
            }
        }
    }
    let heap = heap.expect("at least one round");
    let instructions = (args.instructions || args.perf_stat).then(|| {
        let ran: Vec<&str> = measured.iter().map(|m| m.row.as_str()).collect();
        let plan = instructions::plan(&ran, args.messages);
        instructions::measure(&exe, &place.heap_limit(), rows::scenario, &plan, progress)
    });
    let counted = match &instructions {
        Some(Ok(c)) => c.as_slice(),
        _ => &[],
    };
    let mut targets = table::targets(
        &measured,
        Some(&heap),
        simpy.as_ref(),
        counted,
        args.messages,
    );
    // Each figure as every round alone gives it: how far it moved within the sitting.
    table::spread(&mut targets, &rounds, args.messages);
    let counters = if args.perf_stat {
        progress("counting instructions and cache misses (perf stat, else cachegrind)");
        Some(counters::measure(&exe, &place.heap_limit(), args.messages))
    } else {
        None
    };
    let two_processes = table::TwoProcesses::of(&heap, &measured, &rounds);
    let beside = table::beside(&measured, &rounds, counted, args.messages);
    let report = table::Report {
        machine: machine(args),
        messages: args.messages,
        anchors: [Some(heap), simpy].into_iter().flatten().collect(),
        rows: measured,
        targets,
        instructions,
        counters,
        holds,
        scaled,
        two_processes,
        beside,
    };
    let markdown = table::markdown(&report);
    if let Some(f) = &readme {
        readme::write(f, &markdown)?;
        progress(&format!("wrote the report into {}", f.display()));
    }
    if args.json {
        crate::outln!("{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        crate::out!("{markdown}")?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Keeps in `best` the faster of it and `again` by `wall`.
fn keep_faster<T>(best: &mut Option<T>, again: T, wall: impl Fn(&T) -> f64) {
    if best.as_ref().is_none_or(|b| wall(&again) < wall(b)) {
        *best = Some(again);
    }
}

/// The command that made the report (so a pasted table says how to make it again), the
/// machine and its load, so a reader can tell a quiet sitting from a busy one.
fn machine(args: &PerfArgs) -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into());
    format!(
        "`{}`: {} messages per row, {}; {cores} cores ({cpu}), load average {load} at the end",
        invocation(args),
        table::grouped(args.messages),
        if args.repeat > 1 {
            format!("fastest of {} interleaved rounds", args.repeat)
        } else {
            "one run each".to_string()
        }
    )
}

/// `mqlab perf` with the flags that shape the figures (not `--json`, `--root`, `--readme`).
fn invocation(args: &PerfArgs) -> String {
    let mut s = String::from("mqlab perf");
    if args.messages != MESSAGES {
        s.push_str(&format!(" --messages {}", args.messages));
    }
    if !args.rows.is_empty() {
        let names: Vec<String> = args
            .rows
            .iter()
            .filter_map(clap::ValueEnum::to_possible_value)
            .map(|v| v.get_name().to_string())
            .collect();
        s.push_str(&format!(" --rows {}", names.join(",")));
    }
    if args.repeat > 1 {
        s.push_str(&format!(" --repeat {}", args.repeat));
    }
    if args.skip_simpy {
        s.push_str(" --skip-simpy");
    } else if args.simpy_customers != SIMPY_CUSTOMERS {
        s.push_str(&format!(" --simpy-customers {}", args.simpy_customers));
    }
    if args.instructions && !args.perf_stat {
        s.push_str(" --instructions");
    }
    if args.perf_stat {
        s.push_str(" --perf-stat");
    }
    s
}
