//! Run-time ISA dispatch and the vectorized primitive kernels. The only place with target-specific
//! code.
//!
//! The ISA is detected once (first call of [`isa`]), may be lowered by the environment variable
//! `RMBENCH_ISA=scalar|avx2|avx512|auto` or by [`set_isa`], and every primitive below matches on it
//! once per call, outside its inner loop. Scalar twins live in [`crate::reference`].

pub mod bf16;
pub mod fp16;
pub mod i16;
pub mod math;
#[macro_use]
mod rows;
mod logadd;
mod logcols;
mod logmix;
mod tile;
pub use logadd::*;
pub use logcols::*;
pub use logmix::*;
pub use rows::*;
pub use tile::*;
#[cfg(target_arch = "x86_64")]
mod x86;

use std::sync::atomic::{AtomicU8, Ordering};

/// The instruction set a kernel runs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Isa {
    /// Portable scalar code (whatever the default build autovectorizes).
    Scalar = 1,
    /// AVX2 + FMA + POPCNT + BMI1.
    Avx2 = 2,
    /// AVX-512 F/BW/VL/DQ + VPOPCNTDQ.
    Avx512 = 3,
}

impl Isa {
    /// Lower-case name, as in CSV columns and `--isa`.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
        }
    }

    /// Parses `scalar|avx2|avx512`; `auto` gives `None`.
    pub fn parse(s: &str) -> Result<Option<Isa>, String> {
        match s {
            "scalar" => Ok(Some(Isa::Scalar)),
            "avx2" => Ok(Some(Isa::Avx2)),
            "avx512" => Ok(Some(Isa::Avx512)),
            "auto" => Ok(None),
            _ => Err(format!("unknown ISA `{s}` (expected scalar, avx2, avx512 or auto)")),
        }
    }

    fn from_u8(v: u8) -> Isa {
        match v {
            3 => Isa::Avx512,
            2 => Isa::Avx2,
            _ => Isa::Scalar,
        }
    }
}

/// The best ISA this CPU supports.
pub fn detected() -> Isa {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512vl")
            && is_x86_feature_detected!("avx512dq")
            && is_x86_feature_detected!("avx512vpopcntdq")
        {
            return Isa::Avx512;
        }
        if is_x86_feature_detected!("avx2")
            && is_x86_feature_detected!("fma")
            && is_x86_feature_detected!("popcnt")
            && is_x86_feature_detected!("bmi1")
        {
            return Isa::Avx2;
        }
    }
    Isa::Scalar
}

/// The CPU's SIMD features relevant here, space-separated (for CSV rows).
pub fn cpu_features() -> String {
    let mut f: Vec<&str> = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        macro_rules! check {
            ($($name:tt),*) => { $( if is_x86_feature_detected!($name) { f.push($name); } )* };
        }
        check!(
            "sse4.2",
            "popcnt",
            "avx2",
            "fma",
            "bmi2",
            "avx512f",
            "avx512bw",
            "avx512vl",
            "avx512dq",
            "avx512vpopcntdq",
            "avx512bf16",
            "avx512fp16"
        );
    }
    f.join(" ")
}

static ISA: AtomicU8 = AtomicU8::new(0);

/// The ISA kernels use now: detected once, lowered by `RMBENCH_ISA` or [`set_isa`].
#[inline]
pub fn isa() -> Isa {
    let v = ISA.load(Ordering::Relaxed);
    if v != 0 {
        return Isa::from_u8(v);
    }
    let best = detected();
    let chosen = match std::env::var("RMBENCH_ISA").ok().as_deref().map(Isa::parse) {
        Some(Ok(Some(want))) => want.min(best),
        _ => best,
    };
    ISA.store(chosen as u8, Ordering::Relaxed);
    chosen
}

/// Forces an ISA (`None` = best detected). Errors if the CPU lacks it.
pub fn set_isa(want: Option<Isa>) -> Result<Isa, String> {
    let best = detected();
    let chosen = want.unwrap_or(best);
    if chosen > best {
        return Err(format!("ISA {} requested but this CPU supports at most {}", chosen.name(), best.name()));
    }
    ISA.store(chosen as u8, Ordering::Relaxed);
    Ok(chosen)
}

