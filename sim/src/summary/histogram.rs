//! The wire form of a run's latency histogram: HdrHistogram's standard compressed V2
//! encoding ("V2 deflate"), in base64 — the form HdrHistogram's interval logs and its Java,
//! Python, Go and Rust decoders read. A run's ~10,000 `[value_ns, count]` pairs took most of
//! a compare result (3 × 64 runs came to about 25 MB); the encoding is a few KB a run.
//!
//! In memory the histogram stays the list of nonzero buckets (`[value_ns, count]`, each
//! value its bucket's highest equivalent value), so reports and tests read it as before.
//! Results written before the encoding (a JSON array of pairs) are still read.

use crate::metrics::new_histogram;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{
    Deserializer as HdrDeserializer, Serializer as _, V2DeflateSerializer,
};
use serde::{Deserialize, Deserializer, Serializer, de::Error as _, ser::Error as _};

/// Encodes nonzero buckets as base64 of the compressed V2 encoding.
///
/// # Errors
/// A bucket beyond the histogram's range (a week), or the encoder failing.
pub fn encode(buckets: &[[u64; 2]]) -> Result<String, String> {
    let mut h = new_histogram();
    for [value, count] in buckets {
        h.record_n(*value, *count)
            .map_err(|e| format!("bucket {value} ns: {e:?}"))?;
    }
    let mut bytes = Vec::new();
    V2DeflateSerializer::new()
        .serialize(&h, &mut bytes)
        .map_err(|e| format!("{e:?}"))?;
    Ok(STANDARD.encode(bytes))
}

/// Decodes base64 of a V2 (compressed or not) encoding into a histogram.
///
/// # Errors
/// Not base64, or not a V2 histogram.
pub fn decode_histogram(text: &str) -> Result<Histogram<u64>, String> {
    let bytes = STANDARD
        .decode(text.trim())
        .map_err(|e| format!("not base64: {e}"))?;
    HdrDeserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| format!("not an HdrHistogram V2 encoding: {e:?}"))
}

/// Decodes base64 of a V2 encoding into nonzero buckets.
///
/// # Errors
/// As `decode_histogram`.
pub fn decode(text: &str) -> Result<Vec<[u64; 2]>, String> {
    let h = decode_histogram(text)?;
    // Re-recorded into the engine's own configuration, so each value is the bucket value
    // the engine itself would report, whatever bounds the encoder chose.
    let mut ours = new_histogram();
    ours.add(&h).map_err(|e| format!("{e:?}"))?;
    Ok(buckets(&ours))
}

/// Nonzero buckets of `h`, each at its highest equivalent value.
#[must_use]
pub fn buckets(h: &Histogram<u64>) -> Vec<[u64; 2]> {
    h.iter_recorded()
        .map(|v| [v.value_iterated_to(), v.count_at_value()])
        .collect()
}

/// serde `serialize_with`: the buckets as one base64 string.
///
/// # Errors
/// As `encode`.
pub fn serialize<S: Serializer>(buckets: &[[u64; 2]], s: S) -> Result<S::Ok, S::Error> {
    let text = encode(buckets).map_err(|e| S::Error::custom(format!("latency_histogram: {e}")))?;
    s.serialize_str(&text)
}

/// serde `deserialize_with`: a base64 V2 string, or (results of mqlab before 0.2's
/// encoding) an array of `[value_ns, count]` pairs.
///
/// # Errors
/// Neither form, or a string that does not decode.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<[u64; 2]>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Wire {
        Encoded(String),
        Pairs(Vec<[u64; 2]>),
    }
    match Wire::deserialize(d).map_err(|_| {
        D::Error::custom(
            "latency_histogram: expected a base64 HdrHistogram V2 string (or an array of [value_ns, count] pairs)",
        )
    })? {
        Wire::Encoded(text) => {
            decode(&text).map_err(|e| D::Error::custom(format!("latency_histogram: {e}")))
        }
        Wire::Pairs(pairs) => Ok(pairs),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_survive_the_encoding_exactly() {
        let mut h = new_histogram();
        for v in [1, 7, 999, 1_000, 12_345, 5_000_000, 2_000_000_000_000] {
            h.record_n(v, v % 13 + 1).unwrap();
        }
        let before = buckets(&h);
        let text = encode(&before).unwrap();
        assert!(text.starts_with("HISTF"), "compressed V2 cookie: {text}");
        assert_eq!(decode(&text).unwrap(), before);
        let back = decode_histogram(&text).unwrap();
        assert_eq!(back.len(), h.len());
        assert_eq!(back.value_at_quantile(0.99), h.value_at_quantile(0.99));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(decode("not base64 !!").unwrap_err().contains("base64"));
        assert!(decode("AAAA").unwrap_err().contains("V2"));
    }
}
