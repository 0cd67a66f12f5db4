//! Running a sweep: each point of this shard that the CSV does not hold yet is measured in its own
//! rayon pool and appended (and flushed) as one row. A failing point writes a row with `err` set and
//! the sweep goes on; an interrupted sweep resumes by skipping the ids already in the file.

use super::config::{Point, SweepConfig};
use super::schema::{SweepRecord, SweepRow, SWEEP_SCHEMA_VERSION};
use crate::csvio::{read_rows, CsvAppender};
use crate::error::{Error, Result};
use crate::model_io::new_model;
use crate::objective::{loss_and_grad, Objective, ObjectiveConfig, ObjectiveState};
use crate::provenance::Provenance;
use crate::stepbench::{random_batch, time_steps, StepSpec};
use rmbench_datasets::rng::Stream;
use std::collections::HashSet;
use std::path::Path;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// What a run did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SweepSummary {
    /// Points measured now.
    pub measured: usize,
    /// Points already in the CSV (skipped).
    pub already_done: usize,
    /// Points whose row carries an error.
    pub failed: usize,
}

/// Largest n·d for which the estimator-quality measurement computes the exact rm gradient.
const QUALITY_MAX_FLIPS: usize = 1 << 17;

/// The model the estimator-quality measurement uses: the MLP at its default initialization; the
/// quadratic model and the RBM with random weights uniform in ±1/√d (a non-uniform distribution).
pub fn quality_model(point: &Point, seed: u64) -> Box<dyn rmbench_kernels::EnergyModel> {
    let d = point.shape.dim;
    let scale = 1.0 / (d.max(1) as f32).sqrt();
    match point.shape.kind {
        crate::model_io::ModelKindName::Quadratic => Box::new(rmbench_kernels::Quadratic::random(d, scale, seed)),
        crate::model_io::ModelKindName::Rbm => {
            Box::new(rmbench_kernels::Rbm::random(d, point.shape.hidden, scale, seed))
        }
        crate::model_io::ModelKindName::Mlp => new_model(point.shape, seed),
    }
}

/// Gradient-estimate quality against exact rm on the same batch: (rel bias, rel variance, mean
/// cosine, loss rel bias) over `reps` draws.
///
/// The model is [`quality_model`]: a freshly initialized quadratic model (J = 0) or RBM (W ≈ 0) is
/// the uniform distribution, where every proposal is uniform and the comparison says nothing.
pub fn estimator_quality(point: &Point, seed: u64, reps: usize) -> Result<(f64, f64, f64, f64)> {
    let model = quality_model(point, seed);
    let x = random_batch(point.batch, point.shape.dim, seed);
    let np = model.num_params();
    let mut g = vec![0f32; np];
    let mut st = ObjectiveState::for_data(&x);
    let exact =
        loss_and_grad(&*model, &x, &ObjectiveConfig::new(Objective::Rm), &mut st, &mut Stream::new(seed, 9), &mut g)
            .map_err(|e| Error::Train { step: 0, source: e, saved: String::new() })?;
    let g_exact: Vec<f64> = g.iter().map(|&v| v as f64).collect();
    let norm2: f64 = g_exact.iter().map(|v| v * v).sum();
    let mut rng = Stream::new(seed, 10);
    let cfg = point.objective_config();
    let mut sum = vec![0f64; np];
    let mut draws: Vec<Vec<f32>> = Vec::with_capacity(reps);
    let mut loss_sum = 0.0;
    let mut cos_sum = 0.0;
    for _ in 0..reps {
        loss_sum += loss_and_grad(&*model, &x, &cfg, &mut st, &mut rng, &mut g).map_err(|e| Error::Train {
            step: 0,
            source: e,
            saved: String::new(),
        })?;
        let dot: f64 = g.iter().zip(&g_exact).map(|(&a, b)| a as f64 * b).sum();
        let n2: f64 = g.iter().map(|&a| a as f64 * a as f64).sum();
        cos_sum += dot / (n2.sqrt() * norm2.sqrt()).max(1e-300);
        sum.iter_mut().zip(&g).for_each(|(s, &v)| *s += v as f64);
        draws.push(g.clone());
    }
    let r = reps as f64;
    let mean: Vec<f64> = sum.iter().map(|s| s / r).collect();
    let bias2: f64 = mean.iter().zip(&g_exact).map(|(m, e)| (m - e).powi(2)).sum();
    let var: f64 =
        draws.iter().map(|d| d.iter().zip(&mean).map(|(&v, m)| (v as f64 - m).powi(2)).sum::<f64>()).sum::<f64>() / r;
    Ok(((bias2 / norm2).sqrt(), var / norm2, cos_sum / r, (loss_sum / r - exact) / exact))
}

