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
    /// Register-only f32 FMA throughput (512-bit, or 256-bit on AVX2-only CPUs), all threads,
    /// GFLOP/s (2 per multiply-add).
    #[serde(default)]
    pub fma_f32_gflops: Option<f64>,
    /// Register-only `vdpbf16ps` throughput (AVX512-BF16), all threads, GFLOP/s.
    #[serde(default)]
    pub dot_bf16_gflops: Option<f64>,
    /// Register-only AMX `tdpbf16ps` throughput (tiles in registers), all threads, GFLOP/s;
    /// absent without AMX-BF16.
    #[serde(default)]
    pub amx_bf16_gflops: Option<f64>,
    /// Register-only AVX512-FP16 `vfmadd231ph` throughput (fp16 accumulation), all threads,
    /// GFLOP/s; absent without AVX512-FP16. No kernel uses it: it is the ceiling an fp16 path
    /// would have.
    #[serde(default)]
    pub fma_f16_gflops: Option<f64>,
    /// Register-only AVX2 `vpmaddwd` throughput (int16 pairs into int32), all threads, G
    /// operations/s (two per multiply-add, comparable with the GFLOP/s above); the ceiling of
    /// the int16 mixed path (`rmbench_kernels::i16`). Absent without AVX2.
    #[serde(default)]
    pub madd_i16_gops: Option<f64>,
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
    let f16: Option<f64> = rayon::broadcast(|_| rmbench_kernels::bf16::fp16_peak_gmacs(200)).into_iter().sum();
    let i16: Option<f64> = rayon::broadcast(|_| rmbench_kernels::i16::madd_peak_gmacs(200)).into_iter().sum();
    Peak {
        madd_i16_gops: i16.map(|g| 2.0 * g),
        fma_f16_gflops: f16.map(|g| 2.0 * g),
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

/// The cached peak for the current pool, measuring and caching it if absent. With `remeasure`
/// it measures again and caches, field by field, the higher of the new and the cached reading
/// (same CPU and thread count): a peak is the best the machine has shown, and a guest whose
/// speed drifts by ±20% over minutes would otherwise make the last reading, good or bad, the
/// denominator of every later `frac_of_peak`. Delete the cache file to start over.
pub fn cached_or_measure(remeasure: bool) -> Result<Peak> {
    let path = cache_path(rayon::current_num_threads());
    let cached = std::fs::read_to_string(&path).ok().and_then(|s| serde_json::from_str::<Peak>(&s).ok());
    if !remeasure {
        if let Some(p) = cached {
            return Ok(p);
        }
    }
    let mut p = measure();
    if let Some(old) = cached {
        p = p.best_with(&old);
    }
    let json = serde_json::to_string_pretty(&p).map_err(|e| Error::file(&path, e))?;
    crate::error::write_atomic(&path, json.as_bytes())?;
    Ok(p)
}

impl Peak {
    /// Field-wise maximum of two readings of the same CPU and thread count (`self` unchanged
    /// if they differ): GEMM rate with its size, bandwidths and register ceilings.
    pub fn best_with(mut self, other: &Peak) -> Peak {
        if self.cpu != other.cpu || self.threads != other.threads {
            return self;
        }
        fn max_opt(a: Option<f64>, b: Option<f64>) -> Option<f64> {
            match (a, b) {
                (Some(x), Some(y)) => Some(x.max(y)),
                (x, y) => x.or(y),
            }
        }
        if other.gemm_gflops > self.gemm_gflops {
            self.gemm_gflops = other.gemm_gflops;
            self.gemm_size = other.gemm_size;
        }
        if other.read_gbs > self.read_gbs {
            self.read_gbs = other.read_gbs;
            self.stream_mib = other.stream_mib;
        }
        self.l2_read_gbs = max_opt(self.l2_read_gbs, other.l2_read_gbs);
        self.fma_f32_gflops = max_opt(self.fma_f32_gflops, other.fma_f32_gflops);
        self.dot_bf16_gflops = max_opt(self.dot_bf16_gflops, other.dot_bf16_gflops);
        self.amx_bf16_gflops = max_opt(self.amx_bf16_gflops, other.amx_bf16_gflops);
        self.fma_f16_gflops = max_opt(self.fma_f16_gflops, other.fma_f16_gflops);
        self.madd_i16_gops = max_opt(self.madd_i16_gops, other.madd_i16_gops);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(gemm: f64, l2: Option<f64>, amx: Option<f64>) -> Peak {
        Peak {
            cpu: "cpu".into(),
            threads: 2,
            gemm_gflops: gemm,
            gemm_size: 1536,
            read_gbs: 30.0,
            stream_mib: 512,
            l2_read_gbs: l2,
            fma_f32_gflops: Some(gemm * 1.5),
            dot_bf16_gflops: None,
            amx_bf16_gflops: amx,
            fma_f16_gflops: None,
            madd_i16_gops: None,
        }
    }

    #[test]
    fn best_with_takes_each_fields_maximum_of_the_same_machine() {
        let a = reading(300.0, Some(500.0), None);
        let b = reading(450.0, Some(400.0), Some(1.0));
        let m = a.clone().best_with(&b);
        assert_eq!(
            (m.gemm_gflops, m.l2_read_gbs, m.fma_f32_gflops, m.amx_bf16_gflops),
            (450.0, Some(500.0), Some(675.0), Some(1.0))
        );
        // Another CPU or thread count is not merged.
        let mut c = b.clone();
        c.threads = 1;
        assert_eq!(a.clone().best_with(&c), a);
    }
}
