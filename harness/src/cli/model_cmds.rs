//! Commands on one model: train, energy, grad, eval, data, density.

use super::progress;
use anyhow::{bail, Context, Result};
use clap::Args;
use rmbench_datasets::rng::Stream;
use rmbench_harness::csvio::CsvAppender;
use rmbench_harness::eval::{evaluate, EvalOptions};
use rmbench_harness::model_io::{load_model, new_model, save_model, ModelKindName, ModelShape};
use rmbench_harness::objective::{loss_and_grad, Objective, ObjectiveConfig, ObjectiveState};
use rmbench_harness::optim::AdamConfig;
use rmbench_harness::tensors::{write_tensors, Tensor};
use rmbench_harness::train::{train as train_loop, TrainConfig};
use rmbench_kernels::{BitBatch, EnergyModel};
use std::path::{Path, PathBuf};

/// Reads a data file (text `0`/`1` lines or `.npy`) and checks its d against the model's.
fn read_data(path: &Path, model_dim: Option<usize>) -> Result<BitBatch> {
    let x = rmbench_datasets::io::read_file(path)?;
    if let Some(d) = model_dim {
        if x.d() != d {
            bail!("{}: samples have {} bits but the model has d = {d}", path.display(), x.d());
        }
    }
    Ok(x)
}

fn parse_objective(s: &str) -> Result<Objective> {
    Objective::parse(s).with_context(|| {
        let names: Vec<&str> = Objective::ALL.iter().map(|o| o.name()).collect();
        format!("unknown objective `{s}` (expected one of {})", names.join(", "))
    })
}

/// Options shared by commands that run an objective.
#[derive(Args, Debug, Clone)]
pub struct ObjectiveArgs {
    /// Objective: rm, rm-sigmoid, rm-uniform, ggis-basic, ggis-advanced, nce.
    #[arg(long, default_value = "ggis-advanced")]
    pub objective: String,
    /// Sampled bits per sample s (estimators).
    #[arg(long, default_value_t = 10)]
    pub samples: usize,
    /// ggis-basic: draw s distinct bits, as the reference code does (biased; see docs).
    #[arg(long)]
    pub without_replacement: bool,
    /// Exact objectives: at most this many flipped rows alive at once (bounds memory).
    #[arg(long, default_value_t = 16384)]
    pub chunk: usize,
    /// nce: noise samples per data sample.
    #[arg(long, default_value_t = 1)]
    pub nce_noise: usize,
    /// pcd-gwg: Gibbs-with-Gradients steps of the persistent chains (one per batch sample) per update.
    #[arg(long, default_value_t = 50)]
    pub pcd_steps: usize,
}

impl ObjectiveArgs {
    fn config(&self) -> Result<ObjectiveConfig> {
        let mut c = ObjectiveConfig::new(parse_objective(&self.objective)?);
        c.samples = self.samples;
        c.without_replacement = self.without_replacement;
        if self.without_replacement && c.objective != Objective::GgisBasic {
            bail!("--without-replacement applies to ggis-basic only");
        }
        anyhow::ensure!(self.chunk > 0, "--chunk must be at least 1");
        c.chunk_flips = self.chunk;
        c.nce_noise = self.nce_noise;
        c.pcd_steps = self.pcd_steps;
        Ok(c)
    }
}

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Dataset: a generator (2spirals, 8gaussians, circles, moons, pinwheel, swissroll,
    /// checkerboard, ising:L=10,sigma=0.25, mnist) or file:PATH.
    #[arg(long)]
    pub dataset: String,
    /// Model: mlp, rbm or quadratic.
    #[arg(long, default_value = "mlp")]
    pub model: String,
    /// Dimension d (toy datasets: even, default 32; files and MNIST: taken from the data).
    #[arg(long)]
    pub dim: Option<usize>,
    /// Hidden width H (mlp, rbm).
    #[arg(long, default_value_t = 256)]
    pub hidden: usize,
    /// Hidden layers L (mlp).
    #[arg(long, default_value_t = 3)]
    pub layers: usize,
    #[command(flatten)]
    pub obj: ObjectiveArgs,
    /// Optimizer steps.
    #[arg(long, default_value_t = 1000)]
    pub steps: usize,
    /// Minibatch size.
    #[arg(long, default_value_t = 128)]
    pub batch: usize,
    /// Learning rate.
    #[arg(long, default_value_t = 5e-4)]
    pub lr: f32,
    /// L2 weight decay.
    #[arg(long, default_value_t = 1e-4)]
    pub weight_decay: f32,
    /// Gradient-norm clip (0: none).
    #[arg(long, default_value_t = 1.0)]
    pub clip: f32,
    /// L1 penalty λ₁·Σ|θ| on every parameter (Gibbs-with-Gradients' Ising runs use 0.01 on J).
    #[arg(long, default_value_t = 0.0)]
    pub l1: f32,
    /// Ising data with the quadratic model: score c·J for each of these scales (comma-separated);
    /// 4 undoes the ¼ tempering of `rm`'s minimizer.
    #[arg(long, value_delimiter = ',', default_value = "1")]
    pub coupling_scale: Vec<f32>,
    /// Training samples to generate (generators only).
    #[arg(long, default_value_t = 10000)]
    pub n: usize,
    /// Seed of data, initialization, minibatches and sampling.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Write a curve row every this many steps.
    #[arg(long, default_value_t = 50)]
    pub log_every: usize,
    /// Evaluate (exact NLL for d ≤ 20, else MMD with 1000 samples) at every logged step.
    #[arg(long)]
    pub eval: bool,
    /// Output folder: curve.csv and model.safetensors.
    #[arg(long)]
    pub out: PathBuf,
}

