//! Figures redrawn from CSVs alone, one function per figure, each written as PNG and SVG with the
//! committed DejaVu Sans font (no system fonts needed).
//!
//! - Sweep CSVs ([`SweepRecord`]): [`time_vs_dim`], [`speedup_vs_dim`], [`memory_vs_dim`],
//!   [`throughput_vs_dim`] (log₂ d axis) and [`grad_error_vs_samples`]; rows with an `err` or no
//!   timing are skipped and counted in each figure's note.
//! - Training-curve CSVs (`train::CurveRow`): [`training_curves`].
//! - Density CSVs ([`DensityRow`]): [`density`], data | model heat maps.
//! - Reference-comparison CSVs (`scripts/compare-reference.sh`): [`reference_comparison`].
//!
//! [`plot_all`] draws every figure its inputs allow and returns the files written.

pub mod axis;
pub mod chart;
pub mod curve_figures;
pub mod density_figure;
pub mod sample_grid;
pub mod sweep_figures;

pub use curve_figures::{training_curves, CurveRecord};
pub use density_figure::{density, DensityRow};
pub use sweep_figures::{
    grad_error_vs_samples, load_sweeps, memory_vs_dim, speedup_vs_dim, throughput_vs_dim, time_vs_dim, SweepSet,
};

use crate::csvio::read_rows;
use crate::error::{Error, Result};
pub use crate::sweep::schema::SweepRecord;
use axis::Scale;
use chart::{line_chart, LineChart, Series};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The CSVs to plot.
#[derive(Clone, Debug, Default)]
pub struct PlotInputs {
    /// Sweep CSVs (schema `sweep::schema::SweepRow`).
    pub sweep_csvs: Vec<PathBuf>,
    /// Training-curve CSVs (schema `train::CurveRow`).
    pub curve_csvs: Vec<PathBuf>,
    /// Density CSVs (schema [`DensityRow`]).
    pub density_csvs: Vec<PathBuf>,
    /// Reference-comparison CSVs (from `scripts/compare-reference.sh`).
    pub reference_csvs: Vec<PathBuf>,
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
    /// rmbench's kernel ISA (`avx512`, `avx512+amx-bf16`, …); empty in files that lack it.
    #[serde(default)]
    pub isa: String,
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
    let mut isas: Vec<&str> = rows.iter().map(|r| r.isa.as_str()).filter(|i| !i.is_empty()).collect();
    isas.sort_unstable();
    isas.dedup();
    let isa = if isas.is_empty() { String::new() } else { format!(" [{}]", isas.join(", ")) };
    let to_series = |m: BTreeMap<String, Vec<(f64, f64)>>| {
        m.into_iter().map(|(label, points)| Series::line(label, points)).collect()
    };
    let mut files = line_chart(
        &LineChart {
            title: format!("MLP 256×3 training step: rmbench{isa} vs PyTorch reference (n=128, s=10)"),
            x_desc: "dimension d (bits)".into(),
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
            title: format!("Speed-up of rmbench{isa} over the PyTorch reference"),
            x_desc: "dimension d (bits)".into(),
            y_desc: "time(PyTorch) / time(rmbench) (dashed: break-even)".into(),
            x_scale: Scale::Log2,
            y_scale: Scale::Linear,
            series: {
                let mut s: Vec<Series> = to_series(speed);
                let dims = rows.iter().map(|r| r.dim as f64);
                let (d0, d1) = dims.fold((f64::INFINITY, 0f64), |(a, b), d| (a.min(d), b.max(d)));
                s.push(Series::guide("break-even", vec![(d0, 1.0), (d1, 1.0)]));
                s
            },
            note: String::new(),
        },
        &out.join("reference_speedup_vs_dim"),
    )?);
    Ok(files)
}

/// Every figure the inputs allow, into `out_dir` (created if needed); returns the PNG and SVG
/// files written. Errors name the CSV at fault (unreadable, a required column missing, a row
/// that does not parse); sweep CSVs without a single measured row are an error too.
pub fn plot_all(inputs: &PlotInputs, out_dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    if !inputs.sweep_csvs.is_empty() {
        let set = load_sweeps(&inputs.sweep_csvs)?;
        if set.ok.is_empty() {
            return Err(Error::Input(format!(
                "no measured points in {} sweep CSV(s) ({} rows skipped: error or no timing)",
                inputs.sweep_csvs.len(),
                set.skipped.len()
            )));
        }
        files.extend(time_vs_dim(&set, out_dir)?);
        files.extend(speedup_vs_dim(&set, out_dir)?);
        files.extend(memory_vs_dim(&set, out_dir)?);
        files.extend(throughput_vs_dim(&set, out_dir)?);
        files.extend(grad_error_vs_samples(&set, out_dir)?);
    }
    if !inputs.curve_csvs.is_empty() {
        files.extend(training_curves(&inputs.curve_csvs, out_dir)?);
    }
    for d in &inputs.density_csvs {
        files.extend(density(d, out_dir)?);
    }
    for r in &inputs.reference_csvs {
        files.extend(reference_comparison(r, out_dir)?);
    }
    Ok(files)
}

#[cfg(test)]
mod tests;
