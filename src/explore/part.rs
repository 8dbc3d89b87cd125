//! `explore --shard K/N`'s part (the failing runs of one slice of the run indices, each
//! with its drawn scenario as TOML text) and `mqlab merge` of such parts: the first
//! `--max-failures` failing runs by index, reported and shrunk as the unsharded command does.

use super::shrink::Size;
use super::{ExploreArgs, Found, Trial, check_out_dir, conclude};
use anyhow::{Context, bail};
use std::path::PathBuf;
use std::process::ExitCode;
use toml::Table;

/// An explore's arguments, as its parts record them.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub(super) struct ExploreSweep {
    pub(super) runs: u64,
    pub(super) kinds: Vec<String>,
    pub(super) delivery: Option<String>,
    pub(super) seed: u64,
    pub(super) max_failures: u64,
    pub(super) no_shrink: bool,
}

/// A failing run as a part carries it: the drawn scenario as TOML text.
#[derive(serde::Serialize, serde::Deserialize)]
struct PartTrial {
    index: u64,
    scenario: String,
    failed: Vec<String>,
    size: Size,
}

/// The body of an explore part.
#[derive(serde::Deserialize)]
struct ExplorePart {
    trials: Vec<PartTrial>,
    done: u64,
    wall_s: f64,
    threads: usize,
}

/// Writes a shard's failing runs, and how many runs it made in how long, as a part.
pub(super) fn write_part(
    args: &ExploreArgs,
    loaded: &crate::load::Loaded,
    shard: crate::merge::Shard,
    sweep: ExploreSweep,
    trials: &[Trial],
    (done, wall, threads): (u64, f64, usize),
) -> anyhow::Result<()> {
    let header = crate::merge::PartHeader {
        command: "explore".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        scenario: loaded.scenario.name.clone(),
        scenario_path: args.scenario.clone(),
        scenario_hash: crate::load::source_hash(&loaded.source),
        shard: shard.index,
        shards: shard.count,
        jobs: sweep.runs,
        sweep: serde_json::to_value(sweep)?,
    };
    let trials: Vec<PartTrial> = trials
        .iter()
        .map(|t| {
            Ok(PartTrial {
                index: t.index,
                scenario: toml::to_string(&t.table).context("scenario as TOML")?,
                failed: t.failed.clone(),
                size: t.size,
            })
        })
        .collect::<anyhow::Result<_>>()?;
    crate::merge::write_part(None, &header, |w| {
        w.write_all(b",\"trials\":")?;
        serde_json::to_writer(&mut *w, &trials)?;
        write!(
            w,
            ",\"done\":{done},\"wall_s\":{wall},\"threads\":{threads}"
        )?;
        Ok(())
    })
}

/// `mqlab merge` of explore parts: the failing runs of every shard, the first
/// `--max-failures` by index (those the unsharded command keeps), reported and shrunk.
pub fn merge(
    args: &crate::merge::MergeArgs,
    parts: &[(&str, crate::merge::PartHeader)],
) -> anyhow::Result<ExitCode> {
    if args.json || args.report.is_some() {
        bail!(
            "merging explore parts takes no --json or --report (its output is text and shrunk scenario files in --out)"
        );
    }
    let first = &parts[0].1;
    let sweep: ExploreSweep = serde_json::from_value(first.sweep.clone())
        .with_context(|| format!("{}: bad explore arguments", parts[0].0))?;
    let out = PathBuf::from(args.out.as_deref().unwrap_or("explore-failures"));
    check_out_dir(&out)?;
    let (mut trials, mut done, mut wall, mut threads) = (Vec::new(), 0, 0.0, 0);
    for (path, _) in parts {
        let file = std::fs::File::open(path).with_context(|| format!("cannot read part {path}"))?;
        let part: ExplorePart = serde_json::from_reader(std::io::BufReader::new(file))
            .with_context(|| format!("{path}: not an explore part"))?;
        for t in part.trials {
            let table: Table = t
                .scenario
                .parse()
                .with_context(|| format!("{path}: run {}: not a scenario", t.index))?;
            trials.push(Trial {
                index: t.index,
                table,
                failed: t.failed,
                size: t.size,
            });
        }
        done += part.done;
        wall += part.wall_s;
        threads = threads.max(part.threads);
    }
    trials.sort_by_key(|t| t.index);
    trials.truncate(usize::try_from(sweep.max_failures).unwrap_or(usize::MAX));
    let pool = rayon::ThreadPoolBuilder::new()
        .build()
        .context("cannot start worker threads")?;
    let found = Found {
        scenario: &first.scenario_path,
        kinds: sweep.kinds.join(","),
        done,
        wall,
        threads,
        trials,
    };
    conclude(&found, &pool, &out, sweep.no_shrink)
}
