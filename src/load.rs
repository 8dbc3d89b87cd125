//! Reading scenario files: the one place that turns a path into a validated `Scenario`.

use anyhow::Context;
use mqlab_sim::{Delivery, Scenario};

/// The scenario files in `dir` (`*.toml`, not its subfolders), by name.
pub fn scenario_files(dir: &str) -> anyhow::Result<Vec<std::path::PathBuf>> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {dir}"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    Ok(paths)
}

/// A scenario and the text it came from.
pub struct Loaded {
    pub scenario: Scenario,
    pub source: String,
}

/// Reads and validates `path`; errors name the file, line and column.
pub fn scenario(path: &str) -> anyhow::Result<Loaded> {
    scenario_with(path, &[])
}

/// Reads `path` and validates it with `settings` applied, so that a `--set` can mend a
/// file that is not valid on its own (a `rate = -5` set right on the command line); the
/// scenario kept is the one the settings make, the text the file's own.
pub fn scenario_with(path: &str, settings: &[(String, String)]) -> anyhow::Result<Loaded> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read scenario {path}"))?;
    let source = utf8(bytes, path)?;
    let scenario = if settings.is_empty() {
        Scenario::from_toml(&source, path)?
    } else {
        Scenario::from_toml_with(&source, path, settings)?
    };
    Ok(Loaded { scenario, source })
}

/// `scenario`'s warnings (`Scenario::lints`), those for a run's standard error only
/// (`fault: false`: a run says a fault's beside it) or all, each as a compiler gives one:
/// at its line and column in `source`, with the line shown, when the scenario is the
/// file's own (`located`); named by the file alone when `--set` changed it, whose spans
/// then point into the changed text rather than the file.
pub fn warnings(
    scenario: &Scenario,
    path: &str,
    source: &str,
    located: bool,
    for_run: bool,
) -> Vec<String> {
    scenario
        .lints()
        .into_iter()
        .filter(|l| !(for_run && l.fault))
        .map(|l| {
            let message = format!("warning: {}", l.message);
            if located {
                mqlab_sim::ScenarioError::at(path, source, Some(l.span), message).to_string()
            } else {
                format!("{path}: {message}")
            }
        })
        .collect()
}

/// The file's text, or where its first byte that is not UTF-8 sits (TOML and JSON are
/// UTF-8).
pub fn utf8(bytes: Vec<u8>, path: &str) -> anyhow::Result<String> {
    String::from_utf8(bytes).map_err(|e| {
        let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = good.iter().filter(|&&b| b == b'\n').count() + 1;
        let line_start = good.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        // Columns count characters, as the other scenario errors do.
        let column = String::from_utf8_lossy(&good[line_start..]).chars().count() + 1;
        let byte = e.as_bytes()[good.len()];
        anyhow::anyhow!(
            "{path}:{line}:{column}: byte 0x{byte:02x} is not UTF-8 (the file must be UTF-8 text)"
        )
    })
}

/// Reads `path` and applies the command line's `--delivery` and `--seed`; returns the
/// scenario, its text and the seed to run.
pub fn prepared(
    path: &str,
    delivery: Option<Delivery>,
    seed: Option<u64>,
) -> anyhow::Result<(Scenario, String, u64)> {
    prepared_with(path, delivery, seed, &[])
}

/// `prepared` with `--set KEY=VALUE` flags applied to the file first.
pub fn prepared_with(
    path: &str,
    delivery: Option<Delivery>,
    seed: Option<u64>,
    set: &[String],
) -> anyhow::Result<(Scenario, String, u64)> {
    let settings = settings(set)?;
    let loaded = scenario_with(path, &settings)?;
    let mut scenario = loaded.scenario;
    if let Some(d) = delivery {
        set_delivery(&mut scenario, d, &settings);
    }
    let seed = seed.unwrap_or(scenario.seed);
    Ok((scenario, loaded.source, seed))
}

/// `KEY=VALUE` flags as pairs, in the order given.
pub fn settings(flags: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    flags
        .iter()
        .map(|f| {
            let (k, v) = f
                .split_once('=')
                .with_context(|| format!("bad --set `{f}` (expected KEY=VALUE)"))?;
            anyhow::ensure!(!v.trim().is_empty(), "bad --set `{f}`: empty value");
            Ok((k.trim().to_string(), v.trim().to_string()))
        })
        .collect()
}

