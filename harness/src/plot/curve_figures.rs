//! Training-curve figures from the CSVs `rmbench train` writes (schema `train::CurveRow`): the
//! logged metric against wall-clock time and the minibatch loss against step, one line per CSV.

use super::axis::Scale;
use super::chart::{line_chart, LineChart, Series};
use crate::csvio::read_rows;
use crate::error::{Error, Result};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The columns of a training-curve CSV the plots read (others are ignored by name).
#[derive(Clone, Debug, Deserialize)]
pub struct CurveRecord {
    /// Optimizer step (1-based).
    pub step: usize,
    /// Wall-clock training time so far, excluding evaluation (ms).
    pub wall_ms: f64,
    /// Minibatch objective value.
    pub loss: f64,
    /// Metric name (empty when not evaluated at this step).
    pub metric: String,
    /// Metric value (empty when not evaluated).
    pub metric_value: Option<f64>,
    /// Objective.
    pub objective: String,
    /// Samples per data point s (0 for exact objectives).
    pub samples: usize,
    /// Model kind.
    pub model: String,
    /// Dimension d.
    pub dim: usize,
    /// Batch size.
    pub batch: usize,
    /// Run seed.
    pub seed: u64,
}

/// Axis label for a metric name written by the training loop.
fn metric_desc(metric: &str) -> String {
    match metric {
        "nll_exact" => "exact NLL (nats per sample)".into(),
        "mmd_hamming" => "MMD² (unbiased, kernel d − Hamming), model vs data".into(),
        "coupling_log_rmse" => "log RMSE of couplings vs true J".into(),
        other => other.into(),
    }
}

/// Legend labels: the objective (with s), plus whichever of model, d, n and seed differ
/// between the runs, plus the file name if two runs would still share a label.
fn run_labels(runs: &[(PathBuf, Vec<CurveRecord>)]) -> Vec<String> {
    let varies = |f: &dyn Fn(&CurveRecord) -> String| {
        runs.iter().filter_map(|(_, r)| r.first().map(f)).collect::<BTreeSet<_>>().len() > 1
    };
    let (model, dim, batch, seed) = (
        varies(&|r| r.model.clone()),
        varies(&|r| r.dim.to_string()),
        varies(&|r| r.batch.to_string()),
        varies(&|r| r.seed.to_string()),
    );
    let mut labels: Vec<String> = runs
        .iter()
        .map(|(_, rows)| {
            let Some(r) = rows.first() else { return String::new() };
            let mut l = r.objective.clone();
            // s only means something for the sampled estimators.
            if r.samples > 0 && matches!(r.objective.as_str(), "rm-uniform" | "ggis-basic" | "ggis-advanced") {
                l += &format!(" s={}", r.samples);
            }
            if model {
                l += &format!(" {}", r.model);
            }
            if dim {
                l += &format!(" d={}", r.dim);
            }
            if batch {
                l += &format!(" n={}", r.batch);
            }
            if seed {
                l += &format!(" seed={}", r.seed);
            }
            l
        })
        .collect();
    let count = |l: &String, all: &[String]| all.iter().filter(|m| *m == l).count();
    let snapshot = labels.clone();
    for (l, (p, _)) in labels.iter_mut().zip(runs) {
        if count(l, &snapshot) > 1 {
            let name = p.parent().and_then(|d| d.file_name()).or(p.file_name());
            *l += &format!(" ({})", name.map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
        }
    }
    labels
}

/// Log₁₀ if every value is positive and they span more than a factor 30, else linear.
fn auto_scale<'a>(values: impl Iterator<Item = &'a f64>) -> Scale {
    let (mut lo, mut hi, mut pos) = (f64::INFINITY, f64::NEG_INFINITY, true);
    for &v in values.filter(|v| v.is_finite()) {
        pos &= v > 0.0;
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if pos && lo > 0.0 && hi / lo > 30.0 {
        Scale::Log10
    } else {
        Scale::Linear
    }
}

/// `training_curves` (`training_curves_<metric>` when the CSVs log several metrics): metric
/// value against wall-clock training seconds, one line per CSV; and `training_loss`: minibatch
/// loss against step. Metric-less CSVs appear only in the loss figure. Empty CSVs are skipped;
/// an unreadable one is an error naming the file.
pub fn training_curves(paths: &[PathBuf], out: &Path) -> Result<Vec<PathBuf>> {
    let mut runs = Vec::new();
    for p in paths {
        let rows: Vec<CurveRecord> = read_rows(p)?;
        if !rows.is_empty() {
            runs.push((p.clone(), rows));
        }
    }
    if runs.is_empty() {
        return Err(Error::Input(format!("no rows in {} training-curve CSV(s)", paths.len())));
    }
    let labels = run_labels(&runs);
    let mut by_metric: BTreeMap<&str, Vec<Series>> = BTreeMap::new();
    let mut loss = Vec::new();
    for ((_, rows), label) in runs.iter().zip(&labels) {
        let mut per: BTreeMap<&str, Vec<(f64, f64)>> = BTreeMap::new();
        for r in rows.iter().filter(|r| !r.metric.is_empty()) {
            if let Some(v) = r.metric_value.filter(|v| v.is_finite()) {
                per.entry(&r.metric).or_default().push((r.wall_ms / 1e3, v));
            }
        }
        for (m, points) in per {
            by_metric.entry(m).or_default().push(Series::line(label.clone(), points));
        }
        let points = rows.iter().filter(|r| r.loss.is_finite()).map(|r| (r.step as f64, r.loss)).collect();
        loss.push(Series::line(label.clone(), points));
    }
    let mut files = Vec::new();
    let several = by_metric.len() > 1;
    for (metric, series) in by_metric {
        let y_scale = auto_scale(series.iter().flat_map(|s| s.points.iter().map(|p| &p.1)));
        let c = LineChart {
            title: format!("Training curves: {} against time", metric_desc(metric)),
            x_desc: "wall-clock training time, evaluation excluded (s)".into(),
            y_desc: metric_desc(metric),
            x_scale: Scale::Linear,
            y_scale,
            series,
            note: String::new(),
        };
        let stem = if several { format!("training_curves_{metric}") } else { "training_curves".into() };
        files.extend(line_chart(&c, &out.join(stem))?);
    }
    if loss.iter().any(|s| !s.points.is_empty()) {
        let y_scale = auto_scale(loss.iter().flat_map(|s| s.points.iter().map(|p| &p.1)));
        let c = LineChart {
            title: "Training loss (minibatch objective) against step".into(),
            x_desc: "optimizer step".into(),
            y_desc: "minibatch objective value".into(),
            x_scale: Scale::Linear,
            y_scale,
            series: loss,
            note: String::new(),
        };
        files.extend(line_chart(&c, &out.join("training_loss"))?);
    }
    Ok(files)
}
