use super::*;

pub(super) fn values(len: usize, seed: u64) -> Vec<f32> {
    let mut z = seed;
    (0..len)
        .map(|_| {
            z = z.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((z >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 4.0
        })
        .collect()
}

/// |fast − twin| allowed on k-term products: the twin sums the same rounded inputs in f64, so
/// only the fast path's summation differs — f32 (bf16 format) or fp16 lanes of up to 64 products
/// flushed to f32 ([`Half::F16`]).
/// With values in ±2 (E|aₖbₖ| = 1, so Σ|aₖbₖ| ≈ k) the fp16 bound is fp16's own test tolerance,
/// 4·2⁻¹¹·Σ|aₖbₖ|.
fn tol(k: usize, want: f32) -> f32 {
    let f32_sum = 1e-5 * (k as f32).sqrt() * (1.0 + want.abs());
    if half() == Half::F16 {
        f32_sum + 4.0 / 2048.0 * k as f32
    } else {
        f32_sum
    }
}

#[test]
fn rounding_is_to_nearest_even() {
    assert_eq!(from_bf16(to_bf16(1.0)), 1.0);
    assert_eq!(to_bf16(f32::from_bits(0x3F80_8000)), 0x3F80); // tie → even
    assert_eq!(to_bf16(f32::from_bits(0x3F81_8000)), 0x3F82); // tie → even (up)
    assert_eq!(to_bf16(f32::from_bits(0x3F80_8001)), 0x3F81);
    assert!(from_bf16(to_bf16(f32::NAN)).is_nan());
    for x in values(1000, 3) {
        assert!((from_bf16(to_bf16(x)) - x).abs() <= x.abs() * 2f32.powi(-8));
    }
}

/// The vectorized row conversion rounds exactly like `to_half` (bf16 or fp16), ties and odd k included.
#[test]
fn row_packing_matches_scalar_rounding() {
    let mut a = values(3 * 37, 9);
    a[5] = f32::from_bits(0x3F80_8000);
    a[6] = f32::from_bits(0x3F81_8000);
    let mut got = crate::aligned::AlignedVec::default();
    pack_rows(&a, 37, 0..3, &mut got);
    for r in 0..3 {
        for kk in 0..19 {
            let lo = to_half(a[r * 37 + 2 * kk]) as u32;
            let hi = if 2 * kk + 1 < 37 { to_half(a[r * 37 + 2 * kk + 1]) as u32 } else { 0 };
            assert_eq!(got[r * 19 + kk], lo | hi << 16, "row {r} pair {kk}");
        }
    }
}

/// Fast path (when the CPU has AVX512-BF16) and fallback against the f64 twin, on shapes with
/// odd k, row counts not a multiple of the tile or the task, n = 16·odd, m = 1, both B layouts.
#[test]
fn matches_the_scalar_twin() {
    for &(m, k, n) in &[(1, 1, 16), (7, 33, 48), (13, 256, 256), (97, 64, 80), (200, 5, 16)] {
        for trans in [false, true] {
            let a = values(m * k, 1);
            let bdat = values(k * n, 2);
            let b = if trans { Operand::t(&bdat, n, k) } else { Operand::new(&bdat, k, n) };
            let packed = PackedB::new(b);
            for accumulate in [false, true] {
                let init = values(m * n, 4);
                let (mut got, mut want) = (init.clone(), init.clone());
                gemm(&mut got, m, &a, &packed, accumulate);
                gemm_reference(&mut want, m, &a, b, accumulate);
                for (g, w) in got.iter().zip(&want) {
                    assert!((g - w).abs() <= tol(k, *w), "{m}×{k}×{n} t={trans}: {g} vs {w}");
                }
            }
        }
    }
}

/// The vectorized pair packing of row-major rows gives the bits of the generic packing,
/// for odd k, n not a multiple of 16 and k = 1; both packs start on a cache line.
#[test]
fn from_rows_matches_generic_packing() {
    for &(k, n) in &[(1usize, 16usize), (7, 48), (33, 21), (64, 256)] {
        let mut d = values(k * n, 5);
        d[0] = f32::from_bits(0x3F80_8000);
        let fast = PackedB::from_rows(&d, k, n);
        let slow = PackedB::new(Operand::new(&d, k, n));
        assert_eq!(fast.data[..], slow.data[..], "k={k} n={n}");
        assert!((fast.data.as_ptr() as usize).is_multiple_of(64) && (slow.data.as_ptr() as usize).is_multiple_of(64));
    }
}

/// Aᵀ·B over packed rows against the f64 twin (A given transposed to the twin).
#[test]
fn gemm_tn_matches_the_scalar_twin() {
    for &(k, m, n) in &[(1usize, 1usize, 16usize), (33, 7, 48), (130, 50, 32), (257, 256, 256)] {
        let a = values(k * m, 6);
        let b = values(k * n, 7);
        let at: Vec<f32> = (0..m * k).map(|i| a[(i % k) * m + i / k]).collect();
        for accumulate in [false, true] {
            let init = values(m * n, 8);
            let (mut got, mut want) = (init.clone(), init.clone());
            gemm_tn(&mut got, &PackedB::from_rows(&a, k, m), &PackedB::from_rows(&b, k, n), accumulate);
            gemm_reference(&mut want, m, &at, Operand::new(&b, k, n), accumulate);
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() <= tol(k, *w), "{k}×{m}×{n}: {g} vs {w}");
            }
        }
    }
}