/// The loaded scenario with `settings` applied to its file and checked as the file is
/// (no settings: the scenario as loaded).
pub fn with_settings(
    loaded: &Loaded,
    path: &str,
    settings: &[(String, String)],
) -> anyhow::Result<Scenario> {
    if settings.is_empty() {
        return Ok(loaded.scenario.clone());
    }
    Ok(Scenario::from_toml_with(&loaded.source, path, settings)?)
}

/// `--delivery` for every group but those a `consumer.GROUP.delivery` setting names: the
/// narrower setting wins.
pub fn set_delivery(scenario: &mut Scenario, delivery: Delivery, settings: &[(String, String)]) {
    for c in &mut scenario.consumers {
        let own = format!("consumer.{}.delivery", c.group.get_ref());
        if !settings.iter().any(|(k, _)| *k == own) {
            c.delivery = delivery;
            // An idempotence mode refines at-least-once only (exactly-once is
            // `transactional`); a mode set by `--set` stays, and validation judges it.
            let mode = format!("consumer.{}.idempotence", c.group.get_ref());
            if delivery != Delivery::AtLeastOnce && !settings.iter().any(|(k, _)| *k == mode) {
                c.idempotence = None;
            }
        }
    }
}

/// Refuses, before it starts, a run whose per-message state (`runs` of them at once) would
/// not fit in this machine's available memory, with both numbers; better than being
/// killed hours in. Where the available memory cannot be read, nothing is refused.
pub fn check_fits(scenario: &Scenario, path: &str, runs: usize) -> anyhow::Result<()> {
    let Some(available) = memory_limit()? else {
        return Ok(());
    };
    match refusal(scenario, path, runs, available) {
        Some(why) => Err(TooBig(why).into()),
        None => Ok(()),
    }
}

/// A run refused before it starts: its per-message state would not fit in the memory
/// runs may use (exit 3, with a run the guard stopped, not 2: the file is fine, the
/// machine is too small for it).
#[derive(Debug)]
pub struct TooBig(String);

impl std::fmt::Display for TooBig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TooBig {}

/// Whether `e` is a run that did not fit in memory: refused up front (`TooBig`) or
/// stopped by the engine's guard (`Stopped`).
pub fn out_of_memory(e: &anyhow::Error) -> bool {
    e.chain()
        .any(|c| c.is::<TooBig>() || c.is::<mqlab_sim::engine::Stopped>())
}

/// Why `runs` runs of `scenario` at once do not fit in `available` bytes, if they do not.
/// The need is the peak of the per-message state: the window of messages not final yet
/// where the ledger folds, rate × duration messages where it keeps every copy.
fn refusal(scenario: &Scenario, path: &str, runs: usize, available: u64) -> Option<String> {
    let need = scenario.ledger_bytes_estimate() * runs.max(1) as f64;
    (need > available as f64).then(|| {
        format!(
            "{path}: the run would need about {} for its per-message ledger ({} at once; the messages not final yet at the peak, rate × duration where the ledger cannot fold; a byte per message and about 1.25 per copy), and {} are available to runs (MQLAB_MEMORY_LIMIT where set, else MemAvailable); lower a rate, the duration or --scale",
            in_units(need),
            runs.max(1),
            in_units(available as f64)
        )
    })
}

/// `12.3 GB`, `0.4 MB` (a limit of a few bytes read as 0.0 GB), or `2.0e290 GB` for a
/// need no machine has (a rate of 1e300).
fn in_units(bytes: f64) -> String {
    let gb = bytes / 1e9;
    if gb < 0.1 {
        format!("{:.1} MB", bytes / 1e6)
    } else if gb < 1e6 {
        format!("{gb:.1} GB")
    } else {
        format!("{gb:.1e} GB")
    }
}

/// What one of `runs` runs at once may hold in memory before the engine stops it (its
/// share of the memory runs may use; unlimited where that cannot be read).
pub fn memory_budget(runs: usize) -> anyhow::Result<u64> {
    Ok(memory_limit()?.map_or(u64::MAX, |b| b / runs.max(1) as u64))
}

