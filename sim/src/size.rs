//! Byte sizes, payload-size distributions and byte rates, as written in scenario files:
//! `128`, `"64KB"`, `"1.5MiB"`; `"pareto(16KB, 1.2)"`, `"pareto(16KB, 1.2, 256MB)"`,
//! `"lognormal(16KB, 256KB)"`; `"100MB/s"`. Units: `B`; `KB`, `MB`, `GB` are powers of
//! 1000 (as network and disk rates are quoted); `KiB`, `MiB`, `GiB` powers of 1024.
//! A size is drawn from two uniforms the caller supplies, so the engine can recompute the
//! size of any message from a counter-positioned random stream instead of storing it.

use serde::de::{self, Deserializer, Visitor};
use std::fmt;

/// A number of bytes (`128`, `"64KB"`, `"4MiB"`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Bytes(pub u64);

/// Parses `"64KB"`, `"1.5MiB"`, `"128B"` or `"128"`.
///
/// # Errors
/// A message saying what was expected.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = (&t[..split], t[split..].trim());
    let factor: u64 = match unit {
        "" | "B" => 1,
        "KB" | "kB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        _ => {
            return Err(format!(
                "unknown size unit `{unit}` in `{text}` (expected B, KB, MB, GB, KiB, MiB or GiB)"
            ));
        }
    };
    let value: f64 = num
        .parse()
        .map_err(|_| format!("`{text}` is not a size such as \"64KB\" or \"1.5MiB\""))?;
    let bytes = (value * factor as f64).round();
    if !(0.0..1.8e19).contains(&bytes) {
        return Err(format!("size `{text}` is out of range"));
    }
    Ok(bytes as u64)
}

/// `12.3MB` (powers of 1000, as in scenario files).
#[must_use]
#[allow(clippy::cast_precision_loss)]
pub fn human_bytes(b: u64) -> String {
    let units = [(1e9, "GB"), (1e6, "MB"), (1e3, "KB")];
    units.iter().find(|(f, _)| b as f64 >= *f).map_or_else(
        || format!("{b}B"),
        |(f, u)| format!("{:.1}{u}", b as f64 / f),
    )
}

/// A byte rate (`"100MB/s"`), in bytes per second.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bandwidth(pub u64);

impl Bandwidth {
    /// Parses `"100MB/s"`.
    ///
    /// # Errors
    /// A message saying what was expected.
    pub fn parse(text: &str) -> Result<Bandwidth, String> {
        let per_s = text.trim().strip_suffix("/s").ok_or_else(|| {
            format!("a bandwidth is a size per second such as \"100MB/s\", not `{text}`")
        })?;
        match parse_bytes(per_s)? {
            0 => Err(format!("bandwidth `{text}` must be greater than zero")),
            b => Ok(Bandwidth(b)),
        }
    }

    /// Nanoseconds to move `bytes` at this rate, rounded up.
    #[must_use]
    pub fn transfer_ns(self, bytes: u64) -> u64 {
        let ns = (u128::from(bytes) * 1_000_000_000).div_ceil(u128::from(self.0));
        u64::try_from(ns).unwrap_or(u64::MAX)
    }
}

/// A distribution of payload sizes in bytes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SizeDist {
    /// Every payload the same size (an integer `payload_bytes`, today's meaning).
    Const(u64),
    /// Pareto with scale `min` (the smallest size) and shape `alpha`: P(X > x) =
    /// (min/x)^alpha; sizes above `max` (if given) are cut to `max`.
    Pareto {
        /// Scale: the smallest size.
        min: u64,
        /// Shape: the smaller, the heavier the tail (mean is infinite for alpha <= 1).
        alpha: f64,
        /// Cap on a size.
        max: Option<u64>,
    },
    /// Log-normal with the given mean and standard deviation (not the log-space ones).
    LogNormal {
        /// Mean size.
        mean: u64,
        /// Standard deviation.
        sd: u64,
        /// Log-space location.
        mu: f64,
        /// Log-space scale.
        sigma: f64,
    },
}

impl SizeDist {
    /// True when every payload has the same size.
    #[must_use]
    pub fn is_const(&self) -> bool {
        matches!(self, SizeDist::Const(_))
    }

    /// A size from two independent uniforms in (0, 1].
    #[must_use]
    pub fn draw(&self, u1: f64, u2: f64) -> u64 {
        match *self {
            SizeDist::Const(b) => b,
            SizeDist::Pareto { min, alpha, max } => {
                let x = min as f64 * u1.powf(-1.0 / alpha);
                let x = if x.is_finite() { x as u64 } else { u64::MAX };
                max.map_or(x, |m| x.min(m))
            }
            SizeDist::LogNormal { mu, sigma, .. } => {
                // Box-Muller: always two uniforms, so a message's draw has a fixed place.
                let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                (mu + sigma * z).exp() as u64
            }
        }
    }

