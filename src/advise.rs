//! `mqlab advise`: from a user's needs to a broker, the decision framework's path with
//! its reasons (`decide`), backed by runs: one sized candidate scenario per broker model
//! (`candidate`), each run under every delivery variant with a consumer crash and a slow
//! consumer over several seeds (`evidence`), an evidence table (`render`), and the
//! recommended scenario written out for the user to keep exploring. The needs come from
//! a `[needs]` TOML file, flags, or both (`needs`).

mod candidate;
mod decide;
mod evidence;
mod needs;
mod render;

use anyhow::{Context, bail};
use mqlab_sim::time::{SimDuration, parse_duration};
use std::path::Path;
use std::process::ExitCode;

/// Arguments of `mqlab advise`.
#[derive(clap::Args, Debug)]
pub struct AdviseArgs {
    /// A TOML file with a `[needs]` table; flags override its keys.
    pub needs: Option<String>,
    #[command(flatten)]
    pub flags: needs::NeedFlags,
    /// Seeds every candidate runs over: `A..B` (inclusive), a list `1,5,9`, or one seed.
    #[arg(long, default_value = "1..3")]
    pub seeds: String,
    /// How long each run's producers produce.
    #[arg(long, default_value = "20s")]
    pub duration: String,
    /// Where to write the recommended scenario (default `advise-<model>.toml` here).
    #[arg(long)]
    pub out: Option<String>,
    /// Print everything as one JSON object on stdout (each candidate's scenario and every
    /// run's figures included).
    #[arg(long)]
    pub json: bool,
}

/// Most seeds: each is 12 runs (four candidates, three variants).
const MAX_SEEDS: usize = 100;
/// Longest run: the candidates run at the stated rate for this long, twelve times a seed.
const MAX_DURATION: SimDuration = SimDuration::from_secs(3600);

pub fn advise(args: &AdviseArgs) -> anyhow::Result<ExitCode> {
    let needs = needs::resolve(args.needs.as_deref(), &args.flags)?;
    let seeds = crate::compare::parse_seeds(&args.seeds)?;
    if seeds.is_empty() || seeds.len() > MAX_SEEDS {
        bail!("--seeds: 1 to {MAX_SEEDS} seeds, not {}", seeds.len());
    }
    let duration = parse_duration(&args.duration)
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("--duration `{}`", args.duration))?;
    if duration.is_zero() || duration > MAX_DURATION {
        bail!("--duration `{}`: above 0 and at most 1h", args.duration);
    }
    let decision = decide::decide(&needs);
    let mut candidates = decide::Model::ALL
        .into_iter()
        .map(|m| candidate::build(&needs, &decision, m, duration, seeds[0], 1))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| format!("advise-{}.toml", decision.model.as_str()));
    crate::output::check_target(Path::new(&out))?;
    let at_once = rayon::current_num_threads();
    for c in &candidates {
        crate::load::check_fits(
            &c.scenario,
            &format!("advise-{}", c.model.as_str()),
            at_once,
        )?;
    }
    let mut ev = evidence::gather(&candidates, &seeds, &needs)?;
    let ri = candidates
        .iter()
        .position(|c| c.model == decision.model)
        .context("the recommended model has a candidate")?;
    let resized = size_up(
        &needs,
        &decision,
        duration,
        &seeds,
        &mut candidates[ri],
        &mut ev[ri],
    )?;
    let rec = &candidates[ri];
    crate::output::write(Path::new(&out), rec.toml.as_bytes())?;
    let set = render::Setting {
        needs: &needs,
        seeds: &seeds,
        duration,
        out: &out,
        resized: &resized,
    };
    if args.json {
        let v = render::json(&set, &decision, &candidates, &ev);
        crate::outln!("{}", serde_json::to_string_pretty(&v)?)?;
    } else {
        crate::out!("{}", render::text(&set, &decision, &candidates, &ev))?;
    }
    let backed = ev.iter().any(|e| e.model == decision.model && e.met_all);
    Ok(if backed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Doublings tried when the recommended candidate misses only throughput or latency: up
/// to four times the consumers the rate needs at the target utilisation.
const MAX_DOUBLINGS: u32 = 2;

/// One resize of the recommended candidate: from what size, which needs it missed.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Resize {
    pub from: String,
    pub to: String,
    pub missed: Vec<String>,
}

/// Sizes the recommended candidate up while the runs say it is too small: it misses only
/// needs more consumers can meet (throughput, p99 under the faults). A slow consumer on a
/// partitioned log, say, holds up its partitions whatever the utilisation elsewhere; more
/// partitions shrink its share. Each size is run over the same seeds as the first.
fn size_up(
    needs: &needs::Needs,
    decision: &decide::Decision,
    duration: SimDuration,
    seeds: &[u64],
    cand: &mut candidate::Candidate,
    ev: &mut evidence::Evidence,
) -> anyhow::Result<Vec<Resize>> {
    let mut resized = Vec::new();
    let mut scale = 1;
    for _ in 0..MAX_DOUBLINGS {
        let missed: Vec<String> = ev
            .needs
            .iter()
            .filter(|j| !j.met)
            .map(|j| j.need.clone())
            .collect();
        let only_sizing = ev.needs.iter().all(|j| j.met || j.sizing);
        if missed.is_empty() || !only_sizing || !candidate::resizable(needs, cand.model) {
            break;
        }
        scale *= 2;
        let bigger = candidate::build(needs, decision, cand.model, duration, seeds[0], scale)?;
        let name = format!("advise-{}", bigger.model.as_str());
        crate::load::check_fits(&bigger.scenario, &name, rayon::current_num_threads())?;
        let mut e = evidence::gather(std::slice::from_ref(&bigger), seeds, needs)?;
        resized.push(Resize {
            from: cand.sizing.clone(),
            to: bigger.sizing.clone(),
            missed,
        });
        *cand = bigger;
        *ev = e.remove(0);
    }
    Ok(resized)
}
