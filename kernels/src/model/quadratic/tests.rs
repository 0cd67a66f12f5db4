use super::*;
use crate::testing::{
    check_delta_brute_force, check_finite_differences, check_gray_walk, check_model, patterns, Tol, NS,
};
use proptest::prelude::*;

const TOL: Tol = Tol { rel: 1e-4, abs: 1e-4 };

#[test]
fn kernels_match_reference_on_shapes_and_patterns() {
    for d in [1usize, 2, 3, 15, 16, 17, 63, 64, 65, 127, 130, 257] {
        let m = Quadratic::random(d, 0.5, d as u64);
        let mut m = m;
        m.params_mut()[d * d..].iter_mut().enumerate().for_each(|(i, v)| *v = 0.1 * (i % 5) as f32 - 0.2);
        for n in NS {
            if n == 64 && d > 130 {
                continue; // brute-force reference is O(n·d³)
            }
            for (name, x) in patterns(n, d, 7 + d as u64) {
                check_model(&format!("quadratic d={d} n={n} {name}"), &m, &x, 5, TOL, d as u64);
            }
        }
    }
}

/// The batched fields (8-row tiles or per-row gathers by density; from TILE_FROM_D in
/// column strips and row groups) equal the per-row gather exactly: the same additions in the
/// same order. Shapes cover a partial last strip and tile, one row, more row groups than a
/// strip count alone gives, and a batch whose tiles alternate between dense and sparse.
#[test]
fn batched_fields_equal_the_per_row_gather() {
    for d in [5usize, 64, 300, TILE_FROM_D, TILE_FROM_D + 190, 1100] {
        let m = Quadratic::random(d, 0.5, d as u64);
        for n in [1usize, 3, 5, 13, 40, 64] {
            let mut batches = patterns(n, d, (n * d) as u64);
            let mut mixed = BitBatch::zeros(n, d);
            let mut z = 1u64;
            for r in 0..n {
                for i in 0..d {
                    let dense = (r / TILE_ROWS).is_multiple_of(2) || i < d / 3;
                    // ≈ 7/8 ones in dense tiles (above both tile thresholds), 1/9 in sparse ones.
                    let v = crate::testing::next(&mut z);
                    mixed.set(r, i, if dense { !v.is_multiple_of(8) } else { v.is_multiple_of(9) });
                }
            }
            batches.push(("mixed", mixed));
            for (name, x) in batches {
                let f = m.fields(&x);
                let mut want = vec![0f32; d];
                for r in 0..n {
                    m.local_field(x.row(r), &mut want);
                    assert!(f[r * d..(r + 1) * d] == want[..], "d={d} n={n} {name} row {r}");
                }
            }
        }
    }
}

/// Exact RM's training step lists all d flips of every row in order: `delta_at` serves it with
/// the all-flip kernel (the same bits as `delta_all`); a list out of order takes the list path,
/// which agrees with the reference.
#[test]
fn delta_at_listing_every_flip_in_order_is_delta_all() {
    for d in [1usize, 17, 70, TILE_FROM_D + 3] {
        let m = Quadratic::random(d, 0.5, 3 + d as u64);
        for n in [1usize, 3, 9] {
            for (name, x) in patterns(n, d, (n + d) as u64) {
                let idx: Vec<u32> = (0..n).flat_map(|_| 0..d as u32).collect();
                let (mut all, mut at) = (vec![0f32; n * d], vec![0f32; n * d]);
                m.delta_all(&x, &mut all);
                m.delta_at(&x, &idx, &mut at);
                assert!(all.iter().zip(&at).all(|(a, b)| a.to_bits() == b.to_bits()), "d={d} n={n} {name}");
                if d > 70 {
                    continue; // the reference re-evaluates E per flip: O(n·d³)
                }
                let mut shuffled = idx.clone();
                shuffled[..d].reverse();
                m.delta_at(&x, &shuffled, &mut at);
                let want = crate::reference::delta_at(&m, &x, &shuffled);
                crate::testing::assert_close(&format!("d={d} n={n} {name} reversed"), &at, &want, TOL.rel, TOL.abs);
            }
        }
    }
}

