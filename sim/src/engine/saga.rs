//! Orchestrated sagas (`[[saga]]`): an orchestrator starts sagas at a Poisson rate and
//! drives each one's steps in order by publishing commands to each step's command queue;
//! a failed step makes it compensate the completed steps in reverse. The services are
//! consumer groups over those queues (`scenario::derive_saga_services`: instances,
//! service time, queueing, crashes and redelivery are the broker's), each publishing a
//! reply per command to the orchestrator's reply queue, which the orchestrator consumes
//! with a group of its own. Commands and replies are messages in the ledger. Here is what
//! the pattern adds: which command a message is, the services' record of what they
//! applied (each (saga, step) and each compensation at most once; it survives a crash),
//! the orchestrator's state, its timeouts and resends. At the end every saga is
//! classified: completed, compensated, half-done or in progress.
//!
//! A scenario without `[[saga]]` allocates nothing and schedules nothing here.

mod figures;
mod kept;
pub(super) use figures::{saga_runs, saga_summaries, sagas_in_progress};
pub(super) use kept::{forget_commands, saga_resident};

use super::patterns::PatternCtx;
use crate::event::Event;
use crate::message::Msg;
use crate::metrics::new_histogram;
use crate::rng::{SimRng, StreamKind, stream};
use crate::scenario::{SagaConfig, command_queue, producer_name, saga_replies};
use crate::snapshot::LogKind;
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
    /// Its commands whose record is kept (`kept.rs`).
    kept: u32,
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
    /// Step outcomes.
    rng: SimRng,
    orchestrator_up: bool,
    /// By step: the producer the orchestrator sends its commands with.
    senders: Vec<u32>,
    /// By step: the producer the step's service replies with.
    repliers: Vec<u32>,
    /// The orchestrator's group (consuming its reply queue).
    group: u32,
    /// By step, by command message id: (saga run, whether it is the compensation).
    commands: Vec<kept::Commands>,
    /// Runs forgotten once final: (completed, compensated, half-done).
    folded: [u64; 3],
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
    runs: kept::Runs,
}

