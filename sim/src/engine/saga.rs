//! Orchestrated sagas (`[[saga]]`): an orchestrator starts sagas at a Poisson rate and
//! drives each one's steps in order by sending commands to services over the network; a
//! failed step makes it compensate the completed steps in reverse. Commands, replies,
//! timeouts and resends are events; services apply each (saga, step) and each
//! compensation at most once and count the repeats they suppress. At the end every saga
//! is classified: completed, compensated, half-done or in progress.
//!
//! Sagas are not broker messages: nothing here touches the copy ledger, and a scenario
//! without `[[saga]]` allocates nothing and schedules nothing here.

use super::Engine;
use crate::event::Event;
use crate::metrics::{latency_of, new_histogram};
use crate::rng::{SimRng, StreamKind, stream};
use crate::scenario::SagaConfig;
use crate::snapshot::LogKind;
use crate::summary::SagaSummary;
use crate::time::{SimDuration, SimTime};
use hdrhistogram::Histogram;
use rand::RngExt;
use rand_distr::{Distribution, Exp1};

/// In an event's `step` byte: the command is the step's compensation.
const UNDO: u8 = 0x80;

/// Where the orchestrator is with one saga.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Waiting for the reply to step k's command.
    Forward(u8),
    /// Waiting for the reply to step k's compensation.
    Compensating(u8),
    /// Every step applied.
    Completed,
    /// Compensated back to the start.
    Compensated,
    /// A step failed and the orchestrator gave up without compensating.
    Abandoned,
    /// A non-durable orchestrator crashed and lost it.
    Forgotten,
}

impl State {
    fn active(self) -> bool {
        matches!(self, State::Forward(_) | State::Compensating(_))
    }
}

/// One saga: the orchestrator's view (`state`, `attempt`) and the services' truth
/// (`applied`, `failed`, `undone`: one bit per step).
#[derive(Clone, Copy, Debug)]
struct Run {
    def: u16,
    state: State,
    /// Sends of commands so far; a timeout for an older send is stale.
    attempt: u32,
    /// Sends of the command the saga waits on now.
    sends: u32,
    started: SimTime,
    /// Steps whose command a service applied (outcome decided).
    applied: u16,
    /// Of those, steps whose outcome was a failure (nothing to undo).
    failed: u16,
    /// Steps whose compensation a service applied.
    undone: u16,
    /// The order compensations were applied in: 4 bits per entry, first lowest.
    undo_order: u64,
}

/// How a saga ended, as the checker classifies it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SagaOutcome {
    /// Every step applied.
    Completed,
    /// No step's effect remains (every applied step compensated, or none applied).
    Compensated,
    /// A step's effect remains and nobody will finish the saga.
    HalfDone,
    /// The orchestrator still drives it.
    InProgress,
}

/// One saga as the checker sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SagaRunView {
    /// The saga's name.
    pub saga: String,
    /// Its class.
    pub outcome: SagaOutcome,
    /// Steps applied with a successful outcome, in step order.
    pub succeeded: Vec<u8>,
    /// Steps applied with a failed outcome (nothing to undo).
    pub failed: Vec<u8>,
    /// Steps compensated, in the order the services applied the compensations.
    pub compensated: Vec<u8>,
}

impl Run {
    fn outcome(&self) -> SagaOutcome {
        match self.state {
            State::Completed => SagaOutcome::Completed,
            State::Forward(_) | State::Compensating(_) => SagaOutcome::InProgress,
            // Nobody will finish it: what the services applied decides.
            _ if self.effective() != 0 => SagaOutcome::HalfDone,
            _ => SagaOutcome::Compensated,
        }
    }

    /// Steps whose effect remains: applied, not failed, not undone.
    fn effective(&self) -> u16 {
        self.applied & !self.failed & !self.undone
    }
}

/// One saga definition as it runs.
#[derive(Debug)]
struct SagaRt {
    cfg: SagaConfig,
    /// Starts only, so that the same sagas arrive whatever happens to them.
    arrivals: SimRng,
    /// Service times, step outcomes and the network.
    rng: SimRng,
    orchestrator_up: bool,
    services_up: Vec<bool>,
    /// Bumped at each service crash: work in progress then is aborted.
    service_epoch: Vec<u32>,
    started: u64,
    refused: u64,
    resends: u64,
    given_up: u64,
    late: u64,
    duplicates: u64,
    compensations: u64,
    out_of_order: u64,
    latency: Histogram<u64>,
}

