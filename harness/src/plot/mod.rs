//! Figures redrawn from CSVs alone, one function per figure, each written as PNG and SVG.
//!
//! From sweep CSVs: step time vs d, speed-up over exact RM vs d, peak memory vs d, fraction of the
//! machine's peak vs d, gradient-estimate error vs s. From training-curve CSVs: metric (or loss)
//! vs wall-clock time. From density CSVs: data and model heat maps over the plane.

pub mod chart;

use crate::csvio::read_rows;
use crate::density::DensityRow;
use crate::error::{Error, Result};
use crate::sweep::schema::SweepRecord;
use chart::{heat_maps, line_chart, LineChart, Scale, Series};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The CSVs to plot.
#[derive(Clone, Debug, Default)]
pub struct PlotInputs {
    /// Sweep CSVs (schema `SweepRow`).
    pub sweep_csvs: Vec<PathBuf>,
    /// Training-curve CSVs (schema `CurveRow`).
    pub curve_csvs: Vec<PathBuf>,
    /// Density CSVs (schema `DensityRow`).
    pub density_csvs: Vec<PathBuf>,
    /// Reference-comparison CSVs (from `scripts/compare-reference.sh`).
    pub reference_csvs: Vec<PathBuf>,
}

/// Sweep rows that measured successfully, and how many were skipped (error or no timing).
pub fn load_sweeps(paths: &[PathBuf]) -> Result<(Vec<SweepRecord>, usize)> {
    let mut ok = Vec::new();
    let mut skipped = 0;
    for p in paths {
        for r in read_rows::<SweepRecord>(p)? {
            if r.err.is_empty() && r.step_ms_median.is_some() {
                ok.push(r);
            } else {
                skipped += 1;
            }
        }
    }
    Ok((ok, skipped))
}

/// Group key: one figure per (model, batch, threads, isa).
fn group_key(r: &SweepRecord) -> String {
    format!("{} n={} t={} {}", r.model, r.batch, r.threads, r.isa)
}

fn file_key(r: &SweepRecord) -> String {
    format!("{}_n{}_t{}_{}", r.model, r.batch, r.threads, r.isa)
}

/// Keeps, per (group, objective, d), the rows at the most common s (so the d-scaling lines compare
/// like with like; exact objectives have s = 0).
fn scaling_rows(rows: &[SweepRecord]) -> Vec<&SweepRecord> {
    let mut s_count: BTreeMap<(String, usize), usize> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.samples > 0) {
        *s_count.entry((group_key(r), r.samples)).or_default() += 1;
    }
    let best_s = |g: &str| s_count.iter().filter(|((k, _), _)| k == g).max_by_key(|(_, c)| **c).map(|((_, s), _)| *s);
    rows.iter().filter(|r| r.samples == 0 || Some(r.samples) == best_s(&group_key(r))).collect()
}

fn by_objective(rows: &[&SweepRecord], f: impl Fn(&SweepRecord) -> Option<f64>) -> Vec<Series> {
    let mut m: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for r in rows {
        if let Some(v) = f(r) {
            let label = if r.samples > 0 { format!("{} (s={})", r.objective, r.samples) } else { r.objective.clone() };
            m.entry(label).or_default().push((r.dim as f64, v));
        }
    }
    m.into_iter().map(|(label, points)| Series { label, points }).collect()
}

fn groups(rows: &[SweepRecord]) -> BTreeMap<String, Vec<&SweepRecord>> {
    let mut g: BTreeMap<String, Vec<&SweepRecord>> = BTreeMap::new();
    for r in scaling_rows(rows) {
        g.entry(file_key(r)).or_default().push(r);
    }
    g
}

fn note(skipped: usize) -> String {
    if skipped > 0 {
        format!("{skipped} failed/skipped points not shown")
    } else {
        String::new()
    }
}

