//! The RBM's flip kernels without transcendentals in the inner loop.
//!
//! softplus(a + t·w) − softplus(a) = ln((1 + e^{a+tw})/(1 + e^a)) = ln(σ̄ + σ·e^{tw}) with
//! σ = σ(a), σ̄ = σ(−a) = 1 − σ. So the H-term sum of softplus differences of one flip is the
//! log of a product of mixtures σ̄ⱼ + σⱼ·Eⱼ, with E = e^{W} tabulated once per parameter set (a
//! flip from 1 swaps σ and σ̄, see `model/rbm/flips.rs`): one fused multiply-add and one
//! multiply per term, one ln per flip instead of H exp + ln. Both
//! mixture terms are positive, so no cancellation when σ → 1. Each factor lies between 1 and
//! Eⱼ; with |W| ≤ B a lane's running product is renormalized (mantissa kept, exponent summed)
//! every ⌊80/B⌋ factors, so it never leaves the normal f32 range.

use super::{detected, isa, math, Isa};

/// ln 2 in f32.
const LN2: f32 = std::f32::consts::LN_2;

/// Splits each positive normal pₗ into mantissa [1, 2) (kept) and binary exponent (added to eₗ).
#[inline(always)]
pub(super) fn renormalize(p: &mut [f32; 16], e: &mut [i32; 16]) {
    for l in 0..16 {
        let bits = p[l].to_bits();
        e[l] += (bits >> 23) as i32 - 127;
        p[l] = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000);
    }
}

/// Multiplies the 16 lanes' mantissas pₗ ∈ [1, 2) together in a fixed tree (lane l with l + 8,
/// then l + 4, l + 2, l + 1; the product stays below 2¹⁶) and renormalizes it: the flip's product
/// is m·2^E with m ∈ [1, 2), returned as (m, E).
#[inline(always)]
pub(super) fn reduce_lanes(p: &[f32; 16], e: &[i32; 16]) -> (f32, i32) {
    let mut q = *p;
    for step in [8, 4, 2, 1] {
        for l in 0..step {
            q[l] *= q[l + step];
        }
    }
    let bits = q[0].to_bits();
    let m = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000);
    (m, e.iter().sum::<i32>() + (bits >> 23) as i32 - 127)
}

/// Flips per group of the final ln pass (stack buffers).
pub(super) const GROUP: usize = 64;

/// outₖ = ln(mₖ) + Eₖ·ln 2 for a group of reduced products, one vectorizable pass.
#[inline(always)]
fn finish(out: &mut [f32], m: &[f32], e: &[i32]) {
    for ((o, &mk), &ek) in out.iter_mut().zip(m).zip(e) {
        *o = math::ln_1_2(mk) + ek as f32 * LN2;
    }
}

/// Portable twin: ln Πⱼ (σ̄ⱼ + σⱼ·tⱼ) over 16 lanes (lane l takes j ≡ l mod 16, the tail j ≥
/// ⌊H/16⌋·16 goes to lanes 0, 1, …), renormalized after every `every` 16-wide chunks and after the
/// tail, as (m, E) of [`reduce_lanes`].
#[inline(always)]
fn log_mix_product(sig: &[f32], sbar: &[f32], t: &[f32], every: usize) -> (f32, i32) {
    let h = sig.len();
    let n16 = h / 16 * 16;
    let (mut p, mut e) = ([1f32; 16], [0i32; 16]);
    let mut c = 0;
    while c < n16 {
        let end = (c + 16 * every).min(n16);
        while c < end {
            for l in 0..16 {
                p[l] *= sig[c + l].mul_add(t[c + l], sbar[c + l]);
            }
            c += 16;
        }
        renormalize(&mut p, &mut e);
    }
    for (l, k) in (n16..h).enumerate() {
        p[l] *= sig[k].mul_add(t[k], sbar[k]);
    }
    renormalize(&mut p, &mut e);
    reduce_lanes(&p, &e)
}

