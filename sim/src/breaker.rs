//! The circuit breaker of one message type in one consumer group, as a pure state
//! machine: closed → open after `threshold` consecutive failures; open → half-open when
//! the engine says the cool-down ended; half-open admits one probe message, whose success
//! closes it and whose failure opens it again. It knows no time and no queue: the engine
//! schedules the cool-down and sets parked messages aside (`engine/protect.rs`).

use serde::{Deserialize, Serialize};

/// Where a breaker stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BreakerState {
    /// Messages of the type are processed; failures are counted.
    Closed,
    /// Messages of the type are set aside until the cool-down ends.
    Open,
    /// One probe message is processed; the rest wait for its outcome.
    HalfOpen,
}

impl BreakerState {
    /// The spelling used in reports and the event log.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half-open",
        }
    }
}

/// A change of state: (from, to).
pub type Transition = (BreakerState, BreakerState);

/// One message type's breaker.
#[derive(Clone, Debug)]
pub struct Breaker {
    threshold: u32,
    failures: u32,
    state: BreakerState,
    /// Half-open: the message admitted as the probe.
    probe: Option<u32>,
    /// Bumped at every transition, so that a stale timer is recognised.
    generation: u32,
}

impl Breaker {
    /// A closed breaker that opens after `threshold` consecutive failures.
    #[must_use]
    pub fn new(threshold: u32) -> Breaker {
        Breaker {
            threshold: threshold.max(1),
            failures: 0,
            state: BreakerState::Closed,
            probe: None,
            generation: 0,
        }
    }

    /// Counts transitions: a timer set in another generation is stale.
    #[must_use]
    pub fn generation(&self) -> u32 {
        self.generation
    }

    /// Half-open: the probe admitted, if any.
    #[must_use]
    pub fn probe(&self) -> Option<u32> {
        self.probe
    }

    /// Its state.
    #[must_use]
    pub fn state(&self) -> BreakerState {
        self.state
    }

    /// Whether message `id` may be processed now. Half-open, the first message asked
    /// about becomes the probe (and stays admitted, should it be asked about again).
    pub fn admits(&mut self, id: u32) -> bool {
        match self.state {
            BreakerState::Closed => true,
            BreakerState::Open => false,
            BreakerState::HalfOpen => match self.probe {
                None => {
                    self.probe = Some(id);
                    true
                }
                Some(p) => p == id,
            },
        }
    }

    /// An attempt at message `id` ended; returns the transition it caused. Outcomes of
    /// attempts that started before the breaker opened, or of non-probes, change nothing.
    pub fn record(&mut self, id: u32, ok: bool) -> Option<Transition> {
        match self.state {
            BreakerState::Closed if ok => {
                self.failures = 0;
                None
            }
            BreakerState::Closed => {
                self.failures += 1;
                (self.failures >= self.threshold).then(|| self.go(BreakerState::Open))
            }
            BreakerState::HalfOpen if self.probe == Some(id) => Some(self.go(if ok {
                BreakerState::Closed
            } else {
                BreakerState::Open
            })),
            _ => None,
        }
    }

    /// The cool-down ended: open → half-open.
    pub fn cool_down_ended(&mut self) -> Option<Transition> {
        (self.state == BreakerState::Open).then(|| self.go(BreakerState::HalfOpen))
    }

    /// The probe gave no answer within a cool-down (lost in a crash, or hanging): it
    /// counts as a failed probe, half-open → open.
    pub fn probe_lost(&mut self) -> Option<Transition> {
        (self.state == BreakerState::HalfOpen && self.probe.is_some())
            .then(|| self.go(BreakerState::Open))
    }

    fn go(&mut self, to: BreakerState) -> Transition {
        let from = self.state;
        self.state = to;
        self.failures = 0;
        self.probe = None;
        self.generation = self.generation.wrapping_add(1);
        (from, to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use BreakerState::{Closed, HalfOpen, Open};

    #[test]
    fn opens_after_exactly_n_consecutive_failures_and_not_after_n_minus_one() {
        let mut b = Breaker::new(5);
        for id in 0..4 {
            assert_eq!(b.record(id, false), None);
        }
        assert_eq!(b.state(), Closed);
        assert!(b.admits(99));
        assert_eq!(b.record(4, false), Some((Closed, Open)));
        assert!(!b.admits(5));
    }

    #[test]
    fn a_success_resets_the_count() {
        let mut b = Breaker::new(3);
        b.record(0, false);
        b.record(1, false);
        b.record(2, true);
        b.record(3, false);
        assert_eq!(
            b.record(4, false),
            None,
            "only two in a row since the success"
        );
        assert_eq!(b.record(5, false), Some((Closed, Open)));
    }

    #[test]
    fn half_open_admits_one_probe_whose_outcome_decides() {
        let mut b = Breaker::new(1);
        b.record(0, false);
        assert_eq!(b.cool_down_ended(), Some((Open, HalfOpen)));
        assert!(b.admits(7), "the first becomes the probe");
        assert!(!b.admits(8), "the others wait");
        assert!(b.admits(7), "the probe again (a retry) is still admitted");
        assert_eq!(b.record(8, true), None, "a non-probe decides nothing");
        assert_eq!(b.record(7, false), Some((HalfOpen, Open)));
        assert_eq!(b.cool_down_ended(), Some((Open, HalfOpen)));
        assert!(b.admits(8));
        assert_eq!(b.record(8, true), Some((HalfOpen, Closed)));
        assert!(b.admits(9));
    }

    #[test]
    fn a_probe_without_answer_reopens_and_stale_generations_show() {
        let mut b = Breaker::new(1);
        assert_eq!(b.probe_lost(), None, "closed: no probe to lose");
        b.record(0, false);
        let opened = b.generation();
        b.cool_down_ended();
        assert_ne!(b.generation(), opened);
        assert_eq!(b.probe_lost(), None, "no probe admitted yet");
        assert!(b.admits(3));
        assert_eq!(b.probe(), Some(3));
        assert_eq!(b.probe_lost(), Some((HalfOpen, Open)));
        assert_eq!(b.record(3, true), None, "its late answer changes nothing");
    }

    #[test]
    fn outcomes_while_open_change_nothing() {
        let mut b = Breaker::new(1);
        b.record(0, false);
        assert_eq!(b.record(1, true), None);
        assert_eq!(b.record(2, false), None);
        assert_eq!(b.state(), Open);
        assert_eq!(b.cool_down_ended(), Some((Open, HalfOpen)));
        assert_eq!(b.cool_down_ended(), None);
    }
}
