//! What can go wrong before or while driving a real broker. A run that started and then
//! lost its broker is not an error: it returns a result marked `partial`.

use thiserror::Error;

/// Errors that stop a benchmark before it produces a result.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum BenchError {
    /// The broker URL is malformed.
    #[error("bad broker URL `{url}`: {why}")]
    Url {
        /// As given.
        url: String,
        /// What is wrong and what was expected.
        why: String,
    },
    /// A scenario key or value the real broker cannot play (or mqlab cannot yet drive).
    #[error("{file}: {key}: {why}")]
    Unmappable {
        /// Scenario file.
        file: String,
        /// The key, with its table (`consumer[1].resequence`) and line when known.
        key: String,
        /// Why, and what would work.
        why: String,
    },
    /// The server binary for `--spawn` is not installed.
    #[error("cannot spawn {what}: `{binary}` not found; install it with `{install}`")]
    NotInstalled {
        /// The broker.
        what: String,
        /// The binary looked for.
        binary: String,
        /// The command that installs it.
        install: String,
    },
    /// The spawned broker did not come up.
    #[error("spawned {what} did not start: {why}")]
    Spawn {
        /// The broker.
        what: String,
        /// What happened, with the end of its log when there is one.
        why: String,
    },
    /// Connecting or setting up failed before the workload started.
    #[error("{url}: {why}")]
    Connect {
        /// The broker URL.
        url: String,
        /// The client's error.
        why: String,
    },
    /// Anything else (I/O on the local machine).
    #[error("{0}")]
    Other(String),
}
