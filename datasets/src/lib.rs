//! rmbench-datasets: the binary data rmbench learns from.
//!
//! Seeded random streams ([`rng`]), the 2-D toy distributions quantized to d bits with Gray code,
//! Ising lattice samples with their true couplings, and readers/writers for users' own files
//! (text `0`/`1` lines and `.npy`). Everything returns [`rmbench_kernels::BitBatch`].

pub mod rng;
