//! `mqlab perf --instructions`: instructions per produced message of every row with a
//! ratio target, and of heap_limit per customer, counted by cachegrind. On a shared or
//! virtual host one row's wall time can move by half between two sittings, so a wall ratio
//! near its target flips on noise; an instruction count is exact and repeats to the
//! instruction for the same binary and command, so ratios of counts do not. They are
//! blind to cache misses and stalls, which is why the wall ratios stay beside them.

use super::anchors::HEAP_LIMIT_ARGS;
use super::table::grouped;
use serde::Serialize;
use std::ffi::OsString;
use std::path::Path;
use std::process::{Command, Stdio};

/// heap_limit's name among the counted programs.
pub const HEAP_LIMIT: &str = "heap_limit";

/// Cachegrind's arguments: instructions only (no cache simulation: about twice as fast).
pub const CACHEGRIND: [&str; 3] = [
    "--tool=cachegrind",
    "--cache-sim=no",
    "--cachegrind-out-file=/dev/null",
];

/// Two programs a target compares. Both are counted at the same message count, so a
/// fixed start-up cost weighs the same on each; `cap` keeps a run under about a minute
/// under cachegrind, which runs some fifty times slower than the program.
#[derive(Debug, Clone, Copy)]
pub struct Pair {
    pub row: &'static str,
    pub base: &'static str,
    pub cap: u64,
}

/// The pairs with a ratio target, then the replicated row beside mm1 (a ratio shown, not
/// judged), in the order the counts are taken and shown.
pub const PAIRS: [Pair; 6] = [
    Pair {
        row: "mm1",
        base: HEAP_LIMIT,
        cap: 1_000_000,
    },
    Pair {
        row: "queue",
        base: "mm1",
        cap: 1_000_000,
    },
    Pair {
        row: "exchange",
        base: "mm1",
        cap: 1_000_000,
    },
    Pair {
        row: "partitions-1000",
        base: "mm1",
        cap: 200_000,
    },
    Pair {
        row: "keys-100k-resequenced",
        base: "keys-100k",
        cap: 200_000,
    },
    Pair {
        row: "replicated",
        base: "mm1",
        cap: 200_000,
    },
];

impl Pair {
    /// The messages both programs are counted at when the rows ran `messages`.
    pub fn count(&self, messages: u64) -> u64 {
        self.cap.min(messages)
    }

    /// The pair's two counts: the row's, then the base's.
    pub fn find<'a>(
        &self,
        counted: &'a [Counted],
        messages: u64,
    ) -> Option<(&'a Counted, &'a Counted)> {
        let n = self.count(messages);
        Some((at(counted, self.row, n)?, at(counted, self.base, n)?))
    }
}

/// One program's count.
#[derive(Debug, Clone, Serialize)]
pub struct Counted {
    pub program: String,
    /// Messages asked for (`--messages`; heap_limit's `--customers`).
    pub requested: u64,
    /// Messages produced (customers for heap_limit): the divisor.
    pub messages: u64,
    /// Instructions the whole process executed, start-up and output included.
    pub instructions: u64,
    pub instructions_per_message: f64,
}

fn at<'a>(counted: &'a [Counted], program: &str, requested: u64) -> Option<&'a Counted> {
    counted
        .iter()
        .find(|c| c.program == program && c.requested == requested)
}

/// A program's own count in the rows' table: the one at the count of the first pair
/// that holds it (mm1 is also counted at the smaller count partitions-1000 is).
pub fn own<'a>(counted: &'a [Counted], program: &str, messages: u64) -> Option<&'a Counted> {
    let pair = PAIRS
        .iter()
        .find(|p| p.row == program || p.base == program)?;
    at(counted, program, pair.count(messages))
}

