use super::*;
use crate::testing::{check_finite_differences, check_model, patterns, Tol, NS};
use proptest::prelude::*;

/// f32 GEMMs and the fast sigmoid against f64: relative 2e-4, absolute 2e-4.
const TOL: Tol = Tol { rel: 2e-4, abs: 2e-4 };

fn model(d: usize, h: usize, l: usize, seed: u64) -> Mlp {
    let mut m = Mlp::new(d, h, l, seed);
    let last = m.params.len() - 1;
    m.params[last] = 0.7; // β ≠ 1 so its gradient is exercised
    m
}

#[test]
fn kernels_match_reference_on_shapes_and_patterns() {
    for d in [1usize, 2, 3, 15, 16, 17, 63, 64, 65, 130, 257] {
        for (h, l) in [(3usize, 1usize), (8, 2), (17, 3)] {
            let m = model(d, h, l, (d * 7 + h) as u64);
            for n in NS {
                if n == 64 && d > 65 {
                    continue; // brute-force reference is O(n·d²·H)
                }
                for (name, x) in patterns(n, d, 3 + d as u64) {
                    check_model(&format!("mlp d={d} h={h} l={l} n={n} {name}"), &m, &x, 4, TOL, d as u64);
                }
            }
        }
    }
}

#[test]
fn default_width_matches_reference() {
    let m = Mlp::new(40, 256, 3, 5);
    let (_, x) = patterns(3, 40, 9).swap_remove(0);
    check_model("mlp 256x3", &m, &x, 3, Tol { rel: 1e-3, abs: 1e-3 }, 4);
}

#[test]
fn chunk_size_does_not_change_results() {
    let (d, n, s) = (37, 9, 5);
    let mut small = model(d, 11, 2, 3);
    small.set_chunk_rows(1);
    let big = model(d, 11, 2, 3);
    let (_, x) = patterns(n, d, 2).swap_remove(0);
    let idx = crate::testing::random_idx(n, s, d, 8);
    let wb = crate::testing::random_weights(n, 1);
    let wf = crate::testing::random_weights(n * s, 2);
    let run = |m: &Mlp| {
        let mut da = vec![0f32; n * d];
        m.delta_all(&x, &mut da);
        let mut g = vec![0f32; m.num_params()];
        m.param_grad(&x, &wb, &idx, &wf, &mut g);
        let mut e = vec![0f32; n];
        let mut gi = vec![0f32; n * d];
        m.input_grad(&x, &mut e, &mut gi);
        (da, g, gi)
    };
    let (a, b) = (run(&small), run(&big));
    for (u, v) in [(&a.0, &b.0), (&a.1, &b.1), (&a.2, &b.2)] {
        for (p, q) in u.iter().zip(v.iter()) {
            assert!((p - q).abs() <= 1e-5 * p.abs().max(1.0), "{p} vs {q}");
        }
    }
}

#[test]
fn gradients_match_finite_differences() {
    for (d, h, l) in [(1usize, 2usize, 1usize), (5, 4, 2), (12, 6, 3)] {
        let mut m = model(d, h, l, 11);
        check_finite_differences("mlp", &mut m, 4);
    }
}

#[test]
fn layout_is_pytorch() {
    let m = Mlp::new(5, 4, 3, 0);
    let names: Vec<(&str, Vec<usize>)> = m.tensors().iter().map(|t| (t.name.as_str(), t.shape.clone())).collect();
    assert_eq!(
        names,
        vec![
            ("layers.0.weight", vec![4, 5]),
            ("layers.0.bias", vec![4]),
            ("layers.1.weight", vec![4, 4]),
            ("layers.1.bias", vec![4]),
            ("layers.2.weight", vec![4, 4]),
            ("layers.2.bias", vec![4]),
            ("layers.3.weight", vec![1, 4]),
            ("layers.3.bias", vec![1]),
            ("swish.beta", vec![1]),
        ]
    );
    assert_eq!(*m.params().last().unwrap(), 1.0);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn prop_fast_equals_reference(d in 1usize..=300, n in 1usize..4, h in 1usize..12, l in 1usize..=3, s in 1usize..5, seed in any::<u64>()) {
        let m = model(d, h, l, seed);
        let (_, x) = patterns(n, d, seed).swap_remove(0);
        check_model("mlp prop", &m, &x, s, TOL, seed);
    }
}

