//! The element-wise halves of the MLP's layers, fused per row while the row is in L1, on the
//! calling thread (`passes.rs` runs one row part per thread): one pass per layer forward (bias,
//! Swish, output energy) and backward (Swish derivative, each 64-row block's partial sums of the
//! bias, output-weight and β gradients).
//!
//! Partial sums are kept per block and added by the caller in block order, so every sum has the
//! same terms in the same order for any thread count.

use crate::simd;

/// Rows per partial sum (row parts are whole blocks).
pub(super) const BLOCK: usize = 64;

/// Forward over m rows of H (`a`, `z`, `sig` m × H, `e` m), on the calling thread: aᵣ += bias
/// (if any), σᵣ = σ(β·aᵣ), zᵣ = aᵣ·σᵣ, and with `out = (W_L, b_L)` the energy eᵣ = b_L + zᵣ·W_L.
pub(super) fn swish_rows(
    a: &mut [f32],
    z: &mut [f32],
    sig: &mut [f32],
    e: &mut [f32],
    h: usize,
    beta: f32,
    bias: Option<&[f32]>,
    out: Option<(&[f32], f32)>,
) {
    if h == 0 {
        if let Some((_, bl)) = out {
            e.fill(bl);
        }
        return;
    }
    let rows = a.chunks_mut(h).zip(z.chunks_mut(h)).zip(sig.chunks_mut(h)).zip(e.iter_mut());
    for (((ar, zr), sr), er) in rows {
        if let Some(b) = bias {
            simd::axpy(ar, 1.0, b);
        }
        simd::swish_forward(ar, beta, zr, sr);
        if let Some((wl, bl)) = out {
            let mut dot = 0f32;
            simd::dot_into(&mut dot, zr, wl);
            *er = bl + dot;
        }
    }
}

/// Partial sums of one 64-row block of a layer's backward pass.
pub(super) struct BlockSums {
    /// Σ over the block of dzᵣ·aᵣ²·σᵣ(1−σᵣ) (the β gradient).
    pub dbeta: f32,
    /// Σ over the block of δᵣ (the layer's bias gradient; empty without sums).
    pub bias: Vec<f32>,
    /// Σ over the block of wᵣ·z_L[r] (the output weights' gradient; top layer with sums only).
    pub out_w: Vec<f32>,
}

/// The top layer's inputs: the row weights w (m), W_L (H) and z_L (m × H); dz_L[r] = wᵣ·W_L.
pub(super) type TopLayer<'a> = (&'a [f32], &'a [f32], &'a [f32]);

/// Backward over m rows: δᵣ = dzᵣ ⊙ (σᵣ + β·aᵣ·σᵣ(1−σᵣ)), dz from `dz` or, for the top layer, wᵣ·W_L
/// formed row by row; returns each 64-row block's [`BlockSums`] (bias and output-weight sums only
/// when `sums`).
pub(super) fn swish_back_rows(
    a: &[f32],
    sig: &[f32],
    beta: f32,
    dz: Option<&[f32]>,
    top: Option<TopLayer<'_>>,
    delta: &mut [f32],
    h: usize,
    sums: bool,
) -> Vec<BlockSums> {
    if h == 0 {
        return Vec::new();
    }
    let mut row_dz = vec![0f32; h];
    delta
        .chunks_mut(BLOCK * h)
        .enumerate()
        .map(|(c, db)| back_block(a, sig, beta, dz, top, c, db, h, sums, &mut row_dz))
        .collect()
}

/// Block c of [`swish_back_rows`]: δ rows into `db`, the block's partial sums returned.
fn back_block(
    a: &[f32],
    sig: &[f32],
    beta: f32,
    dz: Option<&[f32]>,
    top: Option<TopLayer<'_>>,
    c: usize,
    db: &mut [f32],
    h: usize,
    sums: bool,
    row_dz: &mut [f32],
) -> BlockSums {
    let mut p = BlockSums {
        dbeta: 0.0,
        bias: if sums { vec![0.0; h] } else { Vec::new() },
        out_w: if sums && top.is_some() { vec![0.0; h] } else { Vec::new() },
    };
    for (i, dr) in db.chunks_mut(h).enumerate() {
        let r = c * BLOCK + i;
        let span = r * h..(r + 1) * h;
        let dzr: &[f32] = match (top, dz) {
            (Some((w, wl, _)), _) => {
                simd::scale_into(row_dz, w[r], wl);
                row_dz
            }
            (None, Some(dz)) => &dz[span.clone()],
            (None, None) => unreachable!("swish_back_rows: neither dz nor the top layer"),
        };
        p.dbeta += simd::swish_backward(&a[span.clone()], &sig[span.clone()], beta, dzr, dr);
        if sums {
            simd::axpy(&mut p.bias, 1.0, dr);
            if let Some((w, _, zl)) = top {
                simd::axpy(&mut p.out_w, w[r], &zl[span]);
            }
        }
    }
    p
}
