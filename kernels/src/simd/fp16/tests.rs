use super::*;
use proptest::prelude::*;

/// Values in [−2, 2).
fn values(len: usize, seed: u64) -> Vec<f32> {
    crate::testing::random_weights(len, seed).into_iter().map(|v| 2.0 * v).collect()
}

/// fp16's unit roundoff: each fused step acc = a·b + acc rounds once, by at most 2⁻¹¹·|acc|.
const U: f64 = 1.0 / 2048.0;

/// Runs `gemm` (fast path where available) against the scalar twin on one shape.
fn check(m: usize, k: usize, n: usize, trans: bool, accumulate: bool, seed: u64) -> Result<(), String> {
    let a = values(m * k, seed);
    let w = values(k * n, seed + 1);
    let b = if trans { Operand::t(&w, n, k) } else { Operand::new(&w, k, n) };
    let packed = PackedB::new(b);
    let c0 = values(m * n, seed + 2);
    let (mut got, mut want) = (c0.clone(), c0.clone());
    gemm(&mut got, m, &a, &packed, accumulate);
    gemm_reference(&mut want, m, &a, b, accumulate);
    let q = |x: f32| from_f16(to_f16(x)) as f64;
    for r in 0..m {
        for col in 0..n {
            let wv = |kk: usize| if trans { w[col * k + kk] } else { w[kk * n + col] };
            let ab = |kk: usize| q(a[r * k + kk]) * q(wv(kk));
            let mag: f64 = (0..k).map(|kk| ab(kk).abs()).sum();
            // Rigorous: 2⁻¹¹ of every partial sum of every flushed run of FLUSH steps, × 1.05 for the
            // partial sums' own drift (≤ 64·2⁻¹¹ of them; a 4·2⁻¹¹·Σ|ab|
            // rule of thumb was exceeded at 4.28·2⁻¹¹ by m 16 k 39 n 64 seed 871).
            let partials: f64 = (0..k)
                .step_by(FLUSH.max(1))
                .map(|k0| {
                    let mut acc = 0f64;
                    (k0..(k0 + FLUSH).min(k))
                        .map(|kk| {
                            acc += ab(kk);
                            acc.abs()
                        })
                        .sum::<f64>()
                })
                .sum();
            let (g, e) = (got[r * n + col] as f64, want[r * n + col] as f64);
            let tol = 1.05 * U * partials + 1e-5 * (1.0 + e.abs());
            if (g - e).abs() > tol {
                return Err(format!(
                    "m {m} k {k} n {n} trans {trans} acc {accumulate}: [{r},{col}] {g} vs {e} (|Δ|/Σ|ab| = {:.2e})",
                    (g - e).abs() / mag.max(1e-30)
                ));
            }
        }
    }
    Ok(())
}

#[test]
fn rounding_is_to_nearest_even_and_packing_matches_it() {
    assert_eq!(to_f16(1.0), 0x3C00);
    assert_eq!(to_f16(f32::from_bits(0x3F80_1000)), 0x3C00); // tie → even
    assert_eq!(to_f16(f32::from_bits(0x3F80_3000)), 0x3C02); // tie → even (up)
    assert_eq!(to_f16(1e6), 0x7C00); // overflow → +inf
    assert!(from_f16(to_f16(f32::NAN)).is_nan());
    let mut src = values(37, 4);
    src[3] = f32::from_bits(0x3F80_1000);
    src[20] = 7e-6; // subnormal in fp16
    let mut dst = vec![0u16; 37];
    pack_row(&src, &mut dst);
    for (i, (&s, &d)) in src.iter().zip(&dst).enumerate() {
        assert_eq!(d, to_f16(s), "index {i}");
        assert!((from_f16(d) - s).abs() <= s.abs() * 2f32.powi(-11) + 6e-8);
    }
}

/// Edge shapes: n = 1 row, remainders of the 8-row tile and the 96-column slice, k around the
/// flush length, n not a multiple of 32 (the fallback), k = 0 and m = 0.
#[test]
fn gemm_matches_the_scalar_twin_on_edge_shapes() {
    for &(m, k, n) in &[
        (1usize, 1usize, 32usize),
        (1, 256, 256),
        (7, 63, 64),
        (8, 64, 96),
        (9, 65, 128),
        (17, 130, 160),
        (97, 257, 256),
        (3, 5, 48),
        (4, 0, 32),
        (0, 16, 32),
    ] {
        for (trans, acc) in [(false, false), (true, true)] {
            check(m, k, n, trans, acc, (m * 31 + k * 7 + n) as u64).unwrap();
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn gemm_matches_the_scalar_twin(m in 1usize..40, k in 1usize..300, nb in 1usize..9, trans: bool, acc: bool, seed in 0u64..1000) {
        let r = check(m, k, 32 * nb, trans, acc, seed);
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }
}
