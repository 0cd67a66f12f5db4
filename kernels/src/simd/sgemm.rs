//! The f32 GEMM on AVX-512, on the calling thread: C (m × n) ← α·op(A)·op(B) (+ C).
//!
//! Blocked as BLIS does for the MLP's shapes (n, k ≈ 256, m in the hundreds): k in blocks of
//! [`KC`]; per block, op(B) is packed into panels of 32 columns × KC (16 KiB, zero-padded past n),
//! and each panel stays in L1 while a 12 × 32 register tile (24 zmm accumulators) walks down all
//! row blocks of A, read in place (one broadcast per row and k: A[i][k] at `a + i·rs + k·cs`).
//! Rows past the last whole block of 12 go through a zero-padded copy. Every C element sums its k
//! terms in the same order (k blocks in turn, k ascending in a block) whatever the row split, so
//! results do not depend on the thread count. `dense::gemm` calls this on AVX-512 CPUs (faer
//! elsewhere, or with `RMBENCH_GEMM=faer`).

use crate::aligned::AlignedVec;
use crate::dense::Operand;
use std::cell::RefCell;

/// k per packed block of B (a 32-column panel of it is 16 KiB).
pub const KC: usize = 128;
/// Rows of the register tile.
pub const MR: usize = 12;
/// Columns of the register tile (two zmm).
pub const NR: usize = 32;

thread_local! {
    /// Packed panels of op(B) and the zero-padded tail rows of A, reused across calls.
    static SCRATCH: RefCell<(AlignedVec, AlignedVec)> = RefCell::new(Default::default());
}

/// Whether [`gemm`] runs here (AVX-512 chosen by [`super::isa`]).
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        super::isa() == super::Isa::Avx512
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The left operand by strides: A[i][k] = `data[i·rs + k·cs]` (one of them 1).
#[derive(Clone, Copy)]
pub struct Lhs<'a> {
    /// Storage from A[0][0] on.
    pub data: &'a [f32],
    /// Stride between rows.
    pub rs: usize,
    /// Stride along k.
    pub cs: usize,
}

impl<'a> Lhs<'a> {
    /// op(A) of an [`Operand`] from its row `r0` on.
    pub fn rows_of(a: Operand<'a>, r0: usize) -> Self {
        if a.trans {
            Lhs { data: &a.data[r0.min(a.data.len())..], rs: 1, cs: a.cols }
        } else {
            Lhs { data: &a.data[(r0 * a.cols).min(a.data.len())..], rs: a.cols, cs: 1 }
        }
    }
}

/// C (m × n, row-major, stride n) ← α·A·op(B), or C += α·A·op(B) when `accumulate`, A m × k, on
/// the calling thread. Panics unless [`available`] and the shapes agree.
pub fn gemm(c: &mut [f32], m: usize, n: usize, k: usize, a: Lhs<'_>, b: Operand<'_>, alpha: f32, accumulate: bool) {
    let (bk, bn) = if b.trans { (b.cols, b.rows) } else { (b.rows, b.cols) };
    assert!(bn == n && bk == k && c.len() >= m * n && b.data.len() >= b.rows * b.cols, "sgemm: shapes");
    assert!(a.rs == 1 || a.cs == 1, "sgemm: A needs a unit stride");
    assert!(m == 0 || k == 0 || (m - 1) * a.rs + (k - 1) * a.cs < a.data.len(), "sgemm: A out of bounds");
    assert!(available(), "sgemm: needs AVX-512");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            c[..m * n].fill(0.0);
        }
        return;
    }
    #[cfg(target_arch = "x86_64")]
    SCRATCH.with_borrow_mut(|(bp, tail)| {
        bp.resize(n.div_ceil(NR) * KC * NR);
        let mut k0 = 0;
        while k0 < k {
            let kc = KC.min(k - k0);
            pack_b(b, k0, kc, n, bp);
            // SAFETY: AVX-512 checked by `available`; A's rows 0..m and k0..k0+kc are in bounds
            // (asserted), C holds m × n, the packs kc × NR per panel.
            unsafe { x86::block(c, m, n, a, k0, kc, bp, alpha, k0 > 0 || accumulate, tail) };
            k0 += kc;
        }
    });
}

