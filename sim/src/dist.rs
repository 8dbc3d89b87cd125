//! Distributions of durations, as written in scenario files: `"2ms"` (constant),
//! `"exp(2ms)"`, `"uniform(1ms,3ms)"`, `"lognormal(2ms,1ms)"` (mean, standard deviation).
//! Samples come back as integer nanoseconds at once, so the engine never schedules floats.

use crate::time::{SimDuration, parse_duration};
use rand::{Rng, RngExt};
use rand_distr::{Distribution, Exp1, StandardNormal};
use std::fmt;

/// A distribution of non-negative durations.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Dist {
    /// Always the same duration.
    Const(SimDuration),
    /// Exponential with the given mean.
    Exp(SimDuration),
    /// Uniform between the two bounds, inclusive.
    Uniform(SimDuration, SimDuration),
    /// Log-normal with the given mean and standard deviation (not the log-space ones).
    LogNormal {
        /// Mean of the distribution.
        mean: SimDuration,
        /// Standard deviation of the distribution.
        sd: SimDuration,
        /// Log-space location, derived from mean and sd.
        mu: f64,
        /// Log-space scale, derived from mean and sd.
        sigma: f64,
    },
}

impl Dist {
    /// The distribution that is always zero.
    pub const ZERO: Dist = Dist::Const(SimDuration::ZERO);

    /// Draws one duration. The exponential, the queueing models' service time, is drawn
    /// where it is asked for; the rest out of line.
    #[inline(always)]
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> SimDuration {
        match *self {
            Dist::Exp(mean) => {
                let x: f64 = Exp1.sample(rng);
                SimDuration((x * mean.0 as f64) as u64)
            }
            _ => self.sample_other(rng),
        }
    }

    /// `sample` for everything but the exponential.
    #[inline(never)]
    fn sample_other<R: Rng + ?Sized>(&self, rng: &mut R) -> SimDuration {
        match *self {
            Dist::Const(d) => d,
            Dist::Exp(mean) => {
                let x: f64 = Exp1.sample(rng);
                SimDuration((x * mean.0 as f64) as u64)
            }
            Dist::Uniform(lo, hi) => SimDuration(rng.random_range(lo.0..=hi.0)),
            Dist::LogNormal { mu, sigma, .. } => {
                let z: f64 = StandardNormal.sample(rng);
                SimDuration((mu + sigma * z).exp() as u64)
            }
        }
    }

    /// The mean, for queueing-theory comparisons and capacity estimates.
    #[must_use]
    pub fn mean(&self) -> SimDuration {
        match *self {
            Dist::Const(d) | Dist::Exp(d) | Dist::LogNormal { mean: d, .. } => d,
            Dist::Uniform(lo, hi) => SimDuration(lo.0 / 2 + hi.0 / 2),
        }
    }

    /// True when every sample is zero (lets the engine skip scheduling).
    #[must_use]
    pub fn is_zero(&self) -> bool {
        *self == Dist::ZERO
    }

    /// Parses the scenario syntax.
    ///
    /// # Errors
    /// A message saying what was expected, for the scenario loader to place.
    pub fn parse(text: &str) -> Result<Dist, String> {
        let t = text.trim();
        let Some(open) = t.find('(') else {
            return parse_duration(t).map(Dist::Const).map_err(|e| {
                format!("{e}; a distribution is \"2ms\", \"exp(2ms)\", \"uniform(1ms,3ms)\" or \"lognormal(2ms,1ms)\"")
            });
        };
        let name = t[..open].trim();
        let inner = t[open + 1..]
            .strip_suffix(')')
            .ok_or_else(|| format!("distribution `{text}` is missing its closing `)`"))?;
        let args: Vec<SimDuration> = inner
            .split(',')
            .map(parse_duration)
            .collect::<Result<_, _>>()?;
        match (name, args.as_slice()) {
            ("exp", [mean]) => Ok(Dist::Exp(*mean)),
            ("uniform", [lo, hi]) if lo <= hi => Ok(Dist::Uniform(*lo, *hi)),
            ("uniform", [_, _]) => Err(format!("in `{text}` the lower bound exceeds the upper")),
            ("lognormal", [mean, sd]) if mean.0 > 0 => Ok(Dist::lognormal(*mean, *sd)),
            ("lognormal", [_, _]) => Err(format!("in `{text}` the mean must be positive")),
            ("exp" | "uniform" | "lognormal", _) => Err(format!(
                "wrong number of arguments in `{text}`: exp(mean), uniform(min,max), lognormal(mean,sd)"
            )),
            _ => Err(format!(
                "unknown distribution `{name}` (expected exp, uniform or lognormal)"
            )),
        }
    }

