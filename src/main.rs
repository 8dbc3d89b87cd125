//! The `mqlab` binary: parses the command line and dispatches. Only this crate touches
//! files, the terminal and the wall clock.

mod bench_cmd;
mod capacity;
mod compare;
mod load;
mod report_cmd;
mod run;
mod text;
mod tui_cmd;

use clap::{Parser, Subcommand};
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
    /// Watch a run live in a terminal dashboard.
    Tui(tui_cmd::TuiArgs),
    /// Run a scenario's workload against a real Redis or RabbitMQ and account for every copy.
    Bench(bench_cmd::BenchArgs),
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run::run(&args),
        Command::Compare(args) => compare::compare(&args),
        Command::Capacity(args) => capacity::capacity(&args),
        Command::Tui(args) => tui_cmd::tui(&args),
        Command::Report(args) => report_cmd::report(&args),
        Command::Bench(args) => bench_cmd::bench(&args),
        Command::Validate { scenario } => run::validate(&scenario),
        Command::List { dir } => run::list(&dir),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
