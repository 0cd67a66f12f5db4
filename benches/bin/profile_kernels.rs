//! Runs one hot kernel a fixed number of times on fixed inputs, for instruction-count profiling
//! under callgrind (`scripts/profile-ci.sh`). Usage: `profile-kernels KERNEL` (or `list`).
//!
//! Under valgrind the CPU reports no AVX-512, so the dispatcher takes the AVX2 paths: the counts
//! profile those.

use rmbench_benches::{random_batch, random_idx};
use rmbench_kernels::simd::{gather_add, hamming};
use rmbench_kernels::{EnergyModel, Mlp, Quadratic, Rbm};
use std::hint::black_box;

const KERNELS: [&str; 9] = [
    "hamming_d1024",
    "gather_add_d1024_h256",
    "quadratic_delta_all_d256",
    "quadratic_param_grad_d256",
    "rbm_delta_all_d256_h64",
    "rbm_param_grad_d256_h64",
    "mlp_energy_d256_h64",
    "mlp_delta_at_d256_h64_s10",
    "mlp_param_grad_d256_h64_s10",
];

fn main() {
    let arg = std::env::args().nth(1).unwrap_or_default();
    if arg == "list" || arg.is_empty() {
        for k in KERNELS {
            println!("{k}");
        }
        return;
    }
    let n = 16;
    match arg.as_str() {
        "hamming_d1024" => {
            let x = random_batch(64, 1024, 0.5, 1);
            let mut s = 0u32;
            for a in 0..64 {
                for b in 0..64 {
                    s = s.wrapping_add(hamming(x.row(a), x.row(b)));
                }
            }
            black_box(s);
        }
        "gather_add_d1024_h256" => {
            let x = random_batch(n, 1024, 0.5, 2);
            let table: Vec<f32> = (0..1024 * 256).map(|k| (k % 7) as f32).collect();
            let mut out = vec![0f32; 256];
            for r in 0..n {
                gather_add(x.row(r), &table, 256, &mut out);
            }
            black_box(out);
        }
        k if k.starts_with("quadratic") => run_model(k, &Quadratic::random(256, 0.1, 1), n, 256),
        k if k.starts_with("rbm") => run_model(k, &Rbm::random(256, 64, 0.1, 1), n, 256),
        k if k.starts_with("mlp") => run_model(k, &Mlp::new(256, 64, 3, 1), n, 256),
        other => {
            eprintln!("unknown kernel `{other}` (run with `list`)");
            std::process::exit(2);
        }
    }
}

fn run_model(kernel: &str, m: &dyn EnergyModel, n: usize, d: usize) {
    let x = random_batch(n, d, 0.5, 3);
    let s = 10;
    let idx = random_idx(n, s, d, 4);
    if kernel.contains("delta_all") {
        let mut out = vec![0f32; n * d];
        m.delta_all(&x, &mut out);
        black_box(out);
    } else if kernel.contains("delta_at") {
        let mut out = vec![0f32; n * s];
        m.delta_at(&x, &idx, &mut out);
        black_box(out);
    } else if kernel.contains("param_grad") {
        let (wb, wf) = (vec![1f32; n], vec![-0.1f32; n * s]);
        let mut g = vec![0f32; m.num_params()];
        m.param_grad(&x, &wb, &idx, &wf, &mut g);
        black_box(g);
    } else {
        let mut e = vec![0f32; n];
        m.energy(&x, &mut e);
        black_box(e);
    }
}
