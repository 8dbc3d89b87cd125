//! `mqlab explore`: swarm testing. Each run draws a seed and a random fault schedule over
//! the scenario's components, runs it, and checks every guarantee, expectation and
//! built-in invariant; each distinct failed check is then shrunk to a minimal scenario
//! file that `mqlab run` reproduces. `mqlab shrink` does the shrinking for a file a user
//! already has. Runs are drawn from (base seed, run index), so the same arguments give
//! the same runs whatever the thread count. `--shard K/N` explores one slice of the run
//! indices and writes its failing runs as a part; `mqlab merge` shrinks and reports them
//! as the unsharded command would.

mod part;
mod schedule;
mod shrink;

pub use part::merge;
use part::{ExploreSweep, write_part};

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use mqlab_sim::Delivery;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use schedule::Components;
use shrink::Size;
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};
use toml::{Table, Value};

/// Runs shrinking may spend on one failure.
const SHRINK_BUDGET: usize = 3000;

/// Arguments of `mqlab explore`.
#[derive(clap::Args, Debug)]
pub struct ExploreArgs {
    /// The scenario file to explore.
    scenario: String,
    /// How many runs (default 200 unless --time is given).
    #[arg(long)]
    runs: Option<u64>,
    /// Explore for this long of wall-clock time instead (e.g. `30s`, `5m`).
    #[arg(long, value_name = "DURATION")]
    time: Option<String>,
    /// Fault kinds to draw, comma-separated (default: every kind the scenario supports).
    #[arg(long, value_name = "KIND,...")]
    faults: Option<String>,
    /// Run every group with this delivery variant.
    #[arg(long)]
    delivery: Option<String>,
    /// Worker threads (default: every core).
    #[arg(long)]
    jobs: Option<usize>,
    /// Where failures are written (shrunk, or as found with --no-shrink).
    #[arg(long, default_value = "explore-failures")]
    out: String,
    /// Stop after this many failing runs.
    #[arg(long, default_value_t = 20)]
    max_failures: u64,
    /// The seed the runs' seeds and schedules are drawn from.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Write each check's first failing run as found, without shrinking it.
    #[arg(long)]
    no_shrink: bool,
    /// Explore only slice K of N of the run indices (K from 0 to N-1; needs --runs) and
    /// write its failing runs as a part (JSON, to stdout) for `mqlab merge`.
    #[arg(long, value_name = "K/N", value_parser = crate::merge::parse_shard, requires = "runs", conflicts_with = "time")]
    shard: Option<crate::merge::Shard>,
}

/// Arguments of `mqlab shrink`.
#[derive(clap::Args, Debug)]
pub struct ShrinkArgs {
    /// A scenario that fails a check at its seed.
    scenario: String,
    /// The check to keep failing (default: the first that fails).
    #[arg(long)]
    check: Option<String>,
    /// Where to write the shrunk scenario (default: SCENARIO with `.shrunk.toml`).
    #[arg(long)]
    out: Option<String>,
}

/// One explored run.
pub(super) struct Trial {
    index: u64,
    table: Table,
    failed: Vec<String>,
    size: Size,
}

