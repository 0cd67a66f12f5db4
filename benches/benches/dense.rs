//! The MLP's dense layer shapes, f32 (faer) against the mixed-precision bf16 product
//! (`rmbench_kernels::bf16`: AMX tiles or AVX512-BF16 when the CPU has them, named by
//! `bf16::engine`), and fp16 on AVX512-FP16 where present (`f16_avx512fp16`, not used by the MLP
//! yet): C[m × 256] = A[m × 256]·Wᵀ with
//! m = 1408 (a ggis step: 128 samples × (s + 1) rows) and m = 8192 (one exact-rm chunk).
//! Throughput: FLOPs (2·m·k·n) as elements per second. The bf16 time includes rounding A (done
//! per call); W's bf16 pack is made once, as the MLP caches it between optimizer steps.
//! `weight_grad_flops`: the weight-gradient product ∂W[256 × 256] = Aᵀ·Z over m rows, f32 against
//! `bf16::gemm_tn` with both operands packed per call. On AVX2 CPUs without bf16, `i16_avx2`: the
//! int16 fixed-point product of `rmbench_kernels::i16` (`vpmaddwd`). `bf16_task_alignment`: one
//! 96-row task on one thread with its packed rows and output on cache lines or 16 bytes off.
//! `bf16x3_*`: the same products as three bf16 products (`bf16::split`, `--precision bf16x3`),
//! A split per call, W's split pack made once, the weight gradient as the MLP runs it
//! (`bf16::weight_grad_x3`: 384-row blocks, operands split per call); their throughput counts
//! f32-equivalent FLOPs (2·m·k·n, not 3×). `bf16x3_small_pack_home`: a 64- or 128-row bf16x3
//! product on core 0 right after its weight pack was split on core 0 or on core 1.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rayon::prelude::*;
use rmbench_benches::criterion;
use rmbench_kernels::aligned::AlignedVec;
use rmbench_kernels::dense::{gemm, Operand};
use rmbench_kernels::{bf16, fp16, i16};

