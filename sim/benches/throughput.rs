//! End-to-end engine throughput: a shipped scenario scaled to N messages (default 10
//! million), run flat out; prints events/s, messages/s and peak memory. Run with
//! `cargo bench -p mqlab-sim --bench throughput` (`MQLAB_BENCH_MESSAGES=N` to resize,
//! `MQLAB_BENCH_SCENARIO=path` for another scenario).

use mqlab_sim::{Engine, Scenario, SimDuration};
use std::time::Instant;

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn main() {
    let messages: f64 = std::env::var("MQLAB_BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10e6);
    let path = std::env::var("MQLAB_BENCH_SCENARIO").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios/mm1.toml").to_string()
    });
    let text = std::fs::read_to_string(&path).expect("scenario");
    let mut scenario = Scenario::from_toml(&text, &path).unwrap_or_else(|e| panic!("{e}"));
    let rate: f64 = scenario.producers.iter().map(|p| *p.rate.get_ref()).sum();
    scenario.duration = SimDuration::from_secs_f64(messages / rate);
    scenario.sample_interval = Some(SimDuration::from_secs(1));
    let started = Instant::now();
    let result = Engine::new(&scenario, scenario.seed).run();
    let wall = started.elapsed().as_secs_f64();
    let m = &result.messages;
    println!(
        "scenario        {} scaled to {:.0} messages ({} simulated)",
        scenario.name,
        messages,
        SimDuration::from_secs_f64(result.sim_time_s)
    );
    println!("produced        {}", m.produced);
    println!(
        "copies          {} processed {} (conservation {})",
        m.copies, m.processed, result.conservation_ok
    );
    println!("events          {}", result.events);
    println!("wall            {wall:.3} s");
    println!("events/s        {:.2} M", result.events as f64 / wall / 1e6);
    println!(
        "messages/s      {:.2} M produced, {:.2} M copies processed",
        m.produced as f64 / wall / 1e6,
        m.processed as f64 / wall / 1e6
    );
    if let Some(mib) = peak_rss_mib() {
        println!(
            "peak memory     {mib:.1} MiB ({:.1} bytes per message)",
            mib * 1048576.0 / m.produced as f64
        );
    }
    assert!(result.conservation_ok);
}
