//! Line charts (one or several panels under a shared title) and heat maps, drawn with plotters
//! into PNG and SVG with the committed DejaVu Sans font, so no system font is needed. Each
//! objective keeps its colour in every figure; the legend goes to the emptiest corner.

use super::axis::{tick_label, Axis, Scale};
use crate::error::{Error, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::{Path, PathBuf};

static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

/// Registers the committed font as `sans-serif` (once per process).
pub fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // The font is compiled in, so parsing cannot fail at run time once a test has drawn.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// One line of a chart.
#[derive(Clone, Debug, Default)]
pub struct Series {
    /// Legend label; its first word, if an objective name, picks the colour.
    pub label: String,
    /// Points (x, y) in data units, joined in x order.
    pub points: Vec<(f64, f64)>,
    /// Vertical error bars (x, low, high), e.g. the quartiles of a timing; may be empty.
    pub spread: Vec<(f64, f64, f64)>,
    /// A thin dashed guide without markers or legend entry (explain it in the panel's title).
    pub dashed: bool,
}

impl Series {
    /// A solid line with markers and a legend entry.
    pub fn line(label: impl Into<String>, points: Vec<(f64, f64)>) -> Series {
        Series { label: label.into(), points, ..Default::default() }
    }

    /// A dashed guide in the colour `label` picks, without markers or legend entry.
    pub fn guide(label: impl Into<String>, points: Vec<(f64, f64)>) -> Series {
        Series { label: label.into(), points, dashed: true, ..Default::default() }
    }
}

/// One panel: a line chart.
#[derive(Clone, Debug)]
pub struct LineChart {
    /// Title (the figure's title for a single panel, the panel's caption otherwise).
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
    /// A line under the title (e.g. rows skipped), empty for none.
    pub note: String,
}

const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

/// The colour of series `k` labelled `label`: fixed per objective, else the palette in order.
pub fn series_color(label: &str, k: usize) -> RGBColor {
    match label.split_whitespace().next().unwrap_or("") {
        "ggis-advanced" => PALETTE[0],
        "ggis-basic" => PALETTE[1],
        "rm" => PALETTE[2],
        "rm-uniform" => PALETTE[3],
        "nce" => PALETTE[4],
        "rm-sigmoid" => PALETTE[5],
        "pcd-gwg" => PALETTE[6],
        "break-even" => RGBColor(110, 110, 110),
        _ => PALETTE[k % PALETTE.len()],
    }
}

fn err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::file(path, format!("drawing failed: {e}"))
}

fn create_parent(stem: &Path) -> Result<()> {
    match stem.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(dir) => std::fs::create_dir_all(dir).map_err(|e| Error::file(dir, e)),
        None => Ok(()),
    }
}

/// Title and note centred at the top of `root`; returns the area below them.
fn header<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    note: &str,
    path: &Path,
) -> Result<DrawingArea<DB, Shift>> {
    let w = root.dim_in_pixel().0 as i32;
    let h = if note.is_empty() { 40 } else { 62 };
    let centre = Pos::new(HPos::Center, VPos::Top);
    root.draw_text(title, &("sans-serif", 22).into_font().color(&BLACK).pos(centre), (w / 2, 10))
        .map_err(|e| err(path, e))?;
    if !note.is_empty() {
        let style = ("sans-serif", 15).into_font().color(&RGBColor(90, 90, 90)).pos(centre);
        root.draw_text(note, &style, (w / 2, 38)).map_err(|e| err(path, e))?;
    }
    Ok(root.split_vertically(h).1)
}

