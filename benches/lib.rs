//! Shared setup for the criterion benches: quick mode, dimensions, and seeded random batches.
//!
//! `RMBENCH_BENCH_QUICK=1` (used by CI) shortens every measurement and keeps only the small
//! dimensions, so `cargo bench` finishes in well under a minute.

use criterion::Criterion;
use rmbench_datasets::rng::Stream;
use rmbench_kernels::BitBatch;
use std::time::Duration;

/// True when the quick CI mode is requested.
pub fn quick() -> bool {
    std::env::var_os("RMBENCH_BENCH_QUICK").is_some_and(|v| v != "0")
}

/// Dimensions to bench: {32, 256, 1024, 4096}, or {32, 256} in quick mode.
pub fn dims() -> Vec<usize> {
    if quick() {
        vec![32, 256]
    } else {
        vec![32, 256, 1024, 4096]
    }
}

/// A criterion configured for the mode.
pub fn criterion() -> Criterion {
    let c = Criterion::default().configure_from_args();
    if quick() {
        c.sample_size(10).warm_up_time(Duration::from_millis(100)).measurement_time(Duration::from_millis(300))
    } else {
        c.sample_size(20).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2))
    }
}

/// n × d random bits with P(1) = `density`.
pub fn random_batch(n: usize, d: usize, density: f64, seed: u64) -> BitBatch {
    let mut rng = Stream::new(seed, 0);
    let mut b = BitBatch::zeros(n, d);
    for r in 0..n {
        for i in 0..d {
            if rng.bernoulli(density) {
                b.set(r, i, true);
            }
        }
    }
    b
}

/// s random indices per row in 0..d.
pub fn random_idx(n: usize, s: usize, d: usize, seed: u64) -> Vec<u32> {
    let mut rng = Stream::new(seed, 1);
    (0..n * s).map(|_| rng.below(d) as u32).collect()
}