/// The memory runs may use in all: `MQLAB_MEMORY_LIMIT` (`"4GB"`, `"512MiB"`: a machine
/// shared with other work), else the available memory.
fn memory_limit() -> anyhow::Result<Option<u64>> {
    match std::env::var("MQLAB_MEMORY_LIMIT") {
        Ok(v) => mqlab_sim::size::parse_bytes(&v)
            .map(Some)
            .map_err(|e| anyhow::anyhow!("MQLAB_MEMORY_LIMIT={v}: {e}")),
        Err(_) => Ok(available_bytes()),
    }
}

/// `MemAvailable` from /proc/meminfo, in bytes.
fn available_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// FNV-1a of the scenario text, so every report names exactly what ran.
pub fn source_hash(source: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in source.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::refusal;
    use mqlab_sim::Scenario;

    /// A log at 900,000 messages a second for `duration` (3.24e9 messages an hour), one
    /// consumer at utilisation 0.9, with `extra` lines.
    fn scenario(duration: &str, extra: &str) -> Scenario {
        with_service(duration, "exp(1us)", extra)
    }

    fn with_service(duration: &str, service: &str, extra: &str) -> Scenario {
        let text = format!(
            "name = \"x\"\nduration = \"{duration}\"\n[[topic]]\nname = \"t\"\n[[producer]]\nname = \"p\"\ntopic = \"t\"\nrate = 900000\n[[consumer]]\ngroup = \"g\"\ntopic = \"t\"\nservice_time = \"{service}\"\n{extra}"
        );
        Scenario::from_toml(&text, "x.toml").expect("valid")
    }

    const GB: u64 = 1_000_000_000;

    #[test]
    fn a_run_that_folds_needs_its_window_not_rate_times_duration() {
        // 3.24e9 messages, 7.3 GB kept whole; folding, a backlog of a few messages plus
        // the folds' interval: far below 1 GB, with a consumer crash of a second too.
        let s = scenario(
            "1h",
            "[[fault]]\nat = \"10s\"\nkind = \"crash\"\ntarget = \"g\"\nduration = \"1s\"\n",
        );
        assert!(refusal(&s, "x.toml", 1, GB).is_none());
        assert!(refusal(&s, "x.toml", 2, GB).is_none());
        // The window is no free pass: almost nothing available is still too little.
        assert!(refusal(&s, "x.toml", 1, 1_000_000).is_some());
    }

    #[test]
    fn a_requester_folds_too_and_holds_its_reply_timeout_of_requests() {
        let requester = |timeout: &str| {
            let text = format!(
                "name = \"x\"\nduration = \"1h\"\n[broker]\nmodel = \"queue\"\n[[topic]]\nname = \"t\"\n[[producer]]\nname = \"p\"\ntopic = \"t\"\nrate = 900000\nreply_timeout = \"{timeout}\"\n[[consumer]]\ngroup = \"g\"\ntopic = \"t\"\ninstances = 4\nservice_time = \"exp(1us)\"\n"
            );
            Scenario::from_toml(&text, "x.toml").expect("valid")
        };
        // 3.24e9 requests an hour kept whole would need about 7.3 GB.
        assert!(refusal(&requester("500ms"), "x.toml", 1, GB).is_none());
        // Each request is held until its reply or its timeout: ten minutes of them do not
        // fit in a gigabyte.
        assert!(refusal(&requester("10m"), "x.toml", 1, GB).is_some());
    }

    #[test]
    fn what_cannot_fold_or_falls_behind_still_counts_the_run() {
        let fits = |s: &Scenario| refusal(s, "x.toml", 1, GB).is_none();
        // A consumer slower than the producers: the backlog grows with the run.
        assert!(!fits(&with_service("1h", "exp(2us)", "")));
        // A group down from 10s to the end holds everything produced after.
        let down = "[[fault]]\nat = \"10s\"\nkind = \"crash\"\ntarget = \"g\"\n";
        assert!(!fits(&scenario("1h", down)));
        // Retention keeps an hour of messages, read or not.
        let mut kept = scenario("1h", "");
        kept.topics[0].retention = Some(mqlab_sim::SimDuration::from_secs_f64(3600.0));
        assert!(!fits(&kept));
        let why = refusal(&kept, "x.toml", 1, GB).expect("refused");
        assert!(
            why.starts_with("x.toml: the run would need about "),
            "{why}"
        );
        // A short run fits either way.
        assert!(fits(&scenario("10s", "")));
    }
}
