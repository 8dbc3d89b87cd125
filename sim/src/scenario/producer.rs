//! `[[producer]]`: a producer's arrival process, keys, partitioner, retries and payload,
//! and the pattern settings that make it a requester (`reply_timeout`) or a service with
//! a database (`publish`, in `publish.rs`).

use super::{Publish, one_spanned};
use crate::dist::Dist;
use crate::size::{Bytes, SizeDist};
use crate::time::SimDuration;
use serde::Deserialize;
use toml::Spanned;

/// A producer. Defaults: `arrival = "poisson"`, `keys = 1`, `key_distribution = "uniform"`,
/// `zipf_exponent = 1.0`, `partitioner = "key"`, `retries = 3`, `request_timeout = "30s"`,
/// `idempotent = false`, no `max_in_flight` limit, `payload_bytes = 256`, `burst_on = "1s"`,
/// `burst_off = "1s"`,
/// `events_per_key = 1`, no `claim_check`, `claim_reference_bytes = 128`,
/// `claim_store_latency = "exp(5ms)"`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProducerConfig {
    /// Unique name; fault targets use it.
    pub name: Spanned<String>,
    /// The topic it produces to.
    pub topic: Spanned<String>,
    /// Mean messages per second.
    pub rate: Spanned<f64>,
    /// Arrival process.
    #[serde(default)]
    pub arrival: Arrival,
    /// Bursty arrivals: mean length of an on period.
    #[serde(default = "one_second")]
    pub burst_on: Spanned<SimDuration>,
    /// Bursty arrivals: mean length of an off period.
    #[serde(default = "one_second")]
    pub burst_off: Spanned<SimDuration>,
    /// Number of distinct keys.
    #[serde(default = "one_spanned")]
    pub keys: Spanned<u32>,
    /// How keys are chosen.
    #[serde(default)]
    pub key_distribution: KeyDistribution,
    /// Messages in a row with the same key (say, an order's events) before the next key
    /// is drawn.
    #[serde(default = "one_spanned")]
    pub events_per_key: Spanned<u32>,
    /// Exponent of the zipf key distribution.
    #[serde(default = "default_zipf")]
    pub zipf_exponent: Spanned<f64>,
    /// How a message's partition is chosen.
    #[serde(default)]
    pub partitioner: Partitioner,
    /// Resends after a request timeout before giving up (at most 255).
    #[serde(default = "default_retries")]
    pub retries: Spanned<u32>,
    /// How long the producer waits for an acknowledgement.
    #[serde(default = "thirty_seconds")]
    pub request_timeout: SimDuration,
    /// After the broker rejects a send (`on_full = "reject"`), resend after this, doubling
    /// each time, up to `retries` times (default: a rejection is final).
    #[serde(default)]
    pub retry_backoff: Option<SimDuration>,
    /// Broker deduplicates resends by producer id and sequence.
    #[serde(default)]
    pub idempotent: bool,
    /// Requests sent and not yet answered at most (Kafka's
    /// `max.in.flight.requests.per.connection`; each message is its own request here);
    /// further messages wait in the producer's buffer (none: no limit).
    #[serde(default)]
    pub max_in_flight: Option<Spanned<u32>>,
    /// Payload size in bytes, or a distribution of sizes (`"pareto(16KB, 1.2)"`).
    #[serde(default = "default_payload")]
    pub payload_bytes: SizeDist,
    /// Claim check: payloads larger than this go to an external store and only a
    /// reference goes through the broker (none: every payload goes through).
    #[serde(default)]
    pub claim_check: Option<Spanned<Bytes>>,
    /// Claim check: size of the reference that replaces a stored payload (default 128).
    #[serde(default = "default_reference")]
    pub claim_reference_bytes: Spanned<Bytes>,
    /// Claim check: latency of a put into (or get from) the store (default `"exp(5ms)"`).
    #[serde(default = "default_store_latency")]
    pub claim_store_latency: Dist,
    /// Exchange topics: routing keys, one drawn uniformly per message (default: `""`).
    #[serde(default)]
    pub routing_keys: Vec<Spanned<String>>,
    /// Priority class of its messages (0 to 7, higher first; default 0), for a consumer
    /// with `scheduling`.
    #[serde(default)]
    pub priority: Option<Spanned<u8>>,
    /// How a state change becomes an event (default `direct`: no database, as before).
    #[serde(default)]
    pub publish: Option<Spanned<Publish>>,
    /// With `publish`: one round trip to the service's database (default `"1ms"`).
    #[serde(default)]
    pub db_latency: Option<Spanned<Dist>>,
    /// With `publish`: fraction of transactions that fail to commit (default 0).
    #[serde(default)]
    pub db_failure: Option<Spanned<f64>>,
    /// `publish = "outbox"`: how often the relay polls the outbox (default `"100ms"`).
    #[serde(default)]
    pub relay_interval: Option<Spanned<SimDuration>>,
    /// `publish = "outbox"`: rows the relay publishes per poll at most (default 100).
    #[serde(default)]
    pub relay_batch: Option<Spanned<u32>>,
    /// `publish = "outbox"`: the relay's instances, pollers sharing the table with
    /// `SELECT ... FOR UPDATE SKIP LOCKED` (default 1).
    #[serde(default)]
    pub relay_instances: Option<Spanned<u32>>,
    /// Request-reply: each message is a request awaiting a reply for this long (absent:
    /// a plain producer, no replies).
    #[serde(default)]
    pub reply_timeout: Option<Spanned<SimDuration>>,
    /// Request-reply: how a reply finds its request (default `id`).
    #[serde(default)]
    pub correlation: Option<Spanned<Correlation>>,
    /// Built by the engine for a service's output (`[[consumer.output]]`), never read
    /// from a file: a run rebuilds these from the groups' outputs.
    #[serde(skip)]
    pub derived: bool,
}

