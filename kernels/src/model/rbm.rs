//! Free energy of a binary RBM: E(x) = −bᵀx − Σⱼ softplus(cⱼ + Wⱼ·x), H hidden units.
//!
//! W is stored transposed ([d, H] row-major) so that the hidden pre-activation a = c + Wx is a
//! gather-add of rows over the set bits, and a flip of bit i moves it by tᵢ·Wᵀ[i,:] (tᵢ = 1 − 2xᵢ):
//! every single-flip ΔE costs O(H), never O(d·H).

use super::{fill_uniform, layout, EnergyModel, ModelKind, TensorSpec};
use crate::aligned::AlignedVec;
use crate::bits::{bit, for_each_one, BitBatch};
use crate::dense::{gemm, Operand};
use crate::simd::{self, math, TILE_ROWS};
use crate::KernelError;
use rayon::prelude::*;
use std::sync::{Arc, OnceLock};

mod columns;
mod flips;
mod site;
use super::mlp::pool::Pool;
use flips::FlipTable;

/// Rows per parallel chunk of the parameter gradient (fixed, so sums are deterministic).
const GRAD_CHUNK: usize = 16;

/// Table and gradient entries per flip block of the parameter gradient (64 KiB of each).
const GRAD_BLOCK_ENTRIES: usize = 16 * 1024;

/// Binary RBM free energy over d visible and H hidden units: `W` [H, d], `b` [d], `c` [H].
#[derive(Clone, Debug)]
pub struct Rbm {
    d: usize,
    h: usize,
    tensors: Vec<TensorSpec>,
    params: Vec<f32>,
    /// The flip table of the current parameters (`None` inside: some |W| > 80), built on first
    /// use and dropped by `params_mut` / `params_changed`.
    table: OnceLock<Option<Arc<FlipTable>>>,
    /// Reused per-chunk gradient buffers (fresh ones cost page faults on every step).
    pool: Pool,
    /// Reused flip-table buffers (e^{W} and its column blocks, 2·d·H floats), handed back when the
    /// parameters change: fresh ones cost page faults and zeroing on every step.
    tables: Pool,
}

impl Rbm {
    /// All-zero parameters.
    pub fn zeros(d: usize, hidden: usize) -> Self {
        let tensors = layout(&[("W", &[hidden, d], true), ("b", &[d], false), ("c", &[hidden], false)]);
        Rbm {
            d,
            h: hidden,
            tensors,
            params: vec![0.0; d * hidden + d + hidden],
            table: OnceLock::new(),
            pool: Pool::default(),
            tables: Pool::default(),
        }
    }

    /// Forgets the flip table, keeping its buffers for the next one when no one else holds it.
    fn drop_table(&mut self) {
        if let Some(Some(t)) = self.table.take() {
            if let Ok(t) = Arc::try_unwrap(t) {
                t.recycle(&self.tables);
            }
        }
    }

    /// W uniform in ±`scale`, b = c = 0.
    pub fn random(d: usize, hidden: usize, scale: f32, seed: u64) -> Self {
        let mut m = Self::zeros(d, hidden);
        fill_uniform(&mut m.params[..d * hidden], seed, scale);
        m
    }

    /// From W in interchange layout [H, d], b [d], c [H]; rejects wrong lengths and non-finite values.
    pub fn from_parts(w_hd: &[f32], b: &[f32], c: &[f32]) -> Result<Self, KernelError> {
        let (d, h) = (b.len(), c.len());
        if w_hd.len() != d * h {
            return Err(KernelError::Tensor {
                name: "W".into(),
                problem: format!("expected {h}×{d} elements, got {}", w_hd.len()),
            });
        }
        for (name, v) in [("W", w_hd), ("b", b), ("c", c)] {
            if let Some(k) = v.iter().position(|x| !x.is_finite()) {
                return Err(KernelError::Tensor { name: name.into(), problem: format!("element {k} is not finite") });
            }
        }
        let mut m = Self::zeros(d, h);
        for j in 0..h {
            for i in 0..d {
                m.params[i * h + j] = w_hd[j * d + i];
            }
        }
        m.params[d * h..d * h + d].copy_from_slice(b);
        m.params[d * h + d..].copy_from_slice(c);
        Ok(m)
    }

