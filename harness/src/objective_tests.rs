//! Proof for the objectives: finite-difference gradients (f64), unbiasedness of `rm-uniform` and
//! `ggis-basic` against exact `rm`, zero variance of `ggis-basic` on the quadratic model,
//! determinism, and that training lowers the exact NLL.

use crate::eval::exact::{log_partition_exact, nll_exact};
use crate::objective::*;
use crate::optim::AdamConfig;
use crate::train::{train, TrainConfig};
use rmbench_datasets::rng::Stream;
use rmbench_kernels::{reference, BitBatch, EnergyModel, Quadratic};

/// Small models of every kind for gradient tests.
fn models(d: usize) -> Vec<Box<dyn EnergyModel>> {
    let mut q = Quadratic::random(d, 0.3, 1);
    q.params_mut()[d * d..].iter_mut().enumerate().for_each(|(i, v)| *v = 0.05 * (i % 3) as f32);
    vec![
        Box::new(q),
        Box::new(rmbench_kernels::Rbm::random(d, 5, 0.3, 2)),
        Box::new(rmbench_kernels::Mlp::new(d, 6, 2, 3)),
    ]
}

fn batch(n: usize, d: usize, seed: u64) -> BitBatch {
    let mut rng = Stream::new(seed, 0);
    let mut b = BitBatch::zeros(n, d);
    for r in 0..n {
        for i in 0..d {
            if rng.bernoulli(0.4) {
                b.set(r, i, true);
            }
        }
    }
    b
}

/// f64 loss of an objective from reference ΔE, with draws held fixed for the sampled ones.
fn loss_f64(model: &dyn EnergyModel, x: &BitBatch, obj: Objective, draws: Option<&Draws>) -> f64 {
    let n = x.n() as f64;
    match draws {
        None => {
            let de = reference::delta_all(model, x);
            de.iter()
                .map(|&v| match obj {
                    Objective::Rm => (-2.0 * v).exp(),
                    _ => {
                        let s = 1.0 / (1.0 + v.exp());
                        s * s
                    }
                })
                .sum::<f64>()
                / n
        }
        Some(dr) => {
            let de = reference::delta_at(model, x, &dr.idx);
            de.iter().zip(&dr.weight).map(|(&v, &w)| w * (-2.0 * v).exp()).sum::<f64>() / n
        }
    }
}

/// Central differences of `f` over a spread of parameters against `grad`.
fn check_fd(what: &str, model: &mut dyn EnergyModel, grad: &[f32], mut f: impl FnMut(&dyn EnergyModel) -> f64) {
    let np = model.num_params();
    let h = 1e-3f32;
    let scale = grad.iter().fold(0f32, |a, &g| a.max(g.abs())) as f64;
    for k in (0..np).step_by((np / 40).max(1)) {
        let orig = model.params()[k];
        model.params_mut()[k] = orig + h;
        let lp = f(model);
        model.params_mut()[k] = orig - h;
        let lm = f(model);
        model.params_mut()[k] = orig;
        let fd = (lp - lm) / (2.0 * h as f64);
        let g = grad[k] as f64;
        assert!(
            (fd - g).abs() <= 1e-3 * scale.max(1e-2) + 1e-3 * g.abs(),
            "{what}: param {k}: finite difference {fd} vs gradient {g}"
        );
    }
}

#[test]
fn exact_objectives_match_finite_differences() {
    let (n, d) = (3, 7);
    let x = batch(n, d, 4);
    for mut m in models(d) {
        for obj in [Objective::Rm, Objective::RmSigmoid] {
            let mut cfg = ObjectiveConfig::new(obj);
            cfg.chunk_flips = 10; // several chunks
            let mut g = vec![0f32; m.num_params()];
            let loss =
                loss_and_grad(&*m, &x, &cfg, &mut ObjectiveState::default(), &mut Stream::new(0, 0), &mut g).unwrap();
            let want = loss_f64(&*m, &x, obj, None);
            assert!((loss - want).abs() < 1e-4 * want.abs().max(1.0), "{obj} {:?}: loss {loss} vs {want}", m.kind());
            check_fd(&format!("{obj} {:?}", m.kind()), &mut *m, &g, |mm| loss_f64(mm, &x, obj, None));
        }
    }
}

