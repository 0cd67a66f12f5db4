//! Half-precision products on AVX512-FP16: C (+)= f16(A)·f16(B), `vfmadd231ph` on 32 lanes
//! accumulating in fp16 for at most [`FLUSH`] steps of k, then added into C in f32.
//!
//! Why: on Intel Xeons without AMX, `vdpbf16ps` runs at half the f32 FMA rate (the bf16 path is
//! slower than f32 there), while `vfmadd231ph` runs at twice it (`rmbench peak`:
//! `fma_f16_gflops`). The MLP's mixed path uses the same instruction on the bf16 module's pair
//! layout ([`pairs`], selected by [`crate::bf16::half()`]); this k-major product is the plain form,
//! benchmarked beside faer (`dense_layer_flops/f16_avx512fp16`). Partial sums must stay below
//! 65504: callers scale weighted operands (the mixed path divides them by a power of two).
//!
//! Error: inputs round to nearest even (relative 2⁻¹¹, eight times finer than bf16); each fp16
//! partial sum of ≤ [`FLUSH`] products adds a rounding of 2⁻¹¹ of its magnitude, so the result is
//! within about `FLUSH`·2⁻¹¹·Σ|aₖbₖ| in the worst case and far less for products of mixed sign.
//!
//! B (k × n) is packed k-major, `data[kk·n + c]` = f16(B[kk, c]); A's rows are rounded per
//! 96-row task. A 12 × 64 tile keeps 24 fp16 accumulators in zmm registers; every [`FLUSH`]
//! steps each converts to two 16-float halves added into C (in L1). [`gemm_reference`] is the
//! scalar twin (same input roundings, f64 sums) for the differential test.

use crate::dense::Operand;
use rayon::prelude::*;

/// Steps of k summed in fp16 before a partial sum is added into C in f32.
pub const FLUSH: usize = 64;

/// Rows per parallel task (a multiple of the 8-row tile).
const TASK_ROWS: usize = 96;

/// f32 → fp16 bits, round to nearest even (overflow to ±inf, NaN stays NaN).
#[inline]
pub fn to_f16(x: f32) -> u16 {
    half::f16::from_f32(x).to_bits()
}

/// The f32 value of fp16 bits.
#[inline]
pub fn from_f16(h: u16) -> f32 {
    half::f16::from_bits(h).to_f32()
}

/// True when this CPU has AVX512-FP16 and the kernels run with AVX-512 (`simd::isa()`).
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        crate::simd::isa() == crate::Isa::Avx512 && is_x86_feature_detected!("avx512fp16")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// op(B) (k × n) rounded to fp16, k-major.
#[derive(Clone, Debug, Default)]
pub struct PackedB {
    k: usize,
    n: usize,
    data: Vec<u16>,
}

impl PackedB {
    /// Packs op(B) of a row-major operand (k = rows of op(B), n = its columns).
    pub fn new(b: Operand<'_>) -> Self {
        let (k, n) = if b.trans { (b.cols, b.rows) } else { (b.rows, b.cols) };
        let at = |kk: usize, c: usize| if b.trans { b.data[c * b.cols + kk] } else { b.data[kk * b.cols + c] };
        let data = (0..k * n).map(|i| to_f16(at(i / n, i % n))).collect();
        PackedB { k, n, data }
    }

    /// Inner dimension k.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Columns n.
    pub fn n(&self) -> usize {
        self.n
    }
}

/// One row rounded to fp16 (`dst.len()` = `src.len()`), 16 floats per `vcvtps2ph` where
/// AVX512-FP16 is [`available`], the same bits as [`to_f16`].
pub fn pack_row(src: &[f32], dst: &mut [u16]) {
    assert_eq!(src.len(), dst.len(), "fp16::pack_row: shapes");
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if available() {
        // SAFETY: avx512f checked (with avx512fp16); whole 16-float blocks of both slices.
        done = unsafe { x86::convert_blocks(src, dst) };
    }
    for (d, &s) in dst[done..].iter_mut().zip(&src[done..]) {
        *d = to_f16(s);
    }
}