    /// Hidden units H.
    pub fn hidden(&self) -> usize {
        self.h
    }

    fn wt(&self) -> &[f32] {
        &self.params[..self.d * self.h]
    }
    fn b(&self) -> &[f32] {
        &self.params[self.d * self.h..self.d * self.h + self.d]
    }
    fn c(&self) -> &[f32] {
        &self.params[self.d * self.h + self.d..]
    }

    /// a = c + Σ_{set i} Wᵀ[i,:]: O(popcount·H), no multiplications.
    fn preact(&self, row: &[u64], a: &mut [f32]) {
        a.copy_from_slice(self.c());
        simd::gather_add(row, self.wt(), self.h, a);
    }

    /// E from a pre-activation: −Σ_{set} b − Σⱼ softplus(aⱼ).
    fn energy_from(&self, row: &[u64], a: &[f32]) -> f32 {
        let mut lin = 0f32;
        for_each_one(row, |i| lin += self.b()[i]);
        -lin - simd::softplus_sum(a)
    }

    /// softplus(aⱼ) of a row's pre-activations, computed once per row for [`Rbm::delta_from`].
    fn base_softplus(a: &[f32], out: &mut [f32]) {
        out.iter_mut().zip(a).for_each(|(o, &v)| *o = simd::math::softplus(v));
    }

    /// ΔEᵢ = −tᵢbᵢ − Σⱼ [softplus(aⱼ + tᵢWᵀ[i,j]) − softplus(aⱼ)], tᵢ = 1 − 2xᵢ, with
    /// `sp` = softplus(a) from [`Rbm::base_softplus`]: O(H), one softplus per hidden unit.
    #[inline]
    fn delta_from(&self, row: &[u64], a: &[f32], sp: &[f32], i: usize) -> f32 {
        let t = 1.0 - 2.0 * bit(row, i) as f32;
        let w = &self.wt()[i * self.h..(i + 1) * self.h];
        -t * self.b()[i] - simd::softplus_shift_sum(a, sp, w, t)
    }
}

