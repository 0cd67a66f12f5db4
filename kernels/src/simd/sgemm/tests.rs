//! `sgemm` against a plain f64 product, on random shapes: m, n and k below and past the 12 × 32
//! tile and the 128-deep k block (tails, n = 1, m = 1), both layouts of A and B, α and
//! accumulation; `dense::gemm` (row blocks on a pool) against the same; the same bits at 1 and 3
//! threads.

use super::*;
use crate::dense;
use proptest::prelude::*;

/// Deterministic values in [−1, 1).
fn values(len: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

/// op(X)[i][j] of a stored row-major operand.
fn at(x: Operand<'_>, i: usize, j: usize) -> f32 {
    if x.trans {
        x.data[j * x.cols + i]
    } else {
        x.data[i * x.cols + j]
    }
}

/// The stored shape of an operand whose op is r × c.
fn stored(data: &[f32], r: usize, c: usize, trans: bool) -> Operand<'_> {
    if trans {
        Operand::t(data, c, r)
    } else {
        Operand::new(data, r, c)
    }
}

/// Checks C = α·op(A)·op(B) (+ C₀) within f32 rounding of the f64 product.
fn check(c: &[f32], c0: &[f32], m: usize, n: usize, k: usize, a: Operand<'_>, b: Operand<'_>, alpha: f32, acc: bool) {
    for i in 0..m {
        for j in 0..n {
            let (mut want, mut mag) = (0f64, 0f64);
            for l in 0..k {
                let p = at(a, i, l) as f64 * at(b, l, j) as f64;
                want += p;
                mag += p.abs();
            }
            want *= alpha as f64;
            mag *= (alpha as f64).abs();
            if acc {
                want += c0[i * n + j] as f64;
                mag += (c0[i * n + j] as f64).abs();
            }
            let tol = 4.0 * f32::EPSILON as f64 * (mag + 1e-30) * (k as f64).sqrt().max(1.0);
            let got = c[i * n + j] as f64;
            assert!((got - want).abs() <= tol, "({i}, {j}) of {m}×{n}×{k}: {got} vs {want}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn prop_sgemm_matches_f64(m in 1usize..40, n in 1usize..80, k in 1usize..300, ta: bool, tb: bool, acc: bool,
                              alpha in prop::sample::select(vec![1.0f32, -1.0, 0.5, 3.0]), seed in any::<u64>()) {
        prop_assume!(available());
        let (ad, bd, c0) = (values(m * k, seed), values(k * n, seed ^ 1), values(m * n, seed ^ 2));
        let (a, b) = (stored(&ad, m, k, ta), stored(&bd, k, n, tb));
        let mut c = c0.clone();
        gemm(&mut c, m, n, k, Lhs::rows_of(a, 0), b, alpha, acc);
        check(&c, &c0, m, n, k, a, b, alpha, acc);
    }
}

#[test]
fn dense_row_blocks_match_and_thread_count_keeps_bits() {
    if !available() || dense::engine() != dense::Engine::Own {
        return;
    }
    // Big enough to be split (2·m·n·k ≥ 2²²), with a tail past the tile rows; both layouts of A.
    let (m, n, k) = (301, 70, 260);
    for ta in [false, true] {
        let (ad, bd, c0) = (values(m * k, 7), values(k * n, 8), values(m * n, 9));
        let (a, b) = (stored(&ad, m, k, ta), stored(&bd, k, n, true));
        let run = |threads: usize| {
            let mut c = c0.clone();
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| dense::gemm(&mut c, m, n, a, b, 0.5, true));
            c
        };
        let one = run(1);
        check(&one, &c0, m, n, k, a, b, 0.5, true);
        let three = run(3);
        assert!(
            one.iter().zip(&three).all(|(x, y)| x.to_bits() == y.to_bits()),
            "bits differ with 3 threads (ta = {ta})"
        );
    }
}

#[test]
fn empty_k_clears_or_keeps() {
    if !available() {
        return;
    }
    let (a, b) = (vec![0f32; 0], vec![0f32; 0]);
    let mut c = vec![2f32; 6];
    gemm(&mut c, 2, 3, 0, Lhs { data: &a, rs: 0, cs: 1 }, Operand::new(&b, 0, 3), 1.0, true);
    assert_eq!(c, vec![2.0; 6]);
    gemm(&mut c, 2, 3, 0, Lhs { data: &a, rs: 0, cs: 1 }, Operand::new(&b, 0, 3), 1.0, false);
    assert_eq!(c, vec![0.0; 6]);
}