/// Median step time against d (log-log), one line per objective, one figure per model group.
pub fn time_vs_dim(rows: &[SweepRecord], skipped: usize, out: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for (key, g) in groups(rows) {
        let series = by_objective(&g, |r| r.step_ms_median);
        let c = LineChart {
            title: format!("Time per training step, {}", group_key(g[0])),
            x_desc: "dimension d".into(),
            y_desc: "median time per step (ms)".into(),
            x_scale: Scale::Log2,
            y_scale: Scale::Log10,
            series,
            note: note(skipped),
        };
        files.extend(line_chart(&c, &out.join(format!("time_vs_dim_{key}")))?);
    }
    Ok(files)
}

/// Speed-up of every other objective over exact `rm` at the same d (median times).
pub fn speedup_vs_dim(rows: &[SweepRecord], out: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for (key, g) in groups(rows) {
        let rm: BTreeMap<usize, f64> =
            g.iter().filter(|r| r.objective == "rm").filter_map(|r| Some((r.dim, r.step_ms_median?))).collect();
        let others: Vec<&SweepRecord> = g.iter().copied().filter(|r| r.objective != "rm" && r.samples > 0).collect();
        let series = by_objective(&others, |r| Some(rm.get(&r.dim)? / r.step_ms_median?));
        if series.iter().all(|s| s.points.is_empty()) {
            continue;
        }
        let c = LineChart {
            title: format!("Speed-up over exact RM, {}", group_key(g[0])),
            x_desc: "dimension d".into(),
            y_desc: "time(rm) / time(objective)".into(),
            x_scale: Scale::Log2,
            y_scale: Scale::Log10,
            series,
            note: String::new(),
        };
        files.extend(line_chart(&c, &out.join(format!("speedup_vs_dim_{key}")))?);
    }
    Ok(files)
}

/// Peak heap memory of a step against d.
pub fn memory_vs_dim(rows: &[SweepRecord], out: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for (key, g) in groups(rows) {
        let series = by_objective(&g, |r| r.peak_bytes.filter(|&b| b > 0).map(|b| b as f64 / (1u64 << 20) as f64));
        if series.iter().all(|s| s.points.is_empty()) {
            continue;
        }
        let c = LineChart {
            title: format!("Peak heap memory of a step, {}", group_key(g[0])),
            x_desc: "dimension d".into(),
            y_desc: "peak heap above baseline (MiB)".into(),
            x_scale: Scale::Log2,
            y_scale: Scale::Log10,
            series,
            note: String::new(),
        };
        files.extend(line_chart(&c, &out.join(format!("memory_vs_dim_{key}")))?);
    }
    Ok(files)
}

/// Achieved dense GFLOP/s as a fraction of the machine's measured GEMM peak.
pub fn throughput_vs_dim(rows: &[SweepRecord], out: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for (key, g) in groups(rows) {
        let series = by_objective(&g, |r| r.frac_of_peak.map(|f| 100.0 * f));
        if series.iter().all(|s| s.points.is_empty()) {
            continue;
        }
        let c = LineChart {
            title: format!("Dense throughput vs measured GEMM peak, {}", group_key(g[0])),
            x_desc: "dimension d".into(),
            y_desc: "achieved / peak GFLOP/s (%)".into(),
            x_scale: Scale::Log2,
            y_scale: Scale::Linear,
            series,
            note: String::new(),
        };
        files.extend(line_chart(&c, &out.join(format!("throughput_vs_dim_{key}")))?);
    }
    Ok(files)
}

