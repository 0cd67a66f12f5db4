//! A line chart and a heat map drawn with plotters into PNG and SVG, with the committed DejaVu Sans
//! font (no system fonts needed). Log axes are drawn in log space on linear coordinates with tick
//! labels mapped back (2^k on x, 10^k on y), which keeps one code path for every figure.

use crate::error::{Error, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

/// Registers the committed font as `sans-serif` (once).
pub fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// Axis scale.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Scale {
    /// Linear.
    Linear,
    /// log₂ (ticks 2^k).
    Log2,
    /// log₁₀ (ticks 10^k).
    Log10,
}

impl Scale {
    fn fwd(self, v: f64) -> f64 {
        match self {
            Scale::Linear => v,
            Scale::Log2 => v.log2(),
            Scale::Log10 => v.log10(),
        }
    }
    fn label(self, t: f64) -> String {
        let v = match self {
            Scale::Linear => t,
            Scale::Log2 => 2f64.powf(t),
            Scale::Log10 => 10f64.powf(t),
        };
        if v == 0.0 {
            "0".into()
        } else if v.abs() >= 10.0 || (v.fract().abs() < 1e-9 && v.abs() >= 1.0) {
            format!("{v:.0}")
        } else if v.abs() >= 0.1 {
            format!("{v:.1}")
        } else {
            format!("{v:.0e}")
        }
    }
}

/// One line of a chart.
#[derive(Clone, Debug)]
pub struct Series {
    /// Legend label.
    pub label: String,
    /// Points (x, y) in data units.
    pub points: Vec<(f64, f64)>,
}

/// A line chart.
#[derive(Clone, Debug)]
pub struct LineChart {
    /// Title.
    pub title: String,
    /// x-axis label with unit.
    pub x_desc: String,
    /// y-axis label with unit.
    pub y_desc: String,
    /// x scale.
    pub x_scale: Scale,
    /// y scale.
    pub y_scale: Scale,
    /// Lines.
    pub series: Vec<Series>,
    /// A note under the title (e.g. rows skipped), empty for none.
    pub note: String,
}

const COLORS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

fn err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::file(path, format!("drawing failed: {e}"))
}

fn draw_lines<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, c: &LineChart, path: &Path) -> Result<()> {
    root.fill(&WHITE).map_err(|e| err(path, e))?;
    let pts: Vec<(f64, f64)> = c
        .series
        .iter()
        .flat_map(|s| s.points.iter())
        .filter(|(x, y)| {
            x.is_finite()
                && y.is_finite()
                && (c.x_scale == Scale::Linear || *x > 0.0)
                && (c.y_scale == Scale::Linear || *y > 0.0)
        })
        .map(|&(x, y)| (c.x_scale.fwd(x), c.y_scale.fwd(y)))
        .collect();
    if pts.is_empty() {
        return Err(Error::file(path, "no finite points to plot"));
    }
    let (mut x0, mut x1) = pts.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |a, p| (a.0.min(p.0), a.1.max(p.0)));
    let (mut y0, mut y1) = pts.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |a, p| (a.0.min(p.1), a.1.max(p.1)));
    let pad = |lo: &mut f64, hi: &mut f64| {
        let span = (*hi - *lo).max(1e-9);
        *lo -= 0.06 * span;
        *hi += 0.06 * span;
        if (*hi - *lo) < 1e-6 {
            *lo -= 0.5;
            *hi += 0.5;
        }
    };
    pad(&mut x0, &mut x1);
    pad(&mut y0, &mut y1);
    let caption = if c.note.is_empty() { c.title.clone() } else { format!("{} ({})", c.title, c.note) };
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(48)
        .y_label_area_size(72)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(|e| err(path, e))?;
    let (xs, ys) = (c.x_scale, c.y_scale);
    let xf = move |v: &f64| xs.label(*v);
    let yf = move |v: &f64| ys.label(*v);
    let x_ticks = if xs == Scale::Log2 { ((x1.floor() - x0.ceil()) as usize + 1).clamp(2, 14) } else { 8 };
    chart
        .configure_mesh()
        .x_desc(c.x_desc.as_str())
        .y_desc(c.y_desc.as_str())
        .x_labels(x_ticks)
        .y_labels(if ys == Scale::Log10 { ((y1 - y0).ceil() as usize + 1).clamp(2, 10) } else { 8 })
        .x_label_formatter(&xf)
        .y_label_formatter(&yf)
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 17))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(|e| err(path, e))?;
    for (k, s) in c.series.iter().enumerate() {
        let color = COLORS[k % COLORS.len()];
        let mut p: Vec<(f64, f64)> = s
            .points
            .iter()
            .filter(|(x, y)| {
                x.is_finite() && y.is_finite() && (xs == Scale::Linear || *x > 0.0) && (ys == Scale::Linear || *y > 0.0)
            })
            .map(|&(x, y)| (xs.fwd(x), ys.fwd(y)))
            .collect();
        p.sort_by(|a, b| a.0.total_cmp(&b.0));
        chart
            .draw_series(LineSeries::new(p.clone(), color.stroke_width(2)))
            .map_err(|e| err(path, e))?
            .label(s.label.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
        chart.draw_series(p.iter().map(|&q| Circle::new(q, 4, color.filled()))).map_err(|e| err(path, e))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font(("sans-serif", 15))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| err(path, e))?;
    root.present().map_err(|e| err(path, e))
}

