//! Evaluation of learned models: exact enumeration ([`exact`]), log Z estimators ([`logz`]),
//! samplers ([`sampler`]), MMD ([`mmd`]) and Ising coupling error, gathered in [`Metrics`].

pub mod exact;
pub mod logz;
pub mod mmd;
pub mod sampler;

use crate::error::Result;
use rmbench_kernels::{BitBatch, EnergyModel};
use serde::Serialize;

/// Options of [`evaluate`].
#[derive(Clone, Debug)]
pub struct EvalOptions {
    /// Enumerate exactly when d ≤ this (and `exact` is not false).
    pub exact_max_dim: usize,
    /// Force exact enumeration (error if d > 30).
    pub exact: bool,
    /// AIS temperatures (0: no AIS unless needed; then 1000).
    pub ais_temps: usize,
    /// AIS chains.
    pub ais_chains: usize,
    /// Samples per side for MMD (0: skip MMD).
    pub mmd_samples: usize,
    /// Gibbs sweeps from uniform starts for the model samples of MMD (reference: 20).
    pub gibbs_rounds: usize,
    /// The true couplings (Ising data), d × d.
    pub true_j: Option<Vec<f32>>,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions {
            exact_max_dim: 24,
            exact: false,
            ais_temps: 0,
            ais_chains: 200,
            mmd_samples: 4000,
            gibbs_rounds: 20,
            true_j: None,
        }
    }
}

/// The metrics `rmbench eval` prints as one JSON object.
#[derive(Clone, Debug, Serialize)]
pub struct Metrics {
    /// log Z (natural log).
    pub log_z: Option<f64>,
    /// Standard error of log Z (0 when exact).
    pub log_z_stderr: Option<f64>,
    /// `exact`, `ais`, … .
    pub log_z_method: Option<String>,
    /// Mean negative log-likelihood of the data, nats.
    pub nll: Option<f64>,
    /// Unbiased MMD² with K = d − Hamming (the reference's "MMD").
    pub mmd_hamming: Option<f64>,
    /// Unbiased MMD² with K = exp(−Hamming/d).
    pub mmd_exp_hamming: Option<f64>,
    /// RMSE between the symmetrized learned J and the true J (all d² entries).
    pub coupling_rmse: Option<f64>,
    /// ln(coupling_rmse).
    pub coupling_log_rmse: Option<f64>,
    /// Data samples used.
    pub n_data: usize,
    /// Dimension d.
    pub dim: usize,
}

/// RMSE and log-RMSE between the symmetrized learned J and the true J (d × d).
pub fn coupling_rmse(learned: &[f32], truth: &[f32], d: usize) -> (f64, f64) {
    let mut s = 0f64;
    for a in 0..d {
        for b in 0..d {
            let l = 0.5 * (learned[a * d + b] as f64 + learned[b * d + a] as f64);
            s += (l - truth[a * d + b] as f64).powi(2);
        }
    }
    let rmse = (s / (d * d).max(1) as f64).sqrt();
    (rmse, rmse.ln())
}

/// Multiplies the model's energy by β in place (p ∝ exp(−βE): β = 4 undoes the ¼ tempering of the
/// `rm` minimizer). Exact for the quadratic model (J, h scaled) and the MLP (its last linear layer
/// scaled); the RBM free energy is not closed under scaling and is refused.
pub fn scale_energy(model: &mut dyn EnergyModel, beta: f32) -> Result<()> {
    if !beta.is_finite() {
        return Err(crate::error::Error::Input(format!("energy scale {beta} is not finite")));
    }
    let ranges: Vec<std::ops::Range<usize>> = match model.kind() {
        rmbench_kernels::ModelKind::Quadratic => std::iter::once(0..model.num_params()).collect(),
        rmbench_kernels::ModelKind::Mlp => {
            // The last two `layers.*` tensors are the output layer's weight [1, H] and bias [1].
            let t: Vec<_> = model.tensors().iter().filter(|t| t.name.starts_with("layers.")).cloned().collect();
            t[t.len() - 2..].iter().map(|t| t.offset..t.offset + t.len()).collect()
        }
        k => {
            return Err(crate::error::Error::Input(format!(
                "{} energies cannot be scaled by changing parameters (not closed under scaling)",
                k.name()
            )))
        }
    };
    for r in ranges {
        model.params_mut()[r].iter_mut().for_each(|v| *v *= beta);
    }
    model.params_changed();
    Ok(())
}

