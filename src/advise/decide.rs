//! The decision framework on paper: from the needs to a broker model, one step per
//! question (ordering, replay, delivery guarantee, volume and size, latency, durability,
//! operations), each with its answer and its reason. Also the sizing every candidate
//! shares: how many consumers the rate keeps busy. No runs here; `evidence.rs` backs the
//! decision with them.

use super::needs::{Durability, Hosting, Needs, Ordering};
use mqlab_sim::Delivery;
use mqlab_sim::size::SizeDist;
use serde::Serialize;

/// The broker models the engine simulates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Model {
    Log,
    Queue,
    Exchange,
    Pubsub,
}

impl Model {
    pub const ALL: [Model; 4] = [Model::Log, Model::Queue, Model::Exchange, Model::Pubsub];

    /// The scenario-file spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Model::Log => "log",
            Model::Queue => "queue",
            Model::Exchange => "exchange",
            Model::Pubsub => "pubsub",
        }
    }

    /// The real systems it stands for.
    pub fn systems(self) -> &'static str {
        match self {
            Model::Log => "Kafka/Kinesis-like log",
            Model::Queue => "SQS-like queue",
            Model::Exchange => "RabbitMQ-like exchange",
            Model::Pubsub => "Redis-like pub/sub",
        }
    }
}

/// One question of the framework, answered.
#[derive(Clone, Debug, Serialize)]
pub struct Step {
    pub question: &'static str,
    pub answer: String,
    pub reason: String,
}

/// What the framework recommends, and how the candidates are shaped.
#[derive(Clone, Debug, Serialize)]
pub struct Decision {
    pub model: Model,
    pub steps: Vec<Step>,
    /// A resequencer in front of the side effects (per-key or total order at scale).
    pub resequence: bool,
    /// Payloads go through an object store, a reference through the broker.
    pub claim_check: bool,
}

/// Utilisation the sizing aims at on average: queueing delay grows as 1/(1 − ρ), and 70%
/// leaves room for the variance of Poisson arrivals and of the service time.
pub const TARGET_UTILISATION: f64 = 0.7;
/// Utilisation allowed at the peak of a burst, when the p99 target is shorter than one.
pub const PEAK_UTILISATION: f64 = 0.9;
/// Bursts last this long on average (`burst_on`).
pub const BURST_S: f64 = 1.0;
/// SQS's largest message; above it a payload goes by claim check.
pub const CLAIM_CHECK_BYTES: u64 = 256_000;
/// "Millions of small messages": at this rate a day holds close to a billion.
pub const HIGH_VOLUME_PER_S: f64 = 10_000.0;
/// A small message, for the volume step.
pub const SMALL_BYTES: f64 = 64_000.0;

/// How many consumers a stream of `rate` messages per second keeps busy, and how many it
/// needs at the target utilisation (at least one).
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Load {
    /// rate × mean service time: instances busy on average.
    pub busy: f64,
    /// Instances (or partitions) needed for it.
    pub needed: u32,
    /// Sized for the bursts' peak rather than the mean.
    pub for_peak: bool,
}

pub fn load(needs: &Needs, rate: f64) -> Load {
    let busy = rate * needs.service_s();
    let mean_need = busy / TARGET_UTILISATION;
    // A burst longer than the p99 target would hold messages past it: size for the peak.
    let for_peak = needs.burstiness > 1.0 && needs.p99_latency.as_secs_f64() < BURST_S;
    let peak_need = busy * needs.burstiness / PEAK_UTILISATION;
    let need = if for_peak {
        mean_need.max(peak_need)
    } else {
        mean_need
    };
    Load {
        busy,
        needed: (need.ceil() as u32).max(1),
        for_peak,
    }
}

/// The size below which 99% of payloads fall.
pub fn payload_p99(p: &SizeDist) -> f64 {
    match *p {
        SizeDist::Const(b) => b as f64,
        SizeDist::Pareto { min, alpha, max } => {
            let x = min as f64 * 0.01f64.powf(-1.0 / alpha);
            max.map_or(x, |m| x.min(m as f64))
        }
        SizeDist::LogNormal { mu, sigma, .. } => (mu + 2.326 * sigma).exp(),
    }
}