/// Every saga of the run; empty without `[[saga]]`.
#[derive(Debug, Default)]
pub(super) struct Sagas {
    defs: Vec<SagaRt>,
    runs: Vec<Run>,
}

/// The sagas of a scenario, each with its own random stream.
pub(super) fn sagas(sc: &crate::scenario::Scenario, seed: u64) -> Sagas {
    let defs = sc
        .sagas
        .iter()
        .enumerate()
        .map(|(i, cfg)| SagaRt {
            cfg: cfg.clone(),
            arrivals: stream(seed, StreamKind::Saga, 2 * i as u32),
            rng: stream(seed, StreamKind::Saga, 2 * i as u32 + 1),
            orchestrator_up: true,
            services_up: vec![true; cfg.steps.len()],
            service_epoch: vec![0; cfg.steps.len()],
            started: 0,
            refused: 0,
            resends: 0,
            given_up: 0,
            late: 0,
            duplicates: 0,
            compensations: 0,
            out_of_order: 0,
            latency: new_histogram(),
        })
        .collect();
    Sagas {
        defs,
        runs: Vec::new(),
    }
}

impl SagaRt {
    /// Gap to the next saga start (Poisson arrivals).
    fn gap(&mut self) -> SimDuration {
        let x: f64 = Exp1.sample(&mut self.arrivals);
        SimDuration::from_secs_f64(x / *self.cfg.rate.get_ref())
    }
}

impl Engine {
    /// Schedules each saga's first start.
    pub(super) fn start_sagas(&mut self) {
        for s in 0..self.sagas.defs.len() {
            let at = SimTime::ZERO + self.sagas.defs[s].gap();
            if at < self.stop {
                self.queue.push(at, Event::SagaArrival { saga: s as u32 });
            }
        }
    }

    /// A saga arrives: the orchestrator starts it (or refuses it while down).
    pub(super) fn on_saga_arrival(&mut self, s: u32) {
        let def = &mut self.sagas.defs[s as usize];
        let next = self.now + def.gap();
        if next < self.stop {
            self.queue.push(next, Event::SagaArrival { saga: s });
        }
        if !def.orchestrator_up {
            def.refused += 1;
            return;
        }
        def.started += 1;
        let run = self.sagas.runs.len() as u32;
        self.sagas.runs.push(Run {
            def: s as u16,
            state: State::Forward(0),
            attempt: 0,
            sends: 0,
            started: self.now,
            applied: 0,
            failed: 0,
            undone: 0,
            undo_order: 0,
        });
        self.send_saga_command(run);
    }

    /// The orchestrator sends the command its saga waits on, and arms the timeout.
    fn send_saga_command(&mut self, run: u32) {
        let r = &mut self.sagas.runs[run as usize];
        let step = match r.state {
            State::Forward(k) => k,
            State::Compensating(k) => k | UNDO,
            _ => return,
        };
        r.attempt += 1;
        r.sends += 1;
        let attempt = r.attempt;
        let def = r.def as usize;
        let timeout = self.sagas.defs[def].cfg.step_timeout;
        self.queue
            .push(self.now + timeout, Event::SagaTimeout { run, attempt });
        if let Some(hop) = self.saga_hop(def) {
            self.queue
                .push(self.now + hop, Event::SagaCommand { run, step });
        }
    }

    /// One network hop for saga `def`: its latency, or none when the network loses it.
    fn saga_hop(&mut self, def: usize) -> Option<SimDuration> {
        let (latency, loss) = (self.latency, self.loss);
        let rng = &mut self.sagas.defs[def].rng;
        if loss > 0.0 && rng.random_bool(loss) {
            return None;
        }
        Some(super::hop_over(latency, rng))
    }

    /// A command reaches its service: dropped while the service is down, else served.
    pub(super) fn on_saga_command(&mut self, run: u32, step: u8) {
        let def_index = self.sagas.runs[run as usize].def as usize;
        let def = &mut self.sagas.defs[def_index];
        let k = usize::from(step & !UNDO);
        if !def.services_up[k] {
            return;
        }
        let epoch = def.service_epoch[k];
        let took = def.cfg.steps[k].service_time.sample(&mut def.rng);
        self.queue
            .push(self.now + took, Event::SagaWork { run, epoch, step });
    }

