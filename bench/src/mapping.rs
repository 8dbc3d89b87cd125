//! Which scenario keys a real broker can play, checked on the scenario's own text before
//! anything connects. Every key a scenario sets must be on the list for its model and
//! broker; anything else is refused with its name and line (never silently ignored, since
//! a key the real run ignored would make the comparison with the model a lie).

use crate::error::BenchError;
use crate::url::BrokerKind;
use mqlab_sim::scenario::{BrokerModel, FaultKind, OnFull, Overflow, Scenario};

/// Keys any mapped scenario may set at the top level.
const TOP: &[&str] = &[
    "name",
    "description",
    "seed",
    "duration",
    "drain",
    "sample_interval",
    "broker",
    "topic",
    "producer",
    "consumer",
    "fault",
    "expect",
];
const BROKER: &[&str] = &["model"];
const BROKER_EXCHANGE: &[&str] = &["capacity", "on_full"];
const TOPIC: &[&str] = &["name", "model", "exchange", "partitions"];
const PRODUCER: &[&str] = &[
    "name",
    "topic",
    "rate",
    "arrival",
    "burst_on",
    "burst_off",
    "keys",
    "key_distribution",
    "events_per_key",
    "zipf_exponent",
    "routing_keys",
    "payload_bytes",
    "partitioner",
];
const CONSUMER: &[&str] = &[
    "group",
    "topic",
    "instances",
    "service_time",
    "delivery",
    "ordered",
];
const CONSUMER_EXCHANGE: &[&str] = &["commit_interval", "prefetch", "bindings"];
const CONSUMER_PUBSUB: &[&str] = &["buffer", "on_overflow", "reconnect"];
const FAULT: &[&str] = &["at", "kind", "target", "duration"];
const EXPECT: &[&str] = &[
    "lost",
    "duplicated",
    "out_of_order",
    "dead_lettered",
    "dropped",
    "in_flight",
    "p50_latency",
    "p99_latency",
    "p999_latency",
];

/// What a refusal says about a model this driver cannot play yet.
fn model_not_yet(model: BrokerModel) -> &'static str {
    match model {
        BrokerModel::Log => {
            "not yet supported: the `log` model (Redis Streams: XADD per partition, XREADGROUP per group) is planned"
        }
        BrokerModel::Queue => {
            "not yet supported: the `queue` model (a RabbitMQ quorum queue per group with x-delivery-limit) is planned"
        }
        _ => "",
    }
}

fn model_name(model: BrokerModel) -> &'static str {
    match model {
        BrokerModel::Log => "log",
        BrokerModel::Queue => "queue",
        BrokerModel::Exchange => "exchange",
        BrokerModel::Pubsub => "pubsub",
    }
}

struct Check<'a> {
    file: &'a str,
    src: &'a str,
}

impl Check<'_> {
    fn refuse(&self, table: &str, index: Option<usize>, key: &str, why: &str) -> BenchError {
        let name = match index {
            Some(i) => format!("{table}[{i}].{key}"),
            None if table.is_empty() => key.to_string(),
            None => format!("{table}.{key}"),
        };
        let line =
            line_of(self.src, table, index, key).map_or(String::new(), |l| format!(" (line {l})"));
        BenchError::Unmappable {
            file: self.file.into(),
            key: format!("`{name}`{line}"),
            why: why.into(),
        }
    }

    fn only(
        &self,
        t: &toml::Table,
        table: &str,
        index: Option<usize>,
        allowed: &[&[&str]],
    ) -> Result<(), BenchError> {
        for key in t.keys() {
            if !allowed.iter().any(|a| a.contains(&key.as_str())) {
                return Err(self.refuse(
                    table,
                    index,
                    key,
                    "not yet supported by `mqlab bench` (the real run would ignore it)",
                ));
            }
        }
        Ok(())
    }
}

/// The line where `key` is set in the `index`th `[[table]]` (or `[table]`), 1-based.
fn line_of(src: &str, table: &str, index: Option<usize>, key: &str) -> Option<usize> {
    if table.is_empty()
        && let Some(n) = src.lines().position(|l| {
            let l = l.trim();
            l == format!("[{key}]") || l == format!("[[{key}]]")
        })
    {
        return Some(n + 1);
    }
    let mut current = String::new();
    let mut seen: Vec<(String, usize)> = Vec::new();
    for (n, line) in src.lines().enumerate() {
        let l = line.trim();
        if let Some(h) = l.strip_prefix("[[").and_then(|h| h.split("]]").next()) {
            current = h.trim().to_string();
            match seen.iter_mut().find(|(t, _)| *t == current) {
                Some((_, c)) => *c += 1,
                None => seen.push((current.clone(), 0)),
            }
            continue;
        }
        if let Some(h) = l.strip_prefix('[').and_then(|h| h.split(']').next()) {
            current = h.trim().to_string();
            continue;
        }
        let here = seen.iter().find(|(t, _)| *t == current).map(|(_, c)| *c);
        let in_table = current == table && (index.is_none() || here == index);
        if in_table
            && let Some((k, _)) = l.split_once('=')
            && k.trim().trim_matches('"') == key
        {
            return Some(n + 1);
        }
    }
    None
}