/// The sagas of a scenario, each with its own random stream.
pub(super) fn sagas(sc: &crate::scenario::Scenario, seed: u64) -> Sagas {
    let producer = |name: &str| {
        sc.producers
            .iter()
            .position(|p| p.name.get_ref() == name)
            .expect("a derived producer") as u32
    };
    let defs = sc
        .sagas
        .iter()
        .enumerate()
        .map(|(i, cfg)| {
            let name = cfg.name.get_ref();
            let replies = saga_replies(name);
            let queues: Vec<String> = cfg
                .steps
                .iter()
                .map(|st| command_queue(name, st.service.get_ref()))
                .collect();
            (i, cfg, replies, queues)
        })
        .map(|(i, cfg, replies, queues)| SagaRt {
            cfg: cfg.clone(),
            arrivals: stream(seed, StreamKind::Saga, 2 * i as u32),
            rng: stream(seed, StreamKind::Saga, 2 * i as u32 + 1),
            orchestrator_up: true,
            senders: queues
                .iter()
                .map(|q| producer(&format!("{}>{q}", cfg.name.get_ref())))
                .collect(),
            repliers: queues
                .iter()
                .map(|q| producer(&producer_name(q, &replies)))
                .collect(),
            group: sc
                .consumers
                .iter()
                .position(|c| *c.group.get_ref() == replies)
                .expect("the orchestrator's group") as u32,
            commands: vec![kept::Commands::default(); queues.len()],
            folded: [0; 3],
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
        runs: kept::Runs::default(),
    }
}

impl SagaRt {
    /// Gap to the next saga start (Poisson arrivals).
    fn gap(&mut self) -> SimDuration {
        let x: f64 = Exp1.sample(&mut self.arrivals);
        SimDuration::from_secs_f64(x / *self.cfg.rate.get_ref())
    }
}

/// Schedules each saga's first start.
pub(super) fn start_sagas(mut c: PatternCtx) {
    for s in 0..c.sagas().defs.len() {
        let at = SimTime::ZERO + c.sagas_mut().defs[s].gap();
        if at < c.stop() {
            c.schedule(at, Event::SagaArrival { saga: s as u32 });
        }
    }
}

/// A saga arrives: the orchestrator starts it (or refuses it while down).
pub(super) fn on_saga_arrival(mut c: PatternCtx, s: u32) {
    let (now, stop) = (c.now(), c.stop());
    let def = &mut c.sagas_mut().defs[s as usize];
    let next = now + def.gap();
    let up = def.orchestrator_up;
    if !up {
        def.refused += 1;
    } else {
        def.started += 1;
    }
    if next < stop {
        c.schedule(next, Event::SagaArrival { saga: s });
    }
    if !up {
        return;
    }
    let sagas = c.sagas_mut();
    let run = sagas.runs.next();
    sagas.runs.push(Run {
        def: s as u16,
        state: State::Forward(0),
        attempt: 0,
        sends: 0,
        started: now,
        applied: 0,
        failed: 0,
        undone: 0,
        undo_order: 0,
        kept: 0,
    });
    send_saga_command(c, run);
}

/// The orchestrator sends the command its saga waits on, and arms the timeout.
fn send_saga_command(mut c: PatternCtx, run: u32) {
    let now = c.now();
    let sagas = c.sagas_mut();
    let r = &mut sagas.runs[run as usize];
    let step = match r.state {
        State::Forward(k) => k,
        State::Compensating(k) => k | UNDO,
        _ => return,
    };
    r.attempt += 1;
    r.sends += 1;
    let attempt = r.attempt;
    let def = r.def as usize;
    let timeout = sagas.defs[def].cfg.step_timeout;
    c.schedule(now + timeout, Event::SagaTimeout { run, attempt });
    publish_command(c, def, run, step);
}

/// Publishes saga `run`'s command `step` to the step's command queue: a new message
/// each send (a resend is a second message the service must recognise).
fn publish_command(mut c: PatternCtx, def: usize, run: u32, step: u8) {
    let k = usize::from(step & !UNDO);
    let p = c.sagas().defs[def].senders[k];
    let id = c.register_message(p, 0);
    let sagas = c.sagas_mut();
    sagas.defs[def].commands[k].push(id, (run, step & UNDO != 0));
    sagas.runs[run as usize].kept += 1;
    let now = c.now();
    let msg = Msg {
        id,
        key: c.producer_key_base(p),
        seq: 0,
        producer: p as u16,
        poison: false,
        route: 0,
        born: now,
        arrived: now,
    };
    c.publish(p, msg);
}

/// Saga `s`'s service of step `k` applied command message `id`: it applies the
/// command once (a repeat is suppressed and only answered; its service output
/// publishes the reply either way).
pub(super) fn saga_command_applied(mut c: PatternCtx, s: u32, k: u8, id: u32) {
    let Sagas { defs, runs } = c.sagas_mut();
    let def = &mut defs[s as usize];
    let (run, undo) = def.commands[usize::from(k)][id as usize];
    let k = usize::from(k);
    let bit = 1u16 << k;
    let r = &mut runs[run as usize];
    if undo {
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
}

/// Saga `s`'s orchestrator consumed a reply that `replier` published for command
/// message `command`.
pub(super) fn saga_reply_applied(c: PatternCtx, s: u32, replier: u16, command: u32) {
    let def = &c.sagas().defs[s as usize];
    let k = def
        .repliers
        .iter()
        .position(|&p| p == u32::from(replier))
        .expect("a step's reply");
    let (run, undo) = def.commands[k][command as usize];
    let step = k as u8 | if undo { UNDO } else { 0 };
    on_saga_reply(c, run, step);
}

/// A reply reaches the orchestrator: it moves the saga on when it answers what the
/// saga waits for (a stale or repeated reply changes nothing).
fn on_saga_reply(mut c: PatternCtx, run: u32, step: u8) {
    let now = c.now();
    let sagas = c.sagas_mut();
    let r = sagas.runs[run as usize];
    let def = &sagas.defs[r.def as usize];
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
    let r = &mut sagas.runs[run as usize];
    r.state = next;
    r.sends = 0;
    if next.active() {
        send_saga_command(c, run);
    } else if matches!(next, State::Completed | State::Compensated) {
        let took = now.since(r.started).0;
        let d = r.def as usize;
        sagas.defs[d].latency.saturating_record(took);
    }
}

/// The orchestrator's timer: resend when the saga still waits on that very send, or
/// after `max_attempts` sends of a step give it up as failed. A step given up may have
/// been applied, so its own compensation comes first.
pub(super) fn on_saga_timeout(mut c: PatternCtx, run: u32, attempt: u32) {
    let Sagas { defs, runs } = c.sagas_mut();
    // A final run is forgotten: its timer is stale.
    let Some(&r) = runs.get(run) else {
        return;
    };
    let def = &mut defs[r.def as usize];
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
        let r = &mut runs[run as usize];
        r.state = next;
        r.sends = 0;
    } else {
        def.resends += 1;
    }
    send_saga_command(c, run);
}

/// The orchestrator crashes: without a durable log its in-progress sagas are gone.
pub(super) fn crash_orchestrator(mut c: PatternCtx, s: usize) {
    let def = &mut c.sagas_mut().defs[s];
    def.orchestrator_up = false;
    // Its reply consumer goes with it: replies wait in the queue (or in hand, for
    // redelivery) until it is back.
    let (g, durable) = (def.group, def.cfg.durable);
    c.set_group_up(g, false);
    if durable {
        return;
    }
    let mut forgotten = 0;
    for r in c
        .sagas_mut()
        .runs
        .iter_mut()
        .filter(|r| r.def as usize == s)
    {
        if r.state.active() {
            r.state = State::Forgotten;
            forgotten += 1;
        }
    }
    let name = c.sagas().defs[s].cfg.name.get_ref().clone();
    c.note(
        LogKind::Loss,
        format!("saga {name}: orchestrator forgets {forgotten} in-progress sagas"),
    );
}

/// The orchestrator restarts: a durable one recovers every in-progress saga from its
/// log and resends the command each waits on.
pub(super) fn restart_orchestrator(mut c: PatternCtx, s: usize) {
    c.sagas_mut().defs[s].orchestrator_up = true;
    let g = c.sagas().defs[s].group;
    c.set_group_up(g, true);
    let runs = &c.sagas().runs;
    let active: Vec<u32> = runs
        .ids()
        .filter(|&i| {
            let r = &runs[i as usize];
            r.def as usize == s && r.state.active()
        })
        .collect();
    c.sagas_mut().defs[s].resends += active.len() as u64;
    for &run in &active {
        send_saga_command(c.re(), run);
    }
    let name = c.sagas().defs[s].cfg.name.get_ref().clone();
    c.note(
        LogKind::Restart,
        format!(
            "saga {name}: orchestrator recovers {} in-progress sagas from its log",
            active.len()
        ),
    );
}

/// Whether saga `s`'s orchestrator is up (`step` none) or its service of `step` has
/// an instance up.
#[cfg(test)]
pub(super) fn saga_part_up(v: super::patterns::PatternView, s: usize, step: Option<usize>) -> bool {
    let def = &v.sagas().defs[s];
    let Some(k) = step else {
        return def.orchestrator_up;
    };
    let queue = command_queue(def.cfg.name.get_ref(), def.cfg.steps[k].service.get_ref());
    let g = v
        .groups()
        .iter()
        .position(|g| g.name == queue)
        .expect("a service");
    v.groups()[g].instances().any(|i| v.instance_up(i))
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
            kept: 0,
        }
    }

    #[test]
    fn effect_remains_only_for_applied_successful_steps_not_undone() {
        assert_eq!(run(0b111, 0b100, 0b001).effective(), 0b010);
        assert_eq!(run(0b011, 0, 0b011).effective(), 0);
        assert_eq!(run(0, 0, 0).effective(), 0);
    }
}