pub fn train(a: TrainArgs) -> Result<()> {
    let kind = match a.model.as_str() {
        "mlp" => ModelKindName::Mlp,
        "rbm" => ModelKindName::Rbm,
        "quadratic" => ModelKindName::Quadratic,
        other => bail!("unknown model `{other}` (expected mlp, rbm or quadratic)"),
    };
    let data = rmbench_datasets::load(&a.dataset, a.dim, a.n, a.seed)?;
    let x = data.x.clone();
    let shape = ModelShape { kind, dim: x.d(), hidden: a.hidden, layers: a.layers };
    let mut model = new_model(shape, a.seed);
    anyhow::ensure!(a.l1 >= 0.0 && a.l1.is_finite(), "--l1 must be a non-negative number");
    anyhow::ensure!(a.coupling_scale.iter().all(|c| c.is_finite()), "--coupling-scale values must be finite");
    let cfg = TrainConfig {
        objective: a.obj.config()?,
        adam: AdamConfig { lr: a.lr, weight_decay: a.weight_decay, clip: a.clip, l1: a.l1, ..AdamConfig::default() },
        batch: a.batch,
        steps: a.steps,
        seed: a.seed,
        log_every: a.log_every,
    };
    std::fs::create_dir_all(&a.out).with_context(|| format!("{}: cannot create folder", a.out.display()))?;
    let curve = a.out.join("curve.csv");
    let model_path = a.out.join("model.safetensors");
    if curve.exists() {
        std::fs::remove_file(&curve).with_context(|| format!("{}: cannot replace", curve.display()))?;
    }
    let mut csv = CsvAppender::open(&curve)?;
    let pb = progress(a.steps as u64, "train");
    let eval_data = x.select_rows(&(0..x.n().min(1000)).collect::<Vec<_>>());
    let do_eval = a.eval;
    let true_j = data.true_j.clone();
    let scales = a.coupling_scale.clone();
    let evaluate = |m: &dyn EnergyModel, step: usize| -> Vec<(String, f64)> {
        if !do_eval {
            return Vec::new();
        }
        // Ising data with a quadratic model: score the couplings (log-RMSE of c·J against the true
        // J, for every requested scale c; `rm` is minimized by the ¼-tempered model, so c = 4 undoes it).
        if let (Some(t), rmbench_kernels::ModelKind::Quadratic) = (&true_j, m.kind()) {
            let d = m.dim();
            return scales
                .iter()
                .map(|&c| {
                    let j: Vec<f32> = m.params()[..d * d].iter().map(|v| v * c).collect();
                    let name =
                        if c == 1.0 { "coupling_log_rmse".to_string() } else { format!("coupling_log_rmse_x{c}") };
                    (name, rmbench_harness::eval::coupling_rmse(&j, t, d).1)
                })
                .collect();
        }
        rmbench_harness::eval::quick_metric(m, &eval_data, step as u64).ok().into_iter().collect()
    };
    let meta = [
        ("objective".to_string(), cfg.objective.objective.name().to_string()),
        ("dataset".to_string(), a.dataset.clone()),
    ];
    let result = train_loop(&mut *model, &x, &cfg, evaluate, |row| csv.append(row), |s| pb.set_position(s as u64));
    pb.finish_and_clear();
    match result {
        Ok(sum) => {
            save_model(&model_path, &*model, &meta)?;
            println!(
                "{}",
                serde_json::json!({"final_loss": sum.final_loss, "wall_ms": sum.wall_ms, "curve": curve, "model": model_path})
            );
            Ok(())
        }
        Err(e) => {
            save_model(&model_path, &*model, &meta)?;
            bail!("{e}; last good model saved to {}", model_path.display())
        }
    }
}

#[derive(Args, Debug)]
pub struct EnergyArgs {
    /// Model (safetensors).
    #[arg(long)]
    pub model: PathBuf,
    /// Data file (text `0`/`1` lines or .npy).
    #[arg(long)]
    pub data: PathBuf,
    /// Output safetensors: `energy` [n], `delta` [n, d], `input_grad` [n, d].
    #[arg(long)]
    pub out: PathBuf,
}

