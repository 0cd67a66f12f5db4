//! Seeded random streams (xoshiro256++): every random number in rmbench comes from here.
//!
//! `Stream::new(seed, id)` gives independent, reproducible streams for the same seed, one per
//! purpose or per parallel worker (`id` is mixed into the seed with SplitMix64).

use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

/// A reproducible random stream.
#[derive(Clone, Debug)]
pub struct Stream(Xoshiro256PlusPlus);

/// SplitMix64 finalizer: a bijective 64-bit mix.
#[inline]
pub fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Stream {
    /// Stream number `id` of `seed`.
    pub fn new(seed: u64, id: u64) -> Self {
        Stream(Xoshiro256PlusPlus::seed_from_u64(mix64(seed) ^ mix64(id.wrapping_add(0x5EED))))
    }

    /// 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in [0, 1) with 53 random bits.
    #[inline]
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in (0, 1]: safe to take the log of.
    #[inline]
    pub fn uniform_open0(&mut self) -> f64 {
        1.0 - self.uniform()
    }

    /// Uniform integer in 0..n (Lemire's multiply-shift; bias below 2⁻⁶⁴·n).
    #[inline]
    pub fn below(&mut self, n: usize) -> usize {
        debug_assert!(n > 0);
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }

    /// True with probability p.
    #[inline]
    pub fn bernoulli(&mut self, p: f64) -> bool {
        self.uniform() < p
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.uniform_open0();
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Standard Gumbel: −ln(−ln U).
    #[inline]
    pub fn gumbel(&mut self) -> f64 {
        -(-self.uniform_open0().ln()).ln()
    }

    /// A uniformly random permutation of 0..n (Fisher–Yates).
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut p: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            let j = self.below(i + 1);
            p.swap(i, j);
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: Vec<u64> = (0..4).map(|_| Stream::new(7, 0).next_u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        assert_ne!(Stream::new(7, 0).next_u64(), Stream::new(7, 1).next_u64());
        let mut s = Stream::new(1, 2);
        let m: f64 = (0..20000).map(|_| s.uniform()).sum::<f64>() / 20000.0;
        assert!((m - 0.5).abs() < 0.01, "mean {m}");
    }
}
