//! MLP energy d → H → … → H → 1 with Swish z = a·σ(β·a) after every hidden layer (one learnable β
//! shared by them) and none on the output: E(x) = W_L·z_L + b_L. The RMwGGIS reference's model.
//!
//! The first layer is never a matrix product: its weight is stored transposed ([d, H]) and
//! a₁ = b₀ + Σ_{set i} W₀ᵀ[i,:] is a gather-add; a flipped input moves it by tᵢ·W₀ᵀ[i,:]
//! (tᵢ = 1 − 2xᵢ), O(H) per flip. Dense layers run as faer GEMMs over many rows at once; rows are
//! processed in chunks of at most `chunk_rows` so memory stays bounded for exact ratio matching.

use super::{fill_uniform, layout, EnergyModel, ModelKind, TensorSpec, WeightFn};
use crate::aligned::AlignedVec;
use crate::bf16;
use crate::bits::{bit, BitBatch};
use crate::dense::{gemm, Operand};
use crate::simd;
use rayon::prelude::*;

/// Default maximum rows (base + flipped) alive at once: 4096 rows × (2L + 1)·H floats (f32; the
/// bf16 path keeps about twice that). 4096 and 8192 measured the same step time for exact rm at
/// d = 256 and 2048 (`rmbench step-bench`), so the smaller bound keeps peak memory at 45–80 MiB.
pub const DEFAULT_CHUNK_ROWS: usize = 4096;

/// MLP energy with Swish hidden layers.
#[derive(Clone, Debug)]
pub struct Mlp {
    d: usize,
    h: usize,
    layers: usize,
    tensors: Vec<TensorSpec>,
    params: AlignedVec,
    chunk_rows: usize,
    pool: Pool,
    /// Packs of the hidden→hidden weights (forward Wᵀ, backward W) when the mixed-precision
    /// path is on; rebuilt by `params_changed`.
    bf16_packs: Option<mixed::WeightPacks>,
    /// Split packs of the hidden→hidden weights when the bf16x3 engine is on (`mlp/x3.rs`);
    /// rebuilt by `params_changed`.
    x3_packs: Option<x3::X3Packs>,
    /// Reused bf16 packs of per-step operands (weight-gradient products).
    scratch_packs: PackPool,
    /// Reused int16 weight-gradient packs (the AVX2 mixed path).
    i16_scratch: mixed::I16Scratch,
    /// Base-row pass of the last input gradient (bf16 mode), reused by the flipped rows.
    base_cache: mixed::BaseCache,
    /// First-layer pre-activations of the last input gradient's batch (f32 mode), reused by the
    /// flipped rows of the same batch.
    a1_cache: first_layer::A1Cache,
    /// Parameter generation: bumped by `params_mut` and `params_changed`, part of cache keys.
    generation: u64,
}

/// Activations of m rows through the hidden layers: pre-activations and sigmoids per layer.
struct Tape {
    m: usize,
    /// aₖ (m × H) for k = 1..=L.
    a: Vec<Buf>,
    /// σ(β·aₖ).
    sig: Vec<Buf>,
    /// zₖ = aₖ·σ(β·aₖ).
    z: Vec<Buf>,
}

