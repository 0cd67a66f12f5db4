//! x86-64 bodies: AVX-512 (F/BW/VL/DQ/VPOPCNTDQ) and AVX2 (+FMA, POPCNT, BMI1).
//!
//! Callers in [`super`] only reach these after [`super::detected`] confirmed the features.

use std::arch::x86_64::*;

/// Columns per register block: 8 zmm accumulators = 128 f32 stay in registers across set bits.
const BLOCK512: usize = 128;
/// AVX2: 8 ymm accumulators = 64 f32.
const BLOCK256: usize = 64;

pub(super) fn popcount_avx512(row: &[u64]) -> u32 {
    // SAFETY: dispatch checked avx512f + avx512vpopcntdq.
    unsafe { popcount512(row) }
}

pub(super) fn hamming_avx512(a: &[u64], b: &[u64]) -> u32 {
    // SAFETY: dispatch checked avx512f + avx512vpopcntdq; lengths are equal (asserted by caller).
    unsafe { hamming512(a, b) }
}

pub(super) fn popcount_avx2(row: &[u64]) -> u32 {
    // SAFETY: dispatch checked popcnt.
    unsafe { popcount_popcnt(row) }
}

pub(super) fn hamming_avx2(a: &[u64], b: &[u64]) -> u32 {
    // SAFETY: dispatch checked popcnt.
    unsafe { hamming_popcnt(a, b) }
}

#[target_feature(enable = "avx512f,avx512vpopcntdq")]
unsafe fn popcount512(row: &[u64]) -> u32 {
    let mut acc = _mm512_setzero_si512();
    let chunks = row.chunks_exact(8);
    let tail = chunks.remainder();
    for c in chunks {
        // SAFETY: c has exactly 8 u64 = 64 bytes; unaligned load.
        let v = unsafe { _mm512_loadu_si512(c.as_ptr().cast()) };
        acc = _mm512_add_epi64(acc, _mm512_popcnt_epi64(v));
    }
    let mut total = _mm512_reduce_add_epi64(acc) as u32;
    for w in tail {
        total += w.count_ones();
    }
    total
}

#[target_feature(enable = "avx512f,avx512vpopcntdq")]
unsafe fn hamming512(a: &[u64], b: &[u64]) -> u32 {
    let mut acc = _mm512_setzero_si512();
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let (ta, tb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        // SAFETY: x and y have exactly 8 u64 each; unaligned loads.
        let v =
            unsafe { _mm512_xor_si512(_mm512_loadu_si512(x.as_ptr().cast()), _mm512_loadu_si512(y.as_ptr().cast())) };
        acc = _mm512_add_epi64(acc, _mm512_popcnt_epi64(v));
    }
    let mut total = _mm512_reduce_add_epi64(acc) as u32;
    for (x, y) in ta.iter().zip(tb) {
        total += (x ^ y).count_ones();
    }
    total
}

#[target_feature(enable = "popcnt")]
unsafe fn popcount_popcnt(row: &[u64]) -> u32 {
    row.iter().map(|w| w.count_ones()).sum()
}

#[target_feature(enable = "popcnt")]
unsafe fn hamming_popcnt(a: &[u64], b: &[u64]) -> u32 {
    a.iter().zip(b).map(|(x, y)| (x ^ y).count_ones()).sum()
}

pub(super) fn gather_add_avx512(row: &[u64], table: &[f32], stride: usize, width: usize, out: &mut [f32]) {
    // SAFETY: dispatch checked avx512f; the caller asserted every set bit j has
    // j·stride + width ≤ table.len() and out.len() == width.
    unsafe { gather_add512(row, table, stride, width, out) }
}

pub(super) fn gather_add_avx2(row: &[u64], table: &[f32], stride: usize, width: usize, out: &mut [f32]) {
    // SAFETY: dispatch checked avx2; same bounds contract as gather_add_avx512.
    unsafe { gather_add256(row, table, stride, width, out) }
}

