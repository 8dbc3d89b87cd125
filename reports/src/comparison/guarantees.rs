//! Which guarantees a variant claims and whether they held on every seed: the engine's
//! per-group guarantee lines (or, for results without them, what the delivery promises),
//! conservation, ordering, and the scenario's `[expect]` checks, each with the first failing
//! seed and the command that reproduces it. Reads results only.

use super::{Digest, Guarantee, Input, VariantSpec};

/// A named pass/fail test of a run, and whether the variant claims it.
type Check = (String, bool, Box<dyn Fn(&Digest) -> bool>);

/// Every guarantee and `[expect]` check of one variant over its runs.
pub(super) fn check(input: &Input<'_>, spec: &VariantSpec, runs: &[Digest]) -> Vec<Guarantee> {
    let listed = runs
        .first()
        .map(|r| r.expectations.as_slice())
        .unwrap_or_default();
    let mut checks: Vec<Check> = Vec::new();
    // What each group's delivery promises, as the engine checked it per group. The group's
    // own delivery counts, not the one asked for: a pub/sub group stays at-most-once
    // whatever `--delivery` says, and claiming more for it would be a false alarm.
    let engine_claims: Vec<&str> = listed
        .iter()
        .map(|(check, _)| check.as_str())
        .filter(|c| c.starts_with("guarantee"))
        .collect();
    if engine_claims.is_empty() {
        checks.extend(claims_of(&spec.delivery));
    }
    for name in engine_claims {
        checks.push((name.to_string(), true, passed(name)));
    }
    // Shown, not claimed: no delivery variant promises order (a non-idempotent producer's
    // resend reorders its key even under exactly-once), `ordered = true` only asks to count.
    if input.ordered {
        checks.push(("in order".into(), false, Box::new(|r| r.out_of_order == 0)));
    }
    checks.push(("conservation".into(), true, Box::new(|r| r.conservation_ok)));
    // The scenario's own `[expect]` checks, in the order the first run lists them.
    for (check, _) in listed
        .iter()
        .filter(|(c, _)| c != "conservation" && !c.starts_with("guarantee"))
    {
        checks.push((format!("expect {check}"), false, passed(check)));
    }
    checks
        .into_iter()
        .map(|(name, claimed, ok)| {
            let failed: Vec<&Digest> = runs.iter().filter(|r| !ok(r)).collect();
            let first_seed = failed.first().map(|r| r.seed);
            Guarantee {
                name,
                claimed,
                held: failed.is_empty(),
                violated_seeds: failed.len(),
                first_seed,
                reproduce: first_seed.map(|s| reproduce(input.scenario_path, spec, s)),
            }
        })
        .collect()
}

/// A run passed the expectation named `check` (or does not list it).
fn passed(check: &str) -> Box<dyn Fn(&Digest) -> bool> {
    let key = check.to_string();
    Box::new(move |r: &Digest| r.passed(&key))
}

/// Run-wide claims of a delivery variant, for results that carry no per-group guarantee
/// lines.
fn claims_of(delivery: &str) -> Vec<Check> {
    let mut checks: Vec<Check> = Vec::new();
    if delivery == "at-least-once" || delivery == "exactly-once" {
        checks.push(("no loss".into(), true, Box::new(|r| r.lost == 0)));
    }
    if delivery == "at-most-once" || delivery == "exactly-once" {
        checks.push((
            "no duplicates".into(),
            true,
            Box::new(|r| r.duplicated == 0),
        ));
    }
    checks
}

/// The `mqlab run` command for one run of a variant: its seed, delivery and `--set`
/// values, each a shell word.
#[must_use]
pub fn reproduce(path: &str, spec: &VariantSpec, seed: u64) -> String {
    let mut cmd = format!(
        "mqlab run {} --seed {seed} --delivery {}",
        shell_word(path),
        spec.delivery
    );
    for (k, v) in &spec.settings {
        cmd.push_str(&format!(" --set {}", shell_word(&format!("{k}={v}"))));
    }
    cmd
}

/// `word` as it is when nothing in it is special to a shell, else single-quoted.
#[must_use]
pub fn shell_word(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "._-=/,:@%+".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}
