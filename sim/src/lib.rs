//! mqlab-sim: the engine.
#![warn(missing_docs)]
pub mod dist;
pub mod engine;
pub mod error;
pub mod rng;
pub mod scenario;
pub mod snapshot;
pub mod summary;
pub mod time;

pub use engine::Engine;
pub use error::ScenarioError;
pub use scenario::{Delivery, Scenario};
pub use snapshot::Snapshot;
pub use summary::RunSummary;
pub use time::{SimDuration, SimTime};
