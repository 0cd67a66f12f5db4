//! The MLP's binary input layer: blocked gather-add forward and the folded first-layer gradient.

use super::{Buf, FlipSet, Mlp};
use crate::bits::{bit, BitBatch};
use crate::simd;
use rayon::prelude::*;

/// Most rows per first-layer task: a task walks W₀ᵀ once, so fewer, larger tasks read it fewer
/// times (at d = 4096, 4 MiB beyond L2, 16-row tasks made `energy` of 128 rows 1.9 ms and
/// 64-row tasks 1.4 ms); 64 rows of outputs (64 KiB at H = 256) stay in L2.
const MAX_TASK_ROWS: usize = 64;

/// a₁ of the last whole batch passed through an input gradient, keyed like the bf16 base cache
/// (bits, shape, parameter generation): RMwGGIS asks for the input gradient (the proposal) and
/// then the flipped rows of the same batch, whose base rows need the same a₁ (at d = 2048 one
/// gather-add pass over W₀ᵀ, 2 MiB). A clone starts empty.
#[derive(Debug, Default)]
pub(super) struct A1Cache(pub(super) std::sync::Mutex<Option<(u64, Buf)>>);

impl Clone for A1Cache {
    fn clone(&self) -> Self {
        A1Cache::default()
    }
}

impl Mlp {
    /// Keeps a₁ of the whole batch `x` (n × H) for [`Mlp::base_a1`].
    pub(super) fn remember_a1(&self, x: &BitBatch, a1: &[f32]) {
        let mut b = self.pool.take(a1.len());
        b.copy_from_slice(a1);
        let key = self.batch_key(x);
        let old = self.a1_cache.0.lock().unwrap_or_else(|e| e.into_inner()).replace((key, b));
        if let Some((_, old)) = old {
            self.pool.give(old);
        }
    }

    /// a₁ of rows `rows`: copied from the cache when it holds this batch under the current
    /// parameters, else [`Mlp::first_layer_rows`] (the same floats either way).
    pub(super) fn base_a1(&self, x: &BitBatch, rows: std::ops::Range<usize>, out: &mut [f32]) {
        let h = self.h;
        {
            let g = self.a1_cache.0.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((key, a1)) = g.as_ref() {
                if a1.len() == x.n() * h && *key == self.batch_key(x) {
                    out.copy_from_slice(&a1[rows.start * h..rows.end * h]);
                    return;
                }
            }
        }
        self.first_layer_rows(x, rows, out);
    }

    /// a₁ of rows `rows` (m × H), blocked: each task of up to [`MAX_TASK_ROWS`] rows (one per
    /// thread for a batch of 128) walks W₀ᵀ one 64-row block (one word of x) at a time across its
    /// rows, so a block is fetched once per task instead of once per row (W₀ᵀ is d·H floats:
    /// 2 MiB at d = 2048). Per element the same additions in the same order as a row-at-a-time
    /// gather-add: a₁ = b₀ + Σ_{set i} W₀ᵀ[i,:], i ascending (so the result does not depend on
    /// the task size or thread count).
    pub(super) fn first_layer_rows(&self, x: &BitBatch, rows: std::ops::Range<usize>, out: &mut [f32]) {
        let rb = rows.len().div_ceil(rayon::current_num_threads()).next_multiple_of(16).clamp(16, MAX_TASK_ROWS);
        let (h, d) = (self.h, self.d);
        if h == 0 {
            return;
        }
        let (w0, b0) = (self.w(0), self.b(0));
        out.par_chunks_mut(rb * h).enumerate().for_each(|(t, blk)| {
            let r0 = rows.start + t * rb;
            blk.chunks_mut(h).for_each(|o| o.copy_from_slice(b0));
            for w in 0..d.div_ceil(64) {
                let table = &w0[w * 64 * h..((w + 1) * 64).min(d) * h];
                for (k, o) in blk.chunks_mut(h).enumerate() {
                    let word = x.row(r0 + k)[w];
                    if word != 0 {
                        simd::gather_add(&[word], table, h, o);
                    }
                }
            }
        });
    }

