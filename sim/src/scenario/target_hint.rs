//! Why a fault target resolves to nothing, said as precisely as the scenario allows: an
//! instance or node past the end gets the range there is, a near miss of a name gets the
//! name it most likely meant, and only a target that resembles nothing gets the list of
//! forms.

use super::{Publish, Scenario};

/// The forms a fault target takes, for a target that resembles none of them.
const FORMS: &str = "expected `group/instance`, `group`, a producer name, `broker/N`, `network`, `saga/NAME`, `saga/NAME/SERVICE`, or `relay/PRODUCER` or `relay/PRODUCER/N` for an outbox relay";

/// The message for `target`, which `resolve_target` did not resolve.
#[must_use]
pub fn unresolved(s: &Scenario, target: &str) -> String {
    let head = format!("fault target `{target}` names nothing");
    match specific(s, target) {
        Some(why) => format!("{head}: {why}"),
        None => format!("{head} ({FORMS})"),
    }
}

fn specific(s: &Scenario, target: &str) -> Option<String> {
    let group = |name: &str| s.consumers.iter().find(|c| c.group.get_ref() == name);
    if let Some(n) = target.strip_prefix("broker/")
        && group("broker").is_none()
    {
        let nodes = *s.broker.nodes.get_ref();
        return Some(match n.parse::<u32>() {
            Ok(_) => format!("the broker has {} ({})", count(nodes, "node"), range(nodes)),
            Err(_) => format!(
                "`{n}` is not a node number; the broker has {} ({})",
                count(nodes, "node"),
                range(nodes)
            ),
        });
    }
    if let Some(rest) = target.strip_prefix("relay/")
        && group("relay").is_none()
    {
        let (name, instance) = rest
            .split_once('/')
            .map_or((rest, None), |(n, i)| (n, Some(i)));
        let Some(p) = s.producers.iter().find(|p| p.name.get_ref() == name) else {
            return Some(format!(
                "no producer is called `{name}`{}",
                super::did_you_mean(name, s.producers.iter().map(|p| p.name.get_ref().as_str()))
            ));
        };
        if p.publish() != Publish::Outbox {
            return Some(format!(
                "producer `{name}` publishes directly; only a producer with `publish = \"outbox\"` has a relay"
            ));
        }
        let n = p.relay_instances.as_ref().map_or(1, |n| *n.get_ref());
        return instance.map(|i| {
            format!(
                "`{i}` is not one of producer `{name}`'s {} ({})",
                count(n, "relay instance"),
                range(n)
            )
        });
    }
    if target.starts_with("saga/") && group("saga").is_none() {
        return None;
    }
    if let Some((g, i)) = target.split_once('/') {
        let names = s.consumers.iter().map(|c| c.group.get_ref().as_str());
        let Some(c) = group(g) else {
            return Some(format!(
                "no consumer group is called `{g}`{}",
                super::did_you_mean(g, names)
            ));
        };
        let n = *c.instances.get_ref();
        return Some(format!(
            "`{i}` is not one of group `{g}`'s {} ({})",
            count(n, "instance"),
            range(n)
        ));
    }
    let names = s
        .consumers
        .iter()
        .map(|c| c.group.get_ref().as_str())
        .chain(s.producers.iter().map(|p| p.name.get_ref().as_str()))
        .chain(["network"]);
    let hint = super::did_you_mean(target, names);
    (!hint.is_empty()).then(|| format!("no group or producer is called `{target}`{hint}"))
}

fn count(n: u32, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// The valid numbers, 0-based.
fn range(n: u32) -> String {
    match n {
        0 => "none to name".into(),
        1 => "number 0".into(),
        _ => format!("numbers 0 to {}", n - 1),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Scenario, resolve_target};
    use super::unresolved;

    const BASE: &str = r#"
name = "t"
duration = "1s"
[broker]
model = "log"
nodes = 3
[[topic]]
name = "t"
[[producer]]
name = "orders"
topic = "t"
rate = 10
[[consumer]]
group = "billing"
topic = "t"
instances = 2
"#;

    fn why(target: &str) -> String {
        let s = Scenario::from_toml(BASE, "t.toml").unwrap();
        assert!(resolve_target(&s, target).is_none(), "{target} resolves");
        unresolved(&s, target)
    }

    #[test]
    fn an_instance_or_node_past_the_end_gets_the_range_there_is() {
        assert!(
            why("billing/2")
                .ends_with("`2` is not one of group `billing`'s 2 instances (numbers 0 to 1)")
        );
        assert!(why("broker/3").ends_with("the broker has 3 nodes (numbers 0 to 2)"));
        assert!(why("broker/x").contains("`x` is not a node number"));
        assert!(why("relay/orders").contains("publishes directly"));
    }

    #[test]
    fn a_near_miss_gets_the_name_it_likely_meant_and_nonsense_the_forms() {
        assert!(
            why("biling/0")
                .ends_with("no consumer group is called `biling`; did you mean `billing`?")
        );
        assert!(why("order").ends_with("did you mean `orders`?"));
        assert!(why("netwrk").ends_with("did you mean `network`?"));
        assert!(why("relay/ordrs").ends_with("did you mean `orders`?"));
        assert!(why("qqqqqqqq").contains("(expected `group/instance`"));
    }
}
