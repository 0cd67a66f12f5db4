//! A grid of binary samples drawn as images (e.g. 28 × 28 MNIST digits): bit `r·w + c` of a
//! sample is pixel (row r, column c), set bits black. PNG only (one rectangle per set pixel).

use super::chart::register_font;
use crate::error::{Error, Result};
use plotters::prelude::*;
use std::path::{Path, PathBuf};

/// Pixels per bit.
const SCALE: u32 = 3;
/// Gap between images, in pixels.
const GAP: u32 = 4;

/// `samples_<stem>.png`: the samples of `path` (text or .npy) as `width`-bit-wide images in a
/// near-square grid with a caption. Errors name the file (unreadable, or d not a multiple of width).
pub fn sample_grid(path: &Path, width: usize, caption: &str, out_dir: &Path) -> Result<Vec<PathBuf>> {
    let x = rmbench_datasets::io::read_file(path).map_err(|e| Error::Input(e.to_string()))?;
    let (n, d) = (x.n(), x.d());
    if width == 0 || d % width != 0 || n == 0 {
        return Err(Error::file(path, format!("{n} samples of {d} bits cannot be drawn {width} bits wide")));
    }
    let height = d / width;
    let cols = (n as f64).sqrt().ceil() as usize;
    let rows = n.div_ceil(cols);
    let cell = |k: usize| (k as u32) * (SCALE * width.max(height) as u32 + GAP) + GAP;
    let (w, h) = (cell(cols).max(320), cell(rows) + 40);
    register_font();
    std::fs::create_dir_all(out_dir).map_err(|e| Error::file(out_dir, e))?;
    let stem = path.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
    let png = out_dir.join(format!("samples_{stem}.png"));
    let draw_err = |e: &dyn std::fmt::Display| Error::file(&png, format!("drawing failed: {e}"));
    let root = BitMapBackend::new(&png, (w, h)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| draw_err(&e))?;
    root.draw(&Text::new(caption.to_string(), (GAP as i32, 10), ("sans-serif", 16).into_font()))
        .map_err(|e| draw_err(&e))?;
    for s in 0..n {
        let (x0, y0) = (cell(s % cols) as i32, cell(s / cols) as i32 + 36);
        let frame = [(x0 - 1, y0 - 1), (x0 + (SCALE * width as u32) as i32, y0 + (SCALE * height as u32) as i32)];
        root.draw(&Rectangle::new(frame, RGBColor(200, 200, 200))).map_err(|e| draw_err(&e))?;
        for i in (0..d).filter(|&i| x.get(s, i)) {
            let (px, py) = (x0 + ((i % width) as u32 * SCALE) as i32, y0 + ((i / width) as u32 * SCALE) as i32);
            let r = Rectangle::new([(px, py), (px + SCALE as i32, py + SCALE as i32)], BLACK.filled());
            root.draw(&r).map_err(|e| draw_err(&e))?;
        }
    }
    root.present().map_err(|e| draw_err(&e))?;
    Ok(vec![png.clone()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_a_grid_and_rejects_a_bad_width() {
        let dir = std::env::temp_dir().join(format!("rmbench-grid-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("s.txt");
        let mut x = rmbench_kernels::BitBatch::zeros(5, 12);
        (0..5).for_each(|r| x.set(r, r, true));
        rmbench_datasets::io::write_file(&f, &x).unwrap();
        let out = sample_grid(&f, 4, "five samples", &dir).unwrap();
        assert!(std::fs::metadata(&out[0]).unwrap().len() > 100);
        let e = sample_grid(&f, 5, "", &dir).unwrap_err().to_string();
        assert!(e.contains("s.txt") && e.contains("5 bits wide"), "{e}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
