//! `dense::GemmWork` counts exactly 2·m·n·k FLOPs per product, split across threads or not.
//! Its own test binary: the counters are process-wide, and other tests' products would add in.

use rmbench_kernels::dense::{gemm, gemm_seq, GemmWork, Operand};

#[test]
fn counts_every_product_once() {
    let (m, n, k) = (300, 40, 70);
    let a = vec![0.5f32; m * k];
    let b = vec![0.25f32; k * n];
    let mut c = vec![0f32; m * n];
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    let before = GemmWork::now();
    gemm_seq(&mut c, m, n, Operand::new(&a, m, k), Operand::new(&b, k, n), 1.0, false);
    let one = GemmWork::now().since(before);
    assert_eq!(one.flops, 2 * (m * n * k) as u64);
    assert!(one.thread_ns > 0);
    // Large enough to split into row blocks on two threads: the blocks add up to the same FLOPs.
    let (m2, k2) = (4096, 256);
    let a2 = vec![0.5f32; m2 * k2];
    let b2 = vec![0.25f32; k2 * n];
    let mut c2 = vec![0f32; m2 * n];
    let before = GemmWork::now();
    pool.install(|| gemm(&mut c2, m2, n, Operand::new(&a2, m2, k2), Operand::new(&b2, k2, n), 1.0, true));
    let two = GemmWork::now().since(before);
    assert_eq!(two.flops, 2 * (m2 * n * k2) as u64);
    assert!(c2.iter().all(|&v| v == 0.125 * k2 as f32));
}