/// AMX tiles against `vdpbf16ps` on the same packed operands (when this CPU has both): row counts
/// around the 16- and 32-row blocks, k pairs not a multiple of 16, n = 16·odd, accumulate or not,
/// and the column form (A as a pack along k) of the weight gradient.
#[cfg(target_arch = "x86_64")]
#[test]
fn amx_matches_vdpbf16ps() {
    if !(available() && amx::usable()) {
        eprintln!("skipped: this CPU or OS has no AMX-BF16");
        return;
    }
    let close = |got: &[f32], want: &[f32], k: usize, what: &str| {
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() <= 1e-5 * (k as f32).sqrt() * (1.0 + w.abs()), "{what}: {g} vs {w}");
        }
    };
    for &(rows, k, n) in
        &[(1usize, 1usize, 16usize), (15, 33, 48), (16, 32, 16), (33, 256, 256), (96, 256, 80), (47, 2, 80)]
    {
        let a = values(rows * k, 11);
        let b = PackedB::from_rows(&values(k * n, 12), k, n);
        let mut ap = crate::aligned::AlignedVec::default();
        pack_rows(&a, k, 0..rows, &mut ap);
        let acol = PackedB::from_rows(&values(k * rows, 14), k, rows);
        for accumulate in [false, true] {
            let init = values(rows * n, 13);
            let (mut got, mut want) = (init.clone(), init.clone());
            amx::gemm(&mut got, rows, &ap, k.div_ceil(2), 1, &b, accumulate);
            // SAFETY: `available()` checked; rows × ⌈k/2⌉ pairs in `ap`, rows × n in `want`.
            unsafe { x86::block(&mut want, rows, &ap, &b, accumulate) };
            close(&got, &want, k, &format!("rows {rows}×{k}×{n} acc={accumulate}"));
            let (mut got, mut want) = (init.clone(), init.clone());
            amx::gemm(&mut got, rows, &acol.data, 1, rows, &b, accumulate);
            // SAFETY: as above, A's pair (r, kk) at r + kk·rows.
            unsafe { x86::block_strided(&mut want, rows, &acol.data, 1, rows, &b, accumulate) };
            close(&got, &want, k, &format!("columns {rows}×{k}×{n} acc={accumulate}"));
        }
    }
}

/// The pack keeps its pair rows beyond ⌈k/2⌉ zero when reused for a smaller k.
#[test]
fn packs_keep_zero_padding_when_reused() {
    let mut p = PackedB::from_rows(&values(64 * 16, 15), 64, 16);
    p.repack_rows(&values(3 * 16, 16), 3, 16);
    assert!(p.data[2 * 16..].iter().all(|&v| v == 0) && p.data.len() == 16 * 16);
    let mut q = PackedB::from_rows(&values(64 * 16, 17), 64, 16);
    q.reset(5, 16);
    assert!(q.data[3 * 16..].iter().all(|&v| v == 0) && q.pairs_mut().len() == 3 * 16);
}

/// The f32 register peak is measured on every CPU with 256-bit FMAs (AVX2-only CPUs too, so
/// `rmbench peak` has an FMA ceiling there), and the bf16 one exactly where `vdpbf16ps` exists.
#[cfg(target_arch = "x86_64")]
#[test]
fn register_peaks_exist_where_the_instructions_do() {
    let (f32_peak, bf16_peak) = register_peak_gmacs(5);
    let fma = is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma");
    assert_eq!(f32_peak.is_some(), fma || is_x86_feature_detected!("avx512f"));
    assert!(f32_peak.is_none_or(|g| g.is_finite() && g > 0.0), "{f32_peak:?}");
    let bf = is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bf16");
    assert_eq!(bf16_peak.is_some(), bf);
}
