//! Scenarios where the built-in invariant rows failed: a generator of random scenarios run
//! through `mqlab run` found them (its earlier sweeps looked only at conservation), and
//! `mqlab shrink` cut each down. Each test fails without its fix.

use crate::support::{parse, run};
use mqlab_sim::RunSummary;

/// Every row of the run holds (conservation, the guarantees, the invariants).
fn all_hold(r: &RunSummary) {
    let failed: Vec<_> = r.expectations.iter().filter(|e| !e.ok).collect();
    assert!(failed.is_empty(), "{failed:#?}");
}

/// A copy delivered and never applied (its attempts time out while the consumer is slow)
/// has no sojourn, so it adds no wait either: the means describe the same copies. Waits
/// recorded at delivery gave a mean wait of 0.56 s beside a mean sojourn of 10 ms.
#[test]
fn a_copy_timed_out_and_never_applied_adds_no_wait() {
    let r = run(
        &parse(
            r#"
            name = "timeouts"
            duration = "6s"
            drain = "2s"
            [broker]
            model = "log"
            [[topic]]
            name = "t"
            [[producer]]
            name = "p"
            topic = "t"
            rate = 50
            arrival = "constant"
            [[consumer]]
            group = "g"
            topic = "t"
            service_time = "10ms"
            processing_timeout = "15ms"
            [[fault]]
            at = "1s"
            kind = "slow"
            target = "g"
            factor = 3
            duration = "60s"
            "#,
        ),
        7,
    );
    let g = &r.groups[0];
    // Applied: the copies served before the slow spell, each at once, in 10 ms.
    assert_eq!(g.processed, 49, "{g:?}");
    assert!(g.in_flight > 200, "the rest time out over and over: {g:?}");
    assert_eq!(g.wait_mean_s, 0.0, "{g:?}");
    assert!((g.sojourn_mean_s - 0.010).abs() < 1e-12, "{g:?}");
    all_hold(&r);
}
