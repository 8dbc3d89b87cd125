//! What every real message carries so that its copies can be accounted: id, producer,
//! topic, key, per-key sequence, routing key index, poison flag, partition and intended
//! send time, in a fixed 28-byte header, padded to the scenario's payload size.

use crate::schedule::Send;

/// Bytes of the header; a payload smaller than this is sent at this size.
pub const HEADER: usize = 28;

/// The payload of `s`, `size` bytes long (at least the header).
#[must_use]
pub fn encode(s: &Send, size: u64) -> Vec<u8> {
    let mut b = Vec::with_capacity((size as usize).max(HEADER));
    b.extend_from_slice(&s.id.to_le_bytes());
    b.extend_from_slice(&s.key.to_le_bytes());
    b.extend_from_slice(&s.seq.to_le_bytes());
    b.extend_from_slice(&s.producer.to_le_bytes());
    b.extend_from_slice(&s.topic.to_le_bytes());
    b.push(s.route);
    b.push(u8::from(s.poison));
    b.extend_from_slice(&s.partition.to_le_bytes());
    b.extend_from_slice(&s.at_ns.to_le_bytes());
    b.resize((size as usize).max(HEADER), b'.');
    b
}

/// The header of a received payload; `None` when it is not one of ours.
#[must_use]
pub fn decode(b: &[u8]) -> Option<Send> {
    if b.len() < HEADER {
        return None;
    }
    let u32_at = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().expect("4 bytes"));
    let u16_at = |i: usize| u16::from_le_bytes(b[i..i + 2].try_into().expect("2 bytes"));
    Some(Send {
        id: u32_at(0),
        key: u32_at(4),
        seq: u32_at(8),
        producer: u16_at(12),
        topic: u16_at(14),
        route: b[16],
        poison: b[17] != 0,
        partition: u16_at(18),
        at_ns: u64::from_le_bytes(b[20..28].try_into().expect("8 bytes")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_pads_to_the_payload_size() {
        let s = Send {
            at_ns: 123_456_789_012,
            producer: 3,
            topic: 2,
            id: 77,
            key: 9,
            seq: 4,
            route: 5,
            partition: 6,
            poison: true,
        };
        let b = encode(&s, 256);
        assert_eq!(b.len(), 256);
        assert_eq!(decode(&b), Some(s));
        assert_eq!(encode(&s, 0).len(), HEADER);
        assert_eq!(decode(&b[..10]), None);
    }
}
