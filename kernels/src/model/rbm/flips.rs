//! The RBM's all-flip ΔE without a transcendental per term (see [`crate::simd::log_mix_products`]):
//! softplus(a + tw) − softplus(a) = ln(σ(−a) + σ(a)·e^{tw}), so one flip's H-term sum is the log of a
//! product over a cached table of e^{W}.

use super::Rbm;
use crate::aligned::AlignedVec;
use crate::bits::{for_each_one, BitBatch};
use crate::model::mlp::pool::{Buf, Pool};
use crate::simd::{self, COLS, TILE_ROWS};
use rayon::prelude::*;
use std::sync::{Arc, OnceLock};

/// Rows per parallel task of the tabulated all-flip ΔE: each block of flip-table rows is read
/// from memory once per task and reused from cache by the task's other rows; the rows'
/// pre-activations are one tile of [`simd::gather_add_tile`].
const FLIP_ROWS: usize = TILE_ROWS;

/// Flip-table entries per block of flips (H per flip), 32 KiB: the task's rows reuse it from L1.
const FLIP_BLOCK_ENTRIES: usize = 8 * 1024;

/// Share of ones (percent) from which the 8-row tile beats a gather per row: while W (d·H
/// floats) fits in 1 MiB, and beyond, where both stream W from L3 and the tile reads it once per
/// 8 rows, the gather 8·density times (so ≈ 1/8). `models --bench rbm_energy_density` on the
/// session-17 Xeon (n = 128, H = 256, gather → tile): d = 256 p15 56 → 94 µs, p50 137 → 102;
/// d = 1024 p15 194 → 295, p50 499 → 330; d = 4096 p5 0.45 → 1.25 ms, p15 1.30 → 1.30, p50
/// 5.88 → 1.42. Near 1/8 the two are within 30% either way: at d = 4096 and 13% ones
/// `delta_at_s10` 1.45 (gather) → 1.14 ms (tile), `energy` 1.24 → 1.63 ms.
const TILE_MIN_PERCENT: [usize; 2] = [30, 12];

/// Largest |W| for the tabulated path: e^{±80} and a [1, 2) mantissa times it stay normal in f32.
const TABLE_MAX_ABS_W: f32 = 80.0;

/// e^{W} per flip (see [`simd::log_mix_products`]): row i holds e^{Wᵀ[i,:]}. A flip of bit i from
/// 0 multiplies σ̄ⱼ + σⱼ·e^{Wᵢⱼ}; from 1, σ̄ⱼ + σⱼ·e^{−Wᵢⱼ} = e^{−Wᵢⱼ}·(σⱼ + σ̄ⱼ·e^{Wᵢⱼ}): the same
/// row with σ and σ̄ swapped, minus Sᵢ = Σⱼ Wᵢⱼ in the log.
#[derive(Debug)]
pub(super) struct FlipTable {
    pub(super) e: Buf,
    /// Sᵢ = Σⱼ Wᵀ[i, j].
    pub(super) rowsum: Vec<f32>,
    /// The table transposed into blocks of 32 flips (see [`super::columns`]), built on the first
    /// all-flip ΔE.
    cols: OnceLock<Buf>,
    /// Factors between renormalizations: ⌊80 / max|W|⌋.
    every: usize,
    /// max |W|: with a row's pre-activations it bounds the factors of the additive form.
    max_abs: f32,
}

impl FlipTable {
    /// The transposed blocks of [`super::columns::transpose_blocks`] (built once, O(d·H)).
    fn columns(&self, d: usize, h: usize, pool: &Pool) -> &[f32] {
        crate::model::cached::<Buf>(&self.cols, || super::columns::transpose_blocks(&self.e, d, h, pool))
    }

    /// Hands the table's buffers back to `pool` (for the next parameters' table).
    pub(super) fn recycle(self, pool: &Pool) {
        pool.give(self.e);
        if let Some(c) = self.cols.into_inner() {
            pool.give(c);
        }
    }
}

impl Rbm {
    /// The flip table of the current parameters (cached), or `None` when some |W| > 80 (then
    /// the softplus path runs).
    pub(super) fn flip_table(&self) -> Option<Arc<FlipTable>> {
        super::super::cached(&self.table, || self.build_flip_table().map(Arc::new)).clone()
    }