/// The mean payload (a Pareto's heavy tail without a cap counts as large).
pub fn payload_mean(p: &SizeDist) -> f64 {
    match *p {
        SizeDist::Const(b) => b as f64,
        SizeDist::Pareto { min, alpha, max } => {
            if alpha > 1.0 {
                let m = alpha * min as f64 / (alpha - 1.0);
                max.map_or(m, |c| m.min(c as f64))
            } else {
                max.map_or(f64::INFINITY, |c| c as f64)
            }
        }
        SizeDist::LogNormal { mean, .. } => mean as f64,
    }
}

/// Runs the framework over `needs`.
pub fn decide(needs: &Needs) -> Decision {
    let l = load(needs, needs.rate);
    let mut steps = Vec::new();
    let (mut model, resequence) = ordering(needs, &l, &mut steps);
    replay(needs, &mut model, &mut steps);
    delivery(needs, &mut model, &mut steps);
    let mut model = model.unwrap_or(Model::Log);
    let claim_check = volume(needs, &mut model, &mut steps);
    unserved(needs, model, &mut steps);
    latency(needs, model, &l, &mut steps);
    durability(needs, model, &mut steps);
    operations(needs, model, &mut steps);
    Decision {
        model,
        steps,
        resequence,
        claim_check,
    }
}

fn step(steps: &mut Vec<Step>, question: &'static str, answer: String, reason: String) {
    steps.push(Step {
        question,
        answer,
        reason,
    });
}

fn ordering(needs: &Needs, l: &Load, steps: &mut Vec<Step>) -> (Option<Model>, bool) {
    let busy = format!(
        "rate {}/s × service {} keeps {:.2} consumers busy, so {} needed at {:.0}% utilisation",
        needs.rate,
        needs.service_time.mean(),
        l.busy,
        plural(l.needed, "consumer is", "consumers are"),
        TARGET_UTILISATION * 100.0
    );
    let (model, resequence, answer, reason) = match (needs.ordering, l.needed) {
        (Ordering::None, _) => {
            step(
                steps,
                "ordering",
                "none required".into(),
                "any model will do; the delivery guarantee decides".into(),
            );
            return (None, false);
        }
        (Ordering::Total, 1) => (
            Model::Log,
            false,
            "total → a single-partition log".to_string(),
            format!(
                "one partition is one sequence read by one consumer, and one is enough: {busy}"
            ),
        ),
        (Ordering::Total, n) => (
            Model::Log,
            true,
            format!("total, at scale → a sequencing layer over {n} partitions"),
            format!(
                "{busy}: one partition cannot keep up. Every message joins one sequence, spread round-robin over the partitions and processed in parallel; a resequencer applies the side effects in sequence order"
            ),
        ),
        (Ordering::PerKey, 1) => (
            Model::Log,
            false,
            "per-key → a log partitioned by key".to_string(),
            format!(
                "a key's messages stay on one partition, read in order by one consumer; {busy}"
            ),
        ),
        (Ordering::PerKey, n) => (
            Model::Log,
            true,
            format!(
                "per-key, at scale → per-key partitioning over {n} partitions plus a resequencer"
            ),
            format!(
                "{busy}; a key stays on one partition, and the resequencer holds a message a resend or a rebalance brings ahead of its predecessor"
            ),
        ),
    };
    step(steps, "ordering", answer, reason);
    (Some(model), resequence)
}

fn replay(needs: &Needs, model: &mut Option<Model>, steps: &mut Vec<Step>) {
    if !needs.replay {
        return;
    }
    let answer = match model {
        Some(Model::Log) => "required → the log already keeps history".to_string(),
        _ => "required → a log".to_string(),
    };
    *model = Some(Model::Log);
    step(
        steps,
        "replay",
        answer,
        "only a log keeps messages after they are consumed (offsets, retention); a queue deletes on ack and pub/sub stores nothing".into(),
    );
}

