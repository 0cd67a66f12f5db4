//! The x86 kernels of the bf16 products: the register-only peak loops and the `vdpbf16ps`
//! 6 × 64 tile (see the parent module for the layout).

use super::PackedB;
use std::arch::x86_64::*;

/// `iters` × 12 independent 512-bit f32 FMAs.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn fma_loop(iters: usize) -> f32 {
    let (a, b) = (_mm512_set1_ps(0.999), _mm512_set1_ps(1e-3));
    let mut acc = [_mm512_setzero_ps(); 12];
    for _ in 0..iters {
        for v in acc.iter_mut() {
            *v = _mm512_fmadd_ps(*v, a, b);
        }
    }
    acc.iter().map(|&v| _mm512_reduce_add_ps(v)).sum()
}

/// `iters` × 12 independent 256-bit f32 FMAs (AVX2 CPUs: the f32 ceiling there).
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn fma_loop_avx2(iters: usize) -> f32 {
    let (a, b) = (_mm256_set1_ps(0.999), _mm256_set1_ps(1e-3));
    let mut acc = [_mm256_setzero_ps(); 12];
    for _ in 0..iters {
        for v in acc.iter_mut() {
            *v = _mm256_fmadd_ps(*v, a, b);
        }
    }
    let mut out = [0f32; 8];
    let total = acc.iter().fold(_mm256_setzero_ps(), |s, &v| _mm256_add_ps(s, v));
    // SAFETY: out holds 8 floats.
    unsafe { _mm256_storeu_ps(out.as_mut_ptr(), total) };
    out.iter().sum()
}

/// `iters` × 12 independent `vdpbf16ps` (32 bf16 multiply-adds each).
#[target_feature(enable = "avx512f,avx512bf16")]
pub(super) unsafe fn dpbf16_loop(iters: usize) -> f32 {
    // SAFETY: plain bit reinterpretations of 512-bit vectors.
    let (a, b): (__m512bh, __m512bh) = unsafe {
        (
            std::mem::transmute::<__m512i, __m512bh>(_mm512_set1_epi32(0x3F80_3F80)),
            std::mem::transmute::<__m512i, __m512bh>(_mm512_set1_epi32(0x3A83_3A83)),
        )
    };
    let mut acc = [_mm512_setzero_ps(); 12];
    for _ in 0..iters {
        for v in acc.iter_mut() {
            *v = _mm512_dpbf16_ps(*v, a, b);
        }
    }
    acc.iter().map(|&v| _mm512_reduce_add_ps(v)).sum()
}

/// `iters` × 12 independent 512-bit `vfmadd231ph` (fp16 intrinsics are not stable Rust, so
/// inline assembly; the accumulators stay in zmm registers).
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn fmaph_loop(iters: usize) -> u32 {
    // 0x3BFF = 0.9995 and 0x1419 ≈ 0.001 in fp16: the accumulators stay finite.
    let (a, b) = (_mm512_set1_epi16(0x3BFF), _mm512_set1_epi16(0x1419));
    let mut acc = [_mm512_setzero_si512(); 12];
    for _ in 0..iters {
        // SAFETY: register-only arithmetic; the caller checked avx512fp16.
        unsafe {
            std::arch::asm!(
                "vfmadd213ph {0}, {a}, {b}",
                "vfmadd213ph {1}, {a}, {b}",
                "vfmadd213ph {2}, {a}, {b}",
                "vfmadd213ph {3}, {a}, {b}",
                "vfmadd213ph {4}, {a}, {b}",
                "vfmadd213ph {5}, {a}, {b}",
                "vfmadd213ph {6}, {a}, {b}",
                "vfmadd213ph {7}, {a}, {b}",
                "vfmadd213ph {8}, {a}, {b}",
                "vfmadd213ph {9}, {a}, {b}",
                "vfmadd213ph {10}, {a}, {b}",
                "vfmadd213ph {11}, {a}, {b}",
                inout(zmm_reg) acc[0], inout(zmm_reg) acc[1], inout(zmm_reg) acc[2],
                inout(zmm_reg) acc[3], inout(zmm_reg) acc[4], inout(zmm_reg) acc[5],
                inout(zmm_reg) acc[6], inout(zmm_reg) acc[7], inout(zmm_reg) acc[8],
                inout(zmm_reg) acc[9], inout(zmm_reg) acc[10], inout(zmm_reg) acc[11],
                a = in(zmm_reg) a, b = in(zmm_reg) b,
                options(pure, nomem, nostack),
            );
        }
    }
    acc.iter().fold(0u32, |s, &v| s ^ _mm512_reduce_add_epi32(v) as u32)
}

