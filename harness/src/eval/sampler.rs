//! MCMC samplers over a learned model on bit-packed batches of parallel chains.
//!
//! - Systematic-scan Gibbs: for i = 0..d, every chain flips bit i with probability σ(−ΔEᵢ(x)),
//!   one `delta_at` call over all chains per site (an exact single-site Gibbs update), or, for
//!   models with a per-chain incremental state (`EnergyModel::site_state`, the RBM), each chain
//!   scanning on its own from that state.
//! - Gibbs-with-Gradients (Grathwohl et al. 2021): propose flipping bit i from
//!   q(i|x) = softmax(−ΔẼ(x)/2)ᵢ with ΔẼᵢ = (1 − 2xᵢ)·∂E/∂xᵢ the first-order estimate of ΔEᵢ, and
//!   accept with min(1, exp(−ΔEᵢ)·q(i|x')/q(i|x)).
//!
//! Chain c draws from `Stream::new(seed, c)`, so results do not depend on the thread count.

use crate::proposal::{draw_iid, softmax};
use rmbench_datasets::rng::Stream;
use rmbench_kernels::{BitBatch, EnergyModel};

/// Chains started uniformly at random.
pub fn uniform_chains(m: usize, d: usize, seed: u64) -> (BitBatch, Vec<Stream>) {
    let mut rngs: Vec<Stream> = (0..m).map(|c| Stream::new(seed, c as u64)).collect();
    let mut x = BitBatch::zeros(m, d);
    for (r, rng) in rngs.iter_mut().enumerate() {
        for i in 0..d {
            if rng.next_u64() & 1 == 1 {
                x.set(r, i, true);
            }
        }
    }
    (x, rngs)
}

/// Flip probability σ(−ΔE) in f64.
fn flip_prob(delta: f32) -> f64 {
    1.0 / (1.0 + (delta as f64).exp())
}

/// `sweeps` systematic-scan Gibbs sweeps over all chains of `x` at inverse temperature `beta` for the
/// model, with an optional independent-Bernoulli base mixed in: the target is
/// exp(−β·E(x) + (1 − β)·log p₀(x)) (β = 1, no base: the model itself).
pub fn gibbs_sweeps(
    model: &dyn EnergyModel,
    x: &mut BitBatch,
    rngs: &mut [Stream],
    sweeps: usize,
    beta: f64,
    base: Option<&[f64]>,
) {
    let (m, d) = (x.n(), x.d());
    if beta != 0.0 && m > 0 && model.site_state(x.row(0)).is_some() {
        // A per-chain incremental state (the RBM, the quadratic model): every chain runs all its
        // sweeps in one parallel task, drawing the same uniforms in the same order as the
        // batched scan below.
        use rayon::prelude::*;
        let xr = &*x;
        let rows: Vec<Vec<u64>> = rngs
            .par_iter_mut()
            .enumerate()
            .map(|(r, rng)| {
                let mut row = xr.row(r).to_vec();
                let mut st = model.site_state(&row).expect("site_state: the model offered one");
                for _ in 0..sweeps {
                    for i in 0..d {
                        let on = rmbench_kernels::bits::bit(&row, i) == 1;
                        let de = target_delta(st.delta(&row, i), beta, base, i, on);
                        if rng.uniform() < flip_prob(de as f32) {
                            row[i / 64] ^= 1 << (i % 64);
                            st.flipped(&row, i);
                        }
                    }
                }
                row
            })
            .collect();
        for (r, row) in rows.iter().enumerate() {
            x.set_row(r, row);
        }
        return;
    }
    let mut delta = vec![0f32; m];
    // For the MLP a ΔE costs two forward passes (base and flip); keeping each chain's current
    // energy halves that: only the flipped rows are evaluated. Other models have O(H) or O(popcount)
    // single-site ΔE kernels and use them directly.
    let cache = model.kind() == rmbench_kernels::ModelKind::Mlp && beta != 0.0;
    let mut e_cur = vec![0f32; if cache { m } else { 0 }];
    let mut e_flip = vec![0f32; if cache { m } else { 0 }];
    if cache {
        model.energy(x, &mut e_cur);
    }
    for _ in 0..sweeps {
        for i in 0..d {
            if cache {
                let mut xf = x.clone();
                for r in 0..m {
                    xf.flip(r, i);
                }
                model.energy(&xf, &mut e_flip);
                for r in 0..m {
                    delta[r] = e_flip[r] - e_cur[r];
                }
            } else if beta != 0.0 {
                let idx = vec![i as u32; m];
                model.delta_at(x, &idx, &mut delta);
            }
            for (r, rng) in rngs.iter_mut().enumerate() {
                let de = target_delta(delta[r], beta, base, i, x.get(r, i));
                if rng.uniform() < flip_prob(de as f32) {
                    x.flip(r, i);
                    if cache {
                        e_cur[r] = e_flip[r];
                    }
                }
            }
        }
    }
}

