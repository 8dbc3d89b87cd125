//! `--set KEY=VALUE`: a change to the scenario file by key path, applied to the parsed
//! TOML document before it is read into a `Scenario`, so that a set value is checked by
//! exactly the code that checks the file (types, allowed values, ranges, the cross-checks).
//!
//! A path walks tables by key (`broker.acks`, `network.loss`, `expect.lost`) and picks an
//! element of an array of tables by its `name` (`topic.orders.partitions`,
//! `producer.checkout.rate`), its `group` (`consumer.payments.delivery`), a saga step's
//! `service`, or its index (`fault.0.duration`). A value is read as TOML when it is one (a
//! number, `true`, a quoted string, an array); a bare word (`all`, `exp(2ms)`, `5s`) is a
//! string. Where the file holds a string (a duration, say), the value is a string too.
//!
//! Every set value gets a span past the end of the file, so that an error about it is told
//! apart from one about the file and names the `--set` instead of a line.

use super::Scenario;
use crate::error::ScenarioError;
use std::ops::Range;
use toml::Spanned;
use toml::de::{DeArray, DeString, DeTable, DeValue};

/// A `--set` that cannot be applied.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SetError {
    /// The key or the value itself is wrong: what was expected.
    #[error("--set {key}={value}: {message}")]
    Value {
        /// The key as given.
        key: String,
        /// The value as given.
        value: String,
        /// What is wrong, naming the allowed keys or values.
        message: String,
    },
    /// The value is fine on its own but contradicts the file (a place in the file).
    #[error("--set {settings}: the scenario is no longer valid: {error}")]
    Contradicts {
        /// Every `KEY=VALUE` applied, space-separated.
        settings: String,
        /// Where in the file, and what.
        error: Box<ScenarioError>,
    },
    /// The value is fine on its own but the scenario no longer holds (no place to show).
    #[error("--set {settings}: the scenario is no longer valid: {message}")]
    Invalid {
        /// Every `KEY=VALUE` applied, space-separated.
        settings: String,
        /// What is wrong.
        message: String,
    },
    /// The file itself does not load.
    #[error("{0}")]
    File(Box<ScenarioError>),
}

/// Keys that, set to some values, leave others in the file meaningless: those go with
/// it, so that a sweep (`resequence=true,false`, `publish=outbox,direct`) compares the
/// same scenario with the feature on and off instead of failing on its settings.
fn companions(last: &str, value: &str) -> &'static [&'static str] {
    match (last, value) {
        ("resequence", "false") => &["resequence_buffer", "gap_timeout"],
        ("publish", "direct") => &[
            "relay_interval",
            "relay_batch",
            "relay_instances",
            "db_latency",
            "db_failure",
        ],
        ("publish", "dual-write" | "publish-first") => {
            &["relay_interval", "relay_batch", "relay_instances"]
        }
        _ => &[],
    }
}

/// The span given to the `i`th setting: past the end of a file of `len` bytes.
fn marker(len: usize, i: usize) -> Range<usize> {
    len + 1 + i..len + 2 + i
}

/// Which setting, if any, a span marks.
fn marked(len: usize, span: Option<Range<usize>>, n: usize) -> Option<usize> {
    let start = span?.start;
    (start > len && start <= len + n).then(|| start - len - 1)
}

