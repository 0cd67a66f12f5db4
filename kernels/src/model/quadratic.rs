//! Quadratic (Boltzmann machine / Ising) energy E(x) = −(½ sᵀJs + hᵀs), s = 2x − 1.
//!
//! J is symmetric with a zero diagonal (re-imposed by `params_changed`). Everything is built on
//! the local field f = J·s = 2·Σ_{j: xⱼ=1} J[j,:] − rowsum(J), one gather-add over the set bits.

use super::{fill_uniform, layout, EnergyModel, ModelKind, TensorSpec};
use crate::bits::{for_each_one, spin, BitBatch};
use crate::dense::{gemm, Operand};
use crate::{simd, KernelError};
use rayon::prelude::*;

/// Quadratic energy over d bits: parameters `J` [d, d] and `h` [d].
#[derive(Clone, Debug)]
pub struct Quadratic {
    d: usize,
    tensors: Vec<TensorSpec>,
    params: Vec<f32>,
    /// Σⱼ J[i,j], refreshed by `params_changed`.
    rowsum: Vec<f32>,
}

impl Quadratic {
    /// A model with J entries uniform in ±`scale` (symmetrized, zero diagonal) and h = 0.
    pub fn random(d: usize, scale: f32, seed: u64) -> Self {
        let mut m = Self::zeros(d);
        fill_uniform(&mut m.params[..d * d], seed, scale);
        m.params_changed();
        m
    }

    /// The model with J = 0 and h = 0 (the uniform distribution).
    pub fn zeros(d: usize) -> Self {
        let tensors = layout(&[("J", &[d, d], false), ("h", &[d], false)]);
        Quadratic { d, tensors, params: vec![0.0; d * d + d], rowsum: vec![0.0; d] }
    }

    /// A model from J (row-major d × d) and h; J must be symmetric (to 1e-6 relative) and finite.
    pub fn from_parts(j: &[f32], h: &[f32]) -> Result<Self, KernelError> {
        let d = h.len();
        if j.len() != d * d {
            return Err(KernelError::Tensor {
                name: "J".into(),
                problem: format!("expected {d}×{d} = {} elements, got {}", d * d, j.len()),
            });
        }
        let bad = |name: &str, v: &[f32]| v.iter().position(|x| !x.is_finite()).map(|k| (name.to_string(), k));
        if let Some((name, k)) = bad("J", j).or_else(|| bad("h", h)) {
            return Err(KernelError::Tensor { name, problem: format!("element {k} is not finite") });
        }
        for a in 0..d {
            for b in 0..a {
                let (x, y) = (j[a * d + b], j[b * d + a]);
                if (x - y).abs() > 1e-6 * x.abs().max(y.abs()).max(1.0) {
                    return Err(KernelError::Tensor {
                        name: "J".into(),
                        problem: format!("not symmetric at ({a}, {b}): {x} vs {y}"),
                    });
                }
            }
        }
        let mut m = Self::zeros(d);
        m.params[..d * d].copy_from_slice(j);
        m.params[d * d..].copy_from_slice(h);
        m.params_changed();
        Ok(m)
    }

    /// The coupling matrix J, row-major d × d.
    pub fn j(&self) -> &[f32] {
        &self.params[..self.d * self.d]
    }

    /// The field h.
    pub fn h(&self) -> &[f32] {
        &self.params[self.d * self.d..]
    }

    /// Local field f = J·s of one packed row: 2·Σ_{set j} J[j,:] − rowsum. O(popcount·d).
    pub fn local_field(&self, row: &[u64], f: &mut [f32]) {
        f.iter_mut().for_each(|v| *v = 0.0);
        simd::gather_add(row, self.j(), self.d, f);
        for (fi, r) in f.iter_mut().zip(&self.rowsum) {
            *fi = 2.0 * *fi - r;
        }
    }

    /// fᵢ = (J·s)ᵢ for one index: 2·Σ_{set j} J[i,j] − rowsumᵢ. O(popcount).
    fn local_field_at(&self, row: &[u64], i: usize) -> f32 {
        let ji = &self.j()[i * self.d..(i + 1) * self.d];
        let mut acc = 0f32;
        for_each_one(row, |j| acc += ji[j]);
        2.0 * acc - self.rowsum[i]
    }
}

