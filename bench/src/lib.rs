//! mqlab-bench: runs a scenario's workload against a real broker (Redis, RabbitMQ) and
//! accounts for every copy with the engine's own ledger and checker, so the result is the
//! engine's `RunSummary` (plus where it came from). The only crate of mqlab with an async
//! runtime or sockets; `mqlab-sim` stays pure.
//!
//! ```text
//!  schedule (mqlab-sim's producer draws) ─▶ producer threads ─▶ real broker
//!                                                                   │
//!  books (Ledger, MessageFlags, metrics) ◀── consumer threads ◀─────┘
//!        └─▶ census ─▶ RunSummary + source
//! ```
#![warn(missing_docs)]

pub mod amqp;
mod amqp_conn;
mod amqp_consume;
mod amqp_frame;
mod amqp_lapin;
mod amqp_lapin_consume;
pub mod amqp_limit;
mod amqp_publish;
mod amqp_session;
pub mod books;
pub mod burst;
pub mod census;
pub mod cpu;
pub mod driver;
pub mod error;
pub mod late;
pub mod mapping;
pub mod noop;
pub mod outage;
pub mod probe;
pub mod redis_pubsub;
pub mod redis_streams;
pub mod schedule;
pub mod spawn;
mod stream_join;
mod stream_leftovers;
pub mod url;
pub mod wire;

pub use error::BenchError;
pub use url::{BrokerKind, BrokerUrl};

use mqlab_sim::Scenario;
use mqlab_sim::scenario::{BrokerModel, FaultKind};
use mqlab_sim::summary::{Latency, RunSummary};
use serde::{Deserialize, Serialize};
use spawn::SpawnedBroker;

/// Where a result came from: which real broker, and how it was reached.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Source {
    /// `redis` or `rabbitmq`.
    pub broker: String,
    /// The server's version (`unknown` when the client cannot tell).
    pub version: String,
    /// The URL the clients connected to.
    pub url: String,
    /// Whether mqlab started this broker (`--spawn`).
    pub spawned: bool,
    /// The AMQP client the run and its probes used (`lapin` or `wire`); absent for Redis.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
}

/// Which AMQP client drives RabbitMQ (`--amqp-client`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AmqpClient {
    /// lapin on tokio, the field's standard client: the default.
    #[default]
    Lapin,
    /// The driver's own blocking AMQP 0-9-1 client, about a fifth of lapin's CPU per
    /// message: the instrument for measuring the broker's own ceiling.
    Wire,
}

impl AmqpClient {
    /// The flag's name for it.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            AmqpClient::Lapin => "lapin",
            AmqpClient::Wire => "wire",
        }
    }
}

impl std::str::FromStr for AmqpClient {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "lapin" => Ok(AmqpClient::Lapin),
            "wire" => Ok(AmqpClient::Wire),
            _ => Err(format!(
                "unknown AMQP client `{s}`: expected `lapin` (the default) or `wire`"
            )),
        }
    }
}

/// A real run's result: the engine's `RunSummary` fields (so `mqlab report` reads it),
/// plus the source, the driver's own scheduling error, and whether it is partial.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BenchResult {
    /// The accounting, in the simulation's shape (`trace_hash` is empty: a real run has
    /// no trace).
    #[serde(flatten)]
    pub summary: RunSummary,
    /// The broker.
    pub source: Source,
    /// Actual minus intended send time over every message: how late the driver sent.
    pub scheduling_error_s: Latency,
    /// Deliveries to a group the model does not route that message to.
    pub misrouted: u64,
    /// Median loopback round trip to the broker (a PING, or an AMQP `basic.qos`),
    /// measured before the workload.
    pub loopback_rtt_s: f64,
    /// The probe before the workload: the round trip again (`rtt_s`) and the broker's
    /// per-message overhead at saturation (`per_message_s`), which `--vs-model` gives the
    /// model. Absent for the no-op broker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<probe::Probe>,
    /// CPU seconds of the driver and of the spawned broker over the workload (Linux).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<cpu::CpuUse>,
    /// `broker-crash`: when the server was really killed and back (absent without one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outages: Vec<outage::OutageWindow>,
    /// Why the run stopped early (absent when it ran to the end): its counts cover only
    /// what happened until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partial: Option<String>,
}

