//! The AVX2 kernels of the int16 products: quantization, the 4 × 16 `vpmaddwd` tile and the
//! register-only peak loop (see the parent module for the layout and the arithmetic).

use super::{Sides, CHUNK_PAIRS, QMAX, SLICE};
use std::arch::x86_64::*;

/// Multiply-adds per iteration of [`madd_loop`]: 8 `vpmaddwd` × 16.
pub(super) const MADD_LOOP_MACS: usize = 8 * 16;

/// Rows of a tile: 2·ROWS int32 accumulators, two B vectors, a broadcast and a product
/// temporary fill the 16 ymm registers.
const ROWS: usize = 5;

/// `iters` × 8 `vpmaddwd` (into six rotating temporaries) and 8 `vpaddd` into 8 independent
/// accumulators: the instruction pair a 4 × 16 tile issues per product (written in
/// assembly so the compiler cannot merge the identical products).
#[target_feature(enable = "avx2")]
pub(super) unsafe fn madd_loop(iters: usize) -> i32 {
    let out: i32;
    // SAFETY: register-only arithmetic on the ymm registers declared clobbered; iters ≥ 1.
    unsafe {
        std::arch::asm!(
            "vpcmpeqd ymm14, ymm14, ymm14",
            "vpsrlw ymm14, ymm14, 15",
            "vmovdqa ymm15, ymm14",
            "vpxor ymm0, ymm0, ymm0",
            "vpxor ymm1, ymm1, ymm1",
            "vpxor ymm2, ymm2, ymm2",
            "vpxor ymm3, ymm3, ymm3",
            "vpxor ymm4, ymm4, ymm4",
            "vpxor ymm5, ymm5, ymm5",
            "vpxor ymm6, ymm6, ymm6",
            "vpxor ymm7, ymm7, ymm7",
            "vpxor ymm8, ymm8, ymm8",
            "vpxor ymm9, ymm9, ymm9",
            "vpxor ymm10, ymm10, ymm10",
            "vpxor ymm11, ymm11, ymm11",
            "2:",
            "vpmaddwd ymm8, ymm14, ymm15",
            "vpaddd ymm0, ymm0, ymm8",
            "vpmaddwd ymm9, ymm14, ymm15",
            "vpaddd ymm1, ymm1, ymm9",
            "vpmaddwd ymm10, ymm14, ymm15",
            "vpaddd ymm2, ymm2, ymm10",
            "vpmaddwd ymm11, ymm14, ymm15",
            "vpaddd ymm3, ymm3, ymm11",
            "vpmaddwd ymm12, ymm14, ymm15",
            "vpaddd ymm4, ymm4, ymm12",
            "vpmaddwd ymm13, ymm14, ymm15",
            "vpaddd ymm5, ymm5, ymm13",
            "vpmaddwd ymm8, ymm14, ymm15",
            "vpaddd ymm6, ymm6, ymm8",
            "vpmaddwd ymm9, ymm14, ymm15",
            "vpaddd ymm7, ymm7, ymm9",
            "dec {n}",
            "jnz 2b",
            "vpaddd ymm0, ymm0, ymm7",
            "vmovd {out:e}, xmm0",
            n = inout(reg) iters.max(1) => _,
            out = out(reg) out,
            out("ymm0") _, out("ymm1") _, out("ymm2") _, out("ymm3") _, out("ymm4") _, out("ymm5") _,
            out("ymm6") _, out("ymm7") _, out("ymm8") _, out("ymm9") _, out("ymm10") _, out("ymm11") _,
            out("ymm12") _, out("ymm13") _, out("ymm14") _, out("ymm15") _,
            options(nomem, nostack),
        );
    }
    out
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

/// max |x| per column of rows × cols `src` into `out` (max with what it holds), +∞ for a column
/// with a NaN or infinite entry. Row by row (a streaming read; column blocks down the rows read
/// each cache line twice, 1 KiB apart), the running maxima in `out`. Whole 8-column blocks;
/// returns the columns done.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn col_max_abs(src: &[f32], rows: usize, cols: usize, out: &mut [f32]) -> usize {
    let mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fff_ffff));
    let blocks = cols / 8;
    let mut bad = vec![0f32; 8 * blocks];
    // SAFETY: columns 8b..8b+8 ≤ 8·blocks ≤ cols of every row r < rows, of out and of bad.
    unsafe {
        for r in 0..rows {
            let row = src.as_ptr().add(r * cols);
            for b in 0..blocks {
                let x = _mm256_loadu_ps(row.add(8 * b));
                let (m, z) = (out.as_mut_ptr().add(8 * b), bad.as_mut_ptr().add(8 * b));
                _mm256_storeu_ps(m, _mm256_max_ps(_mm256_loadu_ps(m), _mm256_and_ps(x, mask)));
                _mm256_storeu_ps(z, _mm256_add_ps(_mm256_loadu_ps(z), _mm256_mul_ps(x, _mm256_setzero_ps())));
            }
        }
    }
    // A NaN in `bad` (x·0 of a non-finite entry) marks its column +∞.
    for (o, z) in out.iter_mut().zip(&bad) {
        if z.is_nan() {
            *o = f32::INFINITY;
        }
    }
    8 * blocks
}

