//! The RBM's all-flip products with one lane per flip: the additive form of [`super::log_add_products`]
//! over a transposed flip table, so no lane ever needs a horizontal reduction.
//!
//! For a row with uⱼ = e^{−aⱼ} (flips from 0, C₀ = Σⱼ ln σⱼ) and vⱼ = e^{aⱼ} (flips from 1,
//! C₁ = Σⱼ ln σ̄ⱼ), the flip of bit i has Lᵢ = C_{xᵢ} + Σⱼ ln(sⱼ + Eᵀ[j, i]) with s = u or v by xᵢ
//! (see `model/rbm/flips.rs`). Here lane f of a block of [`COLS`] consecutive flips runs the
//! product Πⱼ (sⱼ + Eᵀ[j, i₀ + f]) over j in ascending order: per j one load of the table's row j
//! (shared by every row of the call), one broadcast of uⱼ and vⱼ per row, then per lane a select,
//! an add and a multiply. Renormalizing (mantissa kept, exponent summed) is exact, so its cadence
//! does not change a bit, and every ISA returns the same bits as the portable twin.

use super::{detected, isa, math, Isa};

/// Flips per column block (one call's lanes per row).
pub const COLS: usize = 32;

/// Rows per call at most.
pub const MAX_ROWS: usize = 8;

/// The rows of one [`log_add_columns`] call.
#[derive(Clone, Copy, Debug)]
pub struct ColumnRows<'a> {
    /// uⱼ = σ̄ⱼ/σⱼ per row (R × H, row-major).
    pub u: &'a [f32],
    /// vⱼ = σⱼ/σ̄ⱼ per row (R × H).
    pub v: &'a [f32],
    /// C₀ = Σⱼ ln σⱼ and C₁ = Σⱼ ln σ̄ⱼ per row (f64).
    pub c: &'a [[f64; 2]],
    /// Bit f of row r's word: x at flip i₀ + f (1: the lane takes v and C₁).
    pub bits: &'a [u32],
}

/// out[r][f] = C_{r,b} + ln Πⱼ (s_{rj} + T[j·stride + f]) for the R ≤ [`MAX_ROWS`] rows of `rows` and the
/// [`COLS`] flips of the block, with b = bit f of `rows.bits[r]`, s = u (b = 0) or v (b = 1),
/// j < H = `rows.u.len()` / R. `table` starts at the block's first column (T = Eᵀ with rows of
/// `stride` floats). `every` ≥ 1: the caller guarantees every factor lies in
/// [e^{−80/every}, e^{80/every}/2]. O(R·COLS·H): per term a select, an add and a multiply.
pub fn log_add_columns(out: &mut [[f32; COLS]], rows: &ColumnRows, table: &[f32], stride: usize, every: usize) {
    run(isa(), out, rows, table, stride, every)
}

/// [`log_add_columns`] with an explicit ISA; `None` if this CPU lacks it.
pub fn log_add_columns_with(
    isa: Isa,
    out: &mut [[f32; COLS]],
    rows: &ColumnRows,
    table: &[f32],
    stride: usize,
    every: usize,
) -> Option<()> {
    if isa > detected() {
        return None;
    }
    run(isa, out, rows, table, stride, every);
    Some(())
}

fn run(isa: Isa, out: &mut [[f32; COLS]], rows: &ColumnRows, table: &[f32], stride: usize, every: usize) {
    let r = out.len();
    assert!(
        r > 0
            && r <= MAX_ROWS
            && rows.c.len() == r
            && rows.bits.len() == r
            && rows.u.len() == rows.v.len()
            && rows.u.len().is_multiple_of(r),
        "log_add_columns: shapes"
    );
    let h = rows.u.len() / r;
    assert!(h > 0 && stride >= COLS && (h - 1) * stride + COLS <= table.len() && every >= 1, "log_add_columns: table");
    let (mut m, mut e) = ([[0f32; COLS]; MAX_ROWS], [[0i32; COLS]; MAX_ROWS]);
    let (m, e) = (&mut m[..r], &mut e[..r]);
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU has AVX-512 F/DQ/VL (checked by the caller); shapes asserted above.
        Isa::Avx512 => unsafe {
            x512::products(m, e, rows, table, stride, h, every);
            x512::finish(out, m, e, rows)
        },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU has AVX2 and FMA (checked by the caller); shapes asserted above.
        Isa::Avx2 => unsafe {
            x256::products(m, e, rows, table, stride, h, every);
            x256::finish(out, m, e, rows)
        },
        _ => {
            portable(m, e, rows, table, stride, h, every);
            finish(out, m, e, rows)
        }
    }
}

