//! Backpressure with high and low watermarks (`on_full = "block"`): a topic's producers
//! pause the moment a partition's backlog reaches `high_watermark` and resume only once
//! that backlog has fallen to `low_watermark`, rather than trickling one send in each time
//! one message leaves (the hysteresis that keeps a producer from flapping). Every pause is
//! recorded as a `PauseSpan` for the snapshot and the event log.

use super::Engine;
use crate::consumer::Store;
use crate::scenario::{BrokerModel, OnFull};
use crate::snapshot::{LogKind, PauseSpan};

impl Engine {
    /// Messages held in a partition (log: not yet committed by the slowest group) or in
    /// the fullest group's queue; what `capacity` and the watermarks bound.
    pub(super) fn backlog(&self, t: u32, partition: u32) -> u64 {
        let topic = &self.topics[t as usize];
        match topic.model {
            BrokerModel::Log => {
                topic.partitions[partition as usize].end - self.min_committed(t, partition)
            }
            // Redis never pushes back on a publisher; each subscriber's buffer decides.
            BrokerModel::Pubsub => 0,
            BrokerModel::Queue | BrokerModel::Exchange => topic
                .groups
                .iter()
                .map(|&g| match &self.groups[g as usize].store {
                    Store::Queue(q) => q.len(),
                    Store::Log(_) => 0,
                })
                .max()
                .unwrap_or(0),
        }
    }

    /// The backlog at which `on_full` applies.
    pub(super) fn limit(&self) -> u64 {
        self.broker.high_watermark.unwrap_or(self.broker.capacity)
    }

    /// True when producers pause and resume by watermarks (otherwise `block` releases a
    /// parked request as soon as there is room, as it always did).
    fn hysteresis(&self) -> bool {
        self.broker.on_full == OnFull::Block && self.broker.high_watermark.is_some()
    }

    /// True while the topic's producers are paused.
    pub(super) fn paused(&self, t: u32) -> bool {
        self.topics[t as usize].pause.is_some()
    }

    /// After a request for `partition` was appended or found it full: the producers pause
    /// once its backlog has reached the high watermark.
    pub(super) fn pause_if_high(&mut self, t: u32, partition: u32) {
        if !self.hysteresis() || self.paused(t) {
            return;
        }
        let backlog = self.backlog(t, partition);
        if backlog < self.limit() {
            return;
        }
        let topic = &mut self.topics[t as usize];
        topic.pause = Some((partition, self.pauses.len()));
        self.pauses.push(PauseSpan {
            topic: topic.name.clone(),
            partition,
            paused_at: self.now,
            paused_backlog: backlog,
            resumed_at: None,
            resumed_backlog: None,
        });
        let text = format!(
            "`{}`/{partition}: backlog {backlog} at the high watermark, producers paused",
            topic.name
        );
        self.note(LogKind::Backpressure, text);
    }

    /// Resumes the producers once the partition that paused them has fallen to the low
    /// watermark; true when the topic is not paused (any more).
    pub(super) fn resume_if_low(&mut self, t: u32) -> bool {
        let Some((partition, span)) = self.topics[t as usize].pause else {
            return true;
        };
        let backlog = self.backlog(t, partition);
        if backlog > self.broker.low_watermark {
            return false;
        }
        self.topics[t as usize].pause = None;
        let pause = &mut self.pauses[span];
        pause.resumed_at = Some(self.now);
        pause.resumed_backlog = Some(backlog);
        let text = format!(
            "`{}`/{partition}: backlog {backlog} at the low watermark, producers resumed",
            pause.topic
        );
        self.note(LogKind::Backpressure, text);
        true
    }
}
