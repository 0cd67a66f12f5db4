//! bf16x3: f32-class products from three bf16 products on the same kernels. Each f32 x splits
//! into hi = bf16(x) (nearest even) and lo = bf16(x − hi) (x − hi is exact in f32), so
//! x = hi + lo + r with |r| ≤ 2⁻¹⁶·|x|, and
//!
//!   A·B ≈ A_hi·B_hi + A_hi·B_lo + A_lo·B_hi,
//!
//! dropping A_lo·B_lo and the residuals: each product's relative error stays below 3·2⁻¹⁶
//! (bf16 alone: 2⁻⁸; f32: 2⁻²⁴), summed in f32. The three products are one product over k
//! tripled: A's rows pack as [hi | hi | lo] and B's k rows as [hi; lo; hi] ([`Order`]), so the
//! AMX tiles (or `vdpbf16ps`) run them unchanged at three times the FLOPs — on AMX still about
//! twice the f32 FMA rate. XLA calls this precision `HIGH` (`bf16_3x`). Needs bf16 packs
//! ([`x3_available`]: not the fp16 engine).

use super::{gemm_block, half, to_bf16, Half, PackedB};
use crate::aligned::AlignedVec;
use crate::dense::Operand;
use rayon::prelude::*;

/// Where the low halves go: a left operand's k splits as [hi | hi | lo], a right operand's as
/// [hi | lo | hi], so that their product is hi·hi + hi·lo + lo·hi.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    /// The left operand (A, or Aᵀ's rows in [`super::gemm_tn`]).
    Lhs,
    /// The right operand (B).
    Rhs,
}

/// True when bf16x3 products can run: the packs hold bf16 (not the fp16 engine's halves).
/// They pay only on AMX tiles ([`super::engine`] = `"amx"`); elsewhere they are correct but cost
/// 1.5× (`vdpbf16ps`) or more than f32.
pub fn x3_available() -> bool {
    half() == Half::Bf16
}

/// x = hi + (x − hi) with hi = bf16(x) as an f32 (nearest even, as [`to_bf16`] for finite x).
#[inline]
fn split(x: f32) -> (f32, f32) {
    let b = x.to_bits();
    let hi = f32::from_bits(b.wrapping_add(0x7FFF + ((b >> 16) & 1)) & 0xFFFF_0000);
    (hi, x - hi)
}

/// (bf16(x) bits, bf16(x − bf16(x)) bits): the scalar twin of the AVX512-BF16 split.
#[inline]
fn halves(x: f32) -> (u32, u32) {
    let (hi, rest) = split(x);
    (to_bf16(hi) as u32, to_bf16(rest) as u32)
}

/// The three segments of a split row or pack (each `len` long), as (hi, lo, duplicate hi).
fn segments(dst: &mut [u32], len: usize, order: Order) -> (&mut [u32], &mut [u32], &mut [u32]) {
    let (s0, rest) = dst.split_at_mut(len);
    let (s1, s2) = rest.split_at_mut(len);
    match order {
        Order::Lhs => (s0, s2, s1),
        Order::Rhs => (s0, s1, s2),
    }
}

/// One row of k floats as 3·⌈k/2⌉ bf16 pairs in the given [`Order`] (each segment laid out as
/// [`super::pack_row`] lays out a row). AVX512-BF16 splits 16 floats per step.
pub fn split_row(src: &[f32], dst: &mut [u32], order: Order) {
    let k = src.len();
    let k2 = k.div_ceil(2);
    assert_eq!(dst.len(), 3 * k2, "bf16::split_row: shapes");
    let (hi_seg, lo_seg, dup) = segments(dst, k2, order);
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if super::available() {
        // SAFETY: AVX512-BF16 checked; 16-float blocks of `src` map to 8 pairs of each segment.
        done = unsafe { super::x86::split_blocks(src, hi_seg, lo_seg, dup) };
    }
    for kk in done / 2..k2 {
        let (h0, l0) = halves(src[2 * kk]);
        let (h1, l1) = if 2 * kk + 1 < k { halves(src[2 * kk + 1]) } else { (0, 0) };
        (hi_seg[kk], dup[kk]) = (h0 | h1 << 16, h0 | h1 << 16);
        lo_seg[kk] = l0 | l1 << 16;
    }
}

