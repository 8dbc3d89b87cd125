//! Sharded sweeps: `compare --shard K/N` and `explore --shard K/N` run the K-th of N
//! contiguous slices of their jobs and write a *part*; `mqlab merge PART...` checks that
//! the parts are exactly one sweep's shards — same scenario, arguments and mqlab version,
//! each shard once, none missing — and gives the output the unsharded command gives.
//!
//! K counts from 0 (`0/4` … `3/4`), as Kubernetes' `JOB_COMPLETION_INDEX` does; a Slurm
//! array declared `--array=0-3` gives the same numbers in `SLURM_ARRAY_TASK_ID`.
//!
//! A part is one JSON object: `{"mqlab_part": HEADER, ...}` followed by the shard's results
//! (`runs` for compare, `trials` for explore), written as they are made.

use crate::compare::parse_format;
use crate::sweep::{self, Collector, Outputs};
use anyhow::{Context, bail};
use mqlab_reports::Format;
use mqlab_reports::Warmup;
use mqlab_reports::comparison::{Input, VariantSpec};
use mqlab_sim::RunSummary;
use serde::{Deserialize, Serialize};
use std::io::{BufReader, Write};
use std::ops::Range;
use std::path::Path;
use std::process::ExitCode;

/// Which slice of a sweep a process runs: `index` of `count`, from 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl Shard {
    /// The jobs of this shard among `total`: contiguous, sizes differing by at most one.
    pub fn range(self, total: usize) -> Range<usize> {
        let at = |k: u64| (u128::from(k) * total as u128 / u128::from(self.count)) as usize;
        at(self.index)..at(self.index + 1)
    }
}

/// `K/N` with `0 <= K < N`.
pub fn parse_shard(text: &str) -> Result<Shard, String> {
    let bad = || {
        format!(
            "bad --shard `{text}` (expected K/N with K from 0 to N-1, e.g. 0/4: Kubernetes' $JOB_COMPLETION_INDEX, or $SLURM_ARRAY_TASK_ID of an --array=0-(N-1))"
        )
    };
    let (k, n) = text.split_once('/').ok_or_else(bad)?;
    let index: u64 = k.trim().parse().map_err(|_| bad())?;
    let count: u64 = n.trim().parse().map_err(|_| bad())?;
    if count == 0 || index >= count {
        return Err(bad());
    }
    Ok(Shard { index, count })
}

/// What identifies a part: the sweep it belongs to and which shard of it it is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PartHeader {
    /// `compare` or `explore`.
    pub command: String,
    /// The mqlab that wrote it.
    pub version: String,
    /// Scenario name, path as given, and FNV-1a of its text.
    pub scenario: String,
    pub scenario_path: String,
    pub scenario_hash: String,
    /// This shard, of `shards`, from 0.
    pub shard: u64,
    pub shards: u64,
    /// Jobs in the whole sweep (runs for compare, run indices for explore).
    pub jobs: u64,
    /// The command's own arguments; parts merge only when these are equal.
    pub sweep: serde_json::Value,
}

/// A compare's arguments, as its parts record them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CompareSweep {
    pub seeds: Vec<u64>,
    pub variants: Vec<VariantSpec>,
    pub ordered: bool,
    pub warmup: Warmup,
}

/// Writes `head` (without its closing brace) then `body` to `--out` (atomically) or stdout.
pub fn write_part(
    out: Option<&str>,
    header: &PartHeader,
    body: impl FnOnce(&mut dyn Write) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let fill = |w: &mut dyn Write| -> anyhow::Result<()> {
        w.write_all(b"{\"mqlab_part\":")?;
        serde_json::to_writer(&mut *w, header)?;
        body(w)?;
        w.write_all(b"}\n")?;
        Ok(())
    };
    match out {
        Some(path) => crate::output::write_with(Path::new(path), fill),
        None => {
            let mut w = std::io::BufWriter::new(std::io::stdout().lock());
            fill(&mut w)?;
            Ok(w.flush()?)
        }
    }
}

