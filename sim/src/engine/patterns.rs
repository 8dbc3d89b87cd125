//! The patterns' registry: the engine's entry points into each pattern's handlers. A
//! pattern's file holds its state and its handlers as functions over the narrow
//! `PatternCtx` (`patterns/ctx.rs`); the thin `impl Engine` forwards here are the only
//! place a pattern meets the engine, so a new pattern is its file, its context accessors
//! and its forwards here, plus its event rows (`crate::event`) and result section
//! (`crate::summary::sections`).

mod ctx;
mod live;

pub(super) use ctx::{PatternCtx, PatternView};
pub use live::PatternRetained;

use super::Engine;
use super::pipeline::Role;
use super::saga::{self, SagaRunView};
use super::{outbox, protect, reqreply, resequence};
use crate::consumer::Work;
use crate::message::Msg;
use crate::summary::protection::ProtectionSummary;
use crate::summary::{Expectation, RequestReplySummary, SagaSummary, ServiceSummary};
use crate::time::{SimDuration, SimTime};

/// Poison-message protection and the circuit breaker (`protect.rs`).
impl Engine {
    #[inline(always)]
    fn pattern(&mut self) -> PatternCtx<'_> {
        PatternCtx::new(self)
    }

    #[inline(always)]
    fn pattern_view(&self) -> PatternView<'_> {
        PatternView::new(self)
    }

    /// A poison fault in `hang` mode made message `id` of producer `p`.
    pub(super) fn mark_hanging(&mut self, p: u32, id: u32) {
        protect::mark_hanging(self.pattern(), p, id);
    }

    /// Whether an outage of producer `p`'s message type is in force.
    #[cfg(test)]
    pub(super) fn outage_open(&self, p: usize) -> bool {
        protect::outage_open(self.pattern_view(), p)
    }

    /// An outage fault on producer `p` starts or ends.
    pub(super) fn set_outage(&mut self, p: usize, f: u32, on: bool) {
        protect::set_outage(self.pattern(), p, f, on);
    }

    /// When instance `i`'s attempt starting at `at` and taking `service` ends.
    pub(super) fn attempt_end(
        &mut self,
        i: u32,
        at: SimTime,
        service: SimDuration,
    ) -> Option<SimTime> {
        protect::attempt_end(self.pattern(), i, at, service)
    }

    /// Instance `i`'s attempt at `w` ended: whether it failed.
    pub(super) fn attempt_failed(&mut self, i: u32, w: &Work) -> bool {
        protect::attempt_failed(self.pattern(), i, w)
    }

    /// A freshly taken message is set aside by its type's breaker (true).
    pub(super) fn set_aside(&mut self, i: u32, w: &mut Work) -> bool {
        protect::set_aside(self.pattern(), i, w)
    }

    /// A retry is set aside by its type's breaker (true).
    pub(super) fn park_in_hand(&mut self, i: u32) -> bool {
        protect::park_in_hand(self.pattern(), i)
    }

    /// `BreakerCoolDown`.
    pub(super) fn on_cool_down(&mut self, g: u32, p: u32, generation: u32) {
        protect::on_cool_down(self.pattern(), g, p, generation);
    }

    /// Instance `i`'s exhausted message is quarantined (true).
    pub(super) fn quarantine(&mut self, i: u32, w: &Work) -> bool {
        protect::quarantine(self.pattern(), i, w)
    }

    /// A copy of producer `p`'s message was processed with this latency.
    #[inline]
    pub(super) fn record_type(&mut self, p: u16, latency_ns: u64) {
        protect::record_type(self.pattern(), p, latency_ns);
    }

    /// Parked messages, by group index.
    pub(super) fn parked(&self) -> impl Iterator<Item = (usize, &Msg)> {
        protect::parked(self.pattern_view())
    }

    /// The protection figures, when the scenario uses protection.
    pub(super) fn protection_summary(&self) -> Option<ProtectionSummary> {
        protect::protection_summary(self.pattern_view())
    }

    /// `quarantined` and `p99_latency_of` against what the run gave.
    pub(super) fn protection_expectations(&self) -> Vec<Expectation> {
        protect::protection_expectations(self.pattern_view())
    }

    /// Every breaker's state and parked count, for the dashboard's snapshot.
    pub(super) fn breaker_views(&self) -> Vec<crate::snapshot::BreakerView> {
        protect::breaker_views(self.pattern_view())
    }
}

/// Request-reply's requester side (`reqreply.rs`).
impl Engine {
    /// Producer `p` created message `id`: a request, if `p` is a requester.
    pub(super) fn request_sent(&mut self, p: u32, id: u32) {
        reqreply::request_sent(self.pattern(), p, id);
    }