/// Dimension from which all-flip ΔE tiles J (d² floats: 1 MiB at d = 512, the L2 size here).
pub const TILE_FROM_D: usize = 512;

impl Quadratic {
    /// All-flip ΔE with Σ_{set j} J[j, c] accumulated per tile of 256 columns × 256 input bits
    /// (256 KiB of J, L2-resident while every row of the batch uses it). Tasks own column blocks;
    /// per element the additions run in ascending j, as in the untiled gather.
    fn delta_all_tiled(&self, x: &BitBatch, out: &mut [f32]) {
        const CB: usize = 256;
        const JB: usize = 256;
        let (n, d) = (x.n(), self.d);
        let j = self.j();
        let blocks: Vec<Vec<f32>> = (0..d.div_ceil(CB))
            .into_par_iter()
            .map(|cb| {
                let (c0, cw) = (cb * CB, CB.min(d - cb * CB));
                let mut f = vec![0f32; n * cw];
                for j0 in (0..d).step_by(JB) {
                    let (w0, w1) = (j0 / 64, (j0 + JB).min(d).div_ceil(64));
                    let table = &j[j0 * d + c0..];
                    for (r, fr) in f.chunks_mut(cw).enumerate() {
                        simd::gather_add_strided(&x.row(r)[w0..w1], table, d, cw, fr);
                    }
                }
                f
            })
            .collect();
        let h = self.h();
        out.par_chunks_mut(d).enumerate().for_each(|(r, o)| {
            let row = x.row(r);
            for (cb, f) in blocks.iter().enumerate() {
                let (c0, cw) = (cb * CB, CB.min(d - cb * CB));
                for c in 0..cw {
                    let i = c0 + c;
                    let fi = 2.0 * f[r * cw + c] - self.rowsum[i];
                    o[i] = 2.0 * spin(row, i) * (fi + h[i]);
                }
            }
        });
    }
}

impl EnergyModel for Quadratic {
    fn kind(&self) -> ModelKind {
        ModelKind::Quadratic
    }
    fn dim(&self) -> usize {
        self.d
    }
    fn tensors(&self) -> &[TensorSpec] {
        &self.tensors
    }
    fn params(&self) -> &[f32] {
        &self.params
    }
    fn params_mut(&mut self) -> &mut [f32] {
        &mut self.params
    }

    /// J ← (J + Jᵀ)/2 with zero diagonal; refresh row sums.
    fn params_changed(&mut self) {
        let d = self.d;
        let j = &mut self.params[..d * d];
        for a in 0..d {
            j[a * d + a] = 0.0;
            for b in 0..a {
                let m = 0.5 * (j[a * d + b] + j[b * d + a]);
                j[a * d + b] = m;
                j[b * d + a] = m;
            }
        }
        self.rowsum = (0..d).map(|a| j[a * d..(a + 1) * d].iter().sum()).collect();
    }

    /// E = −(½ sᵀf + hᵀs). O(n·popcount·d).
    fn energy(&self, x: &BitBatch, out: &mut [f32]) {
        let d = self.d;
        out.par_iter_mut().enumerate().for_each_init(
            || vec![0f32; d],
            |f, (r, e)| {
                let row = x.row(r);
                self.local_field(row, f);
                let h = self.h();
                *e = -(0..d).map(|i| spin(row, i) * (0.5 * f[i] + h[i])).sum::<f32>();
            },
        );
    }

    /// ΔEᵢ = 2·sᵢ·(fᵢ + hᵢ) with f = J·s; O(n·popcount·d). Above [`TILE_FROM_D`] (J larger than
    /// L2) the gather runs in tiles of J so each tile is read once per batch, not once per row.
    fn delta_all(&self, x: &BitBatch, out: &mut [f32]) {
        let d = self.d;
        if d == 0 {
            return;
        }
        if d >= TILE_FROM_D && x.n() > 1 {
            return self.delta_all_tiled(x, out);
        }
        out.par_chunks_mut(d).enumerate().for_each_init(
            || vec![0f32; d],
            |f, (r, o)| {
                let row = x.row(r);
                self.local_field(row, f);
                let h = self.h();
                for i in 0..d {
                    o[i] = 2.0 * spin(row, i) * (f[i] + h[i]);
                }
            },
        );
    }

