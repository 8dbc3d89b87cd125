//! `Msg`: what a partition or queue holds for one message, small and `Copy`, so that memory
//! per message in flight stays fixed and nothing is allocated per message.

use crate::time::SimTime;

/// One message as the broker stores it (32 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Msg {
    /// Index of the message within its topic (the ledger's index).
    pub id: u32,
    /// Global key index (producer's key base + key).
    pub key: u32,
    /// Position of the message among its key's messages, in production order.
    pub seq: u32,
    /// Producer index.
    pub producer: u16,
    /// Always fails processing.
    pub poison: bool,
    /// Exchange topics: index of the producer's routing key.
    pub route: u8,
    /// Intended send time: latency counts from here (no coordinated omission).
    pub born: SimTime,
    /// When the broker appended it.
    pub arrived: SimTime,
}
