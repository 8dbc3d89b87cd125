//! `mqlab perf --perf-stat`: instructions and cache misses per message for the mm1 row,
//! beside heap_limit doing as many customers, so the two can be compared per message and
//! not only by wall time. Hardware counters come from `perf stat` where the machine has
//! them; virtual machines often do not (`<not supported>`), and then the figures come from
//! cachegrind: its instruction count is exact and repeats to the instruction, its cache
//! misses are those of a simulated cache modelled on this machine's.

use serde::Serialize;
use std::ffi::OsString;
use std::path::Path;
use std::process::{Command, Stdio};

/// Cachegrind runs about a hundred times slower than the program: beyond this many
/// messages the per-message figures do not move, only the wait does.
const CACHEGRIND_MESSAGES: u64 = 1_000_000;

/// One program's counts, per message (or per customer for heap_limit).
#[derive(Debug, Clone, Serialize)]
pub struct Counted {
    pub program: String,
    /// Messages produced (customers for heap_limit): the divisor of the figures.
    pub messages: u64,
    pub instructions: f64,
    /// First-level data cache misses (perf stat does not split them out: `None`).
    pub d1_misses: Option<f64>,
    /// Last-level cache misses (perf stat's `cache-misses`).
    pub ll_misses: f64,
}

/// What `--perf-stat` measured, and with what.
#[derive(Debug, Clone, Serialize)]
pub struct Counters {
    pub tool: String,
    pub messages: u64,
    pub counted: Vec<Counted>,
    /// mqlab's instructions per message over heap_limit's per customer.
    pub instruction_ratio: Option<f64>,
}

/// Counts mm1 (`exe`) and heap_limit (`heap`) at `messages`, with perf stat if it has
/// hardware counters here, else cachegrind; `Err` says why neither could.
pub fn measure(exe: &Path, heap: &Path, messages: u64) -> Result<Counters, String> {
    let mm1 = |n: u64| -> Vec<OsString> {
        let mut v: Vec<OsString> = vec![exe.into()];
        v.extend(["run", "scenarios/mm1.toml", "--messages"].map(OsString::from));
        v.extend([n.to_string().into(), "--json".into()]);
        v
    };
    let anchor = |n: u64| -> Vec<OsString> {
        let mut v: Vec<OsString> = vec![heap.into()];
        v.extend(super::anchors::HEAP_LIMIT_ARGS.map(OsString::from));
        v.push(n.to_string().into());
        v
    };
    let perf_failed = match perf_stat(&mm1(messages)) {
        Ok((ours, json)) => {
            let (theirs, _) = perf_stat(&anchor(messages))?;
            let ours = (ours, produced(&json).unwrap_or(messages));
            let tool = "perf stat (hardware counters)";
            return Ok(assemble(tool, ours, (theirs, messages)));
        }
        Err(why) => why,
    };
    let n = messages.min(CACHEGRIND_MESSAGES);
    let (ours, json) = cachegrind(&mm1(n)).map_err(|why| format!("{perf_failed}; {why}"))?;
    let (theirs, _) = cachegrind(&anchor(n))?;
    Ok(assemble(
        &format!("cachegrind ({perf_failed}; instructions exact, caches simulated)"),
        (ours, produced(&json).unwrap_or(n)),
        (theirs, n),
    ))
}

/// The messages an mm1 run produced (a Poisson run's count differs from `--messages` by
/// a fraction of a percent), from its JSON result.
fn produced(json: &str) -> Option<u64> {
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    v["messages"]["produced"].as_u64()
}

/// Each program's totals and how many messages (customers) they were for.
fn assemble(tool: &str, ours: (Raw, u64), theirs: (Raw, u64)) -> Counters {
    let per = |(raw, n): (Raw, u64), program: &str| Counted {
        program: program.into(),
        messages: n,
        instructions: raw.instructions / n.max(1) as f64,
        d1_misses: raw.d1_misses.map(|m| m / n.max(1) as f64),
        ll_misses: raw.ll_misses / n.max(1) as f64,
    };
    let messages = theirs.1;
    let counted = vec![per(ours, "mqlab mm1"), per(theirs, "heap_limit")];
    let instruction_ratio =
        (counted[1].instructions > 0.0).then(|| counted[0].instructions / counted[1].instructions);
    Counters {
        tool: tool.into(),
        messages,
        counted,
        instruction_ratio,
    }
}

/// Whole-run totals.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Raw {
    instructions: f64,
    d1_misses: Option<f64>,
    ll_misses: f64,
}

/// The totals, and what the program printed on standard output.
fn perf_stat(command: &[OsString]) -> Result<(Raw, String), String> {
    let out = std::env::temp_dir().join(format!("mqlab-perf-stat-{}.csv", std::process::id()));
    let ran = Command::new("perf")
        .args(["stat", "-x,", "-e", "instructions,cache-misses", "-o"])
        .arg(&out)
        .arg("--")
        .args(command)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output();
    let text = std::fs::read_to_string(&out).unwrap_or_default();
    let _ = std::fs::remove_file(&out);
    match ran {
        Ok(o) if o.status.success() || o.status.code() == Some(1) => Ok((
            parse_perf_stat(&text)?,
            String::from_utf8_lossy(&o.stdout).into_owned(),
        )),
        _ => Err("perf stat could not run (is perf installed?)".into()),
    }
}