/// Converts the whole 16-float blocks of `row` into bf16 pairs of `dst`; returns floats done.
#[target_feature(enable = "avx512f,avx512bf16")]
pub(super) unsafe fn convert_blocks(row: &[f32], dst: &mut [u32]) -> usize {
    let blocks = row.len() / 16;
    for b in 0..blocks {
        // SAFETY: block b covers row[16b..16b+16] and dst[8b..8b+8], both in bounds.
        unsafe {
            let v = _mm512_loadu_ps(row.as_ptr().add(16 * b));
            let h: __m256bh = _mm512_cvtneps_pbh(v);
            _mm256_storeu_si256(
                dst.as_mut_ptr().add(8 * b) as *mut __m256i,
                std::mem::transmute::<__m256bh, __m256i>(h),
            );
        }
    }
    16 * blocks
}

/// Splits the whole 16-float blocks of `row` for bf16x3: hi = bf16(x) into `hi_dst` and
/// `dup_dst`, lo = bf16(x − hi) into `lo_dst`, as [`convert_blocks`] lays out pairs; returns
/// floats done.
#[target_feature(enable = "avx512f,avx512bf16")]
pub(super) unsafe fn split_blocks(row: &[f32], hi_dst: &mut [u32], lo_dst: &mut [u32], dup_dst: &mut [u32]) -> usize {
    let blocks = row.len() / 16;
    let room = hi_dst.len().min(lo_dst.len()).min(dup_dst.len());
    assert!(room >= 8 * blocks, "split_blocks: shapes");
    for b in 0..blocks {
        // SAFETY: block b covers row[16b..16b+16] and the dsts' [8b..8b+8], in bounds (asserted).
        unsafe {
            let (h, l) = split16(_mm512_loadu_ps(row.as_ptr().add(16 * b)));
            _mm256_storeu_si256(hi_dst.as_mut_ptr().add(8 * b) as *mut __m256i, h);
            _mm256_storeu_si256(dup_dst.as_mut_ptr().add(8 * b) as *mut __m256i, h);
            _mm256_storeu_si256(lo_dst.as_mut_ptr().add(8 * b) as *mut __m256i, l);
        }
    }
    16 * blocks
}

/// Whole 16-column blocks of two rows (`r1` None: zero) split for bf16x3 into pairs: (hi(r0),
/// hi(r1)) into `hi_dst`, (lo(r0), lo(r1)) into `lo_dst`, as [`interleave_blocks`]; returns
/// columns done.
#[target_feature(enable = "avx512f,avx512bf16")]
pub(super) unsafe fn split_pair_blocks(
    r0: &[f32],
    r1: Option<&[f32]>,
    hi_dst: &mut [u32],
    lo_dst: &mut [u32],
) -> usize {
    let n = r0.len().min(hi_dst.len()).min(lo_dst.len());
    assert!(r1.is_none_or(|r| r.len() >= n), "split_pair_blocks: shapes");
    let blocks = n / 16;
    for b in 0..blocks {
        // SAFETY: block b covers columns 16b..16b+16 of both rows and both dsts, in bounds.
        unsafe {
            let (h0, l0) = split16(_mm512_loadu_ps(r0.as_ptr().add(16 * b)));
            let (mut h, mut l) = (_mm512_cvtepu16_epi32(h0), _mm512_cvtepu16_epi32(l0));
            if let Some(r1) = r1 {
                let (h1, l1) = split16(_mm512_loadu_ps(r1.as_ptr().add(16 * b)));
                h = _mm512_or_si512(h, _mm512_slli_epi32(_mm512_cvtepu16_epi32(h1), 16));
                l = _mm512_or_si512(l, _mm512_slli_epi32(_mm512_cvtepu16_epi32(l1), 16));
            }
            _mm512_storeu_si512(hi_dst.as_mut_ptr().add(16 * b) as *mut _, h);
            _mm512_storeu_si512(lo_dst.as_mut_ptr().add(16 * b) as *mut _, l);
        }
    }
    16 * blocks
}