impl Mlp {
    /// PyTorch's default init (weights and biases uniform in ±1/√fan_in), β = 1.
    pub fn new(d: usize, hidden: usize, n_hidden_layers: usize, seed: u64) -> Self {
        assert!(n_hidden_layers >= 1, "an MLP needs at least one hidden layer");
        let mut names: Vec<(String, Vec<usize>, bool)> = Vec::new();
        for k in 0..=n_hidden_layers {
            let (o, i) = match k {
                0 => (hidden, d),
                k if k == n_hidden_layers => (1, hidden),
                _ => (hidden, hidden),
            };
            names.push((format!("layers.{k}.weight"), vec![o, i], k == 0));
            names.push((format!("layers.{k}.bias"), vec![o], false));
        }
        names.push(("swish.beta".into(), vec![1], false));
        let items: Vec<(&str, &[usize], bool)> = names.iter().map(|(n, s, t)| (n.as_str(), s.as_slice(), *t)).collect();
        let tensors = layout(&items);
        let total = tensors.last().map(|t| t.offset + t.len()).unwrap_or(0);
        let mut m = Mlp {
            d,
            h: hidden,
            layers: n_hidden_layers,
            tensors,
            params: AlignedVec::zeros(total),
            chunk_rows: DEFAULT_CHUNK_ROWS,
            pool: Pool::default(),
            bf16_packs: None,
            x3_packs: None,
            i16_scratch: Default::default(),
            scratch_packs: PackPool::default(),
            base_cache: mixed::BaseCache::default(),
            a1_cache: first_layer::A1Cache::default(),
            generation: 0,
        };
        for (k, t) in m.tensors.clone().iter().enumerate() {
            if t.name == "swish.beta" {
                m.params[t.offset] = 1.0;
                continue;
            }
            let fan_in = if t.name.starts_with("layers.0.") { d } else { hidden };
            let bound = 1.0 / (fan_in.max(1) as f32).sqrt();
            fill_uniform(&mut m.params[t.range()], seed.wrapping_mul(0x100).wrapping_add(k as u64), bound);
        }
        match bf16::precision_default() {
            bf16::Precision::Bf16 => {
                m.set_bf16(true);
            }
            bf16::Precision::Bf16x3 => {
                m.set_bf16x3(true);
            }
            bf16::Precision::F32 => {}
        }
        m
    }

    /// Hidden width H.
    pub fn hidden(&self) -> usize {
        self.h
    }

    /// Hidden layers L.
    pub fn n_hidden_layers(&self) -> usize {
        self.layers
    }

    /// Maximum rows (base and flipped) processed at once; bounds peak memory.
    pub fn chunk_rows(&self) -> usize {
        self.chunk_rows
    }

    /// Mixed precision for flipped rows: the hidden→hidden products of the forward pass and of the
    /// input-side backward of every flipped row run in bf16 on its difference from the base row
    /// (`mlp/mixed.rs`); base rows, Swish, the first layer, the output and the weight-gradient
    /// products stay f32, and so do energies and input gradients. Only where the CPU has
    /// AVX512-BF16 (returns whether it is on). New models take [`bf16::precision_default`]. The
    /// tolerance against f32 is tested in `mlp/tests.rs` and documented in the README.
    ///
    /// On AVX2 CPUs without AVX512-BF16 the same difference products run in int16 fixed point
    /// instead ([`crate::i16`], `vpmaddwd`), and the weight-gradient products of the flipped rows
    /// in f32.
    pub fn set_bf16(&mut self, on: bool) -> bool {
        self.bf16_packs = None;
        if on && bf16::mixed_available() {
            self.x3_packs = None;
            self.pack_bf16();
        }
        self.bf16_packs.is_some()
    }

    /// Whether the bf16 path is on.
    pub fn bf16(&self) -> bool {
        self.bf16_packs.is_some()
    }

    fn pack_bf16(&mut self) {
        let h = self.h;
        let packs = if bf16::available() {
            mixed::WeightPacks::Half(
                (1..self.layers)
                    .into_par_iter()
                    .map(|k| {
                        rayon::join(
                            || bf16::PackedB::new(Operand::t(self.w(k), h, h)),
                            || bf16::PackedB::new(Operand::new(self.w(k), h, h)),
                        )
                    })
                    .collect(),
            )
        } else {
            mixed::WeightPacks::Int(
                (1..self.layers)
                    .into_par_iter()
                    .map(|k| {
                        rayon::join(
                            || crate::i16::PackedW::new(Operand::t(self.w(k), h, h)),
                            || crate::i16::PackedW::new(Operand::new(self.w(k), h, h)),
                        )
                    })
                    .collect(),
            )
        };
        self.bf16_packs = Some(packs);
    }

