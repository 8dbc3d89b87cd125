//! The narrow context a pattern's handlers act through (the circuit breaker and poison
//! protection, request-reply's requester, sagas, the outbox service and its relay, the
//! resequencer). A pattern reads and changes its own state, the groups and instances it
//! guards, reads the clock, the producers' names and the faults' settings, schedules
//! events, and calls the few engine services listed here (start an instance, dispatch a
//! push group, unpark a topic, dead-letter or drop a copy, apply a copy, make and send
//! or publish a message, crash or restart a group, note in the log). Nothing else of the
//! engine is in reach: the engine itself is a private field of this module, so a pattern
//! file cannot name it.
//!
//! Like the broker models' `Ctx`, a `PatternCtx` is passed by value (one pointer) and
//! handed on with `re()`; every method is an inlined forward, so it costs nothing at run
//! time. `PatternView` is its read-only twin, for the summary and the dashboard.

use crate::consumer::{Group, Instance};
use crate::engine::Engine;
use crate::engine::outbox::Service;
use crate::engine::pipeline::Role;
use crate::engine::protect::Protection;
use crate::engine::reqreply::Requester;
use crate::engine::saga::Sagas;
use crate::event::Event;
use crate::ledger::MessageFlags;
use crate::message::Msg;
use crate::producer::InflightMap;
use crate::scenario::{Expect, FailMode};
use crate::snapshot::LogKind;
use crate::time::SimTime;

/// What a pattern's state-changing handlers may touch (see the module doc).
pub(in crate::engine) struct PatternCtx<'a> {
    e: &'a mut Engine,
}

/// What a pattern's read-only figures may read.
#[derive(Clone, Copy)]
pub(in crate::engine) struct PatternView<'a> {
    e: &'a Engine,
}

impl<'a> PatternCtx<'a> {
    /// The context over `e`; only the patterns' registry builds one.
    #[inline(always)]
    pub(super) fn new(e: &'a mut Engine) -> Self {
        PatternCtx { e }
    }

