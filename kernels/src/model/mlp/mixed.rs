//! Mixed precision on base-to-flip differences. A flipped row differs from its base row in one
//! input bit, so through every hidden layer its activations stay close to the base's: the
//! products of the n·s flipped rows run in bf16 on the *difference* only,
//!
//!   a_{k+1}(flip) = a_{k+1}(base) + bf16(z_k(flip) − z_k(base))·bf16(W_kᵀ),
//!   dz_{k−1}(flip) = dz_{k−1}(base) + bf16(δ̂_k(flip) − δ̂_k(base))·bf16(W_{k−1}),
//!
//! while the n base rows (their whole forward and backward, shared with the proposal's input
//! gradient through [`BaseCache`]), Swish and the output layer stay f32. The bf16 rounding error (relative 2⁻⁹ per product) is then relative to the base-to-flip change
//! itself, which is what ΔE and the ratio-matching gradient are made of; rounding whole rows
//! (the first experiment) made it relative to the activations and failed the 2% tolerance.
//! ΔE = (z_L(flip) − z_L(base))·W_L is summed from the difference directly.
//!
//! The backward pass carries unweighted δ̂ = ∂E/∂a per row (so flip and base δ̂ stay close) and
//! applies each row's weight where gradients are summed: ∂W_{k−1} = Σ_r w_r·δ̂_k[r]ᵀ z_{k−1}[r],
//! ∂β = Σ_r w_r·Σ_c dz·∂z/∂β. The weight gradient is split the same way (see `backward_split`):
//! a bf16 product of the base rows' δ̂ with f32-summed weighted activations Y, plus a bf16 product
//! of the weighted δ̂ differences with the flipped rows' activations. All dense products of the
//! flipped rows run at bf16 throughput. Where the half format is fp16 ([`bf16::half()`]: AVX512-FP16
//! without AMX), the weighted operands are divided by a power of two ≥ max |w| first (fp16 tops out
//! at 65504) and their products multiplied back. On AVX2 CPUs without AVX512-BF16 the products
//! run in int16 fixed point instead ([`WeightPacks::Int`], [`crate::i16`]): rows of the
//! differences and columns of the weights each scaled to ±2880, the weight-gradient operands per
//! column over the flipped rows.

use super::{Buf, FlipSet, Mlp, Tape};
use crate::aligned::AlignedVec;
use crate::bf16;
use crate::bits::BitBatch;
use crate::dense::{gemm, Operand};
use crate::i16;
use crate::simd;
use rayon::prelude::*;

/// Flipped rows per parallel task: each task runs Swish, the difference, the bf16 packing and
/// its share of the product on rows that stay in L2 (a multiple of the 6-row tile).
const TASK: usize = 96;

/// The hidden→hidden weight packs of layers k = 1..L−1 (forward W_kᵀ, backward W_k): 16-bit
/// floating halves ([`bf16`]: AVX512-BF16, AVX512-FP16 or AMX) or, on AVX2 CPUs without those,
/// int16 fixed point ([`i16`], `vpmaddwd`), where the flipped rows' weight-gradient products run
/// in f32 instead (their k is the row count, too long for one int32 sum of scaled rows).
#[derive(Clone, Debug)]
pub(super) enum WeightPacks {
    Half(Vec<(bf16::PackedB, bf16::PackedB)>),
    Int(Vec<(i16::PackedW, i16::PackedW)>),
}

impl WeightPacks {
    fn is_int(&self) -> bool {
        matches!(self, WeightPacks::Int(_))
    }

    /// Row `src` into ⌈H/2⌉ pairs of `dst`; returns its scale σ (1 for the float halves).
    fn pack_row(&self, src: &[f32], dst: &mut [u32]) -> f32 {
        match self {
            WeightPacks::Half(_) => {
                bf16::pack_row(src, dst);
                1.0
            }
            WeightPacks::Int(_) => i16::pack_row(src, dst),
        }
    }

    /// C (rows × H) += A·W_layerᵀ (forward) or A·W_layer (`backward`), A packed by
    /// [`WeightPacks::pack_row`] with its scales in `scales`.
    #[allow(clippy::too_many_arguments)]
    fn gemm_block(&self, layer: usize, backward: bool, c: &mut [f32], rows: usize, ap: &[u32], scales: &[f32]) {
        match self {
            WeightPacks::Half(p) => {
                let (f, b) = &p[layer - 1];
                bf16::gemm_block(c, rows, ap, if backward { b } else { f }, true)
            }
            WeightPacks::Int(p) => {
                let (f, b) = &p[layer - 1];
                i16::gemm_block(c, rows, ap, scales, if backward { b } else { f }, true)
            }
        }
    }
}

