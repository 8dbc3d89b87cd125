//! Broker addresses: `redis://HOST:PORT` and `amqp://HOST:PORT`, checked before anything
//! connects, so a typo is an error that says what was expected rather than a hang.

use crate::error::BenchError;
use std::fmt;

/// Which real broker a URL names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BrokerKind {
    /// Redis (pub/sub, streams).
    Redis,
    /// RabbitMQ over AMQP 0-9-1.
    Amqp,
    /// The in-process no-op broker (`noop`): measures the driver alone.
    Noop,
}

impl BrokerKind {
    /// The URL scheme.
    #[must_use]
    pub fn scheme(self) -> &'static str {
        match self {
            BrokerKind::Redis => "redis",
            BrokerKind::Amqp => "amqp",
            BrokerKind::Noop => "noop",
        }
    }

    /// The Debian package with its server.
    #[must_use]
    pub fn package(self) -> &'static str {
        match self {
            BrokerKind::Redis => "redis-server",
            BrokerKind::Amqp => "rabbitmq-server",
            BrokerKind::Noop => "no server (in-process)",
        }
    }
}

/// A parsed broker address. With `--spawn` the port may be left out (a free one is
/// chosen).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerUrl {
    /// The broker.
    pub kind: BrokerKind,
    /// Host name or address.
    pub host: String,
    /// TCP port, when given.
    pub port: Option<u16>,
}

impl BrokerUrl {
    /// Parses `redis://HOST:PORT`, `amqp://HOST:PORT`, or a bare `redis` / `amqp`
    /// (only useful with `--spawn`).
    ///
    /// # Errors
    /// What is wrong with the URL and what was expected.
    pub fn parse(text: &str) -> Result<BrokerUrl, BenchError> {
        let bad = |why: String| BenchError::Url {
            url: text.to_string(),
            why,
        };
        let (scheme, rest) = text.split_once("://").unwrap_or((text, ""));
        let kind = match scheme {
            "redis" => BrokerKind::Redis,
            "amqp" => BrokerKind::Amqp,
            "noop" if rest.is_empty() => BrokerKind::Noop,
            other => {
                return Err(bad(format!(
                    "unknown scheme `{other}`: expected `redis://HOST:PORT`, `amqp://HOST:PORT` \
                     or `noop` (the in-process no-op broker)"
                )));
            }
        };
        // A trailing path (amqp's vhost `/%2f`, redis's `/0`) names the default.
        let rest = match rest.split_once('/') {
            Some((hp, "" | "%2f" | "%2F" | "0")) => hp,
            Some((_, path)) => {
                return Err(bad(format!(
                    "path `/{path}` not supported: only the default vhost or database"
                )));
            }
            None => rest,
        };
        if rest.contains('@') {
            return Err(bad("credentials in the URL are not supported yet".into()));
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) => {
                let port = p
                    .parse::<u16>()
                    .ok()
                    .filter(|&p| p > 0)
                    .ok_or_else(|| bad(format!("port `{p}` is not a number in 1..65535")))?;
                (h, Some(port))
            }
            None => (rest, None),
        };
        let host = if host.is_empty() { "127.0.0.1" } else { host };
        Ok(BrokerUrl {
            kind,
            host: host.to_string(),
            port,
        })
    }

    /// The URL with its port (the spawned broker's, or the given one).
    ///
    /// # Errors
    /// When no port is known.
    pub fn with_port(&self) -> Result<(String, u16), BenchError> {
        let port = self.port.ok_or_else(|| BenchError::Url {
            url: self.to_string(),
            why: "no port: give `HOST:PORT`, or `--spawn` to start a broker".into(),
        })?;
        Ok((self.host.clone(), port))
    }
}

impl fmt::Display for BrokerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(p) => write!(f, "{}://{}:{p}", self.kind.scheme(), self.host),
            None => write!(f, "{}://{}", self.kind.scheme(), self.host),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_schemes_with_and_without_port() {
        let r = BrokerUrl::parse("redis://127.0.0.1:6390").unwrap();
        assert_eq!((r.kind, r.port), (BrokerKind::Redis, Some(6390)));
        let a = BrokerUrl::parse("amqp://localhost:5672/%2f").unwrap();
        assert_eq!((a.kind, a.host.as_str()), (BrokerKind::Amqp, "localhost"));
        assert_eq!(BrokerUrl::parse("amqp").unwrap().port, None);
    }

    #[test]
    fn bad_urls_say_what_was_expected() {
        for (url, needle) in [
            ("kafka://x:1", "unknown scheme `kafka`"),
            ("redis://127.0.0.1:99999", "port `99999`"),
            ("redis://127.0.0.1:abc", "port `abc`"),
            ("amqp://u:p@h:5672", "credentials"),
            ("amqp://h:5672/prod", "path `/prod`"),
        ] {
            let e = BrokerUrl::parse(url).unwrap_err().to_string();
            assert!(e.contains(needle), "{url}: {e}");
            assert!(e.contains(url), "{url}: {e}");
        }
    }
}