/// Reads `source` with `settings` applied (later ones win), then checks it as a file.
///
/// # Errors
/// The file does not load; a key names nothing; a value is not one the key takes; or the
/// changed scenario contradicts itself.
pub fn with_settings(
    source: &str,
    path: &str,
    settings: &[(String, String)],
) -> Result<Scenario, SetError> {
    let file_error = |span, message: &str| {
        SetError::File(Box::new(ScenarioError::at(
            path,
            source,
            span,
            message.to_string(),
        )))
    };
    let mut as_string = vec![false; settings.len()];
    let scenario = loop {
        let mut doc = DeTable::parse(source).map_err(|e| file_error(e.span(), e.message()))?;
        for (i, (key, value)) in settings.iter().enumerate() {
            let span = marker(source.len(), i);
            set(doc.get_mut(), key, value, as_string[i], span).map_err(|message| {
                SetError::Value {
                    key: key.clone(),
                    value: value.clone(),
                    message,
                }
            })?;
        }
        let read = <Scenario as serde::Deserialize>::deserialize(toml::de::Deserializer::from(doc));
        match read {
            Ok(s) => break s,
            Err(e) => {
                let message = super::with_suggestion(e.message());
                let Some(i) = marked(source.len(), e.span(), settings.len()) else {
                    return Err(file_error(e.span(), &message));
                };
                // `0` for a duration: a number where the key takes a string is read again
                // as the string it also is.
                if !as_string[i] && message.starts_with("invalid type") {
                    as_string[i] = true;
                    continue;
                }
                let (key, value) = settings[i].clone();
                return Err(SetError::Value {
                    key,
                    value,
                    message,
                });
            }
        }
    };
    check(&scenario, source, path, settings)?;
    Ok(scenario)
}

/// The checks beyond types, on the changed scenario.
fn check(
    s: &Scenario,
    source: &str,
    path: &str,
    settings: &[(String, String)],
) -> Result<(), SetError> {
    let all = || {
        settings
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    if let Err((span, message)) = super::validate::validate(s) {
        if let Some(i) = marked(source.len(), span.clone(), settings.len()) {
            let (key, value) = settings[i].clone();
            return Err(SetError::Value {
                key,
                value,
                message,
            });
        }
        return Err(match span {
            Some(span) => SetError::Contradicts {
                settings: all(),
                error: Box::new(ScenarioError::at(path, source, Some(span), message)),
            },
            None => SetError::Invalid {
                settings: all(),
                message,
            },
        });
    }
    // The file passed these alone, so a breach is a set value's; no place to point at.
    super::validate::timers::check(s, None).map_err(|(_, message)| SetError::Invalid {
        settings: all(),
        message,
    })
}

/// Applies one setting to the document.
fn set<'a>(
    doc: &mut DeTable<'a>,
    key: &str,
    value: &'a str,
    as_string: bool,
    span: Range<usize>,
) -> Result<(), String> {
    let steps: Vec<&str> = key.split('.').collect();
    if steps.iter().any(|s| s.is_empty()) {
        return Err("expected a key path such as broker.acks or consumer.GROUP.delivery".into());
    }
    let (last, parents) = steps.split_last().ok_or("empty key")?;
    let table = walk(doc, parents, &span)?;
    let existing_is_string = table.get(*last).is_some_and(|v| v.get_ref().is_str());
    let new = parse_value(value, as_string || existing_is_string, &span);
    for k in companions(last, value) {
        table.remove(*k);
    }
    table.insert(
        Spanned::new(span, DeString::Owned((*last).to_string())),
        new,
    );
    Ok(())
}

/// The table a path of parents leads to; tables missing on the way are created (`[network]`
/// absent from the file), array elements must exist.
fn walk<'d, 'i>(
    mut table: &'d mut DeTable<'i>,
    steps: &[&str],
    span: &Range<usize>,
) -> Result<&'d mut DeTable<'i>, String> {
    let mut i = 0;
    while i < steps.len() {
        let step = steps[i];
        if !table.contains_key(step) {
            let fresh = DeValue::Table(DeTable::new());
            table.insert(
                Spanned::new(span.clone(), DeString::Owned(step.to_string())),
                Spanned::new(span.clone(), fresh),
            );
        }
        let entry = table.get_mut(step).ok_or("unreachable")?;
        match entry.get_mut() {
            DeValue::Table(t) => {
                table = t;
                i += 1;
            }
            DeValue::Array(items) => {
                let (at, used) = element(items, &steps[i + 1..], step)?;
                let Some(DeValue::Table(t)) = items.get_mut(at).map(Spanned::get_mut) else {
                    return Err(format!("`{step}` holds no tables"));
                };
                table = t;
                i += 1 + used;
            }
            _ => {
                return Err(format!(
                    "`{}` is a value, not a table",
                    steps[..=i].join(".")
                ));
            }
        }
    }
    Ok(table)
}

