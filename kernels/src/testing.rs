//! The shared differential runner: fast paths against `reference`, on many shapes and bit patterns.
//!
//! Float comparisons pass when |fast − ref| ≤ max(rel·|ref|, abs) elementwise; failures report the
//! worst index. Model kernels run with the process ISA (CI repeats the suite with
//! `RMBENCH_ISA=scalar` and `avx2`); primitives are called once per ISA explicitly.

use crate::bits::BitBatch;
use crate::model::EnergyModel;
use crate::reference;

/// Dimensions every primitive is checked at.
pub fn dims() -> Vec<usize> {
    let mut v: Vec<usize> = (1..=130).collect();
    v.extend([255, 256, 257, 511, 512, 513]);
    v
}

/// Batch sizes every kernel is checked at.
pub const NS: [usize; 4] = [0, 1, 7, 64];

/// SplitMix64 step, for test data without the datasets crate.
pub fn next(z: &mut u64) -> u64 {
    *z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut y = *z;
    y = (y ^ (y >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    y = (y ^ (y >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    y ^ (y >> 31)
}

/// Named bit patterns of an n × d batch: random (density ½), sparse, all-zero, all-one, alternating.
pub fn patterns(n: usize, d: usize, seed: u64) -> Vec<(&'static str, BitBatch)> {
    let mut z = seed;
    let make = |f: &mut dyn FnMut(usize, usize) -> bool| {
        let mut b = BitBatch::zeros(n, d);
        for r in 0..n {
            for i in 0..d {
                if f(r, i) {
                    b.set(r, i, true);
                }
            }
        }
        b
    };
    let random = make(&mut |_, _| next(&mut z) & 1 == 1);
    let sparse = make(&mut |_, _| next(&mut z).is_multiple_of(8));
    vec![
        ("random", random),
        ("sparse", sparse),
        ("zeros", make(&mut |_, _| false)),
        ("ones", make(&mut |_, _| true)),
        ("alternating", make(&mut |r, i| (r + i) % 2 == 0)),
    ]
}

/// Random indices in 0..d, s per row.
pub fn random_idx(n: usize, s: usize, d: usize, seed: u64) -> Vec<u32> {
    let mut z = seed;
    (0..n * s).map(|_| (next(&mut z) % d as u64) as u32).collect()
}

/// Random weights in [−1, 1).
pub fn random_weights(len: usize, seed: u64) -> Vec<f32> {
    let mut z = seed;
    (0..len).map(|_| (next(&mut z) >> 40) as f32 / (1u64 << 23) as f32 - 1.0).collect()
}

/// Asserts |fast − ref| ≤ max(rel·|ref|, abs) elementwise, naming the worst index.
pub fn assert_close(what: &str, fast: &[f32], want: &[f64], rel: f64, abs: f64) {
    assert_eq!(fast.len(), want.len(), "{what}: length");
    let mut worst: Option<(usize, f64)> = None;
    for (k, (&f, &w)) in fast.iter().zip(want).enumerate() {
        let err = (f as f64 - w).abs();
        let tol = (rel * w.abs()).max(abs);
        // NaN on either side fails too.
        if err.is_nan() || err > tol {
            let excess = err / tol;
            if worst.is_none_or(|(_, e)| excess > e) {
                worst = Some((k, excess));
            }
        }
    }
    if let Some((k, _)) = worst {
        panic!("{what}: worst mismatch at index {k}: fast {} vs reference {} (rel {rel}, abs {abs})", fast[k], want[k]);
    }
}

/// Tolerances for one model's kernels.
#[derive(Clone, Copy)]
pub struct Tol {
    /// Relative tolerance.
    pub rel: f64,
    /// Absolute tolerance.
    pub abs: f64,
}

/// Checks all five kernels of `model` against the reference on batch `x`, with s flips per row.
pub fn check_model(what: &str, model: &dyn EnergyModel, x: &BitBatch, s: usize, tol: Tol, seed: u64) {
    let (n, d) = (x.n(), x.d());
    let mut e = vec![0f32; n];
    model.energy(x, &mut e);
    assert_close(&format!("{what} energy"), &e, &reference::energy(model, x), tol.rel, tol.abs);

    let mut da = vec![0f32; n * d];
    model.delta_all(x, &mut da);
    assert_close(&format!("{what} delta_all"), &da, &reference::delta_all(model, x), tol.rel, tol.abs);

    let idx = random_idx(n, s, d.max(1), seed);
    if d > 0 {
        let mut dat = vec![0f32; n * s];
        model.delta_at(x, &idx, &mut dat);
        assert_close(&format!("{what} delta_at"), &dat, &reference::delta_at(model, x, &idx), tol.rel, tol.abs);
    }

    let mut e2 = vec![0f32; n];
    let mut g = vec![0f32; n * d];
    model.input_grad(x, &mut e2, &mut g);
    assert_close(&format!("{what} input_grad energy"), &e2, &reference::energy(model, x), tol.rel, tol.abs);
    assert_close(&format!("{what} input_grad"), &g, &reference::input_grad(model, x), tol.rel, tol.abs);

    if d > 0 {
        let wb = random_weights(n, seed ^ 1);
        let wf = random_weights(n * s, seed ^ 2);
        let mut pg = vec![0f32; model.num_params()];
        model.param_grad(x, &wb, &idx, &wf, &mut pg);
        let want = reference::param_grad(model, x, &wb, &idx, &wf);
        // Sums over n·(s+1) terms: scale the absolute tolerance with the number of terms.
        let abs = tol.abs * ((n * (s + 1)) as f64).max(1.0);
        assert_close(&format!("{what} param_grad"), &pg, &want, tol.rel, abs);
    }
}

/// Central finite differences (f64, step 1e-5) of the reference energy against the reference
/// parameter and input gradients at a few real-valued points in [0,1]^d.
pub fn check_finite_differences(what: &str, model: &mut dyn EnergyModel, seed: u64) {
    let d = model.dim();
    let mut z = seed;
    let x: Vec<f64> = (0..d).map(|_| (next(&mut z) % 1000) as f64 / 1000.0).collect();
    let ev = reference::eval(model, &x);
    let h = 1e-3f64;
    // Input gradient.
    for i in 0..d {
        let mut xp = x.clone();
        xp[i] += h;
        let mut xm = x.clone();
        xm[i] -= h;
        let fd = (reference::eval(model, &xp).energy - reference::eval(model, &xm).energy) / (2.0 * h);
        let g = ev.input_grad[i];
        assert!((fd - g).abs() <= 1e-3 * g.abs().max(1.0), "{what}: ∂E/∂x{i}: fd {fd} vs {g}");
    }
    // Parameter gradient: perturb stored f32 parameters (h large enough for f32 storage).
    let np = model.num_params();
    let step = (np / 60).max(1);
    for k in (0..np).step_by(step) {
        let orig = model.params()[k];
        let hp = 1e-2f32;
        model.params_mut()[k] = orig + hp;
        let ep = reference::eval(model, &x).energy;
        model.params_mut()[k] = orig - hp;
        let em = reference::eval(model, &x).energy;
        model.params_mut()[k] = orig;
        let fd = (ep - em) / (2.0 * hp as f64);
        let g = ev.param_grad[k];
        assert!((fd - g).abs() <= 2e-3 * g.abs().max(1.0), "{what}: ∂E/∂θ[{k}]: fd {fd} vs {g}");
    }
}

/// ΔE from `delta_all` against E(x₋ᵢ) − E(x) from the model's own fast `energy` on every flipped row.
pub fn check_delta_brute_force(what: &str, m: &dyn EnergyModel, x: &BitBatch) {
    let (n, d) = (x.n(), x.d());
    let mut da = vec![0f32; n * d];
    m.delta_all(x, &mut da);
    let mut e0 = vec![0f32; n];
    m.energy(x, &mut e0);
    for r in 0..n {
        for i in 0..d {
            let mut y = x.select_rows(&[r]);
            y.flip(0, i);
            let mut e1 = [0f32];
            m.energy(&y, &mut e1);
            let want = e1[0] - e0[r];
            assert!((da[r * d + i] - want).abs() < 1e-3 * want.abs().max(1.0), "{what}: r={r} i={i}");
        }
    }
}

/// A model's `site_state` along a walk of `steps` single-bit flips from random bits (a flip at
/// every other visited site): its ΔE at every visited site against the f64 reference evaluated
/// from the bits alone.
pub fn check_site_walk(what: &str, m: &dyn EnergyModel, steps: usize, seed: u64) {
    let d = m.dim();
    let mut x = BitBatch::zeros(1, d);
    let mut z = seed;
    for i in 0..d {
        x.set(0, i, next(&mut z).is_multiple_of(3));
    }
    let mut st = m.site_state(x.row(0)).expect("the model has a site state");
    for step in 0..steps {
        let i = (next(&mut z) % d as u64) as usize;
        let got = st.delta(x.row(0), i);
        let want = reference::delta_at(m, &x, &[i as u32])[0];
        assert!((got as f64 - want).abs() < 1e-4 * (1.0 + want.abs()), "{what} step {step}: {got} vs {want}");
        if step % 2 == 0 {
            x.flip(0, i);
            st.flipped(x.row(0), i);
        }
    }
}

/// `gray_energies` over states start..start+count (all < 2^d) against the model's batched `energy`
/// on the same Gray-code states.
pub fn check_gray_walk(what: &str, m: &dyn EnergyModel, start: u64, count: u64) {
    let d = m.dim();
    assert!(start + count <= 1 << d, "{what}: states beyond 2^d");
    let mut walked = Vec::new();
    assert!(m.gray_energies(start, count, &mut |e| walked.push(e)), "{what}: no Gray walk");
    let states: Vec<u64> = (start..start + count).map(|k| k ^ (k >> 1)).collect();
    let x = BitBatch::from_words(states.len(), d, states).expect("states fit in d bits");
    let mut e = vec![0f32; x.n()];
    m.energy(&x, &mut e);
    for (k, (a, b)) in walked.iter().zip(&e).enumerate() {
        assert!((a - *b as f64).abs() < 1e-3 * (*b as f64).abs().max(1.0), "{what}: state {k}: {a} vs {b}");
    }
}
