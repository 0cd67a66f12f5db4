//! Energy models p(x) ∝ exp(−E(x)) over x ∈ {0,1}^d and the trait they share.
//!
//! Every model keeps its parameters in one flat `Vec<f32>` described by [`TensorSpec`]s, so the
//! optimizer, the gradient buffers and safetensors I/O treat all models alike.

mod mlp;
mod quadratic;
mod rbm;

pub use mlp::Mlp;
pub use quadratic::Quadratic;
pub use rbm::Rbm;

use crate::bits::BitBatch;

/// Which energy a model computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ModelKind {
    /// Boltzmann machine / Ising: E = −(½ sᵀJs + hᵀs), s = 2x − 1.
    Quadratic,
    /// Free energy of a binary RBM: E = −bᵀx − Σⱼ softplus(cⱼ + Wⱼ·x).
    Rbm,
    /// MLP d → H → … → H → 1 with Swish a·σ(βa) on hidden layers.
    Mlp,
}

impl ModelKind {
    /// The name used in safetensors metadata and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Quadratic => "quadratic",
            ModelKind::Rbm => "rbm",
            ModelKind::Mlp => "mlp",
        }
    }

    /// Parses [`ModelKind::name`].
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "quadratic" => Some(ModelKind::Quadratic),
            "rbm" => Some(ModelKind::Rbm),
            "mlp" => Some(ModelKind::Mlp),
            _ => None,
        }
    }
}

/// One named tensor inside a model's flat parameter vector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorSpec {
    /// safetensors key, e.g. `layers.0.weight`.
    pub name: String,
    /// Shape in the interchange (PyTorch) layout, e.g. `[out, in]`.
    pub shape: Vec<usize>,
    /// First element in the flat parameter vector.
    pub offset: usize,
    /// For 2-D tensors: stored in the flat vector as the transpose of `shape` (row-major), because
    /// the kernels gather rows of it. I/O converts.
    pub transposed: bool,
}

impl TensorSpec {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// True for a tensor with no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The element range in the flat parameter vector.
    pub fn range(&self) -> std::ops::Range<usize> {
        self.offset..self.offset + self.len()
    }
}

/// Builds consecutive [`TensorSpec`]s.
pub(crate) fn layout(items: &[(&str, &[usize], bool)]) -> Vec<TensorSpec> {
    let mut off = 0;
    items
        .iter()
        .map(|(name, shape, transposed)| {
            let t = TensorSpec { name: name.to_string(), shape: shape.to_vec(), offset: off, transposed: *transposed };
            off += t.len();
            t
        })
        .collect()
}

/// Callback of [`EnergyModel::delta_then_grad`]: (rows of the chunk, ΔE rows × s, w_base out,
/// w_flip out) → continue?
pub type WeightFn<'a> = dyn FnMut(std::ops::Range<usize>, &[f32], &mut [f32], &mut [f32]) -> bool + 'a;

/// A binary energy-based model and its kernels. Buffers are row-major; `n` is `x.n()`.
///
/// All kernels are deterministic for a given input and rayon thread count.
pub trait EnergyModel: Send + Sync {
    /// Which energy this is.
    fn kind(&self) -> ModelKind;
    /// Input dimension d.
    fn dim(&self) -> usize;
    /// The named tensors inside [`EnergyModel::params`].
    fn tensors(&self) -> &[TensorSpec];
    /// All parameters, flat.
    fn params(&self) -> &[f32];
    /// All parameters, flat, for an optimizer. Call [`EnergyModel::params_changed`] afterwards.
    fn params_mut(&mut self) -> &mut [f32];
    /// Re-establishes invariants after a parameter update (e.g. J's zero diagonal and symmetry).
    fn params_changed(&mut self) {}
    /// Sets the precision of the dense products ([`crate::bf16::Precision`]); returns whether it
    /// is in effect (models without reduced-precision paths accept only f32).
    fn set_precision(&mut self, p: crate::bf16::Precision) -> bool {
        p == crate::bf16::Precision::F32
    }
    /// Extra model settings for safetensors metadata (besides `model`).
    fn metadata(&self) -> Vec<(String, String)> {
        Vec::new()
    }

    /// `out[r] = E(x_r)`; `out.len() == n`.
    fn energy(&self, x: &BitBatch, out: &mut [f32]);