/// Σⱼ ln(σ̄ⱼ + σⱼ·T[rowsₖ, j]) for each k (see [`log_mix_products`]) with the portable twin.
#[inline(always)]
fn log_mix_products_body(out: &mut [f32], sig: &[f32], sbar: &[f32], table: &[f32], rows: &[u32], every: usize) {
    let h = sig.len();
    for (og, rg) in out.chunks_mut(GROUP).zip(rows.chunks(GROUP)) {
        let (mut m, mut e) = ([0f32; GROUP], [0i32; GROUP]);
        for (k, &r) in rg.iter().enumerate() {
            (m[k], e[k]) = log_mix_product(sig, sbar, &table[r as usize * h..(r as usize + 1) * h], every);
        }
        finish(og, &m, &e);
    }
}

/// outₖ = Σⱼ ln(σ̄ⱼ + σⱼ·T[rowsₖ, j]) = ln Πⱼ (σ̄ⱼ + σⱼ·T[rowsₖ, j]), H = `sig.len()`, T = `table`
/// as rows of H: the RBM's Σⱼ [softplus(aⱼ + tᵢWᵢⱼ) − softplus(aⱼ)] for flips whose e^{tᵢWᵢ·}
/// rows are listed in `rows`. `every` ≥ 1 bounds the factors between renormalizations: the caller
/// guarantees every table entry and its reciprocal is ≤ e^{80/every}. O(len(rows)·H), one fused
/// multiply-add (libm's fmaf on the scalar path) and one multiply per term; the same bits on every
/// ISA (AVX-512: four flips per pass share the σ loads).
#[inline]
pub fn log_mix_products(out: &mut [f32], sig: &[f32], sbar: &[f32], table: &[f32], rows: &[u32], every: usize) {
    log_mix_run(isa(), out, sig, sbar, table, rows, every)
}

/// [`log_mix_products`] with an explicit ISA; `None` if this CPU lacks it.
pub fn log_mix_products_with(
    isa: Isa,
    out: &mut [f32],
    sig: &[f32],
    sbar: &[f32],
    table: &[f32],
    rows: &[u32],
    every: usize,
) -> Option<()> {
    if isa > detected() {
        return None;
    }
    log_mix_run(isa, out, sig, sbar, table, rows, every);
    Some(())
}

fn log_mix_run(isa: Isa, out: &mut [f32], sig: &[f32], sbar: &[f32], table: &[f32], rows: &[u32], every: usize) {
    let h = sig.len();
    assert!(sbar.len() == h && out.len() == rows.len() && every >= 1, "log_mix_products: shapes");
    assert!(rows.iter().all(|&r| (r as usize + 1) * h <= table.len()), "log_mix_products: row out of table");
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the caller checked that the CPU has AVX-512 F; rows are in bounds (asserted).
        Isa::Avx512 => unsafe { x512::log_mix_products(out, sig, sbar, table, rows, every) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the caller checked that the CPU has AVX2 and FMA.
        Isa::Avx2 => unsafe { x256::log_mix_products(out, sig, sbar, table, rows, every) },
        _ => log_mix_products_body(out, sig, sbar, table, rows, every),
    }
}

/// One group's (m, E) per listed table row (H floats each): four flips per pass (`four`), then
/// the rest one by one (`one`). The per-ISA drivers of both flip-product forms run their passes
/// through it.
#[inline(always)]
pub(super) fn group_passes(
    m: &mut [f32],
    e: &mut [i32],
    table: &[f32],
    h: usize,
    rows: &[u32],
    mut four: impl FnMut([&[f32]; 4]) -> [(f32, i32); 4],
    mut one: impl FnMut(&[f32]) -> (f32, i32),
) {
    let row = |r: u32| &table[r as usize * h..(r as usize + 1) * h];
    let mut quads = rows.chunks_exact(4);
    let mut k = 0;
    for q in &mut quads {
        for (j, (mj, ej)) in four([row(q[0]), row(q[1]), row(q[2]), row(q[3])]).into_iter().enumerate() {
            (m[k + j], e[k + j]) = (mj, ej);
        }
        k += 4;
    }
    for &r in quads.remainder() {
        (m[k], e[k]) = one(row(r));
        k += 1;
    }
}

