//! Where a number came from: machine, CPU features, ISA, build flags, threads, git revision.

use rmbench_kernels::bf16::Precision;
use serde::Serialize;

/// Provenance columns written into every CSV row.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Provenance {
    /// CPU model name (from /proc/cpuinfo).
    pub cpu: String,
    /// SIMD features the CPU reports (space-separated).
    pub cpu_features: String,
    /// ISA the kernels ran with, `+bf16` (`+amx-bf16` on AMX tiles) when MLP flipped rows ran in
    /// mixed precision.
    pub isa: String,
    /// RUSTFLAGS of the build.
    pub rustflags: String,
    /// Cargo profile of the build.
    pub profile: String,
    /// rayon threads.
    pub threads: usize,
    /// git revision of the build (`-dirty` if uncommitted changes).
    pub git_rev: String,
}

/// CPU model name from /proc/cpuinfo, or the architecture.
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

impl Provenance {
    /// The kernels' ISA, with `+bf16` when the MLP's flipped rows run in mixed precision
    /// (`+amx-bf16` when their products run on AMX tiles, `+fp16` when the half format is fp16
    /// on AVX512-FP16, `+i16` when they are int16 fixed point on AVX2), `+bf16x3` for split
    /// products (`+amx-bf16x3` on tiles).
    pub fn isa_label(precision: Precision) -> String {
        let mixed = match (precision, rmbench_kernels::bf16::engine()) {
            (Precision::F32, _) => "",
            (Precision::Bf16, "amx") => "+amx-bf16",
            (Precision::Bf16, "avx512fp16") => "+fp16",
            (Precision::Bf16, "avx2i16") => "+i16",
            (Precision::Bf16, _) => "+bf16",
            (Precision::Bf16x3, "amx") => "+amx-bf16x3",
            (Precision::Bf16x3, _) => "+bf16x3",
        };
        format!("{}{mixed}", rmbench_kernels::simd::isa().name())
    }

    /// Provenance of this process now.
    pub fn current() -> Self {
        Provenance {
            cpu: cpu_model(),
            cpu_features: rmbench_kernels::simd::cpu_features(),
            isa: Provenance::isa_label(rmbench_kernels::bf16::precision_default()),
            rustflags: env!("RMBENCH_RUSTFLAGS").to_string(),
            profile: env!("RMBENCH_PROFILE").to_string(),
            threads: rayon::current_num_threads(),
            git_rev: env!("RMBENCH_GIT_REV").to_string(),
        }
    }
}
