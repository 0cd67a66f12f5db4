//! Exact log-partition function and negative log-likelihood by enumerating all 2^d states.
//!
//! log Z = log Σₓ exp(−E(x)), accumulated as a log-sum-exp in f64 over blocks of 4096 states;
//! blocks are independent and reduced in a fixed order, so the result does not depend on the thread
//! count. Within a block, models with an incremental walk (`gray_energies`: quadratic O(d) and RBM
//! O(H) per state) visit the states in Gray-code order, one flip apart; the MLP evaluates the block
//! as one batch through its fast energy kernel.

use crate::error::{Error, Result};
use rayon::prelude::*;
use rmbench_kernels::{BitBatch, EnergyModel};

/// Largest d accepted by the enumeration (2^30 states).
pub const MAX_EXACT_DIM: usize = 30;

/// States per block.
const BLOCK: usize = 1 << 12;

/// log-sum-exp of (−E) over one batch, in f64: (max, Σ exp(−E − max)).
fn lse_parts(neg_e: impl Iterator<Item = f64> + Clone) -> (f64, f64) {
    let m = neg_e.clone().fold(f64::NEG_INFINITY, f64::max);
    if m == f64::NEG_INFINITY {
        return (m, 0.0);
    }
    (m, neg_e.map(|v| (v - m).exp()).sum())
}

fn merge((m1, s1): (f64, f64), (m2, s2): (f64, f64)) -> (f64, f64) {
    if m1 == f64::NEG_INFINITY {
        return (m2, s2);
    }
    if m2 == f64::NEG_INFINITY {
        return (m1, s1);
    }
    let m = m1.max(m2);
    (m, s1 * (m1 - m).exp() + s2 * (m2 - m).exp())
}

/// The batch of states k·BLOCK .. min((k+1)·BLOCK, 2^d), state index = bit pattern.
fn block_states(d: usize, k: usize) -> BitBatch {
    let total = 1usize << d;
    let lo = k * BLOCK;
    let hi = (lo + BLOCK).min(total);
    let words: Vec<u64> = (lo..hi).map(|v| v as u64).collect();
    BitBatch::from_words(hi - lo, d, words).expect("state indices fit in d bits")
}

/// log Z of `model` by exhaustive enumeration (d ≤ [`MAX_EXACT_DIM`]).
pub fn log_partition_exact(model: &dyn EnergyModel) -> Result<f64> {
    let d = model.dim();
    if d > MAX_EXACT_DIM {
        return Err(Error::Input(format!("exact log Z needs d ≤ {MAX_EXACT_DIM}, got d = {d}")));
    }
    let total = 1usize << d;
    let blocks = total.div_ceil(BLOCK);
    let parts: Vec<(f64, f64)> = (0..blocks)
        .into_par_iter()
        .map(|k| {
            // Gray-code walk where the model has one (one flip per state), else a batch of states.
            let mut neg = Vec::with_capacity(BLOCK);
            let (lo, n) = ((k * BLOCK) as u64, (BLOCK.min(total - k * BLOCK)) as u64);
            if !model.gray_energies(lo, n, &mut |e| neg.push(-e)) {
                let x = block_states(d, k);
                let mut e = vec![0f32; x.n()];
                model.energy(&x, &mut e);
                neg.extend(e.iter().map(|&v| -(v as f64)));
            }
            lse_parts(neg.iter().copied())
        })
        .collect();
    let (m, s) = parts.into_iter().fold((f64::NEG_INFINITY, 0.0), merge);
    let lz = m + s.ln();
    if lz.is_finite() {
        Ok(lz)
    } else {
        Err(Error::Input(format!("log Z is not finite ({lz})")))
    }
}

/// Mean negative log-likelihood (nats) of `data`: mean E(x) + log Z.
pub fn nll_exact(model: &dyn EnergyModel, data: &BitBatch, log_z: f64) -> f64 {
    let mut e = vec![0f32; data.n()];
    model.energy(data, &mut e);
    e.iter().map(|&v| v as f64).sum::<f64>() / data.n().max(1) as f64 + log_z
}

/// The exact distribution p(x) over all 2^d states (index = bit pattern), for tests and tiny d.
pub fn probabilities_exact(model: &dyn EnergyModel) -> Result<Vec<f64>> {
    let d = model.dim();
    if d > MAX_EXACT_DIM {
        return Err(Error::Input(format!("exact probabilities need d ≤ {MAX_EXACT_DIM}, got d = {d}")));
    }
    let mut neg = Vec::with_capacity(1 << d);
    for k in 0..(1usize << d).div_ceil(BLOCK) {
        let x = block_states(d, k);
        let mut e = vec![0f32; x.n()];
        model.energy(&x, &mut e);
        neg.extend(e.iter().map(|&v| -(v as f64)));
    }
    let m = neg.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let w: Vec<f64> = neg.iter().map(|v| (v - m).exp()).collect();
    let z: f64 = w.iter().sum();
    Ok(w.into_iter().map(|v| v / z).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmbench_kernels::Quadratic;

    #[test]
    fn matches_brute_force_on_tiny_models() {
        for d in [1usize, 3, 8, 13] {
            let m = Quadratic::random(d, 0.8, d as u64);
            let lz = log_partition_exact(&m).unwrap();
            let mut z = 0f64;
            for v in 0..(1u64 << d) {
                let x: Vec<f64> = (0..d).map(|i| ((v >> i) & 1) as f64).collect();
                z += (-rmbench_kernels::reference::eval(&m, &x).energy).exp();
            }
            assert!((lz - z.ln()).abs() < 1e-5 * z.ln().abs().max(1.0), "d={d}: {lz} vs {}", z.ln());
            let p = probabilities_exact(&m).unwrap();
            assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        }
    }

    #[test]
    fn uniform_model_has_log_z_d_log_2() {
        let m = Quadratic::zeros(10);
        assert!((log_partition_exact(&m).unwrap() - 10.0 * 2f64.ln()).abs() < 1e-9);
    }
}
