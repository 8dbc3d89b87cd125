//! Tracing one message: the history of a single message id — its creation, every send,
//! where the broker put it, each delivery, processing and application, the commits, the
//! crashes, rebalances and broker faults that touched it, and how it ended.
//!
//! Off unless `Engine::trace` is called. The engine's hooks compare the message at hand
//! with `trace_key` (one compare of a `u64`, `UNTRACED` when nothing is traced) and call in
//! here only on a match, so an untraced run pays one predictable branch per hook, and a
//! traced one records only what touches the traced id. Recording never changes the run:
//! nothing here draws randomness, schedules an event or writes state the run reads. The
//! hooks themselves (one short function per thing that can happen) are in `trace/hooks.rs`
//! and `trace/faults.rs`.

use super::Engine;
use crate::ledger::Class;
use crate::time::SimTime;
use serde::{Deserialize, Serialize};

mod faults;
mod hooks;

/// `trace_key` when no message is traced: no (topic, id) pair packs to it.
pub(super) const UNTRACED: u64 = u64::MAX;

/// A (topic, message id) pair as one integer, so that a hook's test is a single compare.
pub(super) fn key(t: u32, id: u32) -> u64 {
    (u64::from(t) << 32) | u64::from(id)
}

/// Which message to follow: its id within its topic, and optionally the one consumer
/// group whose copy to follow (which also names the topic) or the topic itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TraceSpec {
    /// The message id (ids are per topic, dense, in creation order from 0).
    pub message: u32,
    /// Follow only this group's copy.
    pub group: Option<String>,
    /// The topic, when there are several and no group says which.
    pub topic: Option<String>,
}

/// Why a trace cannot be set up or read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TraceError {
    /// `--group` names no consumer group.
    #[error("no consumer group `{name}` in the scenario (its groups: {known})")]
    UnknownGroup {
        /// The name given.
        name: String,
        /// The scenario's groups.
        known: String,
    },
    /// `--topic` names no topic.
    #[error("no topic `{name}` in the scenario (its topics: {known})")]
    UnknownTopic {
        /// The name given.
        name: String,
        /// The scenario's topics.
        known: String,
    },
    /// Several topics, and nothing said which one the id is of.
    #[error(
        "message ids are per topic and the scenario has {count} topics ({known}): name the group (--group) or the topic (--topic)"
    )]
    Ambiguous {
        /// How many topics.
        count: usize,
        /// Their names.
        known: String,
    },
    /// `--group` and `--topic` disagree.
    #[error("group `{group}` consumes topic `{consumes}`, not `{topic}`")]
    Mismatch {
        /// The group.
        group: String,
        /// The topic it consumes.
        consumes: String,
        /// The topic given.
        topic: String,
    },
    /// The run never created a message with this id.
    #[error(
        "message {id} was never created: topic `{topic}` had {count} messages in this run (ids 0 to {last})"
    )]
    NeverCreated {
        /// The id asked for.
        id: u32,
        /// The topic.
        topic: String,
        /// Messages the topic had.
        count: usize,
        /// The highest id (or 0).
        last: usize,
    },
}

/// One step in a message's history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TraceEvent {
    /// Simulated time, in seconds.
    pub t_s: f64,
    /// Simulated time, exactly.
    #[serde(skip)]
    pub at: SimTime,
    /// Where it happened: `producer checkout`, `network`, `partition payments/2`,
    /// `queue billing`, `consumer charger/1`, `group charger`, `broker/0`.
    pub component: String,
    /// What happened, one word of a fixed set (`created`, `sent`, `appended`,
    /// `delivered`, `applied`, `crash`, `outcome`, …; the README lists them).
    pub event: String,
    /// The consumer group whose copy it concerns (none for the message as a whole).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// In words.
    pub detail: String,
}

