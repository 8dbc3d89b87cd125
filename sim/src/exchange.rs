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

/// AMQP topic matching, word by word; `#` tries every number of words it could absorb.
fn topic_match(pattern: &[&str], words: &[&str]) -> bool {
    match pattern.split_first() {
        None => words.is_empty(),
        Some((&"#", rest)) => (0..=words.len()).any(|skip| topic_match(rest, &words[skip..])),
        Some((&p, rest)) => match words.split_first() {
            Some((&w, tail)) => (p == "*" || p == w) && topic_match(rest, tail),
            None => false,
        },
    }
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