    /// A service finishes a command: applies it once (a repeat is suppressed and only
    /// answered), then replies over the network.
    pub(super) fn on_saga_work(&mut self, run: u32, epoch: u32, step: u8) {
        let r = self.sagas.runs[run as usize];
        let def = &mut self.sagas.defs[r.def as usize];
        let k = usize::from(step & !UNDO);
        if !def.services_up[k] || def.service_epoch[k] != epoch {
            return; // a crash aborted the work
        }
        let bit = 1u16 << k;
        let r = &mut self.sagas.runs[run as usize];
        if step & UNDO != 0 {
            if r.undone & bit != 0 {
                def.duplicates += 1;
            } else {
                // Reverse order: no later step's effect may remain when this one is undone.
                if r.effective() & !(bit | (bit - 1)) != 0 {
                    def.out_of_order += 1;
                }
                r.undo_order |= (k as u64) << (4 * r.undone.count_ones());
                r.undone |= bit;
                def.compensations += 1;
            }
        } else if r.applied & bit != 0 {
            def.duplicates += 1;
        } else if r.undone & bit != 0 {
            // Its compensation overtook it: the service keeps the compensation's record and
            // refuses the command, or the saga would end with the step applied.
            def.late += 1;
        } else {
            r.applied |= bit;
            let p = *def.cfg.steps[k].failure.get_ref();
            if p > 0.0 && def.rng.random_bool(p) {
                r.failed |= bit;
            }
        }
        let d = r.def as usize;
        if let Some(hop) = self.saga_hop(d) {
            self.queue
                .push(self.now + hop, Event::SagaReply { run, step });
        }
    }

    /// A reply reaches the orchestrator: it moves the saga on when it answers what the
    /// saga waits for (a stale or repeated reply changes nothing).
    pub(super) fn on_saga_reply(&mut self, run: u32, step: u8) {
        let r = self.sagas.runs[run as usize];
        let def = &self.sagas.defs[r.def as usize];
        if !def.orchestrator_up {
            return;
        }
        let k = step & !UNDO;
        let last = (def.cfg.steps.len() - 1) as u8;
        let next = match (r.state, step & UNDO != 0) {
            (State::Forward(w), false) if w == k => {
                if r.failed & (1 << k) == 0 {
                    if k == last {
                        State::Completed
                    } else {
                        State::Forward(k + 1)
                    }
                } else if !def.cfg.compensate {
                    State::Abandoned
                } else if k == 0 {
                    State::Compensated
                } else {
                    State::Compensating(k - 1)
                }
            }
            (State::Compensating(w), true) if w == k => {
                if k == 0 {
                    State::Compensated
                } else {
                    State::Compensating(k - 1)
                }
            }
            _ => return,
        };
        let r = &mut self.sagas.runs[run as usize];
        r.state = next;
        r.sends = 0;
        if next.active() {
            self.send_saga_command(run);
        } else if matches!(next, State::Completed | State::Compensated) {
            let took = self.now.since(r.started).0;
            self.sagas.defs[r.def as usize]
                .latency
                .saturating_record(took);
        }
    }

    /// The orchestrator's timer: resend when the saga still waits on that very send, or
    /// after `max_attempts` sends of a step give it up as failed. A step given up may have
    /// been applied, so its own compensation comes first.
    pub(super) fn on_saga_timeout(&mut self, run: u32, attempt: u32) {
        let r = self.sagas.runs[run as usize];
        let def = &mut self.sagas.defs[r.def as usize];
        if r.attempt != attempt || !r.state.active() || !def.orchestrator_up {
            return;
        }
        let limit = def.cfg.max_attempts.as_ref().map(|m| *m.get_ref());
        if let State::Forward(k) = r.state
            && limit.is_some_and(|m| r.sends >= m)
        {
            def.given_up += 1;
            let next = if def.cfg.compensate {
                State::Compensating(k)
            } else {
                State::Abandoned
            };
            let r = &mut self.sagas.runs[run as usize];
            r.state = next;
            r.sends = 0;
        } else {
            def.resends += 1;
        }
        self.send_saga_command(run);
    }

    /// The orchestrator crashes: without a durable log its in-progress sagas are gone.
    pub(super) fn crash_orchestrator(&mut self, s: usize) {
        let def = &mut self.sagas.defs[s];
        def.orchestrator_up = false;
        if def.cfg.durable {
            return;
        }
        let mut forgotten = 0;
        for r in self.sagas.runs.iter_mut().filter(|r| r.def as usize == s) {
            if r.state.active() {
                r.state = State::Forgotten;
                forgotten += 1;
            }
        }
        let name = self.sagas.defs[s].cfg.name.get_ref().clone();
        self.note(
            LogKind::Loss,
            format!("saga {name}: orchestrator forgets {forgotten} in-progress sagas"),
        );
    }