/// What a traced run has recorded so far.
#[derive(Debug, Default)]
pub(super) struct Tracer {
    topic: u32,
    id: u32,
    /// Only this group's copy (events of other groups are not recorded).
    group: Option<u32>,
    events: Vec<TraceEvent>,
    /// Log entries of the message: (partition, offset), one per append.
    entries: Vec<(u32, u64)>,
    /// Followers that have copied an entry: (partition, replica).
    replicated: Vec<(u32, u32)>,
    /// Entries the high watermark has passed.
    committed_to_log: Vec<(u32, u64)>,
    /// Per group: applications so far (a rollback takes one back).
    applied: Vec<u32>,
    /// Per group: the instance that last took the copy.
    holder: Vec<Option<u32>>,
}

impl Engine {
    /// Follows one message through the run (call before running). Tracing records only
    /// what touches that message and never changes the run: the trace hash and the result
    /// are those of the untraced run.
    ///
    /// # Errors
    /// The group or topic names nothing, or several topics leave the id ambiguous.
    pub fn trace(&mut self, spec: &TraceSpec) -> Result<(), TraceError> {
        let names = |v: Vec<&str>| v.join(", ");
        let group = match &spec.group {
            Some(name) => Some(
                self.groups
                    .iter()
                    .position(|g| &g.name == name)
                    .ok_or_else(|| TraceError::UnknownGroup {
                        name: name.clone(),
                        known: names(self.groups.iter().map(|g| g.name.as_str()).collect()),
                    })? as u32,
            ),
            None => None,
        };
        let topic_names = || names(self.topics.iter().map(|t| t.name.as_str()).collect());
        let topic = match (&spec.topic, group) {
            (Some(name), _) => self
                .topics
                .iter()
                .position(|t| &t.name == name)
                .ok_or_else(|| TraceError::UnknownTopic {
                    name: name.clone(),
                    known: topic_names(),
                })? as u32,
            (None, Some(g)) => self.groups[g as usize].topic,
            (None, None) if self.topics.len() == 1 => 0,
            (None, None) => {
                return Err(TraceError::Ambiguous {
                    count: self.topics.len(),
                    known: topic_names(),
                });
            }
        };
        if let Some(g) = group
            && self.groups[g as usize].topic != topic
        {
            return Err(TraceError::Mismatch {
                group: self.groups[g as usize].name.clone(),
                consumes: self.topics[self.groups[g as usize].topic as usize]
                    .name
                    .clone(),
                topic: self.topics[topic as usize].name.clone(),
            });
        }
        self.trace_key = key(topic, spec.message);
        // The plain path leaves the trace hooks out.
        self.leave_plain();
        self.tracer = Some(Box::new(Tracer {
            topic,
            id: spec.message,
            group,
            applied: vec![0; self.groups.len()],
            holder: vec![None; self.groups.len()],
            ..Tracer::default()
        }));
        Ok(())
    }

    /// The traced message's history so far, in time order, ending (once the run is
    /// finished) with one `outcome` row per group: how the checker classed its copy.
    ///
    /// # Errors
    /// Nothing is traced, or the run never created the message.
    pub fn history(&self) -> Result<Vec<TraceEvent>, TraceError> {
        let Some(tr) = &self.tracer else {
            return Ok(Vec::new());
        };
        let topic = &self.topics[tr.topic as usize];
        if tr.id as usize >= topic.flags.len() {
            return Err(TraceError::NeverCreated {
                id: tr.id,
                topic: topic.name.clone(),
                count: topic.flags.len(),
                last: topic.flags.len().saturating_sub(1),
            });
        }
        let mut events = tr.events.clone();
        // Stable: same-time steps keep the order they happened in.
        events.sort_by_key(|e| e.at);
        if self.is_finished() {
            events.extend(self.outcomes(tr));
        }
        Ok(events)
    }

