//! The summary's anomaly examples: for each group and anomaly with a nonzero count, the
//! first message ids the result names, and the `mqlab trace` command that tells the story
//! of the first of them, with the flags that reproduce the run.

use mqlab_sim::RunSummary;
use mqlab_sim::summary::GroupSummary;
use std::fmt::Write;

/// The anomaly's count in group `g`.
fn count(g: &GroupSummary, anomaly: &str) -> u64 {
    match anomaly {
        "lost" => g.lost,
        "duplicated" => g.duplicated,
        "out_of_order" => g.out_of_order,
        _ => g.dropped,
    }
}

/// Writes the examples section (nothing when no group has an anomaly with an example).
/// `path` and `flags` are the run's scenario and reproducing flags.
pub fn examples(o: &mut String, r: &RunSummary, path: &str, flags: &str) {
    let mut head = false;
    for g in &r.groups {
        for (anomaly, ids) in g.examples.by_anomaly() {
            let n = count(g, anomaly);
            let Some(first) = ids.first() else { continue };
            if n == 0 {
                continue;
            }
            if !head {
                head = true;
                // A real broker's run has no trace: the command tells what the model did
                // with the same message at the same seed.
                let what = if r.is_measured() {
                    "`mqlab trace` tells what the model did with one, at the same seed"
                } else {
                    "`mqlab trace` tells one message's history"
                };
                let _ = writeln!(o, "\nexamples (message ids; {what})");
            }
            let shown: Vec<String> = ids.iter().map(u32::to_string).collect();
            let more = if n > ids.len() as u64 { " …" } else { "" };
            let _ = writeln!(
                o,
                "  {} {} {n}: {}{more}",
                g.name,
                anomaly.replace('_', " "),
                shown.join(" ")
            );
            let _ = writeln!(
                o,
                "    mqlab trace {path} --seed {}{flags} --message {first} --group {}",
                r.seed, g.name
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::examples;
    use mqlab_sim::RunSummary;
    use mqlab_sim::summary::GroupSummary;

    /// A real broker's result (no trace hash) says the trace is the model's.
    #[test]
    fn a_real_runs_examples_say_the_trace_tells_the_models_story() {
        let mut g = GroupSummary {
            name: "g".into(),
            duplicated: 1,
            ..GroupSummary::default()
        };
        g.examples.duplicated = vec![25];
        let mut r = RunSummary {
            seed: 3,
            groups: vec![g],
            ..RunSummary::default()
        };
        let mut real = String::new();
        examples(&mut real, &r, "f.toml", "");
        assert!(real.contains("tells what the model did with one"), "{real}");
        assert!(real.contains("mqlab trace f.toml --seed 3 --message 25 --group g"));
        r.trace_hash = "c49827d3477ccf00".into();
        let mut model = String::new();
        examples(&mut model, &r, "f.toml", "");
        assert!(model.contains("tells one message's history"), "{model}");
    }
}
