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
const BROKER_QUEUE: &[&str] = &["max_receives"];
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
    "retries",
    "request_timeout",
];
const CONSUMER: &[&str] = &[
    "group",
    "topic",
    "instances",
    "service_time",
    "delivery",
    "ordered",
    "max_retries",
    "backoff",
];
const CONSUMER_EXCHANGE: &[&str] = &["commit_interval", "prefetch", "bindings", "on_failure"];
const CONSUMER_QUEUE: &[&str] = &["commit_interval", "batch", "on_failure"];
const CONSUMER_LOG: &[&str] = &[
    "commit_interval",
    "session_timeout",
    "assignment",
    "on_failure",
    "start_at",
    "offset_reset",
];
const CONSUMER_PUBSUB: &[&str] = &["buffer", "on_overflow", "reconnect"];
const FAULT: &[&str] = &[
    "at", "kind", "target", "duration", "factor", "rate", "count",
];
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

/// A topic of `model`, as a refusal names it: the model's value, with its article.
fn a_topic_of(model: BrokerModel) -> &'static str {
    match model {
        BrokerModel::Log => "a `log` topic",
        BrokerModel::Queue => "a `queue` topic",
        BrokerModel::Exchange => "an `exchange` topic",
        BrokerModel::Pubsub => "a `pubsub` topic",
    }
}

struct Check<'a> {
    file: &'a str,
    src: &'a str,
    /// `--spawn`: mqlab started the broker, so it may kill and restart it.
    spawn: bool,
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

/// The broker a topic of `model` is played on.
fn broker_for(model: BrokerModel) -> BrokerKind {
    match model {
        BrokerModel::Pubsub | BrokerModel::Log => BrokerKind::Redis,
        BrokerModel::Exchange | BrokerModel::Queue => BrokerKind::Amqp,
    }
}

/// The key a refusal of topic table `t`'s model names: `model` when written, else `name`.
fn model_key(t: &toml::Table) -> &'static str {
    if t.contains_key("model") {
        "model"
    } else {
        "name"
    }
}

