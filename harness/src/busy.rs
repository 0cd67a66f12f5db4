//! Keeping the pool's other workers awake through a run of short parallel regions.
//!
//! A training step is ≈ 50 parallel regions with short serial stretches between them (the
//! objective's weights, the optimizer, small reductions). rayon puts an idle worker to sleep after
//! a few rounds of polling, and waking it is a futex call and a reschedule: on the 2-vCPU guests
//! this project runs on, ≈ 20 context switches a step and a second thread that often arrives after
//! the region's work is done (MLP step at d = 32: 1.36× from the second thread in bf16, 1.59× in
//! f32). [`with_busy_pool`] instead parks one polling job on every other worker while the steps
//! run: it executes any job the pool has (`rayon::yield_now`), so a region's work is stolen as soon
//! as it is pushed. The same polling OpenMP runtimes do by default (PyTorch's threads spin for up
//! to 200 ms before sleeping). Results do not change: every reduction has fixed chunking.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

#[derive(Default)]
struct Flags {
    done: AtomicBool,
    started: AtomicUsize,
    exited: AtomicUsize,
}

/// Sets `done` when dropped, so a panicking `f` still releases the pollers.
struct Release<'a>(&'a Flags, usize);

impl Drop for Release<'_> {
    fn drop(&mut self) {
        self.0.done.store(true, Ordering::Release);
        while self.0.exited.load(Ordering::Acquire) < self.1 {
            std::hint::spin_loop();
        }
    }
}

/// Runs `f` on this thread while every other worker of the current rayon pool polls for work
/// instead of sleeping. Just runs `f` outside a pool, in a pool of one thread, in a pool with more
/// threads than the machine has CPUs (pollers would take time from the working threads there), or
/// when `RMBENCH_BUSY=0`.
pub fn with_busy_pool<R>(f: impl FnOnce() -> R) -> R {
    if !polls_here() {
        return f();
    }
    let others = rayon::current_num_threads() - 1;
    let flags = Arc::new(Flags::default());
    for _ in 0..others {
        let fl = Arc::clone(&flags);
        rayon::spawn(move || {
            fl.started.fetch_add(1, Ordering::AcqRel);
            // Idle polls back off to 16 pause hints (≈ 1 µs), so the steal attempts do not keep
            // the working thread's deque lines bouncing between the cores.
            let mut idle = 0u32;
            while !fl.done.load(Ordering::Acquire) {
                if rayon::yield_now() == Some(rayon::Yield::Executed) {
                    idle = 0;
                    continue;
                }
                idle = (idle + 1).min(4);
                for _ in 0..1u32 << idle {
                    std::hint::spin_loop();
                }
            }
            fl.exited.fetch_add(1, Ordering::AcqRel);
        });
    }
    // The pollers sit in this worker's deque until others take them; this thread must not run one
    // itself (it would poll forever below `f`), so wait outside rayon until all have started.
    while flags.started.load(Ordering::Acquire) < others {
        std::thread::yield_now();
    }
    let _release = Release(&flags, others);
    f()
}

/// Whether [`with_busy_pool`] called from here would keep other workers polling (recorded with
/// step timings).
pub fn polls_here() -> bool {
    let threads = rayon::current_num_threads();
    threads > 1 && rayon::current_thread_index().is_some() && enabled(threads)
}

/// Polling is on unless `RMBENCH_BUSY` is `0`/`off` or `threads` exceeds the CPUs available.
fn enabled(threads: usize) -> bool {
    static OFF: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let off = *OFF.get_or_init(|| std::env::var("RMBENCH_BUSY").is_ok_and(|v| v == "0" || v == "off"));
    !off && std::thread::available_parallelism().is_ok_and(|n| threads <= n.get())
}

#[cfg(test)]
mod tests {
    use super::with_busy_pool;
    use rayon::prelude::*;

    fn pool(threads: usize) -> rayon::ThreadPool {
        rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("pool")
    }

    /// Parallel regions inside run to the same result with the pollers on, for 1–3 threads,
    /// nested calls included, and the pollers are gone afterwards (the pool takes new work).
    #[test]
    fn parallel_work_inside_completes_with_the_same_result() {
        let v: Vec<f64> = (0..100_000).map(|i| (i as f64).sin()).collect();
        let want: Vec<f64> = v.chunks(1000).map(|c| c.iter().sum()).collect();
        for threads in [1, 2, 3] {
            let got = pool(threads).install(|| {
                with_busy_pool(|| {
                    let mut out = Vec::new();
                    for _ in 0..50 {
                        out = v.par_chunks(1000).map(|c| c.iter().sum::<f64>()).collect::<Vec<f64>>();
                    }
                    let inner =
                        with_busy_pool(|| v.par_chunks(1000).map(|c| c.iter().sum::<f64>()).collect::<Vec<_>>());
                    assert_eq!(inner, out);
                    out
                })
            });
            assert_eq!(got, want, "threads {threads}");
            let again: f64 = pool(threads).install(|| v.par_iter().map(|x| x.abs()).sum());
            assert!(again > 0.0);
        }
        assert_eq!(with_busy_pool(|| 7), 7, "outside a pool: just runs f");
    }

    /// A panic inside releases the pollers: the pool still runs parallel work afterwards.
    #[test]
    fn a_panic_inside_releases_the_pollers() {
        let p = pool(2);
        let r = p.install(|| std::panic::catch_unwind(|| with_busy_pool(|| panic!("inside"))));
        assert!(r.is_err());
        let n: usize = p.install(|| (0..10_000usize).into_par_iter().map(|i| i % 3).sum());
        assert_eq!(n, (0..10_000usize).map(|i| i % 3).sum::<usize>());
    }
}