/// Two rows (`hi` = None for a zero row) quantized per column (round(x·inv_c), nearest even,
/// clamped to ±QMAX) into pairs `dst[c]` = q(lo[c]) | q(hi[c]) << 16. Whole 8-column blocks;
/// returns the columns done.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn quantize_pair_rows(lo: &[f32], hi: Option<&[f32]>, inv: &[f32], dst: &mut [u32]) -> usize {
    let (top, bottom) = (_mm256_set1_ps(QMAX), _mm256_set1_ps(-QMAX));
    let blocks = dst.len().min(lo.len()).min(inv.len()) / 8;
    for b in 0..blocks {
        // SAFETY: columns 8b..8b+8 exist in lo, hi (same length), inv and dst.
        unsafe {
            let iv = _mm256_loadu_ps(inv.as_ptr().add(8 * b));
            let q = |x: __m256| _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(_mm256_mul_ps(x, iv), bottom), top));
            let q0 = q(_mm256_loadu_ps(lo.as_ptr().add(8 * b)));
            let q1 = match hi {
                Some(h) => q(_mm256_loadu_ps(h.as_ptr().add(8 * b))),
                None => _mm256_setzero_si256(),
            };
            let p = _mm256_blend_epi16::<0b1010_1010>(q0, _mm256_slli_epi32::<16>(q1));
            _mm256_storeu_si256(dst.as_mut_ptr().add(8 * b) as *mut __m256i, p);
        }
    }
    8 * blocks
}

/// Columns c0..c0 + 8 of a row-major k × m matrix quantized (inv: their 8 factors) into pairs
/// along k, column by column: `band[j·⌈k/2⌉ + kk]` = (q[2kk, c0+j], q[2kk+1, c0+j]). Eight pair
/// rows at a time are quantized across the band and transposed in registers; returns the pairs
/// done (the caller finishes the rest).
#[target_feature(enable = "avx2")]
pub(super) unsafe fn quantize_band(src: &[f32], k: usize, m: usize, c0: usize, inv: &[f32], band: &mut [u32]) -> usize {
    let k2 = k.div_ceil(2);
    debug_assert!(c0 + 8 <= m && src.len() >= k * m && band.len() >= 8 * k2 && inv.len() >= 8);
    // Whole groups of 8 pair rows whose rows all exist (2kk + 1 < k).
    let groups = (k / 2) / 8;
    // SAFETY: rows 2kk, 2kk + 1 < k and columns c0..c0 + 8 ≤ m; band rows j < 8 of k2 pairs.
    unsafe {
        let iv = _mm256_loadu_ps(inv.as_ptr());
        let (top, bottom) = (_mm256_set1_ps(QMAX), _mm256_set1_ps(-QMAX));
        let q = |x: __m256| _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(_mm256_mul_ps(x, iv), bottom), top));
        for g in 0..groups {
            let mut v = [_mm256_setzero_ps(); 8];
            for (i, v) in v.iter_mut().enumerate() {
                let kk = 8 * g + i;
                let q0 = q(_mm256_loadu_ps(src.as_ptr().add(2 * kk * m + c0)));
                let q1 = q(_mm256_loadu_ps(src.as_ptr().add((2 * kk + 1) * m + c0)));
                *v = _mm256_castsi256_ps(_mm256_blend_epi16::<0b1010_1010>(q0, _mm256_slli_epi32::<16>(q1)));
            }
            for (j, o) in crate::simd::x86::transpose8(v).into_iter().enumerate() {
                _mm256_storeu_si256(band.as_mut_ptr().add(j * k2 + 8 * g) as *mut __m256i, _mm256_castps_si256(o));
            }
        }
    }
    8 * groups
}