#[test]
fn fused_delta_then_grad_equals_separate_calls() {
    let (d, n, s) = (29, 6, 4);
    let mut m = model(d, 9, 3, 5);
    m.set_chunk_rows(7); // several chunks
    let (_, x) = patterns(n, d, 4).swap_remove(0);
    let idx = crate::testing::random_idx(n, s, d, 3);
    // Weights as a function of ΔE, as the objectives do.
    let wfn = |de: f32| (-2.0 * de).exp() * 0.1;
    let mut delta = vec![0f32; n * s];
    m.delta_at(&x, &idx, &mut delta);
    let wf: Vec<f32> = delta.iter().map(|&v| wfn(v)).collect();
    let wb: Vec<f32> = (0..n).map(|r| -wf[r * s..(r + 1) * s].iter().sum::<f32>()).collect();
    let mut g1 = vec![0f32; m.num_params()];
    m.param_grad(&x, &wb, &idx, &wf, &mut g1);
    let mut g2 = vec![0f32; m.num_params()];
    let mut calls = 0;
    let ok = m.delta_then_grad(
        &x,
        &idx,
        &mut |rows, de, wbo, wfo| {
            calls += 1;
            for k in 0..rows.len() {
                for j in 0..s {
                    wfo[k * s + j] = wfn(de[k * s + j]);
                }
                wbo[k] = -wfo[k * s..(k + 1) * s].iter().sum::<f32>();
            }
            true
        },
        &mut g2,
    );
    assert!(ok && calls > 1);
    for (a, b) in g1.iter().zip(&g2) {
        assert!((a - b).abs() <= 1e-5 * a.abs().max(1.0), "{a} vs {b}");
    }
}

/// Relative L2 distance |a − b| / |b|.
fn rel_l2(a: &[f32], b: &[f32]) -> f64 {
    let norm = |v: &mut dyn Iterator<Item = f32>| v.map(|x| (x as f64).powi(2)).sum::<f64>().sqrt();
    norm(&mut a.iter().zip(b).map(|(x, y)| x - y)) / norm(&mut b.iter().copied()).max(1e-30)
}

/// ΔE at s flips per sample and the weighted gradient of a ggis-like step, f32 against another
/// precision of the same model.
struct Compared {
    /// Largest |ΔE − ΔE(f32)| over the flips, and the mean |ΔE(f32)|.
    worst: f64,
    mean: f64,
    /// Relative L2 distance of the gradients.
    rel: f64,
    /// The flips, and ΔE in f32 and in the other precision.
    idx: Vec<u32>,
    df: Vec<f32>,
    db: Vec<f32>,
}

fn precision_vs_f32(f: &Mlp, x: &BitBatch, s: usize, wmul: f32, p: crate::bf16::Precision) -> Compared {
    let mut b = f.clone();
    assert!(b.set_precision(p));
    let (n, d) = (x.n(), f.dim());
    let idx: Vec<u32> = (0..n * s).map(|k| ((k * 37 + k / s) % d) as u32).collect();
    let (mut df, mut db) = (vec![0f32; n * s], vec![0f32; n * s]);
    f.delta_at(x, &idx, &mut df);
    b.delta_at(x, &idx, &mut db);
    let mean = df.iter().map(|v| v.abs() as f64).sum::<f64>() / df.len() as f64;
    let worst = df.iter().zip(&db).map(|(a, c)| (a - c).abs() as f64).fold(0f64, f64::max);
    let wf: Vec<f32> = df.iter().map(|v| wmul * (-2.0 * v).exp().min(1e3) / n as f32).collect();
    let wb: Vec<f32> = (0..n).map(|r| -wf[r * s..(r + 1) * s].iter().sum::<f32>()).collect();
    let (mut gf, mut gb) = (vec![0f32; f.num_params()], vec![0f32; f.num_params()]);
    f.param_grad(x, &wb, &idx, &wf, &mut gf);
    b.param_grad(x, &wb, &idx, &wf, &mut gb);
    Compared { worst, mean, rel: rel_l2(&gb, &gf), idx, df, db }
}

/// [`precision_vs_f32`] for the bf16 paths: (worst |ΔE error|, mean |ΔE|, gradient error).
fn mixed_vs_f32(f: &Mlp, x: &BitBatch, s: usize, wmul: f32) -> (f64, f64, f64) {
    let c = precision_vs_f32(f, x, s, wmul, crate::bf16::Precision::Bf16);
    (c.worst, c.mean, c.rel)
}