/// What to run, and against what.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// The parsed scenario.
    pub scenario: Scenario,
    /// Its source text (the mapping is checked on the keys actually written).
    pub source: String,
    /// Its file name, for messages.
    pub file: String,
    /// The seed (the scenario's unless overridden).
    pub seed: u64,
    /// The broker.
    pub broker: BrokerUrl,
    /// Start a throwaway broker.
    pub spawn: bool,
    /// The AMQP client (`--amqp-client`); `None` is lapin, and any value with a broker
    /// that is not AMQP is refused.
    pub amqp_client: Option<AmqpClient>,
}

/// Runs the scenario against the broker.
///
/// # Errors
/// A scenario key the broker cannot play, a broker that cannot be spawned or reached, or
/// a setup that fails before the workload starts. A broker lost mid-run is not an error:
/// the result comes back with `partial` set.
pub fn run(opts: &BenchOptions) -> Result<BenchResult, BenchError> {
    if let Some(c) = opts.amqp_client
        && opts.broker.kind != BrokerKind::Amqp
    {
        return Err(BenchError::Other(format!(
            "--amqp-client {}: the broker `{}` is not AMQP; the flag chooses RabbitMQ's client \
             and applies only with --broker amqp",
            c.as_str(),
            opts.broker
        )));
    }
    let client = opts.amqp_client.unwrap_or_default();
    if opts.broker.kind == BrokerKind::Noop {
        return Ok(run_noop(opts));
    }
    mapping::check(
        &opts.scenario,
        &opts.source,
        &opts.file,
        opts.broker.kind,
        opts.spawn,
    )?;
    let mut spawned = if opts.spawn {
        // A killed Redis keeps its streams as the model's log broker keeps its flushed
        // log; nothing else a run does needs it on disk.
        let durable = opts
            .scenario
            .faults
            .iter()
            .any(|f| *f.kind.get_ref() == FaultKind::BrokerCrash)
            && opts
                .scenario
                .topics
                .iter()
                .any(|t| t.model(&opts.scenario.broker) == BrokerModel::Log);
        Some(SpawnedBroker::start_with(&opts.broker, durable)?)
    } else {
        None
    };
    let url = spawned
        .as_ref()
        .map_or_else(|| opts.broker.clone(), SpawnedBroker::url);
    let (host, port) = url.with_port()?;
    let work = schedule::workload(&opts.scenario, opts.seed);
    let connect_err = |why: String| BenchError::Connect {
        url: url.to_string(),
        why,
    };
    let rtt;
    let burst;
    // The probe's messages are the size of the workload's (the first producer's).
    let probe_bytes = work
        .payload_bytes
        .first()
        .copied()
        .unwrap_or(0)
        .max(wire::HEADER as u64);
    let broker_pids =
        |b: &Option<SpawnedBroker>| b.as_ref().map_or_else(Vec::new, SpawnedBroker::pids);
    let mark;
    let work_ctx = move || driver::Ctx::new(opts.scenario.clone(), opts.seed, work);
    let (ctx, version) =
        match url.kind {
            BrokerKind::Redis => {
                let (client, version) = redis_pubsub::probe(&host, port).map_err(connect_err)?;
                rtt = redis_pubsub::rtt(&client).map_err(connect_err)?;
                let log = opts.scenario.topics.iter().any(|t| {
                    t.model(&opts.scenario.broker) == mqlab_sim::scenario::BrokerModel::Log
                });
                burst = if log {
                    burst::redis_stream(&client, probe_bytes)
                } else {
                    burst::redis_pubsub(&client, probe_bytes)
                }
                .map_err(connect_err)?;
                let ctx = work_ctx();
                mark = cpu::Mark::now(&broker_pids(&spawned));
                with_outages(&ctx, spawned.as_mut(), || {
                    if log {
                        redis_streams::run(&ctx, &client)
                    } else {
                        redis_pubsub::run(&ctx, &client)
                    }
                })
                .map_err(connect_err)?;
                (ctx, version)
            }
            BrokerKind::Noop => unreachable!("handled above"),
            BrokerKind::Amqp => {
                let rt = amqp::runtime().map_err(BenchError::Other)?;
                let uri = format!("amqp://{host}:{port}/%2f");
                rtt = amqp::rtt(rt.handle(), &uri, client).map_err(connect_err)?;
                let quorum = opts.scenario.topics.iter().any(|t| {
                    t.model(&opts.scenario.broker) == mqlab_sim::scenario::BrokerModel::Queue
                });
                burst = burst::amqp(rt.handle(), &uri, probe_bytes, quorum, client)
                    .map_err(connect_err)?;
                let ctx = work_ctx();
                mark = cpu::Mark::now(&broker_pids(&spawned));
                with_outages(&ctx, spawned.as_mut(), || {
                    amqp::run(&ctx, rt.handle(), &uri, client)
                })
                .map_err(connect_err)?;
                rt.shutdown_timeout(std::time::Duration::from_secs(2));
                (ctx, rabbitmq_version())
            }
        };
    let cpu = Some(mark.since(&broker_pids(&spawned)));
    let end = ctx.now_ns();
    let books = ctx.books();
    let summary = books.summary(&opts.scenario, opts.seed, end);
    Ok(BenchResult {
        summary,
        source: Source {
            broker: match url.kind {
                BrokerKind::Redis => "redis".into(),
                BrokerKind::Amqp => "rabbitmq".into(),
                BrokerKind::Noop => "noop".into(),
            },
            version,
            url: url.to_string(),
            spawned: spawned.is_some(),
            client: (url.kind == BrokerKind::Amqp).then(|| client.as_str().to_string()),
        },
        scheduling_error_s: mqlab_sim::metrics::latency_of(&books.sched_error),
        misrouted: books.misrouted,
        loopback_rtt_s: rtt.as_secs_f64(),
        probe: Some(probe::Probe::new(rtt, burst, probe::BURST, probe_bytes)),
        cpu,
        outages: ctx.outages.happened(),
        partial: books.partial.clone(),
    })
}

