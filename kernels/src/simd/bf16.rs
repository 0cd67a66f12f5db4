//! Mixed-precision products for the MLP's dense layers: C (+)= bf16(A)·bf16(B) with f32
//! accumulation, on AVX512-BF16 (`vdpbf16ps`: 16 lanes × 2 products per instruction, twice the
//! multiply-adds of an f32 FMA of the same width).
//!
//! B (k × n) is packed once into pairs along k: `packed[kk·n + c]` holds bf16(B[2kk, c]) in its
//! low and bf16(B[2kk+1, c]) in its high half (k padded to even with zero). A's rows are rounded to
//! bf16 pairs the same way, a block of rows at a time, and broadcast pair by pair against 64-column
//! slices of B: a 6 × 64 tile lives in 24 zmm accumulators. Rounding is to nearest even, so each
//! product carries a relative error below 2⁻⁸ and the f32 sum adds its usual rounding; callers
//! decide whether that is within their tolerance ([`crate::Mlp::set_bf16`]).
//!
//! On CPUs with AMX-BF16 the same products run on tiles ([`amx`]), about ten times the
//! `vdpbf16ps` rate; on CPUs with AVX512-FP16 and no AMX the packs hold fp16 halves instead and
//! the products run on `vfmadd231ph` ([`Half::F16`], [`crate::fp16::pairs`]); [`engine`] says
//! which path runs.
//!
//! [`gemm_reference`] is the scalar twin (same roundings, f64 sums) for the differential tests.

use crate::dense::Operand;
use rayon::prelude::*;

/// Rounds an f32 to bf16 (round to nearest even; NaN stays NaN), returned as its 16 bits.
#[inline]
pub fn to_bf16(x: f32) -> u16 {
    let b = x.to_bits();
    if x.is_nan() {
        return ((b >> 16) | 0x40) as u16;
    }
    ((b + 0x7FFF + ((b >> 16) & 1)) >> 16) as u16
}

/// The f32 value of bf16 bits.
#[inline]
pub fn from_bf16(h: u16) -> f32 {
    f32::from_bits((h as u32) << 16)
}

/// True when this CPU has AVX512-BF16 and the kernels run with AVX-512 (`simd::isa()`).
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        crate::simd::isa() == crate::Isa::Avx512 && is_x86_feature_detected!("avx512bf16")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Which instructions run the bf16 products: `"amx"` (AMX-BF16 tiles), `"avx512fp16"` (the
/// same pair layout holding fp16 halves, [`Half::F16`]), `"avx512bf16"` (`vdpbf16ps`) or
/// `"scalar"`. AMX needs [`available`] too (its packing uses AVX512-BF16); `RMBENCH_AMX=0` turns
/// it off, `RMBENCH_FP16=0` the fp16 engine.
pub fn engine() -> &'static str {
    if use_amx() {
        "amx"
    } else if half() == Half::F16 {
        "avx512fp16"
    } else if available() {
        "avx512bf16"
    } else {
        "scalar"
    }
}

/// The 16-bit format of packs and products.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Half {
    /// bfloat16 (8-bit significand, f32's range).
    Bf16,
    /// IEEE binary16 (11-bit significand, |x| < 65504), summed in fp16 lanes for up to
    /// [`crate::fp16::FLUSH_PAIRS`] pairs: on CPUs with AVX512-FP16 and no usable AMX, where
    /// `vfmadd231ph` runs at twice the f32 FMA rate and `vdpbf16ps` at half of it (Intel Xeon).
    F16,
}

/// The format this process packs and multiplies in: [`Half::F16`] when AVX512-FP16 and
/// [`available`] hold, AMX is not in use and `RMBENCH_FP16` is not `0`/`off`; else bf16.
pub fn half() -> Half {
    static ALLOWED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let allowed = *ALLOWED.get_or_init(|| !std::env::var("RMBENCH_FP16").is_ok_and(|v| v == "0" || v == "off"));
    if allowed && available() && crate::fp16::available() && !use_amx() {
        Half::F16
    } else {
        Half::Bf16
    }
}

/// f32 → the bits of [`half()`]'s format (nearest even).
pub fn to_half(x: f32) -> u16 {
    match half() {
        Half::Bf16 => to_bf16(x),
        Half::F16 => crate::fp16::to_f16(x),
    }
}