/// The 16 × 16 transpose of 32-bit lanes: `out[c]` lane i = `x[i]` lane c (32- and 64-bit
/// unpacks, then two rounds of 128-bit lane shuffles).
#[inline]
#[target_feature(enable = "avx512f")]
pub(super) fn transpose16(x: &[__m512i; 16]) -> [__m512i; 16] {
    let mut t = [_mm512_setzero_si512(); 16];
    for i in 0..8 {
        t[2 * i] = _mm512_unpacklo_epi32(x[2 * i], x[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_epi32(x[2 * i], x[2 * i + 1]);
    }
    // u[4q + j]: per 128-bit lane ℓ, column 4ℓ + j of source rows 4q..4q+4.
    let mut u = [_mm512_setzero_si512(); 16];
    for q in 0..4 {
        u[4 * q] = _mm512_unpacklo_epi64(t[4 * q], t[4 * q + 2]);
        u[4 * q + 1] = _mm512_unpackhi_epi64(t[4 * q], t[4 * q + 2]);
        u[4 * q + 2] = _mm512_unpacklo_epi64(t[4 * q + 1], t[4 * q + 3]);
        u[4 * q + 3] = _mm512_unpackhi_epi64(t[4 * q + 1], t[4 * q + 3]);
    }
    let mut out = [_mm512_setzero_si512(); 16];
    for j in 0..4 {
        let va = _mm512_shuffle_i32x4::<0x88>(u[j], u[4 + j]);
        let vb = _mm512_shuffle_i32x4::<0xDD>(u[j], u[4 + j]);
        let vc = _mm512_shuffle_i32x4::<0x88>(u[8 + j], u[12 + j]);
        let vd = _mm512_shuffle_i32x4::<0xDD>(u[8 + j], u[12 + j]);
        out[j] = _mm512_shuffle_i32x4::<0x88>(va, vc);
        out[4 + j] = _mm512_shuffle_i32x4::<0x88>(vb, vd);
        out[8 + j] = _mm512_shuffle_i32x4::<0xDD>(va, vc);
        out[12 + j] = _mm512_shuffle_i32x4::<0xDD>(vb, vd);
    }
    out
}

/// Aᵀ of a row-major `rows × n` block split for bf16x3 as rows of pairs: row c of `ap` (stride
/// `lda`) holds [hi | hi | lo] of column c, pairs (A[2kk, c], A[2kk+1, c]) at kk, kk + k2 and
/// kk + 2·k2 (k2 = ⌈rows/2⌉; a missing last row is zero). 32 rows × 16 columns per step: 32
/// loads split into 16 pair vectors of hi and of lo, each set turned by [`transpose16`].
#[target_feature(enable = "avx512f,avx512bf16")]
pub(super) unsafe fn split_transpose(a: &[f32], rows: usize, n: usize, ap: &mut [u32], lda: usize) {
    let k2 = rows.div_ceil(2);
    assert!(
        n.is_multiple_of(16) && a.len() >= rows * n && lda >= 3 * k2 && ap.len() >= n * lda,
        "split_transpose: shapes"
    );
    for kk0 in (0..k2).step_by(16) {
        let live = (k2 - kk0).min(16);
        let mask: __mmask16 = if live == 16 { 0xFFFF } else { (1u16 << live) - 1 };
        for c0 in (0..n).step_by(16) {
            let (mut hi, mut lo) = ([_mm512_setzero_si512(); 16], [_mm512_setzero_si512(); 16]);
            for i in 0..live {
                let r = 2 * (kk0 + i);
                // SAFETY: rows r (and r + 1 when < rows) exist, columns c0..c0+16 ≤ n.
                unsafe {
                    let (h0, l0) = split16(_mm512_loadu_ps(a.as_ptr().add(r * n + c0)));
                    let (mut h, mut l) = (_mm512_cvtepu16_epi32(h0), _mm512_cvtepu16_epi32(l0));
                    if r + 1 < rows {
                        let (h1, l1) = split16(_mm512_loadu_ps(a.as_ptr().add((r + 1) * n + c0)));
                        h = _mm512_or_si512(h, _mm512_slli_epi32(_mm512_cvtepu16_epi32(h1), 16));
                        l = _mm512_or_si512(l, _mm512_slli_epi32(_mm512_cvtepu16_epi32(l1), 16));
                    }
                    (hi[i], lo[i]) = (h, l);
                }
            }
            let (th, tl) = (transpose16(&hi), transpose16(&lo));
            for j in 0..16 {
                // SAFETY: row c0 + j < n of `ap`, pairs kk0..kk0+live of each segment < 3·k2 ≤ lda.
                unsafe {
                    let row = ap.as_mut_ptr().add((c0 + j) * lda + kk0) as *mut i32;
                    _mm512_mask_storeu_epi32(row, mask, th[j]);
                    _mm512_mask_storeu_epi32(row.add(k2), mask, th[j]);
                    _mm512_mask_storeu_epi32(row.add(2 * k2), mask, tl[j]);
                }
            }
        }
    }
}

/// 16 floats → (bf16(x), bf16(x − bf16(x))), nearest even.
#[inline]
#[target_feature(enable = "avx512f,avx512bf16")]
fn split16(v: __m512) -> (__m256i, __m256i) {
    // SAFETY: register-only conversions; the transmutes reinterpret 256-bit vectors.
    unsafe {
        let h: __m256i = std::mem::transmute(_mm512_cvtneps_pbh(v));
        let hf = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
        let l: __m256i = std::mem::transmute(_mm512_cvtneps_pbh(_mm512_sub_ps(v, hf)));
        (h, l)
    }
}

/// Converts whole 16-column blocks of two rows into bf16 pairs (`lo` in the low halves, `hi`
/// or zero in the high ones); returns columns done.
#[target_feature(enable = "avx512f,avx512bf16")]
pub(super) unsafe fn interleave_blocks(lo: &[f32], hi: Option<&[f32]>, dst: &mut [u32]) -> usize {
    let blocks = lo.len().min(dst.len()) / 16;
    for b in 0..blocks {
        // SAFETY: block b covers lo/hi[16b..16b+16] and dst[16b..16b+16], in bounds.
        unsafe {
            let l: __m256i = std::mem::transmute(_mm512_cvtneps_pbh(_mm512_loadu_ps(lo.as_ptr().add(16 * b))));
            let mut v = _mm512_cvtepu16_epi32(l);
            if let Some(hi) = hi {
                let h: __m256i = std::mem::transmute(_mm512_cvtneps_pbh(_mm512_loadu_ps(hi.as_ptr().add(16 * b))));
                v = _mm512_or_si512(v, _mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
            }
            _mm512_storeu_si512(dst.as_mut_ptr().add(16 * b) as *mut _, v);
        }
    }
    16 * blocks
}

/// One task's rows: 6-row tiles (then 1–5 rows) × 64-column slices (then 16-column ones).
#[target_feature(enable = "avx512f,avx512bf16")]
pub(super) unsafe fn block(c: &mut [f32], rows: usize, ap: &[u32], b: &PackedB, accumulate: bool) {
    // SAFETY: row-major packed A: row stride ⌈k/2⌉, pair stride 1.
    unsafe { block_strided(c, rows, ap, b.k.div_ceil(2), 1, b, accumulate) }
}

/// [`block`] with A's pair (r, kk) at `ap[r·rs + kk·ks]`.
#[target_feature(enable = "avx512f,avx512bf16")]
pub(super) unsafe fn block_strided(
    c: &mut [f32],
    rows: usize,
    ap: &[u32],
    rs: usize,
    ks: usize,
    b: &PackedB,
    accumulate: bool,
) {
    let a = Strided { ap, rs, ks };
    let mut r = 0;
    while r < rows {
        let t = (rows - r).min(6);
        // SAFETY: same target features as this function; tiles stay inside `c` and `ap`.
        unsafe {
            match t {
                6 => tile_rows::<6>(c, r, &a, b, accumulate),
                5 => tile_rows::<5>(c, r, &a, b, accumulate),
                4 => tile_rows::<4>(c, r, &a, b, accumulate),
                3 => tile_rows::<3>(c, r, &a, b, accumulate),
                2 => tile_rows::<2>(c, r, &a, b, accumulate),
                _ => tile_rows::<1>(c, r, &a, b, accumulate),
            }
        }
        r += t;
    }
}

/// Packed A with explicit strides (row-major packs: rs = ⌈k/2⌉, ks = 1; column packs of a
/// k × m matrix: rs = 1, ks = m).
pub(super) struct Strided<'a> {
    ap: &'a [u32],
    rs: usize,
    ks: usize,
}

#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn tile_rows<const R: usize>(c: &mut [f32], r0: usize, ap: &Strided<'_>, b: &PackedB, accumulate: bool) {
    let n = b.n;
    let mut col = 0;
    // SAFETY: as in `block`; n is a multiple of 16 (checked by the caller).
    unsafe {
        while col + 64 <= n {
            tile::<R, 4>(c, r0, col, ap, b, accumulate);
            col += 64;
        }
        while col < n {
            tile::<R, 1>(c, r0, col, ap, b, accumulate);
            col += 16;
        }
    }
}

/// C[r0..r0+R, col..col+16·V] (+)= A_bf16[r0.., :]·B_packed[:, col..]: R·V accumulators, each
/// step broadcasts one A pair per row and loads V 32-pair slices of B.
#[target_feature(enable = "avx512f,avx512bf16")]
#[inline]
unsafe fn tile<const R: usize, const V: usize>(
    c: &mut [f32],
    r0: usize,
    col: usize,
    ap: &Strided<'_>,
    b: &PackedB,
    accumulate: bool,
) {
    let (n, k2) = (b.n, b.k.div_ceil(2));
    let (rs, ks) = (ap.rs, ap.ks);
    let ap = ap.ap;
    // SAFETY: rows r0..r0+R of `ap` (k2 pairs each) and of `c`, columns col..col+16·V < n of
    // `b.data` and `c`, all in bounds by the caller's tiling.
    unsafe {
        let mut acc = [[_mm512_setzero_ps(); V]; R];
        let bp = b.data.as_ptr();
        let a = ap.as_ptr();
        for kk in 0..k2 {
            let mut bv = [_mm512_setzero_si512(); V];
            for (v, slot) in bv.iter_mut().enumerate() {
                *slot = _mm512_loadu_si512(bp.add(kk * n + col + 16 * v) as *const _);
            }
            for (i, row) in acc.iter_mut().enumerate() {
                let x: __m512bh = std::mem::transmute(_mm512_set1_epi32(*a.add((r0 + i) * rs + kk * ks) as i32));
                for v in 0..V {
                    row[v] = _mm512_dpbf16_ps(row[v], x, std::mem::transmute::<__m512i, __m512bh>(bv[v]));
                }
            }
        }
        for (i, row) in acc.iter().enumerate() {
            for (v, &s) in row.iter().enumerate() {
                let p = c.as_mut_ptr().add((r0 + i) * n + col + 16 * v);
                let s = if accumulate { _mm512_add_ps(_mm512_loadu_ps(p), s) } else { s };
                _mm512_storeu_ps(p, s);
            }
        }
    }
}