/// The programs to count, base before row, once each: the pairs whose row ran.
pub fn plan(ran: &[&str], messages: u64) -> Vec<(&'static str, u64)> {
    let mut out = Vec::new();
    for p in PAIRS.iter().filter(|p| ran.contains(&p.row)) {
        for program in [p.base, p.row] {
            let want = (program, p.count(messages));
            if !out.contains(&want) {
                out.push(want);
            }
        }
    }
    out
}

/// Counts each planned program: `scenario` gives a row's scenario file, `heap` is
/// heap_limit's executable. `Err` says why not (valgrind named when it is missing).
pub fn measure(
    exe: &Path,
    heap: &Path,
    scenario: impl Fn(&str) -> Option<&'static str>,
    plan: &[(&'static str, u64)],
    progress: impl Fn(&str),
) -> Result<Vec<Counted>, String> {
    let mut out = Vec::new();
    for &(program, n) in plan {
        progress(&format!(
            "counting {program}'s instructions at {} messages",
            grouped(n)
        ));
        let mut command: Vec<OsString> = Vec::new();
        if program == HEAP_LIMIT {
            command.push(heap.into());
            command.extend(HEAP_LIMIT_ARGS.map(OsString::from));
            command.push(n.to_string().into());
        } else {
            let file = scenario(program).ok_or_else(|| format!("no scenario for {program}"))?;
            command.push(exe.into());
            command.extend(["run", file, "--messages"].map(OsString::from));
            command.extend([n.to_string().into(), "--json".into()]);
        }
        let (stdout, stderr) = cachegrind(&command)?;
        let instructions = parse_refs(&stderr)?;
        let messages = if program == HEAP_LIMIT {
            n
        } else {
            serde_json::from_str::<serde_json::Value>(&stdout)
                .ok()
                .and_then(|v| v["messages"]["produced"].as_u64())
                .ok_or_else(|| format!("{program} under cachegrind printed no produced count"))?
        };
        out.push(Counted {
            program: program.into(),
            requested: n,
            messages,
            instructions,
            instructions_per_message: instructions as f64 / messages.max(1) as f64,
        });
    }
    Ok(out)
}

/// Why valgrind did not start, naming it (its absence is the usual reason).
pub fn cannot_run_valgrind(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => {
            "valgrind not found on PATH (its cachegrind counts the instructions)".into()
        }
        _ => format!("cannot run valgrind: {e}"),
    }
}

/// Runs `command` under cachegrind; its standard output and error. mqlab's exit 1 (an
/// expectation failed) still counts, as the rows measure it.
fn cachegrind(command: &[OsString]) -> Result<(String, String), String> {
    let out = Command::new("valgrind")
        .args(CACHEGRIND)
        .args(command)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| cannot_run_valgrind(&e))?;
    if !matches!(out.status.code(), Some(0 | 1)) {
        return Err(format!(
            "cachegrind exited with {} running {}",
            out.status,
            command[0].to_string_lossy()
        ));
    }
    Ok((
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

/// Cachegrind's `==PID== I   refs:      3,063,427,329` (grouped by commas).
fn parse_refs(text: &str) -> Result<u64, String> {
    text.lines()
        .filter_map(|l| l.split_once("== ").map(|(_, rest)| rest))
        .find_map(|rest| rest.strip_prefix("I   refs:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.replace(',', "").parse().ok())
        .ok_or_else(|| "cachegrind's summary has no `I   refs` line".into())
}

/// The counts as Markdown, each with its ratio to the program its target compares it with.
pub fn markdown(counted: &Result<Vec<Counted>, String>, messages: u64) -> String {
    let counted = match counted {
        Ok(c) => c,
        Err(why) => return format!("Instructions: not counted: {why}.\n"),
    };
    let mut s = format!(
        "Instructions, counted by `valgrind {}` running each row's command at the messages \
         requested here (exact, and the same on every run of the same binary and command; the instruction \
         ratios compare two programs counted at the same number):\n\n\
         | program | messages requested | messages | instructions | instr/msg | ratio |\n\
         |---|--:|--:|--:|--:|--:|\n",
        CACHEGRIND.join(" ")
    );
    for c in counted {
        let ratio = PAIRS
            .iter()
            .filter(|p| p.row == c.program && p.count(messages) == c.requested)
            .find_map(|p| {
                let (row, base) = p.find(counted, messages)?;
                let r = row.instructions_per_message / base.instructions_per_message;
                Some(format!("{r:.2}x {}", p.base))
            })
            .unwrap_or_else(|| "-".into());
        s.push_str(&format!(
            "| {} | {} | {} | {} | {:.1} | {ratio} |\n",
            c.program,
            grouped(c.requested),
            grouped(c.messages),
            grouped(c.instructions),
            c.instructions_per_message,
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counted(program: &str, requested: u64, messages: u64, instructions: u64) -> Counted {
        Counted {
            program: program.into(),
            requested,
            messages,
            instructions,
            instructions_per_message: instructions as f64 / messages as f64,
        }
    }

    #[test]
    fn reads_the_instruction_total_with_its_grouping_commas() {
        let text = "==1== Cachegrind, a cache and branch-prediction profiler\n\
                    ==12174== I   refs:      3,063,427,329\n";
        assert_eq!(parse_refs(text), Ok(3_063_427_329));
        assert!(parse_refs("==1== D1  misses: 5\n").is_err());
    }

    #[test]
    fn pairs_are_counted_at_one_size_each_and_mm1_again_for_partitions() {
        let ran = ["mm1", "queue", "partitions-1000", "memory"];
        assert_eq!(
            plan(&ran, 10_000_000),
            [
                (HEAP_LIMIT, 1_000_000),
                ("mm1", 1_000_000),
                ("queue", 1_000_000),
                ("mm1", 200_000),
                ("partitions-1000", 200_000),
            ]
        );
        // Below the caps every program is counted once, at the rows' own count.
        assert_eq!(
            plan(&ran, 20_000),
            [
                (HEAP_LIMIT, 20_000),
                ("mm1", 20_000),
                ("queue", 20_000),
                ("partitions-1000", 20_000),
            ]
        );
        assert!(plan(&["memory", "compare-1-job"], 20_000).is_empty());
    }

    #[test]
    fn a_ratio_divides_counts_taken_at_the_same_size() {
        let c = [
            counted(HEAP_LIMIT, 1_000_000, 1_000_000, 500_000_000),
            counted("mm1", 1_000_000, 1_000_100, 2_000_200_000),
            counted("mm1", 200_000, 200_000, 420_000_000),
            counted("partitions-1000", 200_000, 199_000, 597_000_000),
        ];
        let p = PAIRS.iter().find(|p| p.row == "partitions-1000").unwrap();
        let (row, base) = p.find(&c, 10_000_000).unwrap();
        assert_eq!(
            (row.instructions_per_message, base.requested),
            (3000.0, 200_000)
        );
        assert_eq!(own(&c, "mm1", 10_000_000).unwrap().requested, 1_000_000);
        let text = markdown(&Ok(c.to_vec()), 10_000_000);
        assert!(
            text.contains(
                "| mm1 | 1,000,000 | 1,000,100 | 2,000,200,000 | 2000.0 | 4.00x heap_limit |"
            ),
            "{text}"
        );
        assert!(text.contains("| 3000.0 | 1.43x mm1 |"), "{text}");
        assert!(
            text.contains("| mm1 | 200,000 | 200,000 | 420,000,000 | 2100.0 | - |"),
            "{text}"
        );
    }

    #[test]
    fn a_missing_valgrind_is_named() {
        let absent = std::io::Error::from(std::io::ErrorKind::NotFound);
        let text = markdown(&Err(cannot_run_valgrind(&absent)), 1000);
        assert!(
            text.starts_with("Instructions: not counted: valgrind not found"),
            "{text}"
        );
    }
}
