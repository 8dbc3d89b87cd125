//! Service-level objectives for `mqlab capacity`: `METRIC[(GROUP)]<DURATION`, several joined
//! by commas or given as repeated flags. Without a group a bound is judged on every group's
//! copies merged; with one, on that group's alone; with `--outside-faults`, on the copies
//! whose life touched no fault window.

use anyhow::bail;
use mqlab_sim::summary::Latency;
use mqlab_sim::time::parse_duration;
use mqlab_sim::{RunSummary, Scenario};

/// The metrics a bound can name, as `Latency` holds them.
const METRICS: [&str; 6] = ["mean", "p50", "p90", "p99", "p999", "max"];

/// One bound: a latency metric of one group (or of all), at most `limit_s`.
#[derive(Clone, Debug, PartialEq)]
pub struct Bound {
    /// `p99`, `mean`, ...
    pub metric: String,
    /// The group it is judged on (none: every group merged).
    pub group: Option<String>,
    /// The limit in seconds.
    pub limit_s: f64,
}

/// Every bound of every `--slo` flag; group names are checked against `scenario`.
pub fn parse_all(flags: &[String], scenario: &Scenario) -> anyhow::Result<Vec<Bound>> {
    let groups: Vec<&str> = scenario
        .consumers
        .iter()
        .map(|c| c.group.get_ref().as_str())
        .collect();
    let mut out = Vec::new();
    for flag in flags {
        for part in flag.split(',') {
            let b = parse(part)?;
            if let Some(g) = &b.group
                && !groups.contains(&g.as_str())
            {
                bail!(
                    "bad --slo `{}`: no consumer group `{g}` (groups: {})",
                    part.trim(),
                    groups.join(", ")
                );
            }
            out.push(b);
        }
    }
    Ok(out)
}

/// One bound, `p99(payments)<50ms` or `p99<=50ms`.
pub fn parse(text: &str) -> anyhow::Result<Bound> {
    let part = text.trim();
    let bad = || {
        anyhow::anyhow!(
            "bad --slo `{part}` (expected METRIC[(GROUP)]<DURATION, e.g. p99<50ms or p99(payments)<50ms; metrics {})",
            METRICS.join(", ")
        )
    };
    let (lhs, limit) = part
        .split_once("<=")
        .or_else(|| part.split_once('<'))
        .ok_or_else(bad)?;
    let lhs = lhs.trim();
    let (metric, group) = match lhs.split_once('(') {
        Some((m, rest)) => {
            let g = rest.strip_suffix(')').ok_or_else(bad)?.trim();
            if g.is_empty() {
                return Err(bad());
            }
            (m.trim(), Some(g.to_string()))
        }
        None => (lhs, None),
    };
    if !METRICS.contains(&metric) {
        return Err(bad());
    }
    let limit_s = parse_duration(limit.trim())
        .map_err(|e| anyhow::anyhow!("{}: {e}", bad()))?
        .as_secs_f64();
    Ok(Bound {
        metric: metric.to_string(),
        group,
        limit_s,
    })
}

fn pick(l: &Latency, metric: &str) -> f64 {
    match metric {
        "mean" => l.mean,
        "p50" => l.p50,
        "p90" => l.p90,
        "p999" => l.p999,
        "max" => l.max,
        _ => l.p99,
    }
}

impl Bound {
    /// `p99(payments)`, or `p99` for all groups.
    pub fn label(&self) -> String {
        match &self.group {
            Some(g) => format!("{}({g})", self.metric),
            None => self.metric.clone(),
        }
    }

    /// The latency this bound looks at in `r` and how many copies it covers (none: the
    /// group is not in the run).
    fn sample(&self, r: &RunSummary, outside: bool) -> Option<(f64, u64)> {
        let (all, n, out) = match &self.group {
            Some(g) => {
                let g = r.groups.iter().find(|x| &x.name == g)?;
                (g.latency_s, g.processed, g.outside_faults)
            }
            None => (r.latency_s, r.messages.processed, r.outside_faults),
        };
        // Without faults in the run, every copy is outside them.
        match (outside, out) {
            (true, Some(o)) => Some((pick(&o.latency_s, &self.metric), o.samples)),
            _ => Some((pick(&all, &self.metric), n)),
        }
    }

