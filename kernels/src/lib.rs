//! rmbench-kernels: the fast, checked core of rmbench.
//!
//! Bit-packed binary batches ([`bits::BitBatch`]), three energy models p(x) ∝ exp(−E(x)) over
//! x ∈ {0,1}^d ([`model::Quadratic`], [`model::Rbm`], [`model::Mlp`]) behind one trait
//! ([`model::EnergyModel`]): energies, all single-flip differences ΔEᵢ, ΔE at chosen indices, input
//! gradients and weighted parameter gradients. Every kernel has a scalar twin in [`reference`];
//! target-specific code lives only in [`simd`], chosen once at run time ([`simd::Isa`]).

pub mod aligned;
pub mod bits;
pub mod dense;
pub mod model;
pub mod reference;
pub mod simd;
#[cfg(test)]
mod testing;

pub use bits::BitBatch;
pub use model::{EnergyModel, Mlp, ModelKind, Quadratic, Rbm, SiteState, TensorSpec, WeightFn};
pub use simd::{bf16, fp16, i16, Isa};

/// Errors from building batches and models.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum KernelError {
    /// A buffer had the wrong number of elements.
    #[error("{what}: expected {expected} elements, got {got}")]
    Shape {
        /// What was being built.
        what: &'static str,
        /// Expected element count.
        expected: usize,
        /// Actual element count.
        got: usize,
    },
    /// A value other than 0 or 1 in binary data.
    #[error("value {value} at row {row}, column {col} is not 0 or 1")]
    NotBinary {
        /// Row (sample) index.
        row: usize,
        /// Column (bit) index.
        col: usize,
        /// The offending value.
        value: f64,
    },
    /// Non-zero padding bits past d in a packed row.
    #[error("row {row} has non-zero padding bits past d")]
    Padding {
        /// Row index.
        row: usize,
    },
    /// A model tensor is missing, misshapen or not finite.
    #[error("tensor `{name}`: {problem}")]
    Tensor {
        /// Tensor name (safetensors key).
        name: String,
        /// What is wrong with it.
        problem: String,
    },
}