    /// First-layer gradient from the weighted δ₁ of a chunk (tape layout of `fs`).
    pub(super) fn fold_first_layer(
        &self,
        x: &BitBatch,
        rows: std::ops::Range<usize>,
        fs: &FlipSet,
        delta: Buf,
        grad: &mut [f32],
    ) {
        let h = self.h;
        let at = |k: usize, j: usize| -> &[f32] {
            let t = fs.base_row(k) + j;
            &delta[t * h..(t + 1) * h]
        };
        self.fold_rows(x, rows, fs, &at, grad);
        self.pool.give(delta);
    }

    /// ∂W₀ᵀ from weighted δ₁ rows: `at(k, 0)` is base row k of the chunk, `at(k, 1 + j)` its
    /// flip j (of `fs.of(k)`).
    pub(super) fn fold_rows<'a>(
        &self,
        x: &BitBatch,
        rows: std::ops::Range<usize>,
        fs: &FlipSet,
        at: &(dyn Fn(usize, usize) -> &'a [f32] + Sync),
        grad: &mut [f32],
    ) {
        let h = self.h;
        let w0 = self.t(0).clone();
        let gw0 = &mut grad[w0.range()];
        // Tasks own disjoint ranges of input bits j (rows of W₀ᵀ); every element receives its
        // terms in the same order (flip terms by row, then the D_r by row) for any thread count.
        let d = self.d;
        let m = rows.len();
        // D_r = δ₁(base r) + Σ_j δ₁(flip j of r), once for all tasks.
        let mut dsums = self.pool.take(m * h);
        dsums.par_chunks_mut(h).enumerate().for_each(|(k, dsum)| {
            dsum.copy_from_slice(at(k, 0));
            for j in 0..fs.of(k).len() {
                simd::axpy(dsum, 1.0, at(k, 1 + j));
            }
        });
        // xᵀ: for every input bit j, the rows of this chunk that have it set (m-bit masks).
        let mw = m.div_ceil(64);
        let mut xt = vec![0u64; d * mw];
        for (k, r) in rows.clone().enumerate() {
            crate::bits::for_each_one(x.row(r), |j| xt[j * mw + k / 64] |= 1 << (k % 64));
        }
        let per_task = if m * d >= 1 << 12 { d.div_ceil(4 * rayon::current_num_threads()) } else { d };
        let bits_per_task = per_task.next_multiple_of(64).max(64);
        gw0.par_chunks_mut(bits_per_task * h).enumerate().for_each(|(t, gpart)| {
            let (j0, j1) = (t * bits_per_task, (t * bits_per_task + gpart.len() / h).min(d));
            // Flip terms tᵢ·δ₁(flip) for flipped bits in this range, rows in order …
            for (k, r) in rows.clone().enumerate() {
                for (j, &i) in fs.of(k).iter().enumerate() {
                    let i = i as usize;
                    if (j0..j1).contains(&i) {
                        let tt = 1.0 - 2.0 * bit(x.row(r), i) as f32;
                        simd::axpy(&mut gpart[(i - j0) * h..(i - j0 + 1) * h], tt, at(k, 1 + j));
                    }
                }
            }
            // … then W₀ᵀ[j,:] += Σ_{r: x_rj = 1} D_r, a gather-add over the D rows selected by
            // column j of x: accumulated in registers, one store per j (the row-wise scatter-add
            // stored every row of W₀ᵀ once per sample and was store-bound).
            for j in j0..j1 {
                simd::gather_add(&xt[j * mw..(j + 1) * mw], &dsums, h, &mut gpart[(j - j0) * h..(j - j0 + 1) * h]);
            }
        });
        self.pool.give(dsums);
    }
}