fn dense(c: &mut Criterion) {
    let (k, n) = (256, 256);
    let mut g = c.benchmark_group("dense_layer_flops");
    for m in [1408usize, 8192] {
        let a: Vec<f32> = (0..m * k).map(|i| ((i % 89) as f32 - 44.0) * 0.01).collect();
        let w: Vec<f32> = (0..n * k).map(|i| ((i % 53) as f32 - 26.0) * 0.01).collect();
        // Output and packed rows on cache lines, as the MLP's pooled buffers are.
        let mut out = AlignedVec::<f32>::zeros(m * n);
        g.throughput(Throughput::Elements((2 * m * k * n) as u64));
        g.bench_function(BenchmarkId::new("f32_faer", m), |b| {
            b.iter(|| gemm(&mut out, m, n, Operand::new(&a, m, k), Operand::t(&w, n, k), 1.0, false))
        });
        // W is packed once per optimizer step in the MLP (cached), so outside the timed loop. The
        // bf16 products only where the CPU has them (their scalar twin is 100× slower).
        let packed = bf16::PackedB::new(Operand::t(&w, n, k));
        if bf16::available() {
            g.bench_function(BenchmarkId::new(format!("bf16_{}", bf16::engine()), m), |b| {
                b.iter(|| bf16::gemm(&mut out, m, &a, &packed, false))
            });
        }
        if bf16::available() && bf16::x3_available() {
            let split = bf16::PackedB::split(Operand::t(&w, n, k), bf16::Order::Rhs);
            g.bench_function(BenchmarkId::new(format!("bf16x3_{}", bf16::engine()), m), |b| {
                b.iter(|| bf16::gemm_x3(&mut out, m, k, &a, &split, false, true))
            });
        }
        // fp16 on AVX512-FP16 (not used by the MLP yet): A rounded per call, W packed once.
        if fp16::available() {
            let packed16 = fp16::PackedB::new(Operand::t(&w, n, k));
            g.bench_function(BenchmarkId::new("f16_avx512fp16", m), |b| {
                b.iter(|| fp16::gemm(&mut out, m, &a, &packed16, false))
            });
        }
        // The product alone, A's rows packed beforehand in 96-row tasks (as the MLP's fused tasks
        // hand them over).
        if bf16::available() {
            let mut ap = AlignedVec::<u32>::zeros(m * k / 2);
            for (r, p) in a.chunks(k).zip(ap.chunks_mut(k / 2)) {
                bf16::pack_row(r, p);
            }
            g.bench_function(BenchmarkId::new(format!("bf16_{}_prepacked", bf16::engine()), m), |b| {
                b.iter(|| {
                    out.par_chunks_mut(96 * n)
                        .zip(ap.par_chunks(96 * k / 2))
                        .for_each(|(c, a)| bf16::gemm_block(c, c.len() / n, a, &packed, false))
                })
            });
        }
        // int16 fixed point on AVX2 CPUs without bf16 (`i16_avx2`): A quantized per 96-row task
        // inside the timed loop, W's pack made once; `_prepacked`: the product alone.
        if i16::available() {
            let packed = i16::PackedW::new(Operand::t(&w, n, k));
            g.bench_function(BenchmarkId::new("i16_avx2", m), |b| {
                b.iter(|| {
                    out.par_chunks_mut(96 * n).zip(a.par_chunks(96 * k)).for_each(|(c, a)| {
                        let rows = c.len() / n;
                        let mut ap = vec![0u32; rows * k / 2];
                        let s: Vec<f32> = (0..rows)
                            .map(|r| i16::pack_row(&a[r * k..(r + 1) * k], &mut ap[r * k / 2..(r + 1) * k / 2]))
                            .collect();
                        i16::gemm_block(c, rows, &ap, &s, &packed, false)
                    })
                })
            });
            let mut ap = vec![0u32; m * k / 2];
            let s: Vec<f32> =
                (0..m).map(|r| i16::pack_row(&a[r * k..(r + 1) * k], &mut ap[r * k / 2..(r + 1) * k / 2])).collect();
            g.bench_function(BenchmarkId::new("i16_avx2_prepacked", m), |b| {
                b.iter(|| {
                    out.par_chunks_mut(96 * n)
                        .zip(ap.par_chunks(96 * k / 2))
                        .zip(s.par_chunks(96))
                        .for_each(|((c, a), s)| i16::gemm_block(c, c.len() / n, a, s, &packed, false))
                })
            });
        }
    }
    g.finish();
    // One 96-row task on one thread, its packed rows and output on cache lines or 16 bytes off
    // (what a `Vec` from the allocator gives): each 64-byte tile row of the offset operands splits
    // two lines.
    if bf16::available() {
        let mut g = c.benchmark_group("bf16_task_alignment");
        let rows = 96;
        let a: Vec<f32> = (0..rows * k).map(|i| ((i % 89) as f32 - 44.0) * 0.01).collect();
        let w: Vec<f32> = (0..n * k).map(|i| ((i % 53) as f32 - 26.0) * 0.01).collect();
        let packed = bf16::PackedB::new(Operand::t(&w, n, k));
        g.throughput(Throughput::Elements((2 * rows * k * n) as u64));
        for (name, off) in [("aligned", 0usize), ("offset16", 4)] {
            let mut ap = AlignedVec::<u32>::zeros(rows * k / 2 + 16);
            let mut out = AlignedVec::<f32>::zeros(rows * n + 16);
            let ap = &mut ap[off..off + rows * k / 2];
            for (r, p) in a.chunks(k).zip(ap.chunks_mut(k / 2)) {
                bf16::pack_row(r, p);
            }
            let out = &mut out[off..off + rows * n];
            g.bench_function(BenchmarkId::new(format!("bf16_{}_{name}", bf16::engine()), rows), |b| {
                b.iter(|| bf16::gemm_block(out, rows, ap, &packed, true))
            });
        }
        g.finish();
    }
    // Weight gradient ∂W = Δᵀ·Z over m rows (the K of the product is the row count).
    let mut g = c.benchmark_group("weight_grad_flops");
    for m in [1280usize, 8192] {
        let a: Vec<f32> = (0..m * k).map(|i| ((i % 89) as f32 - 44.0) * 0.01).collect();
        let z: Vec<f32> = (0..m * n).map(|i| ((i % 53) as f32 - 26.0) * 0.01).collect();
        let mut out = vec![0f32; k * n];
        g.throughput(Throughput::Elements((2 * m * k * n) as u64));
        g.bench_function(BenchmarkId::new("f32_faer", m), |b| {
            b.iter(|| gemm(&mut out, k, n, Operand::t(&a, m, k), Operand::new(&z, m, n), 1.0, true))
        });
        // int16 on AVX2 without bf16: both operands quantized per column per call.
        if i16::available() {
            g.bench_function(BenchmarkId::new("i16_avx2", m), |b| {
                b.iter(|| {
                    let (pa, pz) = (i16::PackedCols::from_rows(&a, m, k), i16::PackedW::from_rows(&z, m, n));
                    i16::gemm_tn(&mut out, &pa, &pz, true)
                })
            });
            let (pa, pz) = (i16::PackedCols::from_rows(&a, m, k), i16::PackedW::from_rows(&z, m, n));
            g.bench_function(BenchmarkId::new("i16_avx2_prepacked", m), |b| {
                b.iter(|| i16::gemm_tn(&mut out, &pa, &pz, true))
            });
        }
        if !bf16::available() {
            continue;
        }
        // Both operands are packed per call (they change every step).
        let name = format!("bf16_{}", bf16::engine());
        g.bench_function(BenchmarkId::new(name, m), |b| {
            b.iter(|| {
                let (pa, pz) = (bf16::PackedB::from_rows(&a, m, k), bf16::PackedB::from_rows(&z, m, n));
                bf16::gemm_tn(&mut out, &pa, &pz, true)
            })
        });
        let (pa, pz) = (bf16::PackedB::from_rows(&a, m, k), bf16::PackedB::from_rows(&z, m, n));
        g.bench_function(BenchmarkId::new(format!("bf16_{}_prepacked", bf16::engine()), m), |b| {
            b.iter(|| bf16::gemm_tn(&mut out, &pa, &pz, true))
        });
        if bf16::x3_available() {
            g.bench_function(BenchmarkId::new(format!("bf16x3_{}", bf16::engine()), m), |b| {
                b.iter(|| bf16::weight_grad_x3(&mut out, m, k, &a, n, &z))
            });
        }
    }
    g.finish();
    x3_pack_home(c);
}

