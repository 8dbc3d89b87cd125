//! The `[[saga]]` part of the scenario model: an orchestrated saga (an orchestrator that
//! drives steps on services in order and, when a step fails, compensates the completed
//! ones in reverse). Checks serde cannot do live in `check` below; the engine side lives
//! in `engine/saga.rs`.

use crate::dist::Dist;
use crate::time::SimDuration;
use serde::Deserialize;
use std::collections::BTreeSet;
use std::ops::Range;
use toml::Spanned;

/// Most steps a saga may have (the engine keeps a step set in one `u16`).
pub const MAX_STEPS: usize = 16;

fn yes() -> bool {
    true
}
fn one_second() -> SimDuration {
    SimDuration::from_secs(1)
}
fn one_ms() -> Dist {
    Dist::Const(SimDuration::from_millis(1))
}
fn no_failure() -> Spanned<f64> {
    Spanned::new(0..0, 0.0)
}

/// An orchestrated saga. Defaults: `step_timeout = "1s"`, `durable = true`,
/// `compensate = true`, no `max_attempts` (resend until answered).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SagaConfig {
    /// Unique name; fault targets use `saga/<name>` (the orchestrator) and
    /// `saga/<name>/<service>`.
    pub name: Spanned<String>,
    /// Sagas started per second, mean (Poisson), while producers produce.
    pub rate: Spanned<f64>,
    /// The orchestrator resends a command not answered within this.
    #[serde(default = "one_second", deserialize_with = "super::bounds::positive")]
    pub step_timeout: SimDuration,
    /// The orchestrator's state survives its crash (a saga log): in-progress sagas resume
    /// on restart. Without it they are forgotten.
    #[serde(default = "yes")]
    pub durable: bool,
    /// A failed step makes the orchestrator compensate the completed steps in reverse.
    /// Without it the saga is abandoned where it failed.
    #[serde(default = "yes")]
    pub compensate: bool,
    /// Sends of a step's command after which the orchestrator gives the step up as failed
    /// and compensates (the step itself first: it may have been applied). Unset: resend
    /// until answered. Compensations are always resent until answered.
    #[serde(default)]
    pub max_attempts: Option<Spanned<u32>>,
    /// The steps, in order.
    #[serde(default, rename = "step")]
    pub steps: Vec<SagaStep>,
}

/// One saga step, executed by one service. Defaults: `service_time = "1ms"`,
/// `failure = 0`, no `compensation` (only the last step may go without one).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SagaStep {
    /// The service that executes it (unique within the saga).
    pub service: Spanned<String>,
    /// How long the service takes to apply a command (or a compensation).
    #[serde(default = "one_ms")]
    pub service_time: Dist,
    /// Probability that the step's business outcome is a failure (nothing applied).
    #[serde(default = "no_failure")]
    pub failure: Spanned<f64>,
    /// What undoes the step (a label, e.g. "refund").
    #[serde(default)]
    pub compensation: Option<Spanned<String>>,
    /// The service's instances: how many commands it works on at once (default 1); the
    /// rest wait in its command queue.
    #[serde(default)]
    pub instances: Option<Spanned<u32>>,
}

type Invalid = (Option<Range<usize>>, String);

fn fail<T>(span: Range<usize>, message: String) -> Result<T, Invalid> {
    Err((Some(span), message))
}

/// Checks every saga: unique names, a positive rate, 1 to 16 steps with unique services,
/// failure probabilities in [0, 1], and a compensation on every step but the last.
pub(super) fn check(sagas: &[SagaConfig]) -> Result<(), Invalid> {
    let mut names = BTreeSet::new();
    for s in sagas {
        let name = s.name.get_ref();
        if !names.insert(name.as_str()) {
            return fail(s.name.span(), format!("saga `{name}` is defined twice"));
        }
        if name.is_empty() || name.contains('/') {
            return fail(
                s.name.span(),
                "a saga name is non-empty and cannot contain `/` (fault targets use it)".into(),
            );
        }
        let rate = *s.rate.get_ref();
        if !(rate.is_finite() && rate > 0.0) {
            return fail(
                s.rate.span(),
                format!("rate must be a positive number of sagas per second, not {rate}"),
            );
        }
        if s.step_timeout.is_zero() {
            return fail(
                s.name.span(),
                format!("saga `{name}`: step_timeout must be greater than zero"),
            );
        }
        if s.steps.is_empty() || s.steps.len() > MAX_STEPS {
            return fail(
                s.name.span(),
                format!(
                    "saga `{name}` needs 1 to {MAX_STEPS} `[[saga.step]]`, not {}",
                    s.steps.len()
                ),
            );
        }
        if let Some(m) = &s.max_attempts
            && *m.get_ref() == 0
        {
            return fail(m.span(), "max_attempts must be greater than zero".into());
        }
        steps(s)?;
    }
    Ok(())
}

fn steps(s: &SagaConfig) -> Result<(), Invalid> {
    let mut services = BTreeSet::new();
    let last = s.steps.len() - 1;
    for (i, step) in s.steps.iter().enumerate() {
        let service = step.service.get_ref();
        if !services.insert(service.as_str()) {
            return fail(
                step.service.span(),
                format!(
                    "service `{service}` appears twice in saga `{}`",
                    s.name.get_ref()
                ),
            );
        }
        if service.is_empty() || service.contains('/') {
            return fail(
                step.service.span(),
                "a service name is non-empty and cannot contain `/`".into(),
            );
        }
        let p = *step.failure.get_ref();
        if !(0.0..=1.0).contains(&p) {
            return fail(
                step.failure.span(),
                format!("failure is a probability between 0 and 1, not {p}"),
            );
        }
        if i < last && step.compensation.is_none() {
            return fail(
                step.service.span(),
                format!(
                    "step `{service}` needs a `compensation`: a later step's failure must be able to undo it (only the last step may go without)"
                ),
            );
        }
    }
    Ok(())
}

