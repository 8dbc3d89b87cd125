//! The `mqlab` binary: parses the command line and dispatches. Only this crate touches
//! files, the terminal and the wall clock.

mod advise;
mod bench_cmd;
mod capacity;
mod compare;
mod explore;
mod load;
mod merge;
mod output;
mod perf;
mod report_cmd;
mod run;
mod slo;
mod sweep;
mod text;
mod trace_cmd;
mod tui_cmd;

use clap::{Parser, Subcommand};
use std::io::{self, Write as _};
use std::process::ExitCode;

/// Deterministic discrete-event simulation lab for message queues.
#[derive(Parser, Debug)]
#[command(name = "mqlab", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a scenario from its seed and report what happened to every message.
    Run(run::RunArgs),
    /// Compare delivery variants (and parameter sweeps) across seeds.
    Compare(compare::CompareArgs),
    /// Find the highest producer rate that meets an SLO with nothing lost.
    Capacity(capacity::CapacityArgs),
    /// Recommend a broker for stated needs, backed by runs of sized candidates.
    Advise(Box<advise::AdviseArgs>),
    /// Search random fault schedules for a failed check, and shrink each failure.
    Explore(explore::ExploreArgs),
    /// Combine the parts of a sweep run with `--shard K/N` into the unsharded output.
    Merge(merge::MergeArgs),
    /// Shrink a failing scenario to a minimal one that still fails the same check.
    Shrink(explore::ShrinkArgs),
    /// The history of one message: every step, its time and component.
    Trace(trace_cmd::TraceArgs),
    /// Watch a run live in a terminal dashboard.
    Tui(tui_cmd::TuiArgs),
    /// Run a scenario's workload against a real Redis or RabbitMQ and account for every copy.
    Bench(bench_cmd::BenchArgs),
    /// Measure mqlab's throughput and memory beside a bare event loop and SimPy, with the
    /// ratios and the performance targets.
    Perf(perf::PerfArgs),
    /// Turn a saved JSON result into html, md, csv or an HdrHistogram log.
    Report(report_cmd::ReportArgs),
    /// Check a scenario file without running it.
    Validate {
        /// The scenario file.
        scenario: String,
    },
    /// List the scenarios in a folder (default `scenarios/`) with their descriptions.
    List {
        /// Folder to list.
        #[arg(default_value = "scenarios")]
        dir: String,
    },
}

/// `println!` that hands back the write error instead of panicking, so a closed pipe
/// (`mqlab run … | head`) reaches `main`, which ends quietly.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)
    }};
}

/// `print!` counterpart of `outln!`.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        write!(std::io::stdout().lock(), $($arg)*)
    }};
}

/// True when the error is stdout's reader having gone away (EPIPE).
fn broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The dashboard handles these signals itself, to restore the terminal.
    if !matches!(cli.command, Command::Tui(_))
        && let Err(e) = output::clean_up_on_signals()
    {
        eprintln!("warning: cannot watch for signals: {e:#}");
    }
    let result = match cli.command {
        Command::Run(args) => run::run(&args),
        Command::Compare(args) => compare::compare(&args),
        Command::Capacity(args) => capacity::capacity(&args),
        Command::Advise(args) => advise::advise(&args),
        Command::Explore(args) => explore::explore(&args),
        Command::Merge(args) => merge::merge(&args),
        Command::Shrink(args) => explore::shrink(&args),
        Command::Trace(args) => trace_cmd::trace(&args),
        Command::Tui(args) => tui_cmd::tui(&args),
        Command::Report(args) => report_cmd::report(&args),
        Command::Perf(args) => perf::perf(&args),
        Command::Bench(args) => bench_cmd::bench(&args),
        Command::Validate { scenario } => run::validate(&scenario),
        Command::List { dir } => run::list(&dir),
    };
    match result {
        Ok(code) => code,
        // Whoever read our output has all they wanted (`| head`): like `cat`, stop without
        // a word. Exit 0, as ripgrep does, rather than report a failure nobody caused.
        Err(e) if broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            // Not `eprintln!`, which panics when stderr is a terminal that has gone away.
            let _ = writeln!(io::stderr(), "error: {e:#}");
            // A run too big for the memory it may use is not bad input: scripts (and
            // `perf`'s scaling row) tell the two apart by the code.
            ExitCode::from(if load::out_of_memory(&e) { 3 } else { 2 })
        }
    }
}
