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
    let bytes = std::fs::read(path).with_context(|| format!("cannot read scenario {path}"))?;
    let source = utf8(bytes, path)?;
    let scenario = Scenario::from_toml(&source, path)?;
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
    let Loaded {
        mut scenario,
        source,
    } = scenario(path)?;
    if let Some(d) = delivery {
        scenario.set_delivery(d);
    }
    let seed = seed.unwrap_or(scenario.seed);
    Ok((scenario, source, seed))
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