impl ProducerConfig {
    /// Sets `reply_timeout` (making the producer a requester) and `correlation`, each
    /// when given (`--set`); the caller keeps the timeout positive.
    pub fn set_request_reply(
        &mut self,
        timeout: Option<SimDuration>,
        correlation: Option<Correlation>,
    ) {
        if let Some(t) = timeout {
            self.reply_timeout = Some(Spanned::new(0..0, t));
        }
        if let Some(c) = correlation {
            self.correlation = Some(Spanned::new(0..0, c));
        }
    }
}

/// `producer.correlation`: how a requester matches a reply to its request.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Correlation {
    /// By the reply's correlation id (the request's message id).
    #[default]
    Id,
    /// To the oldest outstanding request, as if replies came back in order (the broken
    /// client).
    None,
}

fn one_second() -> Spanned<SimDuration> {
    Spanned::new(0..0, SimDuration::from_secs(1))
}
fn thirty_seconds() -> SimDuration {
    SimDuration::from_secs(30)
}
fn default_zipf() -> Spanned<f64> {
    Spanned::new(0..0, 1.0)
}
fn default_retries() -> Spanned<u32> {
    Spanned::new(0..0, 3)
}
fn default_payload() -> SizeDist {
    SizeDist::Const(256)
}
fn default_reference() -> Spanned<Bytes> {
    Spanned::new(0..0, Bytes(128))
}
fn default_store_latency() -> Dist {
    Dist::Exp(SimDuration::from_millis(5))
}

/// `producer.arrival`.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Arrival {
    /// Exponential gaps.
    #[default]
    Poisson,
    /// Equal gaps.
    Constant,
    /// Poisson during on periods, nothing during off periods; the mean stays `rate`.
    Bursty,
}

/// `producer.key_distribution`.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum KeyDistribution {
    /// Every key equally likely.
    #[default]
    Uniform,
    /// Key k (1-based) with weight 1/k^s.
    Zipf,
}

/// `producer.partitioner`.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Partitioner {
    /// Hash of the key: one key, one partition.
    #[default]
    Key,
    /// Partitions in turn.
    RoundRobin,
    /// A uniformly random partition.
    Random,
}