/// The bf16-difference path (int16 on AVX2 CPUs) against f32 on small random shapes: H below, at
/// and above the 16-wide tile (H = 8, 24 run the scalar twin of the bf16 or int16 product), 1–3 hidden layers, n = 1, s = 1,
/// d not a multiple of 64, several chunks. ΔE within 2% of the mean |ΔE|, gradient within 2%.
#[test]
fn mixed_precision_matches_f32_on_random_shapes() {
    if !crate::bf16::mixed_available() {
        eprintln!("mixed_precision_matches_f32_on_random_shapes: no mixed path here; skipped");
        return;
    }
    for (d, h, l) in [(1usize, 8usize, 1usize), (17, 16, 2), (65, 24, 3), (130, 32, 3)] {
        for (n, s) in [(1usize, 1usize), (7, 3)] {
            let mut f = model(d, h, l, (d * 31 + h + n) as u64);
            f.set_chunk_rows(9); // several chunks
            let (_, x) = patterns(n, d, 11).swap_remove(0);
            let (worst, mean, rel) = mixed_vs_f32(&f, &x, s, 1.0);
            assert!(
                worst <= 0.02 * mean + 1e-6 && rel <= 0.02,
                "d={d} h={h} l={l} n={n} s={s}: ΔE {worst} vs {mean}, grad {rel}"
            );
        }
    }
}

/// The bf16 path (int16 on AVX2 CPUs without bf16) against f32 on the reference's MLP (H = 256, 3 hidden layers, PyTorch init, and
/// the same weights ×3 for larger activations), ggis shapes (n = 64, s = 10): the keep-threshold of
/// issue #7 is ΔE within 2% of the mean |ΔE| (worst flip) and the gradient within 2% relative L2.
/// Rounding whole rows to bf16 (the first experiment) gave 10–25% and 4–15%; rounding only the
/// base-to-flip differences (`mlp/mixed.rs`) keeps both far inside. Prints the measured errors.
#[test]
fn bf16_error_against_f32() {
    if !crate::bf16::mixed_available() {
        eprintln!("bf16_error_against_f32: no mixed path here (no AVX512-BF16 or AVX2); nothing to compare");
        return;
    }
    for (d, scale) in [(100usize, 1.0f32), (784, 1.0), (100, 3.0)] {
        let mut f = Mlp::new(d, 256, 3, 5);
        f.params.iter_mut().for_each(|p| *p *= scale);
        let (_, x) = patterns(64, d, 7).swap_remove(0);
        let (worst, mean, rel) = mixed_vs_f32(&f, &x, 10, 1.0);
        eprintln!(
            "{} d={d} ×{scale}: max |ΔE error| {worst:.3e} (mean |ΔE| {mean:.3e}), gradient rel. error {rel:.4}",
            crate::bf16::engine()
        );
        assert!(worst <= 0.02 * mean && rel <= 0.02, "d={d} ×{scale}: ΔE {worst} vs {mean}, grad {rel}");
    }
}

/// Weights far beyond fp16's range (10⁹ times the test terms: |w| up to ≈ 10¹⁰): the weighted operands of the
/// weight-gradient products are scaled by a power of two on the fp16 engine, so the gradient
/// stays finite and within the same 2% of f32 (unscaled, w·Δ and Y overflow to ±inf).
#[test]
fn mixed_precision_survives_large_weights() {
    if !crate::bf16::mixed_available() {
        return;
    }
    let f = Mlp::new(100, 256, 3, 5);
    let (_, x) = patterns(64, 100, 7).swap_remove(0);
    let (_, _, rel) = mixed_vs_f32(&f, &x, 10, 1e9);
    eprintln!("{} weights ×1e9: gradient rel. error {rel:.4}", crate::bf16::engine());
    assert!(rel <= 0.02, "gradient rel. error {rel}");
}

/// The proposal's base pass is reused by the next flipped-row call on the same batch only: the
/// gradient after an input gradient equals the gradient without one, bit for bit, and a parameter
/// change or another batch in between is never served from the cache.
#[test]
fn base_cache_serves_only_the_same_batch_and_parameters() {
    if !crate::bf16::mixed_available() {
        return;
    }
    let mut m = model(40, 32, 3, 9);
    assert!(m.set_bf16(true));
    cache_serves_only_the_same_batch_and_parameters(m);
}

