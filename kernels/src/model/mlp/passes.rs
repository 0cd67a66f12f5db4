//! The MLP's forward and backward passes over m rows, as one chain of layers per thread.
//!
//! Rows are independent through every layer except the weight-gradient products, so the rows are
//! cut into one part per thread (whole 64-row blocks) and each thread runs its part through all
//! layers — sequential GEMM, then the fused element-wise pass, layer after layer — without waiting
//! for the other threads between layers. Only the weight gradients ∂Wₖ = δₖ₊₁ᵀ·zₖ, which sum over
//! all rows, run afterwards as parallel GEMMs. A layer-at-a-time schedule (every GEMM and every
//! element-wise pass split across the pool) put two barriers per layer into each pass.

use super::layer_pass::{swish_back_rows, swish_rows, BlockSums, BLOCK};
use super::{Buf, Mlp, Tape};

use crate::simd;
use rayon::prelude::*;

/// Fewest FLOPs of a pass worth splitting across threads (as `dense::parallel_worth_it`).
const PARALLEL_FLOPS: usize = 1 << 22;

/// `bufs` (each m × h) cut at the row bounds of `parts`: result[p][b] is part p of buffer b.
fn split_parts<'a>(bufs: Vec<&'a mut [f32]>, parts: &[std::ops::Range<usize>], h: usize) -> Vec<Vec<&'a mut [f32]>> {
    let mut out: Vec<Vec<&'a mut [f32]>> = parts.iter().map(|_| Vec::with_capacity(bufs.len())).collect();
    for buf in bufs {
        let mut rest = buf;
        for (p, r) in parts.iter().enumerate() {
            let (head, tail) = std::mem::take(&mut rest).split_at_mut(r.len() * h);
            out[p].push(head);
            rest = tail;
        }
    }
    out
}

impl Mlp {
    /// Row parts of m rows, one per thread, each a whole number of 64-row blocks (one part when
    /// the pass is too small to split or the pool has one thread).
    fn row_parts(&self, m: usize) -> Vec<std::ops::Range<usize>> {
        let t = rayon::current_num_threads();
        let flops = 2 * m * self.h * self.h * (self.layers - 1).max(1);
        if t <= 1 || flops < PARALLEL_FLOPS {
            return std::iter::once(0..m).collect();
        }
        let per = m.div_ceil(t).next_multiple_of(BLOCK);
        (0..m).step_by(per.max(1)).map(|lo| lo..(lo + per).min(m)).collect()
    }

    /// Runs m rows from first-layer pre-activations `a1` (m × H) to energies. Per layer one GEMM
    /// aₖ₊₁ = zₖ·Wₖᵀ and one pass that adds the bias bₖ in place, applies Swish and, after the
    /// last layer, takes E = b_L + z_L·W_L while the row is in L1 — per thread on its own rows.
    pub(super) fn forward(&self, a1: Buf, m: usize) -> (Tape, Vec<f32>) {
        let (h, l) = (self.h, self.layers);
        let beta = self.beta();
        let mut tape = Tape { m, a: vec![a1], sig: Vec::with_capacity(l), z: Vec::with_capacity(l) };
        for _ in 1..l {
            tape.a.push(self.pool.take(m * h));
        }
        for _ in 0..l {
            tape.z.push(self.pool.take(m * h));
            tape.sig.push(self.pool.take(m * h));
        }
        let mut e = vec![0f32; m];
        let parts = self.row_parts(m);
        let mut bufs: Vec<&mut [f32]> = Vec::with_capacity(3 * l);
        bufs.extend(tape.a.iter_mut().map(|b| &mut b[..]));
        bufs.extend(tape.z.iter_mut().map(|b| &mut b[..]));
        bufs.extend(tape.sig.iter_mut().map(|b| &mut b[..]));
        let split = split_parts(bufs, &parts, h);
        let es: Vec<&mut [f32]> = split_parts(vec![&mut e[..]], &parts, 1).into_iter().flatten().collect();
        let run = |(mut a, e): (Vec<&mut [f32]>, &mut [f32])| {
            let mp = e.len();
            let mut sig = a.split_off(2 * l);
            let mut z = a.split_off(l);
            for k in 1..=l {
                let bias = (k >= 2).then(|| self.b(k - 1));
                let out = (k == l).then(|| (self.w(k), self.b(k)[0]));
                swish_rows(&mut *a[k - 1], &mut *z[k - 1], &mut *sig[k - 1], &mut *e, h, beta, bias, out);
                if k < l {
                    self.hidden_product(&mut *a[k], mp, &*z[k - 1], k, false);
                }
            }
        };
        if parts.len() == 1 {
            split.into_iter().zip(es).for_each(run);
        } else {
            split.into_par_iter().zip(es).for_each(run);
        }
        (tape, e)
    }