/// The per-ISA driver of [`log_mix_products`]: groups of [`GROUP`] flips, four flips per pass of
/// the module's `flips::<N>` (four independent product chains hide the multiply latency), then the
/// group's logs.
#[cfg(target_arch = "x86_64")]
macro_rules! flip_driver {
    ($features:literal) => {
        /// See [`super::log_mix_products`]; rows must lie inside `table` (checked by the caller).
        #[target_feature(enable = $features)]
        pub(super) unsafe fn log_mix_products(
            out: &mut [f32],
            sig: &[f32],
            sbar: &[f32],
            table: &[f32],
            rows: &[u32],
            every: usize,
        ) {
            let h = sig.len();
            for (og, rg) in out.chunks_mut(GROUP).zip(rows.chunks(GROUP)) {
                let (mut m, mut e) = ([0f32; GROUP], [0i32; GROUP]);
                // SAFETY (both passes): the caller checked the ISA; the rows are of length H.
                super::group_passes(
                    &mut m,
                    &mut e,
                    table,
                    h,
                    rg,
                    |t| unsafe { flips::<4>(sig, sbar, t, every) },
                    |t| unsafe { flips::<1>(sig, sbar, [t], every)[0] },
                );
                finish(og, &m, &e);
            }
        }
    };
}

/// AVX-512 form of the portable twin (same operations per lane, so the same bits): the 16 lane
/// products live in one register per flip, the tail is a masked load (σ = 0, σ̄ = 1: factor 1).
#[cfg(target_arch = "x86_64")]
pub(super) mod x512 {
    use super::{finish, GROUP};
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx512f")]
    pub(in crate::simd) fn renormalize(p: &mut __m512, e: &mut __m512i) {
        let bits = _mm512_castps_si512(*p);
        let exp = _mm512_sub_epi32(_mm512_srli_epi32::<23>(bits), _mm512_set1_epi32(127));
        *e = _mm512_add_epi32(*e, exp);
        let mant =
            _mm512_or_si512(_mm512_and_si512(bits, _mm512_set1_epi32(0x007f_ffff)), _mm512_set1_epi32(0x3f80_0000));
        *p = _mm512_castsi512_ps(mant);
    }

    /// N flips at once over the same σ, σ̄ (rows `t[k]` of the table).
    #[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma")]
    unsafe fn flips<const N: usize>(sig: &[f32], sbar: &[f32], t: [&[f32]; N], every: usize) -> [(f32, i32); N] {
        // SAFETY: every load reads sig/sbar/t[k] at c + 16 ≤ n16 ≤ H, or masked to the H − n16 tail
        // (t[k].len() = H, checked by the caller's slicing).
        unsafe {
            let h = sig.len();
            let n16 = h / 16 * 16;
            let mut p = [_mm512_set1_ps(1.0); N];
            let mut e = [_mm512_setzero_si512(); N];
            let (sp, bp) = (sig.as_ptr(), sbar.as_ptr());
            let mut c = 0;
            while c < n16 {
                let end = (c + 16 * every).min(n16);
                while c < end {
                    let s = _mm512_loadu_ps(sp.add(c));
                    let b = _mm512_loadu_ps(bp.add(c));
                    for k in 0..N {
                        let w = _mm512_loadu_ps(t[k].as_ptr().add(c));
                        p[k] = _mm512_mul_ps(p[k], _mm512_fmadd_ps(s, w, b));
                    }
                    c += 16;
                }
                for k in 0..N {
                    renormalize(&mut p[k], &mut e[k]);
                }
            }
            let m: __mmask16 = ((1u32 << (h - n16)) - 1) as __mmask16;
            let s = _mm512_maskz_loadu_ps(m, sp.add(n16));
            let b = _mm512_mask_loadu_ps(_mm512_set1_ps(1.0), m, bp.add(n16));
            let mut out = [(0f32, 0i32); N];
            for k in 0..N {
                let w = _mm512_maskz_loadu_ps(m, t[k].as_ptr().add(n16));
                p[k] = _mm512_mul_ps(p[k], _mm512_fmadd_ps(s, w, b));
                renormalize(&mut p[k], &mut e[k]);
                // The twin's tree: lanes l·(l + 8), then (l + 4), (l + 2), (l + 1).
                let q = _mm256_mul_ps(_mm512_castps512_ps256(p[k]), _mm512_extractf32x8_ps::<1>(p[k]));
                let q = _mm_mul_ps(_mm256_castps256_ps128(q), _mm256_extractf128_ps::<1>(q));
                let q = _mm_mul_ps(q, _mm_movehl_ps(q, q));
                let q = _mm_mul_ss(q, _mm_movehdup_ps(q));
                let bits = _mm_cvtsi128_si32(_mm_castps_si128(q)) as u32;
                let mant = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000);
                out[k] = (mant, _mm512_reduce_add_epi32(e[k]) + (bits >> 23) as i32 - 127);
            }
            out
        }
    }

    flip_driver!("avx512f,avx512dq,avx512vl,avx2,fma");
}