/// Defines `finish`, which runs the portable finish compiled for the module's ISA (same operations,
/// so the same bits).
#[cfg(target_arch = "x86_64")]
macro_rules! finish_for {
    ($features:literal) => {
        #[target_feature(enable = $features)]
        pub(super) fn finish(out: &mut [[f32; COLS]], m: &[[f32; COLS]], e: &[[i32; COLS]], rows: &ColumnRows) {
            super::finish(out, m, e, rows)
        }
    };
}

/// The table of [`log_add_columns`] from a row-major one: `rows` (R × H, R ≤ [`COLS`]: the
/// flips' rows e^{Wᵀ[i, :]}) into `block` (H × [`COLS`], row j holding T[i, j] at column i, zero
/// past R). 8 × 8 tiles in registers on AVX2 and AVX-512 CPUs (a scalar copy on the edges), so
/// transposing costs a small fraction of the d·H exponentials that built the rows.
pub fn columns_from_rows(block: &mut [f32], rows: &[f32], h: usize) {
    let r = rows.len().checked_div(h).unwrap_or(0);
    assert!(r <= COLS && rows.len() == r * h && block.len() == h * COLS, "columns_from_rows: shapes");
    if r < COLS {
        for row in block.chunks_exact_mut(COLS) {
            row[r..].fill(0.0);
        }
    }
    let (r8, h8) = (r / 8 * 8, h / 8 * 8);
    #[cfg(target_arch = "x86_64")]
    if isa() >= Isa::Avx2 {
        for f0 in (0..r8).step_by(8) {
            for j0 in (0..h8).step_by(8) {
                // SAFETY: the CPU has AVX2 (checked); the tile's rows f0..f0 + 8 ≤ R and columns
                // j0..j0 + 8 ≤ H lie inside `rows`, its block rows j0..j0 + 8 inside `block`.
                unsafe { x256::transpose8(block.as_mut_ptr().add(j0 * COLS + f0), rows.as_ptr().add(f0 * h + j0), h) };
            }
        }
    } else {
        scalar_transpose(block, rows, h, 0..r8, 0..h8);
    }
    #[cfg(not(target_arch = "x86_64"))]
    scalar_transpose(block, rows, h, 0..r8, 0..h8);
    scalar_transpose(block, rows, h, r8..r, 0..h);
    scalar_transpose(block, rows, h, 0..r8, h8..h);
}

fn scalar_transpose(block: &mut [f32], rows: &[f32], h: usize, fs: std::ops::Range<usize>, js: std::ops::Range<usize>) {
    for f in fs {
        for j in js.clone() {
            block[j * COLS + f] = rows[f * h + j];
        }
    }
}

/// Splits a positive normal p into its mantissa in [1, 2) (returned) and binary exponent (added to e).
#[inline(always)]
fn renormalize(p: f32, e: &mut i32) -> f32 {
    let bits = p.to_bits();
    *e += (bits >> 23) as i32 - 127;
    f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000)
}

/// outₗ = C_{bₗ} + ln 2·eₗ + ln mₗ in f64, rounded once (as [`super::log_add_products`]), per row.
#[inline(always)]
fn finish(out: &mut [[f32; COLS]], m: &[[f32; COLS]], e: &[[i32; COLS]], rows: &ColumnRows) {
    for (k, o) in out.iter_mut().enumerate() {
        let ([c0, c1], bits) = (rows.c[k], rows.bits[k]);
        for l in 0..COLS {
            let cl = if bits >> l & 1 == 0 { c0 } else { c1 };
            o[l] = (math::ln_1_2(m[k][l]) as f64 + e[k][l] as f64 * std::f64::consts::LN_2 + cl) as f32;
        }
    }
}