/// Resolves what follows `saga/` in a fault target: `<name>` is the orchestrator,
/// `<name>/<service>` one of its services.
pub(super) fn resolve(s: &super::Scenario, rest: &str) -> Option<super::Target> {
    let sagas = &s.sagas;
    let (name, service) = match rest.split_once('/') {
        Some((n, s)) => (n, Some(s)),
        None => (rest, None),
    };
    let si = sagas.iter().position(|s| s.name.get_ref() == name)?;
    let Some(service) = service else {
        return Some(super::Target::Orchestrator(si));
    };
    let k = sagas[si]
        .steps
        .iter()
        .position(|st| st.service.get_ref() == service)?;
    // In a run's scenario the service is a consumer group: its crash is the group's.
    let queue = command_queue(name, service);
    Some(
        s.consumers
            .iter()
            .position(|c| c.derived && *c.group.get_ref() == queue)
            .map_or(super::Target::SagaService(si, k), super::Target::Group),
    )
}

/// The command queue of saga `saga`'s service `service`, and the group that serves it.
#[must_use]
pub fn command_queue(saga: &str, service: &str) -> String {
    format!("{saga}.{service}")
}

/// Saga `saga`'s reply queue, and the orchestrator's group that consumes it.
#[must_use]
pub fn saga_replies(saga: &str) -> String {
    format!("{saga}.replies")
}

fn table<T: serde::de::DeserializeOwned>(t: &toml::Table) -> T {
    let text = toml::to_string(t).expect("a table serialises");
    toml::from_str(&text).expect("a derived part is valid")
}

fn queue(name: &str) -> super::TopicConfig {
    let mut t = toml::Table::new();
    t.insert("name".into(), name.into());
    let mut cfg: super::TopicConfig = table(&t);
    cfg.model = Some(Spanned::new(0..0, super::BrokerModel::Queue));
    cfg.derived = true;
    cfg
}

fn group(name: &str, instances: u32) -> super::ConsumerConfig {
    let mut g = toml::Table::new();
    g.insert("group".into(), name.into());
    g.insert("topic".into(), name.into());
    g.insert("instances".into(), i64::from(instances).into());
    g.insert("delivery".into(), "at-least-once".into());
    let mut cfg: super::ConsumerConfig = table(&g);
    cfg.derived = true;
    cfg
}

/// Adds every saga's queues and services (after `derive_reply_queues`, which drops earlier
/// derived parts): per step a command queue `SAGA.SERVICE` and a group of that name (the
/// service: its instances, its service time) publishing a reply per command to the
/// orchestrator's queue `SAGA.replies`, which the orchestrator consumes with a group of
/// that name. The orchestrator's own producers come later (`derive_saga_producers`).
pub(super) fn derive_saga_services(s: &mut super::Scenario) {
    let sagas = s.sagas.clone();
    for saga in &sagas {
        let name = saga.name.get_ref();
        let replies = saga_replies(name);
        s.topics.push(queue(&replies));
        for step in &saga.steps {
            let q = command_queue(name, step.service.get_ref());
            s.topics.push(queue(&q));
            let n = step.instances.as_ref().map_or(1, |i| *i.get_ref());
            let mut g = group(&q, n);
            g.service_time = step.service_time;
            let mut o = toml::Table::new();
            o.insert("topic".into(), replies.clone().into());
            g.outputs.push(table(&o));
            s.consumers.push(g);
        }
        let mut orchestrator = group(&replies, 1);
        orchestrator.service_time = crate::dist::Dist::ZERO;
        s.consumers.push(orchestrator);
    }
}

/// Appends the producers each orchestrator sends its commands with, one per step, named
/// `SAGA>SAGA.SERVICE` (after `derive_producers`, which drops them first).
pub(super) fn derive_saga_producers(s: &mut super::Scenario) {
    let sagas = s.sagas.clone();
    for saga in &sagas {
        for step in &saga.steps {
            let q = command_queue(saga.name.get_ref(), step.service.get_ref());
            let mut t = toml::Table::new();
            t.insert("name".into(), format!("{}>{q}", saga.name.get_ref()).into());
            t.insert("topic".into(), q.into());
            t.insert("rate".into(), 1.0.into());
            let mut p: super::ProducerConfig = table(&t);
            p.derived = true;
            s.producers.push(p);
        }
    }
}

/// A saga's queues must not clash with a topic or group of the file.
pub(super) fn check_names(s: &super::Scenario) -> Result<(), Invalid> {
    for saga in &s.sagas {
        let name = saga.name.get_ref();
        let mut names = vec![saga_replies(name)];
        names.extend(
            saga.steps
                .iter()
                .map(|st| command_queue(name, st.service.get_ref())),
        );
        for n in names {
            let clash = s
                .topics
                .iter()
                .any(|t| !t.derived && *t.name.get_ref() == n)
                || s.consumers
                    .iter()
                    .any(|c| !c.derived && *c.group.get_ref() == n);
            if clash {
                return fail(
                    saga.name.span(),
                    format!(
                        "saga `{name}` sends over a queue named `{n}`; a topic or group of \
                         that name already exists, rename it"
                    ),
                );
            }
        }
        for st in &saga.steps {
            if let Some(i) = &st.instances
                && !(1..=1000).contains(i.get_ref())
            {
                return fail(
                    i.span(),
                    format!("instances must be from 1 to 1000, not {}", i.get_ref()),
                );
            }
        }
    }
    Ok(())
}