/// Δ of −log target when flipping bit i (now `on`): β·ΔE − (1 − β)·Δlog p₀.
fn target_delta(delta: f32, beta: f64, base: Option<&[f64]>, i: usize, on: bool) -> f64 {
    let mut de = beta * delta as f64;
    if let Some(p) = base {
        let lp = (p[i] / (1.0 - p[i])).ln(); // log p₀(xᵢ=1) − log p₀(xᵢ=0)
        de -= (1.0 - beta) * if on { -lp } else { lp };
    }
    de
}

/// `steps` Gibbs-with-Gradients steps (one proposed flip per chain per step).
/// Returns the acceptance rate.
pub fn gwg_steps(model: &dyn EnergyModel, x: &mut BitBatch, rngs: &mut [Stream], steps: usize) -> f64 {
    let (m, d) = (x.n(), x.d());
    let mut e = vec![0f32; m];
    let mut logits = vec![0f32; m * d];
    let mut e2 = vec![0f32; m];
    let mut logits2 = vec![0f32; m * d];
    let (mut q, mut cdf, mut draw) = (Vec::new(), Vec::new(), Vec::new());
    let mut accepted = 0usize;
    // proposal_logits = 2(2x−1)g = −2ΔẼ; GWG uses −ΔẼ/2, a quarter of it.
    model.proposal_logits(x, &mut e, &mut logits);
    logits.iter_mut().for_each(|v| *v *= 0.25);
    for _ in 0..steps {
        let mut prop = x.clone();
        let mut chosen = vec![0usize; m];
        let mut log_q_fwd = vec![0f64; m];
        for (r, rng) in rngs.iter_mut().enumerate() {
            softmax(&logits[r * d..(r + 1) * d], &mut q);
            draw.clear();
            draw_iid(&q, 1, rng, &mut cdf, &mut draw);
            let i = draw[0] as usize;
            chosen[r] = i;
            log_q_fwd[r] = q[i].ln();
            prop.flip(r, i);
        }
        model.proposal_logits(&prop, &mut e2, &mut logits2);
        logits2.iter_mut().for_each(|v| *v *= 0.25);
        for (r, rng) in rngs.iter_mut().enumerate() {
            softmax(&logits2[r * d..(r + 1) * d], &mut q);
            let log_q_rev = q[chosen[r]].ln();
            let log_a = (e[r] - e2[r]) as f64 + log_q_rev - log_q_fwd[r];
            if rng.uniform_open0().ln() < log_a {
                x.flip(r, chosen[r]);
                e[r] = e2[r];
                logits[r * d..(r + 1) * d].copy_from_slice(&logits2[r * d..(r + 1) * d]);
                accepted += 1;
            }
        }
    }
    accepted as f64 / (m * steps).max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::exact::probabilities_exact;
    use rmbench_kernels::Quadratic;

    /// Per-bit marginals and one pairwise correlation of many chains against the exact distribution.
    fn check_against_exact(x: &BitBatch, p: &[f64], what: &str) {
        let (m, d) = (x.n(), x.d());
        for i in 0..d {
            let want: f64 = p.iter().enumerate().filter(|(s, _)| (s >> i) & 1 == 1).map(|(_, v)| v).sum();
            let got = (0..m).filter(|&r| x.get(r, i)).count() as f64 / m as f64;
            let se = (want * (1.0 - want) / m as f64).sqrt();
            assert!((got - want).abs() < 5.0 * se + 0.01, "{what}: bit {i}: {got} vs exact {want}");
        }
        let want: f64 = p.iter().enumerate().filter(|(s, _)| (s & 1) == ((s >> 1) & 1)).map(|(_, v)| v).sum();
        let got = (0..m).filter(|&r| x.get(r, 0) == x.get(r, 1)).count() as f64 / m as f64;
        assert!(
            (got - want).abs() < 5.0 * (want * (1.0 - want) / m as f64).sqrt() + 0.01,
            "{what}: pair {got} vs {want}"
        );
    }

    #[test]
    fn gibbs_and_gwg_reach_the_exact_marginals() {
        let d = 8;
        let mut m = Quadratic::random(d, 0.6, 4);
        m.params_mut()[d * d..].iter_mut().enumerate().for_each(|(i, v)| *v = 0.3 * (i as f32 - 3.5) / 3.5);
        m.params_changed();
        let p = probabilities_exact(&m).unwrap();
        let (mut x, mut rngs) = uniform_chains(4000, d, 1);
        gibbs_sweeps(&m, &mut x, &mut rngs, 30, 1.0, None);
        check_against_exact(&x, &p, "gibbs");
        let (mut x, mut rngs) = uniform_chains(4000, d, 2);
        let acc = gwg_steps(&m, &mut x, &mut rngs, 150);
        assert!(acc > 0.2, "acceptance {acc}");
        check_against_exact(&x, &p, "gwg");
    }

    /// The RBM takes the per-chain site-state path; a tempered target with a base mixed in
    /// (AIS's intermediate distributions) takes it too.
    #[test]
    fn gibbs_on_an_rbm_reaches_the_exact_marginals() {
        let d = 7;
        let mut m = rmbench_kernels::Rbm::random(d, 5, 1.5, 9);
        m.params_mut().iter_mut().skip(d * 5).enumerate().for_each(|(i, v)| *v = 0.4 * ((i % 3) as f32 - 1.0));
        m.params_changed();
        let p = probabilities_exact(&m).unwrap();
        let (mut x, mut rngs) = uniform_chains(4000, d, 6);
        gibbs_sweeps(&m, &mut x, &mut rngs, 30, 1.0, None);
        check_against_exact(&x, &p, "gibbs rbm");
        // β = ½ with base p₀: target ∝ p(x)^½·p₀(x)^½.
        let base: Vec<f64> = (0..d).map(|i| 0.2 + 0.1 * i as f64).collect();
        let lp0 = |s: usize| -> f64 {
            (0..d).map(|i| if (s >> i) & 1 == 1 { base[i].ln() } else { (1.0 - base[i]).ln() }).sum()
        };
        let w: Vec<f64> = (0..p.len()).map(|s| 0.5 * p[s].ln() + 0.5 * lp0(s)).collect();
        let mx = w.iter().cloned().fold(f64::MIN, f64::max);
        let z: f64 = w.iter().map(|v| (v - mx).exp()).sum();
        let q: Vec<f64> = w.iter().map(|v| (v - mx).exp() / z).collect();
        let (mut x, mut rngs) = uniform_chains(4000, d, 7);
        gibbs_sweeps(&m, &mut x, &mut rngs, 30, 0.5, Some(&base));
        check_against_exact(&x, &q, "gibbs rbm tempered");
    }

    /// The MLP takes the cached-energy Gibbs path.
    #[test]
    fn gibbs_on_an_mlp_reaches_the_exact_marginals() {
        let d = 7;
        let mut m = rmbench_kernels::Mlp::new(d, 8, 2, 3);
        m.params_mut().iter_mut().for_each(|v| *v *= 3.0);
        let p = probabilities_exact(&m).unwrap();
        let (mut x, mut rngs) = uniform_chains(4000, d, 5);
        gibbs_sweeps(&m, &mut x, &mut rngs, 30, 1.0, None);
        check_against_exact(&x, &p, "gibbs mlp");
    }
}
