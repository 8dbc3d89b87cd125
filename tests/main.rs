//! Workspace integration tests (filled in as the engine lands).

mod tui;