/// Checks that `sc` (read from `src`) can be played on `broker`; the error names the
/// first key that cannot.
///
/// # Errors
/// The key, its line, and why.
pub fn check(sc: &Scenario, src: &str, file: &str, broker: BrokerKind) -> Result<(), BenchError> {
    let c = Check { file, src };
    let doc: toml::Table = src
        .parse()
        .map_err(|e| BenchError::Other(format!("{file}: {e}")))?;
    c.only(&doc, "", None, &[TOP])?;
    let table = |k: &str| doc.get(k).and_then(toml::Value::as_table);
    let array = |k: &str| -> Vec<&toml::Table> {
        doc.get(k)
            .and_then(toml::Value::as_array)
            .map(|a| a.iter().filter_map(toml::Value::as_table).collect())
            .unwrap_or_default()
    };
    if let Some(b) = table("broker") {
        let exchange_only = sc
            .topics
            .iter()
            .all(|t| t.model(&sc.broker) == BrokerModel::Exchange);
        let limits: &[&str] = if exchange_only { BROKER_EXCHANGE } else { &[] };
        c.only(b, "broker", None, &[BROKER, limits])?;
        check_limits(sc, &c, b)?;
    }
    for (i, t) in array("topic").iter().enumerate() {
        c.only(t, "topic", Some(i), &[TOPIC])?;
        let model = sc.topics[i].model(&sc.broker);
        let needs = match model {
            BrokerModel::Pubsub => BrokerKind::Redis,
            BrokerModel::Exchange => BrokerKind::Amqp,
            other => return Err(c.refuse("topic", Some(i), "model", model_not_yet(other))),
        };
        if needs != broker {
            let key = if t.contains_key("model") {
                "model"
            } else {
                "name"
            };
            return Err(c.refuse(
                "topic",
                Some(i),
                key,
                &format!(
                    "a `{}` topic maps onto {}, not {}: use `--broker {}://127.0.0.1:PORT`",
                    model_name(model),
                    needs.package(),
                    broker.package(),
                    needs.scheme()
                ),
            ));
        }
        if *sc.topics[i].partitions.get_ref() > 1 {
            return Err(c.refuse(
                "topic",
                Some(i),
                "partitions",
                "only the log model has partitions",
            ));
        }
    }
    for (i, p) in array("producer").iter().enumerate() {
        c.only(p, "producer", Some(i), &[PRODUCER])?;
        if p.get("payload_bytes").is_some_and(|v| !v.is_integer()) {
            return Err(c.refuse(
                "producer",
                Some(i),
                "payload_bytes",
                "not yet supported: a payload size distribution (give a number of bytes)",
            ));
        }
    }
    check_consumers(sc, &c, &array("consumer"))?;
    for (i, f) in array("fault").iter().enumerate() {
        c.only(f, "fault", Some(i), &[FAULT])?;
        let fault = &sc.faults[i];
        let kind = *fault.kind.get_ref();
        if kind != FaultKind::Crash {
            return Err(c.refuse(
                "fault",
                Some(i),
                "kind",
                &format!(
                    "not yet supported: `{}` faults on a real broker",
                    kind.as_str()
                ),
            ));
        }
        let target = fault.target.get_ref();
        if !sc.consumers.iter().any(|g| {
            target == g.group.get_ref() || target.starts_with(&format!("{}/", g.group.get_ref()))
        }) {
            return Err(c.refuse(
                "fault",
                Some(i),
                "target",
                "not yet supported: a crash of anything but a consumer instance (`group/N`)",
            ));
        }
    }
    if let Some(e) = table("expect") {
        c.only(e, "expect", None, &[EXPECT])?;
    }
    Ok(())
}