    /// ΔEᵢ = 2·sᵢ·(fᵢ + hᵢ) at s chosen i, fᵢ from row i of J over the set bits; O(n·s·popcount).
    fn delta_at(&self, x: &BitBatch, idx: &[u32], out: &mut [f32]) {
        let n = x.n();
        if n == 0 || idx.is_empty() {
            return;
        }
        let s = idx.len() / n;
        out.par_chunks_mut(s).enumerate().for_each(|(r, o)| {
            let row = x.row(r);
            for (k, &i) in idx[r * s..(r + 1) * s].iter().enumerate() {
                let i = i as usize;
                o[k] = 2.0 * spin(row, i) * (self.local_field_at(row, i) + self.h()[i]);
            }
        });
    }

    /// ∂E/∂xᵢ = 2·∂E/∂sᵢ = −2·(fᵢ + hᵢ); O(n·popcount·d).
    fn input_grad(&self, x: &BitBatch, energy: &mut [f32], grad: &mut [f32]) {
        let d = self.d;
        if d == 0 {
            return;
        }
        grad.par_chunks_mut(d).zip(energy.par_iter_mut()).enumerate().for_each_init(
            || vec![0f32; d],
            |f, (r, (g, e))| {
                let row = x.row(r);
                self.local_field(row, f);
                let h = self.h();
                let mut en = 0f32;
                for i in 0..d {
                    en -= spin(row, i) * (0.5 * f[i] + h[i]);
                    g[i] = -2.0 * (f[i] + h[i]);
                }
                *e = en;
            },
        );
    }

    /// Gray-code walk: flipping bit i changes E by ΔEᵢ = 2sᵢ(fᵢ + hᵢ) and the local field by
    /// f ← f − 2sᵢ·J[i,:] (J symmetric), O(d) per state. E accumulates in f64 and both f and E are
    /// recomputed from scratch every 4096 states, so f32 rounding cannot drift along the walk.
    fn gray_energies(&self, start: u64, count: u64, visit: &mut dyn FnMut(f64)) -> bool {
        let d = self.d;
        if d > 63 {
            return false;
        }
        let mut f = vec![0f32; d];
        let mut state = 0u64;
        let mut e = 0f64;
        let anchor = |state: u64, f: &mut [f32]| -> f64 {
            let row = [state];
            self.local_field(&row, f);
            let h = self.h();
            -(0..d).map(|i| crate::bits::spin(&row, i) as f64 * (0.5 * f[i] as f64 + h[i] as f64)).sum::<f64>()
        };
        for k in start..start + count {
            if k == start || (k - start).is_multiple_of(4096) {
                state = k ^ (k >> 1);
                e = anchor(state, &mut f);
            } else {
                let i = (k.trailing_zeros()) as usize; // bit flipped between Gray states k−1 and k
                let si = if (state >> i) & 1 == 1 { 1f32 } else { -1f32 };
                e += (2.0 * si * (f[i] + self.h()[i])) as f64;
                let ji = &self.j()[i * d..(i + 1) * d];
                for (fj, &jv) in f.iter_mut().zip(ji) {
                    *fj -= 2.0 * si * jv;
                }
                state ^= 1 << i;
            }
            visit(e);
        }
        true
    }