/// The legend corner overlapping the fewest points of the chart (corners tried clockwise from
/// the upper left). Points are sampled along each line in the axes' linear coordinates.
fn legend_corner(c: &LineChart, x: &Axis, y: &Axis, panel_px: (u32, u32)) -> SeriesLabelPosition {
    let entries = c.series.iter().filter(|s| !s.dashed);
    let chars = entries.clone().map(|s| s.label.chars().count()).max().unwrap_or(0) as f64;
    let (pw, ph) = ((panel_px.0 as f64 - 110.0).max(100.0), (panel_px.1 as f64 - 90.0).max(100.0));
    let (bw, bh) = ((40.0 + 8.5 * chars) / pw, (10.0 + 21.0 * entries.count() as f64) / ph);
    let nx = |v: f64| (x.scale.fwd(v) - x.scale.fwd(x.lo)) / (x.scale.fwd(x.hi) - x.scale.fwd(x.lo));
    let ny = |v: f64| (y.scale.fwd(v) - y.scale.fwd(y.lo)) / (y.scale.fwd(y.hi) - y.scale.fwd(y.lo));
    let mut samples = Vec::new();
    for s in &c.series {
        let p: Vec<(f64, f64)> = drawable(&s.points, c).into_iter().map(|(a, b)| (nx(a), ny(b))).collect();
        samples.extend(p.iter().copied());
        for w in p.windows(2) {
            samples.extend((1..20).map(|i| {
                let t = i as f64 / 20.0;
                (w[0].0 + t * (w[1].0 - w[0].0), w[0].1 + t * (w[1].1 - w[0].1))
            }));
        }
    }
    let corners = [
        (SeriesLabelPosition::UpperLeft, 0.0, 1.0 - bh),
        (SeriesLabelPosition::UpperRight, 1.0 - bw, 1.0 - bh),
        (SeriesLabelPosition::LowerRight, 1.0 - bw, 0.0),
        (SeriesLabelPosition::LowerLeft, 0.0, 0.0),
    ];
    let hits = |x0: f64, y0: f64| {
        samples
            .iter()
            .filter(|(a, b)| *a >= x0 - 0.02 && *a <= x0 + bw + 0.02 && *b >= y0 - 0.02 && *b <= y0 + bh + 0.02)
            .count()
    };
    let best = corners.iter().min_by_key(|(_, x0, y0)| hits(*x0, *y0)).map(|c| c.0.clone());
    best.unwrap_or(SeriesLabelPosition::UpperLeft)
}

/// The points of `p` both axes can draw, sorted by x.
fn drawable(p: &[(f64, f64)], c: &LineChart) -> Vec<(f64, f64)> {
    let mut q: Vec<(f64, f64)> =
        p.iter().copied().filter(|&(x, y)| c.x_scale.admits(x) && c.y_scale.admits(y)).collect();
    q.sort_by(|a, b| a.0.total_cmp(&b.0));
    q
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    c: &LineChart,
    caption: Option<&str>,
    path: &Path,
) -> Result<()> {
    let xs = c.series.iter().flat_map(|s| s.points.iter().map(|p| p.0).chain(s.spread.iter().map(|e| e.0)));
    let ys = c.series.iter().flat_map(|s| s.points.iter().map(|p| p.1).chain(s.spread.iter().flat_map(|e| [e.1, e.2])));
    let no_points = || Error::file(path, format!("`{}`: no finite points to plot", c.title));
    let x = Axis::covering(c.x_scale, xs).ok_or_else(no_points)?;
    let y = Axis::covering(c.y_scale, ys).ok_or_else(no_points)?;
    let corner = legend_corner(c, &x, &y, area.dim_in_pixel());
    let mut builder = ChartBuilder::on(area);
    if let Some(cap) = caption {
        builder.caption(cap, ("sans-serif", 18));
    }
    let mut chart = builder
        .margin(14)
        .x_label_area_size(52)
        .y_label_area_size(80)
        .build_cartesian_2d(x, y)
        .map_err(|e| err(path, e))?;
    let fmt = |v: &f64| tick_label(*v);
    chart
        .configure_mesh()
        .x_desc(c.x_desc.as_str())
        .y_desc(c.y_desc.as_str())
        .x_labels(12)
        .y_labels(10)
        .x_label_formatter(&fmt)
        .y_label_formatter(&fmt)
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 17))
        .bold_line_style(RGBColor(200, 200, 200))
        .light_line_style(RGBColor(238, 238, 238))
        .draw()
        .map_err(|e| err(path, e))?;
    for (k, s) in c.series.iter().enumerate() {
        let color = series_color(&s.label, k);
        let p = drawable(&s.points, c);
        let bars: Vec<(f64, f64, f64)> = s
            .spread
            .iter()
            .copied()
            .filter(|&(x, lo, hi)| c.x_scale.admits(x) && c.y_scale.admits(lo) && c.y_scale.admits(hi))
            .collect();
        chart
            .draw_series(
                bars.iter().map(|&(x, lo, hi)| PathElement::new(vec![(x, lo), (x, hi)], color.stroke_width(2))),
            )
            .map_err(|e| err(path, e))?;
        chart
            .draw_series(bars.iter().flat_map(|&(x, lo, hi)| {
                [lo, hi]
                    .map(|v| EmptyElement::at((x, v)) + PathElement::new(vec![(-5, 0), (5, 0)], color.stroke_width(2)))
            }))
            .map_err(|e| err(path, e))?;
        if s.dashed {
            chart.draw_series(DashedLineSeries::new(p, 8, 6, color.stroke_width(1))).map_err(|e| err(path, e))?;
            continue;
        }
        // Markers only where points are few enough to tell apart; long curves get a thin line.
        let width = if p.len() > 200 { 1 } else { 2 };
        chart
            .draw_series(LineSeries::new(p.clone(), color.stroke_width(width)))
            .map_err(|e| err(path, e))?
            .label(s.label.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 22, y)], color.stroke_width(3)));
        if p.len() <= 40 {
            chart.draw_series(p.iter().map(|&q| Circle::new(q, 4, color.filled()))).map_err(|e| err(path, e))?;
        }
    }
    chart
        .configure_series_labels()
        .position(corner)
        .margin(12)
        .label_font(("sans-serif", 15))
        .background_style(WHITE.mix(0.9))
        .border_style(RGBColor(160, 160, 160))
        .draw()
        .map_err(|e| err(path, e))
}