fn delivery(needs: &Needs, model: &mut Option<Model>, steps: &mut Vec<Step>) {
    let d = needs.delivery.as_str();
    if let Some(m) = *model {
        let how = match needs.delivery {
            Delivery::ExactlyOnce => {
                "transactions: an idempotent producer, offsets committed with the side effects"
            }
            Delivery::AtLeastOnce => {
                "offsets committed after processing: a crash replays since the last commit"
            }
            Delivery::AtMostOnce => {
                "offsets committed before processing: a crash loses what was taken"
            }
        };
        step(
            steps,
            "delivery",
            format!("{d} on the {}", m.as_str()),
            how.into(),
        );
        return;
    }
    let complex = !needs.routing.is_empty();
    let (m, answer, reason) = match needs.delivery {
        Delivery::ExactlyOnce => (
            Model::Log,
            "exactly-once → a log with transactions".to_string(),
            "an idempotent producer deduplicates resends and a transaction commits the consumer's offsets with its side effects, so a replay applies nothing twice".to_string(),
        ),
        Delivery::AtMostOnce if complex => (
            Model::Exchange,
            "at-most-once, routing by patterns → a RabbitMQ exchange".to_string(),
            format!("a topic exchange routes by the patterns {:?}; auto-ack gives at-most-once", needs.routing),
        ),
        Delivery::AtMostOnce if needs.durability != Durability::None => (
            Model::Exchange,
            "at-most-once, but stored → a RabbitMQ exchange".to_string(),
            "Redis pub/sub stores nothing, yet durability asks for storage: a durable queue with auto-ack".to_string(),
        ),
        Delivery::AtMostOnce => (
            Model::Pubsub,
            "at-most-once, simple → Redis pub/sub".to_string(),
            "fire-and-forget to the subscribers connected now: nothing stored, nothing to acknowledge, the least machinery".to_string(),
        ),
        Delivery::AtLeastOnce if needs.priorities > 1 => (
            Model::Queue,
            format!("at-least-once with {} priority classes → a queue served by priority", needs.priorities),
            "weighted fair scheduling over the classes (RabbitMQ x-max-priority, or one SQS queue per class polled by weight)".to_string(),
        ),
        Delivery::AtLeastOnce if complex => (
            Model::Exchange,
            "at-least-once, routing by patterns → a RabbitMQ exchange".to_string(),
            format!("a topic exchange routes by the patterns {:?}; consumers ack after processing", needs.routing),
        ),
        Delivery::AtLeastOnce if needs.hosting == Hosting::Managed => (
            Model::Queue,
            "at-least-once, managed → an SQS-like queue (SNS for fan-out)".to_string(),
            "delete after processing, the visibility timeout redelivers what a crashed consumer held; nothing to operate".to_string(),
        ),
        Delivery::AtLeastOnce => (
            Model::Exchange,
            "at-least-once, self-hosted → RabbitMQ (Kafka if the volume says so)".to_string(),
            "per-message acks and requeue on a consumer's crash; the volume step below may prefer a Kafka-like log".to_string(),
        ),
    };
    *model = Some(m);
    step(steps, "delivery", answer, reason);
}

/// Returns whether payloads go by claim check.
fn volume(needs: &Needs, model: &mut Model, steps: &mut Vec<Step>) -> bool {
    let mean = payload_mean(&needs.payload);
    let high = needs.rate >= HIGH_VOLUME_PER_S && mean <= SMALL_BYTES;
    let kept_by = if !needs.routing.is_empty() {
        Some("routing by patterns")
    } else if needs.priorities > 1 {
        Some("priority classes")
    } else {
        None
    };
    let (answer, reason) = match (high, *model, kept_by) {
        (true, Model::Queue | Model::Exchange, None) => {
            *model = Model::Log;
            (
                "millions of small messages → a log".to_string(),
                format!(
                    "{}/s of ~{} messages: a log appends and reads them in sequential batches, a queue acknowledges each one",
                    needs.rate,
                    mqlab_sim::size::human_bytes(mean as u64)
                ),
            )
        }
        (true, m, Some(why)) if m != Model::Log => (
            format!("high volume, but {why} keep the {}", m.as_str()),
            format!(
                "a log would serve {}/s more cheaply, but cannot do {why}",
                needs.rate
            ),
        ),
        (true, m, _) => (
            format!("high volume: the {} takes it", m.as_str()),
            format!("{}/s of small messages", needs.rate),
        ),
        (false, m, _) => (
            format!("moderate volume: the {} stays", m.as_str()),
            format!("{}/s is below {HIGH_VOLUME_PER_S}/s", needs.rate),
        ),
    };
    step(steps, "volume", answer, reason);
    let p99 = payload_p99(&needs.payload);
    let claim = p99 > CLAIM_CHECK_BYTES as f64;
    let (answer, reason) = if claim {
        (
            "payloads over 256 KB → a claim check".to_string(),
            format!(
                "1% of payloads exceed {}: they go to an object store and a 128-byte reference goes through the broker, so a large one never blocks the others",
                mqlab_sim::size::human_bytes(p99 as u64)
            ),
        )
    } else {
        (
            "payloads fit the broker".to_string(),
            format!(
                "99% are at most {} (limit 256 KB)",
                mqlab_sim::size::human_bytes(p99 as u64)
            ),
        )
    };
    step(steps, "size", answer, reason);
    claim
}