/// `perf stat -x,` output: `VALUE,UNIT,EVENT,...` per line.
fn parse_perf_stat(text: &str) -> Result<Raw, String> {
    let value = |event: &str| -> Result<f64, String> {
        let field = text
            .lines()
            .find(|l| l.split(',').nth(2).is_some_and(|e| e.starts_with(event)))
            .and_then(|l| l.split(',').next())
            .ok_or_else(|| format!("perf stat reported no {event}"))?;
        field
            .parse()
            .map_err(|_| format!("perf stat: {event} {field} on this machine"))
    };
    Ok(Raw {
        instructions: value("instructions")?,
        d1_misses: None,
        ll_misses: value("cache-misses")?,
    })
}

/// The totals, and what the program printed on standard output.
fn cachegrind(command: &[OsString]) -> Result<(Raw, String), String> {
    let out = Command::new("valgrind")
        .args([
            "--tool=cachegrind",
            "--cache-sim=yes",
            "--cachegrind-out-file=/dev/null",
        ])
        .args(command)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| super::instructions::cannot_run_valgrind(&e))?;
    if !out.status.success() {
        return Err(format!(
            "cachegrind exited with {} running {}",
            out.status,
            command[0].to_string_lossy()
        ));
    }
    Ok((
        parse_cachegrind(&String::from_utf8_lossy(&out.stderr))?,
        String::from_utf8_lossy(&out.stdout).into_owned(),
    ))
}

/// Cachegrind's summary on standard error: `==PID== I   refs:      3,063,427,329` and
/// likewise `D1  misses:` and `LL misses:` (each followed by a read/write split).
fn parse_cachegrind(text: &str) -> Result<Raw, String> {
    let value = |label: &str| -> Result<f64, String> {
        text.lines()
            .filter_map(|l| l.split_once("== ").map(|(_, rest)| rest))
            .find_map(|rest| rest.strip_prefix(label))
            .and_then(|rest| rest.trim_start_matches(':').split_whitespace().next())
            .and_then(|n| n.replace(',', "").parse().ok())
            .ok_or_else(|| format!("cachegrind's summary has no `{label}` line"))
    };
    Ok(Raw {
        instructions: value("I   refs")?,
        d1_misses: Some(value("D1  misses")?),
        ll_misses: value("LL misses")?,
    })
}

/// The counters as Markdown, for `mqlab perf`'s table.
pub fn markdown(c: &Counters) -> String {
    let mut s = format!(
        "Counters, {} messages requested, by {}:\n\n| program | instructions/msg | D1 misses/msg | LL misses/msg |\n|---|--:|--:|--:|\n",
        super::table::grouped(c.messages),
        c.tool
    );
    for p in &c.counted {
        let d1 = p.d1_misses.map_or("-".into(), |m| format!("{m:.3}"));
        s.push_str(&format!(
            "| {} | {:.1} | {d1} | {:.4} |\n",
            p.program, p.instructions, p.ll_misses
        ));
    }
    if let Some(r) = c.instruction_ratio {
        s.push_str(&format!(
            "\nmqlab executes {r:.2}x heap_limit's instructions per message.\n"
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cachegrind_summary_lines_with_their_grouping_commas() {
        let text = "==12174== I   refs:      3,063,427,329\n\
                    ==12174== I1  misses:        9,901,073\n\
                    ==12174== D1  misses:        1,095,491  (      982,205 rd   +     113,286 wr)\n\
                    ==12174== LLd misses:           47,141  (        7,389 rd   +      39,752 wr)\n\
                    ==12174== LL misses:            56,973  (       17,221 rd   +      39,752 wr)\n";
        let raw = parse_cachegrind(text).unwrap();
        assert_eq!(
            raw,
            Raw {
                instructions: 3_063_427_329.0,
                d1_misses: Some(1_095_491.0),
                ll_misses: 56_973.0
            }
        );
        assert!(parse_cachegrind("==1== I   refs: 5\n").is_err());
    }

    #[test]
    fn perf_stat_without_hardware_counters_says_so_instead_of_a_number() {
        let text =
            "<not supported>,,instructions,0,100.00,,\n<not supported>,,cache-misses,0,100.00,,\n";
        let why = parse_perf_stat(text).unwrap_err();
        assert!(why.contains("instructions <not supported>"), "{why}");
        let text = "3063427329,,instructions:u,1,100.00,,\n56973,,cache-misses:u,1,100.00,,\n";
        let raw = parse_perf_stat(text).unwrap();
        assert_eq!(
            (raw.instructions, raw.ll_misses),
            (3_063_427_329.0, 56_973.0)
        );
    }

    #[test]
    fn the_ratio_is_per_message_over_per_customer() {
        let raw = |i: f64| Raw {
            instructions: i,
            d1_misses: None,
            ll_misses: 0.0,
        };
        let c = assemble("t", (raw(2_997_000.0), 999), (raw(500_000.0), 1000));
        assert_eq!(c.counted[0].instructions, 3000.0);
        assert_eq!(c.counted[1].instructions, 500.0);
        assert_eq!(c.instruction_ratio, Some(6.0));
        assert!(markdown(&c).contains("6.00x"));
    }
}
