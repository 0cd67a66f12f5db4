//! The RBM's all-flip ΔE without a transcendental per term (see [`crate::simd::log_mix_products`]):
//! softplus(a + tw) − softplus(a) = ln(σ(−a) + σ(a)·e^{tw}), so one flip's H-term sum is the log of a
//! product over a cached table of e^{W}.

use super::Rbm;
use crate::aligned::AlignedVec;
use crate::bits::{for_each_one, BitBatch};
use crate::simd::{self, TILE_ROWS};
use rayon::prelude::*;
use std::sync::Arc;

/// Rows per parallel task of the tabulated all-flip ΔE: each block of flip-table rows is read
/// from memory once per task and reused from cache by the task's other rows; the rows'
/// pre-activations are one tile of [`simd::gather_add_tile`].
const FLIP_ROWS: usize = TILE_ROWS;

/// Flip-table entries (both signs) per block of flips, 32 KiB: the task's rows reuse it from L1.
const FLIP_BLOCK_ENTRIES: usize = 8 * 1024;

/// Largest |W| for the tabulated path: e^{±80} and a [1, 2) mantissa times it stay normal in f32.
const TABLE_MAX_ABS_W: f32 = 80.0;

/// e^{W} per flip (see [`simd::log_mix_products`]): row i holds e^{Wᵀ[i,:]}. A flip of bit i from
/// 0 multiplies σ̄ⱼ + σⱼ·e^{Wᵢⱼ}; from 1, σ̄ⱼ + σⱼ·e^{−Wᵢⱼ} = e^{−Wᵢⱼ}·(σⱼ + σ̄ⱼ·e^{Wᵢⱼ}): the same
/// row with σ and σ̄ swapped, minus Sᵢ = Σⱼ Wᵢⱼ in the log.
#[derive(Debug)]
pub(super) struct FlipTable {
    pub(super) e: AlignedVec,
    /// Sᵢ = Σⱼ Wᵀ[i, j].
    rowsum: Vec<f32>,
    /// Factors between renormalizations: ⌊80 / max|W|⌋.
    every: usize,
}

impl Rbm {
    /// The flip table of the current parameters (cached), or `None` when some |W| > 80 (then
    /// the softplus path runs).
    pub(super) fn flip_table(&self) -> Option<Arc<FlipTable>> {
        self.table.get_or_init(|| self.build_flip_table().map(Arc::new)).clone()
    }

    /// e^{W} and the row sums: d·H exponentials, O(d·H).
    fn build_flip_table(&self) -> Option<FlipTable> {
        let h = self.h;
        // |w| as bits: ordered like the values, and NaN/∞ compare above 80. Small tables are built
        // on the calling thread (waking the pool costs more than the work).
        let parallel = self.wt().len() >= 1 << 16;
        let max_of = |c: &[f32]| c.iter().map(|v| v.to_bits() & 0x7fff_ffff).max().unwrap_or(0);
        let max_bits =
            if parallel { self.wt().par_chunks(4096).map(max_of).max().unwrap_or(0) } else { max_of(self.wt()) };
        if max_bits > TABLE_MAX_ABS_W.to_bits() || h == 0 {
            return None;
        }
        let max_abs = f32::from_bits(max_bits);
        let every = if max_abs > 0.0 { ((TABLE_MAX_ABS_W / max_abs) as usize).clamp(1, 1 << 20) } else { 1 << 20 };
        let mut e = AlignedVec::zeros(self.wt().len());
        if parallel {
            e.par_chunks_mut(4096).zip(self.wt().par_chunks(4096)).for_each(|(o, w)| simd::exp_into(o, w));
        } else {
            simd::exp_into(&mut e, self.wt());
        }
        let rowsum = self.wt().chunks(h).map(simd::sum).collect();
        Some(FlipTable { e, rowsum, every })
    }