    /// The value this bound judges in `r`, in seconds.
    pub fn value_s(&self, r: &RunSummary, outside: bool) -> Option<f64> {
        self.sample(r, outside).map(|(v, _)| v)
    }

    /// Whether `r` meets the bound; if not, why.
    pub fn judge(&self, r: &RunSummary, outside: bool) -> Result<(), String> {
        let where_ = if outside { " outside faults" } else { "" };
        match self.sample(r, outside) {
            None => Err(format!("{}: no such group in the run", self.label())),
            // Nothing measured is not a met objective.
            Some((_, 0)) => Err(format!("{}: no copy processed{where_}", self.label())),
            Some((v, _)) if v > self.limit_s => Err(format!(
                "{}{where_} {:.3}ms > {:.3}ms",
                self.label(),
                v * 1e3,
                self.limit_s * 1e3
            )),
            Some(_) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mqlab_sim::summary::{GroupSummary, OutsideFaults};

    #[test]
    fn bounds_name_their_metric_group_and_limit() {
        let b = parse("p99(payments)<50ms").unwrap();
        assert_eq!(
            (b.metric.as_str(), b.group.as_deref()),
            ("p99", Some("payments"))
        );
        assert!((b.limit_s - 0.05).abs() < 1e-12);
        let b = parse(" p50 <= 5ms ").unwrap();
        assert_eq!((b.metric.as_str(), b.group), ("p50", None));
        for bad in ["p98<5ms", "p99 50ms", "p99()<5ms", "p99(a<5ms", "p99<fast"] {
            let e = parse(bad).expect_err(bad).to_string();
            assert!(e.contains("METRIC[(GROUP)]<DURATION"), "{bad}: {e}");
        }
    }

    fn run() -> RunSummary {
        let group = |name: &str, p99: f64, outside_p99: f64| GroupSummary {
            name: name.into(),
            processed: 100,
            latency_s: Latency {
                p99,
                ..Latency::default()
            },
            outside_faults: Some(OutsideFaults {
                samples: 90,
                latency_s: Latency {
                    p99: outside_p99,
                    ..Latency::default()
                },
            }),
            ..GroupSummary::default()
        };
        RunSummary {
            groups: vec![group("payments", 0.02, 0.01), group("analytics", 5.0, 0.03)],
            latency_s: Latency {
                p99: 5.0,
                ..Latency::default()
            },
            ..RunSummary::default()
        }
    }

    #[test]
    fn a_scoped_bound_judges_its_group_and_outside_faults_only_those_copies() {
        let r = run();
        assert!(
            parse("p99(payments)<50ms")
                .unwrap()
                .judge(&r, false)
                .is_ok()
        );
        let e = parse("p99(analytics)<50ms")
            .unwrap()
            .judge(&r, false)
            .unwrap_err();
        assert_eq!(e, "p99(analytics) 5000.000ms > 50.000ms");
        assert!(
            parse("p99(analytics)<50ms")
                .unwrap()
                .judge(&r, true)
                .is_ok()
        );
        // The merged bound fails on the merged curve; this run has no merged outside view.
        assert!(parse("p99<50ms").unwrap().judge(&r, false).is_err());
    }

    #[test]
    fn no_copy_measured_is_not_a_met_objective() {
        let mut r = run();
        r.groups[0].outside_faults = Some(OutsideFaults::default());
        let e = parse("p99(payments)<50ms")
            .unwrap()
            .judge(&r, true)
            .unwrap_err();
        assert!(e.contains("no copy processed outside faults"), "{e}");
    }
}