/// Needs an earlier, stronger need ruled out (ordering or replay chose the log, say, and
/// the log neither routes by pattern nor serves priority classes): said, not hidden.
fn unserved(needs: &Needs, model: Model, steps: &mut Vec<Step>) {
    if !needs.routing.is_empty() && model != Model::Exchange {
        step(
            steps,
            "routing",
            format!("not by the broker on the {}", model.as_str()),
            "every group receives every message and filters it itself (or one topic per pattern)"
                .into(),
        );
    }
    let priorities_served = model == Model::Queue && needs.ordering == Ordering::None;
    if needs.priorities > 1 && !priorities_served {
        step(
            steps,
            "priorities",
            format!("not served on the {}", model.as_str()),
            "no priority scheduling with this model and ordering: one topic per class, consumers reading the high class first".into(),
        );
    }
}

fn latency(needs: &Needs, model: Model, l: &Load, steps: &mut Vec<Step>) {
    let target = needs.p99_latency;
    let sub_second = target.as_secs_f64() < 1.0;
    let answer = match (sub_second, model) {
        (true, Model::Pubsub) => format!("p99 ≤ {target}: in memory already"),
        (true, _) => format!("p99 ≤ {target}: sub-second → keep the path in memory"),
        (false, _) => format!("p99 ≤ {target}: no constraint on the model"),
    };
    let peak = if l.for_peak {
        format!(
            ", sized for bursts at {}× the mean ({:.0}% at the peak)",
            needs.burstiness,
            PEAK_UTILISATION * 100.0
        )
    } else {
        String::new()
    };
    step(
        steps,
        "latency",
        answer,
        format!(
            "{} consumers per group plus one spare for a crash{peak}; no polling pauses or batching on the path; the runs below check the p99 under a crash and a slow consumer",
            l.needed
        ),
    );
}

fn durability(needs: &Needs, model: Model, steps: &mut Vec<Step>) {
    let (answer, reason) = match (needs.durability, model) {
        (Durability::Replicated, Model::Log) => (
            "replicated → 3 nodes, replication 3, acks = all".to_string(),
            "min.insync.replicas = 2: a write survives the loss of a node".to_string(),
        ),
        (Durability::Replicated, Model::Queue) => (
            "replicated → the managed queue's own redundancy".to_string(),
            "SQS stores every message on several servers across availability zones".to_string(),
        ),
        (Durability::Replicated, m) => (
            format!("replicated → not modelled on the {}", m.as_str()),
            "RabbitMQ quorum queues replicate; the runs use one node, so they do not test a node's loss".to_string(),
        ),
        (Durability::Disk, m) => (
            "one node, on disk".to_string(),
            format!("the {} keeps accepted messages across a restart", m.as_str()),
        ),
        (Durability::None, m) => (
            "none".to_string(),
            format!("the {} may keep messages in memory", m.as_str()),
        ),
    };
    step(steps, "durability", answer, reason);
}

