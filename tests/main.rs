//! Workspace integration tests, built as one binary (filled in as the engine lands).

mod compare;
mod reports;
