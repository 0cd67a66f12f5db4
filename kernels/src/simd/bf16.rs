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

use crate::aligned::AlignedVec;
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

/// True when the MLP's mixed-precision path can run: [`available`] (bf16, fp16 or AMX products)
/// or, on AVX2 CPUs without AVX512-BF16, the int16 fixed-point products of [`crate::i16`].
pub fn mixed_available() -> bool {
    available() || crate::i16::available()
}

/// Which instructions run the bf16 products: `"amx"` (AMX-BF16 tiles), `"avx512fp16"` (the
/// same pair layout holding fp16 halves, [`Half::F16`]), `"avx512bf16"` (`vdpbf16ps`) or
/// `"scalar"`. AMX needs [`available`] too (its packing uses AVX512-BF16); `RMBENCH_AMX=0` turns
/// it off, `RMBENCH_FP16=0` the fp16 engine. Without AVX512-BF16 the mixed path runs int16
/// products on AVX2 instead: `"avx2i16"` ([`crate::i16`]; [`gemm`] itself stays scalar there).
pub fn engine() -> &'static str {
    if use_amx() {
        "amx"
    } else if half() == Half::F16 {
        "avx512fp16"
    } else if available() {
        "avx512bf16"
    } else if crate::i16::available() {
        "avx2i16"
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

/// How the MLP's dense products run (`--precision`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Precision {
    /// Every product in f32 (faer).
    #[default]
    F32,
    /// The flipped rows' products as 16-bit differences from their base rows
    /// ([`crate::Mlp::set_bf16`]; fp16 or int16 by CPU): ΔE and gradients within 2% of f32.
    Bf16,
    /// Every hidden→hidden product (forward, backward and weight gradient, base and flipped rows)
    /// as three bf16 products, hi·hi + hi·lo + lo·hi ([`split`]): each within 3·2⁻¹⁶ of exact,
    /// f32-class results; it pays on AMX tiles only.
    Bf16x3,
}

impl Precision {
    /// The names `--precision` takes, in [`Precision::name`]'s spelling.
    pub const NAMES: [&'static str; 3] = ["f32", "bf16", "bf16x3"];

    /// `f32`, `bf16` or `bf16x3`.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "f32" => Ok(Precision::F32),
            "bf16" => Ok(Precision::Bf16),
            "bf16x3" => Ok(Precision::Bf16x3),
            _ => Err(format!("`{s}` is not f32, bf16 or bf16x3")),
        }
    }

    /// The flag's spelling.
    pub fn name(self) -> &'static str {
        Precision::NAMES[self as usize]
    }

    /// Whether this CPU (and the chosen ISA) can run it; the reason when not.
    pub fn check(self) -> Result<(), String> {
        match self {
            Precision::Bf16 if !mixed_available() => {
                Err("bf16 precision needs AVX512-BF16 (or AVX2 for its int16 form); this run has neither".into())
            }
            // The split products also run on the scalar twin (the tests use it), 100× slower.
            Precision::Bf16x3 if !available() => {
                Err("bf16x3 precision needs AVX512-BF16 and the avx512 ISA (fast on AMX tiles); this run has neither"
                    .into())
            }
            Precision::Bf16x3 if !split::x3_available() => {
                Err("bf16x3 precision needs bf16 packs, and this CPU runs the fp16 engine (set RMBENCH_FP16=0)".into())
            }
            _ => Ok(()),
        }
    }
}

static PRECISION: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

/// Process-wide default precision of new MLPs. Errors if this CPU (or the chosen ISA) cannot run it.
pub fn set_precision_default(p: Precision) -> Result<(), String> {
    p.check()?;
    PRECISION.store(p as u8, std::sync::atomic::Ordering::Relaxed);
    Ok(())
}

/// The precision new MLPs start with.
pub fn precision_default() -> Precision {
    match PRECISION.load(std::sync::atomic::Ordering::Relaxed) {
        1 => Precision::Bf16,
        2 => Precision::Bf16x3,
        _ => Precision::F32,
    }
}

/// B (k × n) packed in bf16 pairs along k. The storage holds ⌈k/2⌉ rounded up to 16 pair rows,
/// the rows beyond ⌈k/2⌉ zero (whole AMX tiles along k), and starts on a cache line, so with n a
/// multiple of 16 every 64-byte load of a pair row is one line.
#[derive(Clone, Debug, Default)]
pub struct PackedB {
    k: usize,
    n: usize,
    data: AlignedVec<u32>,
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
        let mut data = AlignedVec::zeros(padded_pairs(k) * n);
        transpose_rows(&rows, n, k2, &mut data);
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
        out.resize(padded_pairs(k) * n);
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
        self.data.resize(padded_pairs(k) * n);
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

/// `out[kk·n + c]` = `rows[c·len + kk]` for c < n, kk < len: n rows of `len` pairs turned into
/// the layout of a pack along k. `out` holds at least `len` rounded up to 16 pair rows of n; the
/// padding rows are left as they are, or zeroed on the AVX-512 path (16 × 16 register blocks,
/// n a multiple of 16).
fn transpose_rows(rows: &[u32], n: usize, len: usize, out: &mut [u32]) {
    assert!(rows.len() >= n * len && out.len() >= len.next_multiple_of(16) * n, "transpose_rows: shapes");
    if n == 0 || len == 0 {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if n.is_multiple_of(16) && crate::simd::isa() == crate::Isa::Avx512 {
        // SAFETY: AVX-512F (the ISA check); the last element read is rows[(len − 1) + (n − 1)·len]
        // < n·len ≤ rows.len(); `out` holds len rounded up to 16 rows of n = k2p pairs.
        unsafe { amx::transpose_pairs(rows, 0, len, len, n, out, n) };
        return;
    }
    for c0 in (0..n).step_by(16) {
        for kk0 in (0..len).step_by(16) {
            for c in c0..(c0 + 16).min(n) {
                for kk in kk0..(kk0 + 16).min(len) {
                    out[kk * n + c] = rows[c * len + kk];
                }
            }
        }
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
fn pack_rows(a: &[f32], k: usize, rows: std::ops::Range<usize>, out: &mut AlignedVec<u32>) {
    let k2 = k.div_ceil(2);
    out.resize(rows.len() * k2);
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
        let mut ap = AlignedVec::zeros(rows * k.div_ceil(2));
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
            // SAFETY: avx512f + avx512fp16 checked.
            return Some(crate::simd::register_rate(millis, 12 * 32, |iters| unsafe {
                std::hint::black_box(x86::fmaph_loop(iters));
            }));
        }
    }
    let _ = millis;
    None
}

#[cfg(target_arch = "x86_64")]
pub mod amx;

#[cfg(target_arch = "x86_64")]
mod x86;

pub mod split;
pub use split::{gemm_tn_x3, gemm_x3, gemm_x3_reference, split_row, weight_grad_x3, x3_available, Order};

#[cfg(test)]
mod tests;