#[test]
fn sampled_objectives_match_finite_differences_with_draws_fixed() {
    let (n, d) = (3, 9);
    let x = batch(n, d, 5);
    for mut m in models(d) {
        for (obj, wor) in [
            (Objective::RmUniform, false),
            (Objective::GgisBasic, false),
            (Objective::GgisBasic, true),
            (Objective::GgisAdvanced, false),
        ] {
            let mut cfg = ObjectiveConfig::new(obj);
            cfg.samples = 4;
            cfg.without_replacement = wor;
            let dr = draw(&*m, &x, &cfg, &mut Stream::new(3, 0));
            let mut g = vec![0f32; m.num_params()];
            let loss = apply_draws(&*m, &x, &dr, &mut g).unwrap();
            let want = loss_f64(&*m, &x, obj, Some(&dr));
            assert!((loss - want).abs() < 1e-4 * want.abs().max(1.0), "{obj}: loss {loss} vs {want}");
            check_fd(&format!("{obj} {:?}", m.kind()), &mut *m, &g, |mm| loss_f64(mm, &x, obj, Some(&dr)));
        }
    }
}

/// NCE loss in f64 from reference energies, drawing the noise exactly as `nce` does.
fn nce_loss_f64(model: &dyn EnergyModel, x: &BitBatch, st: &ObjectiveState, seed: u64) -> f64 {
    let (n, d) = (x.n(), x.d());
    let mut rng = Stream::new(seed, 0);
    let mut noise = BitBatch::zeros(n, d);
    for r in 0..n {
        for i in 0..d {
            if rng.bernoulli(st.noise_marginals[i]) {
                noise.set(r, i, true);
            }
        }
    }
    let lq = |b: &BitBatch, r: usize| -> f64 {
        (0..d).map(|i| if b.get(r, i) { st.noise_marginals[i].ln() } else { (1.0 - st.noise_marginals[i]).ln() }).sum()
    };
    let sp = |z: f64| z.max(0.0) + (-z.abs()).exp().ln_1p();
    let c = st.log_norm as f64;
    let ex = reference::energy(model, x);
    let en = reference::energy(model, &noise);
    let data: f64 = (0..n).map(|r| sp(ex[r] + c + lq(x, r))).sum();
    let nois: f64 = (0..n).map(|r| sp(-en[r] - c - lq(&noise, r))).sum();
    (data + nois) / n as f64
}

#[test]
fn nce_matches_finite_differences() {
    let (n, d) = (4, 6);
    let x = batch(n, d, 6);
    for mut m in models(d) {
        let cfg = ObjectiveConfig::new(Objective::Nce);
        let mut st = ObjectiveState::for_data(&x);
        st.log_norm = 0.3;
        let mut g = vec![0f32; m.num_params()];
        let loss = loss_and_grad(&*m, &x, &cfg, &mut st.clone(), &mut Stream::new(9, 0), &mut g).unwrap();
        let want = nce_loss_f64(&*m, &x, &st, 9);
        assert!((loss - want).abs() < 1e-4 * want.abs().max(1.0), "nce {:?}: loss {loss} vs {want}", m.kind());
        check_fd(&format!("nce {:?}", m.kind()), &mut *m, &g, |mm| nce_loss_f64(mm, &x, &st, 9));
    }
}

/// Mean of R estimator draws of the loss and of a few gradient entries, against exact `rm`,
/// within 5 standard errors estimated from the draws' own variance.
#[test]
fn uniform_and_ggis_basic_are_unbiased_for_rm() {
    let (n, d, reps) = (2, 10, 3000);
    let x = batch(n, d, 8);
    for m in models(d) {
        let np = m.num_params();
        let mut g_exact = vec![0f32; np];
        let exact = loss_and_grad(
            &*m,
            &x,
            &ObjectiveConfig::new(Objective::Rm),
            &mut ObjectiveState::default(),
            &mut Stream::new(0, 0),
            &mut g_exact,
        )
        .unwrap();
        let probe: Vec<usize> = (0..np).step_by((np / 5).max(1)).collect();
        for obj in [Objective::RmUniform, Objective::GgisBasic] {
            let mut cfg = ObjectiveConfig::new(obj);
            cfg.samples = 3;
            let mut rng = Stream::new(77, 0);
            let mut g = vec![0f32; np];
            let mut sums = vec![(0f64, 0f64); probe.len() + 1];
            for _ in 0..reps {
                let l = loss_and_grad(&*m, &x, &cfg, &mut ObjectiveState::default(), &mut rng, &mut g).unwrap();
                let vals = std::iter::once(l).chain(probe.iter().map(|&k| g[k] as f64));
                for (s, v) in sums.iter_mut().zip(vals) {
                    s.0 += v;
                    s.1 += v * v;
                }
            }
            let scale = g_exact.iter().fold(0f64, |a, &v| a.max(v.abs() as f64));
            let wants = std::iter::once(exact).chain(probe.iter().map(|&k| g_exact[k] as f64));
            for ((s, want), k) in sums.iter().zip(wants).zip(0..) {
                let mean = s.0 / reps as f64;
                let var = (s.1 / reps as f64 - mean * mean).max(0.0);
                let se = (var / reps as f64).sqrt();
                assert!(
                    (mean - want).abs() <= 5.0 * se + 1e-4 * want.abs() + 1e-4 * scale,
                    "{obj} {:?} quantity {k}: mean {mean} vs exact {want} (se {se})",
                    m.kind()
                );
            }
        }
    }
}

