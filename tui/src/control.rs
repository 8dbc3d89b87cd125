//! The messages between the UI thread and the engine worker: `Control` goes to the
//! worker, `AppEvent` comes back to the UI (from the worker and from the input reader),
//! plus the small values they carry (`Speed`, `FaultSpec`, `RecordedFault`, `Frame`).
//! Plain data only: no threads, no terminal, no clock.

use mqlab_sim::engine::TraceEvent;
use mqlab_sim::scenario::{FaultConfig, FaultKind};
use mqlab_sim::{Delivery, SimDuration, SimTime, Snapshot};
use ratatui::crossterm::event::{KeyEvent, MouseEvent};
use std::fmt::Write as _;

/// Simulated time one step (`.` or →) advances.
pub const STEP: SimDuration = SimDuration::from_millis(100);

/// How fast simulated time runs against the wall clock.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Speed {
    /// Simulated seconds per wall-clock second.
    Paced(f64),
    /// As fast as the engine goes (`m`).
    FlatOut,
}

/// The paced speeds `+` and `-` move between.
pub const SPEEDS: [f64; 17] = [
    0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0,
    1024.0,
];

impl Speed {
    /// The default: the producing period plays in about 15 wall-clock seconds (a 60 s
    /// scenario at ×4), snapped to the nearest step of `SPEEDS`.
    #[must_use]
    pub fn default_for(duration: SimDuration) -> Speed {
        let wanted = duration.as_secs_f64() / 15.0;
        let nearest = SPEEDS
            .iter()
            .copied()
            .min_by(|a, b| {
                let da = (a.ln() - wanted.max(0.01).ln()).abs();
                let db = (b.ln() - wanted.max(0.01).ln()).abs();
                da.total_cmp(&db)
            })
            .unwrap_or(1.0);
        Speed::Paced(nearest)
    }

    /// One step faster (`+`); flat out stays flat out.
    #[must_use]
    pub fn faster(self) -> Speed {
        match self {
            Speed::Paced(x) => Speed::Paced(SPEEDS.iter().copied().find(|&s| s > x).unwrap_or(x)),
            Speed::FlatOut => Speed::FlatOut,
        }
    }

    /// One step slower (`-`); from flat out, the fastest paced speed.
    #[must_use]
    pub fn slower(self) -> Speed {
        match self {
            Speed::Paced(x) => {
                Speed::Paced(SPEEDS.iter().copied().rev().find(|&s| s < x).unwrap_or(x))
            }
            Speed::FlatOut => Speed::Paced(SPEEDS[SPEEDS.len() - 1]),
        }
    }

    /// `×4`, `×0.5`, `max`.
    #[must_use]
    pub fn label(self) -> String {
        match self {
            Speed::Paced(x) => format!("×{x}"),
            Speed::FlatOut => "max".to_string(),
        }
    }
}

/// A fault chosen in the menu, before it has a time.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultSpec {
    /// crash, slow or poison.
    pub kind: FaultKind,
    /// `group/instance`, `group` or a producer.
    pub target: String,
    /// How long it lasts.
    pub duration: Option<SimDuration>,
    /// `slow`: the service-time multiplier.
    pub factor: Option<f64>,
    /// `poison`: how many of the producer's next messages are poison.
    pub count: Option<u64>,
}

impl FaultSpec {
    /// The scenario-file spelling of its kind.
    #[must_use]
    pub fn kind_str(&self) -> &'static str {
        self.kind.as_str()
    }

    /// A `[[fault]]` entry starting at `at`. Times are written as exact decimal seconds
    /// (`9.123s`, `0.000000001s` if need be) so the file is readable and still replays the
    /// exact instant; floats with `{:?}` so they parse back exactly.
    #[must_use]
    pub fn to_toml(&self, at: SimTime) -> String {
        let mut s = String::from("[[fault]]\n");
        let _ = writeln!(s, "at = \"{}\"", exact_secs(at.0));
        let _ = writeln!(s, "kind = \"{}\"", self.kind_str());
        let _ = writeln!(s, "target = {}", quote(&self.target));
        if let Some(d) = self.duration {
            let _ = writeln!(s, "duration = \"{}\"", exact_secs(d.0));
        }
        if let Some(f) = self.factor {
            let _ = writeln!(s, "factor = {f:?}");
        }
        if let Some(c) = self.count {
            let _ = writeln!(s, "count = {c}");
        }
        s
    }

    /// The fault as the engine takes it, parsed from exactly the text `to_toml` writes, so
    /// what runs live and what the exported file replays cannot differ.
    ///
    /// # Errors
    /// The text does not parse (a bug: the message says what was written).
    pub fn to_config(&self, at: SimTime) -> Result<FaultConfig, String> {
        let text = self.to_toml(at);
        let body = text.trim_start_matches("[[fault]]\n");
        toml::from_str(body).map_err(|e| format!("fault entry does not parse: {e}\n{text}"))
    }

    /// One line for the menu and the status bar: `crash payments/1 for 5s`.
    #[must_use]
    pub fn describe(&self) -> String {
        let mut s = format!("{} {}", self.kind_str(), self.target);
        if let Some(f) = self.factor {
            let _ = write!(s, " ×{f}");
        }
        if let Some(c) = self.count {
            let _ = write!(s, ": next {c} messages");
        }
        if let Some(d) = self.duration {
            let _ = write!(s, " for {d}");
        }
        s
    }
}

