//! Every shipped scenario loads, runs, conserves every copy under every delivery variant,
//! and keeps the promises its own `[expect]` block makes for its default seed.

use crate::support::{load, run, run_with, scenario_paths};
use mqlab_sim::Delivery;

#[test]
fn every_scenario_conserves_copies_under_every_variant() {
    for path in scenario_paths() {
        let s = load(&path);
        for d in Delivery::ALL {
            let r = run_with(&s, d, s.seed);
            let m = r.messages;
            assert!(
                r.conservation_ok,
                "seed={} {} {d:?}: {m:?}",
                s.seed,
                path.display()
            );
            assert_eq!(
                m.copies,
                m.processed + m.lost + m.dead_lettered + m.dropped + m.in_flight
            );
            for g in &r.groups {
                assert_eq!(
                    g.copies,
                    g.processed + g.lost + g.dead_lettered + g.dropped + g.in_flight,
                    "{}",
                    g.name
                );
            }
            assert!(m.produced > 0, "{}: nothing produced", path.display());
        }
    }
}

#[test]
fn every_scenario_meets_its_own_expectations_at_its_default_seed() {
    for path in scenario_paths() {
        let s = load(&path);
        let r = run(&s, s.seed);
        let failed: Vec<_> = r.expectations.iter().filter(|e| !e.ok).collect();
        assert!(
            failed.is_empty(),
            "seed={} {}: {failed:?}",
            s.seed,
            path.display()
        );
        assert!(
            !s.description.trim().is_empty(),
            "{} has no description",
            path.display()
        );
    }
}

#[test]
fn time_series_cover_the_run() {
    for path in scenario_paths() {
        let s = load(&path);
        let r = run(&s, s.seed);
        let series = &r.series;
        assert!(!series.t_s.is_empty());
        assert!(
            series.t_s.windows(2).all(|w| w[0] < w[1]),
            "time went backwards in {}",
            path.display()
        );
        let n = series.t_s.len();
        assert_eq!(
            (
                series.produced_per_s.len(),
                series.processed_per_s.len(),
                series.depth.len(),
                series.lag.len()
            ),
            (n, n, n, n)
        );
        assert!(
            (series.t_s[n - 1] - r.sim_time_s).abs() < 1e-9,
            "{}: last bucket ends at the run's end",
            path.display()
        );
        // Produced per bucket integrates back to the number produced.
        let mut prev = 0.0;
        let total: f64 = series
            .t_s
            .iter()
            .zip(&series.produced_per_s)
            .map(|(t, rate)| {
                let width = t - prev;
                prev = *t;
                rate * width
            })
            .sum();
        assert!(
            (total - r.messages.produced as f64).abs() < 1.0,
            "{}: {total} vs {}",
            path.display(),
            r.messages.produced
        );
    }
}

#[test]
fn a_crashed_group_builds_lag_then_drains_it() {
    let s = load(&crate::support::root().join("scenarios/food-delivery.toml"));
    let r = run(&s, s.seed);
    let lag = &r.series.lag_by_group["analytics"];
    let at = |t: f64| r.series.t_s.iter().position(|&x| x >= t).expect("bucket");
    // Offsets are committed every 5s, so lag saw-tooths before the outage; during it,
    // nothing is committed and lag climbs far above any tooth.
    let before = lag[..at(20.0)].iter().max().copied().unwrap_or(0);
    assert!(
        lag[at(34.5)] > 3 * before,
        "lag did not build during the outage: {lag:?}"
    );
    assert_eq!(*lag.last().expect("series"), 0, "lag did not drain");
    assert_eq!(
        r.groups
            .iter()
            .find(|g| g.name == "analytics")
            .expect("group")
            .lost,
        0
    );
}
