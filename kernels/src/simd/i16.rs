//! Fixed-point products for the mixed-precision path on CPUs without bf16 dot products (AVX2,
//! e.g. AMD Zen 3): C (+)= A·B with A's rows and B's columns quantized to int16 and multiplied
//! with `vpmaddwd` (16 int16 products summed in pairs into 8 int32 lanes per instruction: 1.6× the
//! f32 FMA rate on Zen 3, `rmbench peak`'s `madd_i16_gops`).
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

use crate::dense::Operand;

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
    data: Vec<u32>,
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
        let mut data = vec![0u32; n.div_ceil(SLICE) * k2 * SLICE];
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
    #[cfg(target_arch = "x86_64")]
    if available() && n.is_multiple_of(SLICE) {
        // SAFETY: AVX2 checked; shapes asserted above, n a whole number of slices.
        unsafe { x86::block(c, rows, ap, ascale, b, accumulate) };
        return;
    }
    block_scalar(c, rows, ap, ascale, b, accumulate);
}

/// The portable arithmetic of [`gemm_block`] (the same bits as the AVX2 tile).
fn block_scalar(c: &mut [f32], rows: usize, ap: &[u32], ascale: &[f32], b: &PackedW, accumulate: bool) {
    let (k2, n) = (b.k.div_ceil(2), b.n);
    for r in 0..rows {
        for col in 0..n {
            let o = &mut c[r * n + col];
            if !accumulate {
                *o = 0.0;
            }
            let f = ascale[r] * b.scale[col];
            for kk0 in (0..k2.max(1)).step_by(CHUNK_PAIRS) {
                let s = pair_dot(&ap[r * k2..], b, col, kk0..(kk0 + CHUNK_PAIRS).min(k2));
                *o += s as f32 * f;
            }
        }
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
/// (`None` without AVX2): the arithmetic ceiling of the int16 path.
pub fn madd_peak_gops(seconds: f64) -> Option<f64> {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") {
        let iters = 1usize << 20;
        let t = std::time::Instant::now();
        let mut rounds = 0usize;
        while t.elapsed().as_secs_f64() < seconds {
            // SAFETY: AVX2 checked.
            std::hint::black_box(unsafe { x86::madd_loop(iters) });
            rounds += 1;
        }
        return Some((rounds * iters * x86::MADD_LOOP_MACS) as f64 / t.elapsed().as_secs_f64() / 1e9);
    }
    let _ = seconds;
    None
}

#[cfg(target_arch = "x86_64")]
mod x86;

#[cfg(test)]
mod tests;
