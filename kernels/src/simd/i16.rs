//! Fixed-point products for the mixed-precision path on CPUs without bf16 dot products (AVX2,
//! e.g. AMD Zen 3): C (+)= A·B with A's rows and B's columns quantized to int16 and multiplied
//! with `vpmaddwd` (16 int16 products summed in pairs into 8 int32 lanes per instruction: 1.6× the
//! f32 FMA rate on Zen 3, `rmbench peak`'s `madd_i16_gops`, two operations per multiply-add).
//!
//! Row r of A is q_r = round(a_r / σ_r), σ_r = max|a_r| / [`QMAX`]; column c of B likewise with
//! τ_c. Then (A·B)[r, c] ≈ σ_r·τ_c·Σ_k q_r[k]·q_c[k], the integer sum exact: each operand carries
//! an absolute error ≤ ½σ, 2⁻¹²·(its row's or column's largest entry). 256 products of
//! |q| ≤ 2880 stay within int32 (256·2880² < 2³¹), so k is summed in chunks of [`CHUNK_PAIRS`]
//! pairs, each converted to f32, scaled and added into C (a multiply then an add, no FMA, so the
//! AVX2 tile and [`gemm_reference`] give the same bits). A row or column with a NaN or infinite
//! entry gets σ = NaN, so the product is NaN rather than a silent wrong number.
//!
//! Packs hold int16 pairs along k (`u32` = q[2kk] | q[2kk+1] << 16, as the bf16 packs); B is
//! stored in 16-column slices, each k/2 × 16 contiguous, so a slice stays in L1 while a block of
//! A's rows streams past it (row-major B, 1 KiB between pair rows, maps a slice onto 4 cache sets).

use crate::aligned::AlignedVec;
use crate::dense::Operand;
use rayon::prelude::*;

/// Largest |q|: 256 products (one chunk) sum within int32.
pub const QMAX: f32 = 2880.0;

/// Pairs along k summed in int32 before they are added into C in f32.
pub const CHUNK_PAIRS: usize = 128;

/// Columns of a B slice (two 8-lane vectors).
const SLICE: usize = 16;

/// True when the int16 tile can run: AVX2 (the kernels' ISA is AVX2 or AVX-512) and no bf16 dot
/// products (where AVX512-BF16 exists, [`crate::bf16`] is the mixed path).
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        crate::simd::isa() >= crate::Isa::Avx2 && is_x86_feature_detected!("avx2") && !crate::bf16::available()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// σ = max|x| / QMAX for a row or column (0 for an all-zero one, NaN when an entry is not finite).
fn scale_of(max_abs: f32) -> f32 {
    if !max_abs.is_finite() {
        f32::NAN
    } else {
        max_abs / QMAX
    }
}

/// max |x| over `src`, +∞ when some entry is NaN or infinite.
fn max_abs(src: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if available() {
        // SAFETY: AVX2 checked.
        return unsafe { x86::max_abs(src) };
    }
    let mut m = 0f32;
    for &x in src {
        if !x.is_finite() {
            return f32::INFINITY;
        }
        m = m.max(x.abs());
    }
    m
}

/// round(x·inv) to nearest even (what `vcvtps2dq` does), as 16 bits; 0 when inv is 0 or NaN.
#[inline]
fn quantize(x: f32, inv: f32) -> u32 {
    let q = (x * inv).round_ties_even();
    let q = if q.is_nan() { 0 } else { q.clamp(-QMAX, QMAX) as i32 };
    (q as i16 as u16) as u32
}

fn inverse(sigma: f32) -> f32 {
    if sigma > 0.0 {
        1.0 / sigma
    } else {
        0.0
    }
}

