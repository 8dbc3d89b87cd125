//! `mqlab run`, `mqlab validate` and `mqlab list`.

use crate::{load, text};
use anyhow::Context;
use mqlab_sim::{Delivery, Engine, RunSummary, Scenario, SimDuration};
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

/// Arguments of `mqlab run`.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// The scenario file.
    pub scenario: String,
    /// Seed (default: the scenario's `seed`).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Delivery variant for every group: at-most-once, at-least-once or exactly-once.
    #[arg(long, value_parser = parse_delivery)]
    pub delivery: Option<Delivery>,
    /// Change a scenario key, `KEY=VALUE` (repeatable): `broker.acks=all`,
    /// `topic.orders.partitions=6`, `consumer.payments.delivery=exactly-once`; checked as
    /// the file is.
    #[arg(long, value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Print the JSON result on stdout (and nothing else).
    #[arg(long)]
    pub json: bool,
    /// Also write the JSON result (or the `--report` format) to this file, atomically.
    #[arg(long)]
    pub out: Option<String>,
    /// Report format for `--out` (or stdout without it): json, html, md, csv, hdr, text.
    #[arg(long, value_parser = crate::compare::parse_format)]
    pub report: Option<mqlab_reports::Format>,
    /// Run twice and fail (exit 1) if the trace hashes differ.
    #[arg(long)]
    pub check_determinism: bool,
    /// Multiply how long producers produce (`duration`) by F, keeping everything else
    /// (rates, drain, faults): `--scale 10` runs the scenario at 10x its messages.
    #[arg(long, value_name = "F", value_parser = parse_scale, conflicts_with = "messages")]
    pub scale: Option<f64>,
    /// Produce about N messages: `duration` becomes N over the producers' total mean rate.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub messages: Option<u64>,
    /// Multiply every producer's and saga's rate by F, keeping everything else (service
    /// times, instances, faults): `--load 3` runs the scenario at three times its traffic
    /// (with `--messages N`, N messages in a third of the time).
    #[arg(long, value_name = "F", value_parser = parse_scale)]
    pub load: Option<f64>,
}

pub fn parse_scale(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(f) if f.is_finite() && f > 0.0 => Ok(f),
        _ => Err(format!("`{s}` is not a positive scale factor")),
    }
}

/// Applies `--load`, then `--scale` or `--messages` to the producing duration.
fn rescale(scenario: &mut Scenario, args: &RunArgs) -> anyhow::Result<()> {
    rescale_by(scenario, args.load, args.scale, args.messages)
}

/// Multiplies every rate by `load`, then the producing duration by `scale`, or sets it to
/// produce about `messages` at the rates so made.
pub fn rescale_by(
    scenario: &mut Scenario,
    load: Option<f64>,
    scale: Option<f64>,
    messages: Option<u64>,
) -> anyhow::Result<()> {
    if let Some(f) = load {
        let rates = scenario.producers.iter_mut().map(|p| &mut p.rate);
        for rate in rates.chain(scenario.sagas.iter_mut().map(|s| &mut s.rate)) {
            let r = *rate.get_ref() * f;
            // As `rate` in the file: a finite number of messages a second.
            anyhow::ensure!(r.is_finite(), "--load {f} makes a rate of {r}/s");
            *rate.get_mut() = r;
        }
    }
    if let Some(f) = scale {
        scenario.duration = scenario.duration.mul_f64(f);
    }
    if let Some(n) = messages {
        let rate: f64 = scenario.producers.iter().map(|p| *p.rate.get_ref()).sum();
        anyhow::ensure!(
            rate > 0.0,
            "--messages needs a producer with a positive rate"
        );
        let seconds = n as f64 / rate;
        // A run lasts at most u64::MAX nanoseconds; past that the duration would saturate
        // and produce fewer messages than asked without a word.
        anyhow::ensure!(
            seconds < SimDuration(u64::MAX).as_secs_f64(),
            "--messages {n} at {rate}/s would take {seconds:.3e}s, longer than a run can last (about 584 years)"
        );
        scenario.duration = SimDuration::from_secs_f64(seconds);
    }
    // As `duration = "0"` in the file is refused: a run that produces nothing is a mistake.
    anyhow::ensure!(
        !scenario.duration.is_zero(),
        "--scale/--messages leave `duration` at zero: nothing would be produced"
    );
    Ok(())
}

/// The flags beside the scenario and `--seed` that changed what ran, for the summary's
/// reproduce line (in the order `compare` writes its reproduce commands: seed first).
fn reproduce(args: &RunArgs) -> String {
    let mut cmd = String::new();
    if let Some(d) = args.delivery {
        cmd.push_str(&format!(" --delivery {}", d.as_str()));
    }
    for kv in &args.set {
        cmd.push_str(&format!(
            " --set {}",
            mqlab_reports::comparison::shell_word(kv)
        ));
    }
    if let Some(f) = args.load {
        cmd.push_str(&format!(" --load {}", factor(f)));
    }
    if let Some(f) = args.scale {
        cmd.push_str(&format!(" --scale {}", factor(f)));
    }
    if let Some(n) = args.messages {
        cmd.push_str(&format!(" --messages {n}"));
    }
    cmd
}

