//! The machine's practical peak: dense f32 GEMM throughput and memory read bandwidth on the current
//! rayon pool, so kernels can be reported as a fraction of it. Cached per CPU and thread count.

use crate::error::{Error, Result};
use rayon::prelude::*;
use rmbench_kernels::dense::{gemm, Operand};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Instant;

/// A measured peak.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Peak {
    /// CPU model.
    pub cpu: String,
    /// Threads used.
    pub threads: usize,
    /// Best dense f32 GEMM throughput (faer, square size `gemm_size`), GFLOP/s.
    pub gemm_gflops: f64,
    /// Matrix size of the GEMM measurement.
    pub gemm_size: usize,
    /// Best read bandwidth summing a `stream_mib` MiB f32 array, GB/s.
    pub read_gbs: f64,
    /// Array size of the bandwidth measurement (MiB).
    pub stream_mib: usize,
    /// Read bandwidth from a 256 KiB per-thread buffer (L2-resident), all threads, GB/s: the load
    /// limit of in-cache gather kernels (quadratic/RBM all-flip ΔE).
    #[serde(default)]
    pub l2_read_gbs: Option<f64>,
    /// Register-only 512-bit f32 FMA throughput, all threads, GFLOP/s (2 per multiply-add).
    #[serde(default)]
    pub fma_f32_gflops: Option<f64>,
    /// Register-only `vdpbf16ps` throughput (AVX512-BF16), all threads, GFLOP/s.
    #[serde(default)]
    pub dot_bf16_gflops: Option<f64>,
    /// Register-only AMX `tdpbf16ps` throughput (tiles in registers), all threads, GFLOP/s;
    /// absent without AMX-BF16.
    #[serde(default)]
    pub amx_bf16_gflops: Option<f64>,
}

/// Measures the peak on the current rayon pool (about 1–3 s).
pub fn measure() -> Peak {
    let m = 1536;
    let a: Vec<f32> = (0..m * m).map(|k| ((k % 97) as f32) * 0.01).collect();
    let b = a.clone();
    let mut c = vec![0f32; m * m];
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let t = Instant::now();
        gemm(&mut c, m, m, Operand::new(&a, m, m), Operand::new(&b, m, m), 1.0, false);
        best = best.min(t.elapsed().as_secs_f64());
    }
    let gemm_gflops = 2.0 * (m as f64).powi(3) / best / 1e9;
    let mib = 512;
    let v = vec![1.0f32; mib * (1 << 20) / 4];
    let mut best_bw = f64::INFINITY;
    for _ in 0..4 {
        let t = Instant::now();
        // 16 independent partial sums per chunk so the loop vectorizes and is load-bound.
        let s: f32 = v
            .par_chunks(1 << 16)
            .map(|ch| {
                let mut acc = [0f32; 16];
                for blk in ch.chunks_exact(16) {
                    for k in 0..16 {
                        acc[k] += blk[k];
                    }
                }
                acc.iter().sum::<f32>()
            })
            .sum();
        std::hint::black_box(s);
        best_bw = best_bw.min(t.elapsed().as_secs_f64());
    }
    // Every thread sums its own L2-sized buffer at once; their rates add up.
    let l2: f64 = rayon::broadcast(|_| {
        let buf = vec![1.0f32; 1 << 16];
        let mut best = f64::INFINITY;
        for _ in 0..20 {
            let t = Instant::now();
            for _ in 0..16 {
                std::hint::black_box(rmbench_kernels::simd::sum(std::hint::black_box(&buf)));
            }
            best = best.min(t.elapsed().as_secs_f64());
        }
        16.0 * (buf.len() * 4) as f64 / best / 1e9
    })
    .iter()
    .sum();
    // Every thread runs the register loops at once; their rates add up.
    let regs = rayon::broadcast(|_| rmbench_kernels::bf16::register_peak_gmacs(200));
    let fma: Option<f64> = regs.iter().map(|r| r.0).sum();
    let dot: Option<f64> = regs.iter().map(|r| r.1).sum();
    let amx: Option<f64> = rayon::broadcast(|_| rmbench_kernels::bf16::amx_peak_gmacs(200)).into_iter().sum();
    Peak {
        amx_bf16_gflops: amx.map(|g| 2.0 * g),
        fma_f32_gflops: fma.map(|g| 2.0 * g),
        dot_bf16_gflops: dot.map(|g| 2.0 * g),
        l2_read_gbs: Some(l2),
        cpu: crate::provenance::cpu_model(),
        threads: rayon::current_num_threads(),
        gemm_gflops,
        gemm_size: m,
        read_gbs: (mib << 20) as f64 / best_bw / 1e9,
        stream_mib: mib,
    }
}

/// Cache file for this CPU and thread count: `$RMBENCH_CACHE` or `~/.cache/rmbench`.
pub fn cache_path(threads: usize) -> PathBuf {
    let dir = std::env::var_os("RMBENCH_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/rmbench")))
        .unwrap_or_else(|| PathBuf::from(".rmbench-cache"));
    let cpu: String =
        crate::provenance::cpu_model().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    dir.join(format!("peak-{cpu}-t{threads}.json"))
}

/// The cached peak for the current pool, measuring and caching it if absent (or if `remeasure`).
pub fn cached_or_measure(remeasure: bool) -> Result<Peak> {
    let path = cache_path(rayon::current_num_threads());
    if !remeasure {
        if let Ok(s) = std::fs::read_to_string(&path) {
            if let Ok(p) = serde_json::from_str::<Peak>(&s) {
                return Ok(p);
            }
        }
    }
    let p = measure();
    let json = serde_json::to_string_pretty(&p).map_err(|e| Error::file(&path, e))?;
    crate::error::write_atomic(&path, json.as_bytes())?;
    Ok(p)
}
