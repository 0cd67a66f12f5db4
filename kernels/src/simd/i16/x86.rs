//! The AVX2 kernels of the int16 products: quantization, the 4 × 16 `vpmaddwd` tile and the
//! register-only peak loop (see the parent module for the layout and the arithmetic).

use super::{PackedW, CHUNK_PAIRS, QMAX, SLICE};
use std::arch::x86_64::*;

/// Multiply-adds per iteration of [`madd_loop`]: 12 `vpmaddwd` × 16.
pub(super) const MADD_LOOP_MACS: usize = 12 * 16;

/// Rows of a tile: 2·ROWS int32 accumulators, two B vectors, a broadcast and a product
/// temporary fill the 16 ymm registers.
const ROWS: usize = 5;

/// `iters` × 12 independent `vpmaddwd` + `vpaddd` pairs.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn madd_loop(iters: usize) -> i32 {
    let (mut a, b) = (_mm256_set1_epi32(0x0003_0005), _mm256_set1_epi32(0x0007_0002));
    let mut acc = [_mm256_setzero_si256(); 12];
    for _ in 0..iters {
        for v in acc.iter_mut() {
            *v = _mm256_add_epi32(*v, _mm256_madd_epi16(a, b));
        }
        // SAFETY: an empty asm block that "changes" a, so the products stay inside the loop.
        unsafe { std::arch::asm!("/* {0} */", inout(ymm_reg) a, options(pure, nomem, nostack, preserves_flags)) };
    }
    let total = acc.iter().fold(_mm256_setzero_si256(), |s, &v| _mm256_add_epi32(s, v));
    _mm256_extract_epi32::<0>(total)
}

/// max |x| over `src`, +∞ when some entry is NaN or infinite (x·0 is NaN exactly then).
#[target_feature(enable = "avx2")]
pub(super) unsafe fn max_abs(src: &[f32]) -> f32 {
    let mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fff_ffff));
    let (mut m, mut bad) = (_mm256_setzero_ps(), _mm256_setzero_ps());
    let blocks = src.len() / 8;
    for b in 0..blocks {
        // SAFETY: 8 floats from 8·b < src.len().
        let x = unsafe { _mm256_loadu_ps(src.as_ptr().add(8 * b)) };
        m = _mm256_max_ps(m, _mm256_and_ps(x, mask));
        bad = _mm256_add_ps(bad, _mm256_mul_ps(x, _mm256_setzero_ps()));
    }
    let (mut mv, mut bv) = ([0f32; 8], [0f32; 8]);
    // SAFETY: 8 floats each.
    unsafe {
        _mm256_storeu_ps(mv.as_mut_ptr(), m);
        _mm256_storeu_ps(bv.as_mut_ptr(), bad);
    }
    let mut out = mv.iter().fold(0f32, |a, &b| a.max(b));
    for &x in &src[8 * blocks..] {
        if !x.is_finite() {
            return f32::INFINITY;
        }
        out = out.max(x.abs());
    }
    if bv.iter().any(|v| v.is_nan()) {
        f32::INFINITY
    } else {
        out
    }
}

/// Whole 16-float blocks of `src` quantized (round(x·inv), nearest even, clamped to ±QMAX) into
/// 8 pairs of `dst` each; returns the floats done.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn quantize_blocks(src: &[f32], dst: &mut [u32], inv: f32) -> usize {
    let (iv, hi, lo) = (_mm256_set1_ps(inv), _mm256_set1_ps(QMAX), _mm256_set1_ps(-QMAX));
    let blocks = (src.len() / 16).min(dst.len() / 8);
    for b in 0..blocks {
        // SAFETY: floats 16b..16b+16 of src and pairs 8b..8b+8 of dst exist.
        unsafe {
            let x0 = _mm256_loadu_ps(src.as_ptr().add(16 * b));
            let x1 = _mm256_loadu_ps(src.as_ptr().add(16 * b + 8));
            let y0 = _mm256_min_ps(_mm256_max_ps(_mm256_mul_ps(x0, iv), lo), hi);
            let y1 = _mm256_min_ps(_mm256_max_ps(_mm256_mul_ps(x1, iv), lo), hi);
            // packs works per 128-bit lane: [q0..3 q8..11 | q4..7 q12..15]; the permute restores order.
            let p = _mm256_packs_epi32(_mm256_cvtps_epi32(y0), _mm256_cvtps_epi32(y1));
            let p = _mm256_permute4x64_epi64::<0b11_01_10_00>(p);
            _mm256_storeu_si256(dst.as_mut_ptr().add(8 * b) as *mut __m256i, p);
        }
    }
    16 * blocks
}