    /// `ReplyTimeout`.
    pub(super) fn on_reply_timeout(&mut self, p: u32) {
        reqreply::on_reply_timeout(self.pattern(), p);
    }

    /// Whether message `id` (of its topic) is a request of requester `p`.
    pub(super) fn sent_request(&self, p: u32, id: u32) -> bool {
        reqreply::sent_request(self.pattern_view(), p, id)
    }

    /// Reply `msg` of group `g` is dropped because its requester is gone (true).
    pub(super) fn reply_dropped(&mut self, g: u32, msg: &Msg) -> bool {
        reqreply::reply_dropped(self.pattern(), g, msg)
    }

    /// A reply with correlation id `id` reaches requester `p`.
    pub(super) fn on_reply(&mut self, p: u32, id: u32) {
        reqreply::on_reply(self.pattern(), p, id);
    }

    /// Per requester figures for the summary (empty without requesters).
    pub(super) fn request_reply_summaries(&self) -> Vec<RequestReplySummary> {
        reqreply::request_reply_summaries(self.pattern_view())
    }
}

/// Orchestrated sagas (`saga.rs`, `saga/figures.rs`).
impl Engine {
    /// Schedules each saga's first start.
    pub(super) fn start_sagas(&mut self) {
        saga::start_sagas(self.pattern());
    }

    /// `SagaArrival`.
    pub(super) fn on_saga_arrival(&mut self, s: u32) {
        saga::on_saga_arrival(self.pattern(), s);
    }

    /// Saga `s`'s service of step `k` applied command message `id`.
    pub(super) fn saga_command_applied(&mut self, s: u32, k: u8, id: u32) {
        saga::saga_command_applied(self.pattern(), s, k, id);
    }

    /// Saga `s`'s orchestrator consumed `replier`'s reply to command message `command`.
    pub(super) fn saga_reply_applied(&mut self, s: u32, replier: u16, command: u32) {
        saga::saga_reply_applied(self.pattern(), s, replier, command);
    }

    /// `SagaTimeout`.
    pub(super) fn on_saga_timeout(&mut self, run: u32, attempt: u32) {
        saga::on_saga_timeout(self.pattern(), run, attempt);
    }

    /// Saga `s`'s orchestrator crashes.
    pub(super) fn crash_orchestrator(&mut self, s: usize) {
        saga::crash_orchestrator(self.pattern(), s);
    }

    /// Saga `s`'s orchestrator restarts.
    pub(super) fn restart_orchestrator(&mut self, s: usize) {
        saga::restart_orchestrator(self.pattern(), s);
    }

    /// Whether saga `s`'s orchestrator (`step` none) or its service of `step` is up.
    #[cfg(test)]
    pub(super) fn saga_part_up(&self, s: usize, step: Option<usize>) -> bool {
        saga::saga_part_up(self.pattern_view(), s, step)
    }

    /// Every saga kept, as the checker sees it (for tests and tools): every one started,
    /// unless the run folded final ones.
    #[must_use]
    pub fn saga_runs(&self) -> Vec<SagaRunView> {
        saga::saga_runs(self.pattern_view())
    }

    /// Per saga: its name and the runs in progress now, for the dashboard's snapshot.
    pub(super) fn sagas_in_progress(&self) -> Vec<(String, u64)> {
        saga::sagas_in_progress(self.pattern_view())
    }

    /// Per saga figures: the checker's classification of every saga.
    pub(super) fn saga_summaries(&self) -> Vec<SagaSummary> {
        saga::saga_summaries(self.pattern_view())
    }

    /// Crashes or restarts every instance of group `g`, with one rebalance (a saga's
    /// orchestrator going down or coming back takes its reply consumer with it).
    pub(super) fn set_group_up(&mut self, g: u32, up: bool) {
        self.rebalance_held = true;
        for i in self.groups[g as usize].instances() {
            if up {
                self.restart_instance(i);
            } else {
                self.crash_instance(i);
            }
        }
        self.release_rebalances();
    }
}

/// The outbox service and its relay (`outbox.rs`, `outbox/relay.rs`).
impl Engine {
    /// True when producer `p` is a service with a database (on every arrival: inlined).
    #[inline]
    pub(super) fn is_service(&self, p: u32) -> bool {
        outbox::is_service(self.pattern_view(), p)
    }

    /// A state change arrives at service `p`.
    pub(super) fn begin_transaction(&mut self, p: u32) {
        outbox::begin_transaction(self.pattern(), p);
    }

    /// `TxCommit`.
    pub(super) fn on_tx_commit(&mut self, p: u32, tx: u32) {
        outbox::on_tx_commit(self.pattern(), p, tx);
    }

    /// `TxReply`.
    pub(super) fn on_tx_reply(&mut self, p: u32, tx: u32) {
        outbox::on_tx_reply(self.pattern(), p, tx);
    }

