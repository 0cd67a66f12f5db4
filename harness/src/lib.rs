//! rmbench-harness: what turns the kernels into answers.
//!
//! Training objectives (exact ratio matching, RMwGGIS basic and advanced, uniform RM, NCE) built on
//! the kernels' weighted backward pass, Adam, the training loop, evaluation (exact and estimated log
//! Z, MMD, samplers), sweeps with resumable CSV, plots, and the `rmbench` command-line tool.

pub mod alloc_count;
pub mod busy;
pub mod csvio;
pub mod density;
pub mod error;
pub mod eval;
pub mod model_io;
pub mod objective;
pub mod optim;
pub mod peak;
pub mod plot;
pub mod proposal;
pub mod provenance;
pub mod stepbench;
pub mod sweep;
pub mod tensors;
pub mod train;

pub use error::{Error, Result};

#[cfg(test)]
mod objective_tests;