/// Gradient-estimate error against s, per (model, d): relative variance and 1 − cosine.
pub fn grad_error_vs_samples(rows: &[SweepRecord], out: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut g: BTreeMap<(String, usize), Vec<&SweepRecord>> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.grad_rel_var.is_some() && r.samples > 0) {
        g.entry((file_key(r), r.dim)).or_default().push(r);
    }
    for ((key, d), rs) in g {
        let distinct_s: std::collections::BTreeSet<usize> = rs.iter().map(|r| r.samples).collect();
        if distinct_s.len() < 2 {
            continue;
        }
        for (metric, f, ydesc) in [
            ("relvar", (|r: &SweepRecord| r.grad_rel_var) as fn(&SweepRecord) -> Option<f64>, "E‖ĝ − E ĝ‖² / ‖g‖²"),
            ("cosine", |r: &SweepRecord| r.grad_cosine.map(|c| (1.0 - c).max(1e-12)), "1 − cos(ĝ, g)"),
        ] {
            let mut m: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
            for r in &rs {
                if let Some(v) = f(r) {
                    m.entry(r.objective.clone()).or_default().push((r.samples as f64, v));
                }
            }
            let c = LineChart {
                title: format!("Gradient estimate vs exact RM, {} d={d}", group_key(rs[0])),
                x_desc: "sampled bits per sample s".into(),
                y_desc: ydesc.into(),
                x_scale: Scale::Log2,
                y_scale: Scale::Log10,
                series: m.into_iter().map(|(label, points)| Series { label, points }).collect(),
                note: String::new(),
            };
            files.extend(line_chart(&c, &out.join(format!("grad_{metric}_vs_samples_{key}_d{d}")))?);
        }
    }
    Ok(files)
}

/// The columns of a training-curve CSV the plots read.
#[derive(Clone, Debug, Deserialize)]
pub struct CurveRecord {
    /// Step.
    pub step: usize,
    /// Wall ms.
    pub wall_ms: f64,
    /// Loss.
    pub loss: f64,
    /// Metric name.
    pub metric: String,
    /// Metric value.
    pub metric_value: Option<f64>,
    /// Objective.
    pub objective: String,
    /// Model.
    pub model: String,
    /// d.
    pub dim: usize,
}

/// Metric (NLL or MMD, from the `metric` column) against wall-clock time, one line per CSV; or
/// loss against step when no metric was logged.
pub fn training_curves(paths: &[PathBuf], out: &Path) -> Result<Vec<PathBuf>> {
    let mut metric_series = Vec::new();
    let mut loss_series = Vec::new();
    let mut metric_name = String::new();
    for p in paths {
        let rows: Vec<CurveRecord> = read_rows(p)?;
        let Some(first) = rows.first() else { continue };
        let label = format!("{} {} d={}", first.objective, first.model, first.dim);
        let pts: Vec<(f64, f64)> = rows.iter().filter_map(|r| Some((r.wall_ms / 1e3, r.metric_value?))).collect();
        if !pts.is_empty() {
            metric_name = rows.iter().find(|r| !r.metric.is_empty()).map(|r| r.metric.clone()).unwrap_or_default();
            metric_series.push(Series { label: label.clone(), points: pts });
        }
        loss_series.push(Series { label, points: rows.iter().map(|r| (r.step as f64, r.loss)).collect() });
    }
    let mut files = Vec::new();
    if !metric_series.is_empty() {
        let c = LineChart {
            title: format!("Training curves: {metric_name} against time"),
            x_desc: "wall-clock training time (s)".into(),
            y_desc: metric_name.clone(),
            x_scale: Scale::Linear,
            y_scale: Scale::Linear,
            series: metric_series,
            note: String::new(),
        };
        files.extend(line_chart(&c, &out.join("training_curves"))?);
    }
    if !loss_series.is_empty() {
        let c = LineChart {
            title: "Training loss".into(),
            x_desc: "step".into(),
            y_desc: "objective value (minibatch)".into(),
            x_scale: Scale::Linear,
            y_scale: Scale::Log10,
            series: loss_series,
            note: String::new(),
        };
        files.extend(line_chart(&c, &out.join("training_loss"))?);
    }
    Ok(files)
}