    /// ΔE at s chosen flips per row (`idx`, n × s) from the flip table, as
    /// [`Rbm::delta_all_tabulated`] with the rows' flips taken [`FLIP_BLOCK_ENTRIES`] / H at a time.
    pub(super) fn delta_at_tabulated(&self, x: &BitBatch, idx: &[u32], table: &FlipTable, out: &mut [f32]) {
        let (h, n) = (self.h, x.n());
        let s = idx.len() / n;
        let block = (FLIP_BLOCK_ENTRIES / h).clamp(1, s.max(1));
        out.par_chunks_mut(FLIP_ROWS * s).enumerate().for_each_init(
            || FlipScratch::new(self.d, h, block),
            |sc, (task, o)| {
                let r0 = task * FLIP_ROWS;
                let nr = o.len() / s;
                sc.prepare(self, x, r0, nr);
                for j0 in (0..s).step_by(block) {
                    let j1 = (j0 + block).min(s);
                    for k in 0..nr {
                        let r = r0 + k;
                        sc.flips_at(
                            self,
                            table,
                            x.row(r),
                            k,
                            &idx[r * s + j0..r * s + j1],
                            &mut o[k * s + j0..k * s + j1],
                        );
                    }
                }
            },
        );
    }

    /// a = c + Wx of rows r0..r0 + nr (nr ≤ [`TILE_ROWS`]) into `pre` (TILE_ROWS × H): one 8-row
    /// tile (each row of W read once) from 4 rows on, else a gather per row. `xf`: d × TILE_ROWS
    /// scratch for the rows as 0/1 floats (transposed).
    pub(super) fn preact_rows(&self, x: &BitBatch, r0: usize, nr: usize, pre: &mut [f32], xf: &mut [f32]) {
        let (d, h) = (self.d, self.h);
        debug_assert!(nr <= TILE_ROWS && pre.len() == TILE_ROWS * h && xf.len() == TILE_ROWS * d);
        if nr < 4 {
            for k in 0..nr {
                self.preact(x.row(r0 + k), &mut pre[k * h..(k + 1) * h]);
            }
            return;
        }
        xf.fill(0.0);
        for k in 0..nr {
            for_each_one(x.row(r0 + k), |i| xf[i * TILE_ROWS + k] = 1.0);
        }
        for p in pre.chunks_exact_mut(h) {
            p.copy_from_slice(self.c());
        }
        simd::gather_add_tile(pre, xf, self.wt(), h);
    }

    /// All-flip ΔE from the flip table: per task of [`FLIP_ROWS`] rows, σ(±a) once per row, then
    /// block by block of flips, ΔEᵢ = −bᵢ − ln Πⱼ (σ̄ⱼ + σⱼ·e^{Wᵢⱼ}) for xᵢ = 0 and
    /// ΔEᵢ = bᵢ − ln Πⱼ (σⱼ + σ̄ⱼ·e^{Wᵢⱼ}) + Sᵢ for xᵢ = 1 (σ = σ(a), σ̄ = σ(−a)).
    /// O(n·(popcount + d)·H) multiply-adds and n·d logs; no transcendental per term.
    pub(super) fn delta_all_tabulated(&self, x: &BitBatch, table: &FlipTable, out: &mut [f32]) {
        let (d, h) = (self.d, self.h);
        let block = (FLIP_BLOCK_ENTRIES / h).clamp(1, d);
        out.par_chunks_mut(FLIP_ROWS * d).enumerate().for_each_init(
            || FlipScratch::new(d, h, block),
            |sc, (task, o)| {
                let r0 = task * FLIP_ROWS;
                let nr = o.len() / d;
                sc.prepare(self, x, r0, nr);
                for i0 in (0..d).step_by(block) {
                    let i1 = (i0 + block).min(d);
                    for k in 0..nr {
                        sc.flips(self, table, x.row(r0 + k), k, i0..i1, &mut o[k * d..(k + 1) * d]);
                    }
                }
            },
        );
    }
}

/// Per-task buffers of the tabulated flips.
struct FlipScratch {
    /// Pre-activations of the task's rows (TILE_ROWS × H) and the rows as 0/1 floats (d × TILE_ROWS).
    pre: Vec<f32>,
    xf: Vec<f32>,
    /// σ(a) and σ(−a) of the task's rows, aligned rows when 16 | H.
    sig: AlignedVec,
    sbar: AlignedVec,
    /// Flips from 0 and from 1 of the current block, where their ΔE go, and their log-products.
    from0: Vec<u32>,
    from1: Vec<u32>,
    pos0: Vec<u32>,
    pos1: Vec<u32>,
    out0: Vec<f32>,
    out1: Vec<f32>,
}

