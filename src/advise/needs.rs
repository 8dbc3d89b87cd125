//! What a user needs of a broker, as `mqlab advise` reads it: a `[needs]` table in a
//! small TOML file, flags over it, or both (a flag wins). Bad input is an error that names
//! the file, line and column (through the scenario loader's `ScenarioError`) or the flag,
//! and says what was expected. Only reading and checking: no decision is taken here.

use anyhow::Context;
use mqlab_sim::dist::Dist;
use mqlab_sim::size::SizeDist;
use mqlab_sim::time::{SimDuration, parse_duration};
use mqlab_sim::{Delivery, ScenarioError};
use serde::Deserialize;
use toml::Spanned;

/// `ordering`: what order consumers must apply messages in.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Ordering {
    /// Any order.
    None,
    /// In production order within each key (an order's events).
    PerKey,
    /// One global order over every message.
    Total,
}

/// `hosting`: who runs the broker.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Hosting {
    /// A cloud service (SQS/SNS, Kinesis, Amazon MQ, ElastiCache).
    Managed,
    /// Run by the team (Kafka, RabbitMQ, Redis).
    SelfHosted,
}

/// `durability`: what a message must survive once the broker accepted it.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Durability {
    /// Nothing: in memory is fine (what at-most-once accepts anyway).
    None,
    /// A broker restart: written to disk on one node.
    Disk,
    /// The loss of a broker node: replicated to others before it is acknowledged.
    Replicated,
}

/// The needs, every one resolved to a value. Defaults are listed in the README's `advise`
/// section and in [`Needs::default`].
#[derive(Clone, Debug)]
pub struct Needs {
    pub ordering: Ordering,
    pub replay: bool,
    /// Consumer groups that each receive every message (or their routed share).
    pub fan_out: u32,
    /// Mean messages per second.
    pub rate: f64,
    /// Peak over mean rate: 1 is a steady Poisson stream; b > 1 is bursts of 1 s at b
    /// times the mean, with quiet periods between.
    pub burstiness: f64,
    pub payload: SizeDist,
    pub p99_latency: SimDuration,
    pub delivery: Delivery,
    /// Binding patterns (`order.*`, `user.#`): routing by patterns when not empty.
    pub routing: Vec<String>,
    /// Priority classes (1: none).
    pub priorities: u8,
    pub hosting: Hosting,
    pub durability: Durability,
    /// Time one consumer instance takes to process one message.
    pub service_time: Dist,
    /// Distinct keys (orders, users) among the messages.
    pub keys: u32,
}

impl Default for Needs {
    fn default() -> Self {
        Needs {
            ordering: Ordering::None,
            replay: false,
            fan_out: 1,
            rate: 1000.0,
            burstiness: 1.0,
            payload: SizeDist::Const(1000),
            p99_latency: SimDuration::from_secs(1),
            delivery: Delivery::AtLeastOnce,
            routing: Vec::new(),
            priorities: 1,
            hosting: Hosting::SelfHosted,
            durability: Durability::Disk,
            service_time: Dist::Exp(SimDuration::from_millis(2)),
            keys: 1000,
        }
    }
}

/// The file: a `[needs]` table and nothing else.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NeedsFile {
    needs: NeedsTable,
}

/// The `[needs]` table as written: every key optional, spans kept for the checks.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NeedsTable {
    ordering: Option<Ordering>,
    replay: Option<bool>,
    fan_out: Option<Spanned<u32>>,
    rate: Option<Spanned<f64>>,
    burstiness: Option<Spanned<f64>>,
    payload: Option<SizeDist>,
    p99_latency: Option<Spanned<SimDuration>>,
    delivery: Option<Delivery>,
    routing: Option<Vec<Spanned<String>>>,
    priorities: Option<Spanned<u8>>,
    hosting: Option<Hosting>,
    durability: Option<Durability>,
    service_time: Option<Spanned<Dist>>,
    keys: Option<Spanned<u32>>,
}