    /// `out[r·d + i] = ΔEᵢ(x_r) = E(x_r with bit i flipped) − E(x_r)`; `out.len() == n·d`.
    fn delta_all(&self, x: &BitBatch, out: &mut [f32]);

    /// ΔE at chosen bits: with s = `idx.len() / n`, `out[r·s + j] = ΔE_{idx[r·s + j]}(x_r)`.
    fn delta_at(&self, x: &BitBatch, idx: &[u32], out: &mut [f32]);

    /// `energy[r] = E(x_r)` and `grad[r·d + i] = ∂E/∂xᵢ` at the binary point x_r (E extended to
    /// real x by its formula).
    fn input_grad(&self, x: &BitBatch, energy: &mut [f32], grad: &mut [f32]);

    /// Accumulates (adds) into `grad` (length = number of parameters) the parameter gradient of
    /// Σ_r w_base[r]·E(x_r) + Σ_{r,j} w_flip[r·s+j]·E(x_r flipped at idx[r·s+j]), s = idx.len()/n.
    /// This one weighted backward pass is what every objective is built from. `w_base.len() == n`.
    fn param_grad(&self, x: &BitBatch, w_base: &[f32], idx: &[u32], w_flip: &[f32], grad: &mut [f32]);

    /// The fused step of every ratio-matching objective: ΔE at the chosen flips, then a weighted
    /// parameter gradient whose weights depend on those ΔE. `weights(rows, delta, w_base, w_flip)`
    /// is called once per chunk of base rows with their ΔE (rows.len() × s) and fills the weights
    /// of [`EnergyModel::param_grad`] for those rows; returning false aborts (the function then
    /// returns false). Models override it to reuse one forward pass for both halves.
    fn delta_then_grad(&self, x: &BitBatch, idx: &[u32], weights: &mut WeightFn<'_>, grad: &mut [f32]) -> bool {
        let n = x.n();
        if n == 0 {
            return true;
        }
        let s = idx.len() / n;
        let mut delta = vec![0f32; n * s];
        self.delta_at(x, idx, &mut delta);
        let mut wb = vec![0f32; n];
        let mut wf = vec![0f32; n * s];
        if !weights(0..n, &delta, &mut wb, &mut wf) {
            return false;
        }
        self.param_grad(x, &wb, idx, &wf, grad);
        true
    }

    /// Flips per `delta_then_grad` call a model prefers when it keeps nothing per flip but its ΔE
    /// and weight (0: no preference; objectives chunk by their own `chunk_flips`). Larger chunks
    /// give its parameter gradient enough rows to run in parallel.
    fn flip_chunk_hint(&self) -> usize {
        0
    }

    /// Single-site Gibbs support: the state of one chain at bits `row` from which ΔEᵢ of the
    /// chain's current bits costs less than [`EnergyModel::delta_at`] (which starts from the
    /// bits alone), kept up to date as bits flip. `None` (the default): samplers call `delta_at`.
    fn site_state(&self, row: &[u64]) -> Option<Box<dyn SiteState + '_>> {
        let _ = row;
        None
    }

    /// Exhaustive enumeration support: calls `visit(E)` for the states k ^ (k >> 1) of the
    /// reflected Gray code, k = start..start + count (bit i of the state = xᵢ, d ≤ 63), each reached
    /// from the previous by one flip. Returns false if the model has no incremental walk (callers
    /// then evaluate batches of states with [`EnergyModel::energy`]).
    fn gray_energies(&self, start: u64, count: u64, visit: &mut dyn FnMut(f64)) -> bool {
        let _ = (start, count, visit);
        false
    }

    /// Number of parameters.
    fn num_params(&self) -> usize {
        self.params().len()
    }

    /// Proposal log-weights of RMwGGIS: `out[r·d+i] = 2·(2xᵢ − 1)·∂E/∂xᵢ`, the first-order Taylor
    /// estimate of −2·ΔEᵢ (ΔEᵢ ≈ (1 − 2xᵢ)·gᵢ), so q ∝ exp(out) estimates q ∝ exp(−2ΔEᵢ) = termᵢ.
    /// Also returns energies in `energy`.
    fn proposal_logits(&self, x: &BitBatch, energy: &mut [f32], out: &mut [f32]) {
        use rayon::prelude::*;
        self.input_grad(x, energy, out);
        let d = self.dim();
        if d == 0 {
            return;
        }
        let spin_row = |(r, o): (usize, &mut [f32])| {
            let row = x.row(r);
            for (i, g) in o.iter_mut().enumerate() {
                *g *= 2.0 * crate::bits::spin(row, i);
            }
        };
        // In parallel only where it pays for waking the pool (n·d = 4096 at d = 32 does not).
        if out.len() >= 1 << 16 {
            out.par_chunks_mut(d).enumerate().for_each(spin_row);
        } else {
            out.chunks_mut(d).enumerate().for_each(spin_row);
        }
    }
}