    /// The orchestrator restarts: a durable one recovers every in-progress saga from its
    /// log and resends the command each waits on.
    pub(super) fn restart_orchestrator(&mut self, s: usize) {
        self.sagas.defs[s].orchestrator_up = true;
        let active: Vec<u32> = (0..self.sagas.runs.len() as u32)
            .filter(|&i| {
                let r = &self.sagas.runs[i as usize];
                r.def as usize == s && r.state.active()
            })
            .collect();
        self.sagas.defs[s].resends += active.len() as u64;
        for &run in &active {
            self.send_saga_command(run);
        }
        let name = self.sagas.defs[s].cfg.name.get_ref().clone();
        self.note(
            LogKind::Restart,
            format!(
                "saga {name}: orchestrator recovers {} in-progress sagas from its log",
                active.len()
            ),
        );
    }

    /// Whether saga `s`'s orchestrator (`step` none) or its service of `step` is up.
    #[cfg(test)]
    pub(super) fn saga_part_up(&self, s: usize, step: Option<usize>) -> bool {
        let def = &self.sagas.defs[s];
        step.map_or(def.orchestrator_up, |k| def.services_up[k])
    }

    /// A service goes down (commands dropped, work in progress aborted) or comes back.
    /// Its record of what it applied is durable either way.
    pub(super) fn set_saga_service(&mut self, s: usize, step: usize, up: bool) {
        let def = &mut self.sagas.defs[s];
        def.services_up[step] = up;
        if !up {
            def.service_epoch[step] += 1;
        }
    }

    /// Every saga started so far, as the checker sees it (for tests and tools).
    #[must_use]
    pub fn saga_runs(&self) -> Vec<SagaRunView> {
        self.sagas
            .runs
            .iter()
            .map(|r| {
                let steps = |bits: u16| (0..16u8).filter(|k| bits & (1 << k) != 0).collect();
                SagaRunView {
                    saga: self.sagas.defs[r.def as usize].cfg.name.get_ref().clone(),
                    outcome: r.outcome(),
                    succeeded: steps(r.applied & !r.failed),
                    failed: steps(r.failed),
                    compensated: (0..r.undone.count_ones())
                        .map(|i| ((r.undo_order >> (4 * i)) & 0xf) as u8)
                        .collect(),
                }
            })
            .collect()
    }

    /// Per saga: its name and the runs in progress now, for the dashboard's snapshot.
    pub(super) fn sagas_in_progress(&self) -> Vec<(String, u64)> {
        let mut v: Vec<(String, u64)> = self
            .sagas
            .defs
            .iter()
            .map(|d| (d.cfg.name.get_ref().clone(), 0))
            .collect();
        for r in &self.sagas.runs {
            if r.outcome() == SagaOutcome::InProgress {
                v[r.def as usize].1 += 1;
            }
        }
        v
    }

    /// Per saga figures: the checker's classification of every saga.
    pub(super) fn saga_summaries(&self) -> Vec<SagaSummary> {
        let mut out: Vec<SagaSummary> = self
            .sagas
            .defs
            .iter()
            .map(|d| SagaSummary {
                name: d.cfg.name.get_ref().clone(),
                started: d.started,
                refused: d.refused,
                resends: d.resends,
                given_up: d.given_up,
                late_commands: d.late,
                duplicate_commands: d.duplicates,
                compensations: d.compensations,
                compensations_out_of_order: d.out_of_order,
                latency_s: latency_of(&d.latency),
                ..SagaSummary::default()
            })
            .collect();
        for r in &self.sagas.runs {
            let s = &mut out[r.def as usize];
            match r.outcome() {
                SagaOutcome::Completed => s.completed += 1,
                SagaOutcome::Compensated => s.compensated += 1,
                SagaOutcome::HalfDone => s.half_done += 1,
                SagaOutcome::InProgress => s.in_progress += 1,
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(applied: u16, failed: u16, undone: u16) -> Run {
        Run {
            def: 0,
            state: State::Forgotten,
            attempt: 0,
            sends: 0,
            started: SimTime::ZERO,
            applied,
            failed,
            undone,
            undo_order: 0,
        }
    }

    #[test]
    fn effect_remains_only_for_applied_successful_steps_not_undone() {
        assert_eq!(run(0b111, 0b100, 0b001).effective(), 0b010);
        assert_eq!(run(0b011, 0, 0b011).effective(), 0);
        assert_eq!(run(0, 0, 0).effective(), 0);
    }
}
