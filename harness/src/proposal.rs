//! Drawing bit indices from a proposal q(i) ∝ exp(logitᵢ) over the d bits of one sample.
//!
//! i.i.d. draws use the inverse CDF (O(d + s·log d)). Draws without replacement (successive
//! sampling: each next index from q renormalized over the indices not yet drawn) reject repeats of
//! i.i.d. draws, which has exactly that distribution; if q is so concentrated that repeats pile up
//! (more than 32·s tries), they fall back to Gumbel-top-k, the s largest of ln qᵢ + Gᵢ. The
//! exponentials use the kernels' branch-free f32 `exp_neg` (q is normalized in f64).

use rmbench_datasets::rng::Stream;

/// Normalized proposal probabilities q = softmax(logits): max-subtracted exponentials in f32,
/// normalized in f64.
pub fn softmax(logits: &[f32], q: &mut Vec<f64>) {
    q.clear();
    q.resize(logits.len(), 0.0);
    softmax_into(logits, q);
}

/// [`softmax`] into a slice of the same length.
pub fn softmax_into(logits: &[f32], q: &mut [f64]) {
    // Exponentials in f32, sums in f64, on the kernels' dispatched ISA.
    rmbench_kernels::simd::softmax_into(logits, q);
}

/// s i.i.d. draws from q (inverse CDF on the running sum `cdf`, rebuilt here).
pub fn draw_iid(q: &[f64], s: usize, rng: &mut Stream, cdf: &mut Vec<f64>, out: &mut Vec<u32>) {
    let total = running_sum(q, cdf);
    out.extend((0..s).map(|_| invert(cdf, rng.uniform() * total)));
}

/// [`draw_iid`] with its uniforms given (`us`, one per draw, in drawing order): no randomness
/// inside, so many rows can draw in parallel from uniforms taken from one stream in row order.
pub fn draw_iid_with(q: &[f64], us: &[f64], cdf: &mut Vec<f64>, out: &mut [u32]) {
    let total = running_sum(q, cdf);
    for (o, &u) in out.iter_mut().zip(us) {
        *o = invert(cdf, u * total);
    }
}

/// cdf ← running sums of q in index order; returns the total.
fn running_sum(q: &[f64], cdf: &mut Vec<f64>) -> f64 {
    cdf.clear();
    let mut acc = 0.0;
    for &p in q {
        acc += p;
        cdf.push(acc);
    }
    acc
}

/// The first index whose running sum exceeds v (clamped to the last).
fn invert(cdf: &[f64], v: f64) -> u32 {
    cdf.partition_point(|&c| c <= v).min(cdf.len() - 1) as u32
}

/// s i.i.d. uniform draws from 0..d.
pub fn draw_uniform(d: usize, s: usize, rng: &mut Stream, out: &mut Vec<u32>) {
    for _ in 0..s {
        out.push(rng.below(d) as u32);
    }
}

/// min(s, d) distinct draws from q by rejecting repeats of inverse-CDF draws (the `cdf` built by
/// [`draw_iid`]'s rule), falling back to Gumbel-top-k after 32·s tries. Order: the drawing order.
pub fn draw_distinct(q: &[f64], s: usize, rng: &mut Stream, cdf: &mut Vec<f64>, out: &mut Vec<u32>) {
    let d = q.len();
    let s = s.min(d);
    let start = out.len();
    if s == 0 {
        return;
    }
    let acc = running_sum(q, cdf);
    let positive = q.iter().filter(|&&p| p > 0.0).count();
    let mut tries = 0;
    while out.len() - start < s && tries < 32 * s && positive >= s {
        tries += 1;
        let i = invert(cdf, rng.uniform() * acc);
        if q[i as usize] > 0.0 && !out[start..].contains(&i) {
            out.push(i);
        }
    }
    if out.len() - start == s {
        return;
    }
    // Fallback: Gumbel-top-k on ln q (zero-probability bits last).
    out.truncate(start);
    let mut keys: Vec<(f64, u32)> = q
        .iter()
        .enumerate()
        .map(|(i, &p)| (if p > 0.0 { p.ln() + rng.gumbel() } else { f64::NEG_INFINITY }, i as u32))
        .collect();
    let desc = |a: &(f64, u32), b: &(f64, u32)| b.0.total_cmp(&a.0);
    if s < d {
        keys.select_nth_unstable_by(s - 1, desc);
    }
    keys[..s].sort_unstable_by(desc);
    out.extend(keys[..s].iter().map(|k| k.1));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iid_and_distinct_follow_q() {
        let logits = [0.0f32, 1.0, 2.0, -1.0];
        let mut q = Vec::new();
        softmax(&logits, &mut q);
        let mut rng = Stream::new(1, 0);
        let (mut cdf, mut out) = (Vec::new(), Vec::new());
        let n = 200_000;
        draw_iid(&q, n, &mut rng, &mut cdf, &mut out);
        for (i, &p) in q.iter().enumerate() {
            let f = out.iter().filter(|&&k| k as usize == i).count() as f64 / n as f64;
            let se = (p * (1.0 - p) / n as f64).sqrt();
            assert!((f - p).abs() < 5.0 * se, "bit {i}: {f} vs {p}");
        }
        // First draw of Gumbel-top-k is a draw from q.
        let mut first = [0usize; 4];
        for _ in 0..50_000 {
            out.clear();
            draw_distinct(&q, 2, &mut rng, &mut cdf, &mut out);
            assert_eq!(out.len(), 2);
            assert_ne!(out[0], out[1]);
            first[out[0] as usize] += 1;
        }
        for (i, &p) in q.iter().enumerate() {
            let f = first[i] as f64 / 50_000.0;
            assert!((f - p).abs() < 5.0 * (p * (1.0 - p) / 50_000.0).sqrt(), "bit {i}");
        }
        out.clear();
        draw_distinct(&q, 9, &mut rng, &mut cdf, &mut out);
        let mut sorted = out.clone();
        sorted.sort();
        assert_eq!(sorted, vec![0, 1, 2, 3]);
        // A proposal concentrated on one bit takes the Gumbel fallback and still returns s distinct.
        let peaked = [1.0 - 3e-12, 1e-12, 1e-12, 1e-12];
        out.clear();
        draw_distinct(&peaked, 3, &mut rng, &mut cdf, &mut out);
        let mut sorted = out.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 3);
    }
}
