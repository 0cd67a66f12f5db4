//! Gray-code quantization of 2-D points to d bits and back (Dai et al. 2020; RMwGGIS
//! `float2bin_new` / `bin2float_new`).
//!
//! Per coordinate v: one sign bit (1 if v < 0) then k = d/2 − 1 Gray-coded bits (MSB first) of the
//! magnitude ⌊|v|·scale⌋, with scale = 2^k/(f_scale + 1) and f_scale = max|v| + 1 over 5000
//! samples from the fixed seed (the reference uses numpy seed 1; we use [`SCALE_SEED`]). The
//! reference code truncates (`int(abs(x))`), so we do too (the issue text says "round"): decoding
//! is exact to within one quantization step 1/scale. Magnitudes are kept in f64, which represents
//! ⌊|v|·2^k/…⌋ exactly up to its 53 significant bits, so any k ≤ 1023 (d ≤ 2048) works.

use crate::rng::Stream;
use crate::toy::{sample_2d, Toy};
use crate::DataError;
use rmbench_kernels::BitBatch;

/// Seed of the 5000 samples that fix f_scale.
pub const SCALE_SEED: u64 = 1;

/// Largest supported d.
pub const MAX_TOY_DIM: usize = 2048;

/// Binary → Gray: g = b ⊕ (b >> 1) on MSB-first bit vectors.
pub fn to_gray(bits: &mut [bool]) {
    for j in (1..bits.len()).rev() {
        bits[j] ^= bits[j - 1];
    }
}

/// Gray → binary: bⱼ = bⱼ₋₁ ⊕ gⱼ.
pub fn from_gray(bits: &mut [bool]) {
    for j in 1..bits.len() {
        bits[j] ^= bits[j - 1];
    }
}

/// The map between the plane and d-bit codes for one toy distribution.
#[derive(Clone, Debug, PartialEq)]
pub struct Quantizer {
    /// Bits per sample (even).
    pub d: usize,
    /// max |v| + 1 over the scale samples.
    pub f_scale: f64,
    /// 2^(d/2−1)/(f_scale + 1).
    pub int_scale: f64,
}

impl Quantizer {
    /// The quantizer of `toy` at dimension d (even, 4 ≤ d ≤ [`MAX_TOY_DIM`]).
    pub fn for_toy(toy: Toy, d: usize) -> Result<Self, DataError> {
        if !d.is_multiple_of(2) || !(4..=MAX_TOY_DIM).contains(&d) {
            return Err(DataError::Spec(format!("toy datasets need an even d in 4..={MAX_TOY_DIM}, got {d}")));
        }
        let pts = sample_2d(toy, 5000, &mut Stream::new(SCALE_SEED, 0));
        let f_scale = pts.iter().flat_map(|p| p.iter()).fold(0f64, |m, v| m.max(v.abs())) + 1.0;
        let int_scale = 2f64.powi((d / 2 - 1) as i32) / (f_scale + 1.0);
        Ok(Quantizer { d, f_scale, int_scale })
    }

    /// Magnitude bits per coordinate (k = d/2 − 1).
    pub fn k(&self) -> usize {
        self.d / 2 - 1
    }

    /// One quantization step in the plane (1/int_scale).
    pub fn step(&self) -> f64 {
        1.0 / self.int_scale
    }

    fn encode_coord(&self, v: f64, out: &mut [bool]) {
        let k = self.k();
        let max = 2f64.powi(k as i32) - 1.0;
        let mag = (v.abs() * self.int_scale).floor().min(max);
        out[0] = v < 0.0;
        let bits = &mut out[1..];
        for (j, b) in bits.iter_mut().enumerate() {
            let p = (k - 1 - j) as i32;
            *b = (mag / 2f64.powi(p)).floor() % 2.0 == 1.0;
        }
        to_gray(bits);
    }

    fn decode_coord(&self, code: &[bool]) -> f64 {
        let mut bits = code[1..].to_vec();
        from_gray(&mut bits);
        let mag = bits.iter().fold(0f64, |acc, &b| acc * 2.0 + b as u8 as f64);
        let v = mag / self.int_scale;
        if code[0] {
            -v
        } else {
            v
        }
    }

    /// Encodes points to a batch of d-bit codes (x's code, then y's).
    pub fn encode(&self, pts: &[[f64; 2]]) -> BitBatch {
        let h = self.d / 2;
        let mut b = BitBatch::zeros(pts.len(), self.d);
        let mut code = vec![false; self.d];
        for (r, p) in pts.iter().enumerate() {
            self.encode_coord(p[0], &mut code[..h]);
            self.encode_coord(p[1], &mut code[h..]);
            for (i, &c) in code.iter().enumerate() {
                if c {
                    b.set(r, i, true);
                }
            }
        }
        b
    }

    /// Decodes every row back to the plane (exact up to one quantization step).
    pub fn decode(&self, x: &BitBatch) -> Vec<[f64; 2]> {
        let h = self.d / 2;
        (0..x.n())
            .map(|r| {
                let code: Vec<bool> = (0..self.d).map(|i| x.get(r, i)).collect();
                [self.decode_coord(&code[..h]), self.decode_coord(&code[h..])]
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bits_of(v: u64, k: usize) -> Vec<bool> {
        (0..k).map(|j| (v >> (k - 1 - j)) & 1 == 1).collect()
    }

    #[test]
    fn gray_code_is_a_bijection_with_unit_steps() {
        for k in 1..=12usize {
            let mut seen = std::collections::HashSet::new();
            let mut prev: Option<Vec<bool>> = None;
            for v in 0..(1u64 << k) {
                let mut g = bits_of(v, k);
                to_gray(&mut g);
                assert!(seen.insert(g.clone()), "k={k}: duplicate code");
                if let Some(p) = &prev {
                    assert_eq!(p.iter().zip(&g).filter(|(a, b)| a != b).count(), 1, "k={k} v={v}");
                }
                let mut back = g.clone();
                from_gray(&mut back);
                assert_eq!(back, bits_of(v, k));
                prev = Some(g);
            }
        }
        // Wide codes: random values round-trip for every width up to 64.
        let mut rng = Stream::new(5, 0);
        for k in 13..=64usize {
            for _ in 0..50 {
                let v = rng.next_u64() >> (64 - k);
                let mut g = bits_of(v, k);
                to_gray(&mut g);
                from_gray(&mut g);
                assert_eq!(g, bits_of(v, k));
            }
        }
    }

    #[test]
    fn encode_decode_within_one_step() {
        for toy in Toy::ALL {
            for d in [4usize, 32, 64, 256, 1024, 2048] {
                let q = Quantizer::for_toy(toy, d).unwrap();
                let pts = sample_2d(toy, 200, &mut Stream::new(2, 0));
                let back = q.decode(&q.encode(&pts));
                for (p, b) in pts.iter().zip(&back) {
                    for c in 0..2 {
                        let err = (p[c] - b[c]).abs();
                        assert!(
                            err <= q.step() * (1.0 + 1e-9) + 1e-12 * p[c].abs(),
                            "{toy:?} d={d}: {} vs {}",
                            p[c],
                            b[c]
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn rejects_odd_or_huge_dimensions() {
        assert!(Quantizer::for_toy(Toy::Moons, 33).is_err());
        assert!(Quantizer::for_toy(Toy::Moons, 4096).is_err());
    }
}