/// `capacity`/`on_full` on RabbitMQ: `x-max-length` with `drop-head` or
/// `reject-publish`; RabbitMQ has no per-queue blocking or spilling.
fn check_limits(sc: &Scenario, c: &Check<'_>, broker: &toml::Table) -> Result<(), BenchError> {
    if !broker.contains_key("capacity") && !broker.contains_key("on_full") {
        return Ok(());
    }
    let key = if broker.contains_key("on_full") {
        "on_full"
    } else {
        "capacity"
    };
    match sc.broker.on_full.get_ref() {
        OnFull::DropOldest => Ok(()),
        OnFull::Reject => {
            // A nack says the publish was refused, not by which queue.
            let shared = sc.topics.iter().any(|t| {
                sc.consumers
                    .iter()
                    .filter(|g| g.topic.get_ref() == t.name.get_ref())
                    .count()
                    > 1
            });
            if shared {
                Err(c.refuse("broker", None, key, "not yet supported: `reject` with more than one group on a topic (a publisher nack does not say which queue refused)"))
            } else {
                Ok(())
            }
        }
        OnFull::Block | OnFull::Spill => Err(c.refuse(
            "broker",
            None,
            key,
            "RabbitMQ's queue length limit drops the head or rejects the publish: use on_full = \"drop-oldest\" or \"reject\"",
        )),
    }
}

fn check_consumers(
    sc: &Scenario,
    c: &Check<'_>,
    tables: &[&toml::Table],
) -> Result<(), BenchError> {
    let mut buffer = None;
    for (i, t) in tables.iter().enumerate() {
        let cfg = &sc.consumers[i];
        let topic = sc
            .topics
            .iter()
            .find(|x| x.name.get_ref() == cfg.topic.get_ref())
            .expect("validated topic");
        match topic.model(&sc.broker) {
            BrokerModel::Exchange => {
                c.only(t, "consumer", Some(i), &[CONSUMER, CONSUMER_EXCHANGE])?
            }
            _ => {
                c.only(t, "consumer", Some(i), &[CONSUMER, CONSUMER_PUBSUB])?;
                if cfg.on_overflow == Overflow::Drop {
                    return Err(c.refuse(
                        "consumer",
                        Some(i),
                        "on_overflow",
                        "Redis never drops single messages for a slow subscriber: past \
                         client-output-buffer-limit it disconnects it (use \"disconnect\")",
                    ));
                }
                let b = *cfg.buffer.get_ref();
                if *buffer.get_or_insert(b) != b {
                    return Err(c.refuse(
                        "consumer",
                        Some(i),
                        "buffer",
                        "Redis has one client-output-buffer-limit for every subscriber: \
                         all pub/sub groups must have the same `buffer`",
                    ));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(src: &str, broker: BrokerKind) -> String {
        let sc = Scenario::from_toml(src, "x.toml").expect("valid scenario");
        check(&sc, src, "x.toml", broker).unwrap_err().to_string()
    }

    const PUBSUB: &str = "name = \"p\"\nduration = \"1s\"\n[broker]\nmodel = \"pubsub\"\n\
        [[topic]]\nname = \"t\"\n[[producer]]\nname = \"a\"\ntopic = \"t\"\nrate = 10\n\
        [[consumer]]\ngroup = \"g\"\ntopic = \"t\"\n";

    #[test]
    fn an_unsupported_key_is_named_with_its_line() {
        let src = format!("{PUBSUB}[[consumer]]\ngroup = \"h\"\ntopic = \"t\"\nmax_retries = 3\n");
        let e = refusal(&src, BrokerKind::Redis);
        assert!(e.contains("`consumer[1].max_retries` (line 17)"), "{e}");
        assert!(e.contains("not yet supported"), "{e}");
    }

    #[test]
    fn a_model_on_the_wrong_broker_says_which_url_to_use() {
        let e = refusal(PUBSUB, BrokerKind::Amqp);
        assert!(e.contains("topic[0]"), "{e}");
        assert!(e.contains("redis://"), "{e}");
    }

    #[test]
    fn models_and_faults_not_driven_yet_are_refused_by_name() {
        let log = PUBSUB.replace("pubsub", "log");
        assert!(refusal(&log, BrokerKind::Redis).contains("not yet supported: the `log` model"));
        let slow = format!(
            "{PUBSUB}[[fault]]\nat = \"0s\"\nkind = \"slow\"\ntarget = \"g/0\"\nduration = \"1s\"\nfactor = 2\n"
        );
        let e = refusal(&slow, BrokerKind::Redis);
        assert!(e.contains("fault[0].factor") || e.contains("`slow`"), "{e}");
        let drop = PUBSUB.replace("topic = \"t\"\n\n", "") + "on_overflow = \"drop\"\n";
        assert!(refusal(&drop, BrokerKind::Redis).contains("on_overflow"));
    }

    #[test]
    fn a_supported_scenario_passes() {
        let sc = Scenario::from_toml(PUBSUB, "x.toml").unwrap();
        check(&sc, PUBSUB, "x.toml", BrokerKind::Redis).unwrap();
    }
}