/// `nanos` as decimal seconds with every significant digit and no trailing zeros:
/// `9.123s`, `5s`, `0.000000001s`. The scenario parser reads these back to the same
/// nanosecond (ten significant digits are far inside an `f64`'s precision).
#[must_use]
pub fn exact_secs(nanos: u64) -> String {
    let (whole, frac) = (nanos / 1_000_000_000, nanos % 1_000_000_000);
    if frac == 0 {
        return format!("{whole}s");
    }
    let digits = format!("{frac:09}");
    format!("{whole}.{}s", digits.trim_end_matches('0'))
}

/// A TOML basic string (names are plain, but a quote or backslash must not break the file).
fn quote(s: &str) -> String {
    let mut q = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(q, "\\u{:04X}", u32::from(c));
            }
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

/// A fault injected by hand, with the simulated time the engine applied it at.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedFault {
    /// When it was applied.
    pub at: SimTime,
    /// What it was.
    pub spec: FaultSpec,
}

impl RecordedFault {
    /// Its `[[fault]]` entry.
    #[must_use]
    pub fn to_toml(&self) -> String {
        self.spec.to_toml(self.at)
    }
}

/// What a run (or a compare set of runs) starts from.
#[derive(Clone, Debug, PartialEq)]
pub struct RunSpec {
    /// The seed.
    pub seed: u64,
    /// One engine per entry: `None` keeps the scenario's own delivery variants.
    pub deliveries: Vec<Option<Delivery>>,
    /// Faults injected by hand earlier, replayed as scenario faults.
    pub replay: Vec<RecordedFault>,
    /// Run flat out to this time before handing control back (keeps your place when
    /// switching delivery or entering compare mode).
    pub until: Option<SimTime>,
}

/// One example copy of an anomaly, for the anomaly picker (`a`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Example {
    /// The consumer group.
    pub group: String,
    /// `lost`, `duplicated`, `out_of_order` or `dropped`.
    pub anomaly: &'static str,
    /// The group's count of that anomaly.
    pub count: u64,
    /// The message id.
    pub id: u32,
}

/// A message's history, or why there is none.
pub type History = Result<Vec<TraceEvent>, String>;

/// UI → worker.
#[derive(Clone, Debug, PartialEq)]
pub enum Control {
    /// Stop advancing simulated time.
    Pause,
    /// Advance again.
    Resume,
    /// Advance `STEP` of simulated time and report.
    Step,
    /// Change the pace.
    Speed(Speed),
    /// Inject a fault now.
    Inject(FaultSpec),
    /// Throw the engines away and start again.
    Restart(RunSpec),
    /// Report the example ids of every anomaly so far (`AppEvent::Examples`).
    Examples,
    /// Re-run the run so far in the background following one message
    /// (`AppEvent::Traced`).
    Trace(Example),
    /// Stop the worker.
    Quit,
}

/// One update from the worker: a snapshot per engine (one, or three in compare mode).
#[derive(Clone, Debug, PartialEq)]
pub struct Frame {
    /// Counts restarts, so the UI can drop frames of a run it already replaced.
    pub generation: u64,
    /// The engines' views, in `RunSpec::deliveries` order.
    pub snapshots: Vec<Snapshot>,
    /// Every fault of the run (the file's and those injected by hand) that has started,
    /// for the charts to mark; the same for every engine of a compare set.
    pub faults: Vec<FaultWindow>,
}

/// A fault's span on the time axis, as the charts mark it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultWindow {
    /// When it started.
    pub start: SimTime,
    /// When it ends (`None`: an instant, such as a poison burst or a replay).
    pub end: Option<SimTime>,
    /// `crash analytics`, `slow payments/0`.
    pub label: String,
}