/// Rows `r0` and `r1` (None: zero) as one pair row of each segment: (hi(r0[c]), hi(r1[c])) and
/// (lo(r0[c]), lo(r1[c])).
fn split_pair(r0: &[f32], r1: Option<&[f32]>, hi_dst: &mut [u32], lo_dst: &mut [u32]) {
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if super::available() {
        // SAFETY: AVX512-BF16 checked; whole 16-column blocks of the rows and both dsts.
        done = unsafe { super::x86::split_pair_blocks(r0, r1, hi_dst, lo_dst) };
    }
    for c in done..hi_dst.len() {
        let (h0, l0) = halves(r0[c]);
        let (h1, l1) = r1.map_or((0, 0), |r| halves(r[c]));
        hi_dst[c] = h0 | h1 << 16;
        lo_dst[c] = l0 | l1 << 16;
    }
}

impl PackedB {
    /// op(B) (k × n) split for bf16x3 products: a pack along k' = 6·⌈k/2⌉ holding B's hi and lo
    /// halves in `order` ([`Order::Rhs`] for [`gemm_x3`]; both orders for [`super::gemm_tn`]).
    pub fn split(b: Operand<'_>, order: Order) -> Self {
        let mut p = PackedB::default();
        p.resplit(b, order);
        p
    }

    /// [`PackedB::split`] into this pack's storage (no allocation once it is large enough).
    pub fn resplit(&mut self, b: Operand<'_>, order: Order) {
        assert!(x3_available(), "bf16x3 needs bf16 packs (the fp16 engine is on)");
        let (k, n) = if b.trans { (b.cols, b.rows) } else { (b.rows, b.cols) };
        assert!(b.data.len() >= k * n, "PackedB::split: shapes");
        let k2 = k.div_ceil(2);
        let kx = 6 * k2;
        self.reset(kx, n);
        if n == 0 || k2 == 0 {
            return;
        }
        if b.trans {
            // Stored M (n × k): split each of its rows along k, then transpose the n × 3k2 pairs.
            let mut rows = vec![0u32; n * 3 * k2];
            rows.par_chunks_mut(3 * k2)
                .enumerate()
                .for_each(|(c, dst)| split_row(&b.data[c * k..(c + 1) * k], dst, order));
            super::transpose_rows(&rows, n, 3 * k2, &mut self.data);
            return;
        }
        let out = self.pairs_mut();
        // Stored B (k × n): pair row kk of each segment holds rows 2kk and 2kk+1.
        let (hi_seg, lo_seg, dup) = segments(out, k2 * n, order);
        let blocks = hi_seg.par_chunks_mut(16 * n).zip(lo_seg.par_chunks_mut(16 * n)).zip(dup.par_chunks_mut(16 * n));
        blocks.enumerate().for_each(|(t, ((hb, lb), db))| {
            for (j, (hd, ld)) in hb.chunks_mut(n).zip(lb.chunks_mut(n)).enumerate() {
                let kk = t * 16 + j;
                let r1 = (2 * kk + 1 < k).then(|| &b.data[(2 * kk + 1) * n..(2 * kk + 2) * n]);
                split_pair(&b.data[2 * kk * n..(2 * kk + 1) * n], r1, hd, ld);
            }
            db.copy_from_slice(hb);
        });
    }
}

/// Rows per task of [`gemm_x3`] (a multiple of the 6-row tile and of AMX's 16).
const TASK_ROWS: usize = 96;