/// Writes a part's runs as `,"runs":[...]`, one at a time as `next` yields them.
pub fn write_runs(
    w: &mut dyn Write,
    each: impl FnOnce(&mut dyn FnMut(RunSummary) -> anyhow::Result<()>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    w.write_all(b",\"runs\":[")?;
    let mut first = true;
    each(&mut |r: RunSummary| {
        if !first {
            w.write_all(b",")?;
        }
        first = false;
        serde_json::to_writer(&mut *w, &r)?;
        Ok(())
    })?;
    w.write_all(b"]")?;
    Ok(())
}

/// Arguments of `mqlab merge`.
#[derive(clap::Args, Debug)]
pub struct MergeArgs {
    /// The parts written by `compare --shard K/N` or `explore --shard K/N`, in any order.
    #[arg(required = true)]
    pub parts: Vec<String>,
    /// compare: print the JSON result on stdout, as `compare --json` does.
    #[arg(long)]
    pub json: bool,
    /// compare: write a report in this format (json, html, md, csv, hdr) to `--out` or stdout.
    #[arg(long, value_parser = parse_format)]
    pub report: Option<Format>,
    /// compare: output file, as `compare --out`; explore: the folder for shrunk failures
    /// (default explore-failures).
    #[arg(long)]
    pub out: Option<String>,
}

#[derive(Deserialize)]
struct HeaderOnly {
    mqlab_part: PartHeader,
}

#[derive(Deserialize)]
struct ComparePart {
    runs: Vec<RunSummary>,
}

pub fn merge(args: &MergeArgs) -> anyhow::Result<ExitCode> {
    let mut parts = Vec::new();
    for path in &args.parts {
        parts.push((path.as_str(), read_header(path)?));
    }
    check_one_sweep(&parts)?;
    parts.sort_by_key(|(_, h)| h.shard);
    match parts[0].1.command.as_str() {
        "compare" => merge_compare(args, &parts),
        "explore" => crate::explore::merge(args, &parts),
        other => bail!("{}: unknown command `{other}`", parts[0].0),
    }
}

fn read_header(path: &str) -> anyhow::Result<PartHeader> {
    let file = std::fs::File::open(path).with_context(|| format!("cannot read part {path}"))?;
    let h: HeaderOnly = serde_json::from_reader(BufReader::new(file)).with_context(|| {
        format!("{path}: not a part written by `mqlab compare --shard` or `mqlab explore --shard`")
    })?;
    Ok(h.mqlab_part)
}

/// The parts are one sweep's shards, each once, all present, from this mqlab.
fn check_one_sweep(parts: &[(&str, PartHeader)]) -> anyhow::Result<()> {
    let ours = env!("CARGO_PKG_VERSION");
    for (path, h) in parts {
        if h.version != ours {
            bail!(
                "{path} was written by mqlab {}, and this is mqlab {ours}: run every shard and the merge with one version",
                h.version
            );
        }
    }
    let (first_path, first) = &parts[0];
    for (path, h) in &parts[1..] {
        if let Some(what) = difference(first, h) {
            bail!("{path} is from another sweep than {first_path}: {what}");
        }
    }
    let mut seen: Vec<Option<&str>> = vec![None; first.shards as usize];
    for (path, h) in parts {
        let slot = seen
            .get_mut(h.shard as usize)
            .with_context(|| format!("{path}: shard {}/{} is out of range", h.shard, h.shards))?;
        if let Some(other) = slot {
            bail!(
                "shard {}/{} given twice: {other} and {path}",
                h.shard,
                h.shards
            );
        }
        *slot = Some(path);
    }
    let missing: Vec<String> = (0..first.shards)
        .filter(|k| seen[*k as usize].is_none())
        .map(|k| format!("{k}/{}", first.shards))
        .collect();
    if !missing.is_empty() {
        bail!(
            "missing shard{} {} of {} `{}` ({} of {} parts given)",
            if missing.len() == 1 { "" } else { "s" },
            missing.join(", "),
            first.command,
            first.scenario_path,
            parts.len(),
            first.shards
        );
    }
    Ok(())
}

/// What differs between two parts' sweeps, named for the user; `None` when they agree.
fn difference(a: &PartHeader, b: &PartHeader) -> Option<String> {
    if a.command != b.command {
        return Some(format!("command {} vs {}", a.command, b.command));
    }
    if a.scenario != b.scenario || a.scenario_hash != b.scenario_hash {
        return Some(format!(
            "scenario `{}` (text hash {}) vs `{}` (text hash {})",
            a.scenario, a.scenario_hash, b.scenario, b.scenario_hash
        ));
    }
    if a.scenario_path != b.scenario_path {
        return Some(format!(
            "scenario path {} vs {}",
            a.scenario_path, b.scenario_path
        ));
    }
    if a.sweep != b.sweep {
        let (sa, sb) = (a.sweep.as_object(), b.sweep.as_object());
        let key = sa
            .zip(sb)
            .and_then(|(sa, sb)| sa.iter().find(|(k, v)| sb.get(*k) != Some(*v)))
            .map_or("arguments", |(k, _)| k.as_str());
        return Some(format!(
            "argument `{key}` differs ({} vs {})",
            short(a.sweep.get(key)),
            short(b.sweep.get(key))
        ));
    }
    if a.shards != b.shards || a.jobs != b.jobs {
        return Some(format!(
            "{} shards of {} jobs vs {} shards of {} jobs",
            a.shards, a.jobs, b.shards, b.jobs
        ));
    }
    None
}

fn short(v: Option<&serde_json::Value>) -> String {
    let text = v.map_or("absent".to_string(), ToString::to_string);
    if text.chars().count() > 60 {
        format!("{}…", text.chars().take(60).collect::<String>())
    } else {
        text
    }
}

fn merge_compare(args: &MergeArgs, parts: &[(&str, PartHeader)]) -> anyhow::Result<ExitCode> {
    if let Some(out) = &args.out {
        crate::output::check_target(Path::new(out))?;
    }
    let first = &parts[0].1;
    let sweep: CompareSweep = serde_json::from_value(first.sweep.clone())
        .with_context(|| format!("{}: bad compare arguments", parts[0].0))?;
    let outputs = Outputs {
        json: args.json,
        format: args.report,
        out: args.out.as_deref(),
    };
    let input = Input {
        scenario_path: &first.scenario_path,
        seeds: &sweep.seeds,
        variants: &sweep.variants,
        ordered: sweep.ordered,
        warmup: sweep.warmup,
    };
    let mut collector = Collector::new(&input, &outputs)?;
    let ns = sweep.seeds.len();
    let bar = sweep::progress(first.jobs, "runs merged");
    for (path, h) in parts {
        let file = std::fs::File::open(path).with_context(|| format!("cannot read part {path}"))?;
        let part: ComparePart = serde_json::from_reader(BufReader::new(file))
            .with_context(|| format!("{path}: not a compare part"))?;
        let range = Shard {
            index: h.shard,
            count: h.shards,
        }
        .range(h.jobs as usize);
        if part.runs.len() != range.len() {
            bail!(
                "{path}: shard {}/{} holds {} runs, expected {} (a truncated part?)",
                h.shard,
                h.shards,
                part.runs.len(),
                range.len()
            );
        }
        for (job, run) in range.zip(part.runs) {
            if ns == 0 || run.seed != sweep.seeds[job % ns] || run.scenario_hash != h.scenario_hash
            {
                bail!(
                    "{path}: run {job} is not seed {:?} of this sweep",
                    sweep.seeds.get(job % ns.max(1))
                );
            }
            collector.push(run)?;
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    let held = collector.finish(&input, &outputs)?;
    Ok(if held {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_every_job_once_in_order() {
        for total in [0, 1, 5, 64, 192] {
            for count in 1..=9 {
                let mut next = 0;
                for index in 0..count {
                    let r = Shard { index, count }.range(total);
                    assert_eq!(r.start, next);
                    assert!(r.len() <= total / count as usize + 1);
                    next = r.end;
                }
                assert_eq!(next, total);
            }
        }
    }

    #[test]
    fn shard_indices_count_from_zero() {
        assert_eq!(parse_shard("0/4"), Ok(Shard { index: 0, count: 4 }));
        assert_eq!(parse_shard("3/4"), Ok(Shard { index: 3, count: 4 }));
        assert!(parse_shard("4/4").unwrap_err().contains("0 to N-1"));
        assert!(parse_shard("1/0").is_err());
        assert!(parse_shard("x").is_err());
    }
}
