//! End-to-end engine throughput (parse, run, check, summarise), flat out; prints
//! messages/s, events/s, nanoseconds per message and peak memory.
//!
//! - `cargo bench -p mqlab-sim --bench throughput`: one scenario (default `mm1.toml`)
//!   scaled to N messages (default 10 million). `MQLAB_BENCH_MESSAGES=N` resizes,
//!   `MQLAB_BENCH_SCENARIO=path` picks another scenario.
//! - `MQLAB_BENCH_TABLE=1 cargo bench -p mqlab-sim --bench throughput`: the scaling table
//!   of issue 7 — mm1 at 1M, 10M and 100M messages; 1, 10, 100 and 1000 partitions
//!   (`scenarios/bench/partitions-*.toml`) at 10M; food-delivery at 10M produced.
//!   `MQLAB_BENCH_MAX=N` drops rows above N messages (e.g. `2e7` to skip the 100M row).
//!
//! `MQLAB_BENCH_REPEAT=R` (default 1) runs each row R times and keeps the best wall time:
//! the machines we measure on are shared, so the best of several is the least disturbed.
//! Peak memory is the process's peak resident set (`VmHWM`) over a row's first run, reset
//! before each row.

use mqlab_sim::{Engine, RunSummary, Scenario, SimDuration};
use std::time::Instant;

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Resets the peak resident set to the current one (Linux 4.0+), so each row's peak is
/// its own and not an earlier, larger row's.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn env_f64(name: &str) -> Option<f64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

fn scenario_path(rel: &str) -> String {
    format!("{}/../scenarios/{rel}", env!("CARGO_MANIFEST_DIR"))
}

/// One measured run: the best wall time over the repeats.
struct Row {
    label: String,
    result: RunSummary,
    wall_s: f64,
    peak_mib: Option<f64>,
}

/// Loads `path`, sets its producing duration to give about `messages` messages, runs it
/// `repeat` times and keeps the fastest. The timed span includes parsing and the summary.
fn measure(label: &str, path: &str, messages: f64, repeat: u32) -> Row {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    reset_peak_rss();
    let mut best: Option<(f64, RunSummary)> = None;
    let mut peak_mib = None;
    for k in 0..repeat.max(1) {
        let started = Instant::now();
        let mut scenario = Scenario::from_toml(&text, path).unwrap_or_else(|e| panic!("{e}"));
        let rate: f64 = scenario.producers.iter().map(|p| *p.rate.get_ref()).sum();
        scenario.duration = SimDuration::from_secs_f64(messages / rate);
        let result = Engine::new(&scenario, scenario.seed).run();
        let wall = started.elapsed().as_secs_f64();
        assert!(result.conservation_ok, "{label}: conservation failed");
        if k == 0 {
            // The first run's peak: later repeats also count what the allocator kept.
            peak_mib = peak_rss_mib();
        }
        if best.as_ref().is_none_or(|b| wall < b.0) {
            best = Some((wall, result));
        }
    }
    let (wall_s, result) = best.expect("at least one run");
    Row {
        label: label.to_string(),
        result,
        wall_s,
        peak_mib,
    }
}

fn print_one(row: &Row) {
    let m = &row.result.messages;
    let wall = row.wall_s;
    println!(
        "scenario        {} at about {} messages ({} simulated)",
        row.result.scenario,
        m.produced,
        SimDuration::from_secs_f64(row.result.sim_time_s)
    );
    println!(
        "copies          {} processed {} (conservation {})",
        m.copies, m.processed, row.result.conservation_ok
    );
    println!("events          {}", row.result.events);
    println!("wall            {wall:.3} s");
    println!(
        "events/s        {:.2} M",
        row.result.events as f64 / wall / 1e6
    );
    println!(
        "messages/s      {:.2} M produced, {:.2} M copies processed",
        m.produced as f64 / wall / 1e6,
        m.processed as f64 / wall / 1e6
    );
    println!("ns/message      {:.0}", wall * 1e9 / m.produced as f64);
    if let Some(mib) = row.peak_mib {
        println!(
            "peak memory     {mib:.1} MiB ({:.1} bytes per message)",
            mib * 1_048_576.0 / m.produced as f64
        );
    }
}

fn print_table_row(row: &Row) {
    let m = &row.result.messages;
    let wall = row.wall_s;
    println!(
        "| {:<31} | {:>11} | {:>11} | {:>8.2} | {:>10.2} | {:>10.2} | {:>8.2} | {:>7.0} | {:>9} |",
        row.label,
        m.produced,
        m.processed,
        wall,
        m.produced as f64 / wall / 1e6,
        m.processed as f64 / wall / 1e6,
        row.result.events as f64 / wall / 1e6,
        wall * 1e9 / m.produced as f64,
        row.peak_mib.map_or("?".to_string(), |p| format!("{p:.0}")),
    );
}

fn table(repeat: u32) {
    let max = env_f64("MQLAB_BENCH_MAX").unwrap_or(f64::INFINITY);
    let mut rows: Vec<(String, String, f64)> = Vec::new();
    for n in [1e6, 1e7, 1e8] {
        rows.push((
            format!("mm1, {}M messages", n / 1e6),
            scenario_path("mm1.toml"),
            n,
        ));
    }
    for p in [1, 10, 100, 1000] {
        let instances = p.min(100);
        rows.push((
            format!("{p} partitions, {instances} inst., 10M"),
            scenario_path(&format!("bench/partitions-{p}.toml")),
            1e7,
        ));
    }
    rows.push((
        "food-delivery, 10M produced".to_string(),
        scenario_path("food-delivery.toml"),
        1e7,
    ));
    println!(
        "| case                            |    produced |   processed |   wall s | M produced/s | M processed/s | M events/s | ns/msg | peak MiB |"
    );
    println!(
        "| ------------------------------- | ----------: | ----------: | -------: | ---------: | ---------: | -------: | ------: | --------: |"
    );
    for (label, path, n) in rows.into_iter().filter(|r| r.2 <= max) {
        print_table_row(&measure(&label, &path, n, repeat));
    }
}

fn main() {
    let repeat = env_f64("MQLAB_BENCH_REPEAT").map_or(1, |r| r as u32);
    if std::env::var_os("MQLAB_BENCH_TABLE").is_some() {
        table(repeat);
        return;
    }
    let messages = env_f64("MQLAB_BENCH_MESSAGES").unwrap_or(10e6);
    let path = std::env::var("MQLAB_BENCH_SCENARIO").unwrap_or_else(|_| scenario_path("mm1.toml"));
    print_one(&measure(&path, &path, messages, repeat));
}