pub fn explore(args: &ExploreArgs) -> anyhow::Result<ExitCode> {
    let loaded = crate::load::scenario(&args.scenario)?;
    let base: Table = loaded
        .source
        .parse()
        .with_context(|| format!("cannot read {} as a table", args.scenario))?;
    let components = Components::of(&loaded.scenario);
    let kinds = chosen_kinds(args.faults.as_deref(), &components)?;
    let delivery = args
        .delivery
        .as_deref()
        .map(|d| Delivery::parse(d).with_context(|| format!("unknown delivery variant `{d}`")))
        .transpose()?;
    let deadline = args
        .time
        .as_deref()
        .map(|t| {
            mqlab_sim::time::parse_duration(t)
                .map(|d| Duration::from_nanos(d.0))
                .map_err(|e| anyhow::anyhow!("--time {t}: {e}"))
        })
        .transpose()?;
    let runs = args
        .runs
        .unwrap_or(if deadline.is_some() { u64::MAX } else { 200 });
    let indices = match args.shard {
        Some(shard) => {
            let r = shard.range(usize::try_from(runs).context("--runs is too large to shard")?);
            r.start as u64..r.end as u64
        }
        None => 0..runs,
    };
    let out = PathBuf::from(&args.out);
    if args.shard.is_none() {
        check_out_dir(&out)?;
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.jobs.unwrap_or(0))
        .build()
        .context("cannot start worker threads")?;
    // A limit the scenario does not fit in even before any fault is refused up front, as
    // `run` and `compare` refuse it, not reported as every schedule failing `memory`.
    crate::load::check_fits(&loaded.scenario, &args.scenario, pool.current_num_threads())?;
    let bar = progress(indices.end - indices.start);
    let started = Instant::now();
    let batch = (pool.current_num_threads() * 16) as u64;
    let mut trials: Vec<Trial> = Vec::new();
    let mut done = indices.start;
    let mut failing = 0u64;
    // Each run's share of the memory runs may use, as `compare` shares it: a drawn
    // schedule that sets off a storm is stopped and reported, not killed by the kernel.
    let mem = crate::load::memory_budget(pool.current_num_threads())?;
    let draw = |index: u64| {
        trial(
            &base,
            &components,
            &kinds,
            delivery,
            (args.seed, index),
            mem,
        )
    };
    while done < indices.end && failing < args.max_failures {
        if deadline.is_some_and(|d| started.elapsed() >= d) {
            break;
        }
        let end = done.saturating_add(batch).min(indices.end);
        let batch_trials: Vec<Trial> = pool.install(|| {
            (done..end)
                .into_par_iter()
                .filter_map(|i| {
                    let t = draw(i);
                    bar.inc(1);
                    t
                })
                .collect()
        });
        // In index order, so that where --max-failures stops does not depend on threads.
        for t in batch_trials {
            if t.failed.is_empty() {
                continue;
            }
            if failing < args.max_failures {
                failing += 1;
                trials.push(t);
            }
        }
        done = end;
        bar.set_message(format!("{failing} failing"));
    }
    bar.finish_and_clear();
    let wall = started.elapsed().as_secs_f64();
    let done = done - indices.start;
    let threads = pool.current_num_threads();
    if let Some(shard) = args.shard {
        let sweep = ExploreSweep {
            runs,
            kinds: kinds.iter().map(ToString::to_string).collect(),
            delivery: delivery.map(|d| d.as_str().to_string()),
            seed: args.seed,
            max_failures: args.max_failures,
            no_shrink: args.no_shrink,
        };
        write_part(args, &loaded, shard, sweep, &trials, (done, wall, threads))?;
        return Ok(ExitCode::SUCCESS);
    }
    let found = Found {
        scenario: &args.scenario,
        kinds: kinds.join(","),
        done,
        wall,
        threads,
        trials,
    };
    conclude(&found, &pool, &out, args.no_shrink)
}

/// What exploring found, ready to report and shrink.
pub(super) struct Found<'a> {
    scenario: &'a str,
    kinds: String,
    done: u64,
    wall: f64,
    threads: usize,
    /// The failing runs kept, in index order.
    trials: Vec<Trial>,
}

/// Reports the failing runs by check and shrinks each check's first one into `out`.
pub(super) fn conclude(
    found: &Found<'_>,
    pool: &rayon::ThreadPool,
    out: &Path,
    no_shrink: bool,
) -> anyhow::Result<ExitCode> {
    let (done, wall) = (found.done, found.wall);
    crate::outln!(
        "explored {done} runs of {} in {wall:.1}s ({:.0} runs/s, {} threads, fault kinds {})",
        found.scenario,
        done as f64 / wall.max(1e-9),
        found.threads,
        found.kinds
    )?;
    let trials = &found.trials;
    let failing = trials.len();
    let mut by_check: BTreeMap<&str, Vec<&Trial>> = BTreeMap::new();
    for t in trials {
        for c in &t.failed {
            by_check.entry(c.as_str()).or_default().push(t);
        }
    }
    if by_check.is_empty() {
        crate::outln!("no check failed")?;
        return Ok(ExitCode::SUCCESS);
    }
    crate::outln!("{failing} failing runs; by check:")?;
    for (check, ts) in &by_check {
        crate::outln!(
            "  {check:<40} {:>4} runs, first run {} (seed {})",
            ts.len(),
            ts[0].index,
            seed_of(&ts[0].table)
        )?;
    }
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    if no_shrink {
        // As found: the drawn schedule whole, so the run the report names can be rerun,
        // read and shrunk later (`mqlab shrink`) without drawing it again.
        for (check, ts) in &by_check {
            let path = out.join(format!("{}-{}.toml", file_stem(check), ts[0].index));
            write_scenario(&path, &ts[0].table, found.scenario, check, false)?;
            crate::outln!(
                "{check}: {} (as found: faults {}, messages {}, events {})",
                path.display(),
                ts[0].size.faults,
                ts[0].size.messages,
                ts[0].size.events
            )?;
        }
        return Ok(ExitCode::from(1));
    }
    let mem = crate::load::memory_budget(pool.current_num_threads())?;
    let shrunk: Vec<(String, Table, Size, Size, usize)> = pool.install(|| {
        by_check
            .par_iter()
            .map(|(check, ts)| {
                if *check == shrink::MEMORY {
                    // Every try would run until it fills its budget: written as found.
                    return (
                        check.to_string(),
                        ts[0].table.clone(),
                        ts[0].size,
                        ts[0].size,
                        0,
                    );
                }
                let (table, spent) = shrink::shrink(&ts[0].table, check, SHRINK_BUDGET, mem);
                let after = shrink::evaluate(&table, mem).map_or(ts[0].size, |o| o.size);
                (check.to_string(), table, ts[0].size, after, spent)
            })
            .collect()
    });
    for ((check, table, before, after, spent), ts) in shrunk.iter().zip(by_check.values()) {
        let path = out.join(format!("{}-{}.toml", file_stem(check), ts[0].index));
        write_scenario(&path, table, found.scenario, check, check != shrink::MEMORY)?;
        if check == shrink::MEMORY {
            crate::outln!(
                "{check}: {} (not shrunk: each try would run until it outgrew its memory)\n  \
                 its backlog outgrew the memory a run may use (MQLAB_MEMORY_LIMIT, else the \
                 available memory, shared by --jobs); `mqlab run` of it grows the same way \
                 until the memory guard stops it (exit 3)",
                path.display()
            )?;
            continue;
        }
        crate::outln!(
            "{check}: {} ({spent} runs to shrink)\n  faults {} -> {}, messages {} -> {}, events {} -> {}",
            path.display(),
            before.faults,
            after.faults,
            before.messages,
            after.messages,
            before.events,
            after.events
        )?;
    }
    Ok(ExitCode::from(1))
}

