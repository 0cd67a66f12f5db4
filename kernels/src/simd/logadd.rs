//! The RBM's flip products in the additive form: one add and one multiply per term.
//!
//! σ̄ⱼ + σⱼ·Eⱼ = σⱼ·(uⱼ + Eⱼ) with uⱼ = σ̄ⱼ/σⱼ = e^{−aⱼ}, so ln Πⱼ (σ̄ⱼ + σⱼEⱼ) = C + ln Πⱼ (uⱼ + Eⱼ)
//! with C = Σⱼ ln σⱼ once per row (a flip from 1 takes vⱼ = σⱼ/σ̄ⱼ and C = Σⱼ ln σ̄ⱼ). The add runs on
//! the FP add pipes, beside the multiply, where [`super::log_mix_products`] needs a multiply-add and
//! a multiply on the same two pipes. Each factor lies in [e^{−B}, 2·e^{B}] with
//! B = max(max|W|, max ln uⱼ), so a lane is renormalized every ⌊80/(B + ln 4)⌋ factors; the caller
//! uses this form only for rows with B ≤ 78 (else u nears the f32 range) and [`super::log_mix_products`]
//! for the others. Lanes and reduction tree as there, so every ISA gives the same bits.

use super::logmix::{reduce_lanes, renormalize, GROUP};
use super::{detected, isa, math, Isa};

/// outₖ = C + ln 2·Eₖ + ln mₖ in f64, rounded once: C and the product's exponent cancel for large
/// |aⱼ|, so neither is rounded to f32 before the sum.
#[inline(always)]
fn finish(out: &mut [f32], m: &[f32], e: &[i32], c: f64) {
    for ((o, &mk), &ek) in out.iter_mut().zip(m).zip(e) {
        *o = (math::ln_1_2(mk) as f64 + ek as f64 * std::f64::consts::LN_2 + c) as f32;
    }
}

/// Portable twin: Πⱼ (uⱼ + tⱼ) over 16 lanes (lane l takes j ≡ l mod 16, the tail j ≥ ⌊H/16⌋·16
/// goes to lanes 0, 1, …), renormalized after every `every` chunks and after the tail.
#[inline(always)]
fn log_add_product(u: &[f32], t: &[f32], every: usize) -> (f32, i32) {
    let h = u.len();
    let n16 = h / 16 * 16;
    let (mut p, mut e) = ([1f32; 16], [0i32; 16]);
    let mut c = 0;
    while c < n16 {
        let end = (c + 16 * every).min(n16);
        while c < end {
            for l in 0..16 {
                p[l] *= u[c + l] + t[c + l];
            }
            c += 16;
        }
        renormalize(&mut p, &mut e);
    }
    for (l, k) in (n16..h).enumerate() {
        p[l] *= u[k] + t[k];
    }
    renormalize(&mut p, &mut e);
    reduce_lanes(&p, &e)
}

/// outₖ = C + Σⱼ ln(uⱼ + T[rowsₖ, j]), H = `u.len()`, T = `table` as rows of H. `every` ≥ 1: the
/// caller guarantees every factor lies in [e^{−80/every}, e^{80/every}/2]. O(len(rows)·H), one add
/// and one multiply per term; the same bits on every ISA (AVX2 and AVX-512 run the same four-flip
/// passes on ymm registers).
pub fn log_add_products(out: &mut [f32], u: &[f32], table: &[f32], rows: &[u32], every: usize, c: f64) {
    run(isa(), out, u, table, rows, every, c)
}

/// [`log_add_products`] with an explicit ISA; `None` if this CPU lacks it.
pub fn log_add_products_with(
    isa: Isa,
    out: &mut [f32],
    u: &[f32],
    table: &[f32],
    rows: &[u32],
    every: usize,
    c: f64,
) -> Option<()> {
    if isa > detected() {
        return None;
    }
    run(isa, out, u, table, rows, every, c);
    Some(())
}