#[test]
fn ggis_basic_is_exact_on_the_quadratic_model() {
    let d = 20;
    let m = Quadratic::random(d, 0.4, 11);
    let x = batch(5, d, 12);
    let exact = rm_loss_exact(&m, &x);
    for s in [1usize, 2, 7, 30] {
        let mut cfg = ObjectiveConfig::new(Objective::GgisBasic);
        cfg.samples = s;
        let mut g = vec![0f32; m.num_params()];
        for seed in 0..5 {
            let l =
                loss_and_grad(&m, &x, &cfg, &mut ObjectiveState::default(), &mut Stream::new(seed, 0), &mut g).unwrap();
            assert!((l - exact).abs() < 1e-4 * exact, "s={s}: {l} vs {exact}");
        }
    }
}

#[test]
fn overflow_is_reported_not_propagated() {
    let d = 4;
    let mut m = Quadratic::zeros(d);
    m.params_mut()[d * d] = -200.0; // h₀ = −200 ⇒ ΔE₀ = ±400 ⇒ exp(800) for some x
    m.params_changed();
    let x = BitBatch::from_dense_u8(1, d, &[1, 0, 0, 0]).unwrap();
    let mut g = vec![0f32; m.num_params()];
    let r = loss_and_grad(
        &m,
        &x,
        &ObjectiveConfig::new(Objective::Rm),
        &mut ObjectiveState::default(),
        &mut Stream::new(0, 0),
        &mut g,
    );
    assert!(matches!(r, Err(ObjectiveError::Overflow { row: 0, bit: 0, .. })), "{r:?}");
}

/// The gradient check finds a NaN or ±∞ anywhere, including at chunk edges and the tail.
#[test]
fn non_finite_gradients_are_found_anywhere() {
    let n = 3 * (1 << 14) + 5;
    assert!(!crate::objective::has_non_finite(&vec![0.5f32; n]));
    for (at, v) in [(0, f32::NAN), ((1 << 14) - 1, f32::INFINITY), (1 << 14, f32::NEG_INFINITY), (n - 1, f32::NAN)] {
        let mut g = vec![0.5f32; n];
        g[at] = v;
        assert!(crate::objective::has_non_finite(&g), "{v} at {at}");
    }
}

fn toy_data(d: usize, n: usize) -> BitBatch {
    // Two noisy prototypes: a clearly non-uniform distribution.
    let mut rng = Stream::new(42, 0);
    let mut b = BitBatch::zeros(n, d);
    for r in 0..n {
        let proto = r % 2;
        for i in 0..d {
            let bit = (i % 2 == proto) != rng.bernoulli(0.1);
            b.set(r, i, bit);
        }
    }
    b
}

#[test]
fn training_lowers_exact_nll_for_every_objective() {
    let d = 10;
    let data = toy_data(d, 400);
    let mut results = Vec::new();
    let mut ok = true;
    for kind in 0..3 {
        for obj in Objective::ALL {
            let mut m = models(d).swap_remove(kind);
            let nll0 = nll_exact(&*m, &data, log_partition_exact(&*m).unwrap());
            let mut cfg = ObjectiveConfig::new(obj);
            cfg.samples = 5;
            let tc = TrainConfig {
                objective: cfg,
                adam: AdamConfig { lr: 2e-2, ..Default::default() },
                batch: 64,
                steps: 150,
                seed: 1,
                log_every: 0,
            };
            train(&mut *m, &data, &tc, |_, _| Vec::new(), |_| Ok(()), |_| {}).unwrap();
            let nll1 = nll_exact(&*m, &data, log_partition_exact(&*m).unwrap());
            // Uniform is d·ln2 ≈ 6.93 nats; the data's entropy is ≈ 10·H(0.1) + ln 2 ≈ 3.9.
            results.push(format!("{obj} {:?}: NLL {nll0:.3} → {nll1:.3}", m.kind()));
            ok &= nll1 < nll0 - 0.5;
        }
    }
    eprintln!("{}", results.join("\n"));
    assert!(ok, "some objective did not lower the NLL by 0.5 nats:\n{}", results.join("\n"));
}

