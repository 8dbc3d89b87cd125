//! `producer.publish` and its settings: a producer that is a service with a database,
//! publishing its state changes by dual write, publish-first or a transactional outbox.
//! Only the scenario side (the enum, defaults, validation); the engine side lives in
//! `engine/outbox.rs`.

use super::ProducerConfig;
use serde::Deserialize;
use std::ops::Range;

/// `producer.publish`: how a service with a database publishes its state changes.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Publish {
    /// No database: every arrival is published at once (the producer of every other
    /// scenario).
    #[default]
    Direct,
    /// Commit the state change, then publish: a crash in between loses the event.
    DualWrite,
    /// Publish, then commit: a crash before the commit, or a failed commit, leaves a
    /// phantom event for a change that never happened.
    PublishFirst,
    /// State change and outbox row in one transaction; a relay publishes the rows
    /// (at least once) and marks them sent.
    Outbox,
}

impl Publish {
    /// Parses the name as written in scenario files.
    #[must_use]
    pub fn parse(text: &str) -> Option<Publish> {
        [
            Publish::Direct,
            Publish::DualWrite,
            Publish::PublishFirst,
            Publish::Outbox,
        ]
        .into_iter()
        .find(|p| p.as_str() == text)
    }

    /// The name as written in scenario files.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Publish::Direct => "direct",
            Publish::DualWrite => "dual-write",
            Publish::PublishFirst => "publish-first",
            Publish::Outbox => "outbox",
        }
    }
}

impl ProducerConfig {
    /// How this producer publishes (`direct` unless set).
    #[must_use]
    pub fn publish(&self) -> Publish {
        self.publish
            .as_ref()
            .map_or(Publish::Direct, |p| *p.get_ref())
    }

    /// Sets `publish` (as `mqlab compare --set producer.NAME.publish=...` does). A sweep
    /// keeps the same service and changes only how it publishes, so settings the new mode
    /// has no use for (the relay's without an outbox, the database's when direct) are
    /// dropped rather than made an error.
    pub fn set_publish(&mut self, publish: Publish) {
        self.publish = Some(toml::Spanned::new(0..0, publish));
        if publish != Publish::Outbox {
            (self.relay_interval, self.relay_batch) = (None, None);
            self.relay_instances = None;
        }
        if publish == Publish::Direct {
            (self.db_latency, self.db_failure) = (None, None);
        }
    }
}

type Invalid = (Option<Range<usize>>, String);

/// The settings that only mean something with a database, and their ranges.
pub(super) fn check(p: &ProducerConfig) -> Result<(), Invalid> {
    let publish = p.publish();
    let needs_db = [
        p.db_latency.as_ref().map(toml::Spanned::span),
        p.db_failure.as_ref().map(toml::Spanned::span),
    ];
    if publish == Publish::Direct
        && let Some(span) = needs_db.into_iter().flatten().next()
    {
        return Err((
            Some(span),
            "`db_latency` and `db_failure` need `publish` = \"dual-write\", \"publish-first\" or \"outbox\"".into(),
        ));
    }
    let relay = [
        p.relay_interval.as_ref().map(toml::Spanned::span),
        p.relay_batch.as_ref().map(toml::Spanned::span),
        p.relay_instances.as_ref().map(toml::Spanned::span),
    ];
    if publish != Publish::Outbox
        && let Some(span) = relay.into_iter().flatten().next()
    {
        return Err((
            Some(span),
            "`relay_interval`, `relay_batch` and `relay_instances` need `publish` = \"outbox\""
                .into(),
        ));
    }
    if let Some(f) = &p.db_failure
        && !(0.0..1.0).contains(f.get_ref())
    {
        return Err((
            Some(f.span()),
            format!(
                "db_failure is a fraction from 0 up to (not including) 1, not {}",
                f.get_ref()
            ),
        ));
    }
    if let Some(i) = &p.relay_interval
        && i.get_ref().is_zero()
    {
        return Err((
            Some(i.span()),
            "relay_interval must be greater than zero".into(),
        ));
    }
    if let Some(b) = &p.relay_batch
        && *b.get_ref() == 0
    {
        return Err((
            Some(b.span()),
            "relay_batch must be greater than zero".into(),
        ));
    }
    if let Some(n) = &p.relay_instances
        && !(1..=MAX_RELAY_INSTANCES).contains(n.get_ref())
    {
        return Err((
            Some(n.span()),
            format!(
                "relay_instances is from 1 to {MAX_RELAY_INSTANCES}, not {}",
                n.get_ref()
            ),
        ));
    }
    Ok(())
}

/// More pollers than this only contend for the same rows.
const MAX_RELAY_INSTANCES: u32 = 1_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_names_parse_back_to_themselves() {
        for p in [
            Publish::Direct,
            Publish::DualWrite,
            Publish::PublishFirst,
            Publish::Outbox,
        ] {
            assert_eq!(Publish::parse(p.as_str()), Some(p));
        }
        assert_eq!(Publish::parse("two-phase"), None);
    }
}