impl FaultWindow {
    /// The windows of `faults` that have started by `now`, in start order.
    #[must_use]
    pub fn started(faults: &[FaultConfig], now: SimTime) -> Vec<FaultWindow> {
        let mut v: Vec<FaultWindow> = faults
            .iter()
            .map(|f| {
                let start = SimTime::ZERO + f.at;
                FaultWindow {
                    start,
                    end: f.duration.map(|d| start + d),
                    label: format!("{} {}", f.kind.get_ref().as_str(), f.target.get_ref()),
                }
            })
            .filter(|w| w.start <= now)
            .collect();
        v.sort_by_key(|w| w.start);
        v
    }
}

/// Everything the UI loop reacts to.
#[derive(Clone, Debug, PartialEq)]
pub enum AppEvent {
    /// A key press.
    Key(KeyEvent),
    /// A mouse event (wheel scrolls the event log).
    Mouse(MouseEvent),
    /// The terminal changed size.
    Resize(u16, u16),
    /// New engine state.
    Snapshot(Frame),
    /// The worker applied a hand-injected fault to run `generation`.
    Injected {
        /// The run it went into.
        generation: u64,
        /// The fault and its time.
        fault: RecordedFault,
    },
    /// The worker refused a control (bad fault target, engine error).
    Rejected(String),
    /// The example ids of run `generation`'s anomalies so far.
    Examples {
        /// The run they are of.
        generation: u64,
        /// Per group and anomaly, the first ids.
        examples: Vec<Example>,
    },
    /// The history of an example's message in run `generation`.
    Traced {
        /// The run it is of.
        generation: u64,
        /// Whose history.
        example: Example,
        /// The history, up to the run's current time.
        history: History,
    },
    /// Nothing happened for a while (lets the loop notice a dead worker).
    Tick,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_speed_plays_sixty_seconds_in_about_fifteen() {
        assert_eq!(
            Speed::default_for(SimDuration::from_secs(60)),
            Speed::Paced(4.0)
        );
        assert_eq!(
            Speed::default_for(SimDuration::from_secs(1)),
            Speed::Paced(0.05)
        );
    }

    #[test]
    fn speed_steps_up_and_down_the_ladder_and_out_of_flat_out() {
        assert_eq!(Speed::Paced(4.0).faster(), Speed::Paced(8.0));
        assert_eq!(Speed::Paced(4.0).slower(), Speed::Paced(2.0));
        assert_eq!(Speed::Paced(1024.0).faster(), Speed::Paced(1024.0));
        assert_eq!(Speed::Paced(0.01).slower(), Speed::Paced(0.01));
        assert_eq!(Speed::FlatOut.slower(), Speed::Paced(1024.0));
        assert_eq!(Speed::Paced(0.5).label(), "×0.5");
    }

    #[test]
    fn exported_times_are_readable_seconds_that_parse_back_to_the_nanosecond() {
        assert_eq!(exact_secs(9_123_000_000), "9.123s");
        assert_eq!(exact_secs(5_000_000_000), "5s");
        assert_eq!(exact_secs(0), "0s");
        assert_eq!(exact_secs(9_122_490_633), "9.122490633s");
        assert_eq!(exact_secs(1), "0.000000001s");
        // Every nanosecond count a session can reach (up to a day) parses back exactly.
        let mut n: u64 = 1;
        while n < 86_400_000_000_000 {
            for v in [n, n + 1, n * 7 + 3, n.saturating_sub(1)] {
                let back = mqlab_sim::time::parse_duration(&exact_secs(v)).unwrap();
                assert_eq!(back.0, v, "{}", exact_secs(v));
            }
            n = n * 3 + 17;
        }
    }

    #[test]
    fn fault_entries_round_trip_with_nanosecond_times() {
        let spec = FaultSpec {
            kind: FaultKind::Slow,
            target: "pay\"ments/0".into(),
            duration: Some(SimDuration::from_secs(10)),
            factor: Some(10.0),
            count: None,
        };
        let text = spec.to_toml(SimTime(12_345_678));
        assert!(text.contains("at = \"0.012345678s\""), "{text}");
        assert!(text.contains("duration = \"10s\""), "{text}");
        let cfg = spec.to_config(SimTime(12_345_678)).unwrap();
        assert_eq!(cfg.at, SimDuration(12_345_678));
        assert_eq!(cfg.target.get_ref(), "pay\"ments/0");
        assert_eq!(*cfg.kind.get_ref(), FaultKind::Slow);
        assert_eq!(cfg.duration, Some(SimDuration::from_secs(10)));
        assert_eq!(cfg.factor.map(|f| *f.get_ref()), Some(10.0));
        assert_eq!(spec.describe(), "slow pay\"ments/0 ×10 for 10s");
    }
}