/// The field that names an element of an array of tables.
fn identifier(v: &DeValue<'_>) -> Option<String> {
    ["name", "group", "service"]
        .iter()
        .find_map(|k| v.get(*k).and_then(|n| n.get_ref().as_str()))
        .map(str::to_string)
}

/// The element of `items` that `rest` starts by naming (names may hold dots: the longest
/// match wins), or by index; and how many steps the name took.
fn element(items: &DeArray<'_>, rest: &[&str], what: &str) -> Result<(usize, usize), String> {
    let names: Vec<Option<String>> = items.iter().map(|v| identifier(v.get_ref())).collect();
    for used in (1..=rest.len()).rev() {
        let name = rest[..used].join(".");
        if let Some(at) = names
            .iter()
            .position(|n| n.as_deref() == Some(name.as_str()))
        {
            return Ok((at, used));
        }
    }
    let Some(first) = rest.first() else {
        return Err(format!(
            "`{what}` needs an element: {what}.NAME.KEY or {what}.INDEX.KEY"
        ));
    };
    if let Ok(at) = first.parse::<usize>()
        && at < items.len()
    {
        return Ok((at, 1));
    }
    let known: Vec<&str> = names.iter().flatten().map(String::as_str).collect();
    Err(if known.is_empty() {
        format!(
            "no {what} `{first}` ({} declared, indexed from 0)",
            items.len()
        )
    } else {
        format!("no {what} `{first}` (known: {})", known.join(", "))
    })
}

/// The value as TOML (with every span the setting's), or as a string.
fn parse_value<'i>(text: &'i str, as_string: bool, span: &Range<usize>) -> Spanned<DeValue<'i>> {
    let literal = (!as_string)
        .then(|| DeValue::parse(text).ok())
        .flatten()
        .map(|v| respan(v.into_inner(), span));
    literal.unwrap_or_else(|| Spanned::new(span.clone(), DeValue::String(DeString::Borrowed(text))))
}