/// out[c] += Σ_{set j} table[j·stride + c], column blocks of 128 kept in 8 zmm registers,
/// then single zmm blocks, then one masked block for the last width % 16 columns.
#[target_feature(enable = "avx512f")]
unsafe fn gather_add512(row: &[u64], table: &[f32], stride: usize, width: usize, out: &mut [f32]) {
    let tp = table.as_ptr();
    let op = out.as_mut_ptr();
    let mut c0 = 0;
    while c0 + BLOCK512 <= width {
        // SAFETY: c0 + 128 ≤ width = out.len().
        let mut acc: [__m512; 8] = unsafe { std::array::from_fn(|k| _mm512_loadu_ps(op.add(c0 + 16 * k))) };
        crate::bits::for_each_one(row, |j| {
            // SAFETY: j·stride + c0 + 128 ≤ j·stride + width ≤ table.len() (caller contract).
            let base = unsafe { tp.add(j * stride + c0) };
            for (k, a) in acc.iter_mut().enumerate() {
                *a = _mm512_add_ps(*a, unsafe { _mm512_loadu_ps(base.add(16 * k)) });
            }
        });
        for (k, a) in acc.iter().enumerate() {
            // SAFETY: in bounds as above.
            unsafe { _mm512_storeu_ps(op.add(c0 + 16 * k), *a) };
        }
        c0 += BLOCK512;
    }
    while c0 < width {
        let lanes = (width - c0).min(16);
        let m: __mmask16 = if lanes == 16 { 0xFFFF } else { (1u16 << lanes) - 1 };
        // SAFETY: masked lanes stay below width.
        let mut acc = unsafe { _mm512_maskz_loadu_ps(m, op.add(c0)) };
        crate::bits::for_each_one(row, |j| {
            // SAFETY: masked lanes stay below j·stride + width ≤ table.len().
            acc = _mm512_add_ps(acc, unsafe { _mm512_maskz_loadu_ps(m, tp.add(j * stride + c0)) });
        });
        // SAFETY: masked store within out.
        unsafe { _mm512_mask_storeu_ps(op.add(c0), m, acc) };
        c0 += lanes;
    }
}

/// AVX2 twin of [`gather_add512`]: blocks of 64 in 8 ymm registers, then 8, then scalar tail.
#[target_feature(enable = "avx2,fma")]
unsafe fn gather_add256(row: &[u64], table: &[f32], stride: usize, width: usize, out: &mut [f32]) {
    let tp = table.as_ptr();
    let op = out.as_mut_ptr();
    let mut c0 = 0;
    while c0 + BLOCK256 <= width {
        // SAFETY: c0 + 64 ≤ width.
        let mut acc: [__m256; 8] = unsafe { std::array::from_fn(|k| _mm256_loadu_ps(op.add(c0 + 8 * k))) };
        crate::bits::for_each_one(row, |j| {
            // SAFETY: j·stride + c0 + 64 ≤ j·stride + width ≤ table.len().
            let base = unsafe { tp.add(j * stride + c0) };
            for (k, a) in acc.iter_mut().enumerate() {
                *a = _mm256_add_ps(*a, unsafe { _mm256_loadu_ps(base.add(8 * k)) });
            }
        });
        for (k, a) in acc.iter().enumerate() {
            // SAFETY: in bounds as above.
            unsafe { _mm256_storeu_ps(op.add(c0 + 8 * k), *a) };
        }
        c0 += BLOCK256;
    }
    while c0 + 8 <= width {
        // SAFETY: c0 + 8 ≤ width.
        let mut acc = unsafe { _mm256_loadu_ps(op.add(c0)) };
        crate::bits::for_each_one(row, |j| {
            // SAFETY: j·stride + c0 + 8 ≤ j·stride + width ≤ table.len().
            acc = _mm256_add_ps(acc, unsafe { _mm256_loadu_ps(tp.add(j * stride + c0)) });
        });
        // SAFETY: in bounds.
        unsafe { _mm256_storeu_ps(op.add(c0), acc) };
        c0 += 8;
    }
    if c0 < width {
        crate::bits::for_each_one(row, |j| {
            for c in c0..width {
                out[c] += table[j * stride + c];
            }
        });
    }
}

pub(super) fn softplus_shift_sum_avx512(a: &[f32], sp: &[f32], w: &[f32], t: f32) -> f32 {
    // SAFETY: dispatch checked avx512f.
    unsafe { softplus_shift_sum512(a, sp, w, t) }
}

