//! Every figure draws from small CSVs produced by the real writers.

use super::*;
use crate::csvio::CsvAppender;
use crate::sweep::config::{expand, parse};
use crate::sweep::run::run_points;

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rmbench-plot-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn sweep_curve_and_density_figures_are_written() {
    let dir = tmp("all");
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
    let sweep = dir.join("sweep.csv");
    run_points(&cfg, &expand(&cfg), &sweep, |_, _, _| {}).unwrap();
    let curve = dir.join("curve.csv");
    let mut w = CsvAppender::open(&curve).unwrap();
    let prov = crate::provenance::Provenance::current();
    for step in 1..5 {
        w.append(&crate::train::CurveRow {
            schema_version: 1,
            step,
            wall_ms: step as f64 * 10.0,
            loss: 10.0 / step as f64,
            grad_norm: 1.0,
            metric: "nll_exact".into(),
            metric_value: Some(5.0 - step as f64 * 0.1),
            objective: "rm".into(),
            samples: 0,
            model: "quadratic".into(),
            dim: 8,
            batch: 4,
            seed: 0,
            provenance: prov.clone(),
        })
        .unwrap();
    }
    let model = rmbench_kernels::Quadratic::random(8, 0.3, 1);
    let dens = dir.join("moons.csv");
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
        &dir,
    )
    .unwrap();
    let names: Vec<String> = files.iter().map(|f| f.file_name().unwrap().to_string_lossy().into_owned()).collect();
    for want in [
        "time_vs_dim_quadratic",
        "speedup_vs_dim_quadratic",
        "grad_relvar_vs_samples",
        "training_curves.png",
        "density_moons.svg",
    ] {
        assert!(names.iter().any(|n| n.starts_with(want) || n == want), "{want} missing from {names:?}");
    }
    for f in &files {
        assert!(std::fs::metadata(f).unwrap().len() > 1000, "{} is too small", f.display());
    }
}

#[test]
fn a_csv_without_required_columns_names_the_file() {
    let dir = tmp("bad");
    let p = dir.join("bad.csv");
    std::fs::write(&p, "a,b\n1,2\n").unwrap();
    let e = plot_all(&PlotInputs { sweep_csvs: vec![p.clone()], ..Default::default() }, &dir).unwrap_err().to_string();
    assert!(e.contains("bad.csv"), "{e}");
}