#[test]
fn same_seed_same_losses() {
    let d = 12;
    let data = toy_data(d, 100);
    for obj in [Objective::GgisBasic, Objective::GgisAdvanced, Objective::Rm, Objective::Nce, Objective::PcdGwg] {
        let run = || {
            let mut m = models(d).swap_remove(2);
            let mut losses = Vec::new();
            let tc = TrainConfig {
                objective: ObjectiveConfig::new(obj),
                adam: AdamConfig::default(),
                batch: 16,
                steps: 20,
                seed: 5,
                log_every: 1,
            };
            train(
                &mut *m,
                &data,
                &tc,
                |_, _| Vec::new(),
                |r| {
                    losses.push(r.loss.to_bits());
                    Ok(())
                },
                |_| {},
            )
            .unwrap();
            (losses, m.params().to_vec())
        };
        assert_eq!(run(), run(), "{obj}");
    }
}

/// `n` exact samples of `model` (inverse CDF over its 2^d probabilities).
fn exact_samples(model: &dyn EnergyModel, n: usize, seed: u64) -> BitBatch {
    let p = crate::eval::exact::probabilities_exact(model).unwrap();
    let d = model.dim();
    let mut rng = Stream::new(seed, 0);
    let mut b = BitBatch::zeros(n, d);
    for r in 0..n {
        let u = rng.uniform();
        let mut acc = 0.0;
        let s = p.iter().position(|&q| {
            acc += q;
            acc > u
        });
        let s = s.unwrap_or(p.len() - 1);
        (0..d).filter(|i| (s >> i) & 1 == 1).for_each(|i| b.set(r, i, true));
    }
    b
}

/// The population minimizer of the generalized `rm` loss Σᵢ exp(−2ΔEᵢ) is the tempered model
/// p^{1/4}: per pair {x, x₋ᵢ}, p(x)e^{−2u} + p(x₋ᵢ)e^{2u} is least at u = ¼·log(p(x)/p(x₋ᵢ)). On
/// data from a quadratic model (a family closed under scaling) full-batch `rm` therefore learns
/// J*/4 and h*/4, while Hyvärinen's `rm-sigmoid` (minimized at u = log(p(x)/p(x₋ᵢ))) and maximum
/// likelihood by PCD learn J* itself.
#[test]
fn rm_learns_the_quarter_tempered_model_and_rm_sigmoid_the_model() {
    let d = 6;
    let mut truth = Quadratic::random(d, 0.8, 11);
    truth.params_mut()[d * d..].iter_mut().enumerate().for_each(|(i, v)| *v = 0.2 * (i as f32 - 2.5) / 2.5);
    truth.params_changed();
    let data = exact_samples(&truth, 20000, 3);
    let fit = |obj: Objective, steps: usize, lr: f32, batch: usize| {
        let mut m = Quadratic::zeros(d);
        let tc = TrainConfig {
            objective: ObjectiveConfig::new(obj),
            adam: AdamConfig { lr, weight_decay: 0.0, clip: 0.0, ..Default::default() },
            batch,
            steps,
            seed: 2,
            log_every: 0,
        };
        train(&mut m, &data, &tc, |_, _| Vec::new(), |_| Ok(()), |_| {}).unwrap();
        m.params().to_vec()
    };
    // Largest deviation of the learned parameters from truth·scale, over J (off-diagonal) and h.
    let err = |learned: &[f32], scale: f32| {
        learned.iter().zip(truth.params()).map(|(l, t)| (l - scale * t).abs()).fold(0f32, f32::max)
    };
    let rm = fit(Objective::Rm, 1500, 0.02, 20000);
    let sig = fit(Objective::RmSigmoid, 1500, 0.05, 20000);
    let pcd = fit(Objective::PcdGwg, 800, 0.02, 500);
    let scale_of = |p: &[f32]| {
        let (num, den) = p
            .iter()
            .zip(truth.params())
            .fold((0f64, 0f64), |(a, b), (l, t)| (a + *l as f64 * *t as f64, b + *t as f64 * *t as f64));
        num / den
    };
    let msg = format!(
        "fitted scale: rm {:.3}, rm-sigmoid {:.3}, pcd-gwg {:.3}; max error rm vs ¼ {:.3}, rm-sigmoid vs 1 {:.3}, pcd vs 1 {:.3}",
        scale_of(&rm),
        scale_of(&sig),
        scale_of(&pcd),
        err(&rm, 0.25),
        err(&sig, 1.0),
        err(&pcd, 1.0)
    );
    eprintln!("{msg}");
    assert!(err(&rm, 0.25) < 0.04 && err(&sig, 1.0) < 0.12 && err(&pcd, 1.0) < 0.15, "{msg}");
}