    /// Sets [`Mlp::chunk_rows`] (at least 1).
    pub fn set_chunk_rows(&mut self, rows: usize) {
        self.chunk_rows = rows.max(1);
    }

    /// FLOPs of the dense part of one row's forward pass: 2H² per hidden→hidden layer, 2H output.
    /// A backward pass with parameter and input gradients costs twice that again.
    pub fn flops_dense_forward_row(&self) -> u64 {
        let h = self.h as u64;
        (self.layers as u64 - 1) * 2 * h * h + 2 * h
    }

    fn t(&self, k: usize) -> &TensorSpec {
        &self.tensors[k]
    }
    /// Weight tensor of layer k (index 2k in the layout).
    fn w(&self, k: usize) -> &[f32] {
        &self.params[self.t(2 * k).range()]
    }
    fn b(&self, k: usize) -> &[f32] {
        &self.params[self.t(2 * k + 1).range()]
    }
    fn beta(&self) -> f32 {
        self.params[self.params.len() - 1]
    }

    /// Flipped pre-activation: a₁ + tᵢ·W₀ᵀ[i,:].
    #[inline]
    fn flip_into(&self, base: &[f32], row: &[u64], i: usize, out: &mut [f32]) {
        let t = 1.0 - 2.0 * bit(row, i) as f32;
        let wi = &self.w(0)[i * self.h..(i + 1) * self.h];
        simd::add_scaled_into(out, base, t, wi);
    }

    /// Row ranges of base samples so that each chunk has at most `chunk_rows` rows when every base
    /// row brings `per_row` rows.
    fn chunks(&self, n: usize, per_row: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
        let step = (self.chunk_rows / per_row.max(1)).max(1);
        (0..n).step_by(step).map(move |lo| lo..(lo + step).min(n))
    }

    /// Pre-activations of base rows `rows` and their flips in the tape layout of `fs`: per base
    /// row, the base row, then its distinct flips.
    fn flip_rows(&self, x: &BitBatch, rows: std::ops::Range<usize>, fs: &FlipSet) -> Buf {
        let h = self.h;
        let mut a = self.pool.take(fs.tape_rows() * h);
        if fs.tape_rows() == fs.rows() {
            self.first_layer_rows(x, rows, &mut a);
            return a;
        }
        // Base rows by the blocked gather (W₀ᵀ walked once per task) or from the input
        // gradient's cache of the same batch, then each flip from its base row.
        let mut base_a = self.pool.take(rows.len() * h);
        self.base_a1(x, rows.clone(), &mut base_a);
        let mut blocks = Vec::with_capacity(rows.len());
        let mut rest = &mut a[..];
        for k in 0..rows.len() {
            let (block, tail) = std::mem::take(&mut rest).split_at_mut((1 + fs.of(k).len()) * h);
            blocks.push(block);
            rest = tail;
        }
        blocks.into_par_iter().zip(base_a.par_chunks(h)).enumerate().for_each(|(k, (out, base))| {
            let row = x.row(rows.start + k);
            out[..h].copy_from_slice(base);
            for (j, &i) in fs.of(k).iter().enumerate() {
                self.flip_into(base, row, i as usize, &mut out[(1 + j) * h..(2 + j) * h]);
            }
        });
        self.pool.give(base_a);
        a
    }

    /// ΔE for s flips per base row (idx n × s), chunked: out[r·s + j].
    fn delta_flips(&self, x: &BitBatch, idx: &[u32], s: usize, out: &mut [f32]) {
        if s == 0 || self.h == 0 {
            return;
        }
        for rows in self.chunks(x.n(), s + 1) {
            if self.split_mode(s) {
                let sp = self.forward_split(x, rows.clone(), idx, s);
                out[rows.start * s..rows.end * s].copy_from_slice(&sp.delta);
                self.recycle_base(sp.base);
                self.recycle(sp.flips);
                continue;
            }
            let fs = FlipSet::distinct(&idx[rows.start * s..rows.end * s], rows.len(), s, self.d);
            let a = self.flip_rows(x, rows.clone(), &fs);
            let (tape, e) = self.forward(a, fs.tape_rows());
            self.recycle(tape);
            fs.deltas(&e, &mut out[rows.start * s..rows.end * s]);
        }
    }
}

