//! Zipf key draws that give exactly what `rand_distr::Zipf<f64>` gives (same random
//! draws, same floats, so every scenario's run stays byte-identical) at a third of its
//! `pow` calls. Its rejection-inversion sampler computes the acceptance ratio
//! `x^-s * inv_b^s` with two `pow`s on every round; that ratio is at least
//! `((x-1)/x)^s`, so a uniform draw below a precomputed bound on it accepts without
//! computing the ratio at all. Only draws near the bound compute it, as the crate does.

use rand::RngExt;
use rand::distr::StandardUniform;

/// Rank `x` up to this many gets its own lower bound; above, `1 - max(s,1)/x` bounds
/// `((x-1)/x)^s` from below (Bernoulli's inequality) and is tight there.
const BOUNDED_RANKS: usize = 1024;

/// How far below the true ratio a bound stays, relative: far beyond the few ulps that
/// `pow`, the products and `inv_b`'s rounding can move the computed ratio, and far
/// below the share of draws it sends to the exact path.
const MARGIN: f64 = 1e-9;

/// Zipf over ranks `1..=n` with exponent `s`, as `rand_distr::Zipf::new(n, s)`.
#[derive(Clone, Debug)]
pub struct KeyZipf {
    s: f64,
    t: f64,
    q: f64,
    /// `lower[x]`: the acceptance ratio of rank `x` is at least this (index 0 unused).
    lower: Vec<f64>,
}

impl KeyZipf {
    /// The constants as `rand_distr::Zipf::new` computes them, bit for bit; `None` where
    /// it would refuse (`n < 1`, `s < 0` or NaN).
    #[must_use]
    pub fn new(n: f64, s: f64) -> Option<KeyZipf> {
        // Written to refuse NaN too, as the crate does.
        if s.is_nan() || s < 0.0 || n.is_nan() || n < 1.0 || (n.is_infinite() && s <= 1.0) {
            return None;
        }
        let q = if s == 1.0 { 0.0 } else { 1.0 / (1.0 - s) };
        let t = if s == f64::INFINITY {
            1.0
        } else if s != 1.0 {
            (n.powf(1.0 - s) - s) * q
        } else {
            1.0 + n.ln()
        };
        let ranks = if n < BOUNDED_RANKS as f64 {
            n as usize
        } else {
            BOUNDED_RANKS
        };
        let lower = (0..=ranks)
            .map(|x| {
                if x < 2 {
                    0.0
                } else {
                    let x = x as f64;
                    ((x - 1.0) / x).powf(s) * (1.0 - MARGIN)
                }
            })
            .collect();
        Some(KeyZipf { s, t, q, lower })
    }

    fn inv_cdf(&self, p: f64) -> f64 {
        let pt = p * self.t;
        if pt <= 1.0 {
            pt
        } else if self.s != 1.0 {
            (pt * (1.0 - self.s) + self.s).powf(self.q)
        } else {
            (pt - 1.0).exp()
        }
    }

    /// A bound below rank `x`'s acceptance ratio (`x >= 2`).
    #[inline]
    fn lower(&self, x: f64) -> f64 {
        match self.lower.get(x as usize) {
            Some(&l) => l,
            None => (1.0 - self.s.max(1.0) / x) * (1.0 - MARGIN),
        }
    }

    /// One rank, as `rand_distr::Zipf::sample` draws it.
    #[inline]
    pub fn sample<R: rand::Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        loop {
            let inv_b = self.inv_cdf(rng.sample(StandardUniform));
            let x = (inv_b + 1.0).floor();
            let y: f64 = rng.sample(StandardUniform);
            // Rank 1's ratio is `1^-s`, which is 1: every uniform draw (in [0, 1)) is below.
            if x <= 1.0 || y < self.lower(x) {
                return x;
            }
            let ratio = x.powf(-self.s) * inv_b.powf(self.s);
            if y < ratio {
                return x;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use rand_distr::{Distribution, Zipf};

    /// Same ranks, bit for bit, and the same random stream left behind, for exponents
    /// below, at and above 1 and key counts from one to beyond the bounded ranks.
    #[test]
    fn draws_exactly_what_rand_distr_draws() {
        for &(n, s) in &[
            (5000.0, 0.8),
            (1.0, 0.8),
            (2.0, 1.0),
            (100.0, 1.0),
            (10.0, 0.0),
            (3000.0, 1.3),
            (1e9, 0.99),
            (4e9, 2.0),
            (50.0, 7.5),
        ] {
            let ours = KeyZipf::new(n, s).expect("valid");
            let theirs = Zipf::new(n, s).expect("valid");
            let mut a = ChaCha8Rng::seed_from_u64(n as u64 ^ s.to_bits());
            let mut b = a.clone();
            let mut squeezed = 0;
            for _ in 0..100_000 {
                let (x, y) = (ours.sample(&mut a), theirs.sample(&mut b));
                assert_eq!(x.to_bits(), y.to_bits(), "n {n}, s {s}");
                squeezed += usize::from(x >= 2.0);
            }
            assert_eq!(a.random::<u64>(), b.random::<u64>(), "n {n}, s {s}");
            if n >= 100.0 && s < 2.0 {
                assert!(squeezed > 0, "n {n}, s {s}: ranks above 1 drawn");
            }
        }
    }

    #[test]
    fn refuses_what_rand_distr_refuses() {
        assert!(KeyZipf::new(0.5, 1.0).is_none());
        assert!(KeyZipf::new(10.0, -1.0).is_none());
        assert!(KeyZipf::new(10.0, f64::NAN).is_none());
        assert!(KeyZipf::new(f64::INFINITY, 1.0).is_none());
    }
}