pub fn shrink(args: &ShrinkArgs) -> anyhow::Result<ExitCode> {
    let loaded = crate::load::scenario(&args.scenario)?;
    let table: Table = loaded.source.parse().context("scenario as a table")?;
    crate::load::check_fits(&loaded.scenario, &args.scenario, 1)?;
    let mem = crate::load::memory_budget(1)?;
    let Some(first) = shrink::evaluate(&table, mem) else {
        bail!("{} does not load as written", args.scenario);
    };
    if first.failed.iter().any(|c| c == shrink::MEMORY) {
        bail!(
            "{} outgrows the memory it may use at seed {} (`mqlab run` says where): \
             shrinking it would run every try until it did; lower a rate (--load) first",
            args.scenario,
            loaded.scenario.seed
        );
    }
    let check = match &args.check {
        Some(c) if first.failed.contains(c) => c.clone(),
        Some(c) => bail!(
            "{} does not fail `{c}` at seed {}; it fails: {}",
            args.scenario,
            loaded.scenario.seed,
            list(&first.failed)
        ),
        None => match first.failed.first() {
            Some(c) => c.clone(),
            None => bail!(
                "{} fails no check at seed {}: nothing to shrink",
                args.scenario,
                loaded.scenario.seed
            ),
        },
    };
    let (shrunk, spent) = shrink::shrink(&table, &check, SHRINK_BUDGET, mem);
    let after = shrink::evaluate(&shrunk, mem).map_or(first.size, |o| o.size);
    let path = args.out.as_ref().map_or_else(
        || PathBuf::from(args.scenario.trim_end_matches(".toml").to_string() + ".shrunk.toml"),
        PathBuf::from,
    );
    write_scenario(&path, &shrunk, &args.scenario, &check, true)?;
    crate::outln!(
        "{check}: {} ({spent} runs to shrink)\n  faults {} -> {}, messages {} -> {}, events {} -> {}",
        path.display(),
        first.size.faults,
        after.faults,
        first.size.messages,
        after.messages,
        first.size.events,
        after.events
    )?;
    Ok(ExitCode::from(1))
}

/// Draws and runs trial `index`; `None` when the drawn schedule does not validate even
/// without its faults (it always does with none).
fn trial(
    base: &Table,
    components: &Components,
    kinds: &[&'static str],
    delivery: Option<Delivery>,
    (seed, index): (u64, u64),
    mem: u64,
) -> Option<Trial> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(index);
    let run_seed: u64 = rng.random_range(0..1_000_000_000);
    // Swarm: a random non-empty subset of the kinds for this run.
    let mut swarm: Vec<&'static str> = kinds
        .iter()
        .copied()
        .filter(|_| rng.random_bool(0.5))
        .collect();
    if swarm.is_empty() {
        swarm.push(kinds[rng.random_range(0..kinds.len())]);
    }
    let mut faults = components.draw(&mut rng, &swarm);
    let mut table = base.clone();
    table.insert("seed".into(), Value::Integer(run_seed as i64));
    if let Some(d) = delivery
        && let Some(Value::Array(cs)) = table.get_mut("consumer")
    {
        for c in cs.iter_mut().filter_map(Value::as_table_mut) {
            c.insert("delivery".into(), Value::String(d.as_str().into()));
        }
    }
    loop {
        let mut t = table.clone();
        if !faults.is_empty() {
            let mut all = t
                .remove("fault")
                .and_then(|v| v.as_array().cloned())
                .unwrap_or_default();
            all.extend(faults.iter().cloned().map(Value::Table));
            t.insert("fault".into(), Value::Array(all));
        }
        if let Some(o) = shrink::evaluate(&t, mem) {
            return Some(Trial {
                index,
                table: t,
                failed: o.failed,
                size: o.size,
            });
        }
        // A drawn fault the scenario cannot take (say, an outage where nothing retries):
        // drop the newest and try again.
        faults.pop()?;
    }
}

