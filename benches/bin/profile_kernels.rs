//! Runs one hot kernel a fixed number of times on fixed inputs, for instruction-count profiling
//! under callgrind (`scripts/profile-ci.sh`). Usage: `profile-kernels KERNEL` (or `list`).
//!
//! Under valgrind the CPU reports no AVX-512, so the dispatcher takes the AVX2 paths: the counts
//! profile those.

use rmbench_benches::{random_batch, random_idx};
use rmbench_kernels::dense::Operand;
use rmbench_kernels::simd::{gather_add, hamming};
use rmbench_kernels::{i16, EnergyModel, Mlp, Quadratic, Rbm};
use std::hint::black_box;

const KERNELS: [&str; 12] = [
    "hamming_d1024",
    "gather_add_d1024_h256",
    "quadratic_delta_all_d256",
    "quadratic_param_grad_d256",
    "rbm_delta_all_d256_h64",
    "rbm_param_grad_d256_h64",
    "mlp_energy_d256_h64",
    "mlp_delta_at_d256_h64_s10",
    "mlp_param_grad_d256_h64_s10",
    "i16_gemm_block_96x256x256",
    "i16_gemm_tn_1280x256x256",
    "mlp_param_grad_mixed_d256_h64_s10",
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
        k if k.starts_with("mlp_param_grad_mixed") => {
            // The mixed path: int16 products under valgrind (no AVX-512 there).
            let mut m = Mlp::new(256, 64, 3, 1);
            m.set_bf16(true);
            run_model(k, &m, n, 256)
        }
        k if k.starts_with("mlp") => run_model(k, &Mlp::new(256, 64, 3, 1), n, 256),
        "i16_gemm_block_96x256x256" => {
            let (rows, k, n) = (96, 256, 256);
            let a: Vec<f32> = (0..rows * k).map(|i| ((i % 89) as f32 - 44.0) * 0.01).collect();
            let w: Vec<f32> = (0..n * k).map(|i| ((i % 53) as f32 - 26.0) * 0.01).collect();
            let b = i16::PackedW::new(Operand::t(&w, n, k));
            let mut ap = vec![0u32; rows * k / 2];
            let s: Vec<f32> =
                (0..rows).map(|r| i16::pack_row(&a[r * k..(r + 1) * k], &mut ap[r * k / 2..(r + 1) * k / 2])).collect();
            let mut c = vec![0f32; rows * n];
            i16::gemm_block(&mut c, rows, &ap, &s, &b, false);
            black_box(c);
        }
        "i16_gemm_tn_1280x256x256" => {
            let (rows, m, n) = (1280, 256, 256);
            let a: Vec<f32> = (0..rows * m).map(|i| ((i % 89) as f32 - 44.0) * 0.01).collect();
            let z: Vec<f32> = (0..rows * n).map(|i| ((i % 53) as f32 - 26.0) * 0.01).collect();
            let (pa, pz) = (i16::PackedCols::from_rows(&a, rows, m), i16::PackedW::from_rows(&z, rows, n));
            let mut c = vec![0f32; m * n];
            i16::gemm_tn(&mut c, &pa, &pz, false);
            black_box(c);
        }
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