pub(super) fn softplus_shift_sum_avx2(a: &[f32], sp: &[f32], w: &[f32], t: f32) -> f32 {
    // SAFETY: dispatch checked avx2 + fma.
    unsafe { softplus_shift_sum256(a, sp, w, t) }
}

#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma")]
unsafe fn softplus_shift_sum512(a: &[f32], sp: &[f32], w: &[f32], t: f32) -> f32 {
    super::softplus_shift_sum_body(a, sp, w, t)
}

#[target_feature(enable = "avx2,fma")]
unsafe fn softplus_shift_sum256(a: &[f32], sp: &[f32], w: &[f32], t: f32) -> f32 {
    super::softplus_shift_sum_body(a, sp, w, t)
}

pub(super) fn swish_forward_avx512(a: &[f32], beta: f32, z: &mut [f32], sig: &mut [f32]) {
    // SAFETY: dispatch checked avx512f.
    unsafe { swish_forward512(a, beta, z, sig) }
}

pub(super) fn swish_forward_avx2(a: &[f32], beta: f32, z: &mut [f32], sig: &mut [f32]) {
    // SAFETY: dispatch checked avx2 + fma.
    unsafe { swish_forward256(a, beta, z, sig) }
}

#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma")]
unsafe fn swish_forward512(a: &[f32], beta: f32, z: &mut [f32], sig: &mut [f32]) {
    super::swish_forward_body(a, beta, z, sig)
}

#[target_feature(enable = "avx2,fma")]
unsafe fn swish_forward256(a: &[f32], beta: f32, z: &mut [f32], sig: &mut [f32]) {
    super::swish_forward_body(a, beta, z, sig)
}

pub(super) fn swish_backward_avx512(a: &[f32], sig: &[f32], beta: f32, dz: &[f32], delta: &mut [f32]) -> f32 {
    // SAFETY: dispatch checked avx512f.
    unsafe { swish_backward512(a, sig, beta, dz, delta) }
}

pub(super) fn swish_backward_avx2(a: &[f32], sig: &[f32], beta: f32, dz: &[f32], delta: &mut [f32]) -> f32 {
    // SAFETY: dispatch checked avx2 + fma.
    unsafe { swish_backward256(a, sig, beta, dz, delta) }
}

#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma")]
unsafe fn swish_backward512(a: &[f32], sig: &[f32], beta: f32, dz: &[f32], delta: &mut [f32]) -> f32 {
    super::swish_backward_body(a, sig, beta, dz, delta)
}

#[target_feature(enable = "avx2,fma")]
unsafe fn swish_backward256(a: &[f32], sig: &[f32], beta: f32, dz: &[f32], delta: &mut [f32]) -> f32 {
    super::swish_backward_body(a, sig, beta, dz, delta)
}

pub(super) fn softplus_sum_avx512(a: &[f32]) -> f32 {
    // SAFETY: dispatch checked avx512f.
    unsafe { softplus_sum512(a) }
}

pub(super) fn softplus_sum_avx2(a: &[f32]) -> f32 {
    // SAFETY: dispatch checked avx2 + fma.
    unsafe { softplus_sum256(a) }
}

#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma")]
unsafe fn softplus_sum512(a: &[f32]) -> f32 {
    super::softplus_sum_body(a)
}

#[target_feature(enable = "avx2,fma")]
unsafe fn softplus_sum256(a: &[f32]) -> f32 {
    super::softplus_sum_body(a)
}

pub(super) fn softmax_avx512(l: &[f32], q: &mut [f64]) {
    // SAFETY: dispatch checked avx512f.
    unsafe { softmax512(l, q) }
}

pub(super) fn softmax_avx2(l: &[f32], q: &mut [f64]) {
    // SAFETY: dispatch checked avx2 + fma.
    unsafe { softmax256(l, q) }
}

#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma")]
unsafe fn softmax512(l: &[f32], q: &mut [f64]) {
    super::softmax_body(l, q)
}

#[target_feature(enable = "avx2,fma")]
unsafe fn softmax256(l: &[f32], q: &mut [f64]) {
    super::softmax_body(l, q)
}

pub(super) fn adam_avx512(p: &mut [f32], m: &mut [f32], v: &mut [f32], g: &[f32], c: &super::AdamCoeffs) {
    // SAFETY: dispatch checked avx512f.
    unsafe { adam512(p, m, v, g, c) }
}