/// One row of A quantized into int16 pairs: `dst[kk]` = (q[2kk], q[2kk+1]), zero-padded to even
/// length (`dst.len()` = ⌈src.len()/2⌉). Returns the row's σ.
pub fn pack_row(src: &[f32], dst: &mut [u32]) -> f32 {
    let k = src.len();
    assert_eq!(dst.len(), k.div_ceil(2), "i16::pack_row: shapes");
    let sigma = scale_of(max_abs(src));
    let inv = inverse(sigma);
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if available() {
        // SAFETY: AVX2 checked; 16-float blocks of `src` map to 8 pairs of `dst`.
        done = unsafe { x86::quantize_blocks(src, dst, inv) };
    }
    for kk in done / 2..k.div_ceil(2) {
        let hi = if 2 * kk + 1 < k { quantize(src[2 * kk + 1], inv) } else { 0 };
        dst[kk] = quantize(src[2 * kk], inv) | hi << 16;
    }
    sigma
}

/// B (k × n) quantized per column into int16 pairs along k, in 16-column slices (n padded to a
/// multiple of 16 with zero columns).
#[derive(Clone, Debug, Default)]
pub struct PackedW {
    k: usize,
    n: usize,
    /// τ_c per column (n of them).
    scale: Vec<f32>,
    /// Slice s holds pairs kk = 0..⌈k/2⌉ of columns 16s..16s + 16 at `s·⌈k/2⌉·16 + kk·16`.
    data: AlignedVec<u32>,
}

impl PackedW {
    /// Quantizes op(B) (k = its rows, n = its columns). Column c of op(B) = Mᵀ is row c of the
    /// stored M, so each column is one [`pack_row`] (its σ is τ_c); a plain B is transposed first.
    pub fn new(b: Operand<'_>) -> Self {
        let (k, n) = if b.trans { (b.cols, b.rows) } else { (b.rows, b.cols) };
        let transposed;
        let m: &[f32] = if b.trans {
            &b.data[..n * k]
        } else {
            transposed = transpose(&b.data[..k * n], k, n);
            &transposed
        };
        let k2 = k.div_ceil(2);
        let mut data = AlignedVec::zeros(n.div_ceil(SLICE) * k2 * SLICE);
        let mut scale = vec![0f32; n];
        let mut row = vec![0u32; k2];
        for c in 0..n {
            scale[c] = pack_row(&m[c * k..(c + 1) * k], &mut row);
            let (s, j) = (c / SLICE, c % SLICE);
            for (kk, &v) in row.iter().enumerate() {
                data[(s * k2 + kk) * SLICE + j] = v;
            }
        }
        PackedW { k, n, scale, data }
    }

    /// Packs a row-major k × n matrix quantized per column (the other side of [`gemm_tn`]):
    /// the same pairs and τ as [`PackedW::new`] of `Operand::new(src, k, n)`, built along rows.
    pub fn from_rows(src: &[f32], k: usize, n: usize) -> Self {
        let mut p = PackedW::default();
        p.repack_rows(src, k, n);
        p
    }

    /// [`PackedW::from_rows`] into this pack's storage (no allocation once it is large enough).
    pub fn repack_rows(&mut self, src: &[f32], k: usize, n: usize) {
        col_scales_into(src, k, n, &mut self.scale);
        let inv: Vec<f32> = self.scale.iter().map(|&s| inverse(s)).collect();
        let k2 = k.div_ceil(2);
        self.data.resize(n.div_ceil(SLICE) * k2 * SLICE);
        (self.k, self.n) = (k, n);
        if k2 > 0 {
            self.data.par_chunks_mut(k2 * SLICE).enumerate().for_each(|(s, slice)| {
                let (c0, w) = (s * SLICE, SLICE.min(n - s * SLICE));
                for (kk, dst) in slice.chunks_mut(SLICE).enumerate() {
                    let lo = &src[2 * kk * n + c0..2 * kk * n + c0 + w];
                    let hi = (2 * kk + 1 < k).then(|| &src[(2 * kk + 1) * n + c0..(2 * kk + 1) * n + c0 + w]);
                    quantize_pair_rows(lo, hi, &inv[c0..c0 + w], &mut dst[..w]);
                    dst[w..].fill(0);
                }
            });
        }
    }