    /// ∂E/∂J = −½ s sᵀ, ∂E/∂h = −s. For base row r with flips s'ⱼ = s − 2sᵢe_i (i = idx):
    /// Σ wₖ s'ₖs'ₖᵀ = W·s sᵀ − 2Σⱼ wⱼ sᵢ(e_i sᵀ + s e_iᵀ) + 4Σⱼ wⱼ e_i e_iᵀ with W = w_base + Σⱼ wⱼ,
    /// so the dense part is two rank-n GEMMs (faer): O(n·d² + n·s).
    fn param_grad(&self, x: &BitBatch, w_base: &[f32], idx: &[u32], w_flip: &[f32], grad: &mut [f32]) {
        let (n, d) = (x.n(), self.d);
        if n == 0 || d == 0 {
            return;
        }
        let s = idx.len() / n;
        // Spins (n × d) and W-scaled spins.
        let mut sp = vec![0f32; n * d];
        let mut ws = vec![0f32; n * d];
        for r in 0..n {
            let row = x.row(r);
            let w = w_base[r] + w_flip[r * s..(r + 1) * s].iter().sum::<f32>();
            for i in 0..d {
                sp[r * d + i] = spin(row, i);
                ws[r * d + i] = w * sp[r * d + i];
            }
        }
        let (gj, gh) = grad.split_at_mut(d * d);
        // gJ += −½ Σ_r W_r s_r s_rᵀ.
        gemm(gj, d, d, Operand::t(&ws, n, d), Operand::new(&sp, n, d), -0.5, true);
        // Flip terms: with u_r = Σⱼ wⱼ s_{iⱼ} e_{iⱼ} (sparse rows of U, n × d), Σ_r (u_r s_rᵀ + s_r u_rᵀ)
        // = UᵀS + (UᵀS)ᵀ: one more GEMM instead of O(n·s·d) strided row and column updates.
        let mut u = vec![0f32; n * d];
        for r in 0..n {
            for j in 0..s {
                let (i, w) = (idx[r * s + j] as usize, w_flip[r * s + j]);
                let si = sp[r * d + i];
                u[r * d + i] += w * si;
                gj[i * d + i] -= 2.0 * w; // −½·4w on the diagonal
                gh[i] += 2.0 * w * si; // −(−2 w sᵢ)
            }
            for c in 0..d {
                gh[c] -= ws[r * d + c];
            }
        }
        let mut m = vec![0f32; d * d];
        gemm(&mut m, d, d, Operand::t(&u, n, d), Operand::new(&sp, n, d), 1.0, false);
        for a in 0..d {
            for b in 0..d {
                gj[a * d + b] += m[a * d + b] + m[b * d + a];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{
        check_delta_brute_force, check_finite_differences, check_gray_walk, check_model, patterns, Tol, NS,
    };
    use proptest::prelude::*;

    const TOL: Tol = Tol { rel: 1e-4, abs: 1e-4 };

    #[test]
    fn kernels_match_reference_on_shapes_and_patterns() {
        for d in [1usize, 2, 3, 15, 16, 17, 63, 64, 65, 127, 130, 257] {
            let m = Quadratic::random(d, 0.5, d as u64);
            let mut m = m;
            m.params_mut()[d * d..].iter_mut().enumerate().for_each(|(i, v)| *v = 0.1 * (i % 5) as f32 - 0.2);
            for n in NS {
                if n == 64 && d > 130 {
                    continue; // brute-force reference is O(n·d³)
                }
                for (name, x) in patterns(n, d, 7 + d as u64) {
                    check_model(&format!("quadratic d={d} n={n} {name}"), &m, &x, 5, TOL, d as u64);
                }
            }
        }
    }

    #[test]
    fn delta_matches_brute_force_reevaluation() {
        // ΔE from the local-field formula against E(x₋ᵢ) − E(x) from the fast energy itself.
        let d = 70;
        let m = Quadratic::random(d, 1.0, 3);
        for (name, x) in patterns(3, d, 11) {
            check_delta_brute_force(name, &m, &x);
        }
    }

    #[test]
    fn gray_walk_matches_batched_energies() {
        let d = 14;
        let mut m = Quadratic::random(d, 0.7, 3);
        m.params_mut()[d * d..].iter_mut().enumerate().for_each(|(i, v)| *v = 0.1 * i as f32 - 0.5);
        m.params_changed();
        check_gray_walk("quadratic", &m, 5000, 9000);
    }

    #[test]
    fn gradients_match_finite_differences() {
        for d in [1usize, 5, 33] {
            let mut m = Quadratic::random(d, 0.7, 5);
            check_finite_differences("quadratic", &mut m, 9);
        }
    }

    #[test]
    fn from_parts_rejects_bad_tensors() {
        assert!(Quadratic::from_parts(&[0.0, 1.0, 2.0, 0.0], &[0.0, 0.0]).is_err());
        assert!(Quadratic::from_parts(&[0.0, f32::NAN, f32::NAN, 0.0], &[0.0, 0.0]).is_err());
        assert!(Quadratic::from_parts(&[0.0; 3], &[0.0, 0.0]).is_err());
        assert!(Quadratic::from_parts(&[0.0, 1.0, 1.0, 0.0], &[0.5, 0.0]).is_ok());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn prop_fast_equals_reference(d in 1usize..=300, n in 1usize..6, s in 1usize..8, seed in any::<u64>()) {
            let m = Quadratic::random(d, 0.3, seed);
            let (_, x) = patterns(n, d, seed).swap_remove(0);
            check_model("quadratic prop", &m, &x, s, TOL, seed);
        }
    }
}
