//! Reproducible sessions: the scenario's own text with the session's seed and delivery
//! variant set and every hand-injected fault appended as a `[[fault]]` entry, so that
//! `mqlab run` of the result replays the session exactly. Builds text only; the binary
//! writes the file.
//!
//! The original text is kept (comments, order, formatting): seed and delivery lines are
//! edited in place only when the session changed them, and the result is parsed back and
//! checked before it is handed out, so a scenario laid out in a way the line edits do not
//! understand gives an error rather than a file that replays something else.

use crate::control::RecordedFault;
use mqlab_sim::{Delivery, Scenario};
use std::fmt::Write as _;

/// Why a session could not be exported.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// The original scenario text does not load.
    #[error("the scenario does not load: {0}")]
    Source(String),
    /// The edited text does not load or does not say what the session ran.
    #[error("exported scenario would not replay the session: {0}")]
    Check(String),
}

/// What a session ran, beyond the scenario file.
#[derive(Clone, Debug, PartialEq)]
pub struct Session<'a> {
    /// The seed.
    pub seed: u64,
    /// Every group's variant, when the session switched it (`d`).
    pub delivery: Option<Delivery>,
    /// Faults injected by hand, with their exact times.
    pub faults: &'a [RecordedFault],
}

/// The scenario text that replays `session`.
///
/// # Errors
/// The source does not load, or the edited text would not replay the session.
pub fn session_toml(source: &str, path: &str, session: &Session) -> Result<String, ExportError> {
    let original =
        Scenario::from_toml(source, path).map_err(|e| ExportError::Source(e.to_string()))?;
    let mut text = source.to_string();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    if original.seed != session.seed {
        text = set_seed(&text, session.seed);
    }
    if let Some(d) = session.delivery
        && original.consumers.iter().any(|c| c.delivery != d)
    {
        text = set_delivery(&text, d);
    }
    if !session.faults.is_empty() {
        let _ = writeln!(
            text,
            "\n# Faults injected by hand in `mqlab tui` (seed {}), at the exact simulated\n\
             # nanosecond they were applied; `mqlab run` of this file replays the session\n\
             # (`--delivery V` replays compare mode's column V).",
            session.seed
        );
        for f in session.faults {
            text.push('\n');
            text.push_str(&f.to_toml());
        }
    }
    check(&text, path, &original, session)?;
    Ok(text)
}

fn check(text: &str, path: &str, original: &Scenario, s: &Session) -> Result<(), ExportError> {
    let back = Scenario::from_toml(text, path).map_err(|e| ExportError::Check(e.to_string()))?;
    if back.seed != s.seed {
        return Err(ExportError::Check(format!(
            "seed is {}, not {}",
            back.seed, s.seed
        )));
    }
    if let Some(d) = s.delivery
        && let Some(c) = back.consumers.iter().find(|c| c.delivery != d)
    {
        return Err(ExportError::Check(format!(
            "group {} has delivery {}, not {}",
            c.group.get_ref(),
            c.delivery.as_str(),
            d.as_str()
        )));
    }
    let want = original.faults.len() + s.faults.len();
    if back.faults.len() != want {
        return Err(ExportError::Check(format!(
            "{} faults, not {want}",
            back.faults.len()
        )));
    }
    Ok(())
}

/// The bare key of a `key = value` line, if it is one.
fn key_of(line: &str) -> Option<&str> {
    let (k, _) = line.split_once('=')?;
    let k = k.trim();
    (!k.is_empty() && !k.starts_with('#')).then_some(k)
}

fn is_header(line: &str) -> bool {
    line.trim_start().starts_with('[')
}

/// Sets the top-level `seed`, or adds it before the first table.
fn set_seed(text: &str, seed: u64) -> String {
    let new = format!("seed = {seed}  # set by mqlab tui");
    let mut out = Vec::new();
    let mut done = false;
    let mut top = true;
    for line in text.lines() {
        if top && is_header(line) {
            top = false;
            if !done {
                out.push(new.clone());
                done = true;
            }
        }
        if top && !done && key_of(line) == Some("seed") {
            out.push(new.clone());
            done = true;
            continue;
        }
        out.push(line.to_string());
    }
    if !done {
        out.push(new);
    }
    out.join("\n") + "\n"
}