/// Asks the cache hierarchy to start loading `v` (one prefetch per 64-byte line; a hint only, no
/// effect on results). For strided copies whose next rows are known but whose loads would
/// otherwise wait one run at a time for memory.
#[inline]
pub fn prefetch(v: &[f32]) {
    prefetch_lines::<3>(v) // _MM_HINT_T0: into L1
}

/// [`prefetch`] into L2 only: for data needed after the current L1 block.
#[inline]
pub fn prefetch_l2(v: &[f32]) {
    prefetch_lines::<2>(v) // _MM_HINT_T1
}

#[inline]
fn prefetch_lines<const HINT: i32>(v: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    for line in v.chunks(16) {
        // SAFETY: prefetch never faults and reads nothing architecturally; the address is in `v`.
        unsafe { std::arch::x86_64::_mm_prefetch::<HINT>(line.as_ptr().cast::<i8>()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = v;
}

/// Σ popcount(row): number of set bits.
#[inline]
pub fn popcount(row: &[u64]) -> u32 {
    popcount_with(isa(), row).expect("scalar always available")
}

/// Hamming distance Σ popcount(a ⊕ b) of two packed rows of equal length.
#[inline]
pub fn hamming(a: &[u64], b: &[u64]) -> u32 {
    hamming_with(isa(), a, b).expect("scalar always available")
}

/// [`popcount`] with an explicit ISA; `None` if this CPU lacks it.
pub fn popcount_with(isa: Isa, row: &[u64]) -> Option<u32> {
    match isa {
        Isa::Scalar => Some(crate::reference::popcount(row)),
        #[cfg(target_arch = "x86_64")]
        _ if isa > detected() => None,
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => Some(x86::popcount_avx2(row)),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => Some(x86::popcount_avx512(row)),
        #[cfg(not(target_arch = "x86_64"))]
        _ => None,
    }
}

/// [`hamming`] with an explicit ISA; `None` if this CPU lacks it.
pub fn hamming_with(isa: Isa, a: &[u64], b: &[u64]) -> Option<u32> {
    assert_eq!(a.len(), b.len());
    match isa {
        Isa::Scalar => Some(crate::reference::hamming(a, b)),
        #[cfg(target_arch = "x86_64")]
        _ if isa > detected() => None,
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => Some(x86::hamming_avx2(a, b)),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => Some(x86::hamming_avx512(a, b)),
        #[cfg(not(target_arch = "x86_64"))]
        _ => None,
    }
}

/// Gather-add over set bits: `out[c] += Σ_{j : bit j of row set} table[j·width + c]`, c < width.
/// The binary input layer of every model (no multiplications). O(popcount·width).
#[inline]
pub fn gather_add(row: &[u64], table: &[f32], width: usize, out: &mut [f32]) {
    gather_add_strided_with(isa(), row, table, width, width, out).expect("scalar always available")
}

/// [`gather_add`] with an explicit ISA; `None` if this CPU lacks it.
pub fn gather_add_with(isa: Isa, row: &[u64], table: &[f32], width: usize, out: &mut [f32]) -> Option<()> {
    gather_add_strided_with(isa, row, table, width, width, out)
}

/// out[c] += Σ_{set j} table[j·stride + c] for c < width: [`gather_add`] over a column slice of
/// a wider table (row j of width `width` starting at j·stride), for cache-blocked callers.
pub fn gather_add_strided(row: &[u64], table: &[f32], stride: usize, width: usize, out: &mut [f32]) {
    gather_add_strided_with(isa(), row, table, stride, width, out).expect("scalar always available")
}

/// [`gather_add_strided`] with an explicit ISA; `None` if this CPU lacks it.
pub fn gather_add_strided_with(
    isa: Isa,
    row: &[u64],
    table: &[f32],
    stride: usize,
    width: usize,
    out: &mut [f32],
) -> Option<()> {
    assert_eq!(out.len(), width);
    assert!(width <= stride || row.iter().all(|&w| w == 0), "gather_add: rows overlap");
    // Every set bit must index a table row (checked once per call, not in the inner loop).
    if let Some(w) = row.iter().rposition(|&w| w != 0) {
        let hi = w * 64 + 63 - row[w].leading_zeros() as usize;
        assert!(hi * stride + width <= table.len(), "set bit {hi} has no table row");
    }
    match isa {
        Isa::Scalar => {
            crate::reference::gather_add_strided(row, table, stride, width, out);
            Some(())
        }
        #[cfg(target_arch = "x86_64")]
        _ if isa > detected() => None,
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => {
            x86::gather_add_avx2(row, table, stride, width, out);
            Some(())
        }
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => {
            x86::gather_add_avx512(row, table, stride, width, out);
            Some(())
        }
        #[cfg(not(target_arch = "x86_64"))]
        _ => None,
    }
}

/// RBM single-flip sum Σₖ [softplus(aₖ + t·wₖ) − spₖ] with spₖ = softplus(aₖ) precomputed once
/// per row (one softplus per element instead of two). f32, 16 partial sums. O(len).
pub fn softplus_shift_sum(a: &[f32], sp: &[f32], w: &[f32], t: f32) -> f32 {
    softplus_shift_sum_with(isa(), a, sp, w, t).expect("scalar always available")
}

/// [`softplus_shift_sum`] with an explicit ISA; `None` if this CPU lacks it.
pub fn softplus_shift_sum_with(isa: Isa, a: &[f32], sp: &[f32], w: &[f32], t: f32) -> Option<f32> {
    assert!(a.len() == w.len() && a.len() == sp.len(), "softplus_shift_sum: lengths");
    match isa {
        Isa::Scalar => Some(softplus_shift_sum_body(a, sp, w, t)),
        #[cfg(target_arch = "x86_64")]
        _ if isa > detected() => None,
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => Some(x86::softplus_shift_sum_avx2(a, sp, w, t)),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => Some(x86::softplus_shift_sum_avx512(a, sp, w, t)),
        #[cfg(not(target_arch = "x86_64"))]
        _ => None,
    }
}

/// Portable body of [`softplus_shift_sum`]: fixed 16-wide chunks and 16 partial sums.
#[inline(always)]
pub(crate) fn softplus_shift_sum_body(a: &[f32], sp: &[f32], w: &[f32], t: f32) -> f32 {
    let mut acc = [0f32; 16];
    let (mut ac, mut sc, mut wc) = (a.chunks_exact(16), sp.chunks_exact(16), w.chunks_exact(16));
    for ((ab, sb), wb) in (&mut ac).zip(&mut sc).zip(&mut wc) {
        for k in 0..16 {
            acc[k] += math::softplus(ab[k] + t * wb[k]) - sb[k];
        }
    }
    let mut tail = 0f32;
    for ((&ai, &si), &wi) in ac.remainder().iter().zip(sc.remainder()).zip(wc.remainder()) {
        tail += math::softplus(ai + t * wi) - si;
    }
    acc.iter().sum::<f32>() + tail
}

/// Σⱼ softplus(aⱼ), vectorized per ISA (the RBM's free-energy sum). O(len).
#[inline]
pub fn softplus_sum(a: &[f32]) -> f32 {
    match isa() {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => x86::softplus_sum_avx512(a),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => x86::softplus_sum_avx2(a),
        _ => softplus_sum_body(a),
    }
}

/// Σ aᵢ in f32 over 16 lanes: a load-bound loop (one add per loaded float), used to measure the
/// cache read bandwidth the gather kernels are held against.
pub fn sum(a: &[f32]) -> f32 {
    match isa() {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => x86::sum_avx512(a),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => x86::sum_avx2(a),
        _ => sum_body(a),
    }
}

/// Portable body of [`sum`].
#[inline(always)]
pub(crate) fn sum_body(a: &[f32]) -> f32 {
    let mut acc = [0f32; 32];
    let mut c = a.chunks_exact(32);
    for ch in &mut c {
        for k in 0..32 {
            acc[k] += ch[k];
        }
    }
    acc.iter().sum::<f32>() + c.remainder().iter().sum::<f32>()
}

/// Adam's per-element constants (bias corrections included).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamCoeffs {
    /// Learning rate.
    pub lr: f32,
    /// β₁.
    pub beta1: f32,
    /// β₂.
    pub beta2: f32,
    /// ε.
    pub eps: f32,
    /// L2 weight decay λ.
    pub weight_decay: f32,
    /// L1 penalty λ₁.
    pub l1: f32,
    /// 1 − β₁ᵗ.
    pub bc1: f32,
    /// 1 − β₂ᵗ.
    pub bc2: f32,
}

/// One Adam update in place: g' = g + λθ + λ₁·sign(θ); m ← β₁m + (1−β₁)g'; v ← β₂v + (1−β₂)g'²;
/// θ ← θ − lr·(m/bc1)/(√(v/bc2) + ε). Element-wise IEEE operations in a fixed order, so every
/// ISA gives the same bits.
pub fn adam_update(p: &mut [f32], m: &mut [f32], v: &mut [f32], g: &[f32], c: &AdamCoeffs) {
    adam_update_with(isa(), p, m, v, g, c).expect("scalar always available")
}

/// [`adam_update`] with an explicit ISA; `None` if this CPU lacks it.
pub fn adam_update_with(
    isa: Isa,
    p: &mut [f32],
    m: &mut [f32],
    v: &mut [f32],
    g: &[f32],
    c: &AdamCoeffs,
) -> Option<()> {
    assert!(m.len() == p.len() && v.len() == p.len() && g.len() == p.len(), "adam_update: lengths");
    match isa {
        Isa::Scalar => adam_body(p, m, v, g, c),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 if detected() >= Isa::Avx512 => x86::adam_avx512(p, m, v, g, c),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 if detected() >= Isa::Avx2 => x86::adam_avx2(p, m, v, g, c),
        _ => return None,
    }
    Some(())
}

/// Portable body of [`adam_update`] (zipped iterators: no bounds checks, so it vectorizes).
#[inline(always)]
pub(crate) fn adam_body(p: &mut [f32], m: &mut [f32], v: &mut [f32], g: &[f32], c: &AdamCoeffs) {
    // PyTorch's arrangement of the bias corrections: θ −= (lr/bc₁)·m / (√v/√bc₂ + ε), one
    // division and one square root per element instead of three divisions and a root.
    let step = c.lr / c.bc1;
    let inv_sqrt_bc2 = 1.0 / c.bc2.sqrt();
    for (((pk, mk), vk), &gk) in p.iter_mut().zip(m.iter_mut()).zip(v.iter_mut()).zip(g) {
        let theta = *pk;
        // Branch-free sign(θ) with sign(0) = 0.
        let sign = (theta > 0.0) as i32 as f32 - (theta < 0.0) as i32 as f32;
        let gk = gk + c.weight_decay * theta + c.l1 * sign;
        *mk = c.beta1 * *mk + (1.0 - c.beta1) * gk;
        *vk = c.beta2 * *vk + (1.0 - c.beta2) * gk * gk;
        *pk = theta - step * *mk / (vk.sqrt() * inv_sqrt_bc2 + c.eps);
    }
}

/// Σ gᵢ² in f64 over 16 lanes (then summed in lane order): the gradient norm's partial sums.
pub fn sum_squares(g: &[f32]) -> f64 {
    match isa() {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => x86::sum_squares_avx512(g),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => x86::sum_squares_avx2(g),
        _ => sum_squares_body(g),
    }
}

/// Portable body of [`sum_squares`].
#[inline(always)]
pub(crate) fn sum_squares_body(g: &[f32]) -> f64 {
    let mut acc = [0f64; 16];
    let mut c = g.chunks_exact(16);
    for ch in &mut c {
        for k in 0..16 {
            acc[k] += ch[k] as f64 * ch[k] as f64;
        }
    }
    acc.iter().sum::<f64>() + c.remainder().iter().map(|&x| x as f64 * x as f64).sum::<f64>()
}

/// Softmax into f64: qᵢ = e^{lᵢ − max l} / Σⱼ e^{lⱼ − max l}, exponentials in f32 (`math::exp_neg`,
/// relative error < 4e-7), sums in f64 over 16 lanes. The proposal q(i|x) of RMwGGIS. Empty input
/// leaves `q` empty.
pub fn softmax_into(l: &[f32], q: &mut [f64]) {
    softmax_into_with(isa(), l, q).expect("scalar always available")
}

/// [`softmax_into`] with an explicit ISA; `None` if this CPU lacks it.
pub fn softmax_into_with(isa: Isa, l: &[f32], q: &mut [f64]) -> Option<()> {
    assert_eq!(l.len(), q.len(), "softmax_into: lengths");
    match isa {
        Isa::Scalar => softmax_body(l, q),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 if detected() >= Isa::Avx512 => x86::softmax_avx512(l, q),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 if detected() >= Isa::Avx2 => x86::softmax_avx2(l, q),
        _ => return None,
    }
    Some(())
}

/// Portable body of [`softmax_into`]: fixed 16-wide chunks so each pass vectorizes.
#[inline(always)]
pub(crate) fn softmax_body(l: &[f32], q: &mut [f64]) {
    let mut lanes = [f32::NEG_INFINITY; 16];
    let mut lc = l.chunks_exact(16);
    for ch in &mut lc {
        for k in 0..16 {
            lanes[k] = if ch[k] > lanes[k] { ch[k] } else { lanes[k] };
        }
    }
    let m = lanes.iter().chain(lc.remainder()).fold(f32::NEG_INFINITY, |a, &b| if b > a { b } else { a });
    let mut acc = [0f64; 16];
    let (mut lc, mut qc) = (l.chunks_exact(16), q.chunks_exact_mut(16));
    for (lr, qr) in (&mut lc).zip(&mut qc) {
        for k in 0..16 {
            let e = math::exp_neg(lr[k] - m) as f64;
            qr[k] = e;
            acc[k] += e;
        }
    }
    let mut z: f64 = acc.iter().sum();
    for (o, &v) in qc.into_remainder().iter_mut().zip(lc.remainder()) {
        *o = math::exp_neg(v - m) as f64;
        z += *o;
    }
    let inv = 1.0 / z;
    q.iter_mut().for_each(|v| *v *= inv);
}

/// Portable body of [`softplus_sum`]: 16 partial sums so it vectorizes.
#[inline(always)]
pub(crate) fn softplus_sum_body(a: &[f32]) -> f32 {
    let mut acc = [0f32; 16];
    let mut chunks = a.chunks_exact(16);
    for c in &mut chunks {
        for k in 0..16 {
            acc[k] += math::softplus(c[k]);
        }
    }
    acc.iter().sum::<f32>() + chunks.remainder().iter().map(|&v| math::softplus(v)).sum::<f32>()
}

/// Elementwise map `out[k] = f(a[k])` for the MLP's activations, vectorized per ISA.
/// `kind` selects: Swish z = a·σ(βa), and its derivative parts.
#[inline]
pub fn swish_forward(a: &[f32], beta: f32, z: &mut [f32], sig: &mut [f32]) {
    swish_forward_with(isa(), a, beta, z, sig).expect("scalar always available")
}

/// [`swish_forward`] with an explicit ISA; `None` if this CPU lacks it. Every ISA gives the same
/// bits (the exponential's multiply-adds are fused, exactly rounded everywhere).
pub fn swish_forward_with(isa: Isa, a: &[f32], beta: f32, z: &mut [f32], sig: &mut [f32]) -> Option<()> {
    assert!(a.len() == z.len() && a.len() == sig.len());
    match isa {
        Isa::Scalar => swish_forward_body(a, beta, z, sig),
        #[cfg(target_arch = "x86_64")]
        _ if isa > detected() => return None,
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => x86::swish_forward_avx512(a, beta, z, sig),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => x86::swish_forward_avx2(a, beta, z, sig),
        #[cfg(not(target_arch = "x86_64"))]
        _ => return None,
    }
    Some(())
}

/// Portable body of [`swish_forward`]: σₖ = σ(β·aₖ), zₖ = aₖ·σₖ (σ from [`math::sigmoid_fused`]:
/// this body runs inside FMA-enabled clones, where it is ≈ 40% faster than the unfused σ).
#[inline(always)]
pub(crate) fn swish_forward_body(a: &[f32], beta: f32, z: &mut [f32], sig: &mut [f32]) {
    // Fixed 16-wide chunks: no bounds checks in the loop, so it vectorizes.
    let mut ac = a.chunks_exact(16);
    let mut zc = z.chunks_exact_mut(16);
    let mut sc = sig.chunks_exact_mut(16);
    for ((ar, zr), sr) in (&mut ac).zip(&mut zc).zip(&mut sc) {
        for k in 0..16 {
            let s = math::sigmoid_fused(beta * ar[k]);
            sr[k] = s;
            zr[k] = ar[k] * s;
        }
    }
    for ((&ak, zk), sk) in ac.remainder().iter().zip(zc.into_remainder()).zip(sc.into_remainder()) {
        let s = math::sigmoid_fused(beta * ak);
        *sk = s;
        *zk = ak * s;
    }
}

/// Swish backward: δₖ = dzₖ·(σₖ + β·aₖ·σₖ(1−σₖ)); returns Σₖ dzₖ·aₖ²·σₖ(1−σₖ) (the β gradient).
#[inline]
pub fn swish_backward(a: &[f32], sig: &[f32], beta: f32, dz: &[f32], delta: &mut [f32]) -> f32 {
    assert!(a.len() == sig.len() && a.len() == dz.len() && a.len() == delta.len());
    match isa() {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => x86::swish_backward_avx512(a, sig, beta, dz, delta),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => x86::swish_backward_avx2(a, sig, beta, dz, delta),
        _ => swish_backward_body(a, sig, beta, dz, delta),
    }
}

/// Portable body of [`swish_backward`], 16 partial sums so it vectorizes.
#[inline(always)]
pub(crate) fn swish_backward_body(a: &[f32], sig: &[f32], beta: f32, dz: &[f32], delta: &mut [f32]) -> f32 {
    // Fixed 16-wide chunks and 16 partial sums: no bounds checks, so the loop vectorizes.
    let mut acc = [0f32; 16];
    let (mut ac, mut sc, mut dc) = (a.chunks_exact(16), sig.chunks_exact(16), dz.chunks_exact(16));
    let mut oc = delta.chunks_exact_mut(16);
    for (((ar, sr), dr), or) in (&mut ac).zip(&mut sc).zip(&mut dc).zip(&mut oc) {
        for k in 0..16 {
            let (ak, sk, dk) = (ar[k], sr[k], dr[k]);
            let ds = sk * (1.0 - sk);
            or[k] = dk * (sk + beta * ak * ds);
            acc[k] += dk * ak * ak * ds;
        }
    }
    let mut tail = 0f32;
    let rest = ac.remainder().iter().zip(sc.remainder()).zip(dc.remainder()).zip(oc.into_remainder());
    for (((&ak, &sk), &dk), o) in rest {
        let ds = sk * (1.0 - sk);
        *o = dk * (sk + beta * ak * ds);
        tail += dk * ak * ak * ds;
    }
    acc.iter().sum::<f32>() + tail
}

/// G multiply-adds per second of a register-only loop: `run(iters)` does `macs_per_iter`
/// multiply-adds per iteration; iterations double until one run takes at least `millis` ms.
pub(crate) fn register_rate(millis: u64, macs_per_iter: usize, mut run: impl FnMut(usize)) -> f64 {
    let mut iters = 1usize << 16;
    loop {
        let t = std::time::Instant::now();
        run(iters);
        let e = t.elapsed().as_secs_f64();
        if e * 1e3 >= millis as f64 || iters > 1 << 34 {
            return (iters * macs_per_iter) as f64 / e / 1e9;
        }
        iters *= 2;
    }
}

#[cfg(test)]
mod tests;