/// C (m × n, row-major) ← A·B, or C += A·B when `accumulate`; A is m × k row-major f32 (rounded
/// to fp16 here), B packed. AVX512-FP16 when [`available`] and n is a multiple of 32; otherwise
/// the same roundings with fp16 products summed in f32 (a test fallback, not fast).
pub fn gemm(c: &mut [f32], m: usize, a: &[f32], b: &PackedB, accumulate: bool) {
    let (k, n) = (b.k, b.n);
    assert!(a.len() >= m * k && c.len() >= m * n, "fp16::gemm: shapes");
    if m == 0 || n == 0 {
        return;
    }
    c[..m * n].par_chunks_mut(TASK_ROWS * n).enumerate().for_each(|(t, cblk)| {
        let r0 = t * TASK_ROWS;
        let rows = cblk.len() / n;
        let mut ap = vec![0u16; rows * k];
        for (r, dst) in ap.chunks_mut(k.max(1)).enumerate().take(rows) {
            pack_row(&a[(r0 + r) * k..(r0 + r + 1) * k], dst);
        }
        gemm_block(cblk, rows, &ap, b, accumulate);
    });
}

/// Single-threaded C (rows × n) (+)= A·B with A's rows already rounded ([`pack_row`], k each).
pub fn gemm_block(c: &mut [f32], rows: usize, ap: &[u16], b: &PackedB, accumulate: bool) {
    let (k, n) = (b.k, b.n);
    assert!(ap.len() >= rows * k && c.len() >= rows * n, "fp16::gemm_block: shapes");
    if rows == 0 || n == 0 {
        return;
    }
    if !accumulate {
        c[..rows * n].fill(0.0);
    }
    #[cfg(target_arch = "x86_64")]
    if available() && n.is_multiple_of(32) {
        // SAFETY: avx512f + avx512fp16 checked; shapes asserted above, n a multiple of 32.
        unsafe { x86::block(c, rows, ap, b) };
        return;
    }
    for r in 0..rows {
        for col in 0..n {
            let s: f32 = (0..k).map(|kk| from_f16(ap[r * k + kk]) * from_f16(b.data[kk * n + col])).sum();
            c[r * n + col] += s;
        }
    }
}