fn draw_figure<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    title: &str,
    note: &str,
    panels: &[LineChart],
    path: &Path,
) -> Result<()> {
    root.fill(&WHITE).map_err(|e| err(path, e))?;
    let body = header(&root, title, note, path)?;
    let areas = body.split_evenly((1, panels.len().max(1)));
    for (area, c) in areas.iter().zip(panels) {
        let caption = if panels.len() > 1 { Some(c.title.as_str()) } else { None };
        draw_panel(area, c, caption, path)?;
    }
    root.present().map_err(|e| err(path, e))
}

/// Writes panels side by side under one title as `<stem>.png` and `<stem>.svg` (1000 × 620 for
/// one panel, 620 wide per panel otherwise); returns both paths.
pub fn line_panels(title: &str, note: &str, panels: &[LineChart], stem: &Path) -> Result<Vec<PathBuf>> {
    register_font();
    create_parent(stem)?;
    let png = stem.with_extension("png");
    let svg = stem.with_extension("svg");
    let size = if panels.len() <= 1 { (1000, 620) } else { (620 * panels.len() as u32, 600) };
    draw_figure(BitMapBackend::new(&png, size).into_drawing_area(), title, note, panels, &png)?;
    draw_figure(SVGBackend::new(&svg, size).into_drawing_area(), title, note, panels, &svg)?;
    Ok(vec![png, svg])
}

/// Writes one line chart as `<stem>.png` (1000 × 620) and `<stem>.svg`; returns both paths.
pub fn line_chart(c: &LineChart, stem: &Path) -> Result<Vec<PathBuf>> {
    line_panels(&c.title, &c.note, std::slice::from_ref(c), stem)
}

/// Viridis colour map (11 anchors of matplotlib's table, linear interpolation), t ∈ [0, 1].
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
    let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) * 10.0 };
    let i = (t.floor() as usize).min(9);
    let f = t - i as f64;
    let lerp = |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * f).round() as u8;
    RGBColor(lerp(V[i].0, V[i + 1].0), lerp(V[i].1, V[i + 1].1), lerp(V[i].2, V[i + 1].2))
}

/// A heat-map panel: `nx × ny` cells, row-major from the top row; NaN cells are left white.
#[derive(Clone, Debug)]
pub struct HeatPanel {
    /// Caption.
    pub name: String,
    /// Columns.
    pub nx: usize,
    /// Rows.
    pub ny: usize,
    /// nx·ny values, row-major from the top.
    pub values: Vec<f64>,
}

const HEAT_PX: u32 = 440;

