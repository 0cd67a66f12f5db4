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
    // The same terms with one lane per flip: 8 rows × 32 consecutive flips over one block of the
    // transposed table (H × 32 floats, 32 KiB, contiguous as the RBM stores it).
    let stride = simd::COLS;
    let et: Vec<f32> = (0..h * stride).map(|i| w[i % w.len()].exp()).collect();
    let (u8r, v8r): (Vec<f32>, Vec<f32>) =
        (0..8 * h).map(|i| (u[i % h] * (1.0 + i as f32 * 1e-4), 1.0 / u[i % h])).unzip();
    let c8 = [[0.0f64, 0.0]; 8];
    let bits8: Vec<u32> = (0..8u32).map(|r| 0x9e37_79b9u32.rotate_left(r)).collect();
    let rows8 = simd::ColumnRows { u: &u8r, v: &v8r, c: &c8, bits: &bits8 };
    let mut out8 = [[0f32; simd::COLS]; 8];
    g.throughput(Throughput::Elements((8 * simd::COLS * h) as u64));
    g.bench_function("rbm_log_add_columns", |b| {
        b.iter(|| simd::log_add_columns(&mut out8, black_box(&rows8), &et, stride, 1 << 20))
    });
    g.throughput(Throughput::Elements((h * flips) as u64));
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

/// The RBM's 8-row pre-activation tile (`simd::gather_add_tile`, one thread, H = 256, rows half
/// ones) at d = 256 / 1024 / 4096 (W: 256 KiB in L2, 1 MiB, 4 MiB beyond L2) on each ISA this CPU
/// has: elements are the tile's 8·d·H multiply-adds, so `elem/s` reads as FMA/s (the core's f32
/// FMA peak is `rmbench peak`'s FMA figure / 2 per thread).
fn tile(c: &mut Criterion) {
    let h = 256;
    let mut g = c.benchmark_group("gather_add_tile_h256");
    for d in [256usize, 1024, 4096] {
        let w: Vec<f32> = (0..d * h).map(|i| ((i % 89) as f32 - 44.0) * 0.003).collect();
        let xf: Vec<f32> = (0..d * simd::TILE_ROWS).map(|i| ((i * 7 + i / 13) % 2) as f32).collect();
        let mut out = vec![0f32; simd::TILE_ROWS * h];
        g.throughput(Throughput::Elements((simd::TILE_ROWS * d * h) as u64));
        for isa in [simd::Isa::Avx2, simd::Isa::Avx512].into_iter().filter(|&i| i <= simd::detected()) {
            g.bench_function(format!("{}/{d}", isa.name()), |b| {
                b.iter(|| simd::gather_add_tile_with(isa, &mut out, black_box(&xf), &w, h))
            });
        }
    }
    g.finish();
}

criterion_group! { name = benches; config = criterion(); targets = elementwise, adam, tile }
criterion_main!(benches);