/// Scalar twin: the same fp16 roundings of A and B, products summed in f64.
pub fn gemm_reference(c: &mut [f32], m: usize, a: &[f32], b: Operand<'_>, accumulate: bool) {
    let (k, n) = if b.trans { (b.cols, b.rows) } else { (b.rows, b.cols) };
    let q = |x: f32| from_f16(to_f16(x)) as f64;
    for r in 0..m {
        for col in 0..n {
            let s: f64 = (0..k)
                .map(|kk| {
                    let w = if b.trans { b.data[col * b.cols + kk] } else { b.data[kk * b.cols + col] };
                    q(a[r * k + kk]) * q(w)
                })
                .sum();
            let o = &mut c[r * n + col];
            *o = if accumulate { (*o as f64 + s) as f32 } else { s as f32 };
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{PackedB, FLUSH};
    use std::arch::x86_64::*;

    /// Rounds whole 16-float blocks of `src` to fp16 (`vcvtps2ph`, nearest even); returns floats done.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn convert_blocks(src: &[f32], dst: &mut [u16]) -> usize {
        let blocks = src.len() / 16;
        for b in 0..blocks {
            // SAFETY: block b covers src[16b..16b+16] and dst[16b..16b+16], both in bounds.
            unsafe {
                let h = _mm512_cvtps_ph::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(_mm512_loadu_ps(
                    src.as_ptr().add(16 * b),
                ));
                _mm256_storeu_si256(dst.as_mut_ptr().add(16 * b) as *mut __m256i, h);
            }
        }
        16 * blocks
    }

    /// C[rows × n] += A·B: 12-row × 64-column tiles in assembly ([`tile12`]), the rows and
    /// columns left over by smaller intrinsic tiles ([`tile`]).
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn block(c: &mut [f32], rows: usize, ap: &[u16], b: &PackedB) {
        let n = b.n;
        let mut r = 0;
        // SAFETY: same target features; every tile stays inside `c` and `ap` (caller's shapes).
        unsafe {
            while r + 12 <= rows {
                let mut col = 0;
                while col + 64 <= n {
                    tile12(c, r, col, ap, b);
                    col += 64;
                }
                if col < n {
                    tile_cols::<12>(c, r, col, ap, b);
                }
                r += 12;
            }
            while r < rows {
                let t = (rows - r).min(4);
                match t {
                    4 => tile_cols::<4>(c, r, 0, ap, b),
                    3 => tile_cols::<3>(c, r, 0, ap, b),
                    2 => tile_cols::<2>(c, r, 0, ap, b),
                    _ => tile_cols::<1>(c, r, 0, ap, b),
                }
                r += t;
            }
        }
    }

    /// Columns col.. of rows r0..r0+R in 32-column intrinsic tiles.
    #[target_feature(enable = "avx512f")]
    unsafe fn tile_cols<const R: usize>(c: &mut [f32], r0: usize, mut col: usize, ap: &[u16], b: &PackedB) {
        while col < b.n {
            // SAFETY: as in `block`; n is a multiple of 32 (checked by the caller).
            unsafe { tile::<R, 1>(c, r0, col, ap, b) };
            col += 32;
        }
    }

    /// C[r0..r0+12, col..col+64] += A·B with the k loop in one assembly block: accumulators
    /// zmm0–23 (row i, half v in zmm(2i + v)), B's two 32-half slices in zmm24/25, each A half an
    /// embedded broadcast (`{1to32}`: one fused load + FMA, no shuffle uop). Written as one block
    /// because the same loop through `asm!` per instruction came out of the register allocator
    /// with accumulators spilled to the stack.
    #[target_feature(enable = "avx512f")]
    unsafe fn tile12(c: &mut [f32], r0: usize, col: usize, ap: &[u16], b: &PackedB) {
        let (n, k) = (b.n, b.k);
        let (s, bs) = (2 * k, 2 * n);
        let mut k0 = 0;
        while k0 < k {
            let steps = FLUSH.min(k - k0);
            let mut acc = [_mm512_setzero_si512(); 24];
            // SAFETY: rows r0..r0+12 of `ap` (k halves each, stride s bytes) and B rows
            // k0..k0+steps at columns col..col+64 ≤ n are in bounds by the caller's tiling; the
            // block only reads memory and writes the named registers; avx512fp16 checked.
            unsafe {
                let p = ap.as_ptr().add(r0 * k + k0);
                let pb = b.data.as_ptr().add(k0 * n + col);
                std::arch::asm!(
                    "2:",
                    "vmovups zmm24, [{pb}]",
                    "vmovups zmm25, [{pb} + 64]",
                    "vfmadd231ph zmm0, zmm24, word ptr [{p}]{{1to32}}",
                    "vfmadd231ph zmm1, zmm25, word ptr [{p}]{{1to32}}",
                    "vfmadd231ph zmm2, zmm24, word ptr [{p} + {s}]{{1to32}}",
                    "vfmadd231ph zmm3, zmm25, word ptr [{p} + {s}]{{1to32}}",
                    "vfmadd231ph zmm4, zmm24, word ptr [{p} + 2*{s}]{{1to32}}",
                    "vfmadd231ph zmm5, zmm25, word ptr [{p} + 2*{s}]{{1to32}}",
                    "vfmadd231ph zmm6, zmm24, word ptr [{p} + {s3}]{{1to32}}",
                    "vfmadd231ph zmm7, zmm25, word ptr [{p} + {s3}]{{1to32}}",
                    "vfmadd231ph zmm8, zmm24, word ptr [{q}]{{1to32}}",
                    "vfmadd231ph zmm9, zmm25, word ptr [{q}]{{1to32}}",
                    "vfmadd231ph zmm10, zmm24, word ptr [{q} + {s}]{{1to32}}",
                    "vfmadd231ph zmm11, zmm25, word ptr [{q} + {s}]{{1to32}}",
                    "vfmadd231ph zmm12, zmm24, word ptr [{q} + 2*{s}]{{1to32}}",
                    "vfmadd231ph zmm13, zmm25, word ptr [{q} + 2*{s}]{{1to32}}",
                    "vfmadd231ph zmm14, zmm24, word ptr [{q} + {s3}]{{1to32}}",
                    "vfmadd231ph zmm15, zmm25, word ptr [{q} + {s3}]{{1to32}}",
                    "vfmadd231ph zmm16, zmm24, word ptr [{t}]{{1to32}}",
                    "vfmadd231ph zmm17, zmm25, word ptr [{t}]{{1to32}}",
                    "vfmadd231ph zmm18, zmm24, word ptr [{t} + {s}]{{1to32}}",
                    "vfmadd231ph zmm19, zmm25, word ptr [{t} + {s}]{{1to32}}",
                    "vfmadd231ph zmm20, zmm24, word ptr [{t} + 2*{s}]{{1to32}}",
                    "vfmadd231ph zmm21, zmm25, word ptr [{t} + 2*{s}]{{1to32}}",
                    "vfmadd231ph zmm22, zmm24, word ptr [{t} + {s3}]{{1to32}}",
                    "vfmadd231ph zmm23, zmm25, word ptr [{t} + {s3}]{{1to32}}",
                    "add {p}, 2",
                    "add {q}, 2",
                    "add {t}, 2",
                    "add {pb}, {bs}",
                    "dec {cnt}",
                    "jnz 2b",
                    p = inout(reg) p => _,
                    q = inout(reg) p.add(4 * k) => _,
                    t = inout(reg) p.add(8 * k) => _,
                    pb = inout(reg) pb => _,
                    cnt = inout(reg) steps => _,
                    s = in(reg) s,
                    s3 = in(reg) 3 * s,
                    bs = in(reg) bs,
                    inout("zmm0") acc[0], inout("zmm1") acc[1], inout("zmm2") acc[2], inout("zmm3") acc[3],
                    inout("zmm4") acc[4], inout("zmm5") acc[5], inout("zmm6") acc[6], inout("zmm7") acc[7],
                    inout("zmm8") acc[8], inout("zmm9") acc[9], inout("zmm10") acc[10], inout("zmm11") acc[11],
                    inout("zmm12") acc[12], inout("zmm13") acc[13], inout("zmm14") acc[14], inout("zmm15") acc[15],
                    inout("zmm16") acc[16], inout("zmm17") acc[17], inout("zmm18") acc[18], inout("zmm19") acc[19],
                    inout("zmm20") acc[20], inout("zmm21") acc[21], inout("zmm22") acc[22], inout("zmm23") acc[23],
                    out("zmm24") _, out("zmm25") _,
                    options(readonly, nostack),
                );
                for (j, &h) in acc.iter().enumerate() {
                    let pc = c.as_mut_ptr().add((r0 + j / 2) * n + col + 32 * (j % 2));
                    add_halves(pc, h);
                }
            }
            k0 += steps;
        }
    }

    /// C[p..p+32] += the 32 fp16 lanes of `h`, converted to f32.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn add_halves(p: *mut f32, h: __m512i) {
        // SAFETY: the caller passes 32 writable floats at p.
        unsafe {
            let lo = _mm512_cvtph_ps(_mm512_castsi512_si256(h));
            let hi = _mm512_cvtph_ps(_mm512_extracti64x4_epi64::<1>(h));
            _mm512_storeu_ps(p, _mm512_add_ps(_mm512_loadu_ps(p), lo));
            _mm512_storeu_ps(p.add(16), _mm512_add_ps(_mm512_loadu_ps(p.add(16)), hi));
        }
    }

    /// C[r0..r0+R, col..col+32·V] += A[r0.., :]·B[:, col..]: R·V fp16 accumulators; each step of
    /// k broadcasts one A half per row against V 32-half slices of B; every [`FLUSH`] steps (and
    /// at the end) each accumulator's two 16-lane halves are converted and added into C.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn tile<const R: usize, const V: usize>(c: &mut [f32], r0: usize, col: usize, ap: &[u16], b: &PackedB) {
        let (n, k) = (b.n, b.k);
        // SAFETY: rows r0..r0+R of `ap` (k halves each) and of `c`, columns col..col+32·V ≤ n of
        // `b.data` and `c`, all in bounds by the caller's tiling; the caller checked avx512fp16
        // for the `vfmadd231ph` in the asm block (register-only).
        unsafe {
            let bp = b.data.as_ptr();
            let a = ap.as_ptr();
            let mut k0 = 0;
            while k0 < k {
                let k1 = (k0 + FLUSH).min(k);
                let mut acc = [[_mm512_setzero_si512(); V]; R];
                for kk in k0..k1 {
                    let mut bv = [_mm512_setzero_si512(); V];
                    for (v, slot) in bv.iter_mut().enumerate() {
                        *slot = _mm512_loadu_si512(bp.add(kk * n + col + 32 * v) as *const _);
                    }
                    for (i, row) in acc.iter_mut().enumerate() {
                        // A's half as an embedded broadcast ({1to32}): one fused load + FMA, no
                        // shuffle uop (a `vpbroadcastw` into zmm needs AVX512BW and port 5).
                        let x = a.add((r0 + i) * k + kk);
                        for v in 0..V {
                            std::arch::asm!(
                                "vfmadd231ph {acc}, {b}, word ptr [{x}]{{1to32}}",
                                acc = inout(zmm_reg) row[v],
                                b = in(zmm_reg) bv[v],
                                x = in(reg) x,
                                options(pure, readonly, nostack),
                            );
                        }
                    }
                }
                for (i, row) in acc.iter().enumerate() {
                    for (v, &h) in row.iter().enumerate() {
                        add_halves(c.as_mut_ptr().add((r0 + i) * n + col + 32 * v), h);
                    }
                }
                k0 = k1;
            }
        }
    }
}

pub mod pairs;
pub use pairs::FLUSH_PAIRS;
pub(crate) use pairs::{pack_pair, pack_row_pairs, pair_gemm};

#[cfg(test)]
mod tests;
