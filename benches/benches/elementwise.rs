//! The MLP's and RBM's element-wise kernels on the run-time ISA, over one L2-resident block of
//! 64 Ki floats: Swish forward (σ(βa), a·σ), Swish backward and the softplus sum; and the RBM's
//! tabulated flip kernels (`log_mix_products` and its additive form `log_add_products`, H = 256, 16 flips over a 16 KiB 64-byte-aligned table:
//! one thread, L1-resident) beside the softplus-difference sum it replaces. Throughput in elements (terms)
//! per second.

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
    // RBM flips: 16 flips × H = 256 terms.
    let (h, flips) = (256, 16);
    let mut sig_store = vec![0f32; 2 * h + 16];
    let off = sig_store.as_ptr().align_offset(64);
    let (s, sb) = sig_store[off..off + 2 * h].split_at_mut(h);
    simd::sigmoid_pair_into(s, sb, &a[..h]);
    let (s, sb) = (&*s, &*sb);
    let w: Vec<f32> = dz[..h * flips].iter().map(|v| v * 10.0).collect();
    let mut table_store = vec![0f32; h * flips + 16];
    let off = table_store.as_ptr().align_offset(64);
    let table = &mut table_store[off..off + h * flips];
    simd::exp_into(table, &w);
    let table = &*table;
    let rows: Vec<u32> = (0..flips as u32).collect();
    let mut out = vec![0f32; flips];
    g.throughput(Throughput::Elements((h * flips) as u64));
    g.bench_function("rbm_log_mix_products", |b| {
        b.iter(|| simd::log_mix_products(&mut out, black_box(s), sb, table, &rows, 1 << 20))
    });
    let u: Vec<f32> = s.iter().zip(sb).map(|(&p, &q)| q / p).collect();
    g.bench_function("rbm_log_add_products", |b| {
        b.iter(|| simd::log_add_products(&mut out, black_box(&u), table, &rows, 1 << 20, 0.0))
    });
    let sp: Vec<f32> = a[..h].iter().map(|&v| simd::math::softplus(v)).collect();
    g.bench_function("rbm_softplus_shift_sums", |b| {
        b.iter(|| {
            for r in 0..flips {
                out[r] = simd::softplus_shift_sum(black_box(&a[..h]), &sp, &w[r * h..(r + 1) * h], 1.0);
            }
        })
    });
    g.finish();
}

/// One Adam update (`simd::adam_update`, one thread) over 64 Ki parameters (its four arrays,
/// 1 MiB, in L2) and over the MLP's parameter count at d = 2048 (d·H + 2H² + … ≈ 656 Ki, 10 MiB,
/// beyond L2): elements per second, where the second size reads the memory rate.
fn adam(c: &mut Criterion) {
    let mut g = c.benchmark_group(format!("adam_{}", simd::isa().name()));
    let coeffs = simd::AdamCoeffs {
        lr: 5e-4,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: 1e-4,
        l1: 0.0,
        bc1: 0.1,
        bc2: 0.001,
    };
    for len in [1usize << 16, 2048 * 256 + 2 * 256 * 256 + 4 * 256 + 2] {
        let mut p: Vec<f32> = (0..len).map(|i| ((i % 97) as f32 - 48.0) * 0.01).collect();
        let (mut m, mut v) = (vec![0.01f32; len], vec![0.02f32; len]);
        // No zero gradients: m of a zero gradient decays into subnormals within ~800 iterations.
        let grad: Vec<f32> = (0..len).map(|i| ((i % 31) as f32 - 15.5) * 0.01).collect();
        g.throughput(Throughput::Elements(len as u64));
        g.bench_function(format!("update/{len}"), |b| {
            b.iter(|| simd::adam_update(&mut p, &mut m, &mut v, black_box(&grad), &coeffs))
        });
    }
    g.finish();
}

criterion_group! { name = benches; config = criterion(); targets = elementwise, adam }
criterion_main!(benches);