/// The f32 value of bits in [`half()`]'s format.
pub fn from_half(h: u16) -> f32 {
    match half() {
        Half::Bf16 => from_bf16(h),
        Half::F16 => crate::fp16::from_f16(h),
    }
}

fn use_amx() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        available() && amx::usable()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

static MIXED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Process-wide default for new MLPs: run the flipped rows' products as bf16 differences
/// ([`crate::Mlp::set_bf16`]). Errors if this CPU (or the chosen ISA) lacks AVX512-BF16.
pub fn set_mixed_default(on: bool) -> Result<(), String> {
    if on && !available() {
        return Err("bf16 precision needs AVX512-BF16 and the avx512 ISA; this run has neither".into());
    }
    MIXED.store(on, std::sync::atomic::Ordering::Relaxed);
    Ok(())
}

/// Whether new MLPs start with the bf16 difference path on.
pub fn mixed_default() -> bool {
    MIXED.load(std::sync::atomic::Ordering::Relaxed)
}

/// B (k × n) packed in bf16 pairs along k. The storage holds ⌈k/2⌉ rounded up to 16 pair rows,
/// the rows beyond ⌈k/2⌉ zero (whole AMX tiles along k).
#[derive(Clone, Debug, Default)]
pub struct PackedB {
    k: usize,
    n: usize,
    data: Vec<u32>,
}

impl PackedB {
    /// Packs op(B) of a row-major operand (k = rows of op(B), n = its columns).
    pub fn new(b: Operand<'_>) -> Self {
        if !b.trans {
            return PackedB::from_rows(b.data, b.rows, b.cols);
        }
        // op(B) = Mᵀ with M (n × k) stored: the pair (B[2kk, c], B[2kk+1, c]) = (M[c, 2kk],
        // M[c, 2kk+1]) is adjacent in row c of M, so convert M's rows ([`pack_row`]) and transpose
        // the n × ⌈k/2⌉ pair matrix in 16 × 16 blocks.
        let (k, n) = (b.cols, b.rows);
        let k2 = k.div_ceil(2);
        let mut rows = vec![0u32; n * k2];
        if k2 > 0 {
            for (c, dst) in rows.chunks_mut(k2).enumerate() {
                pack_row(&b.data[c * k..(c + 1) * k], dst);
            }
        }
        let mut data = vec![0u32; padded_pairs(k) * n];
        for c0 in (0..n).step_by(16) {
            for kk0 in (0..k2).step_by(16) {
                for c in c0..(c0 + 16).min(n) {
                    for kk in kk0..(kk0 + 16).min(k2) {
                        data[kk * n + c] = rows[c * k2 + kk];
                    }
                }
            }
        }
        PackedB { k, n, data }
    }

    /// Packs a row-major k × n matrix (no transpose), converting row pairs 16 columns at a time
    /// on AVX512-BF16: the same bits as [`PackedB::new`] of `Operand::new(data, k, n)`.
    pub fn from_rows(data: &[f32], k: usize, n: usize) -> Self {
        let mut p = PackedB::default();
        p.repack_rows(data, k, n);
        p
    }

    /// [`PackedB::from_rows`] into this pack's storage (no allocation once it is large enough).
    pub fn repack_rows(&mut self, data: &[f32], k: usize, n: usize) {
        assert!(data.len() >= k * n, "PackedB::from_rows: shapes");
        let k2 = k.div_ceil(2);
        let mut out = std::mem::take(&mut self.data);
        out.resize(padded_pairs(k) * n, 0);
        out[k2 * n..].fill(0);
        if n > 0 {
            out[..k2 * n].par_chunks_mut(n * 16).enumerate().for_each(|(t, blk)| {
                for (j, dst) in blk.chunks_mut(n).enumerate() {
                    let kk = t * 16 + j;
                    let lo = &data[2 * kk * n..(2 * kk + 1) * n];
                    let hi = if 2 * kk + 1 < k { Some(&data[(2 * kk + 1) * n..(2 * kk + 2) * n]) } else { None };
                    pack_pair(lo, hi, dst);
                }
            });
        }
        *self = PackedB { k, n, data: out };
    }