fn now_unix() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// The row of a point before measurement: coordinates and provenance filled, measurements empty.
pub fn empty_row(cfg: &SweepConfig, point: &Point) -> SweepRow {
    SweepRow {
        schema_version: SWEEP_SCHEMA_VERSION,
        point_id: point.id.clone(),
        config: cfg.name.clone(),
        model: format!("{:?}", point.shape.kind).to_lowercase(),
        dim: point.shape.dim,
        hidden: point.shape.hidden,
        layers: point.shape.layers,
        batch: point.batch,
        samples: point.samples,
        objective: point.objective.name().to_string(),
        without_replacement: point.without_replacement,
        warmup_steps: cfg.warmup_steps,
        steps: cfg.steps,
        step_ms_median: None,
        step_ms_q1: None,
        step_ms_q3: None,
        peak_bytes: None,
        flops_per_step: None,
        gflops: None,
        peak_gflops: None,
        frac_of_peak: None,
        quality_reps: 0,
        grad_rel_bias: None,
        grad_rel_var: None,
        grad_cosine: None,
        loss_rel_bias: None,
        err: String::new(),
        seed: cfg.seed,
        finished_unix: 0,
        provenance: Provenance::current(),
        gemm_gflops_in_step: None,
        gemm_frac_of_peak: None,
        gemm_share: None,
    }
}

/// Measures one point in a pool of `point.threads` threads, never failing: errors go to `err`.
pub fn measure_point(cfg: &SweepConfig, point: &Point) -> SweepRow {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(point.threads).build();
    let mut row = empty_row(cfg, point);
    let pool = match pool {
        Ok(p) => p,
        Err(e) => {
            row.err = format!("thread pool: {e}");
            return row;
        }
    };
    pool.install(|| {
        row.provenance = Provenance::current();
        row.provenance.isa = Provenance::isa_label(point.precision);
        let spec = StepSpec {
            shape: point.shape,
            batch: point.batch,
            objective: point.objective_config(),
            seed: cfg.seed,
            precision: point.precision,
        };
        // One probe step predicts the cost; points over budget are recorded as skipped.
        let t = Instant::now();
        if let Err(e) = time_steps(&spec, 0, 1) {
            row.err = e.to_string();
            return;
        }
        let one = t.elapsed().as_secs_f64();
        let planned = one * (cfg.warmup_steps + cfg.steps) as f64;
        if planned > cfg.max_point_seconds {
            row.err = format!(
                "skipped: one step took {:.1} s, {} steps would exceed max_point_seconds = {}",
                one,
                cfg.warmup_steps + cfg.steps,
                cfg.max_point_seconds
            );
            return;
        }
        match time_steps(&spec, cfg.warmup_steps, cfg.steps) {
            Ok(s) => {
                row.step_ms_median = Some(s.step_ms_median);
                row.step_ms_q1 = Some(s.step_ms_q1);
                row.step_ms_q3 = Some(s.step_ms_q3);
                row.peak_bytes = s.peak_bytes;
                row.flops_per_step = s.flops_per_step;
                row.gflops = s.gflops;
                row.gemm_gflops_in_step = s.gemm_gflops_in_step;
                row.gemm_share = s.gemm_gflops_in_step.map(|_| s.gemm_share);
            }
            Err(e) => {
                row.err = e.to_string();
                return;
            }
        }
        if cfg.measure_peak && (row.gflops.is_some() || row.gemm_gflops_in_step.is_some()) {
            if let Ok(p) = crate::peak::cached_or_measure(false) {
                row.peak_gflops = Some(p.gemm_gflops);
                row.frac_of_peak = row.gflops.map(|g| g / p.gemm_gflops);
                row.gemm_frac_of_peak = row.gemm_gflops_in_step.map(|g| g / p.gemm_gflops);
            }
        }
        let estimator =
            matches!(point.objective, Objective::RmUniform | Objective::GgisBasic | Objective::GgisAdvanced);
        if cfg.quality_reps > 0 && estimator && point.batch * point.shape.dim <= QUALITY_MAX_FLIPS {
            match estimator_quality(point, cfg.seed, cfg.quality_reps) {
                Ok((b, v, c, l)) => {
                    row.quality_reps = cfg.quality_reps;
                    row.grad_rel_bias = Some(b);
                    row.grad_rel_var = Some(v);
                    row.grad_cosine = Some(c);
                    row.loss_rel_bias = Some(l);
                }
                Err(e) => row.err = format!("quality: {e}"),
            }
        }
    });
    row.finished_unix = now_unix();
    row
}

/// Point ids already present in a sweep CSV (empty if the file does not exist).
pub fn done_ids(csv: &Path) -> Result<HashSet<String>> {
    if !csv.exists() || std::fs::metadata(csv).map(|m| m.len() == 0).unwrap_or(true) {
        return Ok(HashSet::new());
    }
    Ok(read_rows::<SweepRecord>(csv)?.into_iter().map(|r| r.point_id).collect())
}

/// Runs the given points into `csv`, skipping ids already there. `progress(i, total, id)` is called
/// before each point.
pub fn run_points(
    cfg: &SweepConfig,
    points: &[Point],
    csv: &Path,
    mut progress: impl FnMut(usize, usize, &str),
) -> Result<SweepSummary> {
    let done = done_ids(csv)?;
    let mut out = CsvAppender::open(csv)?;
    let mut sum = SweepSummary::default();
    for (i, p) in points.iter().enumerate() {
        progress(i, points.len(), &p.id);
        if done.contains(&p.id) {
            sum.already_done += 1;
            continue;
        }
        let row = measure_point(cfg, p);
        if !row.err.is_empty() {
            sum.failed += 1;
        }
        out.append(&row)?;
        sum.measured += 1;
    }
    Ok(sum)
}