/// Heat maps side by side under one title, each coloured by viridis(√(v / panel max)), with a
/// colour bar; written as `<stem>.png` and `<stem>.svg`.
pub fn heat_maps(title: &str, note: &str, panels: &[HeatPanel], stem: &Path) -> Result<Vec<PathBuf>> {
    register_font();
    create_parent(stem)?;
    let png = stem.with_extension("png");
    let svg = stem.with_extension("svg");
    let size = ((HEAT_PX + 20) * panels.len().max(1) as u32 + 20, HEAT_PX + 160);
    draw_heat(BitMapBackend::new(&png, size).into_drawing_area(), title, note, panels, &png)?;
    draw_heat(SVGBackend::new(&svg, size).into_drawing_area(), title, note, panels, &svg)?;
    Ok(vec![png, svg])
}

fn draw_heat<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    title: &str,
    note: &str,
    panels: &[HeatPanel],
    path: &Path,
) -> Result<()> {
    root.fill(&WHITE).map_err(|e| err(path, e))?;
    let body = header(&root, title, note, path)?;
    let (maps, bar) = body.split_vertically(HEAT_PX + 36);
    let maps = maps.margin(0, 0, 10, 10);
    for (area, p) in maps.split_evenly((1, panels.len().max(1))).iter().zip(panels) {
        let (w, h) = area.dim_in_pixel();
        // Square cells: shrink the panel's longer side.
        let cell = ((w as f64 - 20.0) / p.nx as f64).min((h as f64 - 30.0) / p.ny as f64).max(1.0);
        let (pw, ph) = ((cell * p.nx as f64) as u32, (cell * p.ny as f64) as u32);
        let area = area.margin(0, 0, (w.saturating_sub(pw)) / 2, (w.saturating_sub(pw)) / 2);
        let mut chart = ChartBuilder::on(&area)
            .caption(p.name.as_str(), ("sans-serif", 18))
            .margin_bottom((h as i32 - 30 - ph as i32).max(0) as u32)
            .build_cartesian_2d(0..p.nx, 0..p.ny)
            .map_err(|e| err(path, e))?;
        let max = p.values.iter().copied().filter(|v| v.is_finite()).fold(0f64, f64::max);
        chart
            .draw_series(p.values.iter().enumerate().filter(|(_, v)| v.is_finite()).map(|(k, v)| {
                let (r, c) = (k / p.nx, k % p.nx);
                let t = if max > 0.0 { (v.max(0.0) / max).sqrt() } else { 0.0 };
                Rectangle::new([(c, p.ny - 1 - r), (c + 1, p.ny - r)], viridis(t).filled())
            }))
            .map_err(|e| err(path, e))?;
    }
    // Colour bar: 0 … panel max, on the square-root scale the panels use.
    let (w, _) = bar.dim_in_pixel();
    let (x0, x1, y0) = (w as i32 / 2 - 200, w as i32 / 2 + 200, 24);
    for i in x0..x1 {
        let t = (i - x0) as f64 / (x1 - x0) as f64;
        bar.draw(&Rectangle::new([(i, y0), (i + 1, y0 + 16)], viridis(t.sqrt()).filled())).map_err(|e| err(path, e))?;
    }
    bar.draw(&Rectangle::new([(x0, y0), (x1, y0 + 16)], BLACK.stroke_width(1))).map_err(|e| err(path, e))?;
    let small = |h: HPos| ("sans-serif", 14).into_font().color(&BLACK).pos(Pos::new(h, VPos::Top));
    for (frac, h) in
        [(0.0, HPos::Left), (0.25, HPos::Center), (0.5, HPos::Center), (0.75, HPos::Center), (1.0, HPos::Right)]
    {
        let x = x0 + (frac * (x1 - x0) as f64) as i32;
        bar.draw(&PathElement::new(vec![(x, y0 + 16), (x, y0 + 21)], BLACK)).map_err(|e| err(path, e))?;
        bar.draw_text(&tick_label(frac), &small(h), (x, y0 + 23)).map_err(|e| err(path, e))?;
    }
    let label = ("sans-serif", 14).into_font().color(&BLACK).pos(Pos::new(HPos::Right, VPos::Center));
    bar.draw_text("value / panel max:", &label, (x0 - 10, y0 + 8)).map_err(|e| err(path, e))?;
    root.present().map_err(|e| err(path, e))
}
