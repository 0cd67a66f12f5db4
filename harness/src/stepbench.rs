//! Timing training steps of one configuration: the measurement behind `rmbench step-bench` and
//! every sweep point. A step is the objective's gradient, clipping and an Adam update.

use crate::alloc_count;
use crate::error::{Error, Result};
use crate::model_io::{new_model, ModelKindName, ModelShape};
use crate::objective::{loss_and_grad, Objective, ObjectiveConfig, ObjectiveState};
use crate::optim::{Adam, AdamConfig};
use rmbench_datasets::rng::Stream;
use rmbench_kernels::dense::{GemmWork, Operand};
use rmbench_kernels::BitBatch;
use serde::Serialize;
use std::time::Instant;

/// One configuration to time.
#[derive(Clone, Debug)]
pub struct StepSpec {
    /// Model shape.
    pub shape: ModelShape,
    /// Batch size n.
    pub batch: usize,
    /// Objective settings (s, chunking…).
    pub objective: ObjectiveConfig,
    /// Seed of model, data and sampling.
    pub seed: u64,
    /// Precision of the MLP's dense products.
    pub precision: rmbench_kernels::bf16::Precision,
}

/// Timing of k steps after warm-up.
#[derive(Clone, Debug, Serialize)]
pub struct StepStats {
    /// Median ms per step.
    pub step_ms_median: f64,
    /// First quartile (ms).
    pub step_ms_q1: f64,
    /// Third quartile (ms).
    pub step_ms_q3: f64,
    /// Peak heap bytes during a step above [`process_baseline_bytes`]: model, optimizer state, data
    /// and work buffers (None without the counting allocator).
    pub peak_bytes: Option<u64>,
    /// Dense-layer FLOPs per step (MLP only).
    pub flops_per_step: Option<f64>,
    /// flops_per_step / median time.
    pub gflops: Option<f64>,
    /// FLOPs of the f32 GEMMs that ran per timed step ([`GemmWork`]: counted at each product, so
    /// merged draws and chunking show; the first layer, the output layer and the mixed-precision
    /// products are not GEMMs here and not counted). 0 for models without dense products.
    pub gemm_flops_per_step: f64,
    /// Time inside those GEMMs per step, summed over threads (ms).
    pub gemm_thread_ms_per_step: f64,
    /// The dense part's in-situ rate: gemm_flops_per_step / (gemm_thread_ms_per_step / threads),
    /// comparable to `rmbench peak`'s GEMM peak on the same threads (None without GEMMs).
    pub gemm_gflops_in_step: Option<f64>,
    /// Share of the timed steps' wall time the threads spent in GEMMs (thread time / threads).
    pub gemm_share: f64,
    /// Timed steps.
    pub steps: usize,
    /// Peak resident set of the whole process so far (VmHWM, MiB; Linux), comparable to a
    /// PyTorch process's peak RSS.
    pub process_peak_rss_mib: Option<f64>,
    /// Whether the pool's other workers polled between the steps' parallel regions
    /// ([`crate::busy`]; off with `RMBENCH_BUSY=0`, one thread, or more threads than CPUs).
    pub busy_workers: bool,
}

/// The process's peak resident set (VmHWM from /proc/self/status), in MiB.
pub fn process_peak_rss_mib() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Random n × d bits with P(1) = ½ from `seed`.
pub fn random_batch(n: usize, d: usize, seed: u64) -> BitBatch {
    let mut rng = Stream::new(seed, 7);
    let mut b = BitBatch::zeros(n, d);
    for r in 0..n {
        for i in 0..d {
            if rng.next_u64() & 1 == 1 {
                b.set(r, i, true);
            }
        }
    }
    b
}

/// FLOPs of the dense layers in one training step of an MLP (None for other models): forward
/// 2H² per hidden→hidden layer and 2H for the output per row; a backward with parameter gradients
/// costs 2× forward, so the fused ΔE-then-gradient pass over n·(s+1) rows costs 3× forward; the
/// proposal's input gradient is one forward, one backward without parameter gradients (1×) and
/// 2·H·d per row for δ₁·W₀. First-layer gather-adds and elementwise work are not counted. The
/// count is of all s draws: where the MLP merges a bit drawn twice into one flipped row
/// (`ggis-basic`, `rm-uniform`), fewer FLOPs run and the rate is an effective one.
pub fn mlp_step_flops(shape: &ModelShape, n: usize, cfg: &ObjectiveConfig) -> Option<f64> {
    if shape.kind != ModelKindName::Mlp {
        return None;
    }
    let (h, d, l) = (shape.hidden as f64, shape.dim as f64, shape.layers as f64);
    let fwd = (l - 1.0) * 2.0 * h * h + 2.0 * h;
    let n = n as f64;
    let s = cfg.samples as f64;
    let rows_fwd_bwd = |rows: f64| rows * fwd * 3.0;
    Some(match cfg.objective {
        Objective::Rm | Objective::RmSigmoid => rows_fwd_bwd(n * (d + 1.0)),
        Objective::RmUniform => rows_fwd_bwd(n * (s + 1.0)),
        Objective::GgisBasic | Objective::GgisAdvanced => {
            let s = if cfg.objective == Objective::GgisAdvanced || cfg.without_replacement { s.min(d) } else { s };
            n * (2.0 * fwd + 2.0 * h * d) + rows_fwd_bwd(n * (s + 1.0))
        }
        Objective::Nce => {
            let nu = cfg.nce_noise.max(1) as f64;
            n * (1.0 + nu) * fwd + rows_fwd_bwd(n * (1.0 + nu))
        }
        // k + 1 input-gradient passes of the chains (GWG proposals), two energies, two gradients.
        Objective::PcdGwg => {
            (cfg.pcd_steps as f64 + 1.0) * n * (2.0 * fwd + 2.0 * h * d) + 2.0 * n * fwd + rows_fwd_bwd(2.0 * n)
        }
    })
}