/// out[c] += Σ_r m[r·h + c].
fn col_sums_into(m: &[f32], h: usize, out: &mut [f32]) {
    for r in m.chunks(h) {
        simd::axpy(out, 1.0, r);
    }
}

impl EnergyModel for Mlp {
    fn kind(&self) -> ModelKind {
        ModelKind::Mlp
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
        self.generation += 1;
        &mut self.params
    }
    fn set_precision(&mut self, p: bf16::Precision) -> bool {
        match p {
            bf16::Precision::F32 => {
                self.set_bf16(false);
                self.set_bf16x3(false);
                true
            }
            bf16::Precision::Bf16 => self.set_bf16(true),
            bf16::Precision::Bf16x3 => self.set_bf16x3(true),
        }
    }
    fn params_changed(&mut self) {
        self.generation += 1;
        if self.bf16_packs.is_some() {
            self.pack_bf16();
        }
        if self.x3_packs.is_some() {
            self.split_weights();
        }
    }
    fn metadata(&self) -> Vec<(String, String)> {
        vec![
            ("activation".into(), "swish".into()),
            ("hidden".into(), self.h.to_string()),
            ("layers".into(), self.layers.to_string()),
        ]
    }

    /// Gather-add first layer, GEMM dense layers, chunked: O(n·(popcount·H + L·H²)).
    fn energy(&self, x: &BitBatch, out: &mut [f32]) {
        for rows in self.chunks(x.n(), 1) {
            let a = self.flip_rows(x, rows.clone(), &FlipSet::none(rows.len()));
            let (tape, e) = self.forward(a, rows.len());
            self.recycle(tape);
            out[rows].copy_from_slice(&e);
        }
    }

    /// All d flips of every row through the dense layers, chunked to ≤ chunk_rows rows:
    /// O(n·d·L·H²) FLOPs but only O(H) first-layer work per flip.
    fn delta_all(&self, x: &BitBatch, out: &mut [f32]) {
        let (n, d) = (x.n(), self.d);
        let idx: Vec<u32> = (0..n).flat_map(|_| 0..d as u32).collect();
        self.delta_flips(x, &idx, d, out);
    }

    /// s chosen flips per row: O(n·s·L·H²).
    fn delta_at(&self, x: &BitBatch, idx: &[u32], out: &mut [f32]) {
        let n = x.n();
        if n == 0 {
            return;
        }
        self.delta_flips(x, idx, idx.len() / n, out);
    }

    /// Forward, backward to δ₁, then ∂E/∂x = δ₁·W₀ (GEMM n × H × d).
    fn input_grad(&self, x: &BitBatch, energy: &mut [f32], grad: &mut [f32]) {
        let (h, d) = (self.h, self.d);
        if self.split_mode(1) && x.n() <= self.chunk_rows && x.n() > 0 {
            return self.input_grad_cached(x, energy, grad);
        }
        for rows in self.chunks(x.n(), 1) {
            let m = rows.len();
            let a = self.flip_rows(x, rows.clone(), &FlipSet::none(rows.len()));
            let (tape, e) = self.forward(a, m);
            if m == x.n() {
                self.remember_a1(x, &tape.a[0]);
            }
            energy[rows.clone()].copy_from_slice(&e);
            let delta = self.backward(&tape, &vec![1.0; m], None);
            self.recycle(tape);
            if d > 0 {
                gemm(
                    &mut grad[rows.start * d..rows.end * d],
                    m,
                    d,
                    Operand::new(&delta, m, h),
                    Operand::t(self.w(0), d, h),
                    1.0,
                    false,
                );
            }
            self.pool.give(delta);
        }
    }