/// Model samples for MMD: `n` chains from uniform starts after `rounds` Gibbs sweeps.
pub fn model_samples(model: &dyn EnergyModel, n: usize, rounds: usize, seed: u64) -> BitBatch {
    let (mut x, mut rngs) = sampler::uniform_chains(n, model.dim(), seed);
    sampler::gibbs_sweeps(model, &mut x, &mut rngs, rounds, 1.0, None);
    x
}

/// Every metric that applies to `model` on `data`.
pub fn evaluate(model: &dyn EnergyModel, data: &BitBatch, opts: &EvalOptions, seed: u64) -> Result<Metrics> {
    let d = model.dim();
    let mut m = Metrics {
        log_z: None,
        log_z_stderr: None,
        log_z_method: None,
        nll: None,
        mmd_hamming: None,
        mmd_exp_hamming: None,
        coupling_rmse: None,
        coupling_log_rmse: None,
        n_data: data.n(),
        dim: d,
    };
    let est = if opts.exact || (d <= opts.exact_max_dim && opts.ais_temps == 0) {
        logz::LogZEstimate {
            log_z: exact::log_partition_exact(model)?,
            stderr: 0.0,
            method: "exact",
            n_samples: 1 << d,
        }
    } else {
        let base = logz::base_marginals(Some(data), d);
        let temps = if opts.ais_temps == 0 { 1000 } else { opts.ais_temps };
        logz::ais(model, &base, temps, opts.ais_chains, seed)
    };
    m.nll = Some(exact::nll_exact(model, data, est.log_z));
    m.log_z = Some(est.log_z);
    m.log_z_stderr = Some(est.stderr);
    m.log_z_method = Some(est.method.to_string());
    if opts.mmd_samples > 1 && data.n() > 1 {
        let k = opts.mmd_samples.min(data.n());
        let xs = data.select_rows(&(0..k).collect::<Vec<_>>());
        let ys = model_samples(model, opts.mmd_samples, opts.gibbs_rounds, seed ^ 0x3D);
        m.mmd_hamming = Some(mmd::mmd_hamming(&xs, &ys));
        m.mmd_exp_hamming = Some(mmd::mmd_exp_hamming(&xs, &ys));
    }
    if let (Some(t), rmbench_kernels::ModelKind::Quadratic) = (&opts.true_j, model.kind()) {
        let (r, lr) = coupling_rmse(&model.params()[..d * d], t, d);
        m.coupling_rmse = Some(r);
        m.coupling_log_rmse = Some(lr);
    }
    Ok(m)
}

/// A cheap metric for training curves: exact NLL for d ≤ 20, else MMD (d − Hamming) on 1000
/// samples after 10 Gibbs rounds.
pub fn quick_metric(model: &dyn EnergyModel, data: &BitBatch, seed: u64) -> Result<(String, f64)> {
    if model.dim() <= 20 {
        let lz = exact::log_partition_exact(model)?;
        return Ok(("nll_exact".into(), exact::nll_exact(model, data, lz)));
    }
    let k = data.n().min(1000);
    let xs = data.select_rows(&(0..k).collect::<Vec<_>>());
    let ys = model_samples(model, k, 10, seed);
    Ok(("mmd_hamming".into(), mmd::mmd_hamming(&xs, &ys)))
}

#[cfg(test)]
mod scale_tests {
    use super::*;

    #[test]
    fn scale_energy_multiplies_every_energy() {
        let d = 9;
        let mut x = BitBatch::zeros(5, d);
        (0..5 * d).filter(|k| (k * 7) % 3 == 0).for_each(|k| x.set(k / d, k % d, true));
        let models: Vec<Box<dyn EnergyModel>> = vec![
            Box::new(rmbench_kernels::Quadratic::random(d, 0.5, 1)),
            Box::new(rmbench_kernels::Mlp::new(d, 8, 2, 2)),
        ];
        for mut m in models {
            let (mut e0, mut e1) = (vec![0f32; 5], vec![0f32; 5]);
            m.energy(&x, &mut e0);
            scale_energy(&mut *m, 4.0).unwrap();
            m.energy(&x, &mut e1);
            for (a, b) in e0.iter().zip(&e1) {
                assert!((4.0 * a - b).abs() < 1e-4 * (1.0 + b.abs()), "{:?}: {a} vs {b}", m.kind());
            }
        }
        let mut rbm = rmbench_kernels::Rbm::random(d, 4, 0.3, 1);
        assert!(scale_energy(&mut rbm, 2.0).unwrap_err().to_string().contains("not closed"));
    }
}