/// The int16 weight-gradient packs of the last call, reused by the next (they span the n·s
/// flipped rows: fresh ones were mapped and zeroed by the kernel on every call, ≈ 4% of a
/// ggis step in page faults and memset). A clone starts empty; concurrent calls allocate.
#[derive(Debug, Default)]
pub(super) struct I16Scratch(std::sync::Mutex<Option<(i16::PackedCols, i16::PackedW)>>);

impl Clone for I16Scratch {
    fn clone(&self) -> Self {
        I16Scratch::default()
    }
}

impl I16Scratch {
    fn take(&self) -> (i16::PackedCols, i16::PackedW) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take().unwrap_or_default()
    }

    fn give(&self, p: (i16::PackedCols, i16::PackedW)) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(p);
    }
}

/// The f32 pass of base rows, forward and unweighted backward (no weights needed: δ̂ = ∂E/∂a),
/// shared by the proposal's input gradient and the flipped rows of the same batch.
pub(super) struct Base {
    pub(super) tape: Tape,
    /// E of each base row.
    pub(super) energy: Vec<f32>,
    /// δ̂_k = ∂E/∂a_k for k = 1..=L (nb × H each).
    pub(super) dhat: Vec<Buf>,
    /// dz_k = ∂E/∂z_k for k = 1..L−1 (dz_L = W_L).
    pub(super) dz: Vec<Buf>,
    /// Per layer k and row r: Σ_c dz·∂z/∂β (the row's unweighted β gradient at layer k).
    pub(super) beta_parts: Vec<Vec<f32>>,
}

/// The last [`Base`] computed by an input gradient, keyed by batch and parameter generation, so
/// that the objective's next call on the same batch does not repeat it. A clone starts empty.
#[derive(Default)]
pub(super) struct BaseCache(std::sync::Mutex<Option<(u64, Base)>>);

impl Clone for BaseCache {
    fn clone(&self) -> Self {
        BaseCache::default()
    }
}

impl std::fmt::Debug for BaseCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BaseCache")
    }
}

/// Forward state of one chunk: base rows (nb) and their flips (nb·s, base-major).
pub(super) struct Split {
    pub(super) s: usize,
    pub(super) base: Base,

    pub(super) flips: Tape,
    /// ΔE = E(flip) − E(base), nb·s.
    pub(super) delta: Vec<f32>,
    /// bf16 row pairs of the flipped rows' z_j for hidden layers j = 1..L−1.
    pub(super) zpacks: Vec<bf16::PackedB>,
}

/// Weighted δ₁ = w_r·∂E_r/∂a₁ of a split chunk, for the first-layer fold.
pub(super) struct SplitDelta {
    pub(super) base: Buf,
    pub(super) flips: Buf,
}

/// Per-thread task scratch: one f32 row, the packed bf16 rows of a task and a task's f32 rows,
/// on cache lines (the AMX product ran at half speed on rows 16 bytes off).
#[derive(Default)]
struct Scratch {
    row: AlignedVec,
    packed: AlignedVec<u32>,
    rows: AlignedVec,
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::default());
}

/// Runs `f` with this thread's scratch sized for H (grown once, never zero-filled again).
fn with_scratch<R>(h: usize, f: impl FnOnce(&mut [f32], &mut [u32], &mut [f32]) -> R) -> R {
    SCRATCH.with(|c| {
        let mut g = c.borrow_mut();
        let s = &mut *g;
        let (k2, rows) = (TASK * h.div_ceil(2), TASK * h);
        if s.row.len() < h || s.packed.len() < k2 || s.rows.len() < rows {
            s.row.resize(s.row.len().max(h));
            s.packed.resize(s.packed.len().max(k2));
            s.rows.resize(s.rows.len().max(rows));
        }
        f(&mut s.row[..h], &mut s.packed[..k2], &mut s.rows[..rows])
    })
}

