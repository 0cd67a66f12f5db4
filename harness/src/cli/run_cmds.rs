//! Commands that measure: sweep, merge, plot, step-bench, peak.

use anyhow::{bail, Result};
use clap::Args;
use rmbench_harness::model_io::{ModelKindName, ModelShape};
use rmbench_harness::objective::{Objective, ObjectiveConfig};
use rmbench_harness::stepbench::{check_shape, time_steps, StepSpec};

#[derive(Args, Debug)]
pub struct StepBenchArgs {
    /// Model: mlp, rbm or quadratic.
    #[arg(long, default_value = "mlp")]
    pub model: String,
    /// Dimension d.
    #[arg(long)]
    pub dim: usize,
    /// Batch size n.
    #[arg(long, default_value_t = 128)]
    pub batch: usize,
    /// Sampled bits per sample s.
    #[arg(long, default_value_t = 10)]
    pub samples: usize,
    /// Objective.
    #[arg(long, default_value = "ggis-basic")]
    pub objective: String,
    /// ggis-basic without replacement.
    #[arg(long)]
    pub without_replacement: bool,
    /// Hidden width H.
    #[arg(long, default_value_t = 256)]
    pub hidden: usize,
    /// Hidden layers L (mlp).
    #[arg(long, default_value_t = 3)]
    pub layers: usize,
    /// Timed steps.
    #[arg(long, default_value_t = 10)]
    pub steps: usize,
    /// Warm-up steps.
    #[arg(long, default_value_t = 2)]
    pub warmup: usize,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Parses a model kind name.
pub fn parse_model(s: &str) -> Result<ModelKindName> {
    Ok(match s {
        "mlp" => ModelKindName::Mlp,
        "rbm" => ModelKindName::Rbm,
        "quadratic" => ModelKindName::Quadratic,
        other => bail!("unknown model `{other}` (expected mlp, rbm or quadratic)"),
    })
}

pub fn step_bench(a: StepBenchArgs) -> Result<()> {
    let shape = ModelShape { kind: parse_model(&a.model)?, dim: a.dim, hidden: a.hidden, layers: a.layers };
    check_shape(&shape)?;
    let Some(obj) = Objective::parse(&a.objective) else { bail!("unknown objective `{}`", a.objective) };
    let mut cfg = ObjectiveConfig::new(obj);
    cfg.samples = a.samples;
    cfg.without_replacement = a.without_replacement;
    let precision = rmbench_kernels::bf16::precision_default();
    let spec = StepSpec { shape, batch: a.batch, objective: cfg, seed: a.seed, precision };
    let stats = time_steps(&spec, a.warmup, a.steps)?;
    let prov = rmbench_harness::provenance::Provenance::current();
    let mut v = serde_json::to_value(&stats)?;
    let obj = v.as_object_mut().expect("stats serialize to an object");
    obj.insert("impl".into(), "rmbench".into());
    obj.insert("model".into(), a.model.into());
    obj.insert("dim".into(), a.dim.into());
    obj.insert("batch".into(), a.batch.into());
    obj.insert("samples".into(), a.samples.into());
    obj.insert("objective".into(), a.objective.into());
    obj.insert("hidden".into(), a.hidden.into());
    obj.insert("layers".into(), a.layers.into());
    for (k, val) in serde_json::to_value(&prov)?.as_object().expect("object") {
        obj.insert(k.clone(), val.clone());
    }
    println!("{}", serde_json::to_string(&v)?);
    Ok(())
}

#[derive(Args, Debug)]
pub struct PeakArgs {
    /// Measure again; the cache keeps the higher of the new and the cached reading per field.
    #[arg(long)]
    pub remeasure: bool,
}

pub fn peak(a: PeakArgs) -> Result<()> {
    let p = rmbench_harness::peak::cached_or_measure(a.remeasure)?;
    println!("{}", serde_json::to_string(&p)?);
    Ok(())
}

#[derive(Args, Debug)]
pub struct SweepArgs {
    /// Sweep config (TOML); default: the embedded harness/sweeps/default.toml.
    #[arg(long)]
    pub config: Option<std::path::PathBuf>,
    /// Output folder: sweep.csv (appended; resumed) and plots/.
    #[arg(long, default_value = "out/default")]
    pub out: std::path::PathBuf,
    /// Run only the k-th of N disjoint parts of the grid (1-based), into sweep.shard-k-of-N.csv.
    #[arg(long)]
    pub shard: Option<String>,
    /// Do not draw plots after the sweep.
    #[arg(long)]
    pub no_plot: bool,
}

pub fn sweep(a: SweepArgs) -> Result<()> {
    use anyhow::Context;
    use rmbench_harness::sweep::{config, run, DEFAULT_CONFIG};
    let (text, origin) = match &a.config {
        Some(p) => (
            std::fs::read_to_string(p).with_context(|| format!("{}: cannot read", p.display()))?,
            p.display().to_string(),
        ),
        None => (DEFAULT_CONFIG.to_string(), "default.toml (embedded)".to_string()),
    };
    let cfg = config::parse(&text, &origin)?;
    let mut points = config::expand(&cfg);
    let csv = match &a.shard {
        Some(s) => {
            let (k, n) = config::parse_shard(s)?;
            points = config::shard(points, k, n);
            a.out.join(format!("sweep.shard-{k}-of-{n}.csv"))
        }
        None => a.out.join("sweep.csv"),
    };
    let pb = super::progress(points.len() as u64, &format!("sweep {}", cfg.name));
    let sum = run::run_points(&cfg, &points, &csv, |i, _, id| {
        pb.set_position(i as u64);
        pb.set_message(id.to_string());
    })?;
    pb.finish_and_clear();
    eprintln!(
        "{}: {} points measured, {} already done, {} with errors (see the `err` column)",
        csv.display(),
        sum.measured,
        sum.already_done,
        sum.failed
    );
    if !a.no_plot && a.shard.is_none() {
        let inputs = rmbench_harness::plot::PlotInputs { sweep_csvs: vec![csv], ..Default::default() };
        let files = rmbench_harness::plot::plot_all(&inputs, &a.out.join("plots"))?;
        eprintln!("{} plot files in {}", files.len(), a.out.join("plots").display());
    }
    Ok(())
}

#[derive(Args, Debug)]
pub struct MergeArgs {
    /// The sweep's config: every point must be present (default: only check for doubles).
    #[arg(long)]
    pub config: Option<std::path::PathBuf>,
    /// Merged CSV.
    #[arg(long)]
    pub out: std::path::PathBuf,
    /// Shard CSVs.
    #[arg(required = true)]
    pub shards: Vec<std::path::PathBuf>,
}

pub fn merge(a: MergeArgs) -> Result<()> {
    use anyhow::Context;
    use rmbench_harness::sweep::config;
    let cfg = match &a.config {
        Some(p) => {
            let text = std::fs::read_to_string(p).with_context(|| format!("{}: cannot read", p.display()))?;
            Some(config::parse(&text, &p.display().to_string())?)
        }
        None => None,
    };
    let n = rmbench_harness::sweep::merge::merge(&a.shards, cfg.as_ref(), &a.out)?;
    eprintln!("{}: {n} rows from {} shards", a.out.display(), a.shards.len());
    Ok(())
}

#[derive(Args, Debug)]
pub struct PlotArgs {
    /// Sweep CSVs.
    #[arg(long, num_args = 1..)]
    pub sweep: Vec<std::path::PathBuf>,
    /// Training-curve CSVs (from `rmbench train`).
    #[arg(long, num_args = 1..)]
    pub curves: Vec<std::path::PathBuf>,
    /// Density CSVs (from `rmbench density`).
    #[arg(long, num_args = 1..)]
    pub density: Vec<std::path::PathBuf>,
    /// Reference-comparison CSVs (from scripts/compare-reference.sh).
    #[arg(long, num_args = 1..)]
    pub reference: Vec<std::path::PathBuf>,
    /// Sample files (text or .npy, e.g. from `rmbench sample`) to draw as image grids.
    #[arg(long, num_args = 1..)]
    pub samples: Vec<std::path::PathBuf>,
    /// --samples: bits per image row (28 for MNIST).
    #[arg(long, default_value_t = 28)]
    pub image_width: usize,
    /// Output folder for PNG and SVG files.
    #[arg(long)]
    pub out: std::path::PathBuf,
}

pub fn plot(a: PlotArgs) -> Result<()> {
    if a.sweep.is_empty()
        && a.curves.is_empty()
        && a.density.is_empty()
        && a.reference.is_empty()
        && a.samples.is_empty()
    {
        bail!("nothing to plot: give --sweep, --curves, --density or --reference CSVs, or --samples files");
    }
    for f in &a.samples {
        let caption = format!("{} ({} bits per row)", f.display(), a.image_width);
        for p in rmbench_harness::plot::sample_grid::sample_grid(f, a.image_width, &caption, &a.out)? {
            println!("{}", p.display());
        }
    }
    if a.sweep.is_empty() && a.curves.is_empty() && a.density.is_empty() && a.reference.is_empty() {
        return Ok(());
    }
    let inputs = rmbench_harness::plot::PlotInputs {
        sweep_csvs: a.sweep,
        curve_csvs: a.curves,
        density_csvs: a.density,
        reference_csvs: a.reference,
    };
    let files = rmbench_harness::plot::plot_all(&inputs, &a.out)?;
    for f in files {
        println!("{}", f.display());
    }
    Ok(())
}
