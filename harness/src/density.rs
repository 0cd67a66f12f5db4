//! Density of a model over the plane for the 2-D toy datasets: a grid of points is quantized with
//! the dataset's Gray-code quantizer, the model's energies give p ∝ exp(−E) normalized over the
//! grid, next to a histogram of data samples on the same grid. Written as CSV rows for the plots.

use crate::error::{Error, Result};
use rmbench_datasets::gray::Quantizer;
use rmbench_datasets::rng::Stream;
use rmbench_datasets::toy::{sample_2d, Toy};
use rmbench_kernels::EnergyModel;
use serde::{Deserialize, Serialize};

/// One grid cell of a density CSV.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct DensityRow {
    /// Cell centre, x.
    pub x: f64,
    /// Cell centre, y.
    pub y: f64,
    /// Normalized density over the grid (sums to 1 per kind).
    pub value: f64,
    /// `model` or `data`.
    pub kind: String,
}

/// Model density and data histogram on a `grid × grid` lattice over the data's square [−f, f]²
/// (f = the quantizer's f_scale − 1, i.e. the largest |coordinate| seen).
pub fn density_grid(
    model: &dyn EnergyModel,
    dataset: &str,
    grid: usize,
    n: usize,
    seed: u64,
) -> Result<Vec<DensityRow>> {
    let toy = Toy::parse(dataset).ok_or_else(|| Error::Input(format!("`{dataset}` is not a 2-D toy dataset")))?;
    let q = Quantizer::for_toy(toy, model.dim()).map_err(|e| Error::Input(e.to_string()))?;
    let lim = q.f_scale - 1.0;
    let grid = grid.max(2);
    let step = 2.0 * lim / grid as f64;
    let centres: Vec<[f64; 2]> = (0..grid * grid)
        .map(|k| [-lim + (k % grid) as f64 * step + step / 2.0, lim - (k / grid) as f64 * step - step / 2.0])
        .collect();
    let x = q.encode(&centres);
    let mut e = vec![0f32; x.n()];
    model.energy(&x, &mut e);
    let m = e.iter().map(|&v| -(v as f64)).fold(f64::NEG_INFINITY, f64::max);
    let w: Vec<f64> = e.iter().map(|&v| (-(v as f64) - m).exp()).collect();
    let z: f64 = w.iter().sum();
    let mut rows: Vec<DensityRow> = centres
        .iter()
        .zip(&w)
        .map(|(c, wi)| DensityRow { x: c[0], y: c[1], value: wi / z, kind: "model".into() })
        .collect();
    let mut hist = vec![0f64; grid * grid];
    let pts = sample_2d(toy, n, &mut Stream::new(seed, 0x70));
    for p in &pts {
        let cx = ((p[0] + lim) / step).floor();
        let cy = ((lim - p[1]) / step).floor();
        if (0.0..grid as f64).contains(&cx) && (0.0..grid as f64).contains(&cy) {
            hist[cy as usize * grid + cx as usize] += 1.0;
        }
    }
    let tot: f64 = hist.iter().sum::<f64>().max(1.0);
    rows.extend(centres.iter().zip(&hist).map(|(c, h)| DensityRow {
        x: c[0],
        y: c[1],
        value: h / tot,
        kind: "data".into(),
    }));
    Ok(rows)
}