/// The needs given as flags (each overrides the file's key of the same name).
#[derive(clap::Args, Debug, Default)]
pub struct NeedFlags {
    /// none | per-key | total.
    #[arg(long)]
    pub ordering: Option<String>,
    /// Consumers must be able to re-read past messages.
    #[arg(long)]
    pub replay: bool,
    /// Consumer groups that each receive every message.
    #[arg(long)]
    pub fan_out: Option<String>,
    /// Mean messages per second.
    #[arg(long)]
    pub rate: Option<String>,
    /// Peak over mean rate (1 = steady).
    #[arg(long)]
    pub burstiness: Option<String>,
    /// Payload size or size distribution: `1KB`, `pareto(16KB, 1.2)`, `lognormal(4KB, 2KB)`.
    #[arg(long)]
    pub payload: Option<String>,
    /// End-to-end p99 latency target, under the injected faults (`250ms`).
    #[arg(long)]
    pub p99: Option<String>,
    /// at-most-once | at-least-once | exactly-once.
    #[arg(long)]
    pub delivery: Option<String>,
    /// Routing by binding patterns, comma-separated: `order.*,user.#`.
    #[arg(long)]
    pub routing: Option<String>,
    /// Priority classes (1 to 8).
    #[arg(long)]
    pub priorities: Option<String>,
    /// managed | self-hosted.
    #[arg(long)]
    pub hosting: Option<String>,
    /// none | disk | replicated.
    #[arg(long)]
    pub durability: Option<String>,
    /// A consumer's processing time per message, a distribution (`exp(2ms)`).
    #[arg(long)]
    pub service_time: Option<String>,
    /// Distinct keys among the messages.
    #[arg(long)]
    pub keys: Option<String>,
}

/// Reads `path` (if any) and applies `flags` over it.
pub fn resolve(path: Option<&str>, flags: &NeedFlags) -> anyhow::Result<Needs> {
    let mut needs = Needs::default();
    // At-most-once accepts loss, so by default it does not ask for storage either; an
    // explicit `durability` says otherwise.
    let mut durability_given = false;
    if let Some(path) = path {
        let bytes = std::fs::read(path).with_context(|| format!("cannot read needs {path}"))?;
        let source = crate::load::utf8(bytes, path)?;
        durability_given = from_file(&mut needs, &source, path)?;
    }
    durability_given |= flags.durability.is_some();
    from_flags(&mut needs, flags)?;
    if !durability_given && needs.delivery == Delivery::AtMostOnce {
        needs.durability = Durability::None;
    }
    Ok(needs)
}

/// Applies the file's keys; returns whether it named a durability.
fn from_file(needs: &mut Needs, source: &str, path: &str) -> Result<bool, ScenarioError> {
    let file: NeedsFile = toml::from_str(source).map_err(|e| {
        let msg = e.message();
        // A key written above the table (or with no table at all) is not unknown: it is
        // misplaced.
        let msg = match msg.strip_prefix("unknown field `") {
            Some(rest) if rest.ends_with("expected `needs`") => {
                let key = rest.split('`').next().unwrap_or_default();
                format!("`{key}` belongs under a `[needs]` table (the file holds only `[needs]`)")
            }
            // Unknown keys and variants get the scenario loader's "did you mean".
            _ => mqlab_sim::scenario::with_suggestion(msg)
                .replace("missing field `needs`", "expected a `[needs]` table"),
        };
        ScenarioError::at(path, source, e.span(), msg)
    })?;
    let t = file.needs;
    let at = |span: std::ops::Range<usize>, msg: String| {
        ScenarioError::at(path, source, Some(span), msg)
    };
    if let Some(v) = t.fan_out {
        needs.fan_out = check_fan_out(*v.get_ref()).map_err(|m| at(v.span(), m))?;
    }
    if let Some(v) = t.rate {
        needs.rate = check_rate(*v.get_ref()).map_err(|m| at(v.span(), m))?;
    }
    if let Some(v) = t.burstiness {
        needs.burstiness = check_burstiness(*v.get_ref()).map_err(|m| at(v.span(), m))?;
    }
    if let Some(v) = t.p99_latency {
        needs.p99_latency = check_p99(*v.get_ref()).map_err(|m| at(v.span(), m))?;
    }
    if let Some(v) = t.priorities {
        needs.priorities = check_priorities(*v.get_ref()).map_err(|m| at(v.span(), m))?;
    }
    if let Some(v) = t.service_time {
        needs.service_time = check_service(*v.get_ref()).map_err(|m| at(v.span(), m))?;
    }
    if let Some(v) = t.keys {
        needs.keys = check_keys(*v.get_ref()).map_err(|m| at(v.span(), m))?;
    }
    if let Some(patterns) = t.routing {
        needs.routing.clear();
        for p in patterns {
            let checked = check_pattern(p.get_ref()).map_err(|m| at(p.span(), m))?;
            needs.routing.push(checked);
        }
    }
    needs.ordering = t.ordering.unwrap_or(needs.ordering);
    needs.replay = t.replay.unwrap_or(needs.replay);
    needs.payload = t.payload.unwrap_or(needs.payload);
    needs.delivery = t.delivery.unwrap_or(needs.delivery);
    needs.hosting = t.hosting.unwrap_or(needs.hosting);
    if let Some(d) = t.durability {
        needs.durability = d;
    }
    Ok(t.durability.is_some())
}