fn operations(needs: &Needs, model: Model, steps: &mut Vec<Step>) {
    let what = match (needs.hosting, model) {
        (Hosting::Managed, Model::Log) => "Kinesis, Amazon MSK or Confluent Cloud",
        (Hosting::Managed, Model::Queue) => "SQS (with SNS for fan-out)",
        (Hosting::Managed, Model::Exchange) => "Amazon MQ or CloudAMQP",
        (Hosting::Managed, Model::Pubsub) => "ElastiCache or Redis Cloud",
        (Hosting::SelfHosted, Model::Log) => {
            "a Kafka cluster (KRaft): brokers, partitions, retention"
        }
        (Hosting::SelfHosted, Model::Queue) => "RabbitMQ classic or quorum queues, or ElasticMQ",
        (Hosting::SelfHosted, Model::Exchange) => "a RabbitMQ cluster: exchanges, queues, bindings",
        (Hosting::SelfHosted, Model::Pubsub) => "a Redis server: no storage to manage",
    };
    let hosting = match needs.hosting {
        Hosting::Managed => "managed",
        Hosting::SelfHosted => "self-hosted",
    };
    step(
        steps,
        "operations",
        format!("{hosting} → {what}"),
        "who runs it decides the product, not the semantics the runs test".into(),
    );
}

fn plural(n: u32, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_p99_of_a_pareto_follows_its_tail() {
        // P(X > x) = (min/x)^alpha = 0.01 at x = min × 100^(1/alpha).
        let p = SizeDist::Pareto {
            min: 16_000,
            alpha: 1.0,
            max: None,
        };
        assert!((payload_p99(&p) - 1_600_000.0).abs() < 1.0);
        assert_eq!(payload_p99(&SizeDist::Const(1000)), 1000.0);
    }

    #[test]
    fn each_branch_of_the_framework_picks_its_model() {
        use super::super::needs::{Durability, Hosting, Ordering};
        let base = Needs::default;
        let cases: Vec<(&str, Needs, Model)> = vec![
            (
                "total order",
                Needs {
                    ordering: Ordering::Total,
                    ..base()
                },
                Model::Log,
            ),
            (
                "per-key order",
                Needs {
                    ordering: Ordering::PerKey,
                    ..base()
                },
                Model::Log,
            ),
            (
                "replay",
                Needs {
                    replay: true,
                    hosting: Hosting::Managed,
                    ..base()
                },
                Model::Log,
            ),
            (
                "exactly-once",
                Needs {
                    delivery: Delivery::ExactlyOnce,
                    ..base()
                },
                Model::Log,
            ),
            (
                "at-most-once",
                Needs {
                    delivery: Delivery::AtMostOnce,
                    durability: Durability::None,
                    ..base()
                },
                Model::Pubsub,
            ),
            (
                "at-most-once, routed",
                Needs {
                    delivery: Delivery::AtMostOnce,
                    durability: Durability::None,
                    routing: vec!["a.*".into()],
                    ..base()
                },
                Model::Exchange,
            ),
            (
                "managed",
                Needs {
                    hosting: Hosting::Managed,
                    ..base()
                },
                Model::Queue,
            ),
            ("self-hosted", base(), Model::Exchange),
            (
                "priorities",
                Needs {
                    priorities: 3,
                    ..base()
                },
                Model::Queue,
            ),
            (
                "high volume, managed",
                Needs {
                    hosting: Hosting::Managed,
                    rate: 50_000.0,
                    payload: SizeDist::Const(500),
                    ..base()
                },
                Model::Log,
            ),
            (
                "high volume, routed",
                Needs {
                    rate: 50_000.0,
                    routing: vec!["a.#".into()],
                    ..base()
                },
                Model::Exchange,
            ),
        ];
        for (name, needs, want) in cases {
            assert_eq!(decide(&needs).model, want, "{name}");
        }
        let big = Needs {
            payload: SizeDist::Const(1_000_000),
            ..base()
        };
        assert!(decide(&big).claim_check);
        assert!(!decide(&base()).claim_check);
    }

    #[test]
    fn sizing_keeps_utilisation_at_the_target() {
        let needs = Needs {
            rate: 1000.0,
            ..Needs::default()
        };
        // 1000/s × 2ms = 2 busy; at 70% that is 2.86, so 3.
        let l = load(&needs, needs.rate);
        assert!((l.busy - 2.0).abs() < 1e-9);
        assert_eq!(l.needed, 3);
    }
}
