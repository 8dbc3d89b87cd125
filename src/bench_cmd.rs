//! `mqlab bench`: a scenario's workload against a real Redis or RabbitMQ (crate
//! `mqlab-bench`), with the same accounting and JSON shape as `mqlab run`.

use crate::{load, run, text};
use mqlab_bench::{AmqpClient, BenchOptions, BenchResult, BrokerUrl};
use mqlab_sim::dist::Dist;
use mqlab_sim::scenario::{BrokerModel, Scenario};
use mqlab_sim::{Delivery, Engine, SimDuration};
use std::path::Path;
use std::process::ExitCode;

/// Arguments of `mqlab bench`.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// The scenario file.
    pub scenario: String,
    /// The broker: `redis://127.0.0.1:PORT` or `amqp://127.0.0.1:PORT` (with `--spawn`,
    /// the port may be left out: `redis` or `amqp`).
    #[arg(long)]
    pub broker: String,
    /// Start a throwaway broker from the installed server on a free loopback port, and
    /// stop it at the end.
    #[arg(long)]
    pub spawn: bool,
    /// Seed (default: the scenario's `seed`).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Delivery variant for every group: at-most-once, at-least-once or exactly-once.
    #[arg(long, value_parser = run::parse_delivery)]
    pub delivery: Option<Delivery>,
    /// Also run the model with the same seed and print the two side by side.
    #[arg(long)]
    pub vs_model: bool,
    /// RabbitMQ's client: `lapin` (the default, the field's standard crate) or `wire` (the
    /// driver's own AMQP 0-9-1 client, a fifth of lapin's CPU per message: for measuring
    /// the broker's own ceiling). Only with an AMQP broker.
    #[arg(long, value_name = "lapin|wire", value_parser = parse_amqp_client)]
    pub amqp_client: Option<AmqpClient>,
    /// Print the JSON result on stdout (and nothing else).
    #[arg(long)]
    pub json: bool,
    /// Also write the JSON result to this file, atomically.
    #[arg(long)]
    pub out: Option<String>,
}

fn parse_amqp_client(s: &str) -> Result<AmqpClient, String> {
    s.parse()
}

