//! A sweep's runs, streamed: runs are made on worker threads and handed
//! on in job order (never completion order, so the output is the same whatever the thread
//! count), each reduced at once to its `Digest` and either written out (the JSON result's
//! `runs`, or a shard's part) or dropped. A 10,000-seed sweep so holds the variants'
//! aggregates and a few hundred bytes a run, not the runs (tens of KB each). Only the html,
//! csv and hdr reports of a comparison, which draw every run, keep the runs in memory.
//! Shared by `compare` and `merge`, which must give the same bytes.

use crate::run;
use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use mqlab_reports::comparison::{Builder, Input};
use mqlab_reports::{Format, Report, Warmup};
use mqlab_sim::{RunSummary, Scenario};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, IsTerminal, Seek, Write};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, PoisonError, mpsc};
use std::thread;

/// A progress bar with ETA on stderr when it is a terminal; hidden otherwise (so tests,
/// pipes and CI logs see nothing).
pub fn progress(len: u64, unit: &str) -> ProgressBar {
    if !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    let template = format!("{{bar:40}} {{pos}}/{{len}} {unit} {{elapsed}} (eta {{eta}})");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style);
    }
    bar
}

/// Runs `jobs` (scenario index, seed) on as many worker threads as rayon's pool has and
/// hands each run to `sink` in job order. Workers take the next job as soon as they finish
/// one (no barrier between chunks, so a slow seed holds up nobody) but stay at most a
/// few jobs per thread ahead of the sink, which runs on the calling thread meanwhile: at
/// most that many runs wait in memory.
pub fn stream(
    scenarios: &[Scenario],
    source: &str,
    jobs: &[(usize, u64)],
    bar: &ProgressBar,
    mut sink: impl FnMut(RunSummary) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let threads = rayon::current_num_threads().clamp(1, jobs.len().max(1));
    let gate = Gate::new(threads * 4);
    let (tx, rx) = mpsc::channel::<(usize, anyhow::Result<RunSummary>)>();
    let next = AtomicUsize::new(0);
    thread::scope(|scope| {
        for _ in 0..threads {
            let (tx, next, gate) = (tx.clone(), &next, &gate);
            scope.spawn(move || {
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    if k >= jobs.len() || !gate.wait_for_turn(k) {
                        return;
                    }
                    let (v, seed) = jobs[k];
                    let r = run::simulate(&scenarios[v], source, seed, threads);
                    bar.inc(1);
                    if tx.send((k, r)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(tx);
        let mut waiting = BTreeMap::new();
        let mut due = 0;
        for (k, r) in &rx {
            waiting.insert(k, r);
            while let Some(r) = waiting.remove(&due) {
                if let Err(e) = r.and_then(&mut sink) {
                    gate.close();
                    return Err(e);
                }
                due += 1;
                gate.advance(due);
            }
        }
        Ok(())
    })
}

/// How far workers may run ahead of the sink: job `k` starts once fewer than `ahead` jobs
/// before it are still waiting to be sunk.
struct Gate {
    ahead: usize,
    /// Jobs sunk so far, or `None` once the sink failed (workers stop).
    sunk: Mutex<Option<usize>>,
    moved: Condvar,
}

impl Gate {
    fn new(ahead: usize) -> Gate {
        Gate {
            ahead,
            sunk: Mutex::new(Some(0)),
            moved: Condvar::new(),
        }
    }

    /// Blocks until job `k` may start; false when the sweep is being abandoned.
    fn wait_for_turn(&self, k: usize) -> bool {
        let mut sunk = self.sunk.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            match *sunk {
                None => return false,
                Some(n) if k < n + self.ahead => return true,
                Some(_) => {
                    sunk = self
                        .moved
                        .wait(sunk)
                        .unwrap_or_else(PoisonError::into_inner)
                }
            }
        }
    }

    fn advance(&self, sunk: usize) {
        *self.sunk.lock().unwrap_or_else(PoisonError::into_inner) = Some(sunk);
        self.moved.notify_all();
    }

    fn close(&self) {
        *self.sunk.lock().unwrap_or_else(PoisonError::into_inner) = None;
        self.moved.notify_all();
    }
}

/// What the output needs of the runs beyond their digests.
enum Runs {
    /// Nothing (the Markdown tables).
    None,
    /// Their compact JSON, comma-separated, in an unnamed temporary file (the JSON result).
    Spilled {
        file: io::BufWriter<File>,
        count: usize,
    },
    /// The runs themselves (html, csv, hdr draw every run).
    Kept(Vec<RunSummary>),
}

/// Gathers a comparison's runs in job order.
pub struct Collector {
    builder: Builder,
    runs: Runs,
}

/// Where a comparison goes: `--json`, `--report` and `--out` as `compare` takes them.
#[derive(Clone, Copy, Debug)]
pub struct Outputs<'a> {
    pub json: bool,
    pub format: Option<Format>,
    pub out: Option<&'a str>,
}

impl Outputs<'_> {
    /// The file's format (if any) and stdout's (if any): `--json` to stdout, `--report` to
    /// `--out` or stdout, JSON to `--out` when no format is named, and otherwise the
    /// tables on stdout (aligned text on a terminal, Markdown otherwise).
    pub fn formats(&self) -> (Option<Format>, Option<Format>) {
        let file = self.out.map(|_| self.format.unwrap_or(Format::Json));
        let stdout = match (self.json, self.out, self.format) {
            (true, _, _) => Some(Format::Json),
            (false, None, f) => Some(f.unwrap_or_else(tables_format)),
            // `--report F --out FILE`: the file is the output, stdout stays quiet.
            (false, Some(_), Some(_)) => None,
            // `--out FILE` alone saves the JSON result and still shows the tables.
            (false, Some(_), None) => Some(tables_format()),
        };
        (file, stdout)
    }
}

/// The tables for stdout: aligned plain text on a terminal, Markdown for a pipe or a file
/// (`--report md` asks for Markdown anywhere).
fn tables_format() -> Format {
    if io::stdout().is_terminal() {
        Format::Text
    } else {
        Format::Markdown
    }
}

impl Collector {
    /// A collector keeping of the runs what `outputs` will write.
    pub fn new(input: &Input<'_>, outputs: &Outputs<'_>) -> anyhow::Result<Collector> {
        let (file, stdout) = outputs.formats();
        let needs = [file, stdout];
        let runs = if needs
            .iter()
            .any(|f| matches!(f, Some(Format::Html | Format::Csv | Format::Hdr)))
        {
            Runs::Kept(Vec::new())
        } else if needs.contains(&Some(Format::Json)) {
            Runs::Spilled {
                file: io::BufWriter::new(spill_file()?),
                count: 0,
            }
        } else {
            Runs::None
        };
        Ok(Collector {
            builder: Builder::new(input),
            runs,
        })
    }

    /// Takes the next run in job order.
    pub fn push(&mut self, run: RunSummary) -> anyhow::Result<()> {
        let run = self.builder.push(run)?;
        match &mut self.runs {
            Runs::None => {}
            Runs::Kept(all) => all.push(run),
            Runs::Spilled { file, count } => {
                if *count > 0 {
                    file.write_all(b",")?;
                }
                serde_json::to_writer(&mut *file, &run)?;
                *count += 1;
            }
        }
        Ok(())
    }

    /// Aggregates and writes everything `outputs` asks for; returns whether every claimed
    /// guarantee held.
    pub fn finish(self, input: &Input<'_>, outputs: &Outputs<'_>) -> anyhow::Result<bool> {
        let mut comparison = self.builder.finish(input);
        let mut spill = None;
        match self.runs {
            Runs::None => {}
            Runs::Kept(all) => comparison.runs = all,
            Runs::Spilled { file, .. } => {
                spill = Some(file.into_inner().map_err(io::IntoInnerError::into_error)?);
            }
        }
        let held = comparison.claims_held();
        let report = Report::Comparison(Box::new(comparison));
        let (file_format, stdout_format) = outputs.formats();
        if let (Some(path), Some(f)) = (outputs.out, file_format) {
            crate::output::write_with(Path::new(path), |w| {
                write_report(&report, f, input.warmup, spill.as_mut(), w)
            })?;
        }
        if let Some(f) = stdout_format {
            let mut w = io::BufWriter::new(io::stdout().lock());
            write_report(&report, f, input.warmup, spill.as_mut(), &mut w)?;
            w.flush()?;
        }
        Ok(held)
    }
}

/// Writes `report` as `format`. A comparison whose runs were spilled is written as its
/// aggregates with the spilled runs spliced in as `runs`: exactly the bytes serde gives the
/// whole comparison, since `runs` is its last field.
fn write_report(
    report: &Report,
    format: Format,
    warmup: Warmup,
    spill: Option<&mut File>,
    w: &mut dyn Write,
) -> anyhow::Result<()> {
    match (report, format, spill) {
        (Report::Comparison(c), Format::Json, Some(spill)) if c.runs.is_empty() => {
            let head = serde_json::to_vec(c)?;
            let head = head
                .strip_suffix(b"[]}")
                .context("a comparison's JSON ends with its runs")?;
            w.write_all(head)?;
            w.write_all(b"[")?;
            spill.rewind()?;
            io::copy(spill, w)?;
            w.write_all(b"]}\n")?;
        }
        _ => w.write_all(&crate::compare::render_with(report, format, warmup)?)?,
    }
    Ok(())
}

/// A temporary file that vanishes with the process: unlinked as soon as it is open, so
/// neither a crash nor a signal leaves it behind.
fn spill_file() -> anyhow::Result<File> {
    let dir = std::env::temp_dir();
    let path = dir.join(format!(".mqlab-runs-{}.json", std::process::id()));
    let file = File::options()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
    std::fs::remove_file(&path)
        .with_context(|| format!("cannot unlink temporary {}", path.display()))?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mm1(duration: &str) -> Scenario {
        let source = std::fs::read_to_string("scenarios/mm1.toml").unwrap();
        let source = source.replace("duration = \"100s\"", &format!("duration = \"{duration}\""));
        Scenario::from_toml(&source, "mm1.toml").unwrap()
    }

    /// A long run first and short ones after it: workers run ahead of it, yet the sink
    /// sees job order; four threads on a pool of their own whatever the machine has.
    #[test]
    fn the_sink_sees_job_order_when_later_jobs_finish_first() {
        let scenarios = [mm1("1s"), mm1("30s")];
        let jobs: Vec<(usize, u64)> = (0..40u64).map(|k| (usize::from(k % 7 == 0), k)).collect();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(4)
            .build()
            .unwrap();
        let mut seen = Vec::new();
        let bar = ProgressBar::hidden();
        pool.install(|| {
            stream(&scenarios, "", &jobs, &bar, |r| {
                seen.push((r.seed, r.messages.produced));
                Ok(())
            })
        })
        .unwrap();
        let seeds: Vec<u64> = seen.iter().map(|s| s.0).collect();
        assert_eq!(seeds, (0..40).collect::<Vec<_>>());
        // Each run is the one its job names: the long scenario's runs produce ~30x more.
        for (k, produced) in &seen {
            let long = k % 7 == 0;
            assert!(long == (*produced > 10_000), "job {k}: {produced} produced");
        }
    }

    /// A sink that fails stops the sweep: its error comes back and the workers start no
    /// more than the window's worth of jobs beyond it.
    #[test]
    fn a_failing_sink_stops_the_workers() {
        let scenarios = [mm1("1s")];
        let jobs: Vec<(usize, u64)> = (0..200u64).map(|k| (0, k)).collect();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let bar = ProgressBar::hidden();
        let mut sunk = 0;
        let err = pool
            .install(|| {
                stream(&scenarios, "", &jobs, &bar, |_| {
                    sunk += 1;
                    if sunk == 3 {
                        anyhow::bail!("disk full")
                    }
                    Ok(())
                })
            })
            .unwrap_err();
        assert_eq!(err.to_string(), "disk full");
        assert!(
            bar.position() <= 3 + 2 * 4 + 2,
            "{} runs made",
            bar.position()
        );
    }
}
