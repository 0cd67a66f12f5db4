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
    let spec = StepSpec { shape, batch: a.batch, objective: cfg, seed: a.seed };
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
    /// Measure again even if a cached value exists.
    #[arg(long)]
    pub remeasure: bool,
}

pub fn peak(a: PeakArgs) -> Result<()> {
    let p = rmbench_harness::peak::cached_or_measure(a.remeasure)?;
    println!("{}", serde_json::to_string(&p)?);
    Ok(())
}