/// AVX2 form of the portable twin: the 16 lanes as two ymm registers per flip (lanes 0–7, 8–15);
/// the tail is masked (σ = 0, σ̄ = 1, T = 0: factor 1).
#[cfg(target_arch = "x86_64")]
pub(super) mod x256 {
    use super::{finish, GROUP};
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx2")]
    pub(in crate::simd) fn renormalize(p: &mut [__m256; 2], e: &mut [__m256i; 2]) {
        for (pv, ev) in p.iter_mut().zip(e.iter_mut()) {
            let bits = _mm256_castps_si256(*pv);
            let exp = _mm256_sub_epi32(_mm256_srli_epi32::<23>(bits), _mm256_set1_epi32(127));
            *ev = _mm256_add_epi32(*ev, exp);
            let mant =
                _mm256_or_si256(_mm256_and_si256(bits, _mm256_set1_epi32(0x007f_ffff)), _mm256_set1_epi32(0x3f80_0000));
            *pv = _mm256_castsi256_ps(mant);
        }
    }

    /// N flips at once over the same σ, σ̄ (rows `t[k]` of the table).
    #[target_feature(enable = "avx2,fma")]
    unsafe fn flips<const N: usize>(sig: &[f32], sbar: &[f32], t: [&[f32]; N], every: usize) -> [(f32, i32); N] {
        // SAFETY: every load reads sig/sbar/t[k] at c + 16 ≤ n16 ≤ H (t[k].len() = H, checked by
        // the caller's slicing), or is masked to the H − n16 tail lanes.
        unsafe {
            let h = sig.len();
            let n16 = h / 16 * 16;
            let mut p = [[_mm256_set1_ps(1.0); 2]; N];
            let mut e = [[_mm256_setzero_si256(); 2]; N];
            let (sp, bp) = (sig.as_ptr(), sbar.as_ptr());
            let mut c = 0;
            while c < n16 {
                let end = (c + 16 * every).min(n16);
                while c < end {
                    for half in 0..2 {
                        let s = _mm256_loadu_ps(sp.add(c + 8 * half));
                        let b = _mm256_loadu_ps(bp.add(c + 8 * half));
                        for k in 0..N {
                            let w = _mm256_loadu_ps(t[k].as_ptr().add(c + 8 * half));
                            p[k][half] = _mm256_mul_ps(p[k][half], _mm256_fmadd_ps(s, w, b));
                        }
                    }
                    c += 16;
                }
                for k in 0..N {
                    renormalize(&mut p[k], &mut e[k]);
                }
            }
            // The tail: masked loads (no copies, so no calls that spill the accumulators), σ = 0,
            // σ̄ = 1, T = 0 past H (factor 1); skipped when 16 | H.
            let tail = h - n16;
            let lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
            for k in 0..N {
                if tail > 0 {
                    for half in 0..2 {
                        let left = _mm256_set1_epi32(tail as i32 - 8 * half as i32);
                        let m = _mm256_cmpgt_epi32(left, lane);
                        let off = n16 + 8 * half;
                        let s = _mm256_maskload_ps(sp.wrapping_add(off), m);
                        let b = _mm256_maskload_ps(bp.wrapping_add(off), m);
                        let b = _mm256_blendv_ps(_mm256_set1_ps(1.0), b, _mm256_castsi256_ps(m));
                        let w = _mm256_maskload_ps(t[k].as_ptr().wrapping_add(off), m);
                        p[k][half] = _mm256_mul_ps(p[k][half], _mm256_fmadd_ps(s, w, b));
                    }
                }
                renormalize(&mut p[k], &mut e[k]);
            }
            reduce(&p, &e)
        }
    }

