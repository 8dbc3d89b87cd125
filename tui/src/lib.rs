//! mqlab-tui: the live terminal dashboard.
//!
//! ```text
//!  input thread ──Key/Mouse/Resize──┐
//!                                   ▼
//!  engine worker ──Snapshot(Frame)──▶ AppEvent channel ──▶ App::handle_event ──▶ render
//!        ▲                                                      │
//!        └──────────── Control (Pause, Step, Speed, Inject, Restart, Quit) ◀──┘
//! ```
//!
//! The worker (`driver`) owns the engines and drives them through the engine's public
//! `run_until`/`snapshot`/`inject_fault`, paced to the wall clock. The UI (`app`) is a
//! pure state machine over `AppEvent`s; panels (`panels/`) are pure functions of a
//! `Snapshot`. The crate never sets up or restores the terminal, never reads the
//! environment and never writes files: the `mqlab` binary does those.

pub mod app;
pub mod control;
pub mod driver;
pub mod event_loop;
pub mod export;
pub mod fmt;
pub mod layout;
pub mod panels;
mod render;
pub mod theme;

#[cfg(test)]
mod fixture;

pub use app::App;
pub use control::{
    AppEvent, Control, Example, FaultSpec, FaultWindow, Frame, History, RecordedFault, RunSpec,
    Speed,
};
pub use driver::Driver;
pub use event_loop::RunError;
pub use theme::Theme;

/// The ratatui (and through it crossterm) this crate draws with, for the binary's
/// terminal setup: one version of each, whatever else the workspace depends on.
pub use ratatui;