/// C (m × n, row-major) ← A·B, or C += A·B when `accumulate`, in bf16x3: A is m × k row-major
/// f32, split here 96 rows at a time, B from [`PackedB::split`] of a k × n operand with
/// [`Order::Rhs`]. `parallel` spreads the row tasks over the current rayon pool; otherwise they
/// run on the calling thread. Cost: 3·2·m·n·k FLOPs at the bf16 rate plus O(m·k) splitting.
pub fn gemm_x3(c: &mut [f32], m: usize, k: usize, a: &[f32], b: &PackedB, accumulate: bool, parallel: bool) {
    let (k2, n) = (k.div_ceil(2), b.n);
    assert!(b.k == 6 * k2 && a.len() >= m * k && c.len() >= m * n, "bf16::gemm_x3: shapes");
    if m == 0 || n == 0 {
        return;
    }
    // One task: its rows split into this thread's scratch (no rayon inside, so the borrow
    // cannot nest), then the product.
    let task = |t: usize, cblk: &mut [f32]| {
        let (r0, rows) = (t * TASK_ROWS, cblk.len() / n);
        COLS.with_borrow_mut(|scratch| {
            scratch.resize(rows * 3 * k2);
            if k2 > 0 {
                for (r, dst) in (r0..r0 + rows).zip(scratch.chunks_mut(3 * k2)) {
                    split_row(&a[r * k..(r + 1) * k], dst, Order::Lhs);
                }
            }
            gemm_block(cblk, rows, scratch, b, accumulate);
        });
    };
    if parallel {
        c[..m * n].par_chunks_mut(TASK_ROWS * n).enumerate().for_each(|(t, cblk)| task(t, cblk));
    } else {
        c[..m * n].chunks_mut(TASK_ROWS * n).enumerate().for_each(|(t, cblk)| task(t, cblk));
    }
}

thread_local! {
    /// Split rows of [`gemm_x3`]'s left operand, or split columns of [`gemm_tn_x3`]'s, reused
    /// across calls on this thread (neither holds it across a rayon call).
    static COLS: std::cell::RefCell<AlignedVec<u32>> = Default::default();
}

/// C (m × n) ← Aᵀ·B, or C += Aᵀ·B when `accumulate`, in bf16x3 on the calling thread: the
/// weight-gradient product over a block of rows. A is `rows × m` row-major f32, split and
/// transposed here in one pass into m rows of [hi | hi | lo] pairs along the block's rows (the
/// layout the tiles load directly, so the product needs no second transpose); B from
/// [`PackedB::split`] of the `rows × n` operand with [`Order::Rhs`].
pub fn gemm_tn_x3(c: &mut [f32], rows: usize, m: usize, a: &[f32], b: &PackedB, accumulate: bool) {
    let k2 = rows.div_ceil(2);
    assert!(b.k == 6 * k2 && a.len() >= rows * m && c.len() >= m * b.n, "bf16::gemm_tn_x3: shapes");
    let lda = 3 * k2;
    COLS.with_borrow_mut(|ap| {
        ap.resize(m * lda);
        #[cfg(target_arch = "x86_64")]
        if super::available() && m.is_multiple_of(16) {
            // SAFETY: AVX512-BF16 checked; m a multiple of 16, `ap` holds m rows of lda = 3·k2.
            unsafe { super::x86::split_transpose(a, rows, m, ap, lda) };
            return gemm_block(c, m, ap, b, accumulate);
        }
        for col in 0..m {
            let row = &mut ap[col * lda..(col + 1) * lda];
            for kk in 0..k2 {
                let (h0, l0) = halves(a[2 * kk * m + col]);
                let (h1, l1) = if 2 * kk + 1 < rows { halves(a[(2 * kk + 1) * m + col]) } else { (0, 0) };
                (row[kk], row[k2 + kk], row[2 * k2 + kk]) = (h0 | h1 << 16, h0 | h1 << 16, l0 | l1 << 16);
            }
        }
        gemm_block(c, m, ap, b, accumulate);
    });
}

/// Most rows per block of [`weight_grad_x3`]: with n = 256 each split operand is ≤ 576 KiB.
const WGRAD_ROWS: usize = 384;

/// Blocks whose partial products are held at once (8 × m·n floats: 2 MiB at m = n = 256).
const WGRAD_WAVE: usize = 8;