    /// The twin's tree on each flip's 16 lanes: l·(l + 8), then (l + 4), (l + 2), (l + 1), then the
    /// product's mantissa and the lanes' exponents plus its own (m, E). Four flips share the
    /// shuffles (the same products in the same order; a product of two floats is commutative).
    #[target_feature(enable = "avx2,fma")]
    pub(in crate::simd) fn reduce<const N: usize>(p: &[[__m256; 2]; N], e: &[[__m256i; 2]; N]) -> [(f32, i32); N] {
        let mut out = [(0f32, 0i32); N];
        if N == 4 {
            let q: [__m256; 4] = std::array::from_fn(|k| _mm256_mul_ps(p[k][0], p[k][1]));
            // [q0.lo·q0.hi | q1.lo·q1.hi] and the same for flips 2, 3: lanes l·(l + 4).
            let r01 =
                _mm256_mul_ps(_mm256_permute2f128_ps::<0x20>(q[0], q[1]), _mm256_permute2f128_ps::<0x31>(q[0], q[1]));
            let r23 =
                _mm256_mul_ps(_mm256_permute2f128_ps::<0x20>(q[2], q[3]), _mm256_permute2f128_ps::<0x31>(q[2], q[3]));
            // Per 128-bit half (flips 0, 2 low; 1, 3 high): [x0·x2, x1·x3] of each flip.
            let s = _mm256_mul_ps(
                _mm256_shuffle_ps::<0b01_00_01_00>(r01, r23),
                _mm256_shuffle_ps::<0b11_10_11_10>(r01, r23),
            );
            // (x0·x2)·(x1·x3): [f0, f2, f0, f2 | f1, f3, f1, f3].
            let f = _mm256_mul_ps(_mm256_shuffle_ps::<0b10_00_10_00>(s, s), _mm256_shuffle_ps::<0b11_01_11_01>(s, s));
            let bits = _mm256_castps_si256(f);
            let mant =
                _mm256_or_si256(_mm256_and_si256(bits, _mm256_set1_epi32(0x007f_ffff)), _mm256_set1_epi32(0x3f80_0000));
            let own = _mm256_sub_epi32(_mm256_srli_epi32::<23>(bits), _mm256_set1_epi32(127));
            let (mut mv, mut ov) = ([0f32; 8], [0i32; 8]);
            // SAFETY: 8-lane stores into 8-element arrays.
            unsafe {
                _mm256_storeu_ps(mv.as_mut_ptr(), _mm256_castsi256_ps(mant));
                _mm256_storeu_si256(ov.as_mut_ptr().cast(), own);
            }
            // Exponent sums are exact integers: any order.
            let es: [__m256i; 4] = std::array::from_fn(|k| _mm256_add_epi32(e[k][0], e[k][1]));
            let h = _mm256_hadd_epi32(_mm256_hadd_epi32(es[0], es[1]), _mm256_hadd_epi32(es[2], es[3]));
            let sums = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256::<1>(h));
            let mut ev = [0i32; 4];
            // SAFETY: a 4-lane store into a 4-element array.
            unsafe { _mm_storeu_si128(ev.as_mut_ptr().cast(), sums) };
            for (k, o) in out.iter_mut().enumerate() {
                let lane = [0, 4, 1, 5][k];
                *o = (mv[lane], ev[k] + ov[lane]);
            }
            return out;
        }
        for k in 0..N {
            let q = _mm256_mul_ps(p[k][0], p[k][1]);
            let q = _mm_mul_ps(_mm256_castps256_ps128(q), _mm256_extractf128_ps::<1>(q));
            let q = _mm_mul_ps(q, _mm_movehl_ps(q, q));
            let q = _mm_mul_ss(q, _mm_movehdup_ps(q));
            let bits = _mm_cvtsi128_si32(_mm_castps_si128(q)) as u32;
            let mant = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000);
            let es = _mm256_add_epi32(e[k][0], e[k][1]);
            let es = _mm_add_epi32(_mm256_castsi256_si128(es), _mm256_extracti128_si256::<1>(es));
            let es = _mm_add_epi32(es, _mm_shuffle_epi32::<0b01_00_11_10>(es));
            let es = _mm_add_epi32(es, _mm_shuffle_epi32::<0b10_11_00_01>(es));
            out[k] = (mant, _mm_cvtsi128_si32(es) + (bits >> 23) as i32 - 127);
        }
        out
    }

    flip_driver!("avx2,fma");
}

