//! mqlab-sim: the engine of mqlab, a deterministic discrete-event simulation lab for
//! message queues. A `Scenario` (TOML) describes producers, a broker, consumer groups and
//! faults; an `Engine` runs it from a seed and a `RunSummary` says what happened to every
//! message. Same scenario and seed, same run, bit for bit.
//!
//! ```text
//!  producer ──network──▶ broker ──▶ topic: partitions (log) │ queue per group (queue)
//!                                                   │
//!                       consumer group: instances ◀─┘  fetch → serve → commit/ack
//! ```
//!
//! ```
//! use mqlab_sim::{Engine, Scenario};
//! let toml = r#"
//!     name = "tiny"
//!     duration = "2s"
//!     [[topic]]
//!     name = "orders"
//!     [[producer]]
//!     name = "shop"
//!     topic = "orders"
//!     rate = 100
//!     [[consumer]]
//!     group = "billing"
//!     topic = "orders"
//!     service_time = "exp(2ms)"
//! "#;
//! let scenario = Scenario::from_toml(toml, "tiny.toml").unwrap();
//! let result = Engine::new(&scenario, 7).run();
//! assert!(result.conservation_ok);
//! assert_eq!(result.messages.lost, 0);
//! ```
#![warn(missing_docs)]

pub mod breaker;
pub mod consumer;
pub mod dedup;
pub mod dist;
pub mod engine;
pub mod error;
pub mod event;
pub mod exchange;
pub mod keys;
pub mod ledger;
pub mod log;
pub mod message;
pub mod metrics;
pub mod producer;
pub mod queue;
pub mod replication;
pub mod resequencer;
pub mod rng;
pub mod scenario;
pub mod section;
pub mod size;
pub mod snapshot;
pub mod summary;
pub mod time;

pub use engine::Engine;
pub use error::ScenarioError;
pub use scenario::{Delivery, Scenario};
pub use snapshot::Snapshot;
pub use summary::RunSummary;
pub use time::{SimDuration, SimTime};
