use super::*;

fn randoms(len: usize, seed: u64, scale: f32) -> Vec<f32> {
    let mut z = seed;
    (0..len)
        .map(|_| {
            z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut y = z;
            y = (y ^ (y >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            y = (y ^ (y >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            y ^= y >> 31;
            scale * ((y >> 40) as f32 / (1u64 << 24) as f32 - 0.5)
        })
        .collect()
}

fn pack_rows(a: &[f32], rows: usize, k: usize) -> (Vec<u32>, Vec<f32>) {
    let k2 = k.div_ceil(2);
    let mut ap = vec![0u32; rows * k2];
    let s = (0..rows).map(|r| pack_row(&a[r * k..(r + 1) * k], &mut ap[r * k2..(r + 1) * k2])).collect();
    (ap, s)
}

/// The fast row quantization (AVX2 blocks, then the scalar tail) equals the formula on every
/// length around the 16-float block, including a zero row.
#[test]
fn pack_row_equals_the_formula() {
    for k in [1usize, 2, 15, 16, 17, 31, 32, 33, 70, 256] {
        for (seed, scale) in [(1u64, 1.0f32), (2, 1e-6), (3, 300.0), (4, 0.0)] {
            let x = randoms(k, seed + k as u64, scale);
            let mut dst = vec![0u32; k.div_ceil(2)];
            let sigma = pack_row(&x, &mut dst);
            let max = x.iter().fold(0f32, |m, v| m.max(v.abs()));
            assert_eq!(sigma, max / QMAX, "k={k} scale={scale}");
            let inv = inverse(sigma);
            for kk in 0..k.div_ceil(2) {
                let hi = if 2 * kk + 1 < k { quantize(x[2 * kk + 1], inv) } else { 0 };
                assert_eq!(dst[kk], quantize(x[2 * kk], inv) | hi << 16, "k={k} scale={scale} pair {kk}");
            }
        }
    }
}

/// The AVX2 tile gives the portable arithmetic's bits on shapes around the 4-row tile, the
/// 16-column slice and the 128-pair chunk (k up to 600: several chunks), accumulating or not.
#[test]
fn tile_equals_the_portable_arithmetic() {
    for &rows in &[1usize, 3, 4, 5, 13, 96] {
        for &k in &[1usize, 2, 17, 255, 256, 257, 600] {
            for &n in &[16usize, 48, 256] {
                let a = randoms(rows * k, (rows * k) as u64, 2.0);
                let w = randoms(k * n, (k * n + 7) as u64, 0.3);
                let pb = PackedW::new(Operand::new(&w, k, n));
                let (ap, sa) = pack_rows(&a, rows, k);
                for accumulate in [false, true] {
                    let init = randoms(rows * n, 11, 1.0);
                    let (mut fast, mut slow) = (init.clone(), init);
                    gemm_block(&mut fast, rows, &ap, &sa, &pb, accumulate);
                    let k2 = k.div_ceil(2);
                    let sides = Sides { a: &ap, si: k2, sk: 1, ascale: &sa, b: &pb, kks: 0..k2 };
                    block_scalar(&mut slow, rows, &sides, accumulate);
                    assert!(fast == slow, "rows={rows} k={k} n={n} accumulate={accumulate}");
                }
            }
        }
    }
}

/// Against the exact product: each quantized operand is off by at most ½σ, so
/// |Ĉ − C| ≤ ½σ_r·Σ|b| + ½τ_c·Σ|a| + ¼σ_rτ_c·k (+ f32 rounding); and the transposed operand
/// packs like its explicit transpose.
#[test]
fn product_within_the_quantization_bound() {
    let (rows, k, n) = (7usize, 300usize, 32usize);
    let a = randoms(rows * k, 5, 2.0);
    let w = randoms(k * n, 6, 0.3);
    let wt: Vec<f32> = (0..n * k).map(|i| w[(i % k) * n + i / k]).collect();
    let pb = PackedW::new(Operand::new(&w, k, n));
    let pt = PackedW::new(Operand::t(&wt, n, k));
    assert!(pb.data == pt.data && pb.scale == pt.scale, "PackedW of Mᵀ differs from PackedW of the transpose");
    let (ap, sa) = pack_rows(&a, rows, k);
    let mut got = vec![0f32; rows * n];
    gemm_block(&mut got, rows, &ap, &sa, &pb, false);
    let mut twin = vec![0f32; rows * n];
    gemm_reference(&mut twin, rows, &a, Operand::new(&w, k, n), false);
    for r in 0..rows {
        for c in 0..n {
            let exact: f64 = (0..k).map(|i| a[r * k + i] as f64 * w[i * n + c] as f64).sum();
            let sum_a: f64 = (0..k).map(|i| a[r * k + i].abs() as f64).sum();
            let sum_b: f64 = (0..k).map(|i| w[i * n + c].abs() as f64).sum();
            let (s, t) = (sa[r] as f64, pb.scale[c] as f64);
            let bound = 0.5 * s * sum_b + 0.5 * t * sum_a + 0.25 * s * t * k as f64 + 1e-5 * exact.abs();
            let g = got[r * n + c] as f64;
            assert!((g - exact).abs() <= bound, "({r}, {c}): {g} vs exact {exact}, bound {bound}");
            assert!((g - twin[r * n + c] as f64).abs() <= 1e-5 * (1.0 + exact.abs()), "({r}, {c}): twin");
        }
    }
}

/// A NaN or infinite entry makes its row's (or column's) products NaN, not a silent number.
#[test]
fn non_finite_entries_give_nan() {
    let (rows, k, n) = (3usize, 40usize, 16usize);
    let mut a = randoms(rows * k, 8, 1.0);
    a[k + 5] = f32::NAN;
    let mut w = randoms(k * n, 9, 1.0);
    w[3 * n + 2] = f32::INFINITY;
    let pb = PackedW::new(Operand::new(&w, k, n));
    let (ap, sa) = pack_rows(&a, rows, k);
    let mut c = vec![0f32; rows * n];
    gemm_block(&mut c, rows, &ap, &sa, &pb, false);
    for r in 0..rows {
        for col in 0..n {
            let bad = r == 1 || col == 2;
            assert_eq!(c[r * n + col].is_nan(), bad, "({r}, {col}) = {}", c[r * n + col]);
        }
    }
}

/// Packing along rows gives the pack of the column-wise path: the same pairs and τ, on odd k
/// and n not a multiple of the 16-column slice; packs repacked into the storage of larger and
/// smaller earlier ones equal fresh ones (stale pairs, padding columns overwritten).
#[test]
fn packs_from_rows_equal_packs_by_column() {
    let (mut reused_w, mut reused_c) = (PackedW::default(), PackedCols::default());
    let shapes = [(1281usize, 256usize), (1, 16), (7, 20), (33, 13), (300, 48), (5, 3)];
    for (k, n) in shapes {
        let src = randoms(k * n, (k + n) as u64, 3.0);
        let (a, b) = (PackedW::from_rows(&src, k, n), PackedW::new(Operand::new(&src, k, n)));
        assert!(a.data == b.data && a.scale == b.scale, "k={k} n={n}");
        reused_w.repack_rows(&src, k, n);
        assert!(reused_w.data == a.data && reused_w.scale == a.scale && reused_w.k() == k, "k={k} n={n}: reused");
        let cols = PackedCols::from_rows(&src, k, n);
        reused_c.repack_rows(&src, k, n);
        assert!(reused_c.data == cols.data && reused_c.scale == cols.scale, "k={k} n={n}: reused columns");
        assert_eq!(cols.scale, b.scale, "k={k} n={n}: column scales");
        for kk in 0..k.div_ceil(2) {
            for c in 0..n {
                assert_eq!(cols.data[c * k.div_ceil(2) + kk], b.pair(kk, c), "k={k} n={n} pair ({kk}, {c})");
            }
        }
    }
}

/// The weight-gradient product: the AVX2 tile equals the portable arithmetic bit for bit (k up to
/// 1281 rows: many 128-pair chunks, an odd last row), and both stay within the quantization bound
/// of the exact Aᵀ·B.
#[test]
fn gemm_tn_equals_the_portable_arithmetic_and_the_bound() {
    for &(k, m, n) in &[(1usize, 16usize, 16usize), (2, 40, 48), (257, 33, 16), (1281, 64, 32)] {
        let a = randoms(k * m, (k * m) as u64, 2.0);
        let b = randoms(k * n, (k * n + 3) as u64, 0.5);
        let (pa, pb) = (PackedCols::from_rows(&a, k, m), PackedW::from_rows(&b, k, n));
        let init = randoms(m * n, 4, 1.0);
        for accumulate in [false, true] {
            let (mut fast, mut slow) = (init.clone(), init.clone());
            gemm_tn(&mut fast, &pa, &pb, accumulate);
            let k2 = k.div_ceil(2);
            for (ci, kk0) in (0..k2).step_by(CHUNK_PAIRS).enumerate() {
                let kks = kk0..(kk0 + CHUNK_PAIRS).min(k2);
                let sides = Sides { a: &pa.data, si: k2, sk: 1, ascale: &pa.scale, b: &pb, kks };
                block_scalar(&mut slow, m, &sides, accumulate || ci > 0);
            }
            assert!(fast == slow, "k={k} m={m} n={n} accumulate={accumulate}");
        }
        let mut got = vec![0f32; m * n];
        gemm_tn(&mut got, &pa, &pb, false);
        for i in 0..m {
            for c in 0..n {
                let exact: f64 = (0..k).map(|r| a[r * m + i] as f64 * b[r * n + c] as f64).sum();
                let sum_a: f64 = (0..k).map(|r| a[r * m + i].abs() as f64).sum();
                let sum_b: f64 = (0..k).map(|r| b[r * n + c].abs() as f64).sum();
                let (s, t) = (pa.scale[i] as f64, pb.scale[c] as f64);
                let bound = 0.5 * s * sum_b + 0.5 * t * sum_a + 0.25 * s * t * k as f64 + 1e-5 * exact.abs();
                let g = got[i * n + c] as f64;
                assert!((g - exact).abs() <= bound, "k={k} ({i}, {c}): {g} vs exact {exact}, bound {bound}");
            }
        }
    }
}

/// The weight-gradient packs built along rows flag a non-finite column the same way: its τ is NaN
/// and so is every product that uses it.
#[test]
fn packs_from_rows_flag_non_finite_columns() {
    let (k, m, n) = (300usize, 24usize, 32usize);
    let mut a = randoms(k * m, 12, 1.0);
    a[7 * m + 5] = f32::NAN;
    let mut b = randoms(k * n, 13, 1.0);
    b[200 * n + 17] = f32::NEG_INFINITY;
    let (pa, pb) = (PackedCols::from_rows(&a, k, m), PackedW::from_rows(&b, k, n));
    let mut c = vec![0f32; m * n];
    gemm_tn(&mut c, &pa, &pb, false);
    for i in 0..m {
        for j in 0..n {
            assert_eq!(c[i * n + j].is_nan(), i == 5 || j == 17, "({i}, {j}) = {}", c[i * n + j]);
        }
    }
}
