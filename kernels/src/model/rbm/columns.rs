//! The RBM's all-flip ΔE with one lane per flip ([`simd::log_add_columns`]): the flip table
//! transposed into blocks of [`COLS`] consecutive flips, so that a row's ΔE of 32 neighbouring
//! flips comes out of one pass over j with no per-flip reduction, split into lists or scattered.

use super::flips::{FlipTable, TileRows};
use super::Rbm;
use crate::bits::BitBatch;
use crate::model::mlp::pool::{Buf, Pool};
use crate::simd::{self, ColumnRows, COLS, MAX_ROWS};
use rayon::prelude::*;

/// Eᵀ in blocks: block b holds e^{Wᵀ[32b + f, j]} at [b·H·32 + j·32 + f] (H × 32 floats, zero
/// for flips past d), so one call of [`simd::log_add_columns`] reads one contiguous block. The
/// buffer comes from `pool` (every entry is written).
pub(super) fn transpose_blocks(e: &[f32], d: usize, h: usize, pool: &Pool) -> Buf {
    let blocks = d.div_ceil(COLS);
    let mut t = pool.take(blocks * h * COLS);
    let fill = |(b, blk): (usize, &mut [f32])| {
        let rows = COLS.min(d - b * COLS);
        simd::columns_from_rows(blk, &e[b * COLS * h..(b * COLS + rows) * h], h);
    };
    if d * h >= 1 << 16 {
        t.par_chunks_mut(h * COLS).enumerate().for_each(fill);
    } else {
        t.chunks_mut(h * COLS).enumerate().for_each(fill);
    }
    t
}

impl TileRows {
    /// Whether every one of the first `nr` rows takes the additive form on both sides (then the
    /// column kernel serves all their flips), and the factors between renormalizations for all.
    pub(super) fn columns_every(&self, nr: usize) -> Option<usize> {
        self.every[..nr].iter().try_fold(usize::MAX, |m, [a, b]| Some(m.min((*a)?).min((*b)?)))
    }
}

impl Rbm {
    /// ΔE of flips j0..j0 + len (j0 a multiple of [`COLS`]) of the tile's rows r0.. into `outs[k]`
    /// (row k's ΔE from flip j0 on), a block of 32 flips at a time: Lᵢ from the column kernel, then
    /// ΔEᵢ = −bᵢ − Lᵢ (xᵢ = 0) or bᵢ − Lᵢ + Sᵢ (xᵢ = 1), as the tabulated path.
    pub(super) fn delta_columns(
        &self,
        x: &BitBatch,
        rows: &TileRows,
        every: usize,
        table: &FlipTable,
        cols: &[f32],
        r0: usize,
        j0: usize,
        outs: &mut [&mut [f32]],
    ) {
        let (h, nr) = (self.h, outs.len());
        debug_assert!(j0.is_multiple_of(COLS) && nr <= MAX_ROWS);
        let len = outs.first().map_or(0, |o| o.len());
        let (b, s) = (self.b(), &table.rowsum);
        let mut l = [[0f32; COLS]; MAX_ROWS];
        for f0 in (0..len).step_by(COLS) {
            let i0 = j0 + f0;
            let bits: [u32; MAX_ROWS] =
                std::array::from_fn(|k| if k < nr { (x.row(r0 + k)[i0 / 64] >> (i0 % 64)) as u32 } else { 0 });
            let crow = ColumnRows { u: &rows.u[..nr * h], v: &rows.v[..nr * h], c: &rows.c[..nr], bits: &bits[..nr] };
            let blk = i0 / COLS * h * COLS;
            simd::log_add_columns(&mut l[..nr], &crow, &cols[blk..blk + h * COLS], COLS, every);
            let m = (len - f0).min(COLS);
            let (bi, si) = (&b[i0..i0 + m], &s[i0..i0 + m]);
            // Both values and a select (random bits: a branch would mispredict every other flip).
            for (k, o) in outs.iter_mut().enumerate() {
                let (o, lk) = (&mut o[f0..f0 + m], &l[k][..m]);
                for f in 0..m {
                    let (from0, from1) = (-bi[f] - lk[f], bi[f] - lk[f] + si[f]);
                    o[f] = if bits[k] >> f & 1 == 0 { from0 } else { from1 };
                }
            }
        }
    }
}
