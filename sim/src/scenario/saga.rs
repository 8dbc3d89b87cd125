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
pub(super) fn resolve(sagas: &[SagaConfig], rest: &str) -> Option<super::Target> {
    let (name, service) = match rest.split_once('/') {
        Some((n, s)) => (n, Some(s)),
        None => (rest, None),
    };
    let si = sagas.iter().position(|s| s.name.get_ref() == name)?;
    let Some(service) = service else {
        return Some(super::Target::Orchestrator(si));
    };
    sagas[si]
        .steps
        .iter()
        .position(|st| st.service.get_ref() == service)
        .map(|k| super::Target::SagaService(si, k))
}
