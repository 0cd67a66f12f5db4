//! log Z estimators for models too large to enumerate, each with its own standard error.
//!
//! All use the independent-Bernoulli base p₀(x) = Πᵢ pᵢ^xᵢ (1−pᵢ)^(1−xᵢ) (normalized) and the
//! unnormalized model q(x) = exp(−E(x)); log w = −E(x) − log p₀(x).
//! - `importance`: x ~ p₀, Ẑ = mean w. Standard error of log Ẑ by the delta method,
//!   sd(w)/(√N·mean w), computed from normalized weights.
//! - `ais`: annealed importance sampling along the geometric path π_β ∝ p₀^(1−β)·q^β with K
//!   linearly spaced β, one Gibbs sweep per temperature, M chains; same delta-method error.
//! - `bridge`: Meng & Wong's iterative optimal bridge between N₁ base samples and N₂ model samples
//!   (from Gibbs after burn-in); standard error from B = 10 independent batch estimates.

use super::sampler::{gibbs_sweeps, uniform_chains};
use rmbench_datasets::rng::Stream;
use rmbench_kernels::{BitBatch, EnergyModel};
use serde::Serialize;

/// A log Z estimate with its standard error.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct LogZEstimate {
    /// Estimated log Z (natural log).
    pub log_z: f64,
    /// Standard error of `log_z`.
    pub stderr: f64,
    /// `exact`, `importance`, `ais` or `bridge`.
    pub method: &'static str,
    /// Samples (or chains) used.
    pub n_samples: usize,
}

fn log_base(x: &BitBatch, r: usize, p: &[f64]) -> f64 {
    (0..x.d()).map(|i| if x.get(r, i) { p[i].ln() } else { (1.0 - p[i]).ln() }).sum()
}

fn sample_base(n: usize, p: &[f64], rng: &mut Stream) -> BitBatch {
    let mut x = BitBatch::zeros(n, p.len());
    for r in 0..n {
        for (i, &pi) in p.iter().enumerate() {
            if rng.bernoulli(pi) {
                x.set(r, i, true);
            }
        }
    }
    x
}

/// log mean exp of log-weights and the delta-method standard error of it.
fn log_mean_exp_se(lw: &[f64]) -> (f64, f64) {
    let m = lw.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let w: Vec<f64> = lw.iter().map(|v| (v - m).exp()).collect();
    let n = w.len() as f64;
    let mean = w.iter().sum::<f64>() / n;
    let var = w.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (m + mean.ln(), (var / n).sqrt() / mean)
}

/// Per-bit base probabilities: the data's marginals clamped to [0.01, 0.99], or ½.
pub fn base_marginals(data: Option<&BitBatch>, d: usize) -> Vec<f64> {
    match data {
        Some(x) if x.n() > 0 => (0..d)
            .map(|i| ((0..x.n()).filter(|&r| x.get(r, i)).count() as f64 / x.n() as f64).clamp(0.01, 0.99))
            .collect(),
        _ => vec![0.5; d],
    }
}

/// Plain importance sampling with the Bernoulli base.
pub fn importance(model: &dyn EnergyModel, base: &[f64], n: usize, seed: u64) -> LogZEstimate {
    let x = sample_base(n, base, &mut Stream::new(seed, 0x15));
    let mut e = vec![0f32; n];
    model.energy(&x, &mut e);
    let lw: Vec<f64> = (0..n).map(|r| -(e[r] as f64) - log_base(&x, r, base)).collect();
    let (log_z, stderr) = log_mean_exp_se(&lw);
    LogZEstimate { log_z, stderr, method: "importance", n_samples: n }
}

/// Annealed importance sampling with `temps` temperatures and `chains` chains.
pub fn ais(model: &dyn EnergyModel, base: &[f64], temps: usize, chains: usize, seed: u64) -> LogZEstimate {
    let d = model.dim();
    let mut root = Stream::new(seed, 0xA15);
    let mut x = sample_base(chains, base, &mut root);
    let mut rngs: Vec<Stream> = (0..chains).map(|c| Stream::new(seed ^ 0xA1, c as u64)).collect();
    let mut lw = vec![0f64; chains];
    let mut e = vec![0f32; chains];
    let lb = |x: &BitBatch| -> Vec<f64> { (0..x.n()).map(|r| log_base(x, r, base)).collect() };
    let k = temps.max(1);
    for t in 1..=k {
        let (b0, b1) = ((t - 1) as f64 / k as f64, t as f64 / k as f64);
        model.energy(&x, &mut e);
        let l0 = lb(&x);
        for r in 0..chains {
            // log π_β = (1−β)·log p₀ − β·E: weight increment (b1 − b0)·(−E − log p₀).
            lw[r] += (b1 - b0) * (-(e[r] as f64) - l0[r]);
        }
        if t < k || d == 0 {
            gibbs_sweeps(model, &mut x, &mut rngs, 1, b1, Some(base));
        }
    }
    let (log_z, stderr) = log_mean_exp_se(&lw);
    LogZEstimate { log_z, stderr, method: "ais", n_samples: chains }
}