/// Checks that `sc` (read from `src`) can be played on `broker`; the error names the
/// first key that cannot.
///
/// # Errors
/// The key, its line, and why.
pub fn check(
    sc: &Scenario,
    src: &str,
    file: &str,
    broker: BrokerKind,
    spawn: bool,
) -> Result<(), BenchError> {
    let c = Check { file, src, spawn };
    let doc: toml::Table = src
        .parse()
        .map_err(|e| BenchError::Other(format!("{file}: {e}")))?;
    if doc.contains_key("network") {
        return Err(c.refuse(
            "",
            None,
            "network",
            "a real broker runs on the machine's own network: mqlab cannot give loopback a \
             latency, loss or duplication (`--vs-model` measures its round trip and runs the \
             model with it)",
        ));
    }
    c.only(&doc, "", None, &[TOP])?;
    let table = |k: &str| doc.get(k).and_then(toml::Value::as_table);
    let array = |k: &str| -> Vec<&toml::Table> {
        doc.get(k)
            .and_then(toml::Value::as_array)
            .map(|a| a.iter().filter_map(toml::Value::as_table).collect())
            .unwrap_or_default()
    };
    // Which broker each topic needs comes first: a key refused for one broker says
    // nothing useful to a user who named the other.
    for (i, t) in array("topic").iter().enumerate() {
        let model = sc.topics[i].model(&sc.broker);
        let needs = broker_for(model);
        if needs != broker {
            return Err(c.refuse(
                "topic",
                Some(i),
                model_key(t),
                &format!(
                    "{} maps onto {}, not {}: use `--broker {}://127.0.0.1:PORT`",
                    a_topic_of(model),
                    needs.package(),
                    broker.package(),
                    needs.scheme()
                ),
            ));
        }
    }
    if let Some(b) = table("broker") {
        let exchange_only = sc
            .topics
            .iter()
            .all(|t| t.model(&sc.broker) == BrokerModel::Exchange);
        let limits: &[&str] = if exchange_only { BROKER_EXCHANGE } else { &[] };
        let any_queue = sc
            .topics
            .iter()
            .any(|t| t.model(&sc.broker) == BrokerModel::Queue);
        let queue: &[&str] = if any_queue { BROKER_QUEUE } else { &[] };
        if any_queue && b.contains_key("visibility_timeout") {
            return Err(c.refuse(
                "broker",
                None,
                "visibility_timeout",
                "RabbitMQ has no visibility timeout: an unacknowledged message comes back when \
                 its consumer's connection closes, or when the consumer rejects it",
            ));
        }
        c.only(b, "broker", None, &[BROKER, limits, queue])?;
        check_limits(sc, &c, b)?;
    }
    for (i, t) in array("topic").iter().enumerate() {
        c.only(t, "topic", Some(i), &[TOPIC])?;
        // Every topic's broker was checked above: all of them need `broker`.
        let model = sc.topics[i].model(&sc.broker);
        let first = sc.topics[0].model(&sc.broker);
        if broker == BrokerKind::Redis && model != first {
            return Err(c.refuse(
                "topic",
                Some(i),
                model_key(t),
                "not yet supported: `pubsub` and `log` topics in one run on Redis (run them \
                 as two scenarios)",
            ));
        }
        if model == BrokerModel::Log && t.contains_key("retention") {
            return Err(c.refuse(
                "topic",
                Some(i),
                "retention",
                "not yet supported: retention on Redis Streams (XADD MAXLEN trims by count, \
                 not by age)",
            ));
        }
        if model != BrokerModel::Log && *sc.topics[i].partitions.get_ref() > 1 {
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
        check_fault(sc, &c, i, f)?;
        c.only(f, "fault", Some(i), &[FAULT])?;
    }
    if let Some(e) = table("expect") {
        c.only(e, "expect", None, &[EXPECT])?;
    }
    Ok(())
}

/// The fault kinds a real run can inject, on what.
fn check_fault(sc: &Scenario, c: &Check<'_>, i: usize, f: &toml::Table) -> Result<(), BenchError> {
    let fault = &sc.faults[i];
    let kind = *fault.kind.get_ref();
    let target = fault.target.get_ref();
    let is_consumer = sc.consumers.iter().any(|g| {
        target == g.group.get_ref() || target.starts_with(&format!("{}/", g.group.get_ref()))
    });
    let is_producer = sc.producers.iter().any(|p| p.name.get_ref() == target);
    match kind {
        FaultKind::Crash | FaultKind::Slow | FaultKind::Partition if !is_consumer => Err(c.refuse(
            "fault",
            Some(i),
            "target",
            &format!(
                "not yet supported: a `{}` of anything but a consumer group or instance \
                 (`group` or `group/N`)",
                kind.as_str()
            ),
        )),
        FaultKind::Poison if !is_producer => Err(c.refuse(
            "fault",
            Some(i),
            "target",
            "a `poison` fault targets a producer (its messages fail)",
        )),
        FaultKind::Poison if f.contains_key("mode") => Err(c.refuse(
            "fault",
            Some(i),
            "mode",
            "not yet supported: a hanging poison message (the real consumer has no \
             processing_timeout)",
        )),
        FaultKind::Crash | FaultKind::Slow | FaultKind::Partition | FaultKind::Poison => Ok(()),
        FaultKind::BrokerCrash if !c.spawn => Err(c.refuse(
            "fault",
            Some(i),
            "kind",
            "`broker-crash` needs `--spawn`: mqlab kills (SIGKILL) and restarts only a broker \
             it started itself, never one it was given by URL",
        )),
        FaultKind::BrokerCrash if f.contains_key("duration") => Ok(()),
        FaultKind::BrokerCrash => Err(c.refuse(
            "fault",
            Some(i),
            "kind",
            "a `broker-crash` on a real broker needs a `duration` (when it is restarted): \
             without one the run could only end partial",
        )),
        FaultKind::LatencySpike | FaultKind::Outage => Err(c.refuse(
            "fault",
            Some(i),
            "kind",
            &format!(
                "`{}` cannot be injected into a real broker by mqlab (no control of the \
                 loopback network or of a dependency)",
                kind.as_str()
            ),
        )),
        FaultKind::Replay | FaultKind::Redrive => Err(c.refuse(
            "fault",
            Some(i),
            "kind",
            &format!(
                "not yet supported: the operator action `{}` on a real broker",
                kind.as_str()
            ),
        )),
    }
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
        let model = topic.model(&sc.broker);
        match model {
            BrokerModel::Exchange => {
                c.only(t, "consumer", Some(i), &[CONSUMER, CONSUMER_EXCHANGE])?;
            }
            BrokerModel::Queue => c.only(t, "consumer", Some(i), &[CONSUMER, CONSUMER_QUEUE])?,
            BrokerModel::Log => {
                // The validator allows a log group only `dead-letter`: a stream entry cannot
                // be put back.
                c.only(t, "consumer", Some(i), &[CONSUMER, CONSUMER_LOG])?;
            }
            BrokerModel::Pubsub => {
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
        check(&sc, src, "x.toml", broker, false)
            .unwrap_err()
            .to_string()
    }

    const PUBSUB: &str = "name = \"p\"\nduration = \"1s\"\n[broker]\nmodel = \"pubsub\"\n\
        [[topic]]\nname = \"t\"\n[[producer]]\nname = \"a\"\ntopic = \"t\"\nrate = 10\n\
        [[consumer]]\ngroup = \"g\"\ntopic = \"t\"\n";

    #[test]
    fn an_unsupported_key_is_named_with_its_line() {
        let src = format!(
            "{PUBSUB}[[consumer]]\ngroup = \"h\"\ntopic = \"t\"\nprocessing_timeout = \"1s\"\n"
        );
        let e = refusal(&src, BrokerKind::Redis);
        assert!(
            e.contains("`consumer[1].processing_timeout` (line 17)"),
            "{e}"
        );
        assert!(e.contains("not yet supported"), "{e}");
    }

    /// A late group maps from either offset (its consumers wait for `start_at`; from the
    /// latest, the group is created then).
    #[test]
    fn a_late_group_maps_from_either_offset() {
        let log = PUBSUB.replace("model = \"pubsub\"", "model = \"log\"");
        for reset in ["earliest", "latest"] {
            let src = format!(
                "{log}[[consumer]]\ngroup = \"h\"\ntopic = \"t\"\nstart_at = \"1s\"\n\
                 offset_reset = \"{reset}\"\n"
            );
            let sc = Scenario::from_toml(&src, "x.toml").expect("valid scenario");
            assert!(
                check(&sc, &src, "x.toml", BrokerKind::Redis, false).is_ok(),
                "{reset}"
            );
        }
    }

    #[test]
    fn a_model_on_the_wrong_broker_says_which_url_to_use() {
        let e = refusal(PUBSUB, BrokerKind::Amqp);
        assert!(e.contains("topic[0]"), "{e}");
        assert!(e.contains("redis://"), "{e}");
    }

    /// The article reads right for every model (it once said "a `exchange` topic").
    #[test]
    fn an_exchange_on_redis_is_an_exchange_topic() {
        let exchange = PUBSUB
            .replace("model = \"pubsub\"", "model = \"exchange\"")
            .replace("name = \"t\"", "name = \"t\"\nexchange = \"fanout\"");
        let e = refusal(&exchange, BrokerKind::Redis);
        assert!(
            e.contains("an `exchange` topic maps onto rabbitmq-server"),
            "{e}"
        );
        assert!(refusal(PUBSUB, BrokerKind::Amqp).contains("a `pubsub` topic"));
    }

    /// A queue scenario with a visibility timeout, against Redis: the user named the wrong
    /// broker, and hearing that RabbitMQ has no visibility timeout would not tell them so.
    #[test]
    fn the_wrong_broker_is_said_before_any_key_the_other_broker_refuses() {
        let queue = PUBSUB.replace(
            "model = \"pubsub\"",
            "model = \"queue\"\nvisibility_timeout = \"30s\"",
        );
        let e = refusal(&queue, BrokerKind::Redis);
        assert!(e.contains("amqp://"), "{e}");
        assert!(!e.contains("visibility"), "{e}");
    }

    #[test]
    fn keys_and_faults_that_cannot_be_mapped_are_refused_by_name() {
        let log = PUBSUB.replace("pubsub", "log");
        let sc = Scenario::from_toml(&log, "x.toml").unwrap();
        check(&sc, &log, "x.toml", BrokerKind::Redis, false).unwrap();
        assert!(refusal(&log, BrokerKind::Amqp).contains("maps onto redis-server"));
        let net = format!("{PUBSUB}[network]\nlatency = \"1ms\"\n");
        let e = refusal(&net, BrokerKind::Redis);
        assert!(
            e.contains("`network` (line 14)") && e.contains("loopback"),
            "{e}"
        );
        let crash = format!(
            "{PUBSUB}[[fault]]\nat = \"0s\"\nkind = \"broker-crash\"\ntarget = \"broker/0\"\n"
        );
        let e = refusal(&crash, BrokerKind::Redis);
        assert!(
            e.contains("`fault[0].kind` (line 16)") && e.contains("needs `--spawn`"),
            "{e}"
        );
        let sc = Scenario::from_toml(&crash, "x.toml").unwrap();
        let e = check(&sc, &crash, "x.toml", BrokerKind::Redis, true)
            .unwrap_err()
            .to_string();
        assert!(e.contains("needs a `duration`"), "{e}");
        let timed = format!("{crash}duration = \"1s\"\n");
        let sc = Scenario::from_toml(&timed, "x.toml").unwrap();
        check(&sc, &timed, "x.toml", BrokerKind::Redis, true).unwrap();
        let spike = format!(
            "{PUBSUB}[[fault]]\nat = \"0s\"\nkind = \"latency-spike\"\ntarget = \"network\"\nlatency = \"5ms\"\n"
        );
        assert!(refusal(&spike, BrokerKind::Redis).contains("latency-spike"));
        let vt = PUBSUB.replace("pubsub\"", "queue\"\nvisibility_timeout = \"5s\"");
        let e = refusal(&vt, BrokerKind::Amqp);
        assert!(e.contains("`broker.visibility_timeout` (line 5)"), "{e}");
        let drop = PUBSUB.replace("topic = \"t\"\n\n", "") + "on_overflow = \"drop\"\n";
        assert!(refusal(&drop, BrokerKind::Redis).contains("on_overflow"));
    }

    #[test]
    fn a_supported_scenario_passes() {
        let sc = Scenario::from_toml(PUBSUB, "x.toml").unwrap();
        check(&sc, PUBSUB, "x.toml", BrokerKind::Redis, false).unwrap();
    }
}