impl Mlp {
    /// First-layer pre-activations of the s flips of base rows `rows` (nb·s × H), from the base
    /// rows' a₁ (`a1`, nb × H).
    fn split_rows(&self, x: &BitBatch, rows: std::ops::Range<usize>, idx: &[u32], s: usize, a1: &[f32]) -> Buf {
        let h = self.h;
        let mut af = self.pool.take(rows.len() * s * h);
        af.par_chunks_mut(s * h).zip(a1.par_chunks(h)).zip(rows).for_each(|((out, base), r)| {
            let row = x.row(r);
            for j in 0..s {
                self.flip_into(base, row, idx[r * s + j] as usize, &mut out[j * h..(j + 1) * h]);
            }
        });
        af
    }

    /// Forward and unweighted backward of base rows `rows` in f32.
    pub(super) fn base_pass(&self, x: &BitBatch, rows: std::ops::Range<usize>) -> Base {
        let (h, l, beta) = (self.h, self.layers, self.beta());
        let m = rows.len();
        let a = self.flip_rows(x, rows.clone(), &FlipSet::none(rows.len()));
        let (tape, energy) = self.forward(a, m);
        let wl = self.w(l);
        let mut top = self.pool.take(m * h);
        top.chunks_mut(h).for_each(|r| r.copy_from_slice(wl));
        let (mut dhat, mut dz, mut beta_parts) = (Vec::new(), Vec::<Buf>::new(), Vec::new());
        for k in (1..=l).rev() {
            let dzk: &[f32] = if k == l { &top } else { &dz[dz.len() - 1] };
            let mut d = self.pool.take(m * h);
            let parts: Vec<f32> = d
                .par_chunks_mut(h)
                .zip(tape.a[k - 1].par_chunks(h).zip(tape.sig[k - 1].par_chunks(h)).zip(dzk.par_chunks(h)))
                .map(|(dr, ((ar, sr), zr))| simd::swish_backward(ar, sr, beta, zr, dr))
                .collect();
            if k >= 2 {
                let mut next = self.pool.take(m * h);
                gemm(&mut next, m, h, Operand::new(&d, m, h), Operand::new(self.w(k - 1), h, h), 1.0, false);
                dz.push(next);
            }
            dhat.push(d);
            beta_parts.push(parts);
        }
        self.pool.give(top);
        // Collected from the top layer down; stored by layer.
        dhat.reverse();
        dz.reverse();
        beta_parts.reverse();
        Base { tape, energy, dhat, dz, beta_parts }
    }