/// Heap in use before a point's model exists, after faer's per-thread GEMM packing buffers (2 × L3
/// per thread, allocated once on a thread's first GEMM and kept for the life of the process) have
/// been created on every thread of the current pool: the level that `peak_bytes` is measured above.
pub fn process_baseline_bytes() -> u64 {
    let warm = || {
        let (a, b) = (vec![1f32; 64 * 64], vec![1f32; 64 * 64]);
        let mut c = vec![0f32; 64 * 64];
        rmbench_kernels::dense::gemm(&mut c, 64, 64, Operand::new(&a, 64, 64), Operand::new(&b, 64, 64), 1.0, false);
    };
    rayon::broadcast(|_| warm());
    warm();
    alloc_count::current()
}

/// Times `steps` training steps after `warmup` on random data (on the current rayon pool).
pub fn time_steps(spec: &StepSpec, warmup: usize, steps: usize) -> Result<StepStats> {
    if steps == 0 {
        return Err(Error::Input("steps must be at least 1".into()));
    }
    let baseline = process_baseline_bytes();
    let mut model = new_model(spec.shape, spec.seed);
    spec.precision.check().map_err(|why| Error::Input(format!("{} precision: {why}", spec.precision.name())))?;
    if !model.set_precision(spec.precision) {
        let p = spec.precision;
        let why = p.check().err().unwrap_or_else(|| "it applies to the mlp model only".into());
        return Err(Error::Input(format!("{} precision: {why}", p.name())));
    }
    let x = random_batch(spec.batch, spec.shape.dim, spec.seed);
    let mut adam = Adam::new(AdamConfig::default(), model.num_params());
    let mut grad = vec![0f32; model.num_params()];
    let mut state = ObjectiveState::for_data(&x);
    let mut rng = Stream::new(spec.seed, 3);
    let mut times = Vec::with_capacity(steps);
    let mut peak = 0u64;
    let mut work_start = GemmWork::now();
    // The steps with the pool's other workers polling instead of sleeping (crate::busy).
    crate::busy::with_busy_pool(|| -> Result<()> {
        for k in 0..warmup + steps {
            if k == warmup {
                work_start = GemmWork::now();
            }
            alloc_count::reset_peak();
            let t = Instant::now();
            loss_and_grad(&*model, &x, &spec.objective, &mut state, &mut rng, &mut grad).map_err(|e| Error::Train {
                step: k,
                source: e,
                saved: String::new(),
            })?;
            adam.clip(&mut grad, 0.0);
            adam.step(model.params_mut(), &grad);
            model.params_changed();
            let ms = t.elapsed().as_secs_f64() * 1e3;
            if k >= warmup {
                times.push(ms);
                peak = peak.max(alloc_count::peak().saturating_sub(baseline));
            }
        }
        Ok(())
    })?;
    let work = GemmWork::now().since(work_start);
    let threads = rayon::current_num_threads() as f64;
    let timed_ms: f64 = times.iter().sum();
    let gemm_thread_ms = work.thread_ns as f64 * 1e-6;
    times.sort_by(f64::total_cmp);
    let q = |p: f64| {
        let pos = p * (times.len() - 1) as f64;
        let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
        times[lo] + (times[hi] - times[lo]) * (pos - lo as f64)
    };
    let median = q(0.5);
    let flops = mlp_step_flops(&spec.shape, spec.batch, &spec.objective);
    Ok(StepStats {
        step_ms_median: median,
        step_ms_q1: q(0.25),
        step_ms_q3: q(0.75),
        peak_bytes: alloc_count::installed().then_some(peak),
        flops_per_step: flops,
        gflops: flops.map(|f| f / (median * 1e-3) / 1e9),
        gemm_flops_per_step: work.flops as f64 / steps as f64,
        gemm_thread_ms_per_step: gemm_thread_ms / steps as f64,
        gemm_gflops_in_step: (work.thread_ns > 0).then(|| work.flops as f64 / (gemm_thread_ms * 1e-3 / threads) / 1e9),
        gemm_share: gemm_thread_ms / threads / timed_ms,
        steps,
        process_peak_rss_mib: process_peak_rss_mib(),
        busy_workers: crate::busy::polls_here(),
    })
}

/// A model's dimension check helper for callers building shapes from user input.
pub fn check_shape(shape: &ModelShape) -> Result<()> {
    if shape.dim == 0 {
        return Err(Error::Input("dimension must be at least 1".into()));
    }
    if shape.kind != ModelKindName::Quadratic && shape.hidden == 0 {
        return Err(Error::Input("hidden width must be at least 1".into()));
    }
    if shape.kind == ModelKindName::Mlp && shape.layers == 0 {
        return Err(Error::Input("an mlp needs at least one hidden layer".into()));
    }
    Ok(())
}
