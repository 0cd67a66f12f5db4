//! Every figure function on small synthetic CSVs written with the real schema structs, plus one
//! end-to-end run from a real sweep. Set `RMBENCH_KEEP_PLOTS=1` to keep the figures (their folder
//! is printed) for viewing.

use super::*;
use crate::csvio::CsvAppender;
use crate::provenance::Provenance;
use crate::sweep::schema::SweepRow;
use crate::train::CurveRow;

/// A fresh folder under the system temp dir, unique per process and test.
struct TmpDir(PathBuf);

impl TmpDir {
    fn new(name: &str) -> TmpDir {
        let dir = std::env::temp_dir().join(format!("rmbench-plot-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TmpDir(dir)
    }
}

impl Drop for TmpDir {
    fn drop(&mut self) {
        if std::env::var_os("RMBENCH_KEEP_PLOTS").is_some() {
            eprintln!("figures kept in {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn provenance() -> Provenance {
    Provenance {
        cpu: "test cpu".into(),
        cpu_features: "avx2".into(),
        isa: "avx512".into(),
        rustflags: String::new(),
        profile: "release".into(),
        threads: 2,
        git_rev: "test".into(),
    }
}

/// A plausible measured sweep row: exact RM costs O(d²), the estimators O(d·s).
fn sweep_row(model: &str, dim: usize, samples: usize, objective: &str) -> SweepRow {
    let d = dim as f64;
    let s = samples as f64;
    let (ms, rel_bias, rel_var, cos) = match objective {
        "rm" => (0.0008 * d * d + 0.3, None, None, None),
        "ggis-basic" => (0.02 * d * s.sqrt() + 0.1, Some(0.3 / s.sqrt()), Some(20.0 / s), Some(1.0 - 0.5 / s)),
        "ggis-advanced" => (0.03 * d * s.sqrt() + 0.1, Some(0.2 / s.sqrt()), Some(0.5 / s), Some(1.0 - 0.1 / s)),
        _ => (0.01 * d * s.sqrt() + 0.1, Some(0.3 / s.sqrt()), Some(60.0 / s), Some(1.0 - 0.7 / s)),
    };
    SweepRow {
        schema_version: 1,
        point_id: format!("{model}/{dim}/{samples}/{objective}"),
        config: "synthetic".into(),
        model: model.into(),
        dim,
        hidden: 256,
        layers: 3,
        batch: 128,
        samples,
        objective: objective.into(),
        without_replacement: false,
        warmup_steps: 1,
        steps: 5,
        step_ms_median: Some(ms),
        step_ms_q1: Some(ms * 0.9),
        step_ms_q3: Some(ms * 1.15),
        peak_bytes: Some((1 << 20) + dim as u64 * dim as u64 * 400 / if samples > 0 { 8 } else { 1 }),
        flops_per_step: Some(1e9),
        gflops: Some(40.0),
        peak_gflops: Some(100.0),
        frac_of_peak: Some(0.1 + 0.3 * (d / 1024.0)),
        quality_reps: if samples > 0 { 8 } else { 0 },
        grad_rel_bias: rel_bias,
        grad_rel_var: rel_var,
        grad_cosine: cos,
        loss_rel_bias: None,
        err: String::new(),
        seed: 1,
        finished_unix: 0,
        provenance: provenance(),
        gemm_gflops_in_step: None,
        gemm_frac_of_peak: None,
        gemm_share: None,
    }
}

/// Two models × d ∈ {16, 64, 256, 1024} × {rm, 3 estimators at s = 10}, s ∈ {1, 3, 30} at
/// d = 64, and two rows that must be skipped (an error, a missing timing).
fn write_sweep(path: &Path) {
    let mut w = CsvAppender::open(path).unwrap();
    for model in ["mlp", "quadratic"] {
        for dim in [16, 64, 256, 1024] {
            w.append(&sweep_row(model, dim, 0, "rm")).unwrap();
            for obj in ["ggis-basic", "ggis-advanced", "rm-uniform"] {
                w.append(&sweep_row(model, dim, 10, obj)).unwrap();
            }
        }
        for s in [1, 3, 30] {
            for obj in ["ggis-basic", "ggis-advanced", "rm-uniform"] {
                w.append(&sweep_row(model, 64, s, obj)).unwrap();
            }
        }
    }
    let mut failed = sweep_row("mlp", 4096, 0, "rm");
    failed.step_ms_median = None;
    failed.err = "out of memory".into();
    w.append(&failed).unwrap();
    let mut untimed = sweep_row("mlp", 4096, 10, "ggis-basic");
    untimed.step_ms_median = None;
    w.append(&untimed).unwrap();
}

fn assert_figures(files: &[PathBuf], want: &[&str]) {
    for w in want {
        for ext in ["png", "svg"] {
            let f = files
                .iter()
                .find(|f| f.file_name().unwrap().to_string_lossy() == format!("{w}.{ext}"))
                .unwrap_or_else(|| panic!("{w}.{ext} missing from {files:?}"));
            let len = std::fs::metadata(f).unwrap().len();
            assert!(len > 2000, "{} has only {len} bytes", f.display());
        }
    }
    assert_eq!(files.len() % 2, 0, "every figure is a PNG and an SVG: {files:?}");
}

fn svg_text(files: &[PathBuf], stem: &str) -> String {
    std::fs::read_to_string(files.iter().find(|f| f.ends_with(format!("{stem}.svg"))).unwrap()).unwrap()
}

#[test]
fn sweep_figures_are_drawn_and_skipped_rows_reported() {
    let dir = TmpDir::new("sweep");
    let csv = dir.0.join("sweep.csv");
    write_sweep(&csv);
    let set = load_sweeps(std::slice::from_ref(&csv)).unwrap();
    assert_eq!((set.ok.len(), set.skipped.len()), (2 * (16 + 9), 2));

    let files = time_vs_dim(&set, &dir.0).unwrap();
    assert_figures(&files, &["time_vs_dim_mlp_n128_t2_avx512", "time_vs_dim_quadratic_n128_t2_avx512"]);
    let mlp = svg_text(&files, "time_vs_dim_mlp_n128_t2_avx512");
    assert!(mlp.contains("2 points failed or have no timing"), "skipped rows not noted");
    for label in ["ggis-basic", "ggis-advanced", "rm-uniform", "1024", "dimension d"] {
        assert!(mlp.contains(label), "{label} missing from the time figure");
    }
    let quad = svg_text(&files, "time_vs_dim_quadratic_n128_t2_avx512");
    assert!(!quad.contains("failed"), "the skipped rows are mlp rows");

    let files = speedup_vs_dim(&set, &dir.0).unwrap();
    assert_figures(&files, &["speedup_vs_dim_mlp_n128_t2_avx512", "speedup_vs_dim_quadratic_n128_t2_avx512"]);
    let svg = svg_text(&files, "speedup_vs_dim_mlp_n128_t2_avx512");
    assert!(svg.contains("rm-uniform") && svg.contains("time(rm) / time(objective)"));

    assert_figures(&memory_vs_dim(&set, &dir.0).unwrap(), &["memory_vs_dim_mlp_n128_t2_avx512"]);
    assert_figures(&throughput_vs_dim(&set, &dir.0).unwrap(), &["throughput_vs_dim_quadratic_n128_t2_avx512"]);
    let files = grad_error_vs_samples(&set, &dir.0).unwrap();
    // Only d = 64 has several s.
    assert_figures(
        &files,
        &["grad_error_vs_samples_mlp_n128_t2_avx512_d64", "grad_error_vs_samples_quadratic_n128_t2_avx512_d64"],
    );
    assert_eq!(files.len(), 4);
    let svg = svg_text(&files, "grad_error_vs_samples_mlp_n128_t2_avx512_d64");
    for t in ["Relative bias", "Relative variance", "1 − cos(ĝ, g)", "sampled bits per sample s"] {
        assert!(svg.contains(t), "{t} missing from the gradient-error figure");
    }
}

#[test]
fn several_swept_s_give_one_time_figure_each() {
    let dir = TmpDir::new("multi-s");
    let csv = dir.0.join("sweep.csv");
    let mut w = CsvAppender::open(&csv).unwrap();
    for dim in [16, 64, 256] {
        w.append(&sweep_row("rbm", dim, 0, "rm")).unwrap();
        for s in [4, 16] {
            w.append(&sweep_row("rbm", dim, s, "ggis-basic")).unwrap();
        }
    }
    drop(w);
    let set = load_sweeps(&[csv]).unwrap();
    let files = time_vs_dim(&set, &dir.0).unwrap();
    assert_figures(&files, &["time_vs_dim_rbm_n128_t2_avx512_s4", "time_vs_dim_rbm_n128_t2_avx512_s16"]);
    assert_eq!(files.len(), 4);
}

fn curve_row(objective: &str, samples: usize, step: usize, metric: Option<f64>) -> CurveRow {
    CurveRow {
        schema_version: 1,
        step,
        wall_ms: step as f64 * if samples > 0 { 4.0 } else { 30.0 },
        loss: 5.0 / (1.0 + step as f64).powf(if samples > 0 { 0.3 } else { 0.5 }) + objective.len() as f64 * 0.05,
        grad_norm: 1.0,
        metric: if metric.is_some() { "mmd_hamming".into() } else { String::new() },
        metric_value: metric,
        objective: objective.into(),
        samples,
        model: "mlp".into(),
        dim: 256,
        batch: 128,
        seed: 3,
        provenance: provenance(),
    }
}

#[test]
fn training_curves_overlay_runs_and_fall_back_to_loss() {
    let dir = TmpDir::new("curves");
    let mut csvs = Vec::new();
    for (obj, s) in [("rm", 0), ("ggis-basic", 10), ("rm-uniform", 10)] {
        let p = dir.0.join(format!("{obj}.csv"));
        let mut w = CsvAppender::open(&p).unwrap();
        for step in 1..=200 {
            let eval = step % 20 == 0;
            let rate = match obj {
                "rm" => 0.08,
                "ggis-basic" => 0.4,
                _ => 0.2,
            };
            let m = eval.then(|| 0.02 + 0.5 / (1.0 + step as f64 * rate));
            w.append(&curve_row(obj, s, step, m)).unwrap();
        }
        csvs.push(p);
    }
    let files = training_curves(&csvs, &dir.0).unwrap();
    assert_figures(&files, &["training_curves", "training_loss"]);
    let svg = svg_text(&files, "training_curves");
    assert!(svg.contains("ggis-basic s=10") && svg.contains("MMD²"), "labels");

    // Without a metric only the loss figure is drawn.
    let p = dir.0.join("no-metric.csv");
    let mut w = CsvAppender::open(&p).unwrap();
    for step in 1..=50 {
        w.append(&curve_row("rm", 0, step, None)).unwrap();
    }
    let out = dir.0.join("loss-only");
    let files = training_curves(&[p], &out).unwrap();
    assert_figures(&files, &["training_loss"]);
    assert_eq!(files.len(), 2);
}

#[test]
fn curve_records_ignore_unknown_columns() {
    let dir = TmpDir::new("columns");
    let p = dir.0.join("c.csv");
    std::fs::write(
        &p,
        "zzz,step,wall_ms,loss,grad_norm,metric,metric_value,objective,samples,model,dim,batch,seed,extra\n\
         x,1,2.5,0.5,1,,,rm,0,mlp,8,4,0,y\n\
         x,2,5.0,0.4,1,nll_exact,3.25,rm,0,mlp,8,4,0,y\n",
    )
    .unwrap();
    let rows: Vec<CurveRecord> = read_rows(&p).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!((rows[0].metric_value, rows[1].metric_value), (None, Some(3.25)));
    assert_eq!(rows[1].metric, "nll_exact");
}

#[test]
fn density_maps_place_cells_by_coordinates() {
    let dir = TmpDir::new("density");
    let p = dir.0.join("rings.csv");
    let g = 40;
    let mut rows = Vec::new();
    for kind in ["model", "data"] {
        for i in 0..g {
            for j in 0..g {
                let (x, y) = (-2.0 + 4.0 * (i as f64 + 0.5) / g as f64, -2.0 + 4.0 * (j as f64 + 0.5) / g as f64);
                let r = (x * x + y * y).sqrt();
                let v = if kind == "data" {
                    (-(r - 1.2).powi(2) * 30.0).exp()
                } else {
                    (-(r - 1.0).powi(2) * 8.0).exp() * (1.0 + 0.5 * x)
                };
                rows.push(DensityRow { x, y, value: v.max(0.0), kind: kind.into() });
            }
        }
    }
    // Order must not matter.
    rows.reverse();
    rows.push(DensityRow { x: 0.0, y: 0.0, value: f64::NAN, kind: "model".into() });
    let mut w = CsvAppender::open(&p).unwrap();
    for r in &rows {
        w.append(r).unwrap();
    }
    let files = density(&p, &dir.0).unwrap();
    assert_figures(&files, &["density_rings"]);
    let svg = svg_text(&files, "density_rings");
    assert!(svg.contains("1 row with a non-finite value"), "skipped row not noted");
    let panel_x = svg.find("data (histogram").unwrap();
    let panel_m = svg.find("model p(x)").unwrap();
    assert!(panel_x < panel_m, "data panel comes first");
}

#[test]
fn a_csv_without_required_columns_names_the_file() {
    let dir = TmpDir::new("bad");
    let p = dir.0.join("bad.csv");
    std::fs::write(&p, "model,dim\nmlp,2\n").unwrap();
    for inputs in [
        PlotInputs { sweep_csvs: vec![p.clone()], ..Default::default() },
        PlotInputs { curve_csvs: vec![p.clone()], ..Default::default() },
        PlotInputs { density_csvs: vec![p.clone()], ..Default::default() },
    ] {
        let e = plot_all(&inputs, &dir.0).unwrap_err().to_string();
        assert!(e.contains("bad.csv") && e.contains("missing field"), "{e}");
    }
    let missing = dir.0.join("absent.csv");
    let e = plot_all(&PlotInputs { sweep_csvs: vec![missing], ..Default::default() }, &dir.0).unwrap_err();
    assert!(e.to_string().contains("absent.csv"), "{e}");
}

#[test]
fn only_failed_sweep_rows_is_an_error() {
    let dir = TmpDir::new("all-failed");
    let p = dir.0.join("sweep.csv");
    let mut w = CsvAppender::open(&p).unwrap();
    let mut r = sweep_row("mlp", 16, 0, "rm");
    r.err = "NaN loss".into();
    w.append(&r).unwrap();
    let e = plot_all(&PlotInputs { sweep_csvs: vec![p], ..Default::default() }, &dir.0).unwrap_err();
    assert!(e.to_string().contains("1 rows skipped"), "{e}");
}

/// End to end from the real sweep runner, curve writer and density grid.
#[test]
fn plot_all_draws_real_writer_output() {
    use crate::sweep::config::{expand, parse};
    use crate::sweep::run::run_points;
    let dir = TmpDir::new("all");
    let cfg = parse(
        r#"
name = "p"
steps = 1
warmup_steps = 0
quality_reps = 3
[[grid]]
model = ["quadratic"]
dim = [4, 8, 16]
batch = [4]
samples = [1, 2]
objective = ["rm", "ggis-basic", "rm-uniform"]
threads = [1]
"#,
        "p",
    )
    .unwrap();
    let sweep = dir.0.join("sweep.csv");
    run_points(&cfg, &expand(&cfg), &sweep, |_, _, _| {}).unwrap();
    let curve = dir.0.join("curve.csv");
    let mut w = CsvAppender::open(&curve).unwrap();
    for step in 1..5 {
        let mut r = curve_row("rm", 0, step, Some(5.0 - step as f64 * 0.1));
        r.provenance = Provenance::current();
        w.append(&r).unwrap();
    }
    let model = rmbench_kernels::Quadratic::random(8, 0.3, 1);
    let dens = dir.0.join("moons.csv");
    let mut w = CsvAppender::open(&dens).unwrap();
    for r in crate::density::density_grid(&model, "moons", 10, 500, 0).unwrap() {
        w.append(&r).unwrap();
    }
    let files = plot_all(
        &PlotInputs {
            sweep_csvs: vec![sweep],
            curve_csvs: vec![curve],
            density_csvs: vec![dens],
            ..Default::default()
        },
        &dir.0.join("plots"),
    )
    .unwrap();
    let names: Vec<String> = files.iter().map(|f| f.file_name().unwrap().to_string_lossy().into_owned()).collect();
    for want in [
        "time_vs_dim_quadratic",
        "speedup_vs_dim_quadratic",
        "grad_error_vs_samples",
        "training_curves.png",
        "density_moons.svg",
    ] {
        assert!(names.iter().any(|n| n.starts_with(want)), "{want} missing from {names:?}");
    }
    for f in &files {
        assert!(std::fs::metadata(f).unwrap().len() > 1000, "{} is too small", f.display());
    }
}