    /// Input gradient ∂E/∂x = δ̂₁·W₀ of a batch that fits one chunk, keeping its [`Base`] for
    /// the flipped rows that follow (bf16 mode only).
    pub(super) fn input_grad_cached(&self, x: &BitBatch, energy: &mut [f32], grad: &mut [f32]) {
        let (n, h, d) = (x.n(), self.h, self.d);
        let base = self.base_pass(x, 0..n);
        energy.copy_from_slice(&base.energy);
        if d > 0 {
            gemm(grad, n, d, Operand::new(&base.dhat[0], n, h), Operand::t(self.w(0), d, h), 1.0, false);
        }
        let mut g = self.base_cache.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, old)) = g.replace((self.batch_key(x), base)) {
            self.recycle_base(old);
        }
    }

    /// The cached [`Base`] of `x` if `rows` is the whole batch and the parameters are unchanged.
    fn cached_base(&self, x: &BitBatch, rows: &std::ops::Range<usize>) -> Option<Base> {
        if rows.start != 0 || rows.end != x.n() {
            return None;
        }
        let mut g = self.base_cache.0.lock().unwrap_or_else(|e| e.into_inner());
        match g.take() {
            Some((key, base)) if key == self.batch_key(x) => Some(base),
            other => {
                *g = other;
                None
            }
        }
    }

    /// Hash of the batch's bits, its shape and the parameter generation.
    pub(super) fn batch_key(&self, x: &BitBatch) -> u64 {
        let mut k = (x.n() as u64) ^ ((x.d() as u64) << 32) ^ self.generation.rotate_left(17);
        for r in 0..x.n() {
            for &w in x.row(r) {
                k = (k.rotate_left(5) ^ w).wrapping_mul(0x517c_c1b7_2722_0a95);
            }
        }
        k
    }

    pub(super) fn recycle_base(&self, b: Base) {
        self.recycle(b.tape);
        for v in b.dhat.into_iter().chain(b.dz) {
            self.pool.give(v);
        }
    }

    /// Forward of base rows `rows` and their s flips each, flips by bf16 difference products.
    pub(super) fn forward_split(&self, x: &BitBatch, rows: std::ops::Range<usize>, idx: &[u32], s: usize) -> Split {
        let (h, l, beta) = (self.h, self.layers, self.beta());
        let packs = self.bf16_packs.as_ref().expect("forward_split needs the bf16 packs");
        let nf = rows.len() * s;
        let k2 = h.div_ceil(2);
        let base = match self.cached_base(x, &rows) {
            Some(b) => b,
            None => self.base_pass(x, rows.clone()),
        };
        let int = packs.is_int();
        let mut af = self.split_rows(x, rows, idx, s, &base.tape.a[0]);
        let mut flips = Tape { m: nf, a: Vec::new(), sig: Vec::new(), z: Vec::new() };
        let mut delta = vec![0f32; nf];
        let mut zpacks = Vec::with_capacity(l - 1);
        for k in 1..=l {
            let zb = &base.tape.z[k - 1];
            let (mut zf, mut sgf) = (self.pool.take(nf * h), self.pool.take(nf * h));
            // Per flipped row: Swish, then either the packed difference z − z_base for the next
            // product (seeded with the base row's result) and z's bf16 row pairs for the weight
            // gradient, or, after the last layer, ΔE.
            let last = k == l;
            let next_b: &[f32] = if last { &[] } else { &base.tape.a[k] };
            let mut next_f = self.pool.take(if last { 0 } else { nf * h });
            // (The int16 engine's weight gradient reads the flipped rows' z in f32: no pairs.)
            let mut zpack = self.scratch_packs.take(if last || int { 0 } else { nf }, h);
            let wl = self.w(l);
            let tasks = af
                .par_chunks(TASK * h)
                .zip(zf.par_chunks_mut(TASK * h))
                .zip(sgf.par_chunks_mut(TASK * h))
                .zip(delta.par_chunks_mut(TASK));
            let n_tasks = nf.div_ceil(TASK);
            let outs: Vec<(&mut [f32], &mut [u32])> = if last {
                (0..n_tasks).map(|_| (&mut [][..], &mut [][..])).collect()
            } else if int {
                next_f.chunks_mut(TASK * h).map(|c| (c, &mut [][..])).collect()
            } else {
                next_f.chunks_mut(TASK * h).zip(zpack.pairs_mut().chunks_mut(TASK / 2 * h)).collect()
            };
            tasks.zip(outs).enumerate().for_each(|(t, ((((ar, zr), sr), dr), (nr, zp)))| {
                with_scratch(h, |diff, ap, _| {
                    let rows = ar.len() / h.max(1);
                    let mut scales = [0f32; TASK];
                    for i in 0..rows {
                        let (lo, hi) = (i * h, (i + 1) * h);
                        simd::swish_forward(&ar[lo..hi], beta, &mut zr[lo..hi], &mut sr[lo..hi]);
                        let p = (t * TASK + i) / s;
                        let z0 = &zb[p * h..(p + 1) * h];
                        if last {
                            dr[i] = zr[lo..hi].iter().zip(z0).zip(wl).map(|((a, b), w)| (a - b) * w).sum();
                        } else {
                            simd::diff_into(diff, &zr[lo..hi], z0);
                            scales[i] = packs.pack_row(diff, &mut ap[i * k2..(i + 1) * k2]);
                            nr[lo..hi].copy_from_slice(&next_b[p * h..(p + 1) * h]);
                        }
                    }
                    if !last {
                        if !int {
                            pack_pairs(zr, rows, h, zp);
                        }
                        packs.gemm_block(k, false, nr, rows, ap, &scales);
                    }
                })
            });
            flips.a.push(af);
            flips.sig.push(sgf);
            flips.z.push(zf);
            if last {
                self.scratch_packs.give(zpack);
            } else {
                zpacks.push(zpack);
            }
            af = next_f;
        }
        // The empty buffer taken for "after the last layer" holds a pooled vector: give it back
        // (dropping it made every step allocate and page-fault a fresh chunk buffer).
        self.pool.give(af);
        Split { s, base, flips, delta, zpacks }
    }

    /// Weighted backward of a split chunk (wb per base row, wf per flip): accumulates the
    /// gradients of layers 1..=L, β and b₀ into `grad` and returns the weighted δ₁.
    ///
    /// Layer k−1 (z_{k−1} → a_k) has ∂W = Σ_r w_r δ̂_k[r]ᵀ z_{k−1}[r]; with δ̂(flip) = δ̂(base) + Δ,
    ///   ∂W = Σ_b δ̂_bᵀ·Y_b, Y_b = w_b z_b + Σ_{f∈b} w_f z_f  (Y summed in f32; bf16 product, nb rows)
    ///      + Σ_f (w_f Δ_f)ᵀ·z_f                      (bf16, nf rows; Δ small, so the error ∝ Δ),
    ///   ∂b = Σ_b (w_b + Σ_f w_f)·δ̂_b + Σ_f w_f Δ_f.
    pub(super) fn backward_split(&self, sp: Split, wb: &[f32], wf: &[f32], grad: &mut [f32]) -> SplitDelta {
        let (h, l, beta, s) = (self.h, self.layers, self.beta(), sp.s);
        let packs = self.bf16_packs.as_ref().expect("backward_split needs the bf16 packs");
        let (nb, nf) = (sp.base.tape.m, sp.flips.m);
        let k2 = h.div_ceil(2);
        let int = packs.is_int();
        let wtot: Vec<f32> = (0..nb).map(|r| wb[r] + wf[r * s..(r + 1) * s].iter().sum::<f32>()).collect();
        // fp16 holds |x| < 65504: the weighted operands of the weight-gradient products (w·Δ and
        // Y) are packed divided by σ, a power of two ≥ max |w|, and their product multiplied back
        // (exact: scaling by 2^e changes no significand bits). bf16 has f32's range: σ = 1.
        let sigma = weight_scale(wb, wf);
        let inv_sigma = 1.0 / sigma;
        // Y_j = w_b z_b,j + Σ_f w_f z_f,j for hidden layers j = 1..L−1, in one pass: [j][b][H].
        let mut ys = self.pool.take((l - 1) * nb * h);
        ys.par_chunks_mut(h).enumerate().for_each(|(q, yr)| {
            let (j, r) = (q / nb, q % nb);
            let (zb, zf) = (&sp.base.tape.z[j], &sp.flips.z[j]);
            simd::scale_into(yr, wb[r], &zb[r * h..(r + 1) * h]);
            for f in r * s..(r + 1) * s {
                simd::axpy(yr, wf[f], &zf[f * h..(f + 1) * h]);
            }
            if sigma != 1.0 {
                simd::scale(yr, inv_sigma);
            }
        });
        // Output layer: ∂b_L = Σ_r w_r; ∂W_L = Σ_r w_r z_L[r] (base rows here, flips in the tasks).
        grad[self.t(2 * l + 1).offset] += wb.iter().chain(wf).sum::<f32>();
        let mut out_sum = weighted_col_sums(&sp.base.tape.z[l - 1], wb, h);
        let wl = self.w(l);
        let mut dzf = self.pool.take(if l > 1 { nf * h } else { 0 });
        let mut wdb = self.pool.take(nb * h);
        let mut wdf = self.pool.take(nf * h);
        let mut ppack = self.scratch_packs.take(0, h);
        let mut dbeta = 0f32;
        for k in (1..=l).rev() {
            let (first, top) = (k == 1, k == l);
            // Base rows (δ̂ from the base pass); bias weight w_b (k = 1) or w_b + Σ_f w_f (k ≥ 2).
            let db = &sp.base.dhat[k - 1];
            for r in 0..nb {
                dbeta += wb[r] * sp.base.beta_parts[k - 1][r];
                let wr = if first { wb[r] } else { wtot[r] };
                simd::scale_into(&mut wdb[r * h..(r + 1) * h], wr, &db[r * h..(r + 1) * h]);
            }
            let dzb_next: &[f32] = if first { &[] } else { &sp.base.dz[k - 2] };
            if !first && !int {
                ppack.reset(nf, h);
            }
            // Flipped rows, per task: δ̂ (dz_L = W_L on top), then either (k = 1) the weighted δ̂
            // for the fold, or the packed difference Δ = δ̂ − δ̂_base for dz_{k−1} = dz_{k−1}(base)
            // + bf16 product (written over dz_k, read first) and w·Δ's pairs for ∂W_{k−1}.
            // Each task returns its β part, the column sums of what it weighted, and on top Σ w z_L.
            let (a, sg, zt) = (&sp.flips.a[k - 1], &sp.flips.sig[k - 1], &sp.flips.z[k - 1]);
            let n_tasks = nf.div_ceil(TASK);
            let dz_chunks: Vec<&mut [f32]> =
                if l == 1 { (0..n_tasks).map(|_| &mut [][..]).collect() } else { dzf.chunks_mut(TASK * h).collect() };
            let pp: Vec<&mut [u32]> = if first || int {
                (0..n_tasks).map(|_| &mut [][..]).collect()
            } else {
                ppack.pairs_mut().chunks_mut(TASK / 2 * h).collect()
            };
            let parts: Vec<(f32, Vec<f32>, Vec<f32>)> = a
                .par_chunks(TASK * h)
                .zip(sg.par_chunks(TASK * h))
                .zip(zt.par_chunks(TASK * h))
                .zip(wf.par_chunks(TASK))
                .zip(wdf.par_chunks_mut(TASK * h))
                .zip(dz_chunks)
                .zip(pp)
                .enumerate()
                .map(|(t, ((((((ar, sr), zr), w), wd), dz), pp))| {
                    with_scratch(h, |_, ap, dl| {
                        let rows = ar.len() / h.max(1);
                        let (mut part, mut cols, mut outs) = (0f32, vec![0f32; h], Vec::new());
                        for i in 0..rows {
                            let (lo, hi) = (i * h, (i + 1) * h);
                            let dzr = if top { wl } else { &dz[lo..hi] };
                            part += w[i] * simd::swish_backward(&ar[lo..hi], &sr[lo..hi], beta, dzr, &mut dl[lo..hi]);
                        }
                        if top {
                            outs = weighted_col_sums(zr, w, h);
                        }
                        if first {
                            for i in 0..rows {
                                let (lo, hi) = (i * h, (i + 1) * h);
                                simd::scale_into(&mut wd[lo..hi], w[i], &dl[lo..hi]);
                            }
                            add_rows(&mut cols, &wd[..rows * h], h);
                            return (part, cols, outs);
                        }
                        let mut scales = [0f32; TASK];
                        for i in 0..rows {
                            let (lo, hi) = (i * h, (i + 1) * h);
                            let p = (t * TASK + i) / s;
                            let d = &mut dl[lo..hi];
                            simd::sub_assign(d, &db[p * h..(p + 1) * h]);
                            scales[i] = packs.pack_row(d, &mut ap[i * k2..(i + 1) * k2]);
                            simd::scale(d, w[i] * inv_sigma);
                        }
                        add_rows(&mut cols, &dl[..rows * h], h);
                        if int {
                            // w·Δ in f32 for the weight gradient (wdf is free until k = 1).
                            wd[..rows * h].copy_from_slice(&dl[..rows * h]);
                        } else {
                            pack_pairs(&dl[..rows * h], rows, h, pp);
                        }
                        // dz_{k−1} rows: base result, then the bf16 product of the differences.
                        for i in 0..rows {
                            let p = (t * TASK + i) / s;
                            dz[i * h..(i + 1) * h].copy_from_slice(&dzb_next[p * h..(p + 1) * h]);
                        }
                        packs.gemm_block(k - 1, true, dz, rows, ap, &scales);
                        (part, cols, outs)
                    })
                })
                .collect();
            let bias = if first { self.t(1).clone() } else { self.t(2 * (k - 1) + 1).clone() };
            super::col_sums_into(&wdb, h, &mut grad[bias.range()]);
            for (part, cols, outs) in &parts {
                dbeta += part;
                // The flips' columns were summed from w·Δ/σ when k ≥ 2 (exactly σ times smaller).
                let cs = if first { 1.0 } else { sigma };
                grad[bias.range()].iter_mut().zip(cols).for_each(|(g, &v)| *g += cs * v);
                out_sum.iter_mut().zip(outs).for_each(|(g, &v)| *g += v);
            }
            if top {
                grad[self.t(2 * l).range()].iter_mut().zip(&out_sum).for_each(|(g, &v)| *g += v);
            }
            if first {
                break;
            }
            let wt = self.t(2 * (k - 1)).clone();
            let y = &ys[(k - 2) * nb * h..(k - 1) * nb * h];
            if int {
                // ∂W_{k−1} += Σ_b δ̂_bᵀ Y_b (f32, nb rows) + Σ_f (w_f Δ_f)ᵀ z_f (int16, both
                // operands quantized per column over the nf rows; σ = 1 here).
                let g = &mut grad[wt.range()];
                gemm(g, h, h, Operand::t(db, nb, h), Operand::new(y, nb, h), 1.0, true);
                let (mut pa, mut pz) = self.i16_scratch.take();
                pa.repack_rows(&wdf[..nf * h], nf, h);
                pz.repack_rows(&sp.flips.z[k - 2], nf, h);
                i16::gemm_tn(g, &pa, &pz, true);
                self.i16_scratch.give((pa, pz));
                continue;
            }
            let (mut pd, mut py) = (self.scratch_packs.take(0, h), self.scratch_packs.take(0, h));
            pd.repack_rows(db, nb, h);
            py.repack_rows(y, nb, h);
            if sigma == 1.0 {
                bf16::gemm_tn(&mut grad[wt.range()], &pd, &py, true);
                bf16::gemm_tn(&mut grad[wt.range()], &ppack, &sp.zpacks[k - 2], true);
            } else {
                let mut prod = self.pool.take(h * h);
                bf16::gemm_tn(&mut prod, &pd, &py, false);
                bf16::gemm_tn(&mut prod, &ppack, &sp.zpacks[k - 2], true);
                simd::axpy(&mut grad[wt.range()], sigma, &prod);
                self.pool.give(prod);
            }
            self.scratch_packs.give(pd);
            self.scratch_packs.give(py);
        }
        let nparams = grad.len();
        grad[nparams - 1] += dbeta;
        for b in [dzf, ys] {
            self.pool.give(b);
        }
        self.scratch_packs.give(ppack);
        for p in sp.zpacks {
            self.scratch_packs.give(p);
        }
        self.recycle_base(sp.base);
        self.recycle(sp.flips);
        SplitDelta { base: wdb, flips: wdf }
    }

    /// Gradient of one split chunk: backward, then the first-layer fold; gives buffers back.
    pub(super) fn grad_split(
        &self,
        x: &BitBatch,
        rows: std::ops::Range<usize>,
        idx: &[u32],
        sp: Split,
        wb: &[f32],
        wf: &[f32],
        grad: &mut [f32],
    ) {
        let (h, s) = (self.h, sp.s);
        let dl = self.backward_split(sp, wb, wf, grad);
        let at = |k: usize, j: usize| -> &[f32] {
            if j == 0 {
                &dl.base[k * h..(k + 1) * h]
            } else {
                let f = k * s + j - 1;
                &dl.flips[f * h..(f + 1) * h]
            }
        };
        let fs = FlipSet::each(&idx[rows.start * s..rows.end * s], rows.len(), s);
        self.fold_rows(x, rows, &fs, &at, grad);
        self.pool.give(dl.base);
        self.pool.give(dl.flips);
    }

    /// Whether products of flipped rows run as bf16 differences (the bf16 switch is on, s ≥ 1).
    pub(super) fn split_mode(&self, s: usize) -> bool {
        self.bf16_packs.is_some() && s >= 1 && self.h > 0
    }
}

