//! Density heat maps for the 2-D toy datasets, from the CSV `rmbench density` writes
//! (schema [`DensityRow`]: a grid of cell centres with the data histogram and the model density
//! p ∝ exp(−E) normalized over the grid).

use super::chart::{heat_maps, HeatPanel};
use crate::csvio::read_rows;
pub use crate::density::DensityRow;
use crate::error::{Error, Result};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// [`DensityRow`] as read back: empty cells (how the CSV writer stores NaN) become `None`.
#[derive(Debug, Deserialize)]
struct DensityRecord {
    x: Option<f64>,
    y: Option<f64>,
    value: Option<f64>,
    kind: String,
}

/// Distinct coordinates, ascending (values within 1e-9 of the span are one coordinate).
fn distinct(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    let tol = 1e-9 * (v.last().copied().unwrap_or(0.0) - v.first().copied().unwrap_or(0.0)).abs().max(1e-12);
    v.dedup_by(|a, b| (*a - *b).abs() <= tol);
    v
}

/// The rows of one kind as a heat-map panel placed by their (x, y); cells without a row stay
/// empty. O(rows · log rows).
fn panel(path: &Path, kind: &str, rows: &[&DensityRow]) -> Result<HeatPanel> {
    let xs = distinct(rows.iter().map(|r| r.x).collect());
    let ys = distinct(rows.iter().map(|r| r.y).collect());
    let (nx, ny) = (xs.len(), ys.len());
    if nx * ny > 1 << 22 {
        return Err(Error::file(path, format!("`{kind}` grid of {nx} × {ny} cells is too large to draw")));
    }
    let index = |v: f64, axis: &[f64]| {
        let i = axis.partition_point(|&a| a < v);
        // The nearest of axis[i − 1], axis[i].
        if i > 0 && (i == axis.len() || (v - axis[i - 1]).abs() <= (axis[i] - v).abs()) {
            i - 1
        } else {
            i
        }
    };
    let mut values = vec![f64::NAN; nx * ny];
    for r in rows {
        let (c, row_from_bottom) = (index(r.x, &xs), index(r.y, &ys));
        values[(ny - 1 - row_from_bottom) * nx + c] = r.value;
    }
    let name = match kind {
        "data" => "data (histogram of samples)".into(),
        "model" => "model p(x) ∝ exp(−E(x))".into(),
        other => other.to_string(),
    };
    Ok(HeatPanel { name, nx, ny, values })
}

/// `density_<csv stem>`: heat maps side by side, data | model (then any other `kind`), each
/// coloured by viridis(√(value / panel max)), cells placed by their (x, y). Rows with an
/// empty or non-finite value or coordinate are skipped and counted in the note. An error names the file
/// if it has no drawable rows or lacks a column.
pub fn density(path: &Path, out: &Path) -> Result<Vec<PathBuf>> {
    let records: Vec<DensityRecord> = read_rows(path)?;
    let n_rows = records.len();
    let rows: Vec<DensityRow> = records
        .into_iter()
        .filter_map(|r| Some(DensityRow { x: r.x?, y: r.y?, value: r.value?, kind: r.kind }))
        .collect();
    let ok: Vec<&DensityRow> =
        rows.iter().filter(|r| r.x.is_finite() && r.y.is_finite() && r.value.is_finite()).collect();
    let mut kinds: Vec<&str> = Vec::new();
    for r in &ok {
        if !kinds.contains(&r.kind.as_str()) {
            kinds.push(&r.kind);
        }
    }
    kinds.sort_by_key(|k| match *k {
        "data" => 0,
        "model" => 1,
        _ => 2,
    });
    if kinds.is_empty() {
        return Err(Error::file(path, "no rows with finite x, y and value to draw"));
    }
    let mut panels = Vec::new();
    for kind in kinds {
        let of_kind: Vec<&DensityRow> = ok.iter().copied().filter(|r| r.kind == kind).collect();
        panels.push(panel(path, kind, &of_kind)?);
    }
    let skipped = n_rows - ok.len();
    let note = if skipped > 0 {
        let rows = if skipped == 1 { "row" } else { "rows" };
        format!("{skipped} {rows} with a non-finite value or coordinate not shown")
    } else {
        "colour: viridis of √(value / panel max)".into()
    };
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "density".into());
    let stem = if stem == "density" { stem } else { format!("density_{stem}") };
    let dir = path.parent().and_then(|d| d.file_name()).map(|d| d.to_string_lossy().into_owned());
    let title = match dir {
        Some(d) if !d.is_empty() => {
            format!("Density over the plane: {d}/{}", path.file_name().unwrap_or_default().to_string_lossy())
        }
        _ => format!("Density over the plane: {}", path.display()),
    };
    heat_maps(&title, &note, &panels, &out.join(stem))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_placed_by_coordinates_with_y_up() {
        let rows: Vec<DensityRow> =
            [(0.0, 1.0, 1.0), (1.0, 0.0, 3.0), (0.0, 0.0, 2.0), (1.0, 1.0, 4.0), (2.0, 0.0, 5.0)]
                .into_iter()
                .map(|(x, y, value)| DensityRow { x, y, value, kind: "model".into() })
                .collect();
        let refs: Vec<&DensityRow> = rows.iter().collect();
        let p = panel(Path::new("t.csv"), "model", &refs).unwrap();
        assert_eq!((p.nx, p.ny), (3, 2));
        // Row-major from the top row (y = 1); (2, 1) has no row.
        let want = [1.0, 4.0, f64::NAN, 2.0, 3.0, 5.0];
        assert!(p.values.iter().zip(want).all(|(a, b)| a == &b || (a.is_nan() && b.is_nan())), "{:?}", p.values);
    }
}