/// The f32 path's cached first-layer pre-activations: the same rules.
#[test]
fn a1_cache_serves_only_the_same_batch_and_parameters() {
    let mut m = model(40, 32, 3, 9);
    m.set_bf16(false);
    let (_, x) = patterns(5, 40, 3).swap_remove(0);
    let (mut e, mut g) = (vec![0f32; 5], vec![0f32; 5 * 40]);
    m.input_grad(&x, &mut e, &mut g);
    let cached = m.a1_cache.0.lock().unwrap().as_ref().map(|(k, _)| *k);
    assert_eq!(cached, Some(m.batch_key(&x)), "the input gradient left no a₁ to reuse");
    cache_serves_only_the_same_batch_and_parameters(m);
}

fn cache_serves_only_the_same_batch_and_parameters(mut m: Mlp) {
    let (d, n, s) = (m.d, 5, 3);
    let (_, x) = patterns(n, d, 3).swap_remove(0);
    let (_, y) = patterns(n, d, 4).swap_remove(0);
    let idx = crate::testing::random_idx(n, s, d, 5);
    let wf: Vec<f32> = (0..n * s).map(|k| 0.1 + k as f32 * 0.01).collect();
    let wb: Vec<f32> = (0..n).map(|r| -wf[r * s..(r + 1) * s].iter().sum::<f32>()).collect();
    let grad = |m: &Mlp, warm: Option<&BitBatch>| {
        if let Some(b) = warm {
            let (mut e, mut g) = (vec![0f32; n], vec![0f32; n * d]);
            m.input_grad(b, &mut e, &mut g);
        }
        let mut out = vec![0f32; m.num_params()];
        m.param_grad(&x, &wb, &idx, &wf, &mut out);
        out
    };
    let cold = grad(&m, None);
    assert_eq!(grad(&m, Some(&x)), cold, "cached base differs from a fresh one");
    assert_eq!(grad(&m, Some(&y)), cold, "another batch's base was used");
    let (mut e, mut g) = (vec![0f32; n], vec![0f32; n * d]);
    m.input_grad(&x, &mut e, &mut g);
    m.params_mut()[0] += 0.5;
    let mut changed = m.clone();
    changed.params_changed();
    let mut after = vec![0f32; m.num_params()];
    m.param_grad(&x, &wb, &idx, &wf, &mut after);
    assert_eq!(after, grad(&changed, None), "a stale base survived a parameter change");
}

/// The block passes add their partial sums in block order, so the gradient, ΔE and energies
/// carry the same bits in pools of 1 and 3 threads (n·(s + 1) = 280 rows and n·(d + 1) = 2840
/// rows span several 64-row blocks).
#[test]
fn results_do_not_depend_on_the_thread_count() {
    let (d, n, s) = (70, 40, 6);
    let m = model(d, 32, 3, 11);
    let (_, x) = patterns(n, d, 5).swap_remove(0);
    let idx = crate::testing::random_idx(n, s, d, 3);
    let wb = crate::testing::random_weights(n, 4);
    let wf = crate::testing::random_weights(n * s, 5);
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("pool");
        pool.install(|| {
            let mut g = vec![0f32; m.num_params()];
            m.param_grad(&x, &wb, &idx, &wf, &mut g);
            let mut e = vec![0f32; n];
            let mut gi = vec![0f32; n * d];
            m.input_grad(&x, &mut e, &mut gi);
            let mut da = vec![0f32; n * d];
            m.delta_all(&x, &mut da);
            [g, e, gi, da].map(|v| v.iter().map(|f| f.to_bits()).collect::<Vec<u32>>())
        })
    };
    let (one, three) = (run(1), run(3));
    for (k, (a, b)) in one.iter().zip(&three).enumerate() {
        assert!(a == b, "output {k} differs between 1 and 3 threads");
    }
}

