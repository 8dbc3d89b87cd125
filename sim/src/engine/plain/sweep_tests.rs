//! The grid a sceptic would walk, on every test run: each broker model with each
//! `on_full`, a capacity that never fills, one that fills at once and one in between, and
//! each set of faults the plain path comes back from. The plain path must leave what the
//! generic path leaves at every point. The proptest beside it draws a dozen random points
//! in a debug build; this walks all 135, with the settings the grid does not name turned
//! in step with the point's index (each by its own divisor, so they do not move together).

use super::tests::{eligible, same_both_ways};
use crate::scenario::Scenario;

#[test]
fn every_model_on_full_capacity_and_fault_set_gives_the_same_summary_on_both_paths() {
    let mut k = 0usize;
    for model in 0..3 {
        for on_full in 0..3 {
            for capacity in [1_000_000u64, 3, 25] {
                for faults in 0..5 {
                    let text = eligible(
                        model,
                        1 + (k % 7) as u32,
                        1 + (k % 4) as u32,
                        1 + k % 2,
                        [300, 1500, 2800][(k / 11) % 3],
                        (k / 5) % 3,
                        (k / 2) % 4,
                        (k / 3) % 2,
                        (k / 4) % 2 == 1,
                        (k / 6) % 2 == 1,
                        1 + (k * 7 % 40) as u32,
                        capacity,
                        on_full,
                        (k / 9) % 2,
                        (k / 13) % 6,
                        (k / 7) % 3,
                        faults,
                    );
                    let s = Scenario::from_toml(&text, "sweep.toml").expect("a valid scenario");
                    let what = format!("grid point {k}:\n{text}");
                    assert!(
                        same_both_ways(&s, k as u64, &what),
                        "eligible, yet generic: {what}"
                    );
                    k += 1;
                }
            }
        }
    }
    assert_eq!(k, 135);
}
