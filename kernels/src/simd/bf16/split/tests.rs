use super::super::tests::values;
use super::super::{from_bf16, gemm_tn, to_bf16};
use super::*;

fn transpose(a: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    (0..rows * cols).map(|i| a[(i % rows) * cols + i / rows]).collect()
}

/// Exact f64 product of the unrounded inputs, and Σ|aᵢ||bᵢ| per entry (the error scale).
fn exact(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut want = vec![0f64; m * n];
    let mut scale = vec![0f64; m * n];
    for r in 0..m {
        for c in 0..n {
            for i in 0..k {
                let p = a[r * k + i] as f64 * b[i * n + c] as f64;
                want[r * n + c] += p;
                scale[r * n + c] += p.abs();
            }
        }
    }
    (want, scale)
}

/// |fast − twin| allowed: the twin sums the same split products in f64, the fast path in f32.
fn tol(k: usize, want: f32) -> f32 {
    1e-5 * (k as f32).sqrt() * (1.0 + want.abs())
}

/// Every entry of `got` within [`tol`] of the twin's.
fn near_twin(what: &str, got: &[f32], twin: &[f32], k: usize) {
    for (i, (&g, &w)) in got.iter().zip(twin).enumerate() {
        assert!((g - w).abs() <= tol(k, w), "{what} at {i}: {g} vs {w}");
    }
}

#[test]
fn split_rows_hold_hi_and_rounded_rest() {
    if !x3_available() {
        return;
    }
    for k in [1, 2, 37, 64, 65, 130] {
        let a = values(k, k as u64);
        let k2 = k.div_ceil(2);
        for order in [Order::Lhs, Order::Rhs] {
            let mut got = vec![0u32; 3 * k2];
            split_row(&a, &mut got, order);
            let half_at = |seg: usize, i: usize| {
                let p = got[seg * k2 + i / 2];
                (if i.is_multiple_of(2) { p } else { p >> 16 }) as u16
            };
            let (lo_seg, dup) = if order == Order::Lhs { (2, 1) } else { (1, 2) };
            for (i, &x) in a.iter().enumerate() {
                let hi = to_bf16(x);
                let lo = to_bf16(x - from_bf16(hi));
                assert_eq!(
                    (half_at(0, i), half_at(dup, i), half_at(lo_seg, i)),
                    (hi, hi, lo),
                    "k {k} {order:?} at {i}"
                );
                let back = from_bf16(hi) as f64 + from_bf16(lo) as f64;
                assert!((back - x as f64).abs() <= x.abs() as f64 * 2f64.powi(-16), "k {k}: hi + lo far from {x}");
            }
            if !k.is_multiple_of(2) {
                assert_eq!(half_at(0, k) as u32 | half_at(lo_seg, k) as u32, 0, "k {k}: odd pad");
            }
        }
    }
}

/// A transposed operand and its stored transpose split to the same pairs.
#[test]
fn split_packs_agree_across_layouts() {
    if !x3_available() {
        return;
    }
    for &(k, n) in &[(1, 16), (33, 48), (256, 32)] {
        let b = values(k * n, 7 + k as u64);
        let bt = transpose(&b, k, n);
        for order in [Order::Lhs, Order::Rhs] {
            let p = PackedB::split(Operand::new(&b, k, n), order);
            let q = PackedB::split(Operand::t(&bt, n, k), order);
            assert_eq!((p.k(), p.n()), (6 * k.div_ceil(2), n));
            assert!(p.data[..] == q.data[..], "k {k} n {n} {order:?}");
        }
    }
}

/// The fast path (sequential and parallel) against the f64 twin, on odd k, m = 1, rows not a
/// multiple of the task, n = 16·odd, both B layouts; and the twin against the exact product.
#[test]
fn matches_the_twin_and_the_exact_product() {
    if !x3_available() {
        return;
    }
    for &(m, k, n) in &[(1, 1, 16), (7, 33, 48), (13, 256, 256), (97, 64, 80), (200, 5, 16)] {
        let a = values(m * k, m as u64 * 31 + k as u64);
        let b = values(k * n, n as u64 * 17 + 5);
        let bt = transpose(&b, k, n);
        let mut twin = vec![0.5f32; m * n];
        gemm_x3_reference(&mut twin, m, &a, Operand::new(&b, k, n), true);
        let (exact, scale) = exact(&a, &b, m, k, n);
        for (i, (&t, (&e, &s))) in twin.iter().zip(exact.iter().zip(&scale)).enumerate() {
            let err = (t as f64 - 0.5 - e).abs();
            assert!(
                err <= 3.0 * 2f64.powi(-16) * s + 1e-6 * (1.0 + e.abs()),
                "({m},{k},{n}) at {i}: {err} vs scale {s}"
            );
        }
        for (bop, name) in [(Operand::new(&b, k, n), "B"), (Operand::t(&bt, n, k), "Bᵀ")] {
            let packed = PackedB::split(bop, Order::Rhs);
            for parallel in [false, true] {
                let mut got = vec![0.5f32; m * n];
                gemm_x3(&mut got, m, k, &a, &packed, true, parallel);
                near_twin(&format!("({m},{k},{n}) {name} par {parallel}"), &got, &twin, k);
            }
        }
    }
}

