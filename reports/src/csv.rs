//! CSV: tidy time series, one observation per row — `run,variant,seed,t_s,metric,value` —
//! the shape pandas (`pivot`) and gnuplot take without reshaping.

use crate::{Report, ReportError};
use mqlab_sim::RunSummary;
use std::io;

/// Writes every run's series as tidy rows: `produced_per_s`, `processed_per_s`, `depth`,
/// `lag`, and `lag:GROUP` per group.
pub fn write<W: io::Write>(report: &Report, w: &mut W) -> Result<(), ReportError> {
    let mut out = ::csv::Writer::from_writer(w);
    out.write_record(["run", "variant", "seed", "t_s", "metric", "value"])
        .map_err(csv_err)?;
    match report {
        Report::Run(r) => rows(&mut out, 0, &r.delivery, r)?,
        Report::Comparison(c) => {
            for v in &c.variants {
                for &i in &v.runs {
                    rows(&mut out, i, &v.spec.label, &c.runs[i])?;
                }
            }
        }
    }
    out.flush()?;
    Ok(())
}

fn rows<W: io::Write>(
    out: &mut ::csv::Writer<W>,
    run: usize,
    variant: &str,
    r: &RunSummary,
) -> Result<(), ReportError> {
    let s = &r.series;
    let (run, seed) = (run.to_string(), r.seed.to_string());
    for (i, t) in s.t_s.iter().enumerate() {
        let t = format!("{t:.6}");
        let mut metrics: Vec<(String, String)> = vec![
            (
                "produced_per_s".into(),
                format!("{:.6}", s.produced_per_s[i]),
            ),
            (
                "processed_per_s".into(),
                format!("{:.6}", s.processed_per_s[i]),
            ),
            ("depth".into(), s.depth[i].to_string()),
            ("lag".into(), s.lag[i].to_string()),
        ];
        for (g, lag) in &s.lag_by_group {
            if let Some(v) = lag.get(i) {
                metrics.push((format!("lag:{g}"), v.to_string()));
            }
        }
        for (metric, value) in metrics {
            out.write_record([run.as_str(), variant, &seed, &t, &metric, &value])
                .map_err(csv_err)?;
        }
    }
    Ok(())
}

fn csv_err(e: ::csv::Error) -> ReportError {
    match e.into_kind() {
        ::csv::ErrorKind::Io(io) => ReportError::Io(io),
        other => ReportError::Io(io::Error::other(format!("{other:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use crate::{Format, Options, Report, fixture, write};

    #[test]
    fn csv_is_tidy_and_parses_back() {
        let mut out = Vec::new();
        let report = Report::Comparison(Box::new(fixture::comparison()));
        write(&report, Format::Csv, &Options::default(), &mut out).unwrap();
        let mut rd = ::csv::Reader::from_reader(out.as_slice());
        assert_eq!(
            rd.headers().unwrap(),
            vec!["run", "variant", "seed", "t_s", "metric", "value"]
        );
        let rows: Vec<_> = rd.records().map(Result::unwrap).collect();
        // 6 runs × 120 buckets × (4 metrics + 1 group).
        assert_eq!(rows.len(), 6 * 120 * 5);
        assert_eq!(&rows[0][1], "at-most-once");
        assert!(rows.iter().all(|r| r[5].parse::<f64>().is_ok()));
    }

    #[test]
    fn csv_golden_head() {
        let mut out = Vec::new();
        write(
            &Report::Run(fixture::run()),
            Format::Csv,
            &Options::default(),
            &mut out,
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        let head: Vec<&str> = text.lines().take(12).collect();
        insta::assert_snapshot!("run_csv_head", head.join("\n"));
    }
}