/// The spellings of the named needs, for the flags (the file's serde derive has its own).
const ORDERINGS: [(&str, Ordering); 3] = [
    ("none", Ordering::None),
    ("per-key", Ordering::PerKey),
    ("total", Ordering::Total),
];
const HOSTINGS: [(&str, Hosting); 2] = [
    ("managed", Hosting::Managed),
    ("self-hosted", Hosting::SelfHosted),
];
const DURABILITIES: [(&str, Durability); 3] = [
    ("none", Durability::None),
    ("disk", Durability::Disk),
    ("replicated", Durability::Replicated),
];

/// Sets `target` from a flag's value when the flag was given; an error names the flag,
/// its value and what it expects.
fn set<T>(
    target: &mut T,
    name: &str,
    value: Option<&String>,
    parse: impl Fn(&str) -> Result<T, String>,
) -> anyhow::Result<()> {
    if let Some(v) = value {
        *target = parse(v.trim()).map_err(|e| anyhow::anyhow!("--{name} `{v}`: {e}"))?;
    }
    Ok(())
}

fn number(s: &str) -> Result<f64, String> {
    s.parse().map_err(|_| "expected a number".to_string())
}

fn count(s: &str) -> Result<u32, String> {
    s.parse().map_err(|_| "expected a whole number".to_string())
}

/// Applies the flags given over the file's needs.
fn from_flags(n: &mut Needs, f: &NeedFlags) -> anyhow::Result<()> {
    set(&mut n.ordering, "ordering", f.ordering.as_ref(), |s| {
        named(s, &ORDERINGS)
    })?;
    n.replay |= f.replay;
    set(&mut n.fan_out, "fan-out", f.fan_out.as_ref(), |s| {
        check_fan_out(count(s)?)
    })?;
    set(&mut n.rate, "rate", f.rate.as_ref(), |s| {
        check_rate(number(s)?)
    })?;
    set(
        &mut n.burstiness,
        "burstiness",
        f.burstiness.as_ref(),
        |s| check_burstiness(number(s)?),
    )?;
    set(
        &mut n.payload,
        "payload",
        f.payload.as_ref(),
        SizeDist::parse,
    )?;
    set(&mut n.p99_latency, "p99", f.p99.as_ref(), |s| {
        check_p99(parse_duration(s)?)
    })?;
    set(
        &mut n.delivery,
        "delivery",
        f.delivery.as_ref(),
        crate::run::parse_delivery,
    )?;
    set(&mut n.routing, "routing", f.routing.as_ref(), |s| {
        s.split(',')
            .filter(|p| !p.trim().is_empty())
            .map(|p| check_pattern(p.trim()))
            .collect()
    })?;
    set(
        &mut n.priorities,
        "priorities",
        f.priorities.as_ref(),
        |s| check_priorities(s.parse().map_err(|_| "expected 1 to 8".to_string())?),
    )?;
    set(&mut n.hosting, "hosting", f.hosting.as_ref(), |s| {
        named(s, &HOSTINGS)
    })?;
    set(
        &mut n.durability,
        "durability",
        f.durability.as_ref(),
        |s| named(s, &DURABILITIES),
    )?;
    set(
        &mut n.service_time,
        "service-time",
        f.service_time.as_ref(),
        |s| check_service(Dist::parse(s)?),
    )?;
    set(&mut n.keys, "keys", f.keys.as_ref(), |s| {
        check_keys(count(s)?)
    })
}

fn named<T: Copy>(s: &str, names: &[(&str, T)]) -> Result<T, String> {
    names
        .iter()
        .find(|(n, _)| *n == s)
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            let all: Vec<&str> = names.iter().map(|(n, _)| *n).collect();
            format!("expected {}", all.join(", "))
        })
}

/// Enough groups to show fan-out without building a scenario nobody can read.
const MAX_FAN_OUT: u32 = 64;