/// The weight-gradient form: Aᵀ·B with both split along the row axis, through `gemm_tn`.
#[test]
fn transposed_products_of_split_packs() {
    if !x3_available() {
        return;
    }
    for &(rows, m, n) in &[(1, 16, 16), (37, 32, 48), (300, 64, 32)] {
        let a = values(rows * m, rows as u64 + 3);
        let b = values(rows * n, rows as u64 + 11);
        let (pa, pb) = (
            PackedB::split(Operand::new(&a, rows, m), Order::Lhs),
            PackedB::split(Operand::new(&b, rows, n), Order::Rhs),
        );
        let mut got = vec![0f32; m * n];
        gemm_tn(&mut got, &pa, &pb, false);
        let mut twin = vec![0f32; m * n];
        gemm_x3_reference(&mut twin, m, &transpose(&a, rows, m), Operand::new(&b, rows, n), false);
        near_twin(&format!("({rows},{m},{n})"), &got, &twin, rows);
    }
}

/// The point of the split: on k = 256 its error against the exact product is at least 100×
/// below plain bf16's.
#[test]
fn far_more_accurate_than_one_bf16_product() {
    if !x3_available() {
        return;
    }
    let (m, k, n) = (16, 256, 32);
    let (a, b) = (values(m * k, 1), values(k * n, 2));
    let (exact, _) = exact(&a, &b, m, k, n);
    let mut x3 = vec![0f32; m * n];
    gemm_x3(&mut x3, m, k, &a, &PackedB::split(Operand::new(&b, k, n), Order::Rhs), false, false);
    let mut one = vec![0f32; m * n];
    super::super::gemm_reference(&mut one, m, &a, Operand::new(&b, k, n), false);
    let rms =
        |v: &[f32]| (v.iter().zip(&exact).map(|(&g, &e)| (g as f64 - e).powi(2)).sum::<f64>() / v.len() as f64).sqrt();
    let (e3, e1) = (rms(&x3), rms(&one));
    assert!(e3 * 100.0 < e1, "bf16x3 rms error {e3:e} vs bf16 {e1:e}");
}

/// The weight-gradient product with A split and transposed in one pass, against the twin: odd
/// row counts, m a multiple of 16 (the AVX-512 split) and not (its scalar twin), accumulate on.
#[test]
fn fused_transposed_products() {
    if !x3_available() {
        return;
    }
    for &(rows, m, n) in &[(1, 16, 16), (37, 32, 48), (300, 64, 32), (45, 24, 16), (384, 256, 256)] {
        let a = values(rows * m, rows as u64 + 5);
        let b = values(rows * n, rows as u64 + 13);
        let pb = PackedB::split(Operand::new(&b, rows, n), Order::Rhs);
        let mut got = vec![0.25f32; m * n];
        gemm_tn_x3(&mut got, rows, m, &a, &pb, true);
        let mut twin = vec![0.25f32; m * n];
        gemm_x3_reference(&mut twin, m, &transpose(&a, rows, m), Operand::new(&b, rows, n), true);
        near_twin(&format!("({rows},{m},{n})"), &got, &twin, rows);
    }
}

/// The blocked weight gradient over rows spanning several blocks and waves of partials (and a
/// ragged last block) against the twin, accumulating into C; the same bits at 1 and 3 threads.
#[test]
fn blocked_weight_gradient() {
    if !x3_available() {
        return;
    }
    for &(rows, m, n) in &[(5, 16, 16), (1001, 32, 48), (3500, 16, 32)] {
        let a = values(rows * m, rows as u64 + 2);
        let b = values(rows * n, rows as u64 + 9);
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("pool");
            let mut c = vec![0.5f32; m * n];
            pool.install(|| weight_grad_x3(&mut c, rows, m, &a, n, &b));
            c
        };
        let got = run(3);
        assert!(got.iter().zip(run(1)).all(|(x, y)| x.to_bits() == y.to_bits()), "({rows},{m},{n}): thread count");
        let mut twin = vec![0.5f32; m * n];
        gemm_x3_reference(&mut twin, m, &transpose(&a, rows, m), Operand::new(&b, rows, n), true);
        near_twin(&format!("({rows},{m},{n})"), &got, &twin, rows);
    }
}