pub fn energy(a: EnergyArgs) -> Result<()> {
    let model = load_model(&a.model)?;
    let x = read_data(&a.data, Some(model.dim()))?;
    let (n, d) = (x.n(), x.d());
    let mut e = vec![0f32; n];
    let mut delta = vec![0f32; n * d];
    let mut g = vec![0f32; n * d];
    model.energy(&x, &mut e);
    model.delta_all(&x, &mut delta);
    let mut e2 = vec![0f32; n];
    model.input_grad(&x, &mut e2, &mut g);
    let ts = [
        Tensor::new("energy", vec![n], e),
        Tensor::new("delta", vec![n, d], delta),
        Tensor::new("input_grad", vec![n, d], g),
    ];
    write_tensors(&a.out, &ts, &[("model".into(), model.kind().name().into())])?;
    Ok(())
}

#[derive(Args, Debug)]
pub struct GradArgs {
    /// Model (safetensors).
    #[arg(long)]
    pub model: PathBuf,
    /// Data file: the batch (all rows).
    #[arg(long)]
    pub data: PathBuf,
    #[command(flatten)]
    pub obj: ObjectiveArgs,
    /// Seed of the sampling.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Independent draws to average.
    #[arg(long, default_value_t = 1)]
    pub repeats: usize,
    /// Output safetensors: `loss` [1] and `grad.<tensor>` for every model tensor.
    #[arg(long)]
    pub out: PathBuf,
}

pub fn grad(a: GradArgs) -> Result<()> {
    let model = load_model(&a.model)?;
    let x = read_data(&a.data, Some(model.dim()))?;
    anyhow::ensure!(a.repeats > 0, "--repeats must be at least 1");
    let cfg = a.obj.config()?;
    let np = model.num_params();
    let mut g = vec![0f32; np];
    let mut acc = vec![0f64; np];
    let mut loss = 0f64;
    let mut rng = Stream::new(a.seed, 0);
    let mut st = ObjectiveState::for_data(&x);
    for r in 0..a.repeats {
        let l = loss_and_grad(&*model, &x, &cfg, &mut st, &mut rng, &mut g).with_context(|| format!("repeat {r}"))?;
        loss += l;
        acc.iter_mut().zip(&g).for_each(|(s, &v)| *s += v as f64);
    }
    let k = a.repeats as f64;
    let mut ts = vec![Tensor::new("loss", vec![1], vec![(loss / k) as f32])];
    let flat: Vec<f32> = acc.iter().map(|v| (v / k) as f32).collect();
    for t in rmbench_harness::model_io::flat_to_tensors(&*model, &flat) {
        ts.push(Tensor::new(format!("grad.{}", t.name), t.shape, t.data));
    }
    write_tensors(&a.out, &ts, &[("objective".into(), cfg.objective.name().into())])?;
    Ok(())
}

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// Model (safetensors).
    #[arg(long)]
    pub model: PathBuf,
    /// Data file (text or .npy), or a dataset name as for `train`.
    #[arg(long)]
    pub data: String,
    /// Compute log Z exactly by enumeration (d ≤ 30).
    #[arg(long)]
    pub exact: bool,
    /// Estimate log Z by annealed importance sampling with this many temperatures.
    #[arg(long)]
    pub ais: Option<usize>,
    /// Samples per side for MMD.
    #[arg(long, default_value_t = 4000)]
    pub mmd_samples: usize,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Append the metrics as a CSV row to this file.
    #[arg(long)]
    pub csv: Option<PathBuf>,
    /// Evaluate p ∝ exp(−β·E) instead of exp(−E) (quadratic and MLP; β = 4 undoes rm's ¼ tempering).
    #[arg(long, default_value_t = 1.0)]
    pub energy_scale: f32,
}

pub fn eval(a: EvalArgs) -> Result<()> {
    let mut model = load_model(&a.model)?;
    if a.energy_scale != 1.0 {
        rmbench_harness::eval::scale_energy(&mut *model, a.energy_scale).context("--energy-scale")?;
    }
    let p = Path::new(&a.data);
    let (data, true_j) = if p.exists() {
        (read_data(p, Some(model.dim()))?, None)
    } else {
        let ds = rmbench_datasets::load(&a.data, Some(model.dim()), 4000, a.seed)?;
        (ds.x, ds.true_j)
    };
    let opts = EvalOptions {
        exact: a.exact,
        ais_temps: a.ais.unwrap_or(0),
        mmd_samples: a.mmd_samples,
        true_j,
        ..EvalOptions::default()
    };
    let pb = progress(1, "eval");
    pb.enable_steady_tick(std::time::Duration::from_millis(200));
    let metrics = evaluate(&*model, &data, &opts, a.seed)?;
    pb.finish_and_clear();
    println!("{}", serde_json::to_string(&metrics)?);
    if let Some(path) = a.csv {
        CsvAppender::open(&path)?.append(&metrics)?;
    }
    Ok(())
}

