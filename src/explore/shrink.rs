//! Shrinking a failing scenario: greedy, deterministic steps that each make the file
//! smaller (drop a fault, halve the duration or a rate, one instance fewer, a plainer
//! distribution, a setting or pattern left at its default, …), kept only when the run
//! with the same seed still fails the same check. Works on the TOML table, so the result
//! is an ordinary scenario file that `mqlab run` reproduces.

use mqlab_sim::{Engine, Scenario};
use toml::{Table, Value};

/// The figures the closing line compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Size {
    pub faults: usize,
    pub messages: u64,
    pub events: u64,
}

/// A run's outcome as shrinking needs it.
pub struct Outcome {
    pub failed: Vec<String>,
    pub size: Size,
}

/// The check a run fails when the memory guard stops it: its backlog outgrew the
/// memory it may use (a resend storm, an overload with nothing to bound it).
pub const MEMORY: &str = "memory";

/// Runs the table as a scenario under a memory budget of `mem` bytes; `None` when it
/// does not validate. A run the guard stops fails [`MEMORY`] alone (cut short, its
/// other checks say nothing), with no messages or events to its size.
pub fn evaluate(table: &Table, mem: u64) -> Option<Outcome> {
    let text = toml::to_string(table).ok()?;
    let scenario = Scenario::from_toml(&text, "shrink.toml").ok()?;
    let faults = scenario.faults.len();
    let Ok(r) = Engine::new(&scenario, scenario.seed).run_within(mem) else {
        return Some(Outcome {
            failed: vec![MEMORY.to_string()],
            size: Size {
                faults,
                messages: 0,
                events: 0,
            },
        });
    };
    Some(Outcome {
        failed: r
            .expectations
            .iter()
            .filter(|e| !e.ok)
            .map(|e| e.check.clone())
            .collect(),
        size: Size {
            faults,
            messages: r.messages.produced,
            events: r.events,
        },
    })
}

/// The smallest table reached from `table` that still fails `check`, with how many runs
/// the search took. Stops after `budget` runs, each under `mem` bytes.
pub fn shrink(table: &Table, check: &str, budget: usize, mem: u64) -> (Table, usize) {
    let mut best = table.clone();
    let mut runs = 0;
    'outer: loop {
        for candidate in candidates(&best, check) {
            if runs >= budget {
                break 'outer;
            }
            runs += 1;
            if evaluate(&candidate, mem).is_some_and(|o| o.failed.iter().any(|c| c == check)) {
                best = candidate;
                continue 'outer;
            }
        }
        break;
    }
    (best, runs)
}

/// Keys a section needs to mean anything; shrinking never removes them.
const KEEP: [&str; 9] = [
    "name",
    "topic",
    "group",
    "rate",
    "model",
    "at",
    "kind",
    "target",
    "service_time",
];