fn check_fan_out(n: u32) -> Result<u32, String> {
    if (1..=MAX_FAN_OUT).contains(&n) {
        Ok(n)
    } else {
        Err(format!(
            "fan_out is 1 to {MAX_FAN_OUT} consumer groups, not {n}"
        ))
    }
}

fn check_rate(r: f64) -> Result<f64, String> {
    // A million a second is already 20 million messages per 20 s run and candidate.
    if r.is_finite() && r > 0.0 && r <= 1e6 {
        Ok(r)
    } else {
        Err(format!(
            "rate is messages per second, above 0 and at most 1000000, not {r}"
        ))
    }
}

fn check_burstiness(b: f64) -> Result<f64, String> {
    if b.is_finite() && (1.0..=100.0).contains(&b) {
        Ok(b)
    } else {
        Err(format!(
            "burstiness is the peak over the mean rate, 1 (steady) to 100, not {b}"
        ))
    }
}

fn check_p99(d: SimDuration) -> Result<SimDuration, String> {
    if d.is_zero() {
        Err("p99_latency must be greater than zero (a duration such as \"250ms\")".into())
    } else {
        Ok(d)
    }
}

fn check_priorities(n: u8) -> Result<u8, String> {
    if (1..=8).contains(&n) {
        Ok(n)
    } else {
        Err(format!("priorities is 1 (none) to 8 classes, not {n}"))
    }
}

fn check_service(d: Dist) -> Result<Dist, String> {
    if d.mean().is_zero() {
        Err("service_time must have a mean above zero (\"exp(2ms)\")".into())
    } else {
        Ok(d)
    }
}

fn check_keys(n: u32) -> Result<u32, String> {
    if n == 0 {
        Err("keys must be at least 1".into())
    } else {
        Ok(n)
    }
}

fn check_pattern(p: &str) -> Result<String, String> {
    if p.is_empty() {
        return Err(
            "a routing pattern cannot be empty (expected words and `*`/`#` joined by dots)".into(),
        );
    }
    // It is printed on terminals and in the written scenario's comments.
    mqlab_sim::scenario::bounds::check_printable(p, false)?;
    mqlab_sim::exchange::check_binding(p)?;
    Ok(p.to_string())
}

impl Needs {
    /// Mean service time in seconds.
    pub fn service_s(&self) -> f64 {
        self.service_time.mean().as_secs_f64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> Result<Needs, ScenarioError> {
        let mut n = Needs::default();
        from_file(&mut n, text, "needs.toml").map(|_| n)
    }

    #[test]
    fn a_bad_value_names_its_line_and_column() {
        let e = file("[needs]\nrate = 5000\nburstiness = 0.5\n").expect_err("below 1");
        assert_eq!((e.line, e.column), (3, 14), "{e}");
        assert!(e.message.contains("burstiness"), "{e}");
        let e = file("[needs]\nordering = \"sorted\"\n").expect_err("unknown variant");
        assert_eq!(e.line, 2, "{e}");
        assert!(e.message.contains("per-key"), "{e}");
        let e = file("[needs]\nrat = 5\n").expect_err("unknown key");
        assert!(e.message.contains("unknown field `rat`"), "{e}");
        assert!(e.message.contains("did you mean `rate`?"), "{e}");
        let e = file("rate = 5\n").expect_err("no table");
        assert!(e.message.contains("[needs]"), "{e}");
        let e = file("[needs]\nrouting = [\"a.#.#x\"]\n").expect_err("bad pattern");
        assert_eq!(e.line, 2, "{e}");
        let e = file("[needs]\nrouting = [\"a\\nb\"]\n").expect_err("a newline");
        assert!(e.message.contains("control character"), "{e}");
    }

    #[test]
    fn flags_override_the_file_and_name_themselves_when_wrong() {
        let flags = NeedFlags {
            rate: Some("250".into()),
            ..NeedFlags::default()
        };
        let mut n = file("[needs]\nrate = 5000\nkeys = 7\n").unwrap();
        from_flags(&mut n, &flags).unwrap();
        assert_eq!((n.rate, n.keys), (250.0, 7));
        let bad = NeedFlags {
            ordering: Some("sorted".into()),
            ..NeedFlags::default()
        };
        let e = from_flags(&mut n, &bad).expect_err("bad flag").to_string();
        assert!(
            e.contains("--ordering `sorted`") && e.contains("per-key"),
            "{e}"
        );
    }
}