thread_local! {
    /// The partial products of [`weight_grad_x3`] (on the calling thread) and the split right
    /// operand of a block (on the worker that runs it), reused across calls.
    static PARTS: std::cell::Cell<Vec<AlignedVec>> = Default::default();
    static RHS: std::cell::Cell<PackedB> = Default::default();
}

/// C (m × n) += Aᵀ·B over `rows` rows in bf16x3 — a weight gradient, A = δ (`rows × m`) and
/// B = z (`rows × n`), both row-major f32. The rows run in equal blocks of at most 384 (their size a function of `rows` alone), each
/// a task of its own end to end (split B's block, [`gemm_tn_x3`] into a partial), and the
/// partials are added into C in block order: the same bits for any thread count, and each
/// block's split operands (2 × 576 pair rows × 256) stay in one core's L2. Splitting one product
/// over C's rows instead streamed both operands through both cores (2 threads, 1408 rows: 560
/// → 431–501 µs).
pub fn weight_grad_x3(c: &mut [f32], rows: usize, m: usize, a: &[f32], n: usize, b: &[f32]) {
    assert!(a.len() >= rows * m && b.len() >= rows * n && c.len() >= m * n, "bf16::weight_grad_x3: shapes");
    // ⌈rows / WGRAD_ROWS⌉ blocks of equal size (to 32 rows, so that the tiles load the split
    // operand directly): 1408 rows → 4 × 352 rather than 3 × 384 + 256 (steps within noise of
    // the latter, `scripts/ab-step.sh`, 3 rounds).
    let size = rows.div_ceil(rows.div_ceil(WGRAD_ROWS).max(1)).next_multiple_of(32);
    let blocks: Vec<std::ops::Range<usize>> = (0..rows).step_by(size).map(|r0| r0..(r0 + size).min(rows)).collect();
    // Taken out of the thread-locals, not borrowed: the rayon calls below may run other tasks
    // on this thread (a nested call then starts with empty buffers).
    let mut parts = PARTS.take();
    for wave in blocks.chunks(WGRAD_WAVE) {
        parts.resize_with(wave.len().max(parts.len()), Default::default);
        parts[..wave.len()].par_iter_mut().zip(wave).for_each(|(part, r)| {
            part.resize(m * n);
            let mut bp = RHS.take();
            bp.resplit(Operand::new(&b[r.start * n..r.end * n], r.len(), n), Order::Rhs);
            gemm_tn_x3(part, r.len(), m, &a[r.start * m..r.end * m], &bp, false);
            RHS.set(bp);
        });
        const SPAN: usize = 4096;
        c[..m * n].par_chunks_mut(SPAN).enumerate().for_each(|(i, g)| {
            for p in &parts[..wave.len()] {
                crate::simd::axpy(g, 1.0, &p[i * SPAN..i * SPAN + g.len()]);
            }
        });
    }
    PARTS.set(parts);
}

/// Scalar twin of [`gemm_x3`] (and of a [`super::gemm_tn`] of split packs, given Aᵀ): the same
/// splits, the three products summed in f64.
pub fn gemm_x3_reference(c: &mut [f32], m: usize, a: &[f32], b: Operand<'_>, accumulate: bool) {
    let (k, n) = if b.trans { (b.cols, b.rows) } else { (b.rows, b.cols) };
    let parts = |x: f32| {
        let (hi, rest) = split(x);
        (hi as f64, super::from_bf16(to_bf16(rest)) as f64)
    };
    for r in 0..m {
        for col in 0..n {
            let s: f64 = (0..k)
                .map(|i| {
                    let w = if b.trans { b.data[col * b.cols + i] } else { b.data[i * b.cols + col] };
                    let ((ah, al), (bh, bl)) = (parts(a[r * k + i]), parts(w));
                    ah * bh + ah * bl + al * bh
                })
                .sum();
            let o = &mut c[r * n + col];
            *o = if accumulate { (*o as f64 + s) as f32 } else { s as f32 };
        }
    }
}

#[cfg(test)]
mod tests;