/// Portable twin: lane by lane, j ascending, renormalized every `every` factors and at the end.
fn portable(
    m: &mut [[f32; COLS]],
    e: &mut [[i32; COLS]],
    rows: &ColumnRows,
    table: &[f32],
    stride: usize,
    h: usize,
    every: usize,
) {
    for (r, (mr, er)) in m.iter_mut().zip(e.iter_mut()).enumerate() {
        for l in 0..COLS {
            let s = if rows.bits[r] >> l & 1 == 0 { &rows.u[r * h..(r + 1) * h] } else { &rows.v[r * h..(r + 1) * h] };
            let (mut p, mut ex) = (1f32, 0i32);
            for (j, &sj) in s.iter().enumerate() {
                p *= sj + table[j * stride + l];
                if (j + 1) % every == 0 {
                    p = renormalize(p, &mut ex);
                }
            }
            mr[l] = renormalize(p, &mut ex);
            er[l] = ex;
        }
    }
}

/// AVX-512: two rows per pass, each row's 32 lanes as two zmm accumulators, the select by the
/// row's bits as a mask blend; the table's two vectors of row j loaded once per pass.
#[cfg(target_arch = "x86_64")]
mod x512 {
    use super::{ColumnRows, COLS};
    use crate::simd::logmix::x512::renormalize;
    use std::arch::x86_64::*;

    finish_for!("avx512f,avx512dq,avx512vl,avx2,fma");

    /// Rows per pass (accumulators: 2 per row; masks: 2 per row, kept in mask registers).
    const PASS: usize = 4;