/// A bf16x3 product of few rows (the proposal's 64-row parts) on core 0 right after its weight
/// pack was split (as every optimizer step re-splits it) by a one-thread pool pinned to core 0
/// (`split_here`) or to core 1 (`split_on_other_core`, read from the other core's cache).
fn x3_pack_home(c: &mut Criterion) {
    if !(bf16::available() && bf16::x3_available()) || rayon::current_num_threads() < 2 {
        return;
    }
    let (k, n) = (256, 256);
    let w: Vec<f32> = (0..n * k).map(|i| ((i % 53) as f32 - 26.0) * 0.01).collect();
    let mut pack = bf16::PackedB::split(Operand::t(&w, n, k), bf16::Order::Rhs);
    let pinned = |core: usize| {
        rayon::ThreadPoolBuilder::new().num_threads(1).start_handler(move |_| pin(Some(core))).build().unwrap()
    };
    let (here, other) = (pinned(0), pinned(1));
    pin(Some(0));
    let mut g = c.benchmark_group("bf16x3_small_pack_home");
    for m in [64usize, 128] {
        let a: Vec<f32> = (0..m * k).map(|i| ((i % 89) as f32 - 44.0) * 0.01).collect();
        let mut out = vec![0f32; m * n];
        g.throughput(Throughput::Elements((2 * m * k * n) as u64));
        for (name, pool) in [("split_here", &here), ("split_on_other_core", &other)] {
            g.bench_function(BenchmarkId::new(name, m), |b| {
                b.iter_custom(|iters| {
                    let mut total = std::time::Duration::ZERO;
                    for _ in 0..iters {
                        pool.install(|| pack.resplit(Operand::t(&w, n, k), bf16::Order::Rhs));
                        let t = std::time::Instant::now();
                        bf16::gemm_x3(&mut out, m, k, &a, &pack, false, false);
                        total += t.elapsed();
                    }
                    total
                })
            });
        }
    }
    g.finish();
    pin(None);
}

/// Pins the calling thread to one core, or lets it run on all of them again (Linux only).
#[cfg(not(target_os = "linux"))]
fn pin(_core: Option<usize>) {}

/// Pins the calling thread to one core, or lets it run on all of them again (Linux only).
#[cfg(target_os = "linux")]
fn pin(core: Option<usize>) {
    // SAFETY: a zeroed cpu_set_t is valid; sched_setaffinity reads `size_of` bytes of it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        for c in (0..cores).filter(|&c| core.is_none_or(|k| k == c)) {
            libc::CPU_SET(c, &mut set);
        }
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

criterion_group! { name = benches; config = criterion(); targets = dense }
criterion_main!(benches);
