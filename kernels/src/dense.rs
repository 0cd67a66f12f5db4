//! Dense f32 products through faer, on row-major slices.
//!
//! `gemm` computes C ← α·op(A)·op(B) (+ C if `accumulate`), op = identity or transpose, with
//! faer's run-time-dispatched GEMM (AVX-512 where available). Parallelism follows the current rayon
//! pool (the harness decides the thread count by installing a pool): C's rows are split into one
//! block per thread and each block is a sequential faer GEMM. Measured against faer's own
//! `Par::rayon`, this avoids per-call packing allocations (≈2600 page faults per MLP training
//! step) and barrier waits on the medium-sized products an MLP step is made of.

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

static GEMM_FLOPS: AtomicU64 = AtomicU64::new(0);
static GEMM_THREAD_NS: AtomicU64 = AtomicU64::new(0);

/// The f32 GEMM work done so far in this process: FLOPs (2·m·n·k per product) and the time
/// threads spent inside faer's sequential kernels, summed over threads (every product, or every
/// row block of a split one, runs on one thread). Two readings around a region give its dense
/// part's in-situ rate, `flops / thread_ns × threads`, comparable to a GEMM peak measured on the
/// same threads. Process-wide counters: concurrent regions (tests in parallel) add into the same
/// numbers. The mixed-precision products (bf16, fp16, int16) do not run here and are not counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GemmWork {
    /// FLOPs of the f32 products.
    pub flops: u64,
    /// Nanoseconds inside them, summed over threads.
    pub thread_ns: u64,
}

impl GemmWork {
    /// The counters now.
    pub fn now() -> Self {
        GemmWork { flops: GEMM_FLOPS.load(Relaxed), thread_ns: GEMM_THREAD_NS.load(Relaxed) }
    }

    /// The work done between `earlier` and `self`.
    pub fn since(self, earlier: GemmWork) -> Self {
        GemmWork { flops: self.flops - earlier.flops, thread_ns: self.thread_ns - earlier.thread_ns }
    }
}

/// A row-major operand: `data` holds `rows × cols` (before `trans` is applied).
#[derive(Clone, Copy)]
pub struct Operand<'a> {
    /// Row-major storage.
    pub data: &'a [f32],
    /// Stored rows.
    pub rows: usize,
    /// Stored columns.
    pub cols: usize,
    /// Use the transpose of the stored matrix.
    pub trans: bool,
}

impl<'a> Operand<'a> {
    /// The stored matrix as is.
    pub fn new(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Operand { data, rows, cols, trans: false }
    }

    /// The transpose of the stored matrix.
    pub fn t(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Operand { data, rows, cols, trans: true }
    }

    fn view(&self) -> MatRef<'a, f32> {
        let m = MatRef::from_row_major_slice(&self.data[..self.rows * self.cols], self.rows, self.cols);
        if self.trans {
            m.transpose()
        } else {
            m
        }
    }
}

/// Whether a product of `flops` is worth splitting across the current rayon pool.
pub fn parallel_worth_it(flops: usize) -> bool {
    rayon::current_num_threads() > 1 && flops >= 1 << 22
}

/// Sequential faer GEMM on row blocks of C, the blocks in parallel (recursive halving).
fn gemm_blocks(c: MatMut<'_, f32>, a: MatRef<'_, f32>, b: MatRef<'_, f32>, alpha: f32, accum: Accum, depth: u32) {
    if depth == 0 || c.nrows() < 64 {
        let flops = 2 * c.nrows() as u64 * c.ncols() as u64 * a.ncols() as u64;
        let t = Instant::now();
        matmul(c, accum, a, b, alpha, Par::Seq);
        GEMM_THREAD_NS.fetch_add(t.elapsed().as_nanos() as u64, Relaxed);
        GEMM_FLOPS.fetch_add(flops, Relaxed);
        return;
    }
    let mid = (c.nrows() / 2).next_multiple_of(16).min(c.nrows());
    let (c0, c1) = c.split_at_row_mut(mid);
    let (a0, a1) = a.split_at_row(mid);
    rayon::join(|| gemm_blocks(c0, a0, b, alpha, accum, depth - 1), || gemm_blocks(c1, a1, b, alpha, accum, depth - 1));
}

/// C (m × n, row-major) ← α·A·B, or C += α·A·B when `accumulate`.
pub fn gemm(c: &mut [f32], m: usize, n: usize, a: Operand<'_>, b: Operand<'_>, alpha: f32, accumulate: bool) {
    gemm_on(c, m, n, a, b, alpha, accumulate, true)
}

/// [`gemm`] on the calling thread only (for callers that already split rows across threads).
pub fn gemm_seq(c: &mut [f32], m: usize, n: usize, a: Operand<'_>, b: Operand<'_>, alpha: f32, accumulate: bool) {
    gemm_on(c, m, n, a, b, alpha, accumulate, false)
}

fn gemm_on(c: &mut [f32], m: usize, n: usize, a: Operand<'_>, b: Operand<'_>, alpha: f32, accumulate: bool, par: bool) {
    let av = a.view();
    let bv = b.view();
    assert_eq!(av.nrows(), m, "gemm: lhs rows");
    assert_eq!(bv.ncols(), n, "gemm: rhs cols");
    assert_eq!(av.ncols(), bv.nrows(), "gemm: inner dims");
    if m == 0 || n == 0 {
        return;
    }
    let k = av.ncols();
    let cv = MatMut::from_row_major_slice_mut(&mut c[..m * n], m, n);
    let accum = if accumulate { Accum::Add } else { Accum::Replace };
    let depth = if par && parallel_worth_it(2 * m * n * k) {
        rayon::current_num_threads().next_power_of_two().trailing_zeros()
    } else {
        0
    };
    gemm_blocks(cv, av, bv, alpha, accum, depth);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_naive_with_transposes() {
        let (m, k, n) = (5, 7, 3);
        let a: Vec<f32> = (0..m * k).map(|v| (v as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..k * n).map(|v| (v as f32 * 0.11).cos()).collect();
        let at: Vec<f32> = (0..k * m).map(|idx| a[(idx % m) * k + idx / m]).collect();
        let mut c = vec![1f32; m * n];
        gemm(&mut c, m, n, Operand::t(&at, k, m), Operand::new(&b, k, n), 2.0, true);
        for i in 0..m {
            for j in 0..n {
                let want = 1.0 + 2.0 * (0..k).map(|l| a[i * k + l] * b[l * n + j]).sum::<f32>();
                assert!((c[i * n + j] - want).abs() < 1e-4);
            }
        }
    }
}