    /// Parses an integer-free size text: `"64KB"`, `"pareto(16KB, 1.2[, max])"`,
    /// `"lognormal(mean, sd)"`.
    ///
    /// # Errors
    /// A message saying what was expected.
    pub fn parse(text: &str) -> Result<SizeDist, String> {
        let t = text.trim();
        let Some(open) = t.find('(') else {
            return parse_bytes(t).map(SizeDist::Const);
        };
        let name = t[..open].trim();
        let inner = t[open + 1..]
            .strip_suffix(')')
            .ok_or_else(|| format!("size distribution `{text}` is missing its closing `)`"))?;
        let args: Vec<&str> = inner.split(',').map(str::trim).collect();
        match (name, args.as_slice()) {
            ("pareto", [min, alpha, rest @ ..]) if rest.len() <= 1 => {
                let min = parse_bytes(min)?;
                let alpha: f64 = alpha
                    .parse()
                    .map_err(|_| format!("pareto shape `{alpha}` is not a number"))?;
                let max = rest.first().map(|m| parse_bytes(m)).transpose()?;
                if min == 0 || !(alpha.is_finite() && alpha > 0.0) {
                    return Err(format!(
                        "in `{text}` the minimum size and the shape must be greater than zero"
                    ));
                }
                if max.is_some_and(|m| m < min) {
                    return Err(format!("in `{text}` the cap is below the minimum size"));
                }
                Ok(SizeDist::Pareto { min, alpha, max })
            }
            ("lognormal", [mean, sd]) => {
                let (mean, sd) = (parse_bytes(mean)?, parse_bytes(sd)?);
                if mean == 0 {
                    return Err(format!("in `{text}` the mean must be positive"));
                }
                let (m, s) = (mean as f64, sd as f64);
                let sigma2 = (1.0 + (s * s) / (m * m)).ln();
                Ok(SizeDist::LogNormal {
                    mean,
                    sd,
                    mu: m.ln() - sigma2 / 2.0,
                    sigma: sigma2.sqrt(),
                })
            }
            ("pareto" | "lognormal", _) => Err(format!(
                "wrong number of arguments in `{text}`: pareto(min, shape[, max]), lognormal(mean, sd)"
            )),
            _ => Err(format!(
                "unknown size distribution `{name}` (expected pareto or lognormal)"
            )),
        }
    }
}

impl fmt::Display for SizeDist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SizeDist::Const(b) => write!(f, "{b}"),
            SizeDist::Pareto {
                min,
                alpha,
                max: None,
            } => write!(f, "pareto({min}B,{alpha})"),
            SizeDist::Pareto {
                min,
                alpha,
                max: Some(m),
            } => write!(f, "pareto({min}B,{alpha},{m}B)"),
            SizeDist::LogNormal { mean, sd, .. } => write!(f, "lognormal({mean}B,{sd}B)"),
        }
    }
}

/// Accepts an integer (bytes) or a string, parsed by `parse`.
struct IntOrText<T>(fn(&str) -> Result<T, String>, fn(u64) -> T);

impl<T> Visitor<'_> for IntOrText<T> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number of bytes or a string such as \"64KB\"")
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        u64::try_from(v)
            .map(self.1)
            .map_err(|_| E::custom(format!("a size cannot be negative, not {v}")))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        Ok((self.1)(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        (self.0)(v).map_err(E::custom)
    }
}

impl<'de> serde::Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(IntOrText(|s| parse_bytes(s).map(Bytes), Bytes))
    }
}

impl<'de> serde::Deserialize<'de> for SizeDist {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(IntOrText(SizeDist::parse, SizeDist::Const))
    }
}

impl<'de> serde::Deserialize<'de> for Bandwidth {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Bandwidth::parse(&s).map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_decimal_and_binary() {
        assert_eq!(parse_bytes("128"), Ok(128));
        assert_eq!(parse_bytes("128B"), Ok(128));
        assert_eq!(parse_bytes("64KB"), Ok(64_000));
        assert_eq!(parse_bytes("1.5MB"), Ok(1_500_000));
        assert_eq!(parse_bytes("4KiB"), Ok(4096));
        assert_eq!(parse_bytes("2 MiB"), Ok(2 << 20));
        assert!(
            parse_bytes("3XB")
                .unwrap_err()
                .contains("unknown size unit")
        );
        assert!(parse_bytes("KB").is_err());
    }

    #[test]
    fn bandwidth_needs_per_second_and_rounds_transfers_up() {
        let bw = Bandwidth::parse("100MB/s").unwrap();
        assert_eq!(bw, Bandwidth(100_000_000));
        assert_eq!(bw.transfer_ns(1_000_000), 10_000_000);
        assert_eq!(Bandwidth(3).transfer_ns(1), 333_333_334);
        assert!(
            Bandwidth::parse("100MB")
                .unwrap_err()
                .contains("per second")
        );
        assert!(Bandwidth::parse("0MB/s").is_err());
    }

    #[test]
    fn parses_size_distributions() {
        assert_eq!(SizeDist::parse("4KB"), Ok(SizeDist::Const(4000)));
        assert_eq!(
            SizeDist::parse("pareto(16KB, 1.2, 256MB)"),
            Ok(SizeDist::Pareto {
                min: 16_000,
                alpha: 1.2,
                max: Some(256_000_000)
            })
        );
        assert!(matches!(
            SizeDist::parse("lognormal(16KB,256KB)"),
            Ok(SizeDist::LogNormal { mean: 16_000, .. })
        ));
        assert!(
            SizeDist::parse("pareto(4KB)")
                .unwrap_err()
                .contains("wrong number")
        );
        assert!(
            SizeDist::parse("pareto(4KB, 1.2, 1KB)")
                .unwrap_err()
                .contains("cap")
        );
        assert!(
            SizeDist::parse("zipf(4KB)")
                .unwrap_err()
                .contains("unknown")
        );
    }

    #[test]
    fn pareto_draw_inverts_its_tail() {
        let d = SizeDist::parse("pareto(1000B, 2)").unwrap();
        // P(X > x) = (min/x)^alpha, so u = 1/4 maps to x = 1000 * 4^(1/2).
        assert_eq!(d.draw(1.0, 0.5), 1000);
        assert_eq!(d.draw(0.25, 0.5), 2000);
        let capped = SizeDist::parse("pareto(1000B, 2, 1500B)").unwrap();
        assert_eq!(capped.draw(0.25, 0.5), 1500);
    }
}