    /// Inner dimension k.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Columns n.
    pub fn n(&self) -> usize {
        self.n
    }

    /// The pair (q[2kk, c], q[2kk+1, c]).
    fn pair(&self, kk: usize, c: usize) -> u32 {
        self.data[((c / SLICE) * self.k.div_ceil(2) + kk) * SLICE + c % SLICE]
    }
}

/// M (rows × cols, row-major) transposed, in 32 × 32 blocks.
fn transpose(m: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0f32; rows * cols];
    for r0 in (0..rows).step_by(32) {
        for c0 in (0..cols).step_by(32) {
            for r in r0..(r0 + 32).min(rows) {
                for c in c0..(c0 + 32).min(cols) {
                    t[c * rows + r] = m[r * cols + c];
                }
            }
        }
    }
    t
}

/// Σ over pairs kk0..kk1 of the int16 products of a row pair and a column pair, exact in i32.
fn pair_dot(a: &[u32], b: &PackedW, c: usize, kks: std::ops::Range<usize>) -> i32 {
    let lo = |v: u32| v as u16 as i16 as i32;
    let hi = |v: u32| (v >> 16) as u16 as i16 as i32;
    kks.map(|kk| {
        let (x, w) = (a[kk], b.pair(kk, c));
        lo(x) * lo(w) + hi(x) * hi(w)
    })
    .sum()
}

/// Single-threaded C (rows × n) (+)= A·B with A's rows packed by [`pack_row`] (⌈k/2⌉ pairs
/// each) and their σ in `ascale`: per chunk of [`CHUNK_PAIRS`] pairs, C += f32(Σq·q)·(σ_r·τ_c).
pub fn gemm_block(c: &mut [f32], rows: usize, ap: &[u32], ascale: &[f32], b: &PackedW, accumulate: bool) {
    let (k2, n) = (b.k.div_ceil(2), b.n);
    assert!(ap.len() >= rows * k2 && ascale.len() >= rows && c.len() >= rows * n, "i16::gemm_block: shapes");
    if rows == 0 || n == 0 {
        return;
    }
    block(c, rows, Sides { a: ap, si: k2, sk: 1, ascale, b, kks: 0..k2 }, accumulate);
}

/// C (m × n) ← Aᵀ·B, or C += Aᵀ·B when `accumulate`, A (k × m) and B (k × n) quantized per
/// column and packed along k ([`PackedCols::from_rows`], [`PackedW::from_rows`]): the weight-
/// gradient product Σ_r a[r]ᵀ b[r] over k rows. Parallel over 32-row blocks of C; per block, the
/// pairs in [`CHUNK_PAIRS`] chunks, each summed in int32 and added into C.
pub fn gemm_tn(c: &mut [f32], a: &PackedCols, b: &PackedW, accumulate: bool) {
    const TN_ROWS: usize = 32;
    let (k, m, n) = (a.k, a.m, b.n);
    assert!(b.k == k && c.len() >= m * n, "i16::gemm_tn: shapes");
    if m == 0 || n == 0 {
        return;
    }
    let k2 = k.div_ceil(2);
    c[..m * n].par_chunks_mut(TN_ROWS * n).enumerate().for_each(|(t, cblk)| {
        let (r0, rows) = (t * TN_ROWS, cblk.len() / n);
        for (ci, kk0) in (0..k2.max(1)).step_by(CHUNK_PAIRS).enumerate() {
            let kks = kk0..(kk0 + CHUNK_PAIRS).min(k2);
            let sides = Sides { a: &a.data[r0 * k2..], si: k2, sk: 1, ascale: &a.scale[r0..], b, kks };
            block(cblk, rows, sides, accumulate || ci > 0);
        }
    });
}