fn chosen_kinds(flag: Option<&str>, c: &Components) -> anyhow::Result<Vec<&'static str>> {
    let supported = c.supported();
    let Some(flag) = flag else {
        if supported.is_empty() {
            bail!("the scenario has nothing a fault could target");
        }
        return Ok(supported);
    };
    flag.split(',')
        .map(str::trim)
        .map(|k| {
            let kind = schedule::KINDS
                .into_iter()
                .find(|x| *x == k)
                .with_context(|| {
                    format!(
                        "unknown fault kind `{k}`; expected one of {}",
                        schedule::KINDS.join(", ")
                    )
                })?;
            if !supported.contains(&kind) {
                bail!(
                    "fault kind `{k}` does not apply to this scenario (it takes {})",
                    supported.join(", ")
                );
            }
            Ok(kind)
        })
        .collect()
}

pub(super) fn check_out_dir(out: &Path) -> anyhow::Result<()> {
    if out.exists() && !out.is_dir() {
        bail!("--out {} exists and is not a directory", out.display());
    }
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !parent.is_dir() {
        bail!(
            "--out {}: {} is not a directory",
            out.display(),
            parent.display()
        );
    }
    Ok(())
}

fn progress(runs: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = if runs == u64::MAX {
        ProgressBar::new_spinner()
    } else {
        ProgressBar::new(runs)
    };
    if let Ok(style) =
        ProgressStyle::with_template("{bar:40} {pos}/{len} runs {per_sec} {msg} (eta {eta})")
    {
        bar.set_style(style);
    }
    bar
}

fn seed_of(t: &Table) -> i64 {
    t.get("seed").and_then(Value::as_integer).unwrap_or(0)
}

fn list(checks: &[String]) -> String {
    if checks.is_empty() {
        "nothing".into()
    } else {
        checks.join(", ")
    }
}

/// A check's name as a file name: `guarantee payments (at-most-once)` →
/// `guarantee-payments-at-most-once`.
fn file_stem(check: &str) -> String {
    let mut s: String = check
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    while s.contains("--") {
        s = s.replace("--", "-");
    }
    s.trim_matches('-').to_string()
}

fn write_scenario(
    path: &Path,
    table: &Table,
    from: &str,
    check: &str,
    shrunk: bool,
) -> anyhow::Result<()> {
    let mut t = table.clone();
    let name = t
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("scenario")
        .to_string();
    let suffix = if shrunk { "shrunk" } else { "found" };
    t.insert("name".into(), Value::String(format!("{name}-{suffix}")));
    let (description, header) = if check == shrink::MEMORY {
        (
            format!(
                "Found by mqlab explore from {from}: at its seed its backlog outgrows the memory a run may use (a storm); `mqlab run` of this file is stopped by the memory guard and exits 3."
            ),
            "a scenario whose backlog outgrows its memory (not shrunk)".to_string(),
        )
    } else if shrunk {
        (
            format!(
                "Shrunk by mqlab from {from}: at its seed it still fails `{check}`; `mqlab run` of this file exits 1."
            ),
            format!("a minimal scenario that fails `{check}`"),
        )
    } else {
        (
            format!(
                "Found by mqlab explore from {from}: at its seed it fails `{check}` (not shrunk; `mqlab shrink` makes it minimal); `mqlab run` of this file exits 1."
            ),
            format!("a drawn scenario that fails `{check}` (not shrunk)"),
        )
    };
    t.insert("description".into(), Value::String(description));
    let text = format!(
        "# Written by `mqlab explore`/`mqlab shrink`: {header}.\n{}",
        toml::to_string(&t).context("scenario as TOML")?
    );
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_names_become_file_names() {
        assert_eq!(
            file_stem("guarantee payments (at-most-once)"),
            "guarantee-payments-at-most-once"
        );
        assert_eq!(file_stem("littles_law"), "littles_law");
    }
}