    /// The flip table for a call over `flips` flips: the table costs d·H exponentials, so it is
    /// built from about d flips on and used whenever it is already cached.
    pub(super) fn flip_table_for(&self, flips: usize) -> Option<Arc<FlipTable>> {
        if flips >= self.d || self.table.get().is_some() {
            self.flip_table()
        } else {
            None
        }
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
        // Every entry is written below: a reused buffer needs no zeroing.
        let mut e = self.tables.take(self.wt().len());
        if parallel {
            e.par_chunks_mut(4096).zip(self.wt().par_chunks(4096)).for_each(|(o, w)| simd::exp_into(o, w));
        } else {
            simd::exp_into(&mut e, self.wt());
        }
        let rowsum = self.wt().chunks(h).map(simd::sum).collect();
        Some(FlipTable { e, rowsum, cols: OnceLock::new(), every, max_abs })
    }

    /// a = c + Wx of rows r0..r0 + nr (nr ≤ [`TILE_ROWS`]) into `pre` (TILE_ROWS × H): one 8-row
    /// tile (each row of W read once, d·H multiply-adds per row) from 4 rows on when the rows
    /// have enough ones ([`TILE_MIN_PERCENT`]), else a gather per row (popcount·H adds). Both
    /// give the same bits. `xf`: d × TILE_ROWS scratch for the rows as 0/1 floats (transposed).
    pub(super) fn preact_rows(&self, x: &BitBatch, r0: usize, nr: usize, pre: &mut [f32], xf: &mut [f32]) {
        let (d, h) = (self.d, self.h);
        debug_assert!(nr <= TILE_ROWS && pre.len() == TILE_ROWS * h && xf.len() == TILE_ROWS * d);
        let ones = || (0..nr).map(|k| simd::popcount(x.row(r0 + k)) as usize).sum::<usize>();
        let [in_l2, beyond] = TILE_MIN_PERCENT;
        let pct = if d * h * 4 <= 1 << 20 { in_l2 } else { beyond };
        if nr < 4 || ones() * 100 < pct * nr * d {
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

    /// ΔE from the flip table at s flips per row: all d (`idx` = None, s = d, row-major n × d) or
    /// the listed ones (`idx`, n × s). Per task of [`FLIP_ROWS`] rows, σ(±a) once per row (and the
    /// additive form's u, v and C, see [`TileRows::prepare`]), then
    /// block by block of flips, ΔEᵢ = −bᵢ − ln Πⱼ (σ̄ⱼ + σⱼ·e^{Wᵢⱼ}) for xᵢ = 0 and
    /// ΔEᵢ = bᵢ − ln Πⱼ (σⱼ + σ̄ⱼ·e^{Wᵢⱼ}) + Sᵢ for xᵢ = 1 (σ = σ(a), σ̄ = σ(−a)).
    /// O(n·(popcount + s)·H) multiply-adds and n·s logs; no transcendental per term.
    pub(super) fn delta_tabulated(&self, x: &BitBatch, idx: Option<&[u32]>, table: &FlipTable, out: &mut [f32]) {
        let (d, h, n) = (self.d, self.h, x.n());
        let s = idx.map_or(d, |v| v.len() / n);
        let block = (FLIP_BLOCK_ENTRIES / h).clamp(1, s.max(1));
        // Few row tiles (large d, small n): each tile's flips also split into parts (whole blocks)
        // on separate tasks, so that no thread waits on one long tile.
        let blocks = s.div_ceil(block);
        let parts = (4 * rayon::current_num_threads()).div_ceil(n.div_ceil(FLIP_ROWS)).clamp(1, blocks);
        let per = blocks.div_ceil(parts) * block;
        // Flips j0.. of the tile's rows (`outs[k]`: row k's ΔE from flip j0 on), block by block.
        let run = |rows: &TileRows, lists: &mut FlipLists, r0: usize, j0: usize, outs: &mut [&mut [f32]]| {
            let len = outs.first().map_or(0, |o| o.len());
            for b0 in (0..len).step_by(block) {
                let b1 = (b0 + block).min(len);
                for (k, o) in outs.iter_mut().enumerate() {
                    let r = r0 + k;
                    match idx {
                        Some(v) => lists.split_list(x.row(r), &v[r * s + j0 + b0..r * s + j0 + b1]),
                        None => lists.split_range(x.row(r), j0 + b0..j0 + b1),
                    }
                    lists.evaluate(rows, self, table, k, &mut o[b0..b1]);
                }
            }
        };
        // All flips: rows whose pre-activations allow the additive form on both sides take the
        // column kernel (one lane per flip), in parts of whole 32-flip blocks.
        let cols = idx.is_none().then(|| table.columns(d, h, &self.tables));
        let col_parts = parts.min(d.div_ceil(COLS));
        let col_per = d.div_ceil(COLS).div_ceil(col_parts) * COLS;
        out.par_chunks_mut(FLIP_ROWS * s).enumerate().for_each_init(
            || (TileRows::new(d, h), FlipLists::new(block)),
            |(rows, lists), (task, o)| {
                let r0 = task * FLIP_ROWS;
                let nr = o.len() / s;
                rows.prepare(self, x, r0, nr, table.max_abs);
                if let (Some(cols), Some(every)) = (cols, rows.columns_every(nr)) {
                    let rows = &*rows;
                    let by_part = split_parts(o, s, col_parts, col_per);
                    let go = |(part, mut outs): (usize, Vec<&mut [f32]>)| {
                        self.delta_columns(x, rows, every, table, cols, r0, part * col_per, &mut outs)
                    };
                    if col_parts == 1 {
                        by_part.into_iter().enumerate().for_each(go);
                    } else {
                        by_part.into_par_iter().enumerate().for_each(go);
                    }
                    return;
                }
                if parts == 1 {
                    return run(rows, lists, r0, 0, &mut o.chunks_mut(s).collect::<Vec<_>>());
                }
                let by_part = split_parts(o, s, parts, per);
                let rows = &*rows;
                by_part.into_par_iter().enumerate().for_each_init(
                    || FlipLists::new(block),
                    |lists, (part, mut outs)| run(rows, lists, r0, part * per, &mut outs),
                );
            },
        );
    }
}

/// A task's output rows (`s` flips each) cut into `parts` pieces of `per` flips: piece p of every
/// row, for the task of part p.
fn split_parts(o: &mut [f32], s: usize, parts: usize, per: usize) -> Vec<Vec<&mut [f32]>> {
    let mut by_part: Vec<Vec<&mut [f32]>> = (0..parts).map(|_| Vec::new()).collect();
    for row in o.chunks_mut(s) {
        for (part, piece) in row.chunks_mut(per).enumerate() {
            by_part[part].push(piece);
        }
    }
    by_part
}

/// A task's rows, prepared once for all their flips.
pub(super) struct TileRows {
    /// Pre-activations of the task's rows (TILE_ROWS × H) and the rows as 0/1 floats (d × TILE_ROWS).
    pre: Vec<f32>,
    xf: Vec<f32>,
    /// σ(a) and σ(−a) of the task's rows, aligned rows when 16 | H.
    sig: AlignedVec,
    sbar: AlignedVec,
    /// The additive form per row (see [`simd::log_add_products`]): u = σ̄/σ and v = σ/σ̄, C = Σ ln σ
    /// and Σ ln σ̄, and the factors between renormalizations (`None`: that sign takes the
    /// multiply-add form, u or v would leave the f32 range).
    pub(super) u: AlignedVec,
    pub(super) v: AlignedVec,
    pub(super) c: [[f64; 2]; FLIP_ROWS],
    pub(super) every: [[Option<usize>; 2]; FLIP_ROWS],
}

/// The flips of one block of one row: from 0 and from 1, where their ΔE go, and their
/// log-products.
struct FlipLists {
    from0: Vec<u32>,
    from1: Vec<u32>,
    pos0: Vec<u32>,
    pos1: Vec<u32>,
    out0: Vec<f32>,
    out1: Vec<f32>,
}

impl TileRows {
    fn new(d: usize, h: usize) -> Self {
        TileRows {
            pre: vec![0.0; TILE_ROWS * h],
            xf: vec![0.0; TILE_ROWS * d],
            sig: AlignedVec::zeros(FLIP_ROWS * h),
            sbar: AlignedVec::zeros(FLIP_ROWS * h),
            u: AlignedVec::zeros(FLIP_ROWS * h),
            v: AlignedVec::zeros(FLIP_ROWS * h),
            c: [[0.0; 2]; FLIP_ROWS],
            every: [[None; 2]; FLIP_ROWS],
        }
    }

    /// The task's rows r0..r0 + nr: a = c + Wx into `pre` (see [`Rbm::preact_rows`]), then σ(±a)
    /// and the additive form: u = σ̄/σ (= e^{−a}), v = σ/σ̄, C = Σ ln σ, Σ ln σ̄ (f64). Its factors
    /// uⱼ + Eᵢⱼ lie in [e^{−B}, 2e^{B}], B = max(max|W|, max(−a)) (v: max a), so a lane is
    /// renormalized every ⌊80/(B + ln 4)⌋ factors, and a sign with B > 78 keeps the multiply-add form.
    fn prepare(&mut self, m: &Rbm, x: &BitBatch, r0: usize, nr: usize, max_abs_w: f32) {
        let h = m.h;
        m.preact_rows(x, r0, nr, &mut self.pre, &mut self.xf);
        for k in 0..nr {
            let rows = k * h..(k + 1) * h;
            let a = &self.pre[rows.clone()];
            let (sig, sbar) = (&mut self.sig[rows.clone()], &mut self.sbar[rows.clone()]);
            simd::sigmoid_pair_into(sig, sbar, a);
            for ((u, v), (&s, &b)) in
                self.u[rows.clone()].iter_mut().zip(&mut self.v[rows.clone()]).zip(sig.iter().zip(&*sbar))
            {
                *u = b / s;
                *v = s / b;
            }
            let (lo, hi) = a.iter().fold((0f32, 0f32), |(lo, hi), &z| (lo.min(z), hi.max(z)));
            for (side, (bound, q)) in [(-lo, &*sig), (hi, &*sbar)].into_iter().enumerate() {
                let b = bound.max(max_abs_w);
                // NaN bounds fail the comparison and keep the multiply-add form.
                self.every[k][side] =
                    if b <= 78.0 { Some(((80.0 / (b + std::f32::consts::LN_2 * 2.0)) as usize).max(1)) } else { None };
                self.c[k][side] = if self.every[k][side].is_some() { ln_product(q) } else { 0.0 };
            }
        }
    }
}

impl FlipLists {
    fn new(block: usize) -> Self {
        FlipLists {
            from0: Vec::with_capacity(block),
            from1: Vec::with_capacity(block),
            pos0: Vec::with_capacity(block),
            pos1: Vec::with_capacity(block),
            out0: vec![0.0; block],
            out1: vec![0.0; block],
        }
    }

    /// Splits listed flips (any order, repeats allowed; the j-th goes to position j) by bit value.
    fn split_list(&mut self, row: &[u64], idx: &[u32]) {
        self.clear();
        for (j, &i) in idx.iter().enumerate() {
            let (from, pos) = if crate::bits::bit(row, i as usize) != 0 {
                (&mut self.from1, &mut self.pos1)
            } else {
                (&mut self.from0, &mut self.pos0)
            };
            from.push(i);
            pos.push(j as u32);
        }
    }

    /// Splits the flips i0..i1 (i goes to position i − i0) by bit value a word at a time: the set
    /// bits of x and of ¬x inside the range. All-flip ΔE runs 15–23% slower with a bit test per
    /// flip (`split_list`).
    fn split_range(&mut self, row: &[u64], flips: std::ops::Range<usize>) {
        self.clear();
        let (i0, i1) = (flips.start, flips.end);
        if i0 >= i1 {
            return;
        }
        for w in i0 / 64..=(i1 - 1) / 64 {
            let lo = (w * 64).max(i0) - w * 64;
            let hi = (w * 64 + 64).min(i1) - w * 64;
            let range = (u64::MAX >> (64 - (hi - lo))) << lo;
            let halves =
                [(row[w] & range, &mut self.from1, &mut self.pos1), (!row[w] & range, &mut self.from0, &mut self.pos0)];
            for (mut m, from, pos) in halves {
                while m != 0 {
                    let i = w * 64 + m.trailing_zeros() as usize;
                    from.push(i as u32);
                    pos.push((i - i0) as u32);
                    m &= m - 1;
                }
            }
        }
    }

    fn clear(&mut self) {
        self.from0.clear();
        self.from1.clear();
        self.pos0.clear();
        self.pos1.clear();
    }

    /// The split flips' log-products for the task's row `k` (at most this scratch's block of
    /// them), then ΔE = ∓b − L (+ Sᵢ from 1) into `out` at their positions.
    fn evaluate(&mut self, rows: &TileRows, m: &Rbm, t: &FlipTable, k: usize, out: &mut [f32]) {
        let h = m.h;
        let row = k * h..(k + 1) * h;
        let (sig, sbar) = (&rows.sig[row.clone()], &rows.sbar[row.clone()]);
        let (n0, n1) = (self.from0.len(), self.from1.len());
        match rows.every[k][0] {
            Some(ev) => {
                simd::log_add_products(&mut self.out0[..n0], &rows.u[row.clone()], &t.e, &self.from0, ev, rows.c[k][0])
            }
            None => simd::log_mix_products(&mut self.out0[..n0], sig, sbar, &t.e, &self.from0, t.every),
        }
        match rows.every[k][1] {
            Some(ev) => simd::log_add_products(&mut self.out1[..n1], &rows.v[row], &t.e, &self.from1, ev, rows.c[k][1]),
            None => simd::log_mix_products(&mut self.out1[..n1], sbar, sig, &t.e, &self.from1, t.every),
        }
        let b = m.b();
        for ((&i, &p), &l) in self.from0.iter().zip(&self.pos0).zip(&self.out0) {
            out[p as usize] = -b[i as usize] - l;
        }
        for ((&i, &p), &l) in self.from1.iter().zip(&self.pos1).zip(&self.out1) {
            out[p as usize] = b[i as usize] - l + t.rowsum[i as usize];
        }
    }
}

/// Σⱼ ln qⱼ in f64 for qⱼ ∈ [e^{−80}, 1]: 8 independent f64 product chains (lane l takes
/// j ≡ l mod 8; one chain was a latency-bound ≈ 7% of all-flip ΔE at d = H = 256), their
/// exponents taken out every 8 factors per lane (so they stay normal), then the lanes' mantissas
/// multiplied and one ln.
fn ln_product(q: &[f32]) -> f64 {
    let take = |p: &mut f64, e: &mut i64| {
        let bits = p.to_bits();
        *e += ((bits >> 52) & 0x7ff) as i64 - 1023;
        *p = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
    };
    let (mut p, mut e) = ([1f64; 8], 0i64);
    for block in q.chunks(64) {
        let mut chunks = block.chunks_exact(8);
        for c in &mut chunks {
            for l in 0..8 {
                p[l] *= c[l] as f64;
            }
        }
        for (l, &v) in chunks.remainder().iter().enumerate() {
            p[l] *= v as f64;
        }
        for v in &mut p {
            take(v, &mut e);
        }
    }
    let mut m = p.iter().product::<f64>();
    take(&mut m, &mut e);
    m.ln() + e as f64 * std::f64::consts::LN_2
}

#[cfg(test)]
mod tests {
    use super::ln_product;

    /// Against Σ ln in f64 on lengths around the 8-lane and 64-factor blocks, with factors down to
    /// e^{−78} (a product far below f64's range without the exponents taken out).
    #[test]
    fn ln_product_matches_sum_of_logs() {
        let mut z = 5u64;
        for len in [0usize, 1, 7, 8, 9, 63, 64, 65, 256, 300] {
            let q: Vec<f32> = (0..len)
                .map(|_| {
                    z = z.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    (-((z >> 40) as f32 / (1u64 << 24) as f32) * 78.0).exp().max(f32::MIN_POSITIVE)
                })
                .collect();
            let want: f64 = q.iter().map(|&v| (v as f64).ln()).sum();
            let got = ln_product(&q);
            assert!((got - want).abs() <= 1e-12 * (1.0 + want.abs()), "len {len}: {got} vs {want}");
        }
    }
}