/// C (rows × n) (+)= A·B over the pairs `kks` of B, n a multiple of 16: per 16-column slice of B
/// (in L1), tiles of [`ROWS`] rows. A's pair (i, kk) is at `a[i·si + kk·sk]`: rows packed one
/// after another (si = ⌈k/2⌉, sk = 1) as are [`super::PackedCols`]' columns.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn block(c: &mut [f32], rows: usize, p: &Sides<'_>, accumulate: bool) {
    let Sides { a, si, sk, ascale, b, ref kks } = *p;
    let (k2, n) = (b.k.div_ceil(2), b.n);
    debug_assert!(n.is_multiple_of(SLICE) && c.len() >= rows * n && ascale.len() >= rows && kks.end <= k2);
    debug_assert!(rows == 0 || kks.is_empty() || a.len() > (rows - 1) * si + (kks.end - 1) * sk);
    for s in 0..n / SLICE {
        let bs = b.data[s * k2 * SLICE..].as_ptr();
        let tau = b.scale[s * SLICE..].as_ptr();
        let t = Tile { n, si, sk, kks: kks.clone(), bs, tau, accumulate };
        let mut r0 = 0;
        // SAFETY (all tiles): rows r0..r0+R < rows of A, C and ascale; columns 16s..16s+16 < n.
        unsafe {
            while r0 + ROWS <= rows {
                t.run::<ROWS>(c.as_mut_ptr().add(r0 * n + s * SLICE), a.as_ptr().add(r0 * si), &ascale[r0..]);
                r0 += ROWS;
            }
            let (cp, ap) = (c.as_mut_ptr().add(r0 * n + s * SLICE), a.as_ptr().add(r0 * si));
            match rows - r0 {
                4 => t.run::<4>(cp, ap, &ascale[r0..]),
                3 => t.run::<3>(cp, ap, &ascale[r0..]),
                2 => t.run::<2>(cp, ap, &ascale[r0..]),
                1 => t.run::<1>(cp, ap, &ascale[r0..]),
                _ => {}
            }
        }
    }
}

/// What the tiles of one B slice share: C's row stride, A's strides, the pairs, the slice and its τ.
struct Tile {
    n: usize,
    si: usize,
    sk: usize,
    kks: std::ops::Range<usize>,
    bs: *const u32,
    tau: *const f32,
    accumulate: bool,
}

impl Tile {
    /// R rows × 16 columns: per pair kk, each row's pair broadcast against the slice's two vectors
    /// (`vpmaddwd`, then `vpaddd` into 2R int32 accumulators); after each chunk of pairs, C (+)=
    /// f32(acc)·(σ_r·τ_c).
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn run<const R: usize>(&self, c: *mut f32, a: *const u32, sa: &[f32]) {
        let Tile { n, si, sk, ref kks, bs, tau, accumulate } = *self;
        // SAFETY: the caller's bounds: pairs kks of R rows at a (strides si, sk), of the slice at
        // bs (16 per pair), 16 τ at tau and R rows of 16 floats at c (stride n).
        unsafe {
            let (t0, t1) = (_mm256_loadu_ps(tau), _mm256_loadu_ps(tau.add(8)));
            let mut first = !accumulate;
            let mut kk0 = kks.start;
            loop {
                let kk1 = (kk0 + CHUNK_PAIRS).min(kks.end);
                let mut acc = [[_mm256_setzero_si256(); 2]; R];
                for kk in kk0..kk1 {
                    let b0 = _mm256_loadu_si256(bs.add(kk * SLICE) as *const __m256i);
                    let b1 = _mm256_loadu_si256(bs.add(kk * SLICE + 8) as *const __m256i);
                    let ak = a.add(kk * sk);
                    for (i, acc) in acc.iter_mut().enumerate() {
                        let av = _mm256_set1_epi32(*ak.add(i * si) as i32);
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
                if kk0 >= kks.end {
                    break;
                }
            }
        }
    }
}
