//! Training objectives and their parameter gradients, all built from the kernels' weighted
//! backward pass (`EnergyModel::param_grad`).
//!
//! Per sample x, with termᵢ(x) = exp(−2·ΔEᵢ(x)) (a batch loss is the mean over samples):
//! - `rm`: Σᵢ termᵢ over all d bits (exact generalized ratio matching), flips in chunks;
//! - `rm-sigmoid`: Σᵢ σ(−ΔEᵢ)² (Hyvärinen's original);
//! - `rm-uniform`: (d/s)·Σⱼ term(iⱼ), iⱼ uniform with replacement (unbiased);
//! - `ggis-basic`: (1/s)·Σⱼ term(iⱼ)/q(iⱼ), iⱼ ~ q i.i.d., q(i|x) ∝ exp(2(2xᵢ−1)·∂E/∂xᵢ) held
//!   constant in the gradient (unbiased). `without_replacement` draws s distinct indices as the
//!   reference code does and still divides by s·q: biased (inclusion probabilities are not s·q);
//! - `ggis-advanced`: Σⱼ term(iⱼ) over s distinct draws from q (Gumbel-top-k), unweighted (biased);
//! - `nce`: noise-contrastive estimation against independent Bernoulli noise with the data's
//!   marginals, ν noise samples per data sample and a learned log-normalizer c:
//!   G(x) = −E(x) − c − log(ν·q_n(x)), loss = mean over data of softplus(−G) + Σ_noise softplus(G).
//! - `pcd-gwg`: maximum likelihood by persistent contrastive divergence, the Gibbs-with-Gradients
//!   baseline of Grathwohl et al. (2021): m persistent chains (m = batch) advance k GWG steps per
//!   update; gradient mean ∇θE(data) − mean ∇θE(chains); the logged loss is the energy gap
//!   mean E(data) − mean E(chains) (not a likelihood).
//!
//! Gradients: ∂term/∂θ = −2·term·(∇E(x₋ᵢ) − ∇E(x)), so every objective is one `param_grad` call
//! with weights on the base rows and on the flipped rows.
//!
//! Fixed points: per pair {x, x₋ᵢ} the `rm` loss p(x)·e^{−2u} + p(x₋ᵢ)·e^{2u} (u = ΔEᵢ(x)) is least
//! at u = ¼·log(p(x)/p(x₋ᵢ)), so `rm` (and `rm-uniform`, `ggis-basic`, unbiased for it) learn the
//! tempered model p^{1/4}: sample from exp(−4E) to undo it (`eval --energy-scale 4`). `rm-sigmoid`
//! is least at u = log(p(x)/p(x₋ᵢ)) (consistent), as is `pcd-gwg` (maximum likelihood).

use crate::proposal::{draw_distinct, draw_iid_with, draw_uniform, softmax_into};
use rayon::prelude::*;
use rmbench_datasets::rng::Stream;
use rmbench_kernels::{BitBatch, EnergyModel};
use std::fmt;

/// Which training objective.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Objective {
    /// Exact generalized ratio matching.
    Rm,
    /// Hyvärinen's ratio matching with σ(−ΔE)².
    RmSigmoid,
    /// Ratio matching estimated with uniformly drawn bits.
    RmUniform,
    /// RMwGGIS, basic (importance-weighted) estimator.
    GgisBasic,
    /// RMwGGIS, advanced (unweighted, distinct draws) estimator.
    GgisAdvanced,
    /// Noise-contrastive estimation.
    Nce,
    /// Persistent contrastive divergence with Gibbs-with-Gradients chains.
    PcdGwg,
}

impl Objective {
    /// Every objective, in table order.
    pub const ALL: [Objective; 7] = [
        Objective::Rm,
        Objective::RmSigmoid,
        Objective::RmUniform,
        Objective::GgisBasic,
        Objective::GgisAdvanced,
        Objective::Nce,
        Objective::PcdGwg,
    ];

    /// Command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Objective::Rm => "rm",
            Objective::RmSigmoid => "rm-sigmoid",
            Objective::RmUniform => "rm-uniform",
            Objective::GgisBasic => "ggis-basic",
            Objective::GgisAdvanced => "ggis-advanced",
            Objective::Nce => "nce",
            Objective::PcdGwg => "pcd-gwg",
        }
    }

    /// Parses [`Objective::name`].
    pub fn parse(s: &str) -> Option<Objective> {
        Self::ALL.into_iter().find(|o| o.name() == s)
    }

    /// True for the estimators whose expectation is the exact `rm` loss and gradient.
    pub fn unbiased_for_rm(self, without_replacement: bool) -> bool {
        matches!(self, Objective::RmUniform) || (self == Objective::GgisBasic && !without_replacement)
    }
}