impl EnergyModel for Rbm {
    fn kind(&self) -> ModelKind {
        ModelKind::Rbm
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
        self.drop_table();
        &mut self.params
    }
    fn params_changed(&mut self) {
        self.drop_table();
    }
    /// 2¹⁸ flips (2 MiB of ΔE and weights): whole batches at the dimensions benchmarked.
    fn flip_chunk_hint(&self) -> usize {
        1 << 18
    }
    fn site_state(&self, row: &[u64]) -> Option<Box<dyn super::SiteState + '_>> {
        Some(Box::new(site::RbmSite::new(self, row)))
    }
    fn metadata(&self) -> Vec<(String, String)> {
        vec![("hidden".into(), self.h.to_string())]
    }

    /// E = −bᵀx − Σⱼ softplus(aⱼ); pre-activations in tiles of 8 rows (each row of W read once
    /// per tile, the same sums as a gather per row), O(n·d·H).
    fn energy(&self, x: &BitBatch, out: &mut [f32]) {
        let (d, h) = (self.d, self.h);
        out.par_chunks_mut(TILE_ROWS).enumerate().for_each_init(
            || (vec![0f32; TILE_ROWS * h], vec![0f32; TILE_ROWS * d]),
            |(pre, xf), (t, e)| {
                let r0 = t * TILE_ROWS;
                self.preact_rows(x, r0, e.len(), pre, xf);
                for (k, ek) in e.iter_mut().enumerate() {
                    *ek = self.energy_from(x.row(r0 + k), &pre[k * h..(k + 1) * h]);
                }
            },
        );
    }

    /// All d flips from one pre-activation per row: O(n·(popcount + d)·H), tabulated (no
    /// transcendental per term) unless some |W| > 80.
    fn delta_all(&self, x: &BitBatch, out: &mut [f32]) {
        let d = self.d;
        if d == 0 || x.n() == 0 {
            return;
        }
        if let Some(table) = self.flip_table() {
            return self.delta_tabulated(x, None, &table, out);
        }
        out.par_chunks_mut(d).enumerate().for_each_init(
            || (vec![0f32; self.h], vec![0f32; self.h]),
            |(a, sp), (r, o)| {
                let row = x.row(r);
                self.preact(row, a);
                Self::base_softplus(a, sp);
                for (i, v) in o.iter_mut().enumerate() {
                    *v = self.delta_from(row, a, sp, i);
                }
            },
        );
    }

    /// s chosen flips per row: O(n·(popcount + s)·H).
    fn delta_at(&self, x: &BitBatch, idx: &[u32], out: &mut [f32]) {
        let n = x.n();
        if n == 0 || idx.is_empty() {
            return;
        }
        let s = idx.len() / n;
        // Every row listing all d flips in order (exact RM's training step): the all-flip kernel.
        if super::lists_every_flip_in_order(idx, s, self.d) {
            return self.delta_all(x, out);
        }
        if let Some(table) = self.flip_table_for(n * s) {
            return self.delta_tabulated(x, Some(idx), &table, out);
        }
        out.par_chunks_mut(s).enumerate().for_each_init(
            || (vec![0f32; self.h], vec![0f32; self.h]),
            |(a, sp), (r, o)| {
                let row = x.row(r);
                self.preact(row, a);
                Self::base_softplus(a, sp);
                for (v, &i) in o.iter_mut().zip(&idx[r * s..(r + 1) * s]) {
                    *v = self.delta_from(row, a, sp, i as usize);
                }
            },
        );
    }

    /// ∂E/∂xᵢ = −bᵢ − Σⱼ σ(aⱼ)·W_ji: G = −σ(A)·W (one GEMM, n × H × d), minus b.
    fn input_grad(&self, x: &BitBatch, energy: &mut [f32], grad: &mut [f32]) {
        let (n, d, h) = (x.n(), self.d, self.h);
        let mut sig = vec![0f32; n * h];
        // Tiles of 8 rows: pre-activations, energies, σ(A).
        sig.par_chunks_mut((TILE_ROWS * h).max(1)).zip(energy.par_chunks_mut(TILE_ROWS)).enumerate().for_each_init(
            || (vec![0f32; TILE_ROWS * h], vec![0f32; TILE_ROWS * d]),
            |(pre, xf), (t, (sg, e))| {
                let r0 = t * TILE_ROWS;
                self.preact_rows(x, r0, e.len(), pre, xf);
                for (k, ek) in e.iter_mut().enumerate() {
                    let a = &pre[k * h..(k + 1) * h];
                    *ek = self.energy_from(x.row(r0 + k), a);
                    sg[k * h..(k + 1) * h].iter_mut().zip(a).for_each(|(v, &ak)| *v = math::sigmoid(ak));
                }
            },
        );
        if d == 0 {
            return;
        }
        // grad (n × d) = σ(A) (n × H) · Wtᵀ (H × d).
        gemm(grad, n, d, Operand::new(&sig, n, h), Operand::t(self.wt(), d, h), -1.0, false);
        for g in grad.chunks_mut(d) {
            for (gi, bi) in g.iter_mut().zip(self.b()) {
                *gi -= bi;
            }
        }
    }

    /// Gray-code walk: a flip of bit i moves the pre-activation by tᵢ·Wᵀ[i,:] and bᵀx by tᵢbᵢ, then
    /// E = −bᵀx − Σⱼ softplus(aⱼ): O(H) per state. Recomputed from scratch every 4096 states.
    fn gray_energies(&self, start: u64, count: u64, visit: &mut dyn FnMut(f64)) -> bool {
        let (d, h) = (self.d, self.h);
        if d > 63 {
            return false;
        }
        let mut a = vec![0f32; h];
        let mut state = 0u64;
        let mut lin = 0f64;
        for k in start..start + count {
            if k == start || (k - start).is_multiple_of(4096) {
                state = k ^ (k >> 1);
                self.preact(&[state], &mut a);
                lin = 0.0;
                for_each_one(&[state], |i| lin += self.b()[i] as f64);
            } else {
                let i = k.trailing_zeros() as usize;
                let t = if (state >> i) & 1 == 1 { -1f32 } else { 1f32 };
                for (aj, &w) in a.iter_mut().zip(&self.wt()[i * h..(i + 1) * h]) {
                    *aj += t * w;
                }
                lin += (t * self.b()[i]) as f64;
                state ^= 1 << i;
            }
            visit(-lin - simd::softplus_sum(&a) as f64);
        }
        true
    }

    /// ∂E/∂b = −x, ∂E/∂c = −σ(a), ∂E/∂Wᵀ[i,j] = −σ(aⱼ)·xᵢ. Per base row with flips x' = x ⊕ e_i
    /// (a' = a + tᵢWᵀ[i,:]): D = Σₖ wₖσ(aₖ) over the base and its flips, then Wᵀ[j,:] −= D for
    /// every set bit j of x and Wᵀ[i,:] −= wₖσ(aₖ)tᵢ per flip. O(n·(s + popcount)·H).
    fn param_grad(&self, x: &BitBatch, w_base: &[f32], idx: &[u32], w_flip: &[f32], grad: &mut [f32]) {
        let (n, d, h) = (x.n(), self.d, self.h);
        if n == 0 || d == 0 {
            return;
        }
        let s = idx.len() / n;
        let np = self.params.len();
        // Flipped rows' σ(a + tW) from the flip table (one division per term) when it pays.
        let table = self.flip_table_for(n * s);
        // Rows in fixed chunks, each into its own (pooled) gradient buffer summed in chunk order:
        // the same bits for any thread count. A single chunk accumulates into `grad` directly.
        // From 32 rows on, the rows' D (n × H) is kept for the base rows' W gradient, one product
        // at the end; smaller batches scatter D into the rows of their set bits.
        let base_gemm = n >= 32;
        let mut dmat = vec![0f32; n * h];
        // Flips per block: every row of the chunk takes its flips of one block before the next
        // block, so that with all flips listed (exact RM) the block's table rows and gradient
        // rows (2·H floats per flip) are reused from L2 by the chunk's 16 rows instead of
        // streaming all d of them per row.
        let fb = (GRAD_BLOCK_ENTRIES / h.max(1)).clamp(1, s.max(1));
        let chunk = |ch: usize, g: &mut [f32], dm: &mut [f32]| {
            let (gw, rest) = g.split_at_mut(d * h);
            let (gb, gc) = rest.split_at_mut(d);
            let r0 = ch * GRAD_CHUNK;
            let nr = dm.len() / h;
            let (mut pre, mut xf) = (vec![0f32; TILE_ROWS * h], vec![0f32; TILE_ROWS * d]);
            let mut acts = vec![0f32; nr * h];
            let (mut sig, mut sbar) = (AlignedVec::zeros(nr * h), AlignedVec::zeros(nr * h));
            for (k, dsum) in dm.chunks_exact_mut(h).enumerate() {
                if k % TILE_ROWS == 0 {
                    self.preact_rows(x, r0 + k, TILE_ROWS.min(nr - k), &mut pre, &mut xf);
                }
                let rk = k * h..(k + 1) * h;
                acts[rk.clone()].copy_from_slice(&pre[k % TILE_ROWS * h..][..h]);
                simd::sigmoid_pair_into(&mut sig[rk.clone()], &mut sbar[rk.clone()], &acts[rk.clone()]);
                let wb = w_base[r0 + k];
                for (ds, &sj) in dsum.iter_mut().zip(&sig[rk]) {
                    *ds = wb * sj;
                }
            }
            for j0 in (0..s).step_by(fb) {
                for (k, dsum) in dm.chunks_exact_mut(h).enumerate() {
                    let (r, rk) = (r0 + k, k * h..(k + 1) * h);
                    let (row, a, sig, sbar) = (x.row(r0 + k), &acts[rk.clone()], &sig[rk.clone()], &sbar[rk]);
                    for j in j0..(j0 + fb).min(s) {
                        let (i, w) = (idx[r * s + j] as usize, w_flip[r * s + j]);
                        if w == 0.0 {
                            continue;
                        }
                        let t = 1.0 - 2.0 * bit(row, i) as f32;
                        let gwi = &mut gw[i * h..(i + 1) * h];
                        if let Some(tab) = &table {
                            let e = &tab.e[i * h..(i + 1) * h];
                            simd::flip_sigmoid_accumulate(dsum, gwi, sig, sbar, e, w, t < 0.0);
                        } else {
                            let wi = &self.wt()[i * h..(i + 1) * h];
                            for k in 0..h {
                                let sg = w * math::sigmoid(a[k] + t * wi[k]);
                                dsum[k] += sg;
                                gwi[k] -= t * sg;
                            }
                        }
                        gb[i] -= t * w;
                    }
                }
            }
            for (k, dsum) in dm.chunks_exact_mut(h).enumerate() {
                let r = r0 + k;
                let row = x.row(r);
                let wsum = w_base[r] + w_flip[r * s..(r + 1) * s].iter().sum::<f32>();
                for (gck, &dk) in gc.iter_mut().zip(dsum.iter()) {
                    *gck -= dk;
                }
                if base_gemm {
                    for_each_one(row, |j| gb[j] -= wsum);
                } else {
                    for_each_one(row, |j| {
                        gb[j] -= wsum;
                        simd::sub_assign(&mut gw[j * h..(j + 1) * h], dsum);
                    });
                }
            }
        };
        let chunks = n.div_ceil(GRAD_CHUNK);
        if chunks == 1 {
            chunk(0, grad, &mut dmat);
        } else {
            let partials: Vec<_> = (0..chunks)
                .into_par_iter()
                .zip(dmat.par_chunks_mut(GRAD_CHUNK * h))
                .map(|(ch, dm)| {
                    let mut g = self.pool.take(np);
                    g.fill(0.0);
                    chunk(ch, &mut g, dm);
                    g
                })
                .collect();
            for p in partials {
                grad.par_chunks_mut(1 << 14).zip(p.par_chunks(1 << 14)).for_each(|(g, v)| simd::axpy(g, 1.0, v));
                self.pool.give(p);
            }
        }
        // Base rows: Wᵀ[j,:] −= Σ_r x_rj·D_r, i.e. Wᵀ −= Xᵀ·D (X as 0/1 floats), one GEMM instead of
        // n·popcount scattered row updates.
        if base_gemm {
            gemm(&mut grad[..d * h], d, h, Operand::t(&x.to_dense_f32(), n, d), Operand::new(&dmat, n, h), -1.0, true);
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

    /// The fast softplus has ~1e-6 absolute error per term; sums over H terms.
    const TOL: Tol = Tol { rel: 1e-4, abs: 2e-4 };

    fn model(d: usize, h: usize, seed: u64) -> Rbm {
        let mut m = Rbm::random(d, h, 0.8, seed);
        let (bo, co) = (d * h, d * h + d);
        for k in 0..d {
            m.params[bo + k] = 0.1 * (k % 7) as f32 - 0.3;
        }
        for k in 0..h {
            m.params[co + k] = 0.2 * (k % 5) as f32 - 0.4;
        }
        m
    }

    #[test]
    fn kernels_match_reference_on_shapes_and_patterns() {
        for d in [1usize, 2, 3, 15, 16, 17, 63, 64, 65, 127, 130, 257] {
            for h in [1usize, 5, 16, 33] {
                let m = model(d, h, (d * 31 + h) as u64);
                for n in NS {
                    if n == 64 && d > 130 {
                        continue; // brute-force reference is O(n·d²·H)
                    }
                    for (name, x) in patterns(n, d, 5 + d as u64) {
                        check_model(&format!("rbm d={d} h={h} n={n} {name}"), &m, &x, 4, TOL, h as u64);
                    }
                }
            }
        }
    }

    /// Few row tiles split their flips into parts on separate tasks (more with more threads):
    /// the same bits with 1 and 4 threads, and the f64 reference, for d = 1100 (6 blocks of 204
    /// flips at H = 40) and n = 1, 9 (one tile, a full tile and one row).
    #[test]
    fn all_flip_delta_split_into_parts_matches_one_task() {
        let m = model(1100, 40, 3);
        for n in [1usize, 9] {
            let x = patterns(n, 1100, 8).remove(0).1;
            let run = |threads| {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                let mut out = vec![0f32; n * 1100];
                pool.install(|| m.delta_all(&x, &mut out));
                out
            };
            let (one, four) = (run(1), run(4));
            assert!(one.iter().zip(&four).all(|(a, b)| a.to_bits() == b.to_bits()), "n={n}: bits differ");
            crate::testing::assert_close(
                &format!("n={n}"),
                &four,
                &crate::reference::delta_all(&m, &x),
                TOL.rel,
                TOL.abs,
            );
        }
    }

    #[test]
    fn delta_matches_brute_force_reevaluation() {
        let (d, h) = (45, 12);
        let m = model(d, h, 3);
        for (name, x) in patterns(2, d, 8) {
            check_delta_brute_force(name, &m, &x);
        }
    }

    /// Large positive weights and saturated hidden units, so that a lane's product grows by up to
    /// e^{30} per factor (8 full chunks: far past the f32 range unless renormalized): W ∈ [0, 30]
    /// takes the tabulated path with a renormalization every 2 chunks, W ∈ [0, 120] the softplus
    /// path; both against the f64 reference.
    #[test]
    fn all_flip_delta_with_large_weights_and_saturated_units() {
        let (d, h) = (70, 133);
        for scale in [30.0f32, 120.0] {
            let mut m = Rbm::random(d, h, scale, 9);
            m.params[..d * h].iter_mut().for_each(|w| *w = w.abs());
            for k in 0..h {
                m.params[d * h + d + k] = if k % 2 == 0 { 60.0 } else { -60.0 };
            }
            assert_eq!(m.flip_table().is_some(), scale < 80.0);
            for (name, x) in patterns(3, d, 4) {
                let mut da = vec![0f32; 3 * d];
                m.delta_all(&x, &mut da);
                let what = format!("rbm |W| ≤ {scale} {name} delta_all");
                crate::testing::assert_close(&what, &da, &crate::reference::delta_all(&m, &x), 1e-4, 1e-2);
            }
        }
    }

    /// ΔE at chosen flips on both paths: softplus sums (few flips, no table yet), then the cached
    /// flip table after a delta_all; repeated and unordered indices.
    #[test]
    fn delta_at_both_paths_match_reference() {
        let (d, h) = (100, 37);
        let m = model(d, h, 5);
        for (name, x) in patterns(2, d, 6) {
            let idx = [99u32, 3, 3, 64, 0, 63];
            let want = crate::reference::delta_at(&m, &x, &idx);
            let fresh = m.clone();
            let mut got = vec![0f32; idx.len()];
            fresh.delta_at(&x, &idx, &mut got);
            assert!(fresh.table.get().is_none(), "2·3 flips < d: softplus path");
            crate::testing::assert_close(&format!("{name} softplus path"), &got, &want, TOL.rel, TOL.abs);
            let mut all = vec![0f32; 2 * d];
            fresh.delta_all(&x, &mut all);
            fresh.delta_at(&x, &idx, &mut got);
            crate::testing::assert_close(&format!("{name} table path"), &got, &want, TOL.rel, TOL.abs);
        }
    }

    /// Pre-activations of row tiles take the 8-row tile or a gather per row by the rows' share of
    /// ones: sparse (1/8), random and all-ones batches of 12 rows (a full tile and a 4-row one)
    /// give the energies of a gather per row, bit for bit.
    #[test]
    fn tile_or_gather_by_density_gives_the_same_bits() {
        let (d, h) = (150, 37);
        let m = model(d, h, 13);
        for (name, x) in patterns(12, d, 14) {
            let mut e = vec![0f32; 12];
            m.energy(&x, &mut e);
            let mut a = vec![0f32; h];
            for (r, &er) in e.iter().enumerate() {
                m.preact(x.row(r), &mut a);
                assert_eq!(er.to_bits(), m.energy_from(x.row(r), &a).to_bits(), "{name} row {r}");
            }
        }
    }

    /// A parameter change hands the flip table's buffers to the next table: the all-flip ΔE after
    /// it (d = 70, not a multiple of the 32-flip blocks) matches a fresh model's bit for bit.
    #[test]
    fn reused_table_buffers_match_a_fresh_model() {
        let (d, h, n) = (70, 37, 3);
        let mut m = model(d, h, 15);
        let x = patterns(n, d, 16).remove(0).1;
        let mut out = vec![0f32; n * d];
        m.delta_all(&x, &mut out);
        let first = m.flip_table().expect("tabulated").e.as_ptr();
        m.params_mut().iter_mut().for_each(|w| *w = -0.5 * *w + 0.01);
        m.delta_all(&x, &mut out);
        assert!(m.flip_table().expect("tabulated").e.as_ptr() == first, "e^{{W}} reused its buffer");
        let fresh = Rbm { tables: Pool::default(), pool: Pool::default(), table: OnceLock::new(), ..m.clone() };
        let mut want = vec![0f32; n * d];
        fresh.delta_all(&x, &mut want);
        assert!(out.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits()), "bits differ");
    }

    /// Exact RM's training step lists all d flips of every row in order: `delta_at` serves it with
    /// the all-flip kernel (the same bits as `delta_all`); a list out of order takes the list path.
    #[test]
    fn delta_at_listing_every_flip_in_order_is_delta_all() {
        let (d, h, n) = (70, 37, 3);
        let m = model(d, h, 11);
        for (name, x) in patterns(n, d, 12) {
            let idx: Vec<u32> = (0..n).flat_map(|_| 0..d as u32).collect();
            let (mut all, mut at) = (vec![0f32; n * d], vec![0f32; n * d]);
            m.delta_all(&x, &mut all);
            m.delta_at(&x, &idx, &mut at);
            assert!(all.iter().zip(&at).all(|(a, b)| a.to_bits() == b.to_bits()), "{name}: bits differ");
            let mut shuffled = idx.clone();
            shuffled[..d].reverse();
            m.delta_at(&x, &shuffled, &mut at);
            let want = crate::reference::delta_at(&m, &x, &shuffled);
            crate::testing::assert_close(&format!("{name} reversed row"), &at, &want, TOL.rel, TOL.abs);
        }
    }

    #[test]
    fn gray_walk_matches_batched_energies() {
        check_gray_walk("rbm", &model(13, 9, 4), 1000, 7000);
    }

    #[test]
    fn gradients_match_finite_differences() {
        for (d, h) in [(1usize, 1usize), (6, 4), (23, 9)] {
            let mut m = model(d, h, 7);
            check_finite_differences("rbm", &mut m, 2);
        }
    }

    #[test]
    fn from_parts_validates() {
        assert!(Rbm::from_parts(&[0.0; 5], &[0.0; 2], &[0.0; 3]).is_err());
        assert!(Rbm::from_parts(&[0.0, f32::INFINITY, 0.0, 0.0, 0.0, 0.0], &[0.0; 2], &[0.0; 3]).is_err());
        let m = Rbm::from_parts(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[0.0; 2], &[0.0; 3]).unwrap();
        let (_, w) = crate::reference::tensor_f64(&m, "W");
        assert_eq!(w, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        #[test]
        fn prop_fast_equals_reference(d in 1usize..=300, n in 1usize..5, h in 1usize..40, s in 1usize..6, seed in any::<u64>()) {
            let m = model(d, h, seed);
            let (_, x) = patterns(n, d, seed).swap_remove(0);
            check_model("rbm prop", &m, &x, s, TOL, seed);
        }
    }
}