/// Writes `<stem>.png` (1000 × 620) and `<stem>.svg`; returns both paths.
pub fn line_chart(c: &LineChart, stem: &Path) -> Result<Vec<PathBuf>> {
    register_font();
    let png = stem.with_extension("png");
    let svg = stem.with_extension("svg");
    if let Some(dir) = stem.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::file(dir, e))?;
    }
    draw_lines(BitMapBackend::new(&png, (1000, 620)).into_drawing_area(), c, &png)?;
    draw_lines(SVGBackend::new(&svg, (1000, 620)).into_drawing_area(), c, &svg)?;
    Ok(vec![png, svg])
}

/// Viridis colour map (11 anchors, linear interpolation), t ∈ [0, 1].
pub fn viridis(t: f64) -> RGBColor {
    const V: [(u8, u8, u8); 11] = [
        (68, 1, 84),
        (72, 36, 117),
        (65, 68, 135),
        (53, 95, 141),
        (42, 120, 142),
        (33, 145, 140),
        (34, 168, 132),
        (68, 191, 112),
        (122, 209, 81),
        (189, 223, 38),
        (253, 231, 37),
    ];
    let t = t.clamp(0.0, 1.0) * 10.0;
    let (i, f) = ((t.floor() as usize).min(9), t - t.floor().min(9.0));
    let lerp = |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * f).round() as u8;
    RGBColor(lerp(V[i].0, V[i + 1].0), lerp(V[i].1, V[i + 1].1), lerp(V[i].2, V[i + 1].2))
}

/// Panels of square heat maps side by side: (title, grid × grid values, row-major from the top).
pub fn heat_maps(title: &str, panels: &[(String, usize, Vec<f64>)], stem: &Path) -> Result<Vec<PathBuf>> {
    register_font();
    let png = stem.with_extension("png");
    let svg = stem.with_extension("svg");
    let w = 460 * panels.len() as u32;
    draw_heat(BitMapBackend::new(&png, (w, 500)).into_drawing_area(), title, panels, &png)?;
    draw_heat(SVGBackend::new(&svg, (w, 500)).into_drawing_area(), title, panels, &svg)?;
    Ok(vec![png, svg])
}

fn draw_heat<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    title: &str,
    panels: &[(String, usize, Vec<f64>)],
    path: &Path,
) -> Result<()> {
    root.fill(&WHITE).map_err(|e| err(path, e))?;
    let root = root.titled(title, ("sans-serif", 22)).map_err(|e| err(path, e))?;
    let areas = root.split_evenly((1, panels.len().max(1)));
    for (area, (name, g, vals)) in areas.iter().zip(panels) {
        let g = *g;
        let max = vals.iter().cloned().fold(0f64, f64::max).max(1e-300);
        let mut chart = ChartBuilder::on(area)
            .caption(name.as_str(), ("sans-serif", 18))
            .margin(10)
            .build_cartesian_2d(0..g, 0..g)
            .map_err(|e| err(path, e))?;
        chart
            .draw_series((0..g * g).map(|k| {
                let (r, c) = (k / g, k % g);
                // sqrt scaling makes low-density structure visible.
                let color = viridis((vals[k] / max).sqrt());
                Rectangle::new([(c, g - 1 - r), (c + 1, g - r)], color.filled())
            }))
            .map_err(|e| err(path, e))?;
    }
    root.present().map_err(|e| err(path, e))
}
