//! The windowed ledgers change no result: a run that folds its final copies every 64
//! messages gives exactly the summary (every count, example, figure and the trace hash)
//! of the same run keeping every copy to the end, on the shipped scenarios and on
//! generated ones, faults and all. A copy folded too early panics when the engine touches
//! it again, so a missed reference cannot pass quietly.

use crate::properties::{shape, toml_of};
use crate::support::{load, scenario_paths};
use mqlab_sim::{Engine, Scenario};
use proptest::prelude::*;

/// The summary as JSON, folding every `every` messages (`None`: never), and how many
/// messages were folded.
fn json(s: &Scenario, seed: u64, every: Option<u32>) -> (String, u64) {
    let mut e = Engine::new(s, seed);
    e.fold_every(every.unwrap_or(u32::MAX));
    while e.step() {}
    let folded = e.retained().folded;
    (
        serde_json::to_string_pretty(&e.summary()).expect("serialisable"),
        folded,
    )
}

#[test]
fn folding_often_changes_nothing_in_any_shipped_scenario() {
    let mut folding = 0;
    for path in scenario_paths() {
        let s = load(&path);
        let (plain, none) = json(&s, s.seed, None);
        assert_eq!(none, 0, "{}", path.display());
        let (folded, n) = json(&s, s.seed, Some(64));
        assert!(
            plain == folded,
            "{}: the folded run differs",
            path.display()
        );
        folding += usize::from(n > 0);
    }
    // The plain ones (mm1, mmc, the queue and exchange models, backpressure...) fold.
    assert!(folding >= 8, "only {folding} scenarios folded anything");
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(24),
        ..ProptestConfig::default()
    })]

    #[test]
    fn folding_often_changes_nothing_in_generated_scenarios(
        shape in shape(),
        seed in 0u64..1000,
        faults in any::<bool>(),
    ) {
        // Without its faults half the time: a scenario with faults keeps every copy.
        let mut shape = shape;
        if !faults {
            shape.faults.clear();
        }
        let text = toml_of(&shape);
        let scenario = match Scenario::from_toml(&text, "generated.toml") {
            Ok(s) => s,
            Err(_) if shape.extras != 0 => return Err(TestCaseError::reject("pattern not valid here")),
            Err(e) => return Err(TestCaseError::fail(e.to_string())),
        };
        let (plain, _) = json(&scenario, seed, None);
        let (folded, _) = json(&scenario, seed, Some(64));
        prop_assert!(plain == folded, "seed={seed}\n{text}");
    }
}
