//! The sweep CSV schema (one row per grid point). Columns are append-only; a golden-header test
//! catches renames. Documented in results/README.md.

use crate::provenance::Provenance;
use serde::{Deserialize, Serialize};

/// Current version of the sweep CSV schema.
pub const SWEEP_SCHEMA_VERSION: u32 = 1;

/// One measured grid point.
#[derive(Clone, Debug, Serialize)]
pub struct SweepRow {
    /// Schema version of this file kind.
    pub schema_version: u32,
    /// Stable key of the grid point (all grid coordinates); resume skips keys already present.
    pub point_id: String,
    /// Name of the sweep config.
    pub config: String,
    /// Model kind (mlp, rbm, quadratic).
    pub model: String,
    /// Dimension d.
    pub dim: usize,
    /// Hidden width H (0 for quadratic).
    pub hidden: usize,
    /// Hidden layers L (mlp).
    pub layers: usize,
    /// Batch size n.
    pub batch: usize,
    /// Sampled bits per sample s (estimators).
    pub samples: usize,
    /// Objective name.
    pub objective: String,
    /// ggis-basic drawn without replacement.
    pub without_replacement: bool,
    /// Warm-up steps (not timed).
    pub warmup_steps: usize,
    /// Timed steps.
    pub steps: usize,
    /// Median wall time of one training step (objective gradient + Adam), ms.
    pub step_ms_median: Option<f64>,
    /// First quartile of the step time, ms.
    pub step_ms_q1: Option<f64>,
    /// Third quartile of the step time, ms.
    pub step_ms_q3: Option<f64>,
    /// Peak heap bytes during a step above the process baseline (counting allocator): model,
    /// optimizer state, data and work buffers; faer's per-thread GEMM packing buffers excluded.
    pub peak_bytes: Option<u64>,
    /// Floating-point operations of one step, counted from the model's shapes.
    pub flops_per_step: Option<f64>,
    /// Achieved GFLOP/s (flops_per_step / median time).
    pub gflops: Option<f64>,
    /// The machine's measured dense f32 peak on these threads (GFLOP/s), if known.
    pub peak_gflops: Option<f64>,
    /// gflops / peak_gflops.
    pub frac_of_peak: Option<f64>,
    /// Draws R of the estimator-quality measurement (0 = not measured).
    pub quality_reps: usize,
    /// ‖mean ĝ − g‖ / ‖g‖ over R draws against exact rm on the same batch.
    pub grad_rel_bias: Option<f64>,
    /// mean ‖ĝ − mean ĝ‖² / ‖g‖² over R draws.
    pub grad_rel_var: Option<f64>,
    /// Mean cosine similarity between ĝ and the exact rm gradient g.
    pub grad_cosine: Option<f64>,
    /// (mean L̂ − L) / L for the loss.
    pub loss_rel_bias: Option<f64>,
    /// Error message if the point failed (NaN, overflow, out of memory…); empty if it succeeded.
    pub err: String,
    /// Seed of the point.
    pub seed: u64,
    /// Unix time the point finished (s).
    pub finished_unix: u64,
    /// Machine and build.
    #[serde(flatten)]
    pub provenance: Provenance,
    /// In-situ rate of the step's f32 GEMMs (GFLOP/s, FLOPs counted at each product over the
    /// threads' time in them; `StepStats::gemm_gflops_in_step`); empty without GEMMs.
    pub gemm_gflops_in_step: Option<f64>,
    /// gemm_gflops_in_step / peak_gflops: the dense part's fraction of the peak.
    pub gemm_frac_of_peak: Option<f64>,
    /// Share of the step's wall time spent in those GEMMs (thread time / threads).
    pub gemm_share: Option<f64>,
}

/// The columns of a sweep CSV that plots and resume read back (others are ignored).
#[derive(Clone, Debug, Deserialize)]
pub struct SweepRecord {
    /// See [`SweepRow::point_id`].
    pub point_id: String,
    /// Model kind.
    pub model: String,
    /// Dimension d.
    pub dim: usize,
    /// Batch size.
    pub batch: usize,
    /// s.
    pub samples: usize,
    /// Objective.
    pub objective: String,
    /// Median step time (ms).
    pub step_ms_median: Option<f64>,
    /// First quartile (ms).
    pub step_ms_q1: Option<f64>,
    /// Third quartile (ms).
    pub step_ms_q3: Option<f64>,
    /// Peak heap bytes.
    pub peak_bytes: Option<u64>,
    /// GFLOP/s.
    pub gflops: Option<f64>,
    /// Fraction of peak.
    pub frac_of_peak: Option<f64>,
    /// Relative gradient bias.
    pub grad_rel_bias: Option<f64>,
    /// Relative gradient variance.
    pub grad_rel_var: Option<f64>,
    /// Cosine similarity.
    pub grad_cosine: Option<f64>,
    /// Relative loss bias.
    pub loss_rel_bias: Option<f64>,
    /// Error text (empty if ok).
    pub err: String,
    /// rayon threads.
    pub threads: usize,
    /// ISA.
    pub isa: String,
}
