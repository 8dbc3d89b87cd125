//! Reading scenario files: the one place that turns a path into a validated `Scenario`.

use anyhow::Context;
use mqlab_sim::{Delivery, Scenario};

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
    let need = scenario.ledger_bytes_estimate() * runs.max(1) as f64;
    let Some(available) = available_bytes() else {
        return Ok(());
    };
    if need > available as f64 {
        anyhow::bail!(
            "{path}: the run would need about {:.1} GB for its per-message ledger ({} at once; rate × duration messages, a byte per message and about 1.25 per copy), and this machine has {:.1} GB available; lower a rate, the duration or --scale",
            need / 1e9,
            runs.max(1),
            available as f64 / 1e9
        );
    }
    Ok(())
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