    /// How the checker classes each of the traced message's copies now.
    fn outcomes(&self, tr: &Tracer) -> Vec<TraceEvent> {
        let topic = &self.topics[tr.topic as usize];
        let id = tr.id;
        let mut out = Vec::new();
        for &g in &topic.groups {
            if tr.group.is_some_and(|want| want != g) {
                continue;
            }
            let group = &self.groups[g as usize];
            let ledger = &group.ledger;
            let detail = if id < ledger.base() {
                // Traced only after the run had folded it (a trace set up mid-run): final,
                // and counted, but its class is no longer kept per copy.
                "final (folded before the trace began): trace from the start for its class"
                    .to_string()
            } else if !ledger.addressed(id) {
                "no copy: the message was not routed to this group".to_string()
            } else {
                match ledger.class(id) {
                    Class::Processed(1) => "processed: applied once".to_string(),
                    Class::Processed(n) => format!(
                        "processed and DUPLICATED: applied {}",
                        if n >= 3 { "3 or more times" } else { "twice" }
                    ),
                    Class::DeadLettered => "dead-lettered".to_string(),
                    Class::Dropped => format!("dropped ({})", self.drop_reason(g, id)),
                    Class::Gone if self.copy_in_system(g, id) => {
                        "in flight: still in the system when the run ended".to_string()
                    }
                    Class::Gone
                        if topic.flags.accepted(id)
                            || topic.flags.acked(id)
                            || topic.flags.owed(id) =>
                    {
                        "LOST: the producer was told it was sent, and it was never processed, dead-lettered or dropped".to_string()
                    }
                    Class::Gone => "never reached the broker, and nobody was told it was sent"
                        .to_string(),
                }
            };
            out.push(TraceEvent {
                t_s: self.now.as_secs_f64(),
                at: self.now,
                component: format!("group {}", group.name),
                event: "outcome".into(),
                group: Some(group.name.clone()),
                detail,
            });
        }
        out
    }

    /// True when a message is traced (component events then look whether they touch it).
    #[inline]
    pub(super) fn tracing(&self) -> bool {
        self.trace_key != UNTRACED
    }

    /// Message `id` of topic `t` is the traced one.
    #[inline]
    pub(super) fn traced(&self, t: u32, id: u32) -> bool {
        // The id first: an untraced run then never reads whatever `t` was loaded from.
        self.trace_key as u32 == id && self.trace_key == key(t, id)
    }

    /// Message `id` of producer `p`'s topic is the traced one (the id is compared first,
    /// so an untraced run never reads the producer).
    #[inline]
    pub(super) fn traced_from(&self, p: u32, id: u32) -> bool {
        self.trace_key as u32 == id && self.traced(self.producers[p as usize].topic, id)
    }

    /// Group `g`'s copy of message `id` is the traced one.
    #[inline]
    pub(super) fn traced_copy(&self, g: u32, id: u32) -> bool {
        self.trace_key as u32 == id && self.traced(self.groups[g as usize].topic, id)
    }

    /// Records one step at `at`, unless it concerns a group the trace does not follow.
    fn record(
        &mut self,
        at: SimTime,
        component: String,
        event: &str,
        group: Option<u32>,
        detail: String,
    ) {
        let name = group.map(|g| self.groups[g as usize].name.clone());
        let Some(tr) = self.tracer.as_mut() else {
            return;
        };
        if let (Some(want), Some(g)) = (tr.group, group)
            && want != g
        {
            return;
        }
        tr.events.push(TraceEvent {
            t_s: at.as_secs_f64(),
            at,
            component,
            event: event.into(),
            group: name,
            detail,
        });
    }

    /// Records one step now.
    fn record_now(&mut self, component: String, event: &str, group: Option<u32>, detail: String) {
        self.record(self.now, component, event, group, detail);
    }

    fn tracer_mut(&mut self) -> &mut Tracer {
        self.tracer.as_mut().expect("tracing")
    }

    fn producer_name(&self, p: u32) -> String {
        format!("producer {}", self.producers[p as usize].name)
    }

    /// The component a topic's partition is in the trace; a queue, exchange or pub/sub
    /// topic has no partitions, and is named as the topic.
    fn partition_name(&self, t: u32, p: u32) -> String {
        let topic = &self.topics[t as usize];
        if topic.partitions.is_empty() {
            format!("topic {}", topic.name)
        } else {
            format!("partition {}/{p}", topic.name)
        }
    }

    fn consumer_name(&self, i: u32) -> String {
        let inst = &self.instances[i as usize];
        format!(
            "consumer {}/{}",
            self.groups[inst.group as usize].name, inst.local
        )
    }

    fn group_name(&self, g: u32) -> String {
        format!("group {}", self.groups[g as usize].name)
    }
}