/// `v` with every span inside it replaced by `span`.
fn respan<'i>(v: DeValue<'i>, span: &Range<usize>) -> Spanned<DeValue<'i>> {
    let v = match v {
        DeValue::Array(items) => DeValue::Array(
            items
                .into_iter()
                .map(|e| respan(e.into_inner(), span))
                .collect(),
        ),
        DeValue::Table(t) => {
            let mut out = DeTable::new();
            for (k, e) in t {
                out.insert(
                    Spanned::new(span.clone(), k.into_inner()),
                    respan(e.into_inner(), span),
                );
            }
            DeValue::Table(out)
        }
        other => other,
    };
    Spanned::new(span.clone(), v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{Acks, Delivery};

    const FILE: &str = "name = \"x\"\nduration = \"1s\"\n[broker]\nnodes = 3\nreplication = 3\n\
[[topic]]\nname = \"orders\"\npartitions = 2\n[[producer]]\nname = \"checkout\"\ntopic = \"orders\"\nrate = 10\n\
[[consumer]]\ngroup = \"pay.ments\"\ntopic = \"orders\"\ncommit_interval = \"1s\"\n\
[[fault]]\nat = \"0s\"\nkind = \"crash\"\ntarget = \"pay.ments/0\"\nduration = \"1s\"\n";

    fn with(settings: &[(&str, &str)]) -> Result<Scenario, SetError> {
        let owned: Vec<(String, String)> = settings
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect();
        with_settings(FILE, "x.toml", &owned)
    }

    #[test]
    fn sets_keys_of_tables_and_of_named_elements() {
        let s = with(&[
            ("broker.acks", "all"),
            ("broker.min_insync_replicas", "2"),
            ("topic.orders.partitions", "6"),
            ("network.loss", "0.01"),
            ("producer.checkout.rate", "250.5"),
            ("producer.checkout.idempotent", "true"),
            ("producer.checkout.max_in_flight", "5"),
            ("consumer.pay.ments.delivery", "exactly-once"),
            ("consumer.pay.ments.commit_interval", "0"),
            ("fault.0.duration", "2s"),
        ])
        .expect("valid");
        assert_eq!(s.broker.acks, Acks::All);
        assert_eq!(*s.broker.min_insync_replicas.get_ref(), 2);
        assert_eq!(*s.topics[0].partitions.get_ref(), 6);
        assert!((*s.network.loss.get_ref() - 0.01).abs() < 1e-12);
        assert!((*s.producers[0].rate.get_ref() - 250.5).abs() < 1e-12);
        assert!(s.producers[0].idempotent);
        assert_eq!(
            s.producers[0].max_in_flight.as_ref().map(|m| *m.get_ref()),
            Some(5)
        );
        assert_eq!(s.consumers[0].delivery, Delivery::ExactlyOnce);
        assert!(s.consumers[0].commit_interval.is_zero());
        assert_eq!(s.faults[0].duration.map(|d| d.0), Some(2_000_000_000));
    }

    #[test]
    fn a_bad_value_names_the_key_and_the_allowed_values() {
        let e = with(&[("broker.acks", "most")])
            .expect_err("refused")
            .to_string();
        assert!(
            e.starts_with("--set broker.acks=most: unknown variant `most`"),
            "{e}"
        );
        assert!(e.contains("`none`, `leader`, `all`"), "{e}");
        let e = with(&[("consumer.pay.ments.delivery", "twice")]).expect_err("refused");
        assert!(e.to_string().contains("`at-least-once`"), "{e}");
        let e = with(&[("network.loss", "1.5")])
            .expect_err("refused")
            .to_string();
        assert!(e.starts_with("--set network.loss=1.5: a fraction"), "{e}");
        let e = with(&[("producer.checkout.rate", "fast")])
            .expect_err("refused")
            .to_string();
        assert!(
            e.starts_with("--set producer.checkout.rate=fast: invalid type"),
            "{e}"
        );
    }

    #[test]
    fn an_unknown_key_or_name_lists_what_exists() {
        let e = with(&[("broker.ack", "all")])
            .expect_err("refused")
            .to_string();
        assert!(
            e.contains("unknown field `ack`") && e.contains("did you mean `acks`?"),
            "{e}"
        );
        let e = with(&[("topic.order.partitions", "2")])
            .expect_err("refused")
            .to_string();
        assert!(e.contains("no topic `order` (known: orders)"), "{e}");
        let e = with(&[("fault.3.duration", "2s")])
            .expect_err("refused")
            .to_string();
        assert!(e.contains("no fault `3` (1 declared"), "{e}");
    }

    #[test]
    fn a_contradiction_points_into_the_file() {
        // Replication above the node count is refused at the set value itself.
        let e = with(&[("broker.nodes", "2")])
            .expect_err("refused")
            .to_string();
        assert!(
            e.starts_with("--set broker.nodes=2: the scenario is no longer valid: x.toml:"),
            "{e}"
        );
        // One instance fewer strands nothing here; zero instances is the value's own error.
        let e = with(&[("consumer.pay.ments.instances", "0")]).expect_err("refused");
        assert!(
            e.to_string()
                .starts_with("--set consumer.pay.ments.instances=0: "),
            "{e}"
        );
    }

    #[test]
    fn turning_a_feature_off_drops_its_settings() {
        let file = format!(
            "{FILE}[[consumer]]\ngroup = \"g\"\ntopic = \"orders\"\nordered = true\nresequence = true\ngap_timeout = \"1s\"\n"
        );
        let on = with_settings(&file, "x.toml", &[]).expect("valid");
        assert!(on.consumers[1].resequences());
        let off = with_settings(
            &file,
            "x.toml",
            &[("consumer.g.resequence".into(), "false".into())],
        )
        .expect("gap_timeout goes with it");
        assert!(off.consumers[1].gap_timeout.is_none());
    }
}
