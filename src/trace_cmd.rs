//! `mqlab trace`: the history of one message. Re-runs the scenario exactly as `mqlab run`
//! would (same seed, delivery, `--set`, `--scale`, `--messages`) with the engine following
//! that one message, and prints each step with its simulated time and component.

use crate::{load, run};
use anyhow::Context;
use mqlab_sim::engine::{TraceEvent, TraceSpec};
use mqlab_sim::{Delivery, Engine};
use std::fmt::Write as _;
use std::process::ExitCode;

/// Arguments of `mqlab trace`.
#[derive(clap::Args, Debug)]
pub struct TraceArgs {
    /// The scenario file.
    pub scenario: String,
    /// Seed (default: the scenario's `seed`).
    #[arg(long)]
    pub seed: Option<u64>,
    /// The message id (ids are per topic, from 0 in creation order; the result's
    /// `examples` and the summary of `mqlab run` name some).
    #[arg(long, value_name = "ID")]
    pub message: u32,
    /// Follow only this consumer group's copy (it also says which topic the id is of).
    #[arg(long, value_name = "G")]
    pub group: Option<String>,
    /// The topic the id is of, when there are several and no --group says.
    #[arg(long, value_name = "T")]
    pub topic: Option<String>,
    /// Delivery variant for every group, as `mqlab run --delivery`.
    #[arg(long, value_parser = run::parse_delivery)]
    pub delivery: Option<Delivery>,
    /// Set a scenario field, as `mqlab compare --set` does with one value (repeatable).
    #[arg(long, value_name = "KEY=V")]
    pub set: Vec<String>,
    /// As `mqlab run --scale`.
    #[arg(long, value_name = "F", value_parser = run::parse_scale, conflicts_with = "messages")]
    pub scale: Option<f64>,
    /// As `mqlab run --messages`.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub messages: Option<u64>,
    /// As `mqlab run --load`.
    #[arg(long, value_name = "F", value_parser = run::parse_scale)]
    pub load: Option<f64>,
    /// Print the history as a JSON array of events on stdout (and nothing else).
    #[arg(long)]
    pub json: bool,
}

pub fn trace(args: &TraceArgs) -> anyhow::Result<ExitCode> {
    let (mut scenario, _source, seed) =
        load::prepared_with(&args.scenario, args.delivery, args.seed, &args.set)?;
    run::rescale_by(&mut scenario, args.load, args.scale, args.messages)?;
    load::check_fits(&scenario, &args.scenario, 1)?;
    let spec = TraceSpec {
        message: args.message,
        group: args.group.clone(),
        topic: args.topic.clone(),
    };
    let mut engine = Engine::new(&scenario, seed);
    engine
        .trace(&spec)
        .with_context(|| format!("{}: cannot trace message {}", args.scenario, args.message))?;
    engine.limit_memory(load::memory_budget(1)?);
    while engine.step() {}
    if let Some(s) = engine.stopped() {
        // The typed stop, for its exit code (3).
        return Err(
            anyhow::Error::new(s.clone()).context(format!("{}: seed {seed}", args.scenario))
        );
    }
    let history = engine
        .history()
        .with_context(|| format!("{}: seed {seed}", args.scenario))?;
    if args.json {
        crate::outln!("{}", serde_json::to_string_pretty(&history)?)?;
    } else {
        let hash = engine.summary().trace_hash;
        crate::out!("{}", table(args, seed, &hash, &history))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The command that reproduces this trace, its run's hash, and the history as a table.
fn table(args: &TraceArgs, seed: u64, hash: &str, history: &[TraceEvent]) -> String {
    let mut o = String::new();
    let _ = write!(o, "mqlab trace {} --seed {seed}", args.scenario);
    if let Some(d) = args.delivery {
        let _ = write!(o, " --delivery {}", d.as_str());
    }
    for s in &args.set {
        let _ = write!(o, " --set {s}");
    }
    if let Some(f) = args.scale {
        let _ = write!(o, " --scale {f}");
    }
    if let Some(n) = args.messages {
        let _ = write!(o, " --messages {n}");
    }
    let _ = write!(o, " --message {}", args.message);
    if let Some(g) = &args.group {
        let _ = write!(o, " --group {g}");
    }
    if let Some(t) = &args.topic {
        let _ = write!(o, " --topic {t}");
    }
    let _ = writeln!(
        o,
        "\n{} events in the history of message {}; the run's trace hash {hash} (as untraced)\n",
        history.len(),
        args.message
    );
    let cw = history
        .iter()
        .map(|e| e.component.chars().count())
        .max()
        .unwrap_or(9)
        .max(9);
    let ew = history
        .iter()
        .map(|e| e.event.len())
        .max()
        .unwrap_or(5)
        .max(5);
    let _ = writeln!(
        o,
        "{:>14}  {:<cw$}  {:<ew$}  detail",
        "time", "component", "event"
    );
    for e in history {
        let _ = writeln!(
            o,
            "{:>13.6}s  {:<cw$}  {:<ew$}  {}",
            e.t_s, e.component, e.event, e.detail
        );
    }
    o
}