impl FlipScratch {
    fn new(d: usize, h: usize, block: usize) -> Self {
        FlipScratch {
            pre: vec![0.0; TILE_ROWS * h],
            xf: vec![0.0; TILE_ROWS * d],
            sig: AlignedVec::zeros(FLIP_ROWS * h),
            sbar: AlignedVec::zeros(FLIP_ROWS * h),
            from0: Vec::with_capacity(block),
            from1: Vec::with_capacity(block),
            pos0: Vec::with_capacity(block),
            pos1: Vec::with_capacity(block),
            out0: vec![0.0; block],
            out1: vec![0.0; block],
        }
    }

    /// The task's rows r0..r0 + nr: a = c + Wx into `pre` (see [`Rbm::preact_rows`]), then σ(±a).
    fn prepare(&mut self, m: &Rbm, x: &BitBatch, r0: usize, nr: usize) {
        let h = m.h;
        m.preact_rows(x, r0, nr, &mut self.pre, &mut self.xf);
        for k in 0..nr {
            let a = &self.pre[k * h..(k + 1) * h];
            simd::sigmoid_pair_into(&mut self.sig[k * h..(k + 1) * h], &mut self.sbar[k * h..(k + 1) * h], a);
        }
    }

    /// ΔEᵢ of the task's row `k` (bits `row`) for the flips i in `flips` (see
    /// [`Rbm::delta_all_tabulated`]), written to `out[i]`. `flips.len()` ≤ this scratch's block.
    fn flips(&mut self, m: &Rbm, t: &FlipTable, row: &[u64], k: usize, flips: std::ops::Range<usize>, out: &mut [f32]) {
        self.from0.clear();
        self.from1.clear();
        // Split the flips by bit value a word at a time: set bits of x and of ¬x inside the range.
        let (i0, i1) = (flips.start, flips.end);
        if i0 < i1 {
            for w in i0 / 64..=(i1 - 1) / 64 {
                let lo = (w * 64).max(i0) - w * 64;
                let hi = (w * 64 + 64).min(i1) - w * 64;
                let range = (u64::MAX >> (64 - (hi - lo))) << lo;
                for (mut m, list) in [(row[w] & range, &mut self.from1), (!row[w] & range, &mut self.from0)] {
                    while m != 0 {
                        list.push((w * 64) as u32 + m.trailing_zeros());
                        m &= m - 1;
                    }
                }
            }
        }
        self.pos0.clone_from(&self.from0);
        self.pos1.clone_from(&self.from1);
        self.evaluate(m, t, k, out);
    }

    /// ΔE of the task's row `k` (bits `row`) at the listed flips (any order, repeats allowed),
    /// `out[j]` for `idx[j]`; `idx.len()` ≤ this scratch's block.
    fn flips_at(&mut self, m: &Rbm, t: &FlipTable, row: &[u64], k: usize, idx: &[u32], out: &mut [f32]) {
        self.from0.clear();
        self.from1.clear();
        self.pos0.clear();
        self.pos1.clear();
        for (j, &i) in idx.iter().enumerate() {
            if crate::bits::bit(row, i as usize) != 0 {
                self.from1.push(i);
                self.pos1.push(j as u32);
            } else {
                self.from0.push(i);
                self.pos0.push(j as u32);
            }
        }
        self.evaluate(m, t, k, out);
    }

    /// The split flips' log-products, then ΔE = ∓b − L (+ Sᵢ from 1) into `out` at their positions.
    fn evaluate(&mut self, m: &Rbm, t: &FlipTable, k: usize, out: &mut [f32]) {
        let h = m.h;
        let (sig, sbar) = (&self.sig[k * h..(k + 1) * h], &self.sbar[k * h..(k + 1) * h]);
        let (n0, n1) = (self.from0.len(), self.from1.len());
        simd::log_mix_products(&mut self.out0[..n0], sig, sbar, &t.e, &self.from0, t.every);
        simd::log_mix_products(&mut self.out1[..n1], sbar, sig, &t.e, &self.from1, t.every);
        let b = m.b();
        for ((&i, &p), &l) in self.from0.iter().zip(&self.pos0).zip(&self.out0) {
            out[p as usize] = -b[i as usize] - l;
        }
        for ((&i, &p), &l) in self.from1.iter().zip(&self.pos1).zip(&self.out1) {
            out[p as usize] = b[i as usize] - l + t.rowsum[i as usize];
        }
    }
}
