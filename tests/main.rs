//! Workspace integration tests, built as one binary: they run the real engine on the real
//! scenario files, and the real `mqlab` binary for the command line.

mod bench;
mod breaker;
mod capacity;
mod claim_check;
mod cli;
mod compare;
mod delivery;
mod determinism;
mod explore;
mod fuzz;
mod idempotence;
mod invalid;
mod kafka;
mod network;
mod ordering;
mod outbox;
mod output;
mod overflow;
mod patterns;
mod performance;
mod producer;
mod properties;
mod reports;
mod request_reply;
mod saga;
mod scenarios;
mod support;
mod systems;
mod theory;
mod throughput;
mod tui;