/// One chain's incremental state for single-site Gibbs scans ([`EnergyModel::site_state`]).
pub trait SiteState: Send {
    /// ΔEᵢ = E(row with bit i flipped) − E(row), `row` the chain's current bits.
    fn delta(&mut self, row: &[u64], i: usize) -> f32;
    /// Bit i of the chain has just flipped; `row` holds the new bits.
    fn flipped(&mut self, row: &[u64], i: usize);
}

/// True when `idx` (s per row) lists all d flips of every row in order 0..d: exact RM's training
/// step, which models serve with their all-flip kernel.
pub(crate) fn lists_every_flip_in_order(idx: &[u32], s: usize, d: usize) -> bool {
    s == d && s > 0 && idx.chunks_exact(s).all(|r| r.iter().enumerate().all(|(i, &v)| v as usize == i))
}

/// Fills a buffer with a deterministic pseudo-random sequence (SplitMix64) scaled to ±`scale`:
/// model initialisation without a dependency on the data crates' RNG.
pub(crate) fn fill_uniform(buf: &mut [f32], seed: u64, scale: f32) {
    let mut z = seed;
    for v in buf.iter_mut() {
        z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut y = z;
        y = (y ^ (y >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        y = (y ^ (y >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        y ^= y >> 31;
        let u = (y >> 40) as f32 / (1u64 << 24) as f32; // [0,1)
        *v = (2.0 * u - 1.0) * scale;
    }
}

/// The value cached in `cell`, built by `build` when it is empty. Unlike
/// `OnceLock::get_or_init`, the builder runs outside the cell's lock: a builder that splits its
/// work over rayon may, while it waits for its tasks, run a task of an outer parallel loop that
/// asks for the same cell, and `get_or_init` would then re-enter its own initialization
/// (a deadlock). Here that task builds the value a second time and the first one stored is kept;
/// both are the same value, since the builders are pure functions of the parameters.
pub(crate) fn cached<T>(cell: &std::sync::OnceLock<T>, build: impl FnOnce() -> T) -> &T {
    if let Some(v) = cell.get() {
        return v;
    }
    let _ = cell.set(build());
    cell.get().expect("the cell was just set")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::patterns;
    use rayon::prelude::*;

    /// Cached tables built on first use (the quadratic's column strips, the RBM's flip table)
    /// are asked for by many tasks of an outer parallel loop at once, on a fresh model: every
    /// task gets the serial result (with `OnceLock::get_or_init` a task could re-enter the build
    /// it was waiting inside and hang).
    #[test]
    fn cached_tables_built_inside_an_outer_parallel_loop() {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        type Make = Box<dyn Fn() -> Box<dyn EnergyModel>>;
        let fresh: [(&str, Make); 2] = [
            ("quadratic d=600", Box::new(|| Box::new(Quadratic::random(600, 0.5, 3)))),
            ("rbm d=300 h=64", Box::new(|| Box::new(Rbm::random(300, 64, 0.5, 4)))),
        ];
        for (name, make) in fresh {
            let (_, x) = patterns(16, make().dim(), 5).swap_remove(0);
            let mut want = vec![0f32; x.n() * x.d()];
            make().delta_all(&x, &mut want);
            for round in 0..4 {
                let m = make();
                let got: Vec<Vec<f32>> = pool.install(|| {
                    (0..16)
                        .into_par_iter()
                        .map(|_| {
                            let mut o = vec![0f32; x.n() * x.d()];
                            m.delta_all(&x, &mut o);
                            o
                        })
                        .collect()
                });
                for o in got {
                    assert!(o == want, "{name}, round {round}: a task's ΔE differs from the serial one");
                }
            }
        }
    }
}