    #[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma")]
    pub(super) unsafe fn products(
        m: &mut [[f32; COLS]],
        e: &mut [[i32; COLS]],
        rows: &ColumnRows,
        table: &[f32],
        stride: usize,
        h: usize,
        every: usize,
    ) {
        let r = m.len();
        let mut r0 = 0;
        while r0 < r {
            // SAFETY: rows r0 + k < r exist; the caller checked the table's extent.
            unsafe {
                if r - r0 >= PASS {
                    pass::<PASS>(&mut m[r0..], &mut e[r0..], rows, r0, table, stride, h, every);
                    r0 += PASS;
                } else {
                    pass::<1>(&mut m[r0..], &mut e[r0..], rows, r0, table, stride, h, every);
                    r0 += 1;
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma")]
    unsafe fn pass<const N: usize>(
        m: &mut [[f32; COLS]],
        e: &mut [[i32; COLS]],
        rows: &ColumnRows,
        r0: usize,
        table: &[f32],
        stride: usize,
        h: usize,
        every: usize,
    ) {
        // SAFETY: u/v reads at (r0 + k)·H + j < R·H; table reads at j·stride + 32 ≤ its length.
        unsafe {
            let (up, vp, tp) = (rows.u.as_ptr().add(r0 * h), rows.v.as_ptr().add(r0 * h), table.as_ptr());
            let mask: [[__mmask16; 2]; N] = std::array::from_fn(|k| {
                let b = rows.bits[r0 + k];
                [b as __mmask16, (b >> 16) as __mmask16]
            });
            let mut p = [[_mm512_set1_ps(1.0); 2]; N];
            let mut ex = [[_mm512_setzero_si512(); 2]; N];
            let mut j = 0;
            while j < h {
                let end = (j + every).min(h);
                while j < end {
                    let t0 = _mm512_loadu_ps(tp.add(j * stride));
                    let t1 = _mm512_loadu_ps(tp.add(j * stride + 16));
                    for k in 0..N {
                        let bu = _mm512_set1_ps(*up.add(k * h + j));
                        let bv = _mm512_set1_ps(*vp.add(k * h + j));
                        let s0 = _mm512_mask_blend_ps(mask[k][0], bu, bv);
                        let s1 = _mm512_mask_blend_ps(mask[k][1], bu, bv);
                        p[k][0] = _mm512_mul_ps(p[k][0], _mm512_add_ps(s0, t0));
                        p[k][1] = _mm512_mul_ps(p[k][1], _mm512_add_ps(s1, t1));
                    }
                    j += 1;
                }
                for k in 0..N {
                    for half in 0..2 {
                        renormalize(&mut p[k][half], &mut ex[k][half]);
                    }
                }
            }
            for k in 0..N {
                for half in 0..2 {
                    _mm512_storeu_ps(m[k].as_mut_ptr().add(16 * half), p[k][half]);
                    _mm512_storeu_si512(e[k].as_mut_ptr().add(16 * half).cast(), ex[k][half]);
                }
            }
        }
    }
}

/// AVX2: one row per pass, its 32 lanes as four ymm accumulators, the select as a blend by the
/// row's bits spread to lane masks (one uop on Zen; u ⊕ (mask ∧ (u ⊕ v)) measured 2% faster
/// on the session-17 Xeon, where vblendvps is three).
#[cfg(target_arch = "x86_64")]
mod x256 {
    use super::{ColumnRows, COLS};
    use crate::simd::logmix::x256::renormalize;
    use std::arch::x86_64::*;

    finish_for!("avx2,fma");

    /// dst[j·COLS + f] = src[f·stride + j] for f, j < 8.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn transpose8(dst: *mut f32, src: *const f32, stride: usize) {
        // SAFETY: the caller guarantees 8 rows of 8 floats at src (row stride `stride`) and 8 rows
        // of 8 floats at dst (row stride COLS).
        unsafe {
            let r: [__m256; 8] = std::array::from_fn(|k| _mm256_loadu_ps(src.add(k * stride)));
            let out = crate::simd::x86::transpose8(r);
            for (j, v) in out.into_iter().enumerate() {
                _mm256_storeu_ps(dst.add(j * COLS), v);
            }
        }
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn products(
        m: &mut [[f32; COLS]],
        e: &mut [[i32; COLS]],
        rows: &ColumnRows,
        table: &[f32],
        stride: usize,
        h: usize,
        every: usize,
    ) {
        let tp = table.as_ptr();
        let lane_bit = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
        for (r, (mr, er)) in m.iter_mut().zip(e.iter_mut()).enumerate() {
            // SAFETY: u/v reads at r·H + j < R·H; table reads at j·stride + 32 ≤ its length.
            unsafe {
                let (up, vp) = (rows.u.as_ptr().add(r * h), rows.v.as_ptr().add(r * h));
                let b = rows.bits[r];
                let mask: [__m256; 4] = std::array::from_fn(|q| {
                    let byte = _mm256_set1_epi32((b >> (8 * q) & 0xff) as i32);
                    _mm256_castsi256_ps(_mm256_cmpeq_epi32(_mm256_and_si256(byte, lane_bit), lane_bit))
                });
                // Lanes 8q..8q + 8 in p[q / 2][q % 2] (pairs, as the shared renormalization takes them).
                let mut p = [[_mm256_set1_ps(1.0); 2]; 2];
                let mut ex = [[_mm256_setzero_si256(); 2]; 2];
                let mut j = 0;
                while j < h {
                    let end = (j + every).min(h);
                    while j < end {
                        let bu = _mm256_broadcast_ss(&*up.add(j));
                        let bv = _mm256_broadcast_ss(&*vp.add(j));
                        for q in 0..4 {
                            let s = _mm256_blendv_ps(bu, bv, mask[q]);
                            let t = _mm256_loadu_ps(tp.add(j * stride + 8 * q));
                            p[q / 2][q % 2] = _mm256_mul_ps(p[q / 2][q % 2], _mm256_add_ps(s, t));
                        }
                        j += 1;
                    }
                    for (pp, ep) in p.iter_mut().zip(ex.iter_mut()) {
                        renormalize(pp, ep);
                    }
                }
                for q in 0..4 {
                    _mm256_storeu_ps(mr.as_mut_ptr().add(8 * q), p[q / 2][q % 2]);
                    _mm256_storeu_si256(er.as_mut_ptr().add(8 * q).cast(), ex[q / 2][q % 2]);
                }
            }
        }
    }
}