    /// The same context again, for a helper (the reborrow `&mut *` would be).
    #[inline(always)]
    pub fn re(&mut self) -> PatternCtx<'_> {
        PatternCtx { e: self.e }
    }

    /// The read-only view of the same engine.
    #[inline(always)]
    pub fn view(&self) -> PatternView<'_> {
        PatternView { e: self.e }
    }

    // The forwards every context shares (`engine/forwards.rs`).
    super::super::forwards::shared_forwards!();

    /// The services' databases and relays, by producer (empty when all are direct).
    #[inline(always)]
    pub fn services_mut(&mut self) -> &mut [Option<Service>] {
        &mut self.e.services
    }

    /// Service `p`, its client's requests in flight and its topic's message flags,
    /// borrowed apart (the relay checks acknowledgements while it changes the table).
    #[inline(always)]
    pub fn service_parts(&mut self, p: u32) -> (&mut Service, &InflightMap, &MessageFlags) {
        let prod = &self.e.producers[p as usize];
        let flags = &self.e.topics[prod.topic as usize].flags;
        let svc = self.e.services[p as usize].as_mut().expect("a service");
        (svc, &prod.inflight, flags)
    }

    /// Whether producer `p` is up (not crashed).
    #[inline(always)]
    pub fn producer_up(&self, p: u32) -> bool {
        self.e.producers[p as usize].up
    }

    /// Producer `p` makes a new message born at `born`: it and its partition.
    #[inline(always)]
    pub fn make_message(&mut self, p: u32, born: SimTime) -> (Msg, u32) {
        self.e.make_message(p, born)
    }

    /// Producer `p` sends `msg` to `partition` through the ordinary produce path.
    #[inline(always)]
    pub fn send_message(&mut self, p: u32, msg: Msg, partition: u32) {
        self.e.send_message(p, msg, partition);
    }

    /// Message `id` of producer `p` is owed to its topic: committed, so it must arrive.
    #[inline(always)]
    pub fn owe(&mut self, p: u32, id: u32) {
        let t = self.e.producers[p as usize].topic;
        self.e.topics[t as usize].flags.owe(id);
    }

    /// When the run ends (nothing is scheduled after it).
    #[inline(always)]
    pub fn end(&self) -> SimTime {
        self.e.end
    }

    /// When producers stop (nothing new starts after it).
    #[inline(always)]
    pub fn stop(&self) -> SimTime {
        self.e.stop
    }

    /// The sagas' state.
    #[inline(always)]
    pub fn sagas(&self) -> &Sagas {
        &self.e.sagas
    }

    /// The sagas' state, to change.
    #[inline(always)]
    pub fn sagas_mut(&mut self) -> &mut Sagas {
        &mut self.e.sagas
    }

    /// A new message of producer `p` (route `route`) enters the ledger: its id.
    #[inline(always)]
    pub fn register_message(&mut self, p: u32, route: u8) -> u32 {
        self.e.register_message(p, route)
    }

    /// Producer `p`'s first key (its keys start there).
    #[inline(always)]
    pub fn producer_key_base(&self, p: u32) -> u32 {
        self.e.producers[p as usize].key_base
    }

    /// Producer `p` publishes `msg` through the ordinary produce path.
    #[inline(always)]
    pub fn publish(&mut self, p: u32, msg: Msg) {
        self.e.publish(p, msg);
    }

    /// Crashes or restarts every instance of group `g`, with one rebalance.
    #[inline(always)]
    pub fn set_group_up(&mut self, g: u32, up: bool) {
        self.e.set_group_up(g, up);
    }

    /// Request-reply's state, by producer (empty without requesters).
    #[inline(always)]
    pub fn requesters_mut(&mut self) -> &mut [Option<Requester>] {
        &mut self.e.requesters
    }

    /// The pattern role of group `g`, if roles are in use.
    #[inline(always)]
    pub fn role(&self, g: u32) -> Option<Role> {
        self.e.pipeline.role.get(g as usize).copied()
    }

    /// Whether producer `p` is up and reachable (its connection holds).
    #[inline(always)]
    pub fn producer_connected(&self, p: u32) -> bool {
        let prod = &self.e.producers[p as usize];
        prod.up && prod.reachable
    }

    /// Poison protection's state.
    #[inline(always)]
    pub fn protection(&self) -> &Protection {
        &self.e.protection
    }

    /// Poison protection's state, to change.
    #[inline(always)]
    pub fn protection_mut(&mut self) -> &mut Protection {
        &mut self.e.protection
    }

    /// The groups subscribed to topic `t`, by engine index.
    #[inline(always)]
    pub fn topic_groups(&self, t: u32) -> &[u32] {
        &self.e.topics[t as usize].groups
    }

    /// Group `g` applies `msg` (its effect happens; a stage publishes its outputs).
    #[inline(always)]
    pub fn apply_copy(&mut self, g: u32, msg: Msg, wait: crate::time::SimDuration) {
        self.e.apply_copy(g, msg, wait);
    }

    /// A stage's input `id` was rolled back: its outputs are undone.
    #[inline(always)]
    pub fn stage_aborted(&mut self, g: u32, id: u32) {
        self.e.stage_aborted(g, id);
    }

    /// The name of producer `p` (a message type).
    #[inline(always)]
    pub fn producer_name(&self, p: usize) -> &str {
        &self.e.producers[p].name
    }

    /// The failure mode fault `f` sets (`fail` unless given).
    #[inline(always)]
    pub fn fault_mode(&self, f: u32) -> FailMode {
        self.e.faults[f as usize]
            .cfg
            .mode
            .as_ref()
            .map_or(FailMode::Fail, |m| *m.get_ref())
    }

    /// A push model hands group `g`'s ready messages to its consumers.
    #[inline(always)]
    pub fn model_dispatch(&mut self, g: u32) {
        self.e.model_dispatch(g);
    }

    /// Notes `text` in the run's log.
    #[inline(always)]
    pub fn note(&mut self, kind: LogKind, text: String) {
        self.e.note(kind, text);
    }
}

impl<'a> PatternView<'a> {
    /// The read-only view over `e`; only the patterns' registry builds one.
    #[inline(always)]
    pub(super) fn new(e: &'a Engine) -> Self {
        PatternView { e }
    }

    /// Poison protection's state.
    #[inline(always)]
    pub fn protection(self) -> &'a Protection {
        &self.e.protection
    }

    /// Request-reply's state, by producer (empty without requesters).
    #[inline(always)]
    pub fn requesters(self) -> &'a [Option<Requester>] {
        &self.e.requesters
    }

    /// The services' databases and relays, by producer (empty when all are direct).
    #[inline(always)]
    pub fn services(self) -> &'a [Option<Service>] {
        &self.e.services
    }

    /// The topic producer `p` publishes to.
    #[inline(always)]
    pub fn producer_topic(self, p: u32) -> u32 {
        self.e.producers[p as usize].topic
    }

    /// The sagas' state.
    #[inline(always)]
    pub fn sagas(self) -> &'a Sagas {
        &self.e.sagas
    }

    /// Whether instance `i` is up.
    #[cfg(test)]
    pub fn instance_up(self, i: u32) -> bool {
        self.e.instances[i as usize].up
    }

    /// The groups, by engine index.
    #[inline(always)]
    pub fn groups(self) -> &'a [Group] {
        &self.e.groups
    }

    /// The producers' names (the message types), by producer index.
    #[inline(always)]
    pub fn producer_names(self) -> impl Iterator<Item = &'a str> {
        self.e.producers.iter().map(|p| p.name.as_str())
    }

    /// The scenario's `[expect]` table.
    #[inline(always)]
    pub fn expect(self) -> &'a Expect {
        &self.e.scenario.expect
    }
}