/// Data and model heat maps side by side from a density CSV.
pub fn density(path: &Path, out: &Path) -> Result<Vec<PathBuf>> {
    let rows: Vec<DensityRow> = read_rows(path)?;
    let mut panels = Vec::new();
    for kind in ["data", "model"] {
        let vals: Vec<f64> = rows.iter().filter(|r| r.kind == kind).map(|r| r.value).collect();
        let g = (vals.len() as f64).sqrt().round() as usize;
        if g * g != vals.len() || g == 0 {
            return Err(Error::file(path, format!("`{kind}` rows do not form a square grid ({} rows)", vals.len())));
        }
        panels.push((kind.to_string(), g, vals));
    }
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "density".into());
    heat_maps(&format!("Density over the plane: {stem}"), &panels, &out.join(format!("density_{stem}")))
}

/// The columns of `scripts/compare-reference.sh`'s CSV that the plot reads.
#[derive(Clone, Debug, Deserialize)]
pub struct ReferenceRecord {
    /// d.
    pub dim: usize,
    /// Objective.
    pub objective: String,
    /// rmbench median ms per step.
    pub rmbench_ms: f64,
    /// PyTorch median ms per step.
    pub pytorch_ms: f64,
}

/// rmbench against the PyTorch reference: time per step against d, one line per implementation
/// and objective, and the speed-up.
pub fn reference_comparison(path: &Path, out: &Path) -> Result<Vec<PathBuf>> {
    let rows: Vec<ReferenceRecord> = read_rows(path)?;
    let mut times: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    let mut speed: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for r in &rows {
        times.entry(format!("rmbench {}", r.objective)).or_default().push((r.dim as f64, r.rmbench_ms));
        times.entry(format!("PyTorch {}", r.objective)).or_default().push((r.dim as f64, r.pytorch_ms));
        speed.entry(r.objective.clone()).or_default().push((r.dim as f64, r.pytorch_ms / r.rmbench_ms));
    }
    let to_series =
        |m: BTreeMap<String, Vec<(f64, f64)>>| m.into_iter().map(|(label, points)| Series { label, points }).collect();
    let mut files = line_chart(
        &LineChart {
            title: "MLP 256×3 training step: rmbench vs PyTorch reference (n=128, s=10)".into(),
            x_desc: "dimension d".into(),
            y_desc: "median time per step (ms)".into(),
            x_scale: Scale::Log2,
            y_scale: Scale::Log10,
            series: to_series(times),
            note: String::new(),
        },
        &out.join("reference_time_vs_dim"),
    )?;
    files.extend(line_chart(
        &LineChart {
            title: "Speed-up of rmbench over the PyTorch reference".into(),
            x_desc: "dimension d".into(),
            y_desc: "time(PyTorch) / time(rmbench)".into(),
            x_scale: Scale::Log2,
            y_scale: Scale::Linear,
            series: to_series(speed),
            note: String::new(),
        },
        &out.join("reference_speedup_vs_dim"),
    )?);
    Ok(files)
}

/// Every figure the inputs allow; returns the files written.
pub fn plot_all(inputs: &PlotInputs, out: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    if !inputs.sweep_csvs.is_empty() {
        let (rows, skipped) = load_sweeps(&inputs.sweep_csvs)?;
        if rows.is_empty() {
            return Err(Error::Input(format!("no successful points in {} sweep CSV(s)", inputs.sweep_csvs.len())));
        }
        files.extend(time_vs_dim(&rows, skipped, out)?);
        files.extend(speedup_vs_dim(&rows, out)?);
        files.extend(memory_vs_dim(&rows, out)?);
        files.extend(throughput_vs_dim(&rows, out)?);
        files.extend(grad_error_vs_samples(&rows, out)?);
    }
    if !inputs.curve_csvs.is_empty() {
        files.extend(training_curves(&inputs.curve_csvs, out)?);
    }
    for d in &inputs.density_csvs {
        files.extend(density(d, out)?);
    }
    for r in &inputs.reference_csvs {
        files.extend(reference_comparison(r, out)?);
    }
    Ok(files)
}

#[cfg(test)]
mod tests;
