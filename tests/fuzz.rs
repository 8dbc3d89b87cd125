//! Fuzz target: the shipped scenarios, mutated at random (numbers and durations swapped for
//! boundary values, lines duplicated, deleted or borrowed from another scenario, enum
//! values swapped, stray characters), go through the loader and, when they still load,
//! through the engine under an event budget. Holds: loading is an error or a scenario,
//! never a panic; a loaded scenario runs without a panic and within its budget, and its
//! result serialises and reads back. In-process rather than through the binary so a case
//! costs milliseconds; the binary only adds printing, which the CLI tests cover.
//!
//! Few cases by default; `PROPTEST_CASES=3000 cargo test --release --test integration
//! fuzz` for a long sweep (with `MQLAB_FUZZ_LAST=FILE` to keep the input of a case that
//! kills the process, such as one that runs out of memory).

use mqlab_sim::{Engine, Scenario, SimDuration};
use proptest::prelude::*;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// Events one case may process: a run that needs more is cut off there.
const EVENT_BUDGET: u64 = 200_000;
/// Producing time of a mutated scenario is capped at this (and so is its drain), so that
/// a budget of events covers a good share of the run.
const MAX_DURATION: SimDuration = SimDuration::from_secs(5);

const NUMBERS: &[&str] = &[
    "0",
    "1",
    "-1",
    "2",
    "0.5",
    "-0.0",
    "4294967295",
    "4294967296",
    "9223372036854775807",
    "18446744073709551615",
    "1e308",
    "1e-300",
    "nan",
    "inf",
    "-inf",
];

const DURATIONS: &[&str] = &[
    "\"0\"",
    "\"1ns\"",
    "\"-1s\"",
    "\"0.0001ns\"",
    "\"1e308s\"",
    "\"999999h\"",
    "\"12h\"",
    "\"20s\"",
    "\"1ms\"",
    "\"exp(0ns)\"",
    "\"uniform(5ms, 1ms)\"",
];

const WORDS: &[&str] = &[
    "log",
    "queue",
    "exchange",
    "pubsub",
    "block",
    "drop-oldest",
    "reject",
    "spill",
    "at-most-once",
    "at-least-once",
    "exactly-once",
    "crash",
    "slow",
    "poison",
    "partition",
    "broker-crash",
    "latency-spike",
    "outage",
    "topic",
    "fanout",
    "direct",
    "round-robin",
    "key",
    "weighted",
    "strict",
    "dead-letter",
    "requeue",
    "wait",
    "all",
    "leader",
    "none",
    "outbox",
    "dual-write",
    "network",
    "broker/0",
    "#.#.#.#",
    "",
];

const NOISE: &[&str] = &[
    "\"", "'", "[", "]", "{", "=", ",", "\n", "#", "\u{1b}", "\\", "é", ".",
];

/// One edit: which kind, and three numbers it picks its places and values with.
type Mutation = (u8, usize, usize, usize);

fn shipped() -> Vec<String> {
    crate::support::scenario_paths()
        .iter()
        .map(|p| std::fs::read_to_string(p).expect("readable scenario"))
        .collect()
}

/// Where in `line` the numbers (digits with `.`, `e`, `-`) start and end.
fn numbers(line: &str) -> Vec<(usize, usize)> {
    let b = line.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let starts = b[i].is_ascii_digit() && (i == 0 || !b[i - 1].is_ascii_alphanumeric());
        if starts {
            let mut j = i;
            while j < b.len() && (b[j].is_ascii_digit() || b[j] == b'.' || b[j] == b'_') {
                j += 1;
            }
            out.push((i, j));
            i = j;
        } else {
            i += 1;
        }
    }
    out
}

/// Where the quoted strings of `line` start and end (quotes included).
fn strings(line: &str) -> Vec<(usize, usize)> {
    let quotes: Vec<usize> = line.match_indices('"').map(|(i, _)| i).collect();
    quotes
        .chunks(2)
        .filter(|c| c.len() == 2)
        .map(|c| (c[0], c[1] + 1))
        .collect()
}

fn mutate(texts: &[String], base: usize, edits: &[Mutation]) -> String {
    let mut lines: Vec<String> = texts[base].lines().map(str::to_string).collect();
    for &(kind, a, b, c) in edits {
        if lines.is_empty() {
            lines.push(String::new());
        }
        let at = a % lines.len();
        let line = lines[at].clone();
        // Value edits (0-5) keep the TOML well-formed and reach validation and the
        // engine; structural ones (6-9) mostly exercise the parser.
        match kind % 10 {
            0..=2 => {
                let spots = numbers(&line);
                if let Some(&(s, e)) = spots.get(b % spots.len().max(1)) {
                    lines[at] =
                        format!("{}{}{}", &line[..s], NUMBERS[c % NUMBERS.len()], &line[e..]);
                }
            }
            3 | 4 => {
                let spots = strings(&line);
                if let Some(&(s, e)) = spots.get(b % spots.len().max(1)) {
                    let v = DURATIONS[c % DURATIONS.len()];
                    lines[at] = format!("{}{v}{}", &line[..s], &line[e..]);
                }
            }
            5 => {
                let spots = strings(&line);
                if let Some(&(s, e)) = spots.get(b % spots.len().max(1)) {
                    let v = WORDS[c % WORDS.len()];
                    lines[at] = format!("{}\"{v}\"{}", &line[..s], &line[e..]);
                }
            }
            6 => lines.insert(at, line),
            7 => {
                lines.remove(at);
            }
            8 => {
                // A line from another scenario: keys that file never combined.
                let other: Vec<&str> = texts[b % texts.len()].lines().collect();
                if !other.is_empty() {
                    lines.insert(at, other[c % other.len()].to_string());
                }
            }
            _ => {
                let mut cut = b % (line.len() + 1);
                while !line.is_char_boundary(cut) {
                    cut -= 1;
                }
                lines[at] = format!("{}{}{}", &line[..cut], NOISE[c % NOISE.len()], &line[cut..]);
            }
        }
    }
    lines.join("\n") + "\n"
}

