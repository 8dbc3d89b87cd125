//! HdrHistogram interval log (format 1.3, V2 deflate), readable by the Java
//! `HistogramLogProcessor` and the Python `hdrh` reader: the format-version and legend header
//! lines, one tagged histogram per variant for a comparison, and always an untagged aggregate
//! (the standard tools read only untagged lines by default). Values are nanoseconds;
//! timestamps are simulated seconds from 0 (`StartTime` and `BaseTime` 0), never the wall
//! clock.

use crate::fmt::tag;
use crate::{Report, ReportError};
use hdrhistogram::Histogram;
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use mqlab_sim::RunSummary;
use std::io;
use std::time::Duration;

/// Rebuilds a run's end-to-end latency histogram (nanoseconds) from its nonzero buckets.
///
/// # Errors
/// A bucket cannot be recorded (a corrupt result).
pub fn histogram(r: &RunSummary) -> Result<Histogram<u64>, ReportError> {
    of_buckets(&r.latency_histogram)
}

/// A histogram (nanoseconds) from nonzero `[value_ns, count]` buckets.
///
/// # Errors
/// A bucket cannot be recorded (a corrupt result).
pub fn of_buckets(buckets: &[[u64; 2]]) -> Result<Histogram<u64>, ReportError> {
    let mut h = Histogram::<u64>::new(3).map_err(|e| ReportError::Histogram(e.to_string()))?;
    for [value, count] in buckets {
        h.record_n(*value, *count)
            .map_err(|e| ReportError::Histogram(format!("{e:?}")))?;
    }
    Ok(h)
}

/// Writes the interval log.
pub fn write<W: io::Write>(report: &Report, w: &mut W) -> Result<(), ReportError> {
    let (title, span_s, tagged): (String, f64, Vec<(String, Histogram<u64>)>) = match report {
        Report::Run(r) => (
            format!(
                "mqlab {} run {} seed {} delivery {} scenario hash {}",
                r.version, r.scenario, r.seed, r.delivery, r.scenario_hash
            ),
            r.sim_time_s,
            Vec::new(),
        ),
        Report::Comparison(c) => {
            let mut tagged = Vec::new();
            for v in &c.variants {
                tagged.push((tag(&v.spec.label), of_buckets(&v.latency_histogram)?));
            }
            let span = c.runs.iter().map(|r| r.sim_time_s).fold(0.0, f64::max);
            let title = format!(
                "mqlab {} compare {} seeds {:?} scenario hash {}",
                c.version, c.scenario, c.seeds, c.scenario_hash
            );
            (title, span, tagged)
        }
    };
    let aggregate = match report {
        Report::Run(r) => histogram(r)?,
        Report::Comparison(_) => {
            let mut all = of_buckets(&[])?;
            for (_, h) in &tagged {
                all.add(h)
                    .map_err(|e| ReportError::Histogram(format!("{e:?}")))?;
            }
            all
        }
    };
    // A plain comment: readers treat only `#[StartTime`, `#[BaseTime` and such as headers.
    writeln!(w, "#{title}")?;
    writeln!(w, "#[Histogram log format version 1.3]")?;
    writeln!(
        w,
        "#[StartTime: 0.000 (seconds since epoch), simulated time]"
    )?;
    writeln!(w, "#[BaseTime: 0.000 (seconds since epoch)]")?;
    writeln!(
        w,
        "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\""
    )?;
    let mut serializer = V2DeflateSerializer::new();
    // Interval_Max in milliseconds, the Java writer's default ratio for nanosecond values.
    let mut log = IntervalLogWriterBuilder::new()
        .with_max_value_divisor(1e6)
        .begin_log_with(w, &mut serializer)?;
    let span = Duration::try_from_secs_f64(span_s.max(0.0))
        .map_err(|e| ReportError::Histogram(format!("run length {span_s} s: {e}")))?;
    for (name, h) in &tagged {
        let t =
            Tag::new(name).ok_or_else(|| ReportError::Histogram(format!("bad tag `{name}`")))?;
        log.write_histogram(h, Duration::ZERO, span, Some(t))
            .map_err(|e| ReportError::Histogram(e.to_string()))?;
    }
    log.write_histogram(&aggregate, Duration::ZERO, span, None)
        .map_err(|e| ReportError::Histogram(e.to_string()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Format, Options, fixture};
    use hdrhistogram::serialization::Deserializer;
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};

    fn read_back(bytes: &[u8]) -> Vec<(Option<String>, Histogram<u64>)> {
        IntervalLogIterator::new(bytes)
            .filter_map(|e| match e.expect("log parses") {
                LogEntry::Interval(i) => Some(i),
                _ => None,
            })
            .map(|i| {
                let raw = base64::Engine::decode(
                    &base64::engine::general_purpose::STANDARD,
                    i.encoded_histogram(),
                )
                .unwrap();
                let h: Histogram<u64> = Deserializer::new()
                    .deserialize(&mut raw.as_slice())
                    .unwrap();
                (i.tag().map(|t| t.as_str().to_string()), h)
            })
            .collect()
    }

    #[test]
    fn run_log_round_trips_with_the_same_percentiles() {
        let run = fixture::run();
        let mut out = Vec::new();
        crate::write(
            &Report::Run(run.clone()),
            Format::Hdr,
            &Options::default(),
            &mut out,
        )
        .unwrap();
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(text.contains("#[Histogram log format version 1.3]"));
        assert!(text.contains("\"StartTimestamp\",\"Interval_Length\""));
        let hs = read_back(&out);
        assert_eq!(hs.len(), 1);
        assert_eq!(hs[0].0, None, "aggregate is untagged");
        let original = histogram(&run).unwrap();
        for q in [0.5, 0.9, 0.99, 0.999, 1.0] {
            assert_eq!(
                hs[0].1.value_at_quantile(q),
                original.value_at_quantile(q),
                "q={q}"
            );
        }
        assert_eq!(hs[0].1.len(), original.len());
    }

    #[test]
    fn comparison_log_has_one_tag_per_variant_and_an_aggregate() {
        let mut out = Vec::new();
        let c = fixture::comparison();
        crate::write(
            &Report::Comparison(Box::new(c)),
            Format::Hdr,
            &Options::default(),
            &mut out,
        )
        .unwrap();
        let tags: Vec<Option<String>> = read_back(&out).into_iter().map(|(t, _)| t).collect();
        assert_eq!(
            tags,
            vec![
                Some("at-most-once".into()),
                Some("at-least-once".into()),
                None
            ]
        );
    }
}