/// One product's A side and B pairs: A's pair (i, kk) at `a[i·si + kk·sk]` with row scales
/// `ascale`, the pairs `kks` of `b`.
pub(crate) struct Sides<'a> {
    pub(crate) a: &'a [u32],
    pub(crate) si: usize,
    pub(crate) sk: usize,
    pub(crate) ascale: &'a [f32],
    pub(crate) b: &'a PackedW,
    pub(crate) kks: std::ops::Range<usize>,
}

/// The AVX2 tile where it runs (n a whole number of slices), else the portable arithmetic.
fn block(c: &mut [f32], rows: usize, p: Sides<'_>, accumulate: bool) {
    #[cfg(target_arch = "x86_64")]
    if available() && p.b.n.is_multiple_of(SLICE) {
        // SAFETY: AVX2 checked; the callers' shapes put every pair read inside `a` and `b`.
        unsafe { x86::block(c, rows, &p, accumulate) };
        return;
    }
    block_scalar(c, rows, &p, accumulate);
}

/// The portable arithmetic of [`block`] (the same bits as the AVX2 tile).
fn block_scalar(c: &mut [f32], rows: usize, p: &Sides<'_>, accumulate: bool) {
    let Sides { a, si, sk, ascale, b, ref kks } = *p;
    let n = b.n;
    let lo = |v: u32| v as u16 as i16 as i32;
    let hi = |v: u32| (v >> 16) as u16 as i16 as i32;
    for r in 0..rows {
        for col in 0..n {
            let o = &mut c[r * n + col];
            if !accumulate {
                *o = 0.0;
            }
            let f = ascale[r] * b.scale[col];
            let mut kk0 = kks.start;
            loop {
                let kk1 = (kk0 + CHUNK_PAIRS).min(kks.end);
                let s: i32 = (kk0..kk1)
                    .map(|kk| {
                        let (x, w) = (a[r * si + kk * sk], b.pair(kk, col));
                        lo(x) * lo(w) + hi(x) * hi(w)
                    })
                    .sum();
                *o += s as f32 * f;
                kk0 = kk1;
                if kk0 >= kks.end {
                    break;
                }
            }
        }
    }
}

/// A (k × m) quantized per column (σ_i = max_r |A[r, i]| / QMAX) into pairs along k, column by
/// column: `data[i·⌈k/2⌉ + kk]` = (q[2kk, i], q[2kk+1, i]) — the broadcast side of [`gemm_tn`],
/// read like [`pack_row`]'s rows (a column-major read, 1 KiB between pairs, kept 4 cache sets
/// busy and ran 1.25× faer instead of 1.6×).
#[derive(Clone, Debug, Default)]
pub struct PackedCols {
    k: usize,
    m: usize,
    scale: Vec<f32>,
    data: AlignedVec<u32>,
}

impl PackedCols {
    /// Packs a row-major k × m matrix (parallel over 8-column bands).
    pub fn from_rows(src: &[f32], k: usize, m: usize) -> Self {
        let mut p = PackedCols::default();
        p.repack_rows(src, k, m);
        p
    }

    /// [`PackedCols::from_rows`] into this pack's storage (no allocation once it is large
    /// enough; every pair is overwritten).
    pub fn repack_rows(&mut self, src: &[f32], k: usize, m: usize) {
        col_scales_into(src, k, m, &mut self.scale);
        let inv: Vec<f32> = self.scale.iter().map(|&s| inverse(s)).collect();
        let k2 = k.div_ceil(2);
        self.data.resize(m * k2);
        (self.k, self.m) = (k, m);
        if k2 > 0 {
            self.data.par_chunks_mut(8 * k2).enumerate().for_each(|(b, band)| {
                let (c0, w) = (8 * b, 8.min(m - 8 * b));
                let mut done = 0;
                #[cfg(target_arch = "x86_64")]
                if available() && w == 8 {
                    // SAFETY: AVX2 checked; columns c0..c0 + 8 ≤ m, band holds 8 × k2 pairs.
                    done = unsafe { x86::quantize_band(src, k, m, c0, &inv[c0..], band) };
                }
                for j in 0..w {
                    let c = c0 + j;
                    for kk in done..k2 {
                        let hi = if 2 * kk + 1 < k { quantize(src[(2 * kk + 1) * m + c], inv[c]) } else { 0 };
                        band[j * k2 + kk] = quantize(src[2 * kk * m + c], inv[c]) | hi << 16;
                    }
                }
            });
        }
    }
}