/// Sets `delivery` in every `[[consumer]]` table, adding it where absent.
fn set_delivery(text: &str, d: Delivery) -> String {
    let new = format!("delivery = \"{}\"  # set by mqlab tui", d.as_str());
    let mut out = Vec::new();
    let mut in_consumer = false;
    for line in text.lines() {
        if is_header(line) {
            in_consumer = line.trim() == "[[consumer]]";
            out.push(line.to_string());
            if in_consumer {
                // Added right after the header; a later `delivery` line is replaced, so
                // the table never holds the key twice.
                out.push(new.clone());
            }
            continue;
        }
        if in_consumer && key_of(line) == Some("delivery") {
            continue;
        }
        out.push(line.to_string());
    }
    out.join("\n") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::FaultSpec;
    use mqlab_sim::scenario::FaultKind;
    use mqlab_sim::{SimDuration, SimTime};

    const SOURCE: &str = r#"name = "t"
# the seed below is the scenario's default
seed = 7
duration = "10s"

[[topic]]
name = "orders"
partitions = 2

[[producer]]
name = "checkout"
topic = "orders"
rate = 100

[[consumer]]
group = "payments"
topic = "orders"
instances = 2
delivery = "at-most-once"

[[consumer]]
group = "audit"
topic = "orders"

[[fault]]
at = "1s"
kind = "crash"
target = "payments/0"
duration = "1s"

[expect]
lost = 0"#;

    fn crash(at: u64) -> RecordedFault {
        RecordedFault {
            at: SimTime(at),
            spec: FaultSpec {
                kind: FaultKind::Crash,
                target: "payments/1".into(),
                duration: Some(SimDuration::from_secs(2)),
                factor: None,
                count: None,
            },
        }
    }

    #[test]
    fn unchanged_session_exports_the_source_as_is() {
        let s = Session {
            seed: 7,
            delivery: None,
            faults: &[],
        };
        assert_eq!(
            session_toml(SOURCE, "t.toml", &s).unwrap(),
            format!("{SOURCE}\n")
        );
    }

    #[test]
    fn faults_are_appended_after_the_expect_table_with_exact_times() {
        let faults = [crash(2_345_678_901), crash(5_000_000_001)];
        let s = Session {
            seed: 7,
            delivery: None,
            faults: &faults,
        };
        let text = session_toml(SOURCE, "t.toml", &s).unwrap();
        let back = Scenario::from_toml(&text, "t.toml").unwrap();
        assert_eq!(back.faults.len(), 3);
        assert_eq!(back.faults[1].at, SimDuration(2_345_678_901));
        assert_eq!(back.faults[2].at, SimDuration(5_000_000_001));
        assert_eq!(back.expect.lost, Some(0));
        assert!(text.starts_with(SOURCE));
    }

    #[test]
    fn new_seed_and_delivery_are_written_into_the_tables() {
        let s = Session {
            seed: 99,
            delivery: Some(Delivery::ExactlyOnce),
            faults: &[],
        };
        let text = session_toml(SOURCE, "t.toml", &s).unwrap();
        let back = Scenario::from_toml(&text, "t.toml").unwrap();
        assert_eq!(back.seed, 99);
        assert!(
            back.consumers
                .iter()
                .all(|c| c.delivery == Delivery::ExactlyOnce)
        );
        assert!(text.contains("# the seed below is the scenario's default"));
    }

    #[test]
    fn seed_is_added_when_the_scenario_has_none() {
        let source = SOURCE.replace("seed = 7\n", "");
        let s = Session {
            seed: 3,
            delivery: None,
            faults: &[],
        };
        let back = Scenario::from_toml(&session_toml(&source, "t.toml", &s).unwrap(), "t").unwrap();
        assert_eq!(back.seed, 3);
    }

    #[test]
    fn a_broken_source_is_an_error_not_a_file() {
        let s = Session {
            seed: 7,
            delivery: None,
            faults: &[],
        };
        let e = session_toml("name = ", "t.toml", &s).unwrap_err();
        assert!(
            e.to_string().starts_with("the scenario does not load"),
            "{e}"
        );
    }
}