pub fn bench(args: &BenchArgs) -> anyhow::Result<ExitCode> {
    let (scenario, source, seed) = load::prepared(&args.scenario, args.delivery, args.seed)?;
    let broker = BrokerUrl::parse(&args.broker)?;
    let opts = BenchOptions {
        scenario: scenario.clone(),
        source: source.clone(),
        file: args.scenario.clone(),
        seed,
        broker,
        spawn: args.spawn,
        amqp_client: args.amqp_client,
    };
    if let Some(out) = &args.out {
        crate::output::check_target(Path::new(out))?;
    }
    let mut result = mqlab_bench::run(&opts)?;
    result.summary.scenario_hash = load::source_hash(&source);
    let json = serde_json::to_string_pretty(&result)?;
    if let Some(out) = &args.out {
        crate::output::write(Path::new(out), json.as_bytes())?;
    }
    if args.json {
        crate::outln!("{json}")?;
    } else {
        let broker = format!(
            " --broker {}{}",
            args.broker,
            if args.spawn { " --spawn" } else { "" }
        );
        let flags = args
            .delivery
            .map_or_else(String::new, |d| format!(" --delivery {}", d.as_str()));
        crate::out!(
            "{}",
            text::bench_summary(&result.summary, &args.scenario, &broker, &flags)
        )?;
        crate::out!("{}", source_lines(&result))?;
        if args.vs_model {
            // The model on the measured wire (half the round trip each way) and with the
            // probed per-message overhead as the broker's ingest time.
            let calibrated = match &result.probe {
                Some(p) => mqlab_bench::probe::calibrate(&scenario, p),
                None => {
                    let mut c = scenario.clone();
                    let one_way = (result.loopback_rtt_s * 1e9 / 2.0) as u64;
                    c.network.latency = Dist::Const(SimDuration(one_way));
                    c
                }
            };
            // Out as long as the real server was, its restart included.
            let measured = mqlab_bench::outage::as_measured(&calibrated, &result.outages);
            let model = Engine::new(measured.as_ref().unwrap_or(&calibrated), seed).run();
            crate::out!("{}", side_by_side(&result, &model, measured.is_some()))?;
            crate::out!(
                "{}",
                ids_side_by_side(&result.summary, &model, &args.scenario, &flags)
            )?;
        }
    }
    if let Some(why) = &result.partial {
        eprintln!("partial result: {why}");
        if let Some(hint) = early_quorum_kill(&scenario, &result) {
            eprintln!("{hint}");
        }
        return Ok(ExitCode::from(1));
    }
    Ok(if result.summary.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Why a RabbitMQ run may have timed out after a kill: a quorum queue (a `queue` topic)
/// whose single node is killed within about a second of declaring it may not elect a
/// leader again (RabbitMQ 3.10, rabbitmq-server#10070), and every later operation on it
/// times out. Kills at 0 s and 0.5 s did so here; at 1 s and later, none did.
fn early_quorum_kill(sc: &Scenario, r: &BenchResult) -> Option<String> {
    let quorum = sc
        .topics
        .iter()
        .any(|t| t.model(&sc.broker) == BrokerModel::Queue);
    let early = r.outages.iter().find(|o| o.killed_s < 1.0)?;
    (quorum && r.source.broker == "rabbitmq").then(|| {
        format!(
            "the server was killed {:.2}s into the run, moments after it declared the quorum \
             queue of a `queue` topic: RabbitMQ 3.10 may then not elect that queue a leader \
             again (rabbitmq-server#10070), and every operation on it times out; put the \
             broker-crash at 1s or later",
            early.killed_s
        )
    })
}

fn source_lines(r: &BenchResult) -> String {
    let s = &r.source;
    let e = &r.scheduling_error_s;
    format!(
        "source: {} {} at {}{}{}\n{}driver scheduling error: p50 {:.1}us  p99 {:.1}us  max {:.1}us\n{}",
        s.broker,
        s.version,
        s.url,
        if s.spawned { " (spawned)" } else { "" },
        s.client
            .as_ref()
            .map_or_else(String::new, |c| format!(", client {c}")),
        r.probe.as_ref().map_or_else(String::new, |p| format!(
            "probe: round trip {:.1}us, {:.2}us per message beyond it ({} x {} B at saturation)\n",
            p.rtt_s * 1e6,
            p.per_message_s * 1e6,
            p.messages,
            p.payload_bytes
        )),
        e.p50 * 1e6,
        e.p99 * 1e6,
        e.max * 1e6,
        if r.misrouted > 0 {
            format!(
                "MISROUTED: {} deliveries the model does not route there\n",
                r.misrouted
            )
        } else {
            String::new()
        }
    ) + &cpu_line(r)
        + &outage_lines(r)
}

/// CPU per process over the workload: which one was the limit.
fn cpu_line(r: &BenchResult) -> String {
    let Some(c) = r.cpu.filter(|c| c.wall_s > 0.0) else {
        return String::new();
    };
    let broker = if r.source.spawned {
        format!(
            ", broker {:.2}s ({:.2} core)",
            c.broker_s,
            c.broker_s / c.wall_s
        )
    } else {
        String::new()
    };
    format!(
        "cpu over {:.1}s: driver {:.2}s ({:.2} core){broker}\n",
        c.wall_s,
        c.driver_s,
        c.driver_s / c.wall_s
    )
}

/// `broker-crash`: when the server was really killed and back, and what it held.
fn outage_lines(r: &BenchResult) -> String {
    r.outages
        .iter()
        .map(|o| {
            let back = if o.back_s > 0.0 {
                format!(
                    "accepting again at {:.2}s ({:.2}s down)",
                    o.back_s,
                    o.back_s - o.killed_s
                )
            } else {
                "never back".to_string()
            };
            format!(
                "broker killed (SIGKILL) at {:.2}s, {back}; {} copies in the broker at the kill\n",
                o.killed_s, o.backlog
            )
        })
        .collect()
}

/// How far apart a model count and a real one may be and still agree, when both are
/// non-zero: a factor of 2 (the real run adds the client's and broker's own overheads,
/// which the model does not have, and the machine's load).
const AGREE_FACTOR: f64 = 2.0;

/// Whether a model count and a real count agree: equal, both zero, or both non-zero
/// within `AGREE_FACTOR`.
fn agreement(model: u64, real: u64) -> String {
    if model == real {
        return "yes".into();
    }
    if (model == 0) != (real == 0) {
        return "NO".into();
    }
    let ratio = model.max(real) as f64 / model.min(real) as f64;
    if ratio <= AGREE_FACTOR {
        format!("yes, within {AGREE_FACTOR}x")
    } else {
        format!("NO, both nonzero but {ratio:.1}x apart")
    }
}

/// The real run next to the model's, count by count. The model runs with the measured
/// loopback round trip as its network and the probed per-message overhead as its
/// broker's ingest time.
fn side_by_side(r: &BenchResult, m: &mqlab_sim::RunSummary, outage_measured: bool) -> String {
    let (a, b) = (&r.summary.messages, &m.messages);
    let mut out = format!(
        "\nmodel vs real (same seed; model network: the measured loopback round trip, {:.1}us, half each way",
        r.loopback_rtt_s * 1e6
    );
    match &r.probe {
        Some(p) => out.push_str(&format!(
            ";\n  model broker: {:.2}us per message, the probe's burst of {} x {} B beyond the round trip)\n",
            p.per_message_s * 1e6,
            p.messages,
            p.payload_bytes
        )),
        None => out.push_str(")\n"),
    }
    if outage_measured {
        out.push_str(
            "  model broker-crash: out until the real server was back (its restart included)\n",
        );
    }
    out.push_str(&format!("{:<16}{:>14}{:>14}  agree\n", "", "model", "real"));
    let rows = [
        ("copies", b.copies, a.copies),
        ("processed", b.processed, a.processed),
        ("lost", b.lost, a.lost),
        ("dead_lettered", b.dead_lettered, a.dead_lettered),
        ("dropped", b.dropped, a.dropped),
        ("in_flight", b.in_flight, a.in_flight),
        ("duplicated", b.duplicated, a.duplicated),
        ("out_of_order", b.out_of_order, a.out_of_order),
    ];
    for (name, model, real) in rows {
        let agree = agreement(model, real);
        out.push_str(&format!("{name:<16}{model:>14}{real:>14}  {agree}\n"));
    }
    let (la, lb) = (&r.summary.latency_s, &m.latency_s);
    for (name, model, real) in [
        ("p50 latency", lb.p50, la.p50),
        ("p99 latency", lb.p99, la.p99),
        ("p99.9 latency", lb.p999, la.p999),
    ] {
        out.push_str(&format!(
            "{name:<16}{:>12.3}ms{:>12.3}ms\n",
            model * 1e3,
            real * 1e3
        ));
    }
    out.push_str(&format!(
        "{:<16}{:>12.1}/s{:>12.1}/s\n",
        "throughput", m.throughput.processed_per_s, r.summary.throughput.processed_per_s
    ));
    let lag =
        |g: &[mqlab_sim::summary::GroupSummary]| g.iter().map(|g| g.max_lag).max().unwrap_or(0);
    out.push_str(&format!(
        "{:<16}{:>14}{:>14}\n",
        "peak lag",
        lag(&m.groups),
        lag(&r.summary.groups)
    ));
    // Where the model took a fault without acting on all of it, the rows above differ
    // for that reason, not the broker's.
    for f in m.faults.iter().filter(|f| !f.note.is_empty()) {
        out.push_str(&format!("model: {} of {}: {}\n", f.kind, f.target, f.note));
    }
    out
}

/// Which messages each side lost, duplicated, reordered or dropped (the first ids, lowest
/// first), per group: where the counts agree the messages may still differ, and the model's
/// story of any of them is one `mqlab trace` away.
fn ids_side_by_side(
    r: &mqlab_sim::RunSummary,
    m: &mqlab_sim::RunSummary,
    path: &str,
    flags: &str,
) -> String {
    let list = |ids: &[u32]| {
        if ids.is_empty() {
            "none".to_string()
        } else {
            ids.iter().map(u32::to_string).collect::<Vec<_>>().join(" ")
        }
    };
    let mut rows = String::new();
    for real in &r.groups {
        let model = m.groups.iter().find(|g| g.name == real.name);
        let model_ids = model.map(|g| g.examples.by_anomaly());
        for (k, (anomaly, real_ids)) in real.examples.by_anomaly().into_iter().enumerate() {
            let model_ids = model_ids.as_ref().map_or(&[][..], |m| m[k].1);
            if real_ids.is_empty() && model_ids.is_empty() {
                continue;
            }
            rows.push_str(&format!(
                "  {} {}: model {}; real {}\n",
                real.name,
                anomaly.replace('_', " "),
                list(model_ids),
                list(real_ids)
            ));
        }
    }
    if rows.is_empty() {
        return rows;
    }
    format!(
        "which messages (first ids; `mqlab trace {path} --seed {}{flags} --message ID --group G` \
         tells what the model did with one)\n{rows}",
        r.seed
    )
}

#[cfg(test)]
mod tests {
    use super::{agreement, ids_side_by_side};
    use mqlab_sim::RunSummary;
    use mqlab_sim::summary::GroupSummary;

    /// A one-group result that duplicated `dup` and dropped `dropped`.
    fn one_group(dup: &[u32], dropped: &[u32]) -> RunSummary {
        let mut g = GroupSummary {
            name: "g".into(),
            duplicated: dup.len() as u64,
            dropped: dropped.len() as u64,
            ..GroupSummary::default()
        };
        g.examples.duplicated = dup.to_vec();
        g.examples.dropped = dropped.to_vec();
        RunSummary {
            seed: 3,
            groups: vec![g],
            ..RunSummary::default()
        }
    }

    /// A kill within the first second of a RabbitMQ run with a quorum queue explains its
    /// time-out; a later kill, a classic queue or Redis does not.
    #[test]
    fn an_early_kill_of_a_quorum_queue_is_named_as_the_likely_cause() {
        use super::early_quorum_kill;
        use mqlab_bench::BenchResult;
        use mqlab_bench::outage::OutageWindow;
        let file = |model: &str| {
            let (exchange, bindings) = if model == "exchange" {
                ("exchange = \"fanout\"\n", "bindings = [\"#\"]\n")
            } else {
                ("", "")
            };
            mqlab_sim::Scenario::from_toml(
                &format!(
                    "name = \"q\"\nduration = \"2s\"\n[broker]\nmodel = \"{model}\"\n\
                     [[topic]]\nname = \"jobs\"\n{exchange}\
                     [[producer]]\nname = \"p\"\ntopic = \"jobs\"\nrate = 10\n\
                     [[consumer]]\ngroup = \"g\"\ntopic = \"jobs\"\nservice_time = \"1ms\"\n{bindings}"
                ),
                "q.toml",
            )
            .expect("valid")
        };
        let killed = |at: f64, broker: &str| {
            let mut r = BenchResult::default();
            r.source.broker = broker.into();
            r.outages = vec![OutageWindow {
                killed_s: at,
                back_s: at + 5.0,
                backlog: 0,
            }];
            r
        };
        let hint = early_quorum_kill(&file("queue"), &killed(0.5, "rabbitmq")).expect("named");
        assert!(
            hint.contains("0.50s into the run") && hint.contains("#10070"),
            "{hint}"
        );
        assert!(early_quorum_kill(&file("queue"), &killed(1.5, "rabbitmq")).is_none());
        assert!(early_quorum_kill(&file("exchange"), &killed(0.5, "rabbitmq")).is_none());
        assert!(early_quorum_kill(&file("queue"), &killed(0.5, "redis")).is_none());
    }

    #[test]
    fn the_ids_each_side_named_are_shown_per_anomaly_with_the_trace_to_explain_them() {
        let real = one_group(&[25], &[]);
        let model = one_group(&[], &[]);
        let out = ids_side_by_side(&real, &model, "f.toml", "");
        assert!(
            out.contains("mqlab trace f.toml --seed 3 --message ID --group G"),
            "{out}"
        );
        assert!(
            out.contains("  g duplicated: model none; real 25\n"),
            "{out}"
        );
        assert!(
            !out.contains("dropped"),
            "an anomaly neither side has: {out}"
        );
        // Nothing named on either side: nothing printed.
        assert_eq!(ids_side_by_side(&model, &model, "f.toml", ""), "");
        let both = ids_side_by_side(
            &one_group(&[4, 9], &[1]),
            &one_group(&[9], &[]),
            "f.toml",
            "",
        );
        assert!(both.contains("g duplicated: model 9; real 4 9\n"), "{both}");
        assert!(both.contains("g dropped: model none; real 1\n"), "{both}");
    }

    #[test]
    fn counts_agree_when_equal_or_both_nonzero_within_the_factor() {
        assert_eq!(agreement(0, 0), "yes");
        assert_eq!(agreement(0, 3), "NO");
        assert_eq!(agreement(125, 108), "yes, within 2x");
        assert_eq!(agreement(100, 200), "yes, within 2x");
        assert_eq!(agreement(97, 1), "NO, both nonzero but 97.0x apart");
    }
}