    /// Returns a tape's buffers to the pool.
    pub(super) fn recycle(&self, tape: Tape) {
        for v in tape.a.into_iter().chain(tape.sig).chain(tape.z) {
            self.pool.give(v);
        }
    }

    /// Backward of Σ_r w_r·E(row r) through the output and hidden layers: accumulates the gradients
    /// of layers 1..=L and β into `grad`, adds Σ_r δ₁ into the b₀ gradient, and returns
    /// δ₁ = ∂/∂a₁ (m × H) for the caller's first-layer (or input) gradient. With `grad = None`
    /// only δ₁ is computed (input gradients need no parameter gradients).
    ///
    /// Per thread, on its rows, layer after layer: δₖ = dzₖ ⊙ swish'(aₖ) (dz_L = w_r·W_L made row by
    /// row) with each 64-row block's partial sums of Σ δₖ (bias gradient), Σ_r w_r·z_L[r] (output
    /// weights) and the β gradient, then dzₖ₋₁ = δₖ·Wₖ₋₁. The partials are added in block order, so
    /// they do not depend on the thread count. Then, over all rows, ∂Wₖ₋₁ = δₖᵀ·zₖ₋₁.
    pub(super) fn backward(&self, tape: &Tape, w: &[f32], mut grad: Option<&mut [f32]>) -> Buf {
        let (m, h, l) = (tape.m, self.h, self.layers);
        let beta = self.beta();
        let sums = grad.is_some();
        // δₖ of every layer (kept for the weight-gradient products), and one dz buffer.
        let mut deltas: Vec<Buf> = (0..l).map(|_| self.pool.take(m * h)).collect();
        let mut dz = self.pool.take(m * h);
        let parts = self.row_parts(m);
        let mut bufs: Vec<&mut [f32]> = deltas.iter_mut().map(|b| &mut b[..]).collect();
        bufs.push(&mut dz[..]);
        let split = split_parts(bufs, &parts, h);
        let run = |(mut bufs, r): (Vec<&mut [f32]>, std::ops::Range<usize>)| -> Vec<Vec<BlockSums>> {
            let (mp, span) = (r.len(), r.start * h..r.end * h);
            let dz = bufs.pop().expect("dz part");
            let mut per_layer = Vec::with_capacity(l);
            for k in (1..=l).rev() {
                let top = k == l;
                per_layer.push(swish_back_rows(
                    &tape.a[k - 1][span.clone()],
                    &tape.sig[k - 1][span.clone()],
                    beta,
                    if top { None } else { Some(&dz[..]) },
                    top.then(|| (&w[r.clone()], self.w(l), &tape.z[l - 1][span.clone()])),
                    &mut *bufs[k - 1],
                    h,
                    sums,
                ));
                if k >= 2 {
                    self.hidden_product(&mut *dz, mp, &*bufs[k - 1], k - 1, true);
                }
            }
            per_layer
        };
        // by_part[p][L − k]: layer k's block partials of part p.
        let by_part: Vec<Vec<Vec<BlockSums>>> = if parts.len() == 1 {
            split.into_iter().zip(parts.clone()).map(run).collect()
        } else {
            split.into_par_iter().zip(parts.clone()).map(run).collect()
        };
        self.pool.give(dz);
        let mut dbeta = 0f32;
        for k in (1..=l).rev() {
            let top = k == l;
            let blocks = by_part.iter().flat_map(|p| p[l - k].iter());
            for p in blocks.clone() {
                dbeta += p.dbeta;
            }
            if let Some(grad) = grad.as_deref_mut() {
                let bt = self.t(2 * (k - 1) + 1).clone();
                for p in blocks.clone() {
                    simd::axpy(&mut grad[bt.range()], 1.0, &p.bias);
                }
                if top {
                    let (wl_t, bl_t) = (self.t(2 * l).clone(), self.t(2 * l + 1).clone());
                    for p in blocks {
                        simd::axpy(&mut grad[wl_t.range()], 1.0, &p.out_w);
                    }
                    grad[bl_t.offset] += w.iter().sum::<f32>();
                }
                if k >= 2 {
                    // Layer k−1 maps z_{k−1} → a_k: ∂W = δ_kᵀ z_{k−1}.
                    let wt = self.t(2 * (k - 1)).clone();
                    self.hidden_weight_grad(&mut grad[wt.range()], m, &deltas[k - 1], &tape.z[k - 2]);
                }
            }
        }
        if let Some(grad) = grad {
            let nb = grad.len() - 1;
            grad[nb] += dbeta;
        }
        let mut deltas = deltas.into_iter();
        let delta1 = deltas.next().expect("at least one hidden layer");
        for d in deltas {
            self.pool.give(d);
        }
        delta1
    }
}