/// A factor as typed back: `3`, `0.5`, or `1e-12` where the plain decimal would run to
/// hundreds of digits.
fn factor(f: f64) -> String {
    if (1e-6..1e15).contains(&f) {
        format!("{f}")
    } else {
        format!("{f:?}")
    }
}

pub fn parse_delivery(s: &str) -> Result<Delivery, String> {
    Delivery::parse(s).ok_or_else(|| {
        format!("unknown delivery `{s}` (expected at-most-once, at-least-once or exactly-once)")
    })
}

/// Runs one scenario to the end, timing it on the wall clock, as one of `at_once` runs
/// sharing the machine's memory; a run whose backlog outgrows its share is stopped, and
/// says why.
pub fn simulate(
    scenario: &Scenario,
    source: &str,
    seed: u64,
    at_once: usize,
) -> anyhow::Result<RunSummary> {
    let started = Instant::now();
    let mut summary = Engine::new(scenario, seed)
        .run_within(load::memory_budget(at_once)?)
        .map_err(|s| anyhow::Error::new(s).context(format!("seed {seed}")))?;
    summary.wall_s = started.elapsed().as_secs_f64();
    summary.scenario_hash = load::source_hash(source);
    Ok(summary)
}

pub fn run(args: &RunArgs) -> anyhow::Result<ExitCode> {
    let (mut scenario, source, seed) =
        load::prepared_with(&args.scenario, args.delivery, args.seed, &args.set)?;
    // On standard error, so that `--json` and a report on standard output stay whole.
    for w in load::warnings(
        &scenario,
        &args.scenario,
        &source,
        args.set.is_empty(),
        true,
    ) {
        eprintln!("{w}");
    }
    rescale(&mut scenario, args)?;
    load::check_fits(&scenario, &args.scenario, 1)?;
    if let Some(out) = &args.out {
        crate::output::check_target(Path::new(out))?;
    }
    let summary = simulate(&scenario, &source, seed, 1).with_context(|| args.scenario.clone())?;
    let json = serde_json::to_string_pretty(&summary)?;
    let report = args
        .report
        .map(|f| crate::compare::render(&mqlab_reports::Report::Run(summary.clone()), f))
        .transpose()?;
    if let Some(out) = &args.out {
        let bytes = report.as_deref().unwrap_or(json.as_bytes());
        crate::output::write(Path::new(out), bytes)?;
    }
    if args.json {
        crate::outln!("{json}")?;
    } else if let (Some(bytes), None) = (&report, &args.out) {
        std::io::stdout().write_all(bytes)?;
    } else {
        crate::out!(
            "{}",
            text::summary(&summary, &args.scenario, &reproduce(args))
        )?;
    }
    if args.check_determinism {
        let again = simulate(&scenario, &source, seed, 1).with_context(|| args.scenario.clone())?;
        if !same_run(&summary, &again) {
            eprintln!(
                "determinism check failed: seed={seed} {}: trace hash {} then {}",
                args.scenario, summary.trace_hash, again.trace_hash
            );
            return Ok(ExitCode::from(1));
        }
        if !args.json {
            crate::outln!(
                "determinism: two runs gave trace hash {} (identical)",
                again.trace_hash
            )?;
        }
    }
    Ok(if summary.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Two runs agree on everything but the wall clock.
pub fn same_run(a: &RunSummary, b: &RunSummary) -> bool {
    let strip = |s: &RunSummary| RunSummary {
        wall_s: 0.0,
        ..s.clone()
    };
    strip(a) == strip(b)
}

pub fn validate(path: &str) -> anyhow::Result<ExitCode> {
    let loaded = load::scenario(path)?;
    let s = &loaded.scenario;
    crate::outln!(
        "{path}: ok — `{}`: {} topic(s), {} producer(s), {} consumer group(s), {} fault(s)",
        s.name,
        s.topics.len(),
        s.producers.len(),
        s.consumers.len(),
        s.faults.len()
    )?;
    // Valid, but what the model will not do of it is said here, where the file's line is
    // at hand (a run says it beside the fault).
    for w in load::warnings(s, path, &loaded.source, true, false) {
        crate::outln!("{w}")?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn list(dir: &str) -> anyhow::Result<ExitCode> {
    let paths = load::scenario_files(dir)?;
    let mut bad = 0;
    for p in &paths {
        let shown = p.display().to_string();
        match load::scenario(&shown) {
            Ok(l) => {
                crate::outln!(
                    "{shown}\n  {}: {}\n",
                    l.scenario.name,
                    text::wrap(&l.scenario.description, 76, "  ")
                )?;
            }
            Err(e) => {
                bad += 1;
                // Errors go to stderr, so `mqlab list | …` sees only the good entries.
                eprintln!("{shown}\n  invalid: {e:#}\n");
            }
        }
    }
    Ok(if bad == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}