fn run(isa: Isa, out: &mut [f32], u: &[f32], table: &[f32], rows: &[u32], every: usize, c: f64) {
    let h = u.len();
    assert!(out.len() == rows.len() && every >= 1, "log_add_products: shapes");
    assert!(rows.iter().all(|&r| (r as usize + 1) * h <= table.len()), "log_add_products: row out of table");
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the caller checked that the CPU has AVX2 and FMA (AVX-512 CPUs have both).
        Isa::Avx2 | Isa::Avx512 => unsafe { x256::log_add_products(out, u, table, rows, every, c) },
        _ => {
            for (og, rg) in out.chunks_mut(GROUP).zip(rows.chunks(GROUP)) {
                let (mut m, mut e) = ([0f32; GROUP], [0i32; GROUP]);
                for (k, &r) in rg.iter().enumerate() {
                    (m[k], e[k]) = log_add_product(u, &table[r as usize * h..(r as usize + 1) * h], every);
                }
                finish(og, &m[..rg.len()], &e[..rg.len()], c);
            }
        }
    }
}

/// AVX2 form of the portable twin: 16 lanes as two ymm registers per flip, four flips per pass
/// sharing the u loads; the tail is masked (u = 1, T = 0: factor 1).
#[cfg(target_arch = "x86_64")]
mod x256 {
    use super::{finish, GROUP};
    use crate::simd::logmix::group_passes;
    use crate::simd::logmix::x256::{reduce, renormalize};
    use std::arch::x86_64::*;

    /// N flips at once over the same u (rows `t[k]` of the table).
    #[target_feature(enable = "avx2,fma")]
    unsafe fn flips<const N: usize>(u: &[f32], t: [&[f32]; N], every: usize) -> [(f32, i32); N] {
        // SAFETY: every load reads u/t[k] at c + 16 ≤ n16 ≤ H (t[k].len() = H, checked by the
        // caller's slicing), or is masked to the H − n16 tail lanes.
        unsafe {
            let h = u.len();
            let n16 = h / 16 * 16;
            let mut p = [[_mm256_set1_ps(1.0); 2]; N];
            let mut e = [[_mm256_setzero_si256(); 2]; N];
            let up = u.as_ptr();
            let mut c = 0;
            while c < n16 {
                let end = (c + 16 * every).min(n16);
                while c < end {
                    for half in 0..2 {
                        let uv = _mm256_loadu_ps(up.add(c + 8 * half));
                        for k in 0..N {
                            let w = _mm256_loadu_ps(t[k].as_ptr().add(c + 8 * half));
                            p[k][half] = _mm256_mul_ps(p[k][half], _mm256_add_ps(uv, w));
                        }
                    }
                    c += 16;
                }
                for k in 0..N {
                    renormalize(&mut p[k], &mut e[k]);
                }
            }
            let tail = h - n16;
            if tail > 0 {
                let lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
                for half in 0..2 {
                    let m = _mm256_cmpgt_epi32(_mm256_set1_epi32(tail as i32 - 8 * half as i32), lane);
                    let off = n16 + 8 * half;
                    let uv = _mm256_maskload_ps(up.wrapping_add(off), m);
                    let uv = _mm256_blendv_ps(_mm256_set1_ps(1.0), uv, _mm256_castsi256_ps(m));
                    for k in 0..N {
                        let w = _mm256_maskload_ps(t[k].as_ptr().wrapping_add(off), m);
                        p[k][half] = _mm256_mul_ps(p[k][half], _mm256_add_ps(uv, w));
                    }
                }
                // Without a tail the twin's second renormalization leaves [1, 2) mantissas as they are.
                for k in 0..N {
                    renormalize(&mut p[k], &mut e[k]);
                }
            }
            reduce(&p, &e)
        }
    }

    /// See [`super::log_add_products`]; rows must lie inside `table` (checked by the caller).
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn log_add_products(
        out: &mut [f32],
        u: &[f32],
        table: &[f32],
        rows: &[u32],
        every: usize,
        c: f64,
    ) {
        let h = u.len();
        for (og, rg) in out.chunks_mut(GROUP).zip(rows.chunks(GROUP)) {
            let (mut m, mut e) = ([0f32; GROUP], [0i32; GROUP]);
            // SAFETY (both passes): the caller checked the ISA; the rows are of length H.
            group_passes(
                &mut m,
                &mut e,
                table,
                h,
                rg,
                |t| unsafe { flips::<4>(u, t, every) },
                |t| unsafe { flips::<1>(u, [t], every)[0] },
            );
            finish(og, &m[..rg.len()], &e[..rg.len()], c);
        }
    }
}