row_op!(
    /// outₖ = e^{wₖ} for |wₖ| ≤ 87 (the RBM's flip table), relative error < 4e-7.
    exp_into,
    exp_into_with,
    (out: &mut [f32], w: &[f32]),
    {
        assert_eq!(out.len(), w.len(), "exp_into: lengths");
        out.iter_mut().zip(w).for_each(|(o, &v)| *o = math::exp(v));
    }
);

row_op!(
    /// σ(aₖ) and σ(−aₖ) = 1 − σ(aₖ), both from one e^{−|aₖ|} and one division, neither computed
    /// as a difference (so σ(−a) keeps its relative accuracy when σ(a) → 1).
    sigmoid_pair_into,
    sigmoid_pair_into_with,
    (sig: &mut [f32], sbar: &mut [f32], a: &[f32]),
    {
        assert!(sig.len() == a.len() && sbar.len() == a.len(), "sigmoid_pair_into: lengths");
        for ((s, b), &v) in sig.iter_mut().zip(sbar.iter_mut()).zip(a) {
            let e = math::exp_neg(-v.abs());
            let big = 1.0 / (1.0 + e);
            let small = e * big;
            let pos = v >= 0.0;
            *s = if pos { big } else { small };
            *b = if pos { small } else { big };
        }
    }
);

row_op!(
    /// The RBM's flipped hidden probabilities from the flip table, accumulated into the gradient
    /// sums: σ' = σ(a + tW) = σE/(σ̄ + σE) for a flip from 0 (t = 1), σ/(σ + σ̄E) from 1 (t = −1),
    /// E = e^{W} (the table row), σ = σ(a), σ̄ = σ(−a); then dsum += w·σ', g −= t·w·σ'. One
    /// division and no exponential per term.
    flip_sigmoid_accumulate,
    flip_sigmoid_accumulate_with,
    (dsum: &mut [f32], g: &mut [f32], sig: &[f32], sbar: &[f32], e: &[f32], w: f32, from_one: bool),
    {
        let h = sig.len();
        assert!(dsum.len() == h && g.len() == h && sbar.len() == h && e.len() == h, "flip_sigmoid_accumulate: lengths");
        if from_one {
            for k in 0..h {
                let sg = w * sig[k] / (sig[k] + sbar[k] * e[k]);
                dsum[k] += sg;
                g[k] += sg;
            }
        } else {
            for k in 0..h {
                let num = sig[k] * e[k];
                let sg = w * num / (sbar[k] + num);
                dsum[k] += sg;
                g[k] -= sg;
            }
        }
    }
);