    /// Service `p` crashes.
    pub(super) fn crash_service(&mut self, p: u32) {
        outbox::crash_service(self.pattern(), p);
    }

    /// Service `p` restarts.
    pub(super) fn restart_service(&mut self, p: u32) {
        outbox::restart_service(self.pattern(), p);
    }

    /// A fault crashes the relay of producer `p` alone (every poller, or poller `k`).
    pub(super) fn crash_relay(&mut self, p: u32, k: Option<u32>) {
        outbox::relay::crash_relay(self.pattern(), p, k);
    }

    /// The relay fault's window ends.
    pub(super) fn restart_relay(&mut self, p: u32, k: Option<u32>) {
        outbox::relay::restart_relay(self.pattern(), p, k);
    }

    /// Messages the services hold that the broker may not have, as (topic, id).
    pub(super) fn held_by_services(&self) -> Vec<(u32, u32)> {
        outbox::held_by_services(self.pattern_view())
    }

    /// Per service, for the summary.
    pub(super) fn service_summaries(&self) -> Vec<ServiceSummary> {
        outbox::service_summaries(self.pattern_view())
    }

    /// Events published for state changes never committed, over every service.
    pub(super) fn phantom_events(&self) -> u64 {
        outbox::phantom_events(self.pattern_view())
    }
}

/// A group's resequencer (`resequence.rs`; its state is `crate::resequencer`).
impl Engine {
    /// True when group `g`'s resequencer holds `msg`. Asked on every applied copy, so
    /// the test for a resequencer is made here, inline: `#[inline]` alone left the calls
    /// out of line, and a group without one paid about 54 instructions a copy for the two
    /// (food-delivery: 2% of its instructions).
    #[inline(always)]
    pub(super) fn resequence_holds(&mut self, g: u32, msg: Msg, wait: SimDuration) -> bool {
        self.groups[g as usize].reseq.is_some()
            && resequence::resequence_holds(self.pattern(), g, msg, wait)
    }

    /// `msg` was just applied by group `g` (on every applied copy; see `resequence_holds`).
    #[inline(always)]
    pub(super) fn resequence_applied(&mut self, g: u32, msg: Msg) {
        if self.groups[g as usize].reseq.is_some() {
            resequence::resequence_applied(self.pattern(), g, msg);
        }
    }

    /// Exactly-once: group `g`'s application of `m` was rolled back.
    pub(super) fn resequence_rolled_back(&mut self, g: u32, m: Msg) {
        resequence::resequence_rolled_back(self.pattern(), g, m);
    }

    /// Group `g`'s copy of `msg` will never be applied.
    pub(super) fn resequence_gone(&mut self, g: u32, msg: Msg) {
        resequence::resequence_gone(self.pattern(), g, msg);
    }

    /// Every copy of `msg` in topic `t` was dropped.
    pub(super) fn resequence_dropped(&mut self, t: u32, msg: Msg) {
        resequence::resequence_dropped(self.pattern(), t, msg);
    }

    /// `GapTimeout`.
    pub(super) fn on_gap_timeout(&mut self, g: u32) {
        resequence::on_gap_timeout(self.pattern(), g);
    }

    /// Gaps skipped by every group's resequencer.
    pub(super) fn gaps_skipped(&self) -> u64 {
        resequence::gaps_skipped(self.pattern_view())
    }
}

/// The roles' registry: where a group's applied message goes when it serves a pattern.
impl Engine {
    /// Group `g` applied `msg`: the pattern its role serves takes it.
    pub(super) fn role_applied(&mut self, g: u32, msg: &Msg) {
        let t = self.groups[g as usize].topic;
        match self.pipeline.role[g as usize] {
            Role::Plain => {}
            // The requester's consumer: the reply reaches the requester.
            Role::Requester(p) => {
                let request = self.pipeline.parent(t, msg.id);
                self.on_reply(p, request);
            }
            Role::SagaService(s, k) => self.saga_command_applied(s, k, msg.id),
            Role::Orchestrator(s) => {
                let command = self.pipeline.parent(t, msg.id);
                self.saga_reply_applied(s, msg.producer, command);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    /// The pattern files that act only through `PatternCtx`/`PatternView`.
    const CONVERTED: &[&str] = &["protect.rs", "reqreply.rs", "saga.rs", "saga/figures.rs"];

    /// A pattern reaches the engine only through its context: no converted pattern file
    /// names the engine (the context's own module and this registry may).
    #[test]
    fn pattern_files_never_name_the_engine() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/engine");
        for file in CONVERTED {
            let path = dir.join(file);
            let text = std::fs::read_to_string(&path).expect("a pattern file");
            assert!(
                !text.contains("Engine"),
                "{} names the engine",
                path.display()
            );
        }
    }
}
