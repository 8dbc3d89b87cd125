//! Random fault schedules for swarm testing: which components a scenario has, and a
//! schedule drawn over them as `[[fault]]` tables. Swarm mixes: each run enables a random
//! subset of the allowed kinds, so some runs are all crashes and others everything at once.

use mqlab_sim::Scenario;
use mqlab_sim::scenario::BrokerModel;
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use toml::{Table, Value};

/// Every fault kind `explore` draws, in the scenario file's spelling.
pub const KINDS: [&str; 7] = [
    "crash",
    "slow",
    "poison",
    "partition",
    "broker-crash",
    "latency-spike",
    "outage",
];

/// What a schedule can target.
pub struct Components {
    groups: Vec<(String, u32)>,
    producers: Vec<String>,
    nodes: u32,
    queue_like: bool,
    duration_ns: u64,
}

impl Components {
    pub fn of(s: &Scenario) -> Components {
        let model = *s.broker.model.get_ref();
        let models: Vec<BrokerModel> = s
            .topics
            .iter()
            .map(|t| t.model.as_ref().map_or(model, |m| *m.get_ref()))
            .collect();
        Components {
            groups: s
                .consumers
                .iter()
                .map(|c| (c.group.get_ref().clone(), *c.instances.get_ref()))
                .collect(),
            producers: s
                .producers
                .iter()
                .map(|p| p.name.get_ref().clone())
                .collect(),
            nodes: *s.broker.nodes.get_ref(),
            queue_like: models
                .iter()
                .any(|m| matches!(m, BrokerModel::Queue | BrokerModel::Exchange)),
            duration_ns: s.duration.0,
        }
    }

    /// The kinds this scenario's components can take.
    pub fn supported(&self) -> Vec<&'static str> {
        KINDS
            .into_iter()
            .filter(|k| match *k {
                "crash" | "partition" => !self.groups.is_empty() || !self.producers.is_empty(),
                "slow" => !self.groups.is_empty(),
                "poison" => !self.producers.is_empty() && !self.groups.is_empty(),
                // A log's replicas are on every node, every other topic on broker/0.
                "broker-crash" => true,
                "outage" => self.queue_like && !self.producers.is_empty(),
                _ => true,
            })
            .collect()
    }

    /// A schedule of one to eight faults over the kinds in `swarm`.
    pub fn draw(&self, rng: &mut ChaCha8Rng, swarm: &[&'static str]) -> Vec<Table> {
        let n = rng.random_range(1..=8usize);
        (0..n)
            .filter_map(|_| {
                let kind = swarm[rng.random_range(0..swarm.len())];
                self.fault(rng, kind)
            })
            .collect()
    }

    fn fault(&self, rng: &mut ChaCha8Rng, kind: &str) -> Option<Table> {
        let span = self.duration_ns.max(2);
        let at = rng.random_range(0..span);
        // Mostly short windows, some long, some never ending (a crash with no restart).
        let length = match rng.random_range(0..10u32) {
            0 => None,
            1..=6 => Some(rng.random_range(1..=(span / 10).max(1))),
            _ => Some(rng.random_range(1..=span)),
        };
        let mut t = Table::new();
        t.insert("at".into(), Value::String(format!("{at}ns")));
        t.insert("kind".into(), Value::String(kind.into()));
        let target = match kind {
            "crash" | "partition" => {
                let pick = rng.random_range(0..3u32);
                if pick == 0 && !self.producers.is_empty() || self.groups.is_empty() {
                    self.producer(rng)?
                } else if pick == 1 {
                    self.group(rng)?.0
                } else {
                    self.instance(rng)?
                }
            }
            "slow" => {
                t.insert(
                    "factor".into(),
                    Value::Float([2.0, 5.0, 20.0][rng.random_range(0..3usize)]),
                );
                self.instance(rng)?
            }
            "poison" => {
                t.insert(
                    "rate".into(),
                    Value::Float([0.001, 0.01, 0.1][rng.random_range(0..3usize)]),
                );
                self.producer(rng)?
            }
            "outage" => self.producer(rng)?,
            "broker-crash" => format!("broker/{}", rng.random_range(0..self.nodes.max(1))),
            _ => {
                t.insert(
                    "latency".into(),
                    Value::String(
                        ["exp(5ms)", "exp(50ms)", "200ms"][rng.random_range(0..3usize)].into(),
                    ),
                );
                "network".into()
            }
        };
        t.insert("target".into(), Value::String(target));
        let length = if kind == "poison" { None } else { length };
        if let Some(d) =
            length.or((kind == "latency-spike" || kind == "outage").then_some(span / 10))
        {
            t.insert("duration".into(), Value::String(format!("{}ns", d.max(1))));
        }
        Some(t)
    }

    fn producer(&self, rng: &mut ChaCha8Rng) -> Option<String> {
        (!self.producers.is_empty())
            .then(|| self.producers[rng.random_range(0..self.producers.len())].clone())
    }

    fn group(&self, rng: &mut ChaCha8Rng) -> Option<(String, u32)> {
        (!self.groups.is_empty())
            .then(|| self.groups[rng.random_range(0..self.groups.len())].clone())
    }

    fn instance(&self, rng: &mut ChaCha8Rng) -> Option<String> {
        let (g, n) = self.group(rng)?;
        Some(format!("{g}/{}", rng.random_range(0..n.max(1))))
    }
}