/// One bridge-sampling estimate from base samples (log-weights `l1` = log q − log p₀ at them) and
/// model samples (`l2` at them), by the Meng–Wong fixed-point iteration in log space.
fn bridge_once(l1: &[f64], l2: &[f64]) -> f64 {
    let (n1, n2) = (l1.len() as f64, l2.len() as f64);
    let (ls1, ls2) = ((n1 / (n1 + n2)).ln(), (n2 / (n1 + n2)).ln());
    let lse = |v: &mut dyn Iterator<Item = f64>| -> f64 {
        let v: Vec<f64> = v.collect();
        let m = v.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        m + v.iter().map(|x| (x - m).exp()).sum::<f64>().ln()
    };
    let log_add = |a: f64, b: f64| a.max(b) + (-(a - b).abs()).exp().ln_1p();
    let mut r = lse(&mut l1.iter().cloned()) - n1.ln(); // IS start
    for _ in 0..200 {
        // r = [mean over model of 1/(s1·l + s2·r)] / [mean over base of l/(s1·l + s2·r)]... in the
        // p₀-normalized form: Z = E_p₀[l·h] / E_q[h], h = 1/(s1·l + s2·Z).
        let num = lse(&mut l1.iter().map(|&l| l - log_add(ls1 + l, ls2 + r))) - n1.ln();
        let den = lse(&mut l2.iter().map(|&l| -log_add(ls1 + l, ls2 + r))) - n2.ln();
        let next = num - den;
        if (next - r).abs() < 1e-10 {
            return next;
        }
        r = next;
    }
    r
}

/// Bridge sampling with `n` base samples and `n` model samples (Gibbs, `burn_in` sweeps from
/// uniform starts).
pub fn bridge(model: &dyn EnergyModel, base: &[f64], n: usize, burn_in: usize, seed: u64) -> LogZEstimate {
    let d = model.dim();
    let xb = sample_base(n, base, &mut Stream::new(seed, 0xB1));
    let (mut xm, mut rngs) = uniform_chains(n, d, seed ^ 0xB2);
    gibbs_sweeps(model, &mut xm, &mut rngs, burn_in, 1.0, None);
    let lw = |x: &BitBatch| -> Vec<f64> {
        let mut e = vec![0f32; x.n()];
        model.energy(x, &mut e);
        (0..x.n()).map(|r| -(e[r] as f64) - log_base(x, r, base)).collect()
    };
    let (l1, l2) = (lw(&xb), lw(&xm));
    let log_z = bridge_once(&l1, &l2);
    let b = 10;
    let per = n / b;
    let ests: Vec<f64> =
        (0..b).map(|k| bridge_once(&l1[k * per..(k + 1) * per], &l2[k * per..(k + 1) * per])).collect();
    let mean = ests.iter().sum::<f64>() / b as f64;
    let sd = (ests.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (b - 1) as f64).sqrt();
    LogZEstimate { log_z, stderr: sd / (b as f64).sqrt(), method: "bridge", n_samples: 2 * n }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::exact::log_partition_exact;
    use rmbench_kernels::Quadratic;

    #[test]
    fn estimators_agree_with_enumeration_within_their_error() {
        for (d, scale, seed) in [(10usize, 0.1f32, 1u64), (16, 0.2, 2), (16, 0.5, 3), (20, 0.15, 4)] {
            let m = Quadratic::random(d, scale, seed);
            let exact = log_partition_exact(&m).unwrap();
            let base = base_marginals(None, d);
            let ests =
                [importance(&m, &base, 20000, seed), ais(&m, &base, 200, 400, seed), bridge(&m, &base, 4000, 30, seed)];
            for e in ests {
                assert!(e.stderr.is_finite() && e.stderr > 0.0, "{e:?}");
                let tol = 4.0 * e.stderr + 0.02;
                assert!(
                    (e.log_z - exact).abs() <= tol,
                    "d={d} scale={scale} {}: {} vs exact {exact} (±{})",
                    e.method,
                    e.log_z,
                    e.stderr
                );
            }
        }
    }
}
