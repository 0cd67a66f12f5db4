//! Adam with L2 weight decay, an optional L1 penalty and global gradient-norm clipping, as
//! PyTorch's `clip_grad_norm_` followed by `torch.optim.Adam(weight_decay=…)`, with the L1
//! subgradient added as Gibbs-with-Gradients' Ising runs do (`loss += l1·Σ|θ|`).
//!
//! Per step: g ← g·min(1, clip/‖g‖₂); g ← g + λ·θ + λ₁·sign(θ); m ← β₁m + (1−β₁)g; v ← β₂v + (1−β₂)g²;
//! θ ← θ − lr·(m/(1−β₁ᵗ)) / (√(v/(1−β₂ᵗ)) + ε).

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Optimizer settings; `Default` is the reference's (lr 5e-4, weight decay 1e-4, clip 1).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
pub struct AdamConfig {
    /// Learning rate.
    pub lr: f32,
    /// β₁.
    pub beta1: f32,
    /// β₂.
    pub beta2: f32,
    /// ε.
    pub eps: f32,
    /// L2 weight decay λ (added to the gradient after clipping).
    pub weight_decay: f32,
    /// Maximum global gradient norm (≤ 0: no clipping).
    pub clip: f32,
    /// L1 penalty λ₁ (its subgradient λ₁·sign(θ) is added after clipping, like weight decay).
    #[serde(default)]
    pub l1: f32,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig { lr: 5e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 1e-4, clip: 1.0, l1: 0.0 }
    }
}

/// Adam state for one flat parameter vector.
#[derive(Clone, Debug)]
pub struct Adam {
    cfg: AdamConfig,
    m: Vec<f32>,
    v: Vec<f32>,
    t: i32,
}

/// Global L2 norm of a gradient, accumulated in f64: partial sums of fixed 16384-element chunks
/// (in parallel), added in chunk order, so the result does not depend on the thread count.
pub fn grad_norm(g: &[f32]) -> f64 {
    let parts: Vec<f64> = g.par_chunks(1 << 14).map(rmbench_kernels::simd::sum_squares).collect();
    parts.iter().sum::<f64>().sqrt()
}

impl Adam {
    /// Fresh state for `len` parameters.
    pub fn new(cfg: AdamConfig, len: usize) -> Self {
        Adam { cfg, m: vec![0.0; len], v: vec![0.0; len], t: 0 }
    }

    /// Clips `grad` to the configured norm, returning the norm before clipping.
    pub fn clip(&self, grad: &mut [f32], extra_norm_sq: f64) -> f64 {
        let norm = (grad_norm(grad).powi(2) + extra_norm_sq).sqrt();
        if self.cfg.clip > 0.0 && norm > self.cfg.clip as f64 {
            let k = (self.cfg.clip as f64 / norm) as f32;
            grad.par_chunks_mut(1 << 14).for_each(|c| c.iter_mut().for_each(|g| *g *= k));
        }
        norm
    }

    /// One Adam step on `params` with an (already clipped) gradient. Element-wise, so it runs in
    /// parallel chunks without changing a single bit of the result.
    pub fn step(&mut self, params: &mut [f32], grad: &[f32]) {
        assert_eq!(params.len(), self.m.len());
        self.t += 1;
        let c = self.cfg;
        let bc1 = 1.0 - c.beta1.powi(self.t);
        let bc2 = 1.0 - c.beta2.powi(self.t);
        let coeffs = rmbench_kernels::simd::AdamCoeffs {
            lr: c.lr,
            beta1: c.beta1,
            beta2: c.beta2,
            eps: c.eps,
            weight_decay: c.weight_decay,
            l1: c.l1,
            bc1,
            bc2,
        };
        const CHUNK: usize = 1 << 14;
        params
            .par_chunks_mut(CHUNK)
            .zip(self.m.par_chunks_mut(CHUNK))
            .zip(self.v.par_chunks_mut(CHUNK))
            .zip(grad.par_chunks(CHUNK))
            .for_each(|(((p, m), v), g)| rmbench_kernels::simd::adam_update(p, m, v, g, &coeffs));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_step_moves_by_lr_against_the_gradient_sign() {
        let mut p = vec![1.0f32, -2.0];
        let mut a = Adam::new(AdamConfig { weight_decay: 0.0, ..Default::default() }, 2);
        a.step(&mut p, &[0.3, -0.1]);
        assert!((p[0] - (1.0 - 5e-4)).abs() < 1e-6 && (p[1] - (-2.0 + 5e-4)).abs() < 1e-6);
    }

    #[test]
    fn clipping_caps_the_norm() {
        let a = Adam::new(AdamConfig::default(), 2);
        let mut g = vec![3.0f32, 4.0];
        assert!((a.clip(&mut g, 0.0) - 5.0).abs() < 1e-9);
        assert!((grad_norm(&g) - 1.0).abs() < 1e-6);
    }

    /// With no data gradient, the L1 subgradient alone walks a parameter to zero and keeps it there.
    #[test]
    fn l1_pulls_to_zero() {
        let mut p = vec![0.2f32, -0.2];
        let mut a = Adam::new(AdamConfig { lr: 0.01, weight_decay: 0.0, l1: 0.01, ..Default::default() }, 2);
        for _ in 0..200 {
            a.step(&mut p, &[0.0, 0.0]);
        }
        assert!(p.iter().all(|v| v.abs() < 0.02), "{p:?}");
    }

    #[test]
    fn minimizes_a_quadratic() {
        let mut p = vec![3.0f32];
        let mut a = Adam::new(AdamConfig { lr: 0.05, weight_decay: 0.0, ..Default::default() }, 1);
        for _ in 0..2000 {
            let mut g = vec![2.0 * p[0]];
            a.clip(&mut g, 0.0);
            a.step(&mut p, &g);
        }
        assert!(p[0].abs() < 0.05, "{}", p[0]);
    }
}