/// `params_changed` sets J to (J + Jᵀ)/2 with a zero diagonal, exactly, on shapes around the
/// symmetrization's block size.
#[test]
fn params_changed_symmetrizes_exactly() {
    for d in [1usize, 2, SYM - 1, SYM, SYM + 1, 2 * SYM + 5] {
        let mut m = Quadratic::zeros(d);
        let mut z = d as u64;
        m.params_mut()[..d * d].iter_mut().for_each(|v| *v = (crate::testing::next(&mut z) % 1000) as f32 * 1e-3 - 0.5);
        let before = m.params()[..d * d].to_vec();
        m.params_changed();
        let j = m.j();
        for a in 0..d {
            for b in 0..d {
                let want = if a == b { 0.0 } else { 0.5 * (before[a * d + b] + before[b * d + a]) };
                assert!(j[a * d + b] == want, "d={d} J[{a},{b}] = {} want {want}", j[a * d + b]);
            }
            let rs: f32 = j[a * d..(a + 1) * d].iter().sum();
            assert!((m.rowsum[a] - rs).abs() <= 1e-5 * (1.0 + rs.abs()), "d={d} rowsum {a}");
        }
    }
}

/// The cached column strips follow a parameter update: fields after `params_changed` are
/// those of the new J, not of the strips built before it.
#[test]
fn column_strips_are_rebuilt_after_an_update() {
    let d = TILE_FROM_D + 70;
    let mut m = Quadratic::random(d, 0.5, 4);
    let (_, x) = patterns(9, d, 5).swap_remove(0);
    let before = m.fields(&x);
    m.params_mut()[..d * d].iter_mut().enumerate().for_each(|(i, v)| *v += 0.01 * (i % 7) as f32);
    m.params_changed();
    let after = m.fields(&x);
    let mut want = vec![0f32; d];
    for r in 0..x.n() {
        m.local_field(x.row(r), &mut want);
        assert!(after[r * d..(r + 1) * d] == want[..], "row {r}");
    }
    assert!(before != after, "the update changed J");
}

#[test]
fn delta_matches_brute_force_reevaluation() {
    // ΔE from the local-field formula against E(x₋ᵢ) − E(x) from the fast energy itself.
    let d = 70;
    let m = Quadratic::random(d, 1.0, 3);
    for (name, x) in patterns(3, d, 11) {
        check_delta_brute_force(name, &m, &x);
    }
}

#[test]
fn gray_walk_matches_batched_energies() {
    let d = 14;
    let mut m = Quadratic::random(d, 0.7, 3);
    m.params_mut()[d * d..].iter_mut().enumerate().for_each(|(i, v)| *v = 0.1 * i as f32 - 0.5);
    m.params_changed();
    check_gray_walk("quadratic", &m, 5000, 9000);
}

#[test]
fn gradients_match_finite_differences() {
    for d in [1usize, 5, 33] {
        let mut m = Quadratic::random(d, 0.7, 5);
        check_finite_differences("quadratic", &mut m, 9);
    }
}

#[test]
fn from_parts_rejects_bad_tensors() {
    assert!(Quadratic::from_parts(&[0.0, 1.0, 2.0, 0.0], &[0.0, 0.0]).is_err());
    assert!(Quadratic::from_parts(&[0.0, f32::NAN, f32::NAN, 0.0], &[0.0, 0.0]).is_err());
    assert!(Quadratic::from_parts(&[0.0; 3], &[0.0, 0.0]).is_err());
    assert!(Quadratic::from_parts(&[0.0, 1.0, 1.0, 0.0], &[0.5, 0.0]).is_ok());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn prop_fast_equals_reference(d in 1usize..=300, n in 1usize..6, s in 1usize..8, seed in any::<u64>()) {
        let m = Quadratic::random(d, 0.3, seed);
        let (_, x) = patterns(n, d, seed).swap_remove(0);
        check_model("quadratic prop", &m, &x, s, TOL, seed);
    }
}
