//! A tile of up to [`TILE_ROWS`] bit rows against one weight matrix at once:
//! out[r, :] += Σ_{i: x_ri = 1} W[i, :] (the RBM's hidden pre-activations).
//!
//! The per-row gather reads a row of W for every set bit of every row; the tile reads each row of
//! W once and adds it to all 8 rows as a multiply-add with x_ri ∈ {0, 1} broadcast (exact: 1·w + a
//! rounds like w + a, 0·w + a = a), so W traffic drops by 8·density and the work becomes a small
//! dense product at the FMA rate. Same sums in the same (ascending i) order as the gather.

use super::{detected, isa, Isa};

/// Rows per tile.
pub const TILE_ROWS: usize = 8;

/// Portable twin: ascending i, skipping zeros (the same bits as the multiply-adds).
#[inline(always)]
fn body(out: &mut [f32], xf: &[f32], w: &[f32], width: usize) {
    let k = xf.len() / TILE_ROWS;
    for (r, o) in out.chunks_exact_mut(width.max(1)).enumerate() {
        for i in 0..k {
            if xf[i * TILE_ROWS + r] != 0.0 {
                o.iter_mut().zip(&w[i * width..(i + 1) * width]).for_each(|(a, &b)| *a += b);
            }
        }
    }
}

/// out (8 × width) += X (8 × k) · W (k × width), out and W row-major, X given transposed (`xf`:
/// k × 8, the 8 rows' bit i side by side, so a step of i reads one 32-byte run). O(8·k·width). With X's entries 0 or 1
/// (checked in debug builds) the sums are those of adding W's rows over the set bits.
#[inline]
pub fn gather_add_tile(out: &mut [f32], xf: &[f32], w: &[f32], width: usize) {
    run(isa(), out, xf, w, width)
}

/// [`gather_add_tile`] with an explicit ISA; `None` if this CPU lacks it.
pub fn gather_add_tile_with(isa: Isa, out: &mut [f32], xf: &[f32], w: &[f32], width: usize) -> Option<()> {
    if isa > detected() {
        return None;
    }
    run(isa, out, xf, w, width);
    Some(())
}

fn run(isa: Isa, out: &mut [f32], xf: &[f32], w: &[f32], width: usize) {
    let k = xf.len() / TILE_ROWS;
    assert!(
        out.len() == TILE_ROWS * width && xf.len() == TILE_ROWS * k && w.len() >= k * width,
        "gather_add_tile: shapes"
    );
    debug_assert!(xf.iter().all(|&v| v == 0.0 || v == 1.0), "gather_add_tile: X must be 0/1");
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the caller checked AVX-512 F/DQ/VL; shapes asserted above.
        Isa::Avx512 => unsafe { x512::tile(out, xf, w, width, k) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the caller checked AVX2 and FMA.
        Isa::Avx2 => unsafe { avx2(out, xf, w, width) },
        _ => body(out, xf, w, width),
    }
}

/// AVX2: blocks of W's rows (≈ 32 KiB, reused from L1), then 16 columns at a time, 4 rows × 2 ymm
/// accumulators per pass (two passes per tile): W's two vectors loaded once per i and pass, x_ri
/// broadcast. The column tail is masked. Same multiply-adds in the same order as the AVX-512 tile.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn avx2(out: &mut [f32], xf: &[f32], w: &[f32], width: usize) {
    use std::arch::x86_64::*;
    let k = xf.len() / TILE_ROWS;
    let (op, xp, wp) = (out.as_mut_ptr(), xf.as_ptr(), w.as_ptr());
    let kb = (8192 / width.max(1)).max(1);
    let lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    let mut i0 = 0;
    while i0 < k {
        let i1 = (i0 + kb).min(k);
        let mut c0 = 0;
        while c0 < width {
            let lanes = (width - c0).min(16) as i32;
            let m0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(lanes), lane);
            let m1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(lanes - 8), lane);
            for r0 in [0, 4] {
                // SAFETY: full chunks read and write columns c0..c0 + 16 ≤ width of rows that exist
                // (rows r < 8 of out, i < k of w, asserted by the caller); the tail chunk is masked
                // to c0..width; x reads 8·i + r < 8·k.
                unsafe {
                    // Full chunks take plain loads; the tail chunk masked ones.
                    let load = |p: *const f32, m: __m256i| {
                        if lanes == 16 {
                            _mm256_loadu_ps(p)
                        } else {
                            _mm256_maskload_ps(p, m)
                        }
                    };
                    let mut acc = [[_mm256_setzero_ps(); 2]; 4];
                    for (r, a) in acc.iter_mut().enumerate() {
                        let o = op.add((r0 + r) * width + c0);
                        a[0] = load(o, m0);
                        a[1] = load(o.wrapping_add(8), m1);
                    }
                    for i in i0..i1 {
                        let wr = wp.add(i * width + c0);
                        let (w0, w1) = (load(wr, m0), load(wr.wrapping_add(8), m1));
                        for (r, a) in acc.iter_mut().enumerate() {
                            let x = _mm256_broadcast_ss(&*xp.add(i * TILE_ROWS + r0 + r));
                            a[0] = _mm256_fmadd_ps(x, w0, a[0]);
                            a[1] = _mm256_fmadd_ps(x, w1, a[1]);
                        }
                    }
                    for (r, a) in acc.iter().enumerate() {
                        let o = op.add((r0 + r) * width + c0);
                        if lanes == 16 {
                            _mm256_storeu_ps(o, a[0]);
                            _mm256_storeu_ps(o.add(8), a[1]);
                        } else {
                            _mm256_maskstore_ps(o, m0, a[0]);
                            _mm256_maskstore_ps(o.wrapping_add(8), m1, a[1]);
                        }
                    }
                }
            }
            c0 += 16;
        }
        i0 = i1;
    }
}

