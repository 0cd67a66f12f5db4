//! The MLP's and RBM's element-wise kernels on the run-time ISA, over one L2-resident block of
//! 64 Ki floats: Swish forward (σ(βa), a·σ), Swish backward and the softplus sum. Throughput in
//! elements per second.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rmbench_benches::criterion;
use rmbench_kernels::simd;
use std::hint::black_box;

fn elementwise(c: &mut Criterion) {
    let len = 1 << 16;
    let a: Vec<f32> = (0..len).map(|i| ((i % 97) as f32 - 48.0) * 0.11).collect();
    let dz: Vec<f32> = (0..len).map(|i| ((i % 31) as f32 - 15.0) * 0.01).collect();
    let (mut z, mut sig, mut delta) = (vec![0f32; len], vec![0f32; len], vec![0f32; len]);
    simd::swish_forward(&a, 1.3, &mut z, &mut sig);
    let mut g = c.benchmark_group(format!("elementwise_{}", simd::isa().name()));
    g.throughput(Throughput::Elements(len as u64));
    g.bench_function("swish_forward", |b| b.iter(|| simd::swish_forward(black_box(&a), 1.3, &mut z, &mut sig)));
    g.bench_function("swish_backward", |b| b.iter(|| simd::swish_backward(black_box(&a), &sig, 1.3, &dz, &mut delta)));
    g.bench_function("softplus_sum", |b| b.iter(|| simd::softplus_sum(black_box(&a))));
    g.finish();
}

criterion_group! { name = benches; config = criterion(); targets = elementwise }
criterion_main!(benches);