    fn lognormal(mean: SimDuration, sd: SimDuration) -> Dist {
        let m = mean.0 as f64;
        let s = sd.0 as f64;
        let sigma2 = (1.0 + (s * s) / (m * m)).ln();
        Dist::LogNormal {
            mean,
            sd,
            mu: m.ln() - sigma2 / 2.0,
            sigma: sigma2.sqrt(),
        }
    }
}

impl fmt::Display for Dist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dist::Const(d) => write!(f, "{d}"),
            Dist::Exp(m) => write!(f, "exp({m})"),
            Dist::Uniform(lo, hi) => write!(f, "uniform({lo},{hi})"),
            Dist::LogNormal { mean, sd, .. } => write!(f, "lognormal({mean},{sd})"),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Dist {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Dist::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for Dist {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn sample_mean_sd(d: &Dist, n: usize) -> (f64, f64) {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let xs: Vec<f64> = (0..n).map(|_| d.sample(&mut rng).as_secs_f64()).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        (mean, var.sqrt())
    }

    #[test]
    fn parses_each_documented_form() {
        assert_eq!(
            Dist::parse("2ms"),
            Ok(Dist::Const(SimDuration::from_millis(2)))
        );
        assert_eq!(
            Dist::parse("exp(2ms)"),
            Ok(Dist::Exp(SimDuration::from_millis(2)))
        );
        assert_eq!(
            Dist::parse("uniform(1ms, 3ms)"),
            Ok(Dist::Uniform(
                SimDuration::from_millis(1),
                SimDuration::from_millis(3)
            ))
        );
        assert!(matches!(
            Dist::parse("lognormal(2ms,1ms)"),
            Ok(Dist::LogNormal { .. })
        ));
    }

    #[test]
    fn rejects_malformed_distributions() {
        assert!(
            Dist::parse("gamma(2ms)")
                .unwrap_err()
                .contains("unknown distribution")
        );
        assert!(Dist::parse("exp(2ms").unwrap_err().contains("closing"));
        assert!(
            Dist::parse("uniform(3ms,1ms)")
                .unwrap_err()
                .contains("lower bound")
        );
        assert!(
            Dist::parse("exp(1ms,2ms)")
                .unwrap_err()
                .contains("wrong number")
        );
    }

    #[test]
    fn exponential_has_its_mean_and_standard_deviation() {
        let (m, s) = sample_mean_sd(&Dist::parse("exp(2ms)").unwrap(), 200_000);
        // Standard error of the mean is 2ms/sqrt(200k) ~ 4.5us; allow 5 of them.
        assert!((m - 0.002).abs() < 2.3e-5, "mean {m}");
        assert!((s - 0.002).abs() < 5e-5, "sd {s}");
    }

    #[test]
    fn lognormal_parameters_are_mean_and_standard_deviation() {
        let (m, s) = sample_mean_sd(&Dist::parse("lognormal(2ms,1ms)").unwrap(), 200_000);
        assert!((m - 0.002).abs() < 1.5e-5, "mean {m}");
        assert!((s - 0.001).abs() < 3e-5, "sd {s}");
    }

    #[test]
    fn uniform_stays_within_bounds() {
        let d = Dist::parse("uniform(1ms,3ms)").unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        for _ in 0..10_000 {
            let x = d.sample(&mut rng);
            assert!(x >= SimDuration::from_millis(1) && x <= SimDuration::from_millis(3));
        }
    }
}