impl fmt::Display for Objective {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Settings of an objective.
#[derive(Clone, Debug)]
pub struct ObjectiveConfig {
    /// Which objective.
    pub objective: Objective,
    /// s: sampled bits per sample (estimators) — the reference default is 10.
    pub samples: usize,
    /// `ggis-basic` only: draw s distinct indices (the reference code's behaviour).
    pub without_replacement: bool,
    /// Exact objectives: at most this many flipped rows (samples × d) per chunk, bounding memory.
    pub chunk_flips: usize,
    /// `nce`: noise samples per data sample (ν).
    pub nce_noise: usize,
    /// `pcd-gwg`: Gibbs-with-Gradients steps of the persistent chains per update (k).
    pub pcd_steps: usize,
}

impl ObjectiveConfig {
    /// The reference defaults for `objective` (s = 10, chunks of 16384 flipped rows, ν = 1).
    pub fn new(objective: Objective) -> Self {
        ObjectiveConfig {
            objective,
            samples: 10,
            without_replacement: false,
            chunk_flips: 16384,
            nce_noise: 1,
            pcd_steps: 50,
        }
    }
}

/// A loss or gradient that is not a finite number.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum ObjectiveError {
    /// exp(−2ΔE) or a gradient weight overflowed.
    #[error("non-finite {what} (sample {row}, bit {bit}): ΔE = {delta}")]
    Overflow {
        /// What overflowed.
        what: &'static str,
        /// Sample index in the batch.
        row: usize,
        /// Bit index.
        bit: usize,
        /// The energy difference that caused it.
        delta: f32,
    },
    /// The loss or the gradient is NaN or infinite.
    #[error("non-finite {0}")]
    NonFinite(&'static str),
}

/// State an objective keeps across steps: NCE's noise marginals and log-normalizer, PCD's chains.
#[derive(Clone, Debug, Default)]
pub struct ObjectiveState {
    /// NCE: per-bit noise probabilities (data marginals clamped to [1e-3, 1 − 1e-3]).
    pub noise_marginals: Vec<f64>,
    /// NCE: the learned log-normalizer c (model log p = −E − c).
    pub log_norm: f32,
    /// NCE: ∂loss/∂c of the last call.
    pub log_norm_grad: f32,
    /// PCD: the persistent chains and their random streams (started on the first call).
    pub chains: Option<(BitBatch, Vec<Stream>)>,
    /// PCD: acceptance rate of the last call's GWG steps.
    pub acceptance: f64,
}

impl ObjectiveState {
    /// State for training on `data` (NCE needs the data's marginals).
    pub fn for_data(data: &BitBatch) -> Self {
        let n = data.n().max(1) as f64;
        let marg = (0..data.d())
            .map(|i| {
                let ones = (0..data.n()).filter(|&r| data.get(r, i)).count() as f64;
                (ones / n).clamp(1e-3, 1.0 - 1e-3)
            })
            .collect();
        // c starts at d·ln 2, the log-normalizer of a zero-energy (uniform) model, so that NCE does
        // not spend its first hundreds of steps moving c from 0.
        ObjectiveState {
            noise_marginals: marg,
            log_norm: data.d() as f32 * std::f32::consts::LN_2,
            ..Default::default()
        }
    }
}

/// exp(−2ΔE) in f64 with an overflow check.
#[inline]
fn term(delta: f32, row: usize, bit: usize) -> Result<f64, ObjectiveError> {
    let t = (-2.0 * delta as f64).exp();
    // Large terms are fine (clipping bounds the step); the weights passed on are f32, so stop
    // well before 2·t could overflow it.
    if t.is_finite() && t < 1e37 {
        Ok(t)
    } else {
        Err(ObjectiveError::Overflow { what: "exp(−2ΔE)", row, bit, delta })
    }
}

fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

fn softplus(z: f64) -> f64 {
    z.max(0.0) + (-z.abs()).exp().ln_1p()
}

/// Mean loss over the batch and its parameter gradient, written into `grad` (overwritten).
/// Randomness comes from `rng` only, drawn sequentially over samples: deterministic.
pub fn loss_and_grad(
    model: &dyn EnergyModel,
    x: &BitBatch,
    cfg: &ObjectiveConfig,
    state: &mut ObjectiveState,
    rng: &mut Stream,
    grad: &mut [f32],
) -> Result<f64, ObjectiveError> {
    // Both passes over the gradient split across the pool (140 k parameters at d = 32 took ≈ 60 µs
    // serially, a few % of a step while the other workers waited).
    grad.par_chunks_mut(1 << 14).for_each(|c| c.fill(0.0));
    let n = x.n();
    if n == 0 {
        return Ok(0.0);
    }
    let loss = match cfg.objective {
        Objective::Rm | Objective::RmSigmoid => exact(model, x, cfg, grad)?,
        Objective::Nce => nce(model, x, cfg, state, rng, grad)?,
        Objective::PcdGwg => pcd_gwg(model, x, cfg, state, rng, grad)?,
        _ => sampled(model, x, cfg, rng, grad)?,
    };
    if !loss.is_finite() {
        return Err(ObjectiveError::NonFinite("loss"));
    }
    if has_non_finite(grad) || !state.log_norm_grad.is_finite() {
        return Err(ObjectiveError::NonFinite("gradient"));
    }
    Ok(loss)
}

/// Whether any entry is NaN or ±∞: a branch-free fold per 16 k-entry chunk (it vectorizes,
/// where `any` stops at every element), the chunks across the pool.
pub(crate) fn has_non_finite(g: &[f32]) -> bool {
    g.par_chunks(1 << 14).any(|c| c.iter().fold(false, |bad, v| bad | !v.is_finite()))
}

/// Exact `rm` / `rm-sigmoid`: all d flips, processed in chunks of rows so that at most
/// `chunk_flips` flipped rows (and their ΔE) are alive at once, or the model's
/// `flip_chunk_hint` if larger (models that keep only ΔE per flip).
fn exact(
    model: &dyn EnergyModel,
    x: &BitBatch,
    cfg: &ObjectiveConfig,
    grad: &mut [f32],
) -> Result<f64, ObjectiveError> {
    let (n, d) = (x.n(), x.d());
    let rows_per_chunk = (cfg.chunk_flips.max(model.flip_chunk_hint()) / d.max(1)).clamp(1, n);
    let inv_n = 1.0 / n as f64;
    let mut loss = 0.0;
    let mut failure = None;
    let mut r0 = 0;
    while r0 < n {
        let rows: Vec<usize> = (r0..(r0 + rows_per_chunk).min(n)).collect();
        let xc = x.select_rows(&rows);
        let idx: Vec<u32> = (0..rows.len()).flat_map(|_| 0..d as u32).collect();
        // dL/dΔE per term; weights on E(x₋ᵢ) (+) and on E(x) (−, their sum).
        let mut weights = |chunk: std::ops::Range<usize>, delta: &[f32], wb: &mut [f32], wf: &mut [f32]| -> bool {
            for (k, r) in chunk.enumerate() {
                let mut wsum = 0f64;
                for i in 0..d {
                    let de = delta[k * d + i];
                    let (l, dl) = match cfg.objective {
                        Objective::Rm => match term(de, r0 + r, i) {
                            Ok(t) => (t, -2.0 * t),
                            Err(e) => {
                                failure = Some(e);
                                return false;
                            }
                        },
                        _ => {
                            let sg = sigmoid(-de as f64);
                            (sg * sg, -2.0 * sg * sg * (1.0 - sg))
                        }
                    };
                    loss += l * inv_n;
                    wf[k * d + i] = (dl * inv_n) as f32;
                    wsum += dl * inv_n;
                }
                wb[k] = -wsum as f32;
            }
            true
        };
        if !model.delta_then_grad(&xc, &idx, &mut weights, grad) {
            return Err(failure.unwrap_or(ObjectiveError::NonFinite("loss")));
        }
        r0 += rows.len();
    }
    Ok(loss)
}

/// The random part of a sampled estimator: s bit indices per sample and the weight of each draw
/// (1/(s·q(i)) for the importance-weighted estimators, d/s·… for uniform, 1 for `ggis-advanced`).
#[derive(Clone, Debug, PartialEq)]
pub struct Draws {
    /// Draws per sample.
    pub s: usize,
    /// Bit indices, n × s.
    pub idx: Vec<u32>,
    /// Estimator weight of each draw, n × s: the loss is mean_r Σⱼ weight·term(iⱼ).
    pub weight: Vec<f64>,
}

/// Draws the bits of `rm-uniform` / `ggis-basic` / `ggis-advanced` for every sample of `x`.
/// The proposal needs one input-gradient pass (not for the uniform baseline).
pub fn draw(model: &dyn EnergyModel, x: &BitBatch, cfg: &ObjectiveConfig, rng: &mut Stream) -> Draws {
    let (n, d) = (x.n(), x.d());
    let distinct =
        cfg.objective == Objective::GgisAdvanced || (cfg.objective == Objective::GgisBasic && cfg.without_replacement);
    let s = if d == 0 {
        0
    } else if distinct {
        cfg.samples.min(d)
    } else {
        cfg.samples
    };
    let mut logits = Vec::new();
    if cfg.objective != Objective::RmUniform && s > 0 {
        let mut e = vec![0f32; n];
        logits = vec![0f32; n * d];
        model.proposal_logits(x, &mut e, &mut logits);
    }
    let mut idx = Vec::with_capacity(n * s);
    let mut weight = Vec::with_capacity(n * s);
    // The proposals of all rows in parallel (no randomness), then the draws in row order.
    let mut qs = vec![0f64; if logits.is_empty() { 0 } else { n * d }];
    qs.par_chunks_mut(d.max(1)).zip(logits.par_chunks(d.max(1))).for_each(|(out, l)| softmax_into(l, out));
    if !distinct && cfg.objective != Objective::RmUniform && s > 0 {
        // i.i.d. draws: the uniforms from the stream in row order (as a row-by-row loop takes
        // them), then every row's inverse CDF and searches in parallel (the serial running sums
        // over n·d took ≈ 1% of a d = 2048 step).
        let us: Vec<f64> = (0..n * s).map(|_| rng.uniform()).collect();
        idx.resize(n * s, 0);
        if n * d >= 1 << 16 {
            idx.par_chunks_mut(s)
                .zip(us.par_chunks(s))
                .zip(qs.par_chunks(d))
                .for_each_init(Vec::new, |cdf, ((o, u), q)| draw_iid_with(q, u, cdf, o));
        } else {
            // Small proposals: not worth waking the pool (the same draws either way).
            let mut cdf = Vec::new();
            for ((o, u), q) in idx.chunks_mut(s).zip(us.chunks(s)).zip(qs.chunks(d)) {
                draw_iid_with(q, u, &mut cdf, o);
            }
        }
        weight.extend(idx.iter().enumerate().map(|(g, &i)| 1.0 / (s as f64 * qs[(g / s) * d + i as usize])));
        return Draws { s, idx, weight };
    }
    let mut cdf = Vec::new();
    for r in 0..n {
        let start = idx.len();
        if s == 0 {
            continue;
        }
        if cfg.objective == Objective::RmUniform {
            draw_uniform(d, s, rng, &mut idx);
            weight.extend(std::iter::repeat_n(d as f64 / s as f64, s));
            continue;
        }
        let q = &qs[r * d..(r + 1) * d];
        draw_distinct(q, s, rng, &mut cdf, &mut idx);
        for &i in &idx[start..] {
            weight.push(match cfg.objective {
                Objective::GgisAdvanced => 1.0,
                _ => 1.0 / (s as f64 * q[i as usize]),
            });
        }
    }
    Draws { s, idx, weight }
}

/// Loss mean_r Σⱼ weightⱼ·exp(−2ΔE_{iⱼ}(x_r)) of fixed draws, and its gradient with the draws
/// (hence q) held constant, added into `grad`.
pub fn apply_draws(
    model: &dyn EnergyModel,
    x: &BitBatch,
    draws: &Draws,
    grad: &mut [f32],
) -> Result<f64, ObjectiveError> {
    let n = x.n();
    let s = draws.s;
    if s == 0 || n == 0 {
        return Ok(0.0);
    }
    let inv_n = 1.0 / n as f64;
    let mut loss = 0.0;
    let mut failure = None;
    let mut weights = |chunk: std::ops::Range<usize>, delta: &[f32], wb: &mut [f32], wf: &mut [f32]| -> bool {
        for (k, r) in chunk.enumerate() {
            let mut wsum = 0f64;
            for j in 0..s {
                let (q, g) = (k * s + j, r * s + j);
                let bit = draws.idx[g] as usize;
                let t = match term(delta[q], r, bit) {
                    Ok(t) => t * draws.weight[g],
                    Err(e) => {
                        failure = Some(e);
                        return false;
                    }
                };
                if !t.is_finite() || t > 1e30 {
                    failure = Some(ObjectiveError::Overflow {
                        what: "importance-weighted term",
                        row: r,
                        bit,
                        delta: delta[q],
                    });
                    return false;
                }
                loss += t * inv_n;
                let w = -2.0 * t * inv_n;
                wf[q] = w as f32;
                wsum += w;
            }
            wb[k] = -wsum as f32;
        }
        true
    };
    if !model.delta_then_grad(x, &draws.idx, &mut weights, grad) {
        return Err(failure.unwrap_or(ObjectiveError::NonFinite("loss")));
    }
    Ok(loss)
}

/// `rm-uniform`, `ggis-basic` and `ggis-advanced`: s sampled flips per sample.
fn sampled(
    model: &dyn EnergyModel,
    x: &BitBatch,
    cfg: &ObjectiveConfig,
    rng: &mut Stream,
    grad: &mut [f32],
) -> Result<f64, ObjectiveError> {
    let draws = draw(model, x, cfg, rng);
    apply_draws(model, x, &draws, grad)
}

/// Noise-contrastive estimation with independent-Bernoulli noise (see the module doc).
fn nce(
    model: &dyn EnergyModel,
    x: &BitBatch,
    cfg: &ObjectiveConfig,
    state: &mut ObjectiveState,
    rng: &mut Stream,
    grad: &mut [f32],
) -> Result<f64, ObjectiveError> {
    let (n, d) = (x.n(), x.d());
    if state.noise_marginals.len() != d {
        *state = ObjectiveState::for_data(x);
    }
    let nu = cfg.nce_noise.max(1);
    let log_nu = (nu as f64).ln();
    let marg = &state.noise_marginals;
    let log_noise = |b: &BitBatch, r: usize| -> f64 {
        (0..d).map(|i| if b.get(r, i) { marg[i].ln() } else { (1.0 - marg[i]).ln() }).sum()
    };
    let mut noise = BitBatch::zeros(n * nu, d);
    for r in 0..n * nu {
        for i in 0..d {
            if rng.bernoulli(marg[i]) {
                noise.set(r, i, true);
            }
        }
    }
    let c = state.log_norm as f64;
    let inv_n = 1.0 / n as f64;
    let mut loss = 0.0;
    let mut gc = 0.0;
    // Data: loss softplus(−G), dL/dG = −σ(−G); ∂G/∂E = −1, ∂G/∂c = −1.
    let mut e = vec![0f32; n];
    model.energy(x, &mut e);
    let mut wb = vec![0f32; n];
    for r in 0..n {
        let g = -(e[r] as f64) - c - log_nu - log_noise(x, r);
        loss += softplus(-g) * inv_n;
        let dg = -sigmoid(-g) * inv_n;
        wb[r] = (-dg) as f32;
        gc -= dg;
    }
    model.param_grad(x, &wb, &[], &[], grad);
    // Noise: loss softplus(G), dL/dG = σ(G).
    let mut en = vec![0f32; n * nu];
    model.energy(&noise, &mut en);
    let mut wn = vec![0f32; n * nu];
    for r in 0..n * nu {
        let g = -(en[r] as f64) - c - log_nu - log_noise(&noise, r);
        loss += softplus(g) * inv_n;
        let dg = sigmoid(g) * inv_n;
        wn[r] = (-dg) as f32;
        gc -= dg;
    }
    model.param_grad(&noise, &wn, &[], &[], grad);
    state.log_norm_grad = gc as f32;
    Ok(loss)
}

/// `pcd-gwg`: k GWG steps on the persistent chains, then the contrastive gradient (module doc).
fn pcd_gwg(
    model: &dyn EnergyModel,
    x: &BitBatch,
    cfg: &ObjectiveConfig,
    state: &mut ObjectiveState,
    rng: &mut Stream,
    grad: &mut [f32],
) -> Result<f64, ObjectiveError> {
    let (n, d) = (x.n(), x.d());
    if state.chains.as_ref().is_none_or(|(c, _)| c.d() != d) {
        state.chains = Some(crate::eval::sampler::uniform_chains(n, d, rng.next_u64()));
    }
    let (chains, rngs) = state.chains.as_mut().expect("started above");
    state.acceptance = crate::eval::sampler::gwg_steps(model, chains, rngs, cfg.pcd_steps);
    let m = chains.n();
    let (mut e, mut ec) = (vec![0f32; n], vec![0f32; m]);
    model.energy(x, &mut e);
    model.energy(chains, &mut ec);
    let mean = |v: &[f32]| v.iter().map(|&e| e as f64).sum::<f64>() / v.len() as f64;
    model.param_grad(x, &vec![1.0 / n as f32; n], &[], &[], grad);
    model.param_grad(chains, &vec![-1.0 / m as f32; m], &[], &[], grad);
    Ok(mean(&e) - mean(&ec))
}

/// The exact `rm` loss of a batch (mean over samples of Σᵢ exp(−2ΔEᵢ)), in f64.
pub fn rm_loss_exact(model: &dyn EnergyModel, x: &BitBatch) -> f64 {
    let (n, d) = (x.n(), x.d());
    let mut delta = vec![0f32; n * d];
    model.delta_all(x, &mut delta);
    delta.iter().map(|&de| (-2.0 * de as f64).exp()).sum::<f64>() / n.max(1) as f64
}
