//! Bit-packed primitives per ISA beside their scalar reference: popcount, Hamming, gather-add.
//! Throughput is in bits (popcount, Hamming) or table elements added (gather-add).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rmbench_benches::{criterion, dims, random_batch};
use rmbench_kernels::aligned::AlignedVec;
use rmbench_kernels::simd::{gather_add_with, hamming_with, popcount_with, Isa};
use rmbench_kernels::{reference, BitBatch};
use std::hint::black_box;

const ISAS: [Isa; 3] = [Isa::Scalar, Isa::Avx2, Isa::Avx512];

fn popcount_hamming(c: &mut Criterion) {
    let mut g = c.benchmark_group("hamming");
    for d in dims() {
        let n = 256;
        let x = random_batch(n, d, 0.5, 1);
        g.throughput(Throughput::Elements((n * d) as u64));
        g.bench_function(BenchmarkId::new("reference", d), |b| {
            b.iter(|| (1..n).map(|r| reference::hamming(x.row(0), x.row(r))).sum::<u32>())
        });
        for isa in ISAS {
            if hamming_with(isa, x.row(0), x.row(1)) != Some(reference::hamming(x.row(0), x.row(1))) {
                continue; // ISA missing (None) — a mismatch would have failed the tests.
            }
            g.bench_function(BenchmarkId::new(isa.name(), d), |b| {
                b.iter(|| (1..n).map(|r| hamming_with(isa, black_box(x.row(0)), x.row(r)).unwrap_or(0)).sum::<u32>())
            });
        }
        let _ = popcount_with(Isa::Scalar, x.row(0));
    }
    g.finish();
}

/// out += Σ_{set j} table[j,:] for H = 256 columns: the first layer of every model.
fn gather_add(c: &mut Criterion) {
    let mut g = c.benchmark_group("gather_add_h256");
    let h = 256;
    for d in dims() {
        let x: BitBatch = random_batch(8, d, 0.5, 2);
        // 64-byte aligned like the models' tables (a 16-byte aligned `Vec` splits every 512-bit load).
        let mut table = AlignedVec::zeros(d * h);
        table.iter_mut().enumerate().for_each(|(k, t)| *t = (k % 13) as f32 * 0.1);
        let ones: u64 = x.popcount_rows().iter().map(|&p| p as u64).sum();
        g.throughput(Throughput::Elements(ones * h as u64));
        let mut want = vec![0f32; h];
        reference::gather_add(x.row(0), &table, h, &mut want);
        g.bench_function(BenchmarkId::new("reference", d), |b| {
            let mut out = vec![0f32; h];
            b.iter(|| (0..8).for_each(|r| reference::gather_add(x.row(r), &table, h, &mut out)))
        });
        for isa in ISAS {
            let mut got = vec![0f32; h];
            if gather_add_with(isa, x.row(0), &table, h, &mut got).is_none() {
                continue;
            }
            assert_eq!(got, want, "{isa:?} disagrees with the reference");
            g.bench_function(BenchmarkId::new(isa.name(), d), |b| {
                let mut out = vec![0f32; h];
                b.iter(|| (0..8).for_each(|r| gather_add_with(isa, x.row(r), &table, h, &mut out).unwrap_or(())))
            });
        }
    }
    g.finish();
}

criterion_group! { name = benches; config = criterion(); targets = popcount_hamming, gather_add }
criterion_main!(benches);