/// C (rows × n) (+)= A·B, n a multiple of 16: per 16-column slice of B (in L1), 4-row tiles of A.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn block(c: &mut [f32], rows: usize, ap: &[u32], ascale: &[f32], b: &PackedW, accumulate: bool) {
    let (k2, n) = (b.k.div_ceil(2), b.n);
    debug_assert!(n.is_multiple_of(SLICE) && ap.len() >= rows * k2 && c.len() >= rows * n && ascale.len() >= rows);
    for s in 0..n / SLICE {
        let bs = b.data[s * k2 * SLICE..].as_ptr();
        let tau = b.scale[s * SLICE..].as_ptr();
        let mut r0 = 0;
        // SAFETY (all tiles): rows r0..r0+R < rows of A, C and ascale; columns 16s..16s+16 < n.
        unsafe {
            while r0 + ROWS <= rows {
                tile::<ROWS>(
                    c.as_mut_ptr().add(r0 * n + s * SLICE),
                    n,
                    ap.as_ptr().add(r0 * k2),
                    k2,
                    &ascale[r0..],
                    bs,
                    tau,
                    accumulate,
                );
                r0 += ROWS;
            }
            let (cp, a) = (c.as_mut_ptr().add(r0 * n + s * SLICE), ap.as_ptr().add(r0 * k2));
            match rows - r0 {
                5 => tile::<5>(cp, n, a, k2, &ascale[r0..], bs, tau, accumulate),
                4 => tile::<4>(cp, n, a, k2, &ascale[r0..], bs, tau, accumulate),
                3 => tile::<3>(cp, n, a, k2, &ascale[r0..], bs, tau, accumulate),
                2 => tile::<2>(cp, n, a, k2, &ascale[r0..], bs, tau, accumulate),
                1 => tile::<1>(cp, n, a, k2, &ascale[r0..], bs, tau, accumulate),
                _ => {}
            }
        }
    }
}

/// R rows × 16 columns: per pair kk, each row's pair broadcast against the slice's two vectors
/// (`vpmaddwd`, then `vpaddd` into 2R int32 accumulators); after each chunk of pairs, C (+)=
/// f32(acc)·(σ_r·τ_c).
#[target_feature(enable = "avx2")]
#[inline]
#[allow(clippy::too_many_arguments)]
unsafe fn tile<const R: usize>(
    c: *mut f32,
    n: usize,
    a: *const u32,
    k2: usize,
    sa: &[f32],
    bs: *const u32,
    tau: *const f32,
    accumulate: bool,
) {
    // SAFETY: the caller's bounds: pairs 0..k2 of R rows at a (stride k2), of the slice at bs
    // (16 per pair), 16 τ at tau and R rows of 16 floats at c (stride n).
    unsafe {
        let (t0, t1) = (_mm256_loadu_ps(tau), _mm256_loadu_ps(tau.add(8)));
        let mut first = !accumulate;
        let mut kk0 = 0;
        loop {
            let kk1 = (kk0 + CHUNK_PAIRS).min(k2);
            let mut acc = [[_mm256_setzero_si256(); 2]; R];
            for kk in kk0..kk1 {
                let b0 = _mm256_loadu_si256(bs.add(kk * SLICE) as *const __m256i);
                let b1 = _mm256_loadu_si256(bs.add(kk * SLICE + 8) as *const __m256i);
                for (i, acc) in acc.iter_mut().enumerate() {
                    let av = _mm256_set1_epi32(*a.add(i * k2 + kk) as i32);
                    acc[0] = _mm256_add_epi32(acc[0], _mm256_madd_epi16(av, b0));
                    acc[1] = _mm256_add_epi32(acc[1], _mm256_madd_epi16(av, b1));
                }
            }
            for (i, acc) in acc.iter().enumerate() {
                let s = _mm256_set1_ps(sa[i]);
                let p = c.add(i * n);
                let v0 = _mm256_mul_ps(_mm256_cvtepi32_ps(acc[0]), _mm256_mul_ps(s, t0));
                let v1 = _mm256_mul_ps(_mm256_cvtepi32_ps(acc[1]), _mm256_mul_ps(s, t1));
                if first {
                    _mm256_storeu_ps(p, v0);
                    _mm256_storeu_ps(p.add(8), v1);
                } else {
                    _mm256_storeu_ps(p, _mm256_add_ps(_mm256_loadu_ps(p), v0));
                    _mm256_storeu_ps(p.add(8), _mm256_add_ps(_mm256_loadu_ps(p.add(8)), v1));
                }
            }
            first = false;
            kk0 = kk1;
            if kk0 >= k2 {
                break;
            }
        }
    }
}
