//! Repeating timers have a floor. A timer that fires every `commit_interval`,
//! `flush_interval`, `poll_interval` (an idle short-polling consumer), `relay_interval` (an
//! outbox with rows) or `step_timeout` (a saga awaiting a reply) costs an event each time
//! whether or not there is work, so `"1ns"` spins the event loop for ever (a 2 s run did not
//! finish in 20 s). One-shot timers (`session_timeout`, `gap_timeout`, `reply_timeout`,
//! `request_timeout`, `visibility_timeout`) fire once per piece of work and need no floor.
//! The error points at the key when the source is known (durations carry no span of
//! their own, so the key is found again in the source).

use super::super::Scenario;
use super::Invalid;
use crate::time::SimDuration;

/// Shortest period a repeating timer may have: 1 ms, the finest setting of Kafka's
/// `auto.commit.interval.ms` and `flush.ms`.
pub const TIMER_FLOOR: SimDuration = SimDuration(1_000_000);

/// One step of a path into the scenario file.
#[derive(Clone, Copy, Debug)]
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// A repeating timer under the floor: where it is and what it is.
struct Breach<'a> {
    path: Vec<Step<'a>>,
    what: String,
    value: SimDuration,
    zero_means: &'static str,
}

/// Checks every repeating timer against [`TIMER_FLOOR`]; with `source`, the error points
/// at the key's value.
pub(in crate::scenario) fn check(s: &Scenario, source: Option<&str>) -> Result<(), Invalid> {
    let Some(b) = first_breach(s) else {
        return Ok(());
    };
    let zero = if b.zero_means.is_empty() {
        String::new()
    } else {
        format!("; \"0\" {}", b.zero_means)
    };
    let message = format!(
        "{} must be at least {TIMER_FLOOR}, not {} (a repeating timer fires whether or not there is work{zero})",
        b.what, b.value
    );
    Err((source.and_then(|src| locate(src, &b.path)), message))
}

fn under(d: SimDuration, zero_allowed: bool) -> bool {
    d < TIMER_FLOOR && !(zero_allowed && d.is_zero())
}

fn first_breach(s: &Scenario) -> Option<Breach<'_>> {
    let flush = s.broker.flush_interval;
    if under(flush, true) {
        return Some(Breach {
            path: vec![Step::Key("broker"), Step::Key("flush_interval")],
            what: "broker.flush_interval".into(),
            value: flush,
            zero_means: "turns periodic flushing off",
        });
    }
    for (i, c) in s.consumers.iter().enumerate() {
        let group = c.group.get_ref();
        let timers = [
            (
                "commit_interval",
                c.commit_interval,
                "commits after each message",
            ),
            ("poll_interval", c.poll_interval, ""),
        ];
        for (key, value, zero_means) in timers {
            if under(value, !zero_means.is_empty()) {
                return Some(Breach {
                    path: vec![Step::Key("consumer"), Step::Index(i), Step::Key(key)],
                    what: format!("group `{group}`: {key}"),
                    value,
                    zero_means,
                });
            }
        }
    }
    for (i, p) in s.producers.iter().enumerate() {
        if let Some(relay) = &p.relay_interval
            && under(*relay.get_ref(), false)
        {
            return Some(Breach {
                path: vec![
                    Step::Key("producer"),
                    Step::Index(i),
                    Step::Key("relay_interval"),
                ],
                what: format!("producer `{}`: relay_interval", p.name.get_ref()),
                value: *relay.get_ref(),
                zero_means: "",
            });
        }
    }
    for (i, g) in s.sagas.iter().enumerate() {
        if under(g.step_timeout, false) {
            return Some(Breach {
                path: vec![Step::Key("saga"), Step::Index(i), Step::Key("step_timeout")],
                what: format!("saga `{}`: step_timeout", g.name.get_ref()),
                value: g.step_timeout,
                zero_means: "",
            });
        }
    }
    None
}

/// The span of the value at `path` in `source`.
fn locate(source: &str, path: &[Step<'_>]) -> Option<std::ops::Range<usize>> {
    let root = toml::de::DeTable::parse(source).ok()?;
    let (Step::Key(first), rest) = path.split_first()? else {
        return None;
    };
    let mut v = root.get_ref().get(*first)?;
    for step in rest {
        v = match step {
            Step::Key(k) => v.get_ref().get(*k)?,
            Step::Index(i) => v.get_ref().get(*i)?,
        };
    }
    Some(v.span())
}

#[cfg(test)]
mod tests {
    use crate::scenario::Scenario;

    const BASE: &str = "name = \"x\"\nduration = \"1s\"\n[[topic]]\nname = \"t\"\n[[producer]]\nname = \"p\"\ntopic = \"t\"\nrate = 1\n";

    fn error(extra: &str) -> String {
        Scenario::from_toml(&format!("{BASE}{extra}"), "x.toml")
            .expect_err("refused")
            .to_string()
    }

    #[test]
    fn a_nanosecond_repeating_timer_is_refused_at_its_key() {
        let e = error("[[consumer]]\ngroup = \"g\"\ntopic = \"t\"\ncommit_interval = \"1ns\"\n");
        assert!(
            e.starts_with("x.toml:12:19: group `g`: commit_interval must be at least 1"),
            "{e}"
        );
        assert!(e.contains("not 1ns"), "{e}");
        let e = error("[broker]\nflush_interval = \"10us\"\n");
        assert!(e.starts_with("x.toml:10:18: broker.flush_interval"), "{e}");
        let e = error(
            "[[consumer]]\ngroup = \"g\"\ntopic = \"t\"\nwait_time = \"0\"\npoll_interval = \"1ns\"\n",
        );
        assert!(e.contains(":13:17: group `g`: poll_interval"), "{e}");
        let saga = "[[saga]]\nname = \"s\"\nrate = 1\nstep_timeout = \"1ns\"\n[[saga.step]]\nservice = \"a\"\n";
        assert!(
            error(saga).contains(":12:16: saga `s`: step_timeout"),
            "{}",
            error(saga)
        );
    }

    #[test]
    fn zero_where_it_means_something_and_the_floor_itself_pass() {
        let ok = "[[consumer]]\ngroup = \"g\"\ntopic = \"t\"\ncommit_interval = \"0\"\npoll_interval = \"1ms\"\n[broker]\nflush_interval = \"0\"\n";
        Scenario::from_toml(&format!("{BASE}{ok}"), "x.toml").expect("valid");
    }
}