    /// Weighted backward over base rows and their flips, chunked. First layer folded: with D_r the
    /// sum of δ₁ over row r's base and flips, ∂W₀ᵀ[j,:] += D_r for each set bit j of x_r and
    /// ∂W₀ᵀ[i,:] += tᵢ·δ₁(flip) per flip: O(rows·L·H² + n·popcount·H), never rows·d·H.
    fn param_grad(&self, x: &BitBatch, w_base: &[f32], idx: &[u32], w_flip: &[f32], grad: &mut [f32]) {
        let n = x.n();
        if n == 0 || self.h == 0 {
            return;
        }
        let s = idx.len() / n;
        for rows in self.chunks(n, s + 1) {
            if self.split_mode(s) {
                let sp = self.forward_split(x, rows.clone(), idx, s);
                let (lo, hi) = (rows.start, rows.end);
                self.grad_split(x, rows, idx, sp, &w_base[lo..hi], &w_flip[lo * s..hi * s], grad);
                continue;
            }
            let (lo, hi) = (rows.start, rows.end);
            let fs = FlipSet::distinct(&idx[lo * s..hi * s], rows.len(), s, self.d);
            let a = self.flip_rows(x, rows.clone(), &fs);
            let (tape, _) = self.forward(a, fs.tape_rows());
            self.backward_chunk(x, rows, &fs, tape, &w_base[lo..hi], &w_flip[lo * s..hi * s], grad);
        }
    }

    /// One forward pass per chunk serves both ΔE and the weighted backward: 3 passes over the
    /// flipped rows instead of 4.
    fn delta_then_grad(&self, x: &BitBatch, idx: &[u32], weights: &mut WeightFn<'_>, grad: &mut [f32]) -> bool {
        let n = x.n();
        if n == 0 || self.h == 0 {
            return true;
        }
        let s = idx.len() / n;
        let mut wb = vec![0f32; n];
        let mut wf = vec![0f32; n * s];
        for rows in self.chunks(n, s + 1) {
            let (lo, hi) = (rows.start, rows.end);
            if self.split_mode(s) {
                let sp = self.forward_split(x, rows.clone(), idx, s);
                if !weights(rows.clone(), &sp.delta, &mut wb[lo..hi], &mut wf[lo * s..hi * s]) {
                    self.recycle_base(sp.base);
                    self.recycle(sp.flips);
                    return false;
                }
                self.grad_split(x, rows, idx, sp, &wb[lo..hi], &wf[lo * s..hi * s], grad);
                continue;
            }
            let fs = FlipSet::distinct(&idx[lo * s..hi * s], rows.len(), s, self.d);
            let a = self.flip_rows(x, rows.clone(), &fs);
            let (tape, e) = self.forward(a, fs.tape_rows());
            let mut delta = vec![0f32; rows.len() * s];
            fs.deltas(&e, &mut delta);
            if !weights(rows.clone(), &delta, &mut wb[lo..hi], &mut wf[lo * s..hi * s]) {
                self.recycle(tape);
                return false;
            }
            self.backward_chunk(x, rows, &fs, tape, &wb[lo..hi], &wf[lo * s..hi * s], grad);
        }
        true
    }
}

impl Mlp {
    /// Backward of one chunk's tape (layout of `fs`) with the chunk's base and per-draw weights,
    /// then the folded first-layer gradient.
    fn backward_chunk(
        &self,
        x: &BitBatch,
        rows: std::ops::Range<usize>,
        fs: &FlipSet,
        tape: Tape,
        w_base: &[f32],
        w_flip: &[f32],
        grad: &mut [f32],
    ) {
        let w = fs.tape_weights(w_base, w_flip);
        let delta = self.backward(&tape, &w, Some(&mut *grad));
        self.recycle(tape);
        self.fold_first_layer(x, rows, fs, delta, grad);
    }
}

mod first_layer;
mod flips;
mod layer_pass;
mod mixed;
mod passes;
pub(crate) mod pool;
mod x3;

use flips::FlipSet;
use pool::{Buf, PackPool, Pool};
#[cfg(test)]
mod tests;
