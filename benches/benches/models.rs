//! Model kernels at d ∈ {32, 256, 1024, 4096}: energy, all-flip ΔE, ΔE at s = 10 indices, input
//! gradient and the weighted parameter gradient, for the quadratic, RBM (H = 256) and MLP
//! (256 × 3) models, n = 128 samples. Throughput: samples per second (Elements = n, or n·d flips
//! for delta_all; the RBM and the quadratic also after `params_changed`, which rebuilds the RBM's flip
//! table and the quadratic's column strips of J). Each kernel is
//! checked against the f64 reference once on a small batch first.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rmbench_benches::{criterion, dims, quick, random_batch, random_idx};
use rmbench_kernels::{reference, EnergyModel, Mlp, Quadratic, Rbm};

fn check_once(name: &str, m: &dyn EnergyModel) {
    let x = random_batch(2, m.dim(), 0.5, 9);
    let mut e = vec![0f32; 2];
    m.energy(&x, &mut e);
    let want = reference::energy(m, &x);
    for (a, b) in e.iter().zip(&want) {
        assert!((*a as f64 - b).abs() <= 1e-3 * b.abs().max(1.0), "{name}: energy {a} vs reference {b}");
    }
}

/// `after_update`: also time delta_all right after `params_changed` (the RBM rebuilds its cached
/// flip table then, as after every optimizer step).
fn bench_model(c: &mut Criterion, name: &str, make: &dyn Fn(usize) -> Box<dyn EnergyModel>, after_update: bool) {
    let n = 128;
    let s = 10;
    let mut g = c.benchmark_group(name);
    for d in dims() {
        if quick() && d > 256 {
            continue;
        }
        let mut m = make(d);
        if d <= 256 {
            check_once(name, &*m);
        }
        let x = random_batch(n, d, 0.5, 3);
        let idx = random_idx(n, s, d, 4);
        let mut e = vec![0f32; n];
        let mut nd = vec![0f32; n * d];
        let mut ns = vec![0f32; n * s];
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(BenchmarkId::new("energy", d), |b| b.iter(|| m.energy(&x, &mut e)));
        g.bench_function(BenchmarkId::new("delta_at_s10", d), |b| b.iter(|| m.delta_at(&x, &idx, &mut ns)));
        g.bench_function(BenchmarkId::new("input_grad", d), |b| b.iter(|| m.input_grad(&x, &mut e, &mut nd)));
        let wb = vec![1f32; n];
        let wf = vec![-0.5f32; n * s];
        let mut grad = vec![0f32; m.num_params()];
        g.bench_function(BenchmarkId::new("param_grad_s10", d), |b| {
            b.iter(|| m.param_grad(&x, &wb, &idx, &wf, &mut grad))
        });
        g.throughput(Throughput::Elements((n * d) as u64));
        // All-flip ΔE is the exact-RM cost: limit the MLP at large d to fewer samples.
        let xa = if d >= 1024 { random_batch(16, d, 0.5, 5) } else { x.clone() };
        let mut da = vec![0f32; xa.n() * d];
        g.throughput(Throughput::Elements((xa.n() * d) as u64));
        g.bench_function(BenchmarkId::new("delta_all", d), |b| b.iter(|| m.delta_all(&xa, &mut da)));
        if after_update {
            g.bench_function(BenchmarkId::new("delta_all_after_update", d), |b| {
                b.iter(|| {
                    m.params_changed();
                    m.delta_all(&xa, &mut da)
                })
            });
        }
    }
    g.finish();
}

/// The MLP's dense work in FLOPs: `elem/s` of this group reads as FLOP/s. One fused ΔE-then-gradient
/// pass over n·(s+1) rows is 3 forward passes of the dense layers (2H² per hidden→hidden layer).
fn mlp_dense_flops(c: &mut Criterion) {
    let mut g = c.benchmark_group("mlp_256x3_dense_flops");
    let (n, s) = (128, 10);
    for d in dims() {
        let m = Mlp::new(d, 256, 3, 1);
        let x = random_batch(n, d, 0.5, 3);
        let idx = random_idx(n, s, d, 4);
        let flops = 3 * n as u64 * (s as u64 + 1) * m.flops_dense_forward_row();
        g.throughput(Throughput::Elements(flops));
        let mut grad = vec![0f32; m.num_params()];
        g.bench_function(BenchmarkId::new("delta_then_grad_s10", d), |b| {
            b.iter(|| {
                m.delta_then_grad(
                    &x,
                    &idx,
                    &mut |rows, de, wb, wf| {
                        for k in 0..rows.len() {
                            for j in 0..s {
                                wf[k * s + j] = (-2.0 * de[k * s + j]).exp() * 1e-3;
                            }
                            wb[k] = -wf[k * s..(k + 1) * s].iter().sum::<f32>();
                        }
                        true
                    },
                    &mut grad,
                )
            })
        });
    }
    g.finish();
}

/// All-flip ΔE of the quadratic against the bit density of the batch (percent ones), n = 16 and
/// 128 at d = 1024 and 4096: the density decides between the 8-row tile (a multiply-add per bit)
/// and the gather (an add per set bit), so this group shows the crossover on the machine at hand.
fn quadratic_density(c: &mut Criterion) {
    if quick() {
        return;
    }
    let mut g = c.benchmark_group("quadratic_density");
    for d in [256, 1024, 4096] {
        let m = Quadratic::random(d, 0.1, 1);
        for n in [16, 128] {
            for pct in [10, 30, 50, 70, 90] {
                let x = random_batch(n, d, pct as f64 / 100.0, 5);
                let mut da = vec![0f32; n * d];
                g.throughput(Throughput::Elements((n * d) as u64));
                let id = BenchmarkId::new(format!("delta_all/{d}/n{n}"), format!("p{pct}"));
                g.bench_function(id, |b| b.iter(|| m.delta_all(&x, &mut da)));
            }
        }
    }
    g.finish();
}

/// RBM (H = 256) energies of n = 128 rows against the bit density: the 8-row tile does d·H
/// multiply-adds per row whatever the density, a gather per row popcount·H adds but reads W per row.
fn rbm_energy_density(c: &mut Criterion) {
    if quick() {
        return;
    }
    let mut g = c.benchmark_group("rbm_energy_density");
    for d in [256, 1024, 4096] {
        let m = Rbm::random(d, 256, 0.1, 1);
        for pct in [5, 15, 50] {
            let x = random_batch(128, d, pct as f64 / 100.0, 5);
            let mut e = vec![0f32; 128];
            g.throughput(Throughput::Elements(128));
            g.bench_function(BenchmarkId::new(format!("energy/{d}"), format!("p{pct}")), |b| {
                b.iter(|| m.energy(&x, &mut e))
            });
        }
    }
    g.finish();
}

fn models(c: &mut Criterion) {
    bench_model(c, "quadratic", &|d| Box::new(Quadratic::random(d, 0.1, 1)), true);
    bench_model(c, "rbm_h256", &|d| Box::new(Rbm::random(d, 256, 0.1, 1)), true);
    bench_model(c, "mlp_256x3", &|d| Box::new(Mlp::new(d, 256, 3, 1)), false);
}

criterion_group! { name = benches; config = criterion(); targets = models, mlp_dense_flops, quadratic_density, rbm_energy_density }
criterion_main!(benches);