/// Runs `body` (the workload) while a controller thread kills and restarts the spawned
/// broker at the scenario's `broker-crash` windows.
fn with_outages(
    ctx: &std::sync::Arc<driver::Ctx>,
    broker: Option<&mut SpawnedBroker>,
    body: impl FnOnce() -> Result<(), String>,
) -> Result<(), String> {
    let Some(broker) = broker.filter(|_| !ctx.outages.windows.is_empty()) else {
        return body();
    };
    std::thread::scope(|s| {
        s.spawn(move || outage::control(ctx, broker));
        let r = body();
        // Setup failed, or the run is over: the controller stops waiting either way.
        ctx.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        r
    })
}

/// The workload through the in-process no-op broker: the driver's own cost, with every
/// scenario key but the workload and routing ignored.
fn run_noop(opts: &BenchOptions) -> BenchResult {
    let work = schedule::workload(&opts.scenario, opts.seed);
    let ctx = driver::Ctx::new(opts.scenario.clone(), opts.seed, work);
    let mark = cpu::Mark::now(&[]);
    noop::run(&ctx);
    let end = ctx.now_ns();
    let books = ctx.books();
    BenchResult {
        summary: books.summary(&opts.scenario, opts.seed, end),
        source: Source {
            broker: "noop".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            url: "noop".into(),
            spawned: false,
            client: None,
        },
        scheduling_error_s: mqlab_sim::metrics::latency_of(&books.sched_error),
        misrouted: books.misrouted,
        loopback_rtt_s: 0.0,
        probe: None,
        cpu: Some(mark.since(&[])),
        outages: Vec::new(),
        partial: books.partial.clone(),
    }
}

/// The installed RabbitMQ's version (lapin does not expose the server's properties, so
/// this asks the package manager; right for a spawned broker, a guess otherwise).
fn rabbitmq_version() -> String {
    std::process::Command::new("dpkg-query")
        .args(["-W", "-f=${Version}", "rabbitmq-server"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map_or_else(|| "unknown".into(), |v| format!("{v} (installed package)"))
}
