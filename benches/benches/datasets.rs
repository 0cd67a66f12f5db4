//! Generation speed of the datasets: toy points quantized to d bits, Ising Gibbs sampling.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rmbench_benches::{criterion, quick};
use rmbench_datasets::ising::{GibbsSchedule, IsingLattice};

fn toy(c: &mut Criterion) {
    let mut g = c.benchmark_group("toy_2spirals");
    let n = 5000;
    for d in [32usize, 1024] {
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(BenchmarkId::new("load", d), |b| {
            b.iter(|| rmbench_datasets::load("2spirals", Some(d), n, 1).expect("2spirals generates"))
        });
    }
    g.finish();
}

fn ising(c: &mut Criterion) {
    let mut g = c.benchmark_group("ising_gibbs");
    let l = 10;
    let sched = GibbsSchedule { chains: 4, burn_in_steps: if quick() { 10_000 } else { 100_000 }, thin_sweeps: 10 };
    g.throughput(Throughput::Elements((sched.chains * sched.burn_in_steps) as u64));
    g.bench_function(BenchmarkId::new("L10_sigma0.25", 100), |b| {
        b.iter(|| IsingLattice { l, sigma: 0.25 }.sample(100, sched, 1))
    });
    g.finish();
}

criterion_group! { name = benches; config = criterion(); targets = toy, ising }
criterion_main!(benches);
