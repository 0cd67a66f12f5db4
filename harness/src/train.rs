//! The training loop: minibatches from a seeded shuffle, one objective gradient, clipping, Adam.
//!
//! Non-finite losses or gradients stop training with [`Error::Train`] naming the step; the model is
//! left at the last good parameters so the caller can save it. Same seed and thread count ⇒ the
//! same losses bit for bit.

use crate::error::{Error, Result};
use crate::objective::{loss_and_grad, ObjectiveConfig, ObjectiveState};
use crate::optim::{Adam, AdamConfig};
use crate::provenance::Provenance;
use rmbench_datasets::rng::Stream;
use rmbench_kernels::{BitBatch, EnergyModel};
use serde::Serialize;
use std::time::Instant;

/// Settings of one training run.
#[derive(Clone, Debug)]
pub struct TrainConfig {
    /// Objective and its settings.
    pub objective: ObjectiveConfig,
    /// Optimizer.
    pub adam: AdamConfig,
    /// Minibatch size (reference: 128).
    pub batch: usize,
    /// Number of optimizer steps.
    pub steps: usize,
    /// Seed of the minibatch order and of the objective's sampling.
    pub seed: u64,
    /// Log a curve row every this many steps (and at the last step).
    pub log_every: usize,
}

/// One row of a training-curve CSV (schema version 1).
#[derive(Clone, Debug, Serialize)]
pub struct CurveRow {
    /// Schema version of this file kind.
    pub schema_version: u32,
    /// Optimizer step (1-based, after the update).
    pub step: usize,
    /// Wall-clock time since the start of training, excluding evaluation.
    pub wall_ms: f64,
    /// Objective value of this step's minibatch (before the update).
    pub loss: f64,
    /// Gradient norm before clipping.
    pub grad_norm: f64,
    /// Evaluation metric name (empty when not evaluated at this step).
    pub metric: String,
    /// Evaluation metric value (empty when not evaluated).
    pub metric_value: Option<f64>,
    /// Objective name.
    pub objective: String,
    /// Samples per data point s.
    pub samples: usize,
    /// Model kind.
    pub model: String,
    /// Dimension d.
    pub dim: usize,
    /// Batch size.
    pub batch: usize,
    /// Run seed.
    pub seed: u64,
    /// Machine and build.
    #[serde(flatten)]
    pub provenance: Provenance,
}

/// Summary of a finished run.
#[derive(Clone, Debug)]
pub struct TrainSummary {
    /// Loss of the last step.
    pub final_loss: f64,
    /// Total training wall time (ms), excluding evaluation.
    pub wall_ms: f64,
    /// NCE's learned log-normalizer (0 for other objectives).
    pub log_norm: f32,
}

/// Trains `model` on `data`. `on_row` receives every logged row; `evaluate(model, step)` returns
/// the named metrics to log at that step, one row each (its time is excluded from `wall_ms`).
pub fn train(
    model: &mut dyn EnergyModel,
    data: &BitBatch,
    cfg: &TrainConfig,
    mut evaluate: impl FnMut(&dyn EnergyModel, usize) -> Vec<(String, f64)>,
    mut on_row: impl FnMut(&CurveRow) -> Result<()>,
    mut on_step: impl FnMut(usize),
) -> Result<TrainSummary> {
    if data.n() == 0 {
        return Err(Error::Input("training data is empty".into()));
    }
    if data.d() != model.dim() {
        return Err(Error::Input(format!("data has d = {} but the model has d = {}", data.d(), model.dim())));
    }
    let np = model.num_params();
    let mut adam = Adam::new(cfg.adam, np);
    let mut adam_c = Adam::new(cfg.adam, 1);
    let mut state = ObjectiveState::for_data(data);
    let mut order_rng = Stream::new(cfg.seed, 1);
    let mut obj_rng = Stream::new(cfg.seed, 2);
    let mut order = order_rng.permutation(data.n());
    let mut cursor = 0;
    let mut grad = vec![0f32; np];
    let prov = Provenance::current();
    let batch = cfg.batch.clamp(1, data.n());
    let mut wall = 0.0f64;
    let mut last_loss = f64::NAN;
    let mut last_good = model.params().to_vec();
    // The steps' short parallel regions with the pool's other workers polling (crate::busy).
    crate::busy::with_busy_pool(|| {
        for step in 0..cfg.steps {
            let t0 = Instant::now();
            let mut rows = Vec::with_capacity(batch);
            while rows.len() < batch {
                if cursor == order.len() {
                    order = order_rng.permutation(data.n());
                    cursor = 0;
                }
                rows.push(order[cursor]);
                cursor += 1;
            }
            let xb = data.select_rows(&rows);
            let loss = match loss_and_grad(&*model, &xb, &cfg.objective, &mut state, &mut obj_rng, &mut grad) {
                Ok(l) => l,
                Err(e) => {
                    model.params_mut().copy_from_slice(&last_good);
                    model.params_changed();
                    return Err(Error::Train { step, source: e, saved: String::new() });
                }
            };
            let mut gc = [state.log_norm_grad];
            let norm = adam.clip(&mut grad, (gc[0] as f64).powi(2));
            if norm > cfg.adam.clip as f64 && cfg.adam.clip > 0.0 {
                gc[0] *= (cfg.adam.clip as f64 / norm) as f32;
            }
            last_good.copy_from_slice(model.params());
            adam.step(model.params_mut(), &grad);
            model.params_changed();
            if cfg.objective.objective == crate::objective::Objective::Nce {
                let mut c = [state.log_norm];
                adam_c.step(&mut c, &gc);
                state.log_norm = c[0];
            }
            wall += t0.elapsed().as_secs_f64() * 1e3;
            last_loss = loss;
            on_step(step + 1);
            let log_now = cfg.log_every > 0 && ((step + 1) % cfg.log_every == 0 || step + 1 == cfg.steps);
            if log_now {
                let metrics = evaluate(&*model, step + 1);
                let unevaluated = [(String::new(), f64::NAN)];
                let rows = if metrics.is_empty() { &unevaluated[..] } else { &metrics[..] };
                for (name, value) in rows {
                    on_row(&CurveRow {
                        schema_version: 1,
                        step: step + 1,
                        wall_ms: wall,
                        loss,
                        grad_norm: norm,
                        metric: name.clone(),
                        metric_value: (!name.is_empty()).then_some(*value),
                        objective: cfg.objective.objective.name().to_string(),
                        samples: cfg.objective.samples,
                        model: model.kind().name().to_string(),
                        dim: model.dim(),
                        batch,
                        seed: cfg.seed,
                        provenance: prov.clone(),
                    })?;
                }
            }
        }
        Ok(TrainSummary { final_loss: last_loss, wall_ms: wall, log_norm: state.log_norm })
    })
}