#[derive(Args, Debug)]
pub struct DataArgs {
    /// Dataset, as for `train`.
    #[arg(long)]
    pub dataset: String,
    /// Dimension d (toy datasets).
    #[arg(long)]
    pub dim: Option<usize>,
    /// Number of samples.
    #[arg(long, default_value_t = 10000)]
    pub n: usize,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Fraction held out into a second file `<out stem>.test.<ext>` (0: none).
    #[arg(long, default_value_t = 0.0)]
    pub test_fraction: f64,
    /// Output file: `.npy` or text (one `0`/`1` line per sample).
    #[arg(long)]
    pub out: PathBuf,
}

pub fn data(a: DataArgs) -> Result<()> {
    let ds = rmbench_datasets::load(&a.dataset, a.dim, a.n, a.seed)?;
    let (train, test) = if a.test_fraction > 0.0 {
        let (tr, te) = rmbench_datasets::io::split(&ds.x, a.test_fraction, a.seed)?;
        (tr, Some(te))
    } else {
        (ds.x, None)
    };
    rmbench_datasets::io::write_file(&a.out, &train)?;
    if let Some(te) = test {
        let stem = a.out.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let ext = a.out.extension().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "txt".into());
        let tp = a.out.with_file_name(format!("{stem}.test.{ext}"));
        rmbench_datasets::io::write_file(&tp, &te)?;
    }
    Ok(())
}

#[derive(Args, Debug)]
pub struct DensityArgs {
    /// Model (safetensors) trained on a 2-D toy dataset.
    #[arg(long)]
    pub model: PathBuf,
    /// The toy dataset (2spirals, 8gaussians, …).
    #[arg(long)]
    pub dataset: String,
    /// Grid points per axis.
    #[arg(long, default_value_t = 100)]
    pub grid: usize,
    /// Data samples for the histogram.
    #[arg(long, default_value_t = 20000)]
    pub n: usize,
    /// Seed of the data samples.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Draw p ∝ exp(−β·E) (quadratic and MLP; β = 4 undoes rm's ¼ tempering).
    #[arg(long, default_value_t = 1.0)]
    pub energy_scale: f32,
    /// Output CSV (x, y, value, kind).
    #[arg(long)]
    pub out: PathBuf,
}

pub fn density(a: DensityArgs) -> Result<()> {
    let mut model = load_model(&a.model)?;
    if a.energy_scale != 1.0 {
        rmbench_harness::eval::scale_energy(&mut *model, a.energy_scale).context("--energy-scale")?;
    }
    let rows = rmbench_harness::density::density_grid(&*model, &a.dataset, a.grid, a.n, a.seed)?;
    if a.out.exists() {
        std::fs::remove_file(&a.out)?;
    }
    let mut csv = CsvAppender::open(&a.out)?;
    for r in &rows {
        csv.append(r)?;
    }
    Ok(())
}

#[derive(Args, Debug)]
pub struct SampleArgs {
    /// Model (safetensors).
    #[arg(long)]
    pub model: PathBuf,
    /// Number of samples (independent chains).
    #[arg(long, default_value_t = 64)]
    pub n: usize,
    /// Systematic-scan Gibbs sweeps per chain, from a uniform random start.
    #[arg(long, default_value_t = 100)]
    pub sweeps: usize,
    /// Seed of the chains.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Inverse temperature β: sample exp(−β·E) (4 undoes the ¼ tempering of rm's minimizer).
    #[arg(long, default_value_t = 1.0)]
    pub beta: f64,
    /// Output file (.npy or text).
    #[arg(long)]
    pub out: PathBuf,
}

pub fn sample(a: SampleArgs) -> Result<()> {
    let model = load_model(&a.model)?;
    anyhow::ensure!(a.n > 0, "--n must be at least 1");
    anyhow::ensure!(a.beta.is_finite() && a.beta > 0.0, "--beta must be a positive number");
    let t0 = std::time::Instant::now();
    let (mut x, mut rngs) = rmbench_harness::eval::sampler::uniform_chains(a.n, model.dim(), a.seed);
    rmbench_harness::eval::sampler::gibbs_sweeps(&*model, &mut x, &mut rngs, a.sweeps, a.beta, None);
    rmbench_datasets::io::write_file(&a.out, &x)?;
    println!(
        "{}",
        serde_json::json!({"out": a.out, "n": a.n, "d": x.d(), "sweeps": a.sweeps, "beta": a.beta, "wall_ms": t0.elapsed().as_secs_f64() * 1e3})
    );
    Ok(())
}