pub(super) fn adam_avx2(p: &mut [f32], m: &mut [f32], v: &mut [f32], g: &[f32], c: &super::AdamCoeffs) {
    // SAFETY: dispatch checked avx2 + fma.
    unsafe { adam256(p, m, v, g, c) }
}

#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma")]
unsafe fn adam512(p: &mut [f32], m: &mut [f32], v: &mut [f32], g: &[f32], c: &super::AdamCoeffs) {
    super::adam_body(p, m, v, g, c)
}

#[target_feature(enable = "avx2,fma")]
unsafe fn adam256(p: &mut [f32], m: &mut [f32], v: &mut [f32], g: &[f32], c: &super::AdamCoeffs) {
    super::adam_body(p, m, v, g, c)
}

pub(super) fn sum_squares_avx512(g: &[f32]) -> f64 {
    // SAFETY: dispatch checked avx512f.
    unsafe { sum_squares512(g) }
}

pub(super) fn sum_squares_avx2(g: &[f32]) -> f64 {
    // SAFETY: dispatch checked avx2 + fma.
    unsafe { sum_squares256(g) }
}

#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma")]
unsafe fn sum_squares512(g: &[f32]) -> f64 {
    super::sum_squares_body(g)
}

#[target_feature(enable = "avx2,fma")]
unsafe fn sum_squares256(g: &[f32]) -> f64 {
    super::sum_squares_body(g)
}

pub(super) fn sum_avx512(a: &[f32]) -> f32 {
    // SAFETY: dispatch checked avx512f.
    unsafe { sum512(a) }
}

pub(super) fn sum_avx2(a: &[f32]) -> f32 {
    // SAFETY: dispatch checked avx2 + fma.
    unsafe { sum256(a) }
}

#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma")]
unsafe fn sum512(a: &[f32]) -> f32 {
    super::sum_body(a)
}

#[target_feature(enable = "avx2,fma")]
unsafe fn sum256(a: &[f32]) -> f32 {
    super::sum_body(a)
}

/// Eight vectors of 8 lanes (f32, or u32 as floats) transposed: out[j] lane i = v[i] lane j.
#[target_feature(enable = "avx2")]
#[inline]
pub(crate) unsafe fn transpose8(v: [__m256; 8]) -> [__m256; 8] {
    let (t0, t1) = (_mm256_unpacklo_ps(v[0], v[1]), _mm256_unpackhi_ps(v[0], v[1]));
    let (t2, t3) = (_mm256_unpacklo_ps(v[2], v[3]), _mm256_unpackhi_ps(v[2], v[3]));
    let (t4, t5) = (_mm256_unpacklo_ps(v[4], v[5]), _mm256_unpackhi_ps(v[4], v[5]));
    let (t6, t7) = (_mm256_unpacklo_ps(v[6], v[7]), _mm256_unpackhi_ps(v[6], v[7]));
    let (u0, u1) = (_mm256_shuffle_ps::<0x44>(t0, t2), _mm256_shuffle_ps::<0xEE>(t0, t2));
    let (u2, u3) = (_mm256_shuffle_ps::<0x44>(t1, t3), _mm256_shuffle_ps::<0xEE>(t1, t3));
    let (u4, u5) = (_mm256_shuffle_ps::<0x44>(t4, t6), _mm256_shuffle_ps::<0xEE>(t4, t6));
    let (u6, u7) = (_mm256_shuffle_ps::<0x44>(t5, t7), _mm256_shuffle_ps::<0xEE>(t5, t7));
    [
        _mm256_permute2f128_ps::<0x20>(u0, u4),
        _mm256_permute2f128_ps::<0x20>(u1, u5),
        _mm256_permute2f128_ps::<0x20>(u2, u6),
        _mm256_permute2f128_ps::<0x20>(u3, u7),
        _mm256_permute2f128_ps::<0x31>(u0, u4),
        _mm256_permute2f128_ps::<0x31>(u1, u5),
        _mm256_permute2f128_ps::<0x31>(u2, u6),
        _mm256_permute2f128_ps::<0x31>(u3, u7),
    ]
}