/// The bf16x3 engine against the f64 reference at the f32 tolerance, on widths below, at and
/// above the 16-wide tile (H = 8, 24 run the scalar twin of the product), 1–3 hidden layers,
/// n = 1, d not a multiple of 64, several chunks; and the reference's width.
#[test]
fn bf16x3_matches_the_reference_at_the_f32_tolerance() {
    if !crate::bf16::x3_available() {
        eprintln!("bf16x3_matches_the_reference_at_the_f32_tolerance: fp16 packs here; skipped");
        return;
    }
    for (d, h, l) in [(1usize, 8usize, 1usize), (17, 16, 2), (65, 24, 3), (130, 32, 3)] {
        let mut m = model(d, h, l, (d * 13 + h) as u64);
        assert!(m.set_bf16x3(true) && m.precision() == crate::bf16::Precision::Bf16x3);
        m.set_chunk_rows(9);
        for n in [1usize, 7] {
            for (name, x) in patterns(n, d, 5 + d as u64).into_iter().take(2) {
                check_model(&format!("bf16x3 d={d} h={h} l={l} n={n} {name}"), &m, &x, 3, TOL, d as u64);
            }
        }
    }
    let mut m = Mlp::new(40, 256, 3, 5);
    assert!(m.set_bf16x3(true));
    let (_, x) = patterns(3, 40, 9).swap_remove(0);
    check_model("bf16x3 256x3", &m, &x, 3, Tol { rel: 1e-3, abs: 1e-3 }, 4);
}

/// On the reference's MLP (H = 256, 3 hidden layers, n = 64, s = 10; and weights ×3), bf16x3's
/// ΔE and gradient sit within 10⁻³ of f32's (bf16 differences: 2%), and a parameter update
/// re-splits the weights (ΔE after it matches a freshly built model's bit for bit).
#[test]
fn bf16x3_error_against_f32() {
    if !crate::bf16::x3_available() {
        return;
    }
    for (d, scale) in [(100usize, 1.0f32), (784, 1.0), (100, 3.0)] {
        let mut f = Mlp::new(d, 256, 3, 5);
        f.params.iter_mut().for_each(|p| *p *= scale);
        let (_, x) = patterns(64, d, 7).swap_remove(0);
        let s = 10;
        let Compared { worst, mean, rel, idx, df, db } =
            precision_vs_f32(&f, &x, s, 1.0, crate::bf16::Precision::Bf16x3);
        // f32's own distance from the f64 reference, for scale (printed, not asserted).
        let exact = crate::reference::delta_at(&f, &x, &idx);
        let from_exact = |v: &[f32]| v.iter().zip(&exact).map(|(a, e)| (*a as f64 - e).abs()).fold(0f64, f64::max);
        let (f32_worst, x3_worst) = (from_exact(&df), from_exact(&db));
        eprintln!(
            "bf16x3 d={d} ×{scale}: max |ΔE − f32| {worst:.3e} (mean |ΔE| {mean:.3e}), gradient rel. error {rel:.2e}; \
             max |ΔE − f64|: f32 {f32_worst:.3e}, bf16x3 {x3_worst:.3e}"
        );
        assert!(worst <= 1e-3 * mean && rel <= 1e-3, "d={d} ×{scale}: ΔE {worst} vs {mean}, grad {rel}");
        let mut b = f.clone();
        assert!(b.set_bf16x3(true));
        b.params_mut().iter_mut().for_each(|p| *p *= 0.9);
        b.params_changed();
        let mut fresh = Mlp::new(d, 256, 3, 5);
        fresh.params.copy_from_slice(&b.params);
        assert!(fresh.set_bf16x3(true));
        let (mut d1, mut d2) = (vec![0f32; 64 * s], vec![0f32; 64 * s]);
        b.delta_at(&x, &idx, &mut d1);
        fresh.delta_at(&x, &idx, &mut d2);
        assert!(
            d1.iter().zip(&d2).all(|(a, c)| a.to_bits() == c.to_bits()),
            "d={d}: stale split packs after an update"
        );
    }
}

/// The bf16x3 engine gives the same bits in pools of 1 and 3 threads.
#[test]
fn bf16x3_results_do_not_depend_on_the_thread_count() {
    if !crate::bf16::x3_available() {
        return;
    }
    let (d, n, s) = (70, 40, 6);
    let mut m = model(d, 32, 3, 11);
    assert!(m.set_bf16x3(true));
    let (_, x) = patterns(n, d, 5).swap_remove(0);
    let idx = crate::testing::random_idx(n, s, d, 3);
    let (wb, wf) = (crate::testing::random_weights(n, 4), crate::testing::random_weights(n * s, 5));
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("pool");
        pool.install(|| {
            let mut g = vec![0f32; m.num_params()];
            m.param_grad(&x, &wb, &idx, &wf, &mut g);
            let mut da = vec![0f32; n * d];
            m.delta_all(&x, &mut da);
            [g, da].map(|v| v.iter().map(|f| f.to_bits()).collect::<Vec<u32>>())
        })
    };
    assert!(run(1) == run(3), "bf16x3 outputs differ between 1 and 3 threads");
}