#[cfg(target_arch = "x86_64")]
mod x512 {
    use super::TILE_ROWS;
    use std::arch::x86_64::*;

    fn mask(lanes: usize) -> __mmask16 {
        ((1u32 << lanes.min(16)) - 1) as __mmask16
    }

    /// Blocks of W's rows (≈ 32 KiB, streamed from memory once and reused from L1), then 32
    /// columns at a time: 8 rows × 2 zmm accumulators, W's two vectors loaded once per i and
    /// x_ri broadcast.
    #[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma")]
    pub(super) unsafe fn tile(out: &mut [f32], xf: &[f32], w: &[f32], width: usize, k: usize) {
        let (op, xp, wp) = (out.as_mut_ptr(), xf.as_ptr(), w.as_ptr());
        let kb = (8192 / width.max(1)).max(1);
        let mut i0 = 0;
        while i0 < k {
            let i1 = (i0 + kb).min(k);
            let mut c0 = 0;
            while c0 < width {
                let lanes = (width - c0).min(32);
                let (m0, m1) = (mask(lanes), mask(lanes.saturating_sub(16)));
                // SAFETY: every access is masked to columns c0..c0 + lanes ≤ width of a row that
                // exists (rows r < 8 of out, i < k of w, asserted by the caller); x reads 8·i + r < 8·k.
                unsafe {
                    let mut acc = [[_mm512_setzero_ps(); 2]; TILE_ROWS];
                    for (r, a) in acc.iter_mut().enumerate() {
                        let o = op.add(r * width + c0);
                        a[0] = _mm512_maskz_loadu_ps(m0, o);
                        a[1] = _mm512_maskz_loadu_ps(m1, o.wrapping_add(16));
                    }
                    // The lines this row's next pass reads (the next 32 columns, or after the
                    // last chunk the next block's first): each pass touches W's lines for the
                    // first time, ≈ 32 rows · 8 cycles before they are needed.
                    let ahead = if c0 + 32 < width { 32 } else { kb * width - c0 };
                    for i in i0..i1 {
                        let wr = wp.add(i * width + c0);
                        _mm_prefetch::<_MM_HINT_T0>(wr.wrapping_add(ahead).cast());
                        _mm_prefetch::<_MM_HINT_T0>(wr.wrapping_add(ahead + 16).cast());
                        let w0 = _mm512_maskz_loadu_ps(m0, wr);
                        let w1 = _mm512_maskz_loadu_ps(m1, wr.wrapping_add(16));
                        for (r, a) in acc.iter_mut().enumerate() {
                            let x = _mm512_set1_ps(*xp.add(i * TILE_ROWS + r));
                            a[0] = _mm512_fmadd_ps(x, w0, a[0]);
                            a[1] = _mm512_fmadd_ps(x, w1, a[1]);
                        }
                    }
                    for (r, a) in acc.iter().enumerate() {
                        let o = op.add(r * width + c0);
                        _mm512_mask_storeu_ps(o, m0, a[0]);
                        _mm512_mask_storeu_ps(o.wrapping_add(16), m1, a[1]);
                    }
                }
                c0 += 32;
            }
            i0 = i1;
        }
    }
}