/// Packs op(B)[k0..k0+kc, 0..n] into 32-column panels, each kc rows of 32 (zero past n).
fn pack_b(b: Operand<'_>, k0: usize, kc: usize, n: usize, out: &mut [f32]) {
    for (p, panel) in out.chunks_mut(KC * NR).take(n.div_ceil(NR)).enumerate() {
        let (j0, w) = (p * NR, NR.min(n - p * NR));
        if b.trans {
            // op(B)[k][j] = stored[j][k]: 16 × 16 register transposes.
            // SAFETY: AVX-512 (checked by `gemm`, the only caller); stored rows j0..j0+w,
            // columns k0..k0+kc in bounds (asserted there); the panel holds KC × NR.
            #[cfg(target_arch = "x86_64")]
            unsafe {
                x86::pack_transposed(b.data, b.cols, j0, w, k0, kc, panel)
            };
        } else {
            for kk in 0..kc {
                let dst = &mut panel[kk * NR..(kk + 1) * NR];
                dst[..w].copy_from_slice(&b.data[(k0 + kk) * b.cols + j0..][..w]);
                dst[w..].fill(0.0);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{MR, NR};
    use crate::aligned::AlignedVec;
    use std::arch::x86_64::*;

    /// One k block: every row block of A against every packed panel; C ← α·acc (+ C if `add`).
    ///
    /// # Safety
    /// AVX-512F available; A[i][k] in bounds for i < m, k0 ≤ k < k0 + kc;
    /// `c` holds m × n; `bp` holds ⌈n/32⌉ panels of KC × 32.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn block(
        c: &mut [f32],
        m: usize,
        n: usize,
        a: super::Lhs<'_>,
        k0: usize,
        kc: usize,
        bp: &[f32],
        alpha: f32,
        add: bool,
        tail: &mut AlignedVec,
    ) {
        let super::Lhs { data: a, rs, cs } = a;
        let whole = m / MR * MR;
        let rest = m - whole;
        if rest > 0 {
            // The last rows, zero-padded to MR, as a row-major kc-wide copy.
            tail.resize(MR * kc);
            tail.fill(0.0);
            for r in 0..rest {
                for kk in 0..kc {
                    tail[r * kc + kk] = a[(whole + r) * rs + (k0 + kk) * cs];
                }
            }
        }
        let mut cbuf = [0f32; MR * NR];
        for (p, panel) in bp.chunks(super::KC * NR).take(n.div_ceil(NR)).enumerate() {
            let (j0, w) = (p * NR, NR.min(n - p * NR));
            let masks = col_masks(w);
            let pp = panel.as_ptr();
            let mut i0 = 0;
            while i0 < whole {
                // SAFETY: rows i0..i0+MR < m of A and C, columns j0..j0+w < n (masked).
                unsafe {
                    let ap = a.as_ptr().add(i0 * rs + k0 * cs);
                    let acc = if cs == 1 { tile::<false>(kc, ap, rs, pp) } else { tile::<true>(kc, ap, cs, pp) };
                    store(&acc, MR, c.as_mut_ptr().add(i0 * n + j0), n, masks, alpha, add);
                }
                i0 += MR;
            }
            if rest > 0 {
                // SAFETY: the padded copy holds MR rows of kc; C's rows whole..m via `cbuf`.
                unsafe {
                    let acc = tile::<false>(kc, tail.as_ptr(), kc, pp);
                    let c0 = c.as_mut_ptr().add(whole * n + j0);
                    let crow = |r: usize| c0.add(r * n);
                    for r in 0..rest {
                        std::ptr::copy_nonoverlapping(crow(r), cbuf.as_mut_ptr().add(r * NR), w);
                    }
                    store(&acc, rest, cbuf.as_mut_ptr(), NR, masks, alpha, add);
                    for r in 0..rest {
                        std::ptr::copy_nonoverlapping(cbuf.as_ptr().add(r * NR), crow(r), w);
                    }
                }
            }
        }
    }

    /// Panel ← op(B)[k0..k0+kc][j0..j0+w] of a transposed operand (stored[j][k] at `data[j·ld +
    /// k]`), zero past w: per 16 stored rows and 16 k, masked loads and one [`transpose16`].
    ///
    /// # Safety
    /// AVX-512F; stored rows j0..j0+w with columns k0..k0+kc in `data`; `panel` holds kc × NR.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn pack_transposed(
        data: &[f32],
        ld: usize,
        j0: usize,
        w: usize,
        k0: usize,
        kc: usize,
        panel: &mut [f32],
    ) {
        assert!(
            panel.len() >= kc * NR && (w == 0 || (j0 + w - 1) * ld + k0 + kc <= data.len()),
            "pack_transposed: shapes"
        );
        for half in 0..NR / 16 {
            for kb in (0..kc).step_by(16) {
                let live = (kc - kb).min(16);
                let mask = if live == 16 { 0xFFFF } else { ((1u32 << live) - 1) as u16 };
                let mut x = [_mm512_setzero_si512(); 16];
                for (i, xi) in x.iter_mut().enumerate() {
                    let j = half * 16 + i;
                    if j < w {
                        // SAFETY: `live` columns from k0 + kb of stored row j0 + j, in bounds.
                        *xi = unsafe {
                            _mm512_maskz_loadu_epi32(mask, data.as_ptr().add((j0 + j) * ld + k0 + kb).cast())
                        };
                    }
                }
                let t = crate::simd::x86::transpose16(&x);
                for (kk, tk) in t.iter().enumerate().take(live) {
                    // SAFETY: row kb + kk < kc of the panel, columns half·16..half·16 + 16.
                    unsafe { _mm512_storeu_si512(panel.as_mut_ptr().add((kb + kk) * NR + half * 16).cast(), *tk) };
                }
            }
        }
    }

    /// Lane masks of the tile's two column vectors for a panel w columns wide.
    fn col_masks(w: usize) -> [__mmask16; 2] {
        let bits = |v: usize| if v >= 16 { 0xFFFF } else { ((1u32 << v) - 1) as u16 };
        [bits(w), bits(w.saturating_sub(16))]
    }

    /// The MR × 32 tile Σₖ A[r][k]·P[k][·] over kc k. `T` (transposed A): A[r][k] at a + r + k·ld;
    /// otherwise at a + r·ld + k.
    ///
    /// # Safety
    /// AVX-512F; those elements of A in bounds for r < MR, k < kc; the panel holds kc × 32.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn tile<const T: bool>(kc: usize, a: *const f32, ld: usize, panel: *const f32) -> [[__m512; 2]; MR] {
        let mut acc = [[_mm512_setzero_ps(); 2]; MR];
        for kk in 0..kc {
            // SAFETY: in bounds per the contract.
            unsafe {
                let b0 = _mm512_loadu_ps(panel.add(kk * NR));
                let b1 = _mm512_loadu_ps(panel.add(kk * NR + 16));
                for (r, row) in acc.iter_mut().enumerate() {
                    let x = if T { *a.add(r + kk * ld) } else { *a.add(r * ld + kk) };
                    let x = _mm512_set1_ps(x);
                    row[0] = _mm512_fmadd_ps(x, b0, row[0]);
                    row[1] = _mm512_fmadd_ps(x, b1, row[1]);
                }
            }
        }
        acc
    }

    /// C[r][·] ← α·acc[r] (+ C[r][·] if `add`, one rounding) for the first `rows` rows, columns
    /// by `masks`.
    ///
    /// # Safety
    /// AVX-512F; `rows` rows of stride `ldc` at `c`, each with the masked columns in bounds.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn store(
        acc: &[[__m512; 2]; MR],
        rows: usize,
        c: *mut f32,
        ldc: usize,
        masks: [__mmask16; 2],
        alpha: f32,
        add: bool,
    ) {
        let al = _mm512_set1_ps(alpha);
        for (r, row) in acc.iter().enumerate().take(rows) {
            for (h, &mask) in masks.iter().enumerate() {
                // SAFETY: masked lanes only; in bounds per the contract.
                unsafe {
                    let p = c.add(r * ldc + 16 * h);
                    let v = if add {
                        _mm512_fmadd_ps(al, row[h], _mm512_maskz_loadu_ps(mask, p))
                    } else {
                        _mm512_mul_ps(al, row[h])
                    };
                    _mm512_mask_storeu_ps(p, mask, v);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