/// σ for the weighted fp16 operands: the least power of two ≥ max |w| (1 in the bf16 format or
/// when every weight is 0 or tiny, so small weights are not scaled up).
fn weight_scale(wb: &[f32], wf: &[f32]) -> f32 {
    let max = wb.iter().chain(wf).fold(0f32, |m, w| m.max(w.abs()));
    if bf16::half() != bf16::Half::F16 || !max.is_finite() || max <= 1.0 {
        return 1.0;
    }
    2f32.powi(max.log2().ceil() as i32)
}

/// H-wide rows (`rows` of them) as bf16 row pairs into `dst` (⌈rows/2⌉ pair rows).
fn pack_pairs(m: &[f32], rows: usize, h: usize, dst: &mut [u32]) {
    for (q, d) in dst.chunks_mut(h).take(rows.div_ceil(2)).enumerate() {
        let hi = (2 * q + 1 < rows).then(|| &m[(2 * q + 1) * h..(2 * q + 2) * h]);
        bf16::pack_pair(&m[2 * q * h..(2 * q + 1) * h], hi, d);
    }
}

/// out[c] += Σ_r m[r·h + c].
fn add_rows(out: &mut [f32], m: &[f32], h: usize) {
    for r in m.chunks(h) {
        simd::axpy(out, 1.0, r);
    }
}

/// Σ_r w_r·m[r, :] over H-wide rows.
fn weighted_col_sums(m: &[f32], w: &[f32], h: usize) -> Vec<f32> {
    let mut out = vec![0f32; h];
    for (r, &wr) in m.chunks(h).zip(w) {
        simd::axpy(&mut out, wr, r);
    }
    out
}