/// Per-column σ of a row-major k × m matrix (max |x| over parallel blocks of rows) into `out`.
fn col_scales_into(src: &[f32], k: usize, m: usize, out: &mut Vec<f32>) {
    assert!(src.len() >= k * m, "i16: shapes");
    const BLOCK_ROWS: usize = 256;
    let max = src[..k * m]
        .par_chunks((BLOCK_ROWS * m).max(1))
        .map(|blk| {
            let mut out = vec![0f32; m];
            col_max_abs(blk, blk.len() / m.max(1), m, &mut out);
            out
        })
        .reduce(|| vec![0f32; m], |a, b| a.iter().zip(&b).map(|(x, y)| x.max(*y)).collect());
    out.clear();
    out.extend(max.iter().map(|&v| scale_of(v)));
}

/// max |x| per column into `out` (+∞ for a column with a non-finite entry).
fn col_max_abs(src: &[f32], rows: usize, cols: usize, out: &mut [f32]) {
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if available() {
        // SAFETY: AVX2 checked; rows × cols floats in src, cols in out.
        done = unsafe { x86::col_max_abs(src, rows, cols, out) };
    }
    for c in done..cols {
        for r in 0..rows {
            let x = src[r * cols + c];
            out[c] = if x.is_finite() { out[c].max(x.abs()) } else { f32::INFINITY };
        }
    }
}

/// `dst[c]` = q(lo[c]) | q(hi[c]) << 16 with q(x) = round(x·inv_c) (hi = None: zero).
fn quantize_pair_rows(lo: &[f32], hi: Option<&[f32]>, inv: &[f32], dst: &mut [u32]) {
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if available() {
        // SAFETY: AVX2 checked; lo, hi, inv and dst have the same length.
        done = unsafe { x86::quantize_pair_rows(lo, hi, inv, dst) };
    }
    for c in done..dst.len() {
        let h = hi.map_or(0, |h| quantize(h[c], inv[c]));
        dst[c] = quantize(lo[c], inv[c]) | h << 16;
    }
}

/// Scalar twin for the differential tests: A (m × k row-major f32) quantized here, the products
/// summed exactly in i64 over all of k, scaled in f64.
pub fn gemm_reference(c: &mut [f32], m: usize, a: &[f32], b: Operand<'_>, accumulate: bool) {
    let pb = PackedW::new(b);
    let (k, n) = (pb.k, pb.n);
    let k2 = k.div_ceil(2);
    let mut ap = vec![0u32; k2];
    for r in 0..m {
        let sa = pack_row(&a[r * k..(r + 1) * k], &mut ap);
        for col in 0..n {
            let s = pair_dot(&ap, &pb, col, 0..k2) as f64;
            let v = s * sa as f64 * pb.scale[col] as f64;
            let o = &mut c[r * n + col];
            *o = if accumulate { (*o as f64 + v) as f32 } else { v as f32 };
        }
    }
}

/// Register-only `vpmaddwd` throughput of the calling thread in G int16 multiply-adds per second
/// over a run of at least `millis` ms (`None` without AVX2): the arithmetic ceiling of this path.
pub fn madd_peak_gmacs(millis: u64) -> Option<f64> {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 checked.
        return Some(crate::simd::register_rate(millis, x86::MADD_LOOP_MACS, |iters| unsafe {
            std::hint::black_box(x86::madd_loop(iters));
        }));
    }
    let _ = millis;
    None
}

#[cfg(target_arch = "x86_64")]
mod x86;

#[cfg(test)]
mod tests;