/// Runs `scenario` for at most `EVENT_BUDGET` events; the summary when it finished.
fn run_within_budget(mut scenario: Scenario, seed: u64) -> Option<mqlab_sim::RunSummary> {
    scenario.duration = scenario.duration.min(MAX_DURATION);
    scenario.drain = scenario.drain.min(MAX_DURATION);
    let mut engine = Engine::new(&scenario, seed);
    let mut events = 0;
    while events < EVENT_BUDGET && engine.step() {
        events += 1;
    }
    engine.is_finished().then(|| engine.summary())
}

/// Loads and runs one mutated text; `Err` describes a panic.
fn check(text: &str, seed: u64) -> Result<(), String> {
    let loaded = catch_unwind(AssertUnwindSafe(|| Scenario::from_toml(text, "fuzz.toml")))
        .map_err(|p| format!("loading panicked: {}", message(&*p)))?;
    let Ok(scenario) = loaded else {
        return Ok(()); // an error, as it should be for bad input
    };
    let summary = catch_unwind(AssertUnwindSafe(|| run_within_budget(scenario, seed)))
        .map_err(|p| format!("the run panicked: {}", message(&*p)))?;
    if let Some(s) = summary {
        let json = serde_json::to_string(&s).map_err(|e| format!("serialising: {e}"))?;
        catch_unwind(AssertUnwindSafe(|| mqlab_reports::read(&json)))
            .map_err(|p| format!("reading the result panicked: {}", message(&*p)))?
            .map_err(|e| format!("its own result does not read back: {e}"))?;
    }
    Ok(())
}

fn message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_string()))
        .unwrap_or_default()
}

proptest! {
    // 64 unless PROPTEST_CASES says otherwise (an explicit `cases` would override it).
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64),
        ..ProptestConfig::default()
    })]

    #[test]
    fn mutated_scenarios_load_or_fail_cleanly_and_run_within_budget(
        base in 0usize..64,
        edits in prop::collection::vec((any::<u8>(), any::<usize>(), any::<usize>(), any::<usize>()), 1..5),
        seed in any::<u64>(),
    ) {
        let texts = shipped();
        let text = mutate(&texts, base % texts.len(), &edits);
        // A case that aborts the process (out of memory) cannot be caught or shrunk:
        // MQLAB_FUZZ_LAST=FILE keeps the input being tried, to reproduce it.
        if let Some(path) = std::env::var_os("MQLAB_FUZZ_LAST") {
            let _ = std::fs::write(path, format!("# seed {seed}\n{text}"));
        }
        let outcome = check(&text, seed);
        prop_assert!(outcome.is_ok(), "{}\nseed {seed}\n--- scenario ---\n{text}", outcome.unwrap_err());
    }
}

#[test]
fn every_shipped_scenario_passes_unmutated() {
    for (i, text) in shipped().iter().enumerate() {
        assert_eq!(check(text, 1), Ok(()), "scenario {i}");
    }
}

#[test]
fn mutations_change_what_they_say() {
    let texts = vec!["rate = 250\nname = \"x\"\n".to_string()];
    assert_eq!(
        mutate(&texts, 0, &[(0, 0, 0, 0)]),
        "rate = 0\nname = \"x\"\n"
    );
    assert_eq!(
        mutate(&texts, 0, &[(5, 1, 0, 0)]),
        "rate = 250\nname = \"log\"\n"
    );
    assert_eq!(mutate(&texts, 0, &[(7, 0, 0, 0)]), "name = \"x\"\n");
}

/// The mutations must leave enough scenarios loadable for the engine half of the target
/// to run often: a fuzzer that only ever reaches the parser tests half the program.
#[test]
fn a_fair_share_of_mutants_still_load() {
    let texts = shipped();
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        usize::try_from(state >> 16).unwrap_or(0)
    };
    let mut loaded = 0;
    let cases = 200;
    for _ in 0..cases {
        let edits: Vec<Mutation> = (0..1 + next() % 3)
            .map(|_| ((next() % 10) as u8, next(), next(), next()))
            .collect();
        let text = mutate(&texts, next() % texts.len(), &edits);
        loaded += usize::from(Scenario::from_toml(&text, "fuzz.toml").is_ok());
    }
    eprintln!("{loaded} of {cases} mutants loaded");
    assert!(
        loaded >= cases / 5,
        "only {loaded} of {cases} mutants loaded"
    );
}