    /// Shapes this pack as k × n with unspecified contents (storage reused), for callers that
    /// fill its pairs themselves ([`PackedB::pairs_mut`], [`pack_pair`]).
    pub fn reset(&mut self, k: usize, n: usize) {
        self.k = k;
        self.n = n;
        self.data.resize(padded_pairs(k) * n, 0);
        self.data[k.div_ceil(2) * n..].fill(0);
    }

    /// The packed pairs, ⌈k/2⌉ rows of n: row kk holds rows 2kk and 2kk+1 of the matrix.
    pub fn pairs_mut(&mut self) -> &mut [u32] {
        let len = self.k.div_ceil(2) * self.n;
        &mut self.data[..len]
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

/// Pair rows of a pack along k of length k: ⌈k/2⌉ rounded up to a whole tile (16).
fn padded_pairs(k: usize) -> usize {
    k.div_ceil(2).next_multiple_of(16)
}

/// One row rounded to bf16 pairs: `dst[kk]` = (src[2kk], src[2kk+1]) (the little-endian bf16
/// array), zero-padded to even length; `dst.len()` = ⌈src.len()/2⌉. AVX512-BF16 converts 16
/// floats per instruction (`vcvtneps2bf16`, nearest even), exactly like [`to_bf16`].
pub fn pack_row(src: &[f32], dst: &mut [u32]) {
    let k = src.len();
    let k2 = k.div_ceil(2);
    assert_eq!(dst.len(), k2, "bf16::pack_row: shapes");
    if half() == Half::F16 {
        return crate::fp16::pack_row_pairs(src, dst);
    }
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if available() {
        // SAFETY: AVX512-BF16 checked; 16-float blocks of `src` map to 8 pairs of `dst`.
        done = unsafe { x86::convert_blocks(src, dst) };
    }
    for kk in done / 2..k2 {
        let lo = to_half(src[2 * kk]) as u32;
        let hi = if 2 * kk + 1 < k { to_half(src[2 * kk + 1]) as u32 } else { 0 };
        dst[kk] = lo | hi << 16;
    }
}

/// Two rows (`hi` = None for a zero row) as one row of pairs: `dst[c]` = (lo[c], hi[c]), the
/// layout of one [`PackedB`] pair row.
pub fn pack_pair(lo: &[f32], hi: Option<&[f32]>, dst: &mut [u32]) {
    let n = lo.len();
    assert!(dst.len() == n && hi.is_none_or(|h| h.len() == n), "bf16::pack_pair: shapes");
    if half() == Half::F16 {
        return crate::fp16::pack_pair(lo, hi, dst);
    }
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if available() {
        // SAFETY: AVX512-BF16 checked; whole 16-column blocks of the rows and `dst`.
        done = unsafe { x86::interleave_blocks(lo, hi, dst) };
    }
    for c in done..n {
        let h = hi.map_or(0, |h| to_half(h[c]) as u32);
        dst[c] = to_half(lo[c]) as u32 | h << 16;
    }
}

/// Rows `rows` of A (m × k row-major) packed with [`pack_row`] into `out`.
fn pack_rows(a: &[f32], k: usize, rows: std::ops::Range<usize>, out: &mut Vec<u32>) {
    let k2 = k.div_ceil(2);
    out.clear();
    out.resize(rows.len() * k2, 0);
    if k2 == 0 {
        return;
    }
    for (r, dst) in rows.zip(out.chunks_mut(k2)) {
        pack_row(&a[r * k..(r + 1) * k], dst);
    }
}

/// Rows per parallel task (a multiple of the 6-row tile).
const TASK_ROWS: usize = 96;

/// C (m × n, row-major) ← A·B, or C += A·B when `accumulate`; A is m × k row-major f32 (rounded
/// to bf16 here), B packed. Uses AVX512-BF16 when [`available`] and n is a multiple of 16, else
/// the scalar twin's arithmetic in f32 (same roundings of the inputs).
pub fn gemm(c: &mut [f32], m: usize, a: &[f32], b: &PackedB, accumulate: bool) {
    let (k, n) = (b.k, b.n);
    assert!(a.len() >= m * k && c.len() >= m * n, "bf16::gemm: shapes");
    if m == 0 || n == 0 {
        return;
    }
    c[..m * n].par_chunks_mut(TASK_ROWS * n).enumerate().for_each(|(t, cblk)| {
        let r0 = t * TASK_ROWS;
        let rows = cblk.len() / n;
        let mut ap = Vec::with_capacity(rows * k.div_ceil(2));
        pack_rows(a, k, r0..r0 + rows, &mut ap);
        gemm_block(cblk, rows, &ap, b, accumulate);
    });
}

/// Single-threaded C (rows × n) (+)= A·B with A already packed row by row ([`pack_row`],
/// ⌈k/2⌉ pairs per row): the building block for callers that prepare A's rows themselves.
pub fn gemm_block(c: &mut [f32], rows: usize, ap: &[u32], b: &PackedB, accumulate: bool) {
    let (k2, n) = (b.k.div_ceil(2), b.n);
    assert!(ap.len() >= rows * k2 && c.len() >= rows * n, "bf16::gemm_block: shapes");
    if rows == 0 || n == 0 {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if available() && n.is_multiple_of(16) {
        if amx::usable() {
            amx::gemm(c, rows, ap, k2, 1, b, accumulate);
        } else if half() == Half::F16 {
            crate::fp16::pair_gemm(c, rows, ap, k2, 1, k2, &b.data, n, accumulate);
        } else {
            // SAFETY: `available()` checked avx512f + avx512bf16; shapes asserted above.
            unsafe { x86::block(c, rows, ap, b, accumulate) };
        }
        return;
    }
    for r in 0..rows {
        for col in 0..n {
            let mut s = 0f32;
            for kk in 0..k2 {
                let (x, w) = (ap[r * k2 + kk], b.data[kk * n + col]);
                s += from_half(x as u16) * from_half(w as u16)
                    + from_half((x >> 16) as u16) * from_half((w >> 16) as u16);
            }
            let o = &mut c[r * n + col];
            *o = if accumulate { *o + s } else { s };
        }
    }
}

/// C (m × n) ← Aᵀ·B, or C += Aᵀ·B when `accumulate`, with A (k × m) and B (k × n) both packed
/// along k ([`PackedB::from_rows`]): the weight-gradient product Σ_r a[r]ᵀ b[r] over k rows.
/// Parallel over 24-row blocks of C (32 on AMX).
pub fn gemm_tn(c: &mut [f32], a: &PackedB, b: &PackedB, accumulate: bool) {
    let (k, m, n) = (a.k, a.n, b.n);
    assert!(b.k == k && c.len() >= m * n, "bf16::gemm_tn: shapes");
    if m == 0 || n == 0 {
        return;
    }
    let tn_rows = if use_amx() { 32 } else { 24 };
    let k2 = k.div_ceil(2);
    c[..m * n].par_chunks_mut(tn_rows * n).enumerate().for_each(|(t, cblk)| {
        let (r0, rows) = (t * tn_rows, cblk.len() / n);
        #[cfg(target_arch = "x86_64")]
        if use_amx() && n.is_multiple_of(16) {
            amx::gemm(cblk, rows, &a.data[r0..], 1, m, b, accumulate);
            return;
        }
        #[cfg(target_arch = "x86_64")]
        if half() == Half::F16 && n.is_multiple_of(16) {
            crate::fp16::pair_gemm(cblk, rows, &a.data[r0..], 1, m, k2, &b.data, n, accumulate);
            return;
        }
        #[cfg(target_arch = "x86_64")]
        if available() && n.is_multiple_of(16) {
            // SAFETY: avx512f + avx512bf16 checked; A columns r0..r0+rows < m, shapes asserted.
            unsafe { x86::block_strided(cblk, rows, &a.data[r0..], 1, m, b, accumulate) };
            return;
        }
        for r in 0..rows {
            for col in 0..n {
                let mut s = 0f32;
                for kk in 0..k2 {
                    let (x, w) = (a.data[kk * m + r0 + r], b.data[kk * n + col]);
                    s += from_half(x as u16) * from_half(w as u16)
                        + from_half((x >> 16) as u16) * from_half((w >> 16) as u16);
                }
                let o = &mut cblk[r * n + col];
                *o = if accumulate { *o + s } else { s };
            }
        }
    });
}

/// Scalar twin: the same bf16 roundings of A and B, products summed in f64.
pub fn gemm_reference(c: &mut [f32], m: usize, a: &[f32], b: Operand<'_>, accumulate: bool) {
    let (k, n) = if b.trans { (b.cols, b.rows) } else { (b.rows, b.cols) };
    let q = |x: f32| from_half(to_half(x)) as f64;
    for r in 0..m {
        for col in 0..n {
            let s: f64 = (0..k)
                .map(|i| {
                    let w = if b.trans { b.data[col * b.cols + i] } else { b.data[i * b.cols + col] };
                    q(a[r * k + i]) * q(w)
                })
                .sum();
            let o = &mut c[r * n + col];
            *o = if accumulate { (*o as f64 + s) as f32 } else { s as f32 };
        }
    }
}

/// Register-only AMX `tdpbf16ps` throughput of the calling thread in G multiply-adds per second
/// (`None` without usable AMX-BF16): the arithmetic ceiling of the AMX path.
pub fn amx_peak_gmacs(millis: u64) -> Option<f64> {
    #[cfg(target_arch = "x86_64")]
    {
        if use_amx() {
            return amx::register_peak_gmacs(millis);
        }
    }
    let _ = millis;
    None
}

/// Register-only multiply-add throughput of the calling thread, in G multiply-adds per second:
/// (f32 with 512-bit FMAs, or 256-bit ones on AVX2-only CPUs; bf16 with `vdpbf16ps`), each over 12 independent accumulators for about
/// `millis` ms. `None` where the instructions are missing. The arithmetic ceiling the dense
/// kernels are measured against.
pub fn register_peak_gmacs(millis: u64) -> (Option<f64>, Option<f64>) {
    #[cfg(target_arch = "x86_64")]
    {
        let time = |f: &dyn Fn(usize) -> f32, macs_per_iter: f64| {
            let mut iters = 1 << 16;
            loop {
                let t = std::time::Instant::now();
                std::hint::black_box(f(iters));
                let e = t.elapsed().as_secs_f64();
                if e * 1e3 >= millis as f64 || iters > 1 << 34 {
                    return iters as f64 * macs_per_iter / e / 1e9;
                }
                iters *= 2;
            }
        };
        let f32_peak = if is_x86_feature_detected!("avx512f") {
            // SAFETY: avx512f checked.
            Some(time(&|n| unsafe { x86::fma_loop(n) }, 12.0 * 16.0))
        } else if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            // SAFETY: avx2 + fma checked.
            Some(time(&|n| unsafe { x86::fma_loop_avx2(n) }, 12.0 * 8.0))
        } else {
            None
        };
        let bf16_peak = (is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bf16"))
            // SAFETY: avx512f + avx512bf16 checked.
            .then(|| time(&|n| unsafe { x86::dpbf16_loop(n) }, 12.0 * 32.0));
        (f32_peak, bf16_peak)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = millis;
        (None, None)
    }
}

/// Register-only AVX512-FP16 `vfmadd231ph` throughput of the calling thread (32 half-precision
/// multiply-adds per instruction, accumulating in fp16), in G multiply-adds per second, over 12
/// independent accumulators for about `millis` ms; `None` without AVX512-FP16. Not used by any
/// kernel: it tells whether an fp16 path could double the f32 rate on CPUs without AMX, where
/// `vdpbf16ps` runs at half the f32 FMA rate (Intel Xeon).
pub fn fp16_peak_gmacs(millis: u64) -> Option<f64> {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512fp16") {
            let mut iters = 1usize << 16;
            loop {
                let t = std::time::Instant::now();
                // SAFETY: avx512f + avx512fp16 checked.
                std::hint::black_box(unsafe { x86::fmaph_loop(iters) });
                let e = t.elapsed().as_secs_f64();
                if e * 1e3 >= millis as f64 || iters > 1 << 34 {
                    return Some(iters as f64 * 12.0 * 32.0 / e / 1e9);
                }
                iters *= 2;
            }
        }
    }
    let _ = millis;
    None
}

#[cfg(target_arch = "x86_64")]
pub mod amx;

#[cfg(target_arch = "x86_64")]
mod x86 {
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
}

#[cfg(test)]
mod tests;
