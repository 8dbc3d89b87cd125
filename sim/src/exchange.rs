//! RabbitMQ-style routing: which bindings a routing key matches on a `direct`, `topic` or
//! `fanout` exchange. Topic patterns follow AMQP 0-9-1: words separated by `.`, `*`
//! matches exactly one word, `#` matches zero or more words.

use serde::Deserialize;

/// `topic.exchange`: the exchange type.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ExchangeKind {
    /// Routing key equals the binding key.
    #[default]
    Direct,
    /// Binding keys are patterns with `*` and `#`.
    Topic,
    /// Every bound queue gets every message.
    Fanout,
}

/// Whether a message with `routing_key` goes to a queue bound with `binding`.
#[must_use]
pub fn routes(kind: ExchangeKind, binding: &str, routing_key: &str) -> bool {
    match kind {
        ExchangeKind::Fanout => true,
        ExchangeKind::Direct => binding == routing_key,
        ExchangeKind::Topic => {
            let pattern: Vec<&str> = binding.split('.').collect();
            let words: Vec<&str> = routing_key.split('.').collect();
            topic_match(&pattern, &words)
        }
    }
}

/// AMQP topic matching in O(pattern × words): `reach[j]` says whether the pattern read so
/// far can consume exactly the first `j` words. Backtracking over every split a `#` could
/// take is exponential in the number of `#` words (`#.#.#.#.#.#.#.#.#.#.z` never ends).
fn topic_match(pattern: &[&str], words: &[&str]) -> bool {
    let mut reach = vec![false; words.len() + 1];
    reach[0] = true;
    for &p in pattern {
        if p == "#" {
            // Zero or more words: once a prefix is reachable, every longer one is too.
            for j in 1..reach.len() {
                reach[j] = reach[j] || reach[j - 1];
            }
        } else {
            // Exactly one word, so shift right by one where the word fits.
            for j in (1..reach.len()).rev() {
                reach[j] = reach[j - 1] && (p == "*" || p == words[j - 1]);
            }
            reach[0] = false;
        }
    }
    reach[words.len()]
}

/// Checks a binding key's syntax: `*` and `#` only as whole words.
///
/// # Errors
/// What is wrong with it.
pub fn check_binding(binding: &str) -> Result<(), String> {
    for word in binding.split('.') {
        if word.len() > 1 && (word.contains('*') || word.contains('#')) {
            return Err(format!(
                "in binding `{binding}`, `*` and `#` must stand alone between dots (found `{word}`)"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_patterns_follow_amqp_rules() {
        let cases = [
            ("#", "", true),
            ("#", "a", true),
            ("#", "a.b.c", true),
            ("*", "a", true),
            ("*", "", true), // the empty key is one empty word
            ("*", "a.b", false),
            ("a.*", "a", false), // `*` never matches zero words
            ("a.*", "a.b", true),
            ("a.*", "a.b.c", false),
            ("a.#", "a", true), // `#` matches zero words
            ("a.#", "a.b.c", true),
            ("a.#.b", "a.b", true),
            ("a.#.b", "a.x.y.b", true),
            ("a.#.b", "a.x.y", false),
            ("#.error", "payment.error", true),
            ("#.error", "error", true),
            ("#.error", "payment.error.retry", false),
            ("*.created", "user.created", true),
            ("*.created", "user.profile.created", false),
            ("user.#", "user", true),
            ("user.#", "users.created", false),
            ("a..b", "a..b", true), // empty words are words
            ("a.*.b", "a..b", true),
            ("#.#", "a", true),
            ("*.#.*", "a", false),
            ("*.#.*", "a.b", true),
        ];
        for (pattern, key, expected) in cases {
            assert_eq!(
                routes(ExchangeKind::Topic, pattern, key),
                expected,
                "`{pattern}` vs `{key}`"
            );
        }
    }

    #[test]
    fn many_hashes_match_in_polynomial_time() {
        // Backtracking took seconds at 10 `#` and never ended at 30; this is microseconds.
        let pattern = format!("{}z", "#.".repeat(60));
        let key = vec!["a"; 200].join(".");
        assert!(!routes(ExchangeKind::Topic, &pattern, &key));
        assert!(routes(ExchangeKind::Topic, &pattern, &format!("{key}.z")));
    }

    #[test]
    fn direct_needs_equality_and_fanout_takes_everything() {
        assert!(routes(ExchangeKind::Direct, "a.b", "a.b"));
        assert!(!routes(ExchangeKind::Direct, "a.*", "a.b"));
        assert!(routes(ExchangeKind::Fanout, "whatever", "a.b"));
    }

    #[test]
    fn wildcards_must_be_whole_words() {
        assert!(check_binding("user.#").is_ok());
        assert!(check_binding("user#").is_err());
        assert!(check_binding("a.b*").is_err());
    }
}