/// Every one-step simplification of `t`, most valuable first.
fn candidates(t: &Table, check: &str) -> Vec<Table> {
    let mut out = Vec::new();
    let arrays = ["fault", "saga", "producer", "consumer", "topic"];
    // Whole entries: faults first, then everything else a scenario may have several of.
    for key in arrays {
        let n = array(t, key).map_or(0, Vec::len);
        for i in (0..n).rev() {
            let mut c = t.clone();
            if let Some(Value::Array(a)) = c.get_mut(key) {
                a.remove(i);
                if a.is_empty() {
                    c.remove(key);
                }
            }
            out.push(c);
        }
    }
    for key in ["duration", "drain"] {
        // A shorter drain fails `in_flight` trivially; that is not the failure we were
        // shown.
        if key == "drain" && check == "in_flight" {
            continue;
        }
        if let Some(c) = edit(t, |c| halve_duration(c.get_mut(key)?)) {
            out.push(c);
        }
    }
    // Numbers that make a run bigger.
    let halve = [
        ("producer", "rate"),
        ("producer", "keys"),
        ("topic", "partitions"),
        ("consumer", "instances"),
        ("fault", "duration"),
        ("fault", "at"),
    ];
    for (section, key) in halve {
        for i in 0..array(t, section).map_or(0, Vec::len) {
            if let Some(c) = edit(t, |c| {
                let v = entry(c, section, i)?.get_mut(key)?;
                if key == "duration" || key == "at" {
                    halve_duration(v)
                } else {
                    halve_number(v, key == "instances" || key == "partitions")
                }
            }) {
                out.push(c);
            }
        }
    }
    // Settings left at their defaults and distributions made plain.
    for section in ["broker", "network", "expect"] {
        for key in t
            .get(section)
            .and_then(Value::as_table)
            .map_or(Vec::new(), keys)
        {
            if key == "model" {
                continue;
            }
            out.extend(edit(t, |c| {
                c.get_mut(section)?.as_table_mut()?.remove(&key).map(|_| ())
            }));
        }
    }
    for section in arrays {
        for i in 0..array(t, section).map_or(0, Vec::len) {
            let names = array(t, section)
                .and_then(|a| a[i].as_table())
                .map_or(Vec::new(), keys);
            for key in names {
                if !KEEP.contains(&key.as_str()) {
                    out.extend(edit(t, |c| entry(c, section, i)?.remove(&key).map(|_| ())));
                }
                out.extend(edit(t, |c| plain(entry(c, section, i)?.get_mut(&key)?)));
            }
        }
    }
    for section in ["broker", "network"] {
        for key in t
            .get(section)
            .and_then(Value::as_table)
            .map_or(Vec::new(), keys)
        {
            out.extend(edit(t, |c| {
                plain(c.get_mut(section)?.as_table_mut()?.get_mut(&key)?)
            }));
        }
    }
    out
}

fn keys(t: &Table) -> Vec<String> {
    t.keys().cloned().collect()
}

fn array<'a>(t: &'a Table, key: &str) -> Option<&'a Vec<Value>> {
    t.get(key)?.as_array()
}

fn entry<'a>(t: &'a mut Table, key: &str, i: usize) -> Option<&'a mut Table> {
    t.get_mut(key)?.as_array_mut()?.get_mut(i)?.as_table_mut()
}

/// A copy of `t` changed by `f`, or `None` when `f` changed nothing.
fn edit(t: &Table, f: impl FnOnce(&mut Table) -> Option<()>) -> Option<Table> {
    let mut c = t.clone();
    f(&mut c)?;
    (c != *t).then_some(c)
}

fn halve_number(v: &mut Value, whole: bool) -> Option<()> {
    match v {
        Value::Integer(n) if *n > 1 => *n /= 2,
        Value::Float(x) if *x > 1.0 && !whole => *x /= 2.0,
        _ => return None,
    }
    Some(())
}

/// `"60s"` → `"30000000000ns"`, down to a millisecond.
fn halve_duration(v: &mut Value) -> Option<()> {
    let ns = mqlab_sim::time::parse_duration(v.as_str()?).ok()?.0;
    if ns < 2_000_000 {
        return None;
    }
    *v = Value::String(format!("{}ns", ns / 2));
    Some(())
}

/// `"exp(2ms)"` → `"2ms"`: a distribution's first parameter as a constant.
fn plain(v: &mut Value) -> Option<()> {
    let s = v.as_str()?;
    let open = s.find('(')?;
    let inner = s[open + 1..].strip_suffix(')')?;
    let first = inner.split(',').next()?.trim().to_string();
    *v = Value::String(first);
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_takes_a_distributions_first_parameter() {
        let mut v = Value::String("lognormal(2ms, 1ms)".into());
        plain(&mut v).expect("a distribution");
        assert_eq!(v.as_str(), Some("2ms"));
        assert!(plain(&mut Value::String("2ms".into())).is_none());
    }

    #[test]
    fn durations_halve_down_to_a_millisecond() {
        let mut v = Value::String("3ms".into());
        halve_duration(&mut v).expect("halved");
        assert_eq!(v.as_str(), Some("1500000ns"));
        let mut v = Value::String("1ms".into());
        assert!(halve_duration(&mut v).is_none());
    }
}
