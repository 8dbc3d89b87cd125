//! The only source of randomness: one `ChaCha8Rng` stream per component, derived from the
//! scenario seed, the component's kind and its index, so that adding a consumer never
//! shifts a producer's draws.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The RNG every component draws from.
pub type SimRng = ChaCha8Rng;

/// Declares the stream kinds from one table: per row the kind's doc, name and number (part
/// of every stream number drawn under it, so a number, once given, never changes and
/// never repeats). A new component family is one row.
macro_rules! stream_kinds {
    ($($(#[$doc:meta])* $name:ident = $n:literal,)*) => {
        /// Which family of components a stream belongs to; part of the stream number.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[repr(u64)]
        pub enum StreamKind {
            $($(#[$doc])* $name = $n,)*
        }

        impl StreamKind {
            /// Every kind, in table order.
            pub const ALL: &'static [StreamKind] = &[$(StreamKind::$name),*];

            /// The kind's name (its row in the table).
            #[must_use]
            pub fn name(self) -> &'static str {
                match self {
                    $(StreamKind::$name => stringify!($name),)*
                }
            }
        }
    };
}

stream_kinds! {
    /// A producer's arrivals, keys and partition choices.
    Producer = 1,
    /// A consumer instance's service times.
    Consumer = 2,
    /// A network link's latency draws.
    Network = 3,
    /// A fault's own draws (which messages are poison).
    Fault = 4,
    /// A service's database: transaction times and failures (`producer.publish`).
    Service = 5,
    /// A saga's starts, service times, step outcomes and network draws.
    Saga = 6,
    /// A producer's payload sizes, positioned by message id (counter-based).
    Payload = 7,
    /// Claim-check store latencies: puts by producer, gets by consumer instance.
    ClaimStore = 8,
    /// The broker's spill storage (read latency).
    Storage = 9,
    /// An idempotent consumer's dedup store round trips, by consumer instance.
    Dedup = 10,
}

/// The stream for component `index` of `kind` under `seed`.
#[must_use]
pub fn stream(seed: u64, kind: StreamKind, index: u32) -> SimRng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(((kind as u64) << 32) | u64::from(index));
    rng
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    #[test]
    fn streams_differ_by_kind_index_and_seed() {
        let a = stream(1, StreamKind::Producer, 0).next_u64();
        assert_eq!(a, stream(1, StreamKind::Producer, 0).next_u64());
        assert_ne!(a, stream(1, StreamKind::Producer, 1).next_u64());
        assert_ne!(a, stream(1, StreamKind::Consumer, 0).next_u64());
        assert_ne!(a, stream(2, StreamKind::Producer, 0).next_u64());
    }

    #[test]
    fn every_stream_kind_has_its_own_number() {
        let mut numbers: Vec<u64> = StreamKind::ALL.iter().map(|&k| k as u64).collect();
        numbers.sort_unstable();
        numbers.dedup();
        assert_eq!(
            numbers.len(),
            StreamKind::ALL.len(),
            "a stream number is used twice"
        );
        // The number sits above the 32-bit component index and must leave room for it.
        assert!(numbers.iter().all(|&n| n > 0 && n < 1 << 32));
        let mut names: Vec<&str> = StreamKind::ALL.iter().map(|k| k.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), StreamKind::ALL.len());
    }
}
