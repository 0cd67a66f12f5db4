use super::*;
use crate::testing::{dims, next, random_weights};

const ISAS: [Isa; 3] = [Isa::Scalar, Isa::Avx2, Isa::Avx512];

fn rows(words: usize, d: usize, seed: u64) -> Vec<Vec<u64>> {
    let m = crate::bits::tail_mask(d);
    let mut z = seed;
    let fix = |mut v: Vec<u64>| {
        if let Some(l) = v.last_mut() {
            *l &= m;
        }
        v
    };
    vec![
        fix((0..words).map(|_| next(&mut z)).collect()),
        fix(vec![0; words]),
        fix(vec![u64::MAX; words]),
        fix(vec![0xAAAA_AAAA_AAAA_AAAA; words]),
    ]
}

#[test]
fn popcount_hamming_every_isa_every_width() {
    for d in dims() {
        let w = crate::bits::words_for(d);
        let rs = rows(w, d, d as u64);
        for isa in ISAS {
            for a in &rs {
                let Some(p) = popcount_with(isa, a) else {
                    continue;
                };
                assert_eq!(p, crate::reference::popcount(a), "{isa:?} d={d}");
                for b in &rs {
                    assert_eq!(hamming_with(isa, a, b), Some(crate::reference::hamming(a, b)), "{isa:?} d={d}");
                }
            }
        }
    }
}

#[test]
fn gather_add_every_isa_every_width() {
    for d in dims().into_iter().step_by(3).chain([255, 256, 257, 511, 512, 513]) {
        let w = crate::bits::words_for(d);
        for width in [1usize, 7, 16, 17, 64, 100, 128, 129, 300] {
            let table = random_weights(d * width, (d * width) as u64);
            for a in rows(w, d, d as u64 + 5) {
                let mut want = random_weights(width, 3);
                let init = want.clone();
                crate::reference::gather_add(&a, &table, width, &mut want);
                for isa in ISAS {
                    let mut got = init.clone();
                    if gather_add_with(isa, &a, &table, width, &mut got).is_none() {
                        continue;
                    }
                    for c in 0..width {
                        // Same additions in the same order per lane: exact.
                        assert_eq!(got[c], want[c], "{isa:?} d={d} width={width} col={c}");
                    }
                }
            }
        }
    }
}

/// A column slice of a wider table (stride > width), every ISA against the reference.
#[test]
fn gather_add_strided_every_isa() {
    for (d, stride) in [(5usize, 300usize), (64, 129), (130, 256), (257, 1000)] {
        let table = random_weights(d * stride, 11);
        for width in [1usize, 16, 17, 100, 128, 129].into_iter().filter(|&w| w <= stride) {
            for c0 in [0, stride - width] {
                for a in rows(crate::bits::words_for(d), d, 3) {
                    let mut want = random_weights(width, 12);
                    let init = want.clone();
                    crate::reference::gather_add_strided(&a, &table[c0..], stride, width, &mut want);
                    for isa in ISAS {
                        let mut got = init.clone();
                        if gather_add_strided_with(isa, &a, &table[c0..], stride, width, &mut got).is_none() {
                            continue;
                        }
                        assert_eq!(got, want, "{isa:?} d={d} stride={stride} width={width} c0={c0}");
                    }
                }
            }
        }
    }
}

#[test]
fn adam_every_isa_same_bits() {
    let c = AdamCoeffs {
        lr: 1e-3,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: 1e-4,
        l1: 0.01,
        bc1: 0.19,
        bc2: 0.002,
    };
    for len in [0usize, 1, 15, 16, 17, 100, 1000] {
        let mut p0 = random_weights(len, 1);
        if len > 3 {
            p0[3] = 0.0; // sign(0) = 0
        }
        let (m0, g) = (random_weights(len, 2), random_weights(len, 3));
        let v0: Vec<f32> = random_weights(len, 4).iter().map(|x| x.abs()).collect();
        let (mut pw, mut mw, mut vw) = (p0.clone(), m0.clone(), v0.clone());
        adam_body(&mut pw, &mut mw, &mut vw, &g, &c);
        // The textbook update in f64: θ − lr·(m/bc₁)/(√(v/bc₂) + ε).
        for k in 0..len {
            let th = p0[k] as f64;
            let sign = if th > 0.0 {
                1.0
            } else if th < 0.0 {
                -1.0
            } else {
                0.0
            };
            let gk = g[k] as f64 + c.weight_decay as f64 * th + c.l1 as f64 * sign;
            let (b1, b2) = (c.beta1 as f64, c.beta2 as f64);
            let mk = b1 * m0[k] as f64 + (1.0 - b1) * gk;
            let vk = b2 * v0[k] as f64 + (1.0 - b2) * gk * gk;
            let want = th - c.lr as f64 * (mk / c.bc1 as f64) / ((vk / c.bc2 as f64).sqrt() + c.eps as f64);
            let step = th - want;
            assert!((pw[k] as f64 - want).abs() <= 1e-5 * step.abs() + 1e-7 * th.abs().max(1e-3), "len={len} k={k}");
        }
        for isa in ISAS {
            let (mut p, mut m, mut v) = (p0.clone(), m0.clone(), v0.clone());
            if adam_update_with(isa, &mut p, &mut m, &mut v, &g, &c).is_none() {
                continue;
            }
            assert!(p == pw && m == mw && v == vw, "{isa:?} len={len}");
        }
        let want: f64 = g.iter().map(|&x| x as f64 * x as f64).sum();
        assert!((sum_squares(&g) - want).abs() <= 1e-12 * want.max(1.0), "len={len}");
    }
}

#[test]
fn sum_matches_f64() {
    for len in [0usize, 1, 31, 32, 33, 1000] {
        let a = random_weights(len, 8);
        let want: f64 = a.iter().map(|&x| x as f64).sum();
        assert!((sum(&a) as f64 - want).abs() <= 1e-5 * (len as f64).max(1.0), "len={len}");
    }
}

#[test]
fn softmax_every_isa() {
    for len in [1usize, 5, 15, 16, 17, 33, 256, 300, 1000] {
        let mut l: Vec<f32> = random_weights(len, 3).iter().map(|v| v * 30.0).collect();
        l[len / 2] = 40.0; // a dominant entry
        let m = l.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b as f64));
        let z: f64 = l.iter().map(|&v| (v as f64 - m).exp()).sum();
        for isa in ISAS {
            let mut q = vec![0f64; len];
            if softmax_into_with(isa, &l, &mut q).is_none() {
                continue;
            }
            for (i, (&g, &v)) in q.iter().zip(&l).enumerate() {
                let want = (v as f64 - m).exp() / z;
                // f32 arithmetic on l − max (|l| ≤ 40) bounds the relative error by ~4e-6.
                assert!((g - want).abs() <= 1e-5 * want + 1e-300, "{isa:?} len={len} i={i}: {g} vs {want}");
            }
        }
    }
}

#[test]
fn softplus_shift_sum_every_isa() {
    let sp = |z: f64| z.max(0.0) + (-z.abs()).exp().ln_1p();
    for len in [0usize, 1, 5, 15, 16, 17, 33, 256, 300] {
        let a: Vec<f32> = random_weights(len, 1).iter().map(|v| v * 8.0).collect();
        let w: Vec<f32> = random_weights(len, 2).iter().map(|v| v * 3.0).collect();
        let base: Vec<f32> = a.iter().map(|&v| math::softplus(v)).collect();
        for t in [-1.0f32, 1.0] {
            let want: f64 = a.iter().zip(&w).map(|(&a, &w)| sp(a as f64 + t as f64 * w as f64) - sp(a as f64)).sum();
            for isa in ISAS {
                let Some(got) = softplus_shift_sum_with(isa, &a, &base, &w, t) else {
                    continue;
                };
                assert!(
                    (got as f64 - want).abs() <= 1e-5 * (len as f64).max(1.0),
                    "{isa:?} len={len}: {got} vs {want}"
                );
            }
        }
    }
}

/// The dot product: the scalar body against f64 (relative 1e-5 of Σ|aₖbₖ|), the same bits on every
/// ISA, on lengths around the vector widths.
#[test]
fn dot_every_isa_same_bits() {
    for len in [0usize, 1, 15, 16, 17, 31, 100, 256, 257] {
        let (a, b) = (random_weights(len, 11), random_weights(len, 12));
        let run = |isa: Isa| -> Option<f32> {
            let mut out = f32::NAN;
            dot_into_with(isa, &mut out, &a, &b)?;
            Some(out)
        };
        let want = run(Isa::Scalar).expect("scalar");
        let exact: f64 = a.iter().zip(&b).map(|(&x, &y)| x as f64 * y as f64).sum();
        let scale: f64 = a.iter().zip(&b).map(|(&x, &y)| (x as f64 * y as f64).abs()).sum();
        assert!((want as f64 - exact).abs() <= 1e-5 * scale.max(1e-30), "len {len}: {want} vs {exact}");
        for isa in ISAS {
            if let Some(got) = run(isa) {
                assert_eq!(got.to_bits(), want.to_bits(), "{isa:?} len {len}");
            }
        }
    }
}

/// The row operations give the scalar body's bits on every ISA, on lengths around the vector
/// widths (0, 1, 15, 16, 17, 100, 257).
#[test]
fn row_ops_every_isa_same_bits() {
    for len in [0usize, 1, 15, 16, 17, 100, 257] {
        let (x, u, y0) = (random_weights(len, 5), random_weights(len, 6), random_weights(len, 7));
        let run = |isa: Isa| -> Option<Vec<Vec<f32>>> {
            let mut outs = Vec::new();
            let mut y = y0.clone();
            scale_into_with(isa, &mut y, 0.7, &x)?;
            outs.push(y);
            let mut y = y0.clone();
            axpy_with(isa, &mut y, -1.3, &x)?;
            outs.push(y);
            let mut y = y0.clone();
            sub_assign_with(isa, &mut y, &x)?;
            outs.push(y);
            let mut y = y0.clone();
            scale_with(isa, &mut y, 0.3)?;
            outs.push(y);
            let mut y = y0.clone();
            diff_into_with(isa, &mut y, &u, &x)?;
            outs.push(y);
            let mut y = y0.clone();
            add_scaled_into_with(isa, &mut y, &u, -0.5, &x)?;
            outs.push(y);
            Some(outs)
        };
        let want = run(Isa::Scalar).expect("scalar");
        // The scalar results against the plain arithmetic, element by element.
        for k in 0..len {
            let w = [0.7 * x[k], y0[k] + -1.3 * x[k], y0[k] - x[k], y0[k] * 0.3, u[k] - x[k], u[k] + -0.5 * x[k]];
            for (op, &v) in w.iter().enumerate() {
                assert_eq!(want[op][k].to_bits(), v.to_bits(), "op {op} len {len} k {k}");
            }
        }
        for isa in ISAS {
            if let Some(got) = run(isa) {
                for (op, (g, w)) in got.iter().zip(&want).enumerate() {
                    let same = g.iter().zip(w).all(|(a, b)| a.to_bits() == b.to_bits());
                    assert!(same, "{isa:?} op {op} len {len}");
                }
            }
        }
    }
}

/// The tabulated RBM flip sum: ln Πⱼ (σ(−aⱼ) + σ(aⱼ)·e^{Wⱼ}) (a flip from 0) and, with σ and σ̄
/// swapped, ln Πⱼ (σ(aⱼ) + σ(−aⱼ)·e^{Wⱼ}) − Σⱼ Wⱼ (from 1) against the f64 softplus differences,
/// on widths around the vector width, saturated pre-activations (|a| up to 40) and weights up to
/// 20 (renormalized every 4 chunks), with the same bits on every ISA.
#[test]
fn log_mix_products_every_isa() {
    let sp = |z: f64| z.max(0.0) + (-z.abs()).exp().ln_1p();
    for h in [1usize, 5, 15, 16, 17, 33, 256, 300] {
        for (a_scale, w_scale) in [(3.0f32, 0.5f32), (40.0, 20.0)] {
            let a: Vec<f32> = random_weights(h, 11).iter().map(|v| v * a_scale).collect();
            let w: Vec<f32> = random_weights(3 * h, 12).iter().map(|v| v * w_scale).collect();
            let (sig, sbar): (Vec<f32>, Vec<f32>) = a.iter().map(|&v| (math::sigmoid(v), math::sigmoid(-v))).unzip();
            let mut table = vec![0f32; 3 * h];
            exp_into(&mut table, &w);
            let max_abs = w.iter().fold(0f32, |m, v| m.max(v.abs()));
            let every = ((80.0 / max_abs) as usize).max(1);
            let rows = [0u32, 1, 2, 2, 1];
            for t in [1.0f64, -1.0] {
                let want: Vec<f64> = rows
                    .iter()
                    .map(|&r| {
                        let wr = &w[r as usize * h..(r as usize + 1) * h];
                        (0..h).map(|j| sp(a[j] as f64 + t * wr[j] as f64) - sp(a[j] as f64)).sum::<f64>()
                    })
                    .collect();
                let mut first: Option<Vec<f32>> = None;
                for isa in ISAS {
                    let mut out = vec![0f32; rows.len()];
                    let (s1, s2) = if t > 0.0 { (&sig, &sbar) } else { (&sbar, &sig) };
                    if log_mix_products_with(isa, &mut out, s1, s2, &table, &rows, every).is_none() {
                        continue;
                    }
                    for (k, (&g, &x)) in out.iter().zip(&want).enumerate() {
                        let shift =
                            if t > 0.0 { 0.0 } else { w[rows[k] as usize * h..][..h].iter().map(|&v| v as f64).sum() };
                        let got = g as f64 - shift;
                        let tol = 2e-6 * h as f64 * (1.0 + w_scale as f64) + 1e-6 * x.abs();
                        assert!((got - x).abs() <= tol, "{isa:?} h={h} a×{a_scale} t={t} k={k}: {got} vs {x}");
                    }
                    match &first {
                        None => first = Some(out),
                        Some(f) => {
                            assert!(f.iter().zip(&out).all(|(a, b)| a.to_bits() == b.to_bits()), "{isa:?} h={h}: bits")
                        }
                    }
                }
            }
        }
    }
}

/// The additive flip products: C + ln Πⱼ (uⱼ + e^{Wⱼ}) with uⱼ = σ̄ⱼ/σⱼ, C = Σⱼ ln σⱼ (a flip from 0)
/// and with vⱼ = σⱼ/σ̄ⱼ, C = Σⱼ ln σ̄ⱼ, minus Σⱼ Wⱼ (from 1) against the f64 softplus differences, on
/// widths around the vector width, |a| up to 40 and weights up to 20 (renormalized after every
/// chunk), nine flips (two four-flip passes and a single one), with the same bits on every ISA.
#[test]
fn log_add_products_every_isa() {
    let sp = |z: f64| z.max(0.0) + (-z.abs()).exp().ln_1p();
    for h in [1usize, 5, 15, 16, 17, 33, 256, 300] {
        for (a_scale, w_scale) in [(3.0f32, 0.5f32), (40.0, 20.0)] {
            let a: Vec<f32> = random_weights(h, 21).iter().map(|v| v * a_scale).collect();
            let w: Vec<f32> = random_weights(3 * h, 22).iter().map(|v| v * w_scale).collect();
            let (sig, sbar): (Vec<f32>, Vec<f32>) = a.iter().map(|&v| (math::sigmoid(v), math::sigmoid(-v))).unzip();
            let mut table = vec![0f32; 3 * h];
            exp_into(&mut table, &w);
            let bound = a.iter().chain(&w).fold(0f32, |m, v| m.max(v.abs()));
            let every = ((80.0 / (bound + 4f32.ln())) as usize).max(1);
            let rows = [0u32, 1, 2, 2, 1, 0, 2, 1, 1];
            for t in [1.0f64, -1.0] {
                let (num, den) = if t > 0.0 { (&sbar, &sig) } else { (&sig, &sbar) };
                let u: Vec<f32> = num.iter().zip(den).map(|(&p, &q)| p / q).collect();
                let c: f64 = den.iter().map(|&q| (q as f64).ln()).sum();
                let mut first: Option<Vec<f32>> = None;
                for isa in ISAS {
                    let mut out = vec![0f32; rows.len()];
                    if log_add_products_with(isa, &mut out, &u, &table, &rows, every, c).is_none() {
                        continue;
                    }
                    for (k, &g) in out.iter().enumerate() {
                        let wr = &w[rows[k] as usize * h..(rows[k] as usize + 1) * h];
                        let want: f64 = (0..h).map(|j| sp(a[j] as f64 + t * wr[j] as f64) - sp(a[j] as f64)).sum();
                        let shift = if t > 0.0 { 0.0 } else { wr.iter().map(|&v| v as f64).sum() };
                        let got = g as f64 - shift;
                        let tol = 2e-6 * h as f64 * (1.0 + a_scale as f64 + w_scale as f64) + 1e-6 * want.abs();
                        assert!((got - want).abs() <= tol, "{isa:?} h={h} a×{a_scale} t={t} k={k}: {got} vs {want}");
                    }
                    match &first {
                        None => first = Some(out),
                        Some(f) => {
                            assert!(f.iter().zip(&out).all(|(a, b)| a.to_bits() == b.to_bits()), "{isa:?} h={h}: bits")
                        }
                    }
                }
            }
        }
    }
}

/// The 8-row tile gather against an f64 sum over set bits, on widths around 16 and 32 and k
/// including 1; the same bits on every ISA.
#[test]
fn gather_add_tile_every_isa() {
    let mut z = 77u64;
    for width in [1usize, 15, 16, 17, 31, 32, 33, 100, 256] {
        for k in [1usize, 3, 64, 70] {
            let w = random_weights(k * width, (width * 100 + k) as u64);
            let xf: Vec<f32> = (0..TILE_ROWS * k).map(|_| (next(&mut z) & 1) as f32).collect();
            let base = random_weights(TILE_ROWS * width, 5);
            let mut first: Option<Vec<f32>> = None;
            for isa in ISAS {
                let mut out = base.clone();
                if gather_add_tile_with(isa, &mut out, &xf, &w, width).is_none() {
                    continue;
                }
                for r in 0..TILE_ROWS {
                    for c in 0..width {
                        let want: f64 = base[r * width + c] as f64
                            + (0..k)
                                .filter(|&i| xf[i * TILE_ROWS + r] == 1.0)
                                .map(|i| w[i * width + c] as f64)
                                .sum::<f64>();
                        let got = out[r * width + c] as f64;
                        assert!((got - want).abs() <= 1e-5 * (k as f64 + 1.0), "{isa:?} w={width} k={k} r={r} c={c}");
                    }
                }
                match &first {
                    None => first = Some(out),
                    Some(f) => assert!(f.iter().zip(&out).all(|(a, b)| a.to_bits() == b.to_bits()), "{isa:?}: bits"),
                }
            }
        }
    }
}

/// The flipped hidden probabilities from the table, σ(a + tW) = σE/(σ̄ + σE) or σ/(σ + σ̄E), against
/// the f64 logistic, saturated a and |W| up to 20 included; the same bits on every ISA.
#[test]
fn flip_sigmoid_accumulate_every_isa() {
    let lg = |z: f64| 1.0 / (1.0 + (-z).exp());
    for h in [1usize, 15, 16, 17, 100] {
        let a: Vec<f32> = random_weights(h, 21).iter().map(|v| v * 40.0).collect();
        let wr: Vec<f32> = random_weights(h, 22).iter().map(|v| v * 20.0).collect();
        let (sig, sbar): (Vec<f32>, Vec<f32>) = a.iter().map(|&v| (math::sigmoid(v), math::sigmoid(-v))).unzip();
        let mut e = vec![0f32; h];
        exp_into(&mut e, &wr);
        for from_one in [false, true] {
            let t = if from_one { -1.0 } else { 1.0 };
            let (d0, g0) = (random_weights(h, 23), random_weights(h, 24));
            let mut first: Option<(Vec<f32>, Vec<f32>)> = None;
            for isa in ISAS {
                let (mut dsum, mut g) = (d0.clone(), g0.clone());
                if flip_sigmoid_accumulate_with(isa, &mut dsum, &mut g, &sig, &sbar, &e, 0.7, from_one).is_none() {
                    continue;
                }
                for k in 0..h {
                    let sg = 0.7 * lg(a[k] as f64 + t * wr[k] as f64);
                    assert!((dsum[k] as f64 - d0[k] as f64 - sg).abs() <= 1e-6, "{isa:?} h={h} k={k} dsum");
                    assert!((g[k] as f64 - g0[k] as f64 + t * sg).abs() <= 1e-6, "{isa:?} h={h} k={k} g");
                }
                match &first {
                    None => first = Some((dsum, g)),
                    Some((fd, fg)) => {
                        let same = |x: &[f32], y: &[f32]| x.iter().zip(y).all(|(p, q)| p.to_bits() == q.to_bits());
                        assert!(same(fd, &dsum) && same(fg, &g), "{isa:?} h={h}: bits");
                    }
                }
            }
        }
    }
}

/// The flip table's inputs: σ(a) and σ(−a) from one exponential, and eʷ for |w| ≤ 87, against f64
/// (relative error, so the small side of a saturated pair counts), the same bits on every ISA.
#[test]
fn sigmoid_pair_and_exp_every_isa() {
    for len in [0usize, 1, 15, 16, 17, 300] {
        let a: Vec<f32> = random_weights(len, 31).iter().map(|v| v * 80.0).collect();
        let mut first: Option<Vec<f32>> = None;
        for isa in ISAS {
            let (mut s, mut sb, mut e) = (vec![0f32; len], vec![0f32; len], vec![0f32; len]);
            if sigmoid_pair_into_with(isa, &mut s, &mut sb, &a).is_none() {
                continue;
            }
            exp_into_with(isa, &mut e, &a).expect("same ISA");
            for k in 0..len {
                let z = a[k] as f64;
                for (got, want) in [(s[k], 1.0 / (1.0 + (-z).exp())), (sb[k], 1.0 / (1.0 + z.exp())), (e[k], z.exp())] {
                    assert!(((got as f64 - want) / want).abs() < 2e-6, "{isa:?} a={z}: {got} vs {want}");
                }
            }
            let all: Vec<f32> = s.into_iter().chain(sb).chain(e).collect();
            match &first {
                None => first = Some(all),
                Some(f) => {
                    assert!(f.iter().zip(&all).all(|(p, q)| p.to_bits() == q.to_bits()), "{isa:?} len={len}: bits")
                }
            }
        }
    }
}

/// Swish forward against f64 (σ relative 2e-6, z = a·σ) on lengths around 16, saturated inputs
/// included, with the same bits on every ISA.
#[test]
fn swish_forward_every_isa_same_bits() {
    for len in [0usize, 1, 15, 16, 17, 300] {
        let a: Vec<f32> = random_weights(len, 37).iter().map(|v| v * 60.0).collect();
        let beta = 0.7f32;
        let mut first: Option<Vec<f32>> = None;
        for isa in ISAS {
            let (mut z, mut sig) = (vec![0f32; len], vec![0f32; len]);
            if swish_forward_with(isa, &a, beta, &mut z, &mut sig).is_none() {
                continue;
            }
            for k in 0..len {
                let x = a[k] as f64;
                let want = 1.0 / (1.0 + (-(beta as f64) * x).exp());
                assert!(((sig[k] as f64 - want) / want).abs() < 2e-6, "{isa:?} a={x}: σ {} vs {want}", sig[k]);
                assert_eq!(z[k].to_bits(), (a[k] * sig[k]).to_bits(), "{isa:?}: z = a·σ");
            }
            let all: Vec<f32> = z.into_iter().chain(sig).collect();
            match &first {
                None => first = Some(all),
                Some(f) => {
                    assert!(f.iter().zip(&all).all(|(p, q)| p.to_bits() == q.to_bits()), "{isa:?} len={len}: bits")
                }
            }
        }
    }
}

/// One lane per flip (`log_add_columns`): C_b + ln Πⱼ (sⱼ + e^{W[f, j]}) with s = u, C₀ = Σ ln σ
/// (bit 0) or s = v, C₁ = Σ ln σ̄ (bit 1, minus Σⱼ W[f, j]) against the f64 softplus differences,
/// for 1–8 rows (the AVX-512 passes of 4 and the single rows after them), widths around the
/// vector widths, table strides 32 and 40, |a| up to 30 and weights up to 10 (renormalized every
/// 2 factors), with the same bits on every ISA.
#[test]
fn log_add_columns_every_isa() {
    let sp = |z: f64| z.max(0.0) + (-z.abs()).exp().ln_1p();
    for h in [1usize, 5, 16, 17, 256] {
        for (a_scale, w_scale) in [(3.0f32, 0.5f32), (30.0, 10.0)] {
            for (nr, stride) in [(1usize, COLS), (3, 40), (5, COLS), (8, 40)] {
                let a: Vec<f32> = random_weights(nr * h, 31).iter().map(|v| v * a_scale).collect();
                let w: Vec<f32> = random_weights(COLS * h, 32).iter().map(|v| v * w_scale).collect();
                let mut table = vec![0f32; (h - 1) * stride + COLS];
                for f in 0..COLS {
                    for j in 0..h {
                        table[j * stride + f] = math::exp(w[f * h + j]);
                    }
                }
                let (sig, sbar): (Vec<f32>, Vec<f32>) =
                    a.iter().map(|&v| (math::sigmoid(v), math::sigmoid(-v))).unzip();
                let u: Vec<f32> = sig.iter().zip(&sbar).map(|(&p, &q)| q / p).collect();
                let v: Vec<f32> = sig.iter().zip(&sbar).map(|(&p, &q)| p / q).collect();
                let c: Vec<[f64; 2]> = (0..nr)
                    .map(|r| {
                        let ln_sum = |q: &[f32]| q.iter().map(|&x| (x as f64).ln()).sum::<f64>();
                        [ln_sum(&sig[r * h..(r + 1) * h]), ln_sum(&sbar[r * h..(r + 1) * h])]
                    })
                    .collect();
                let mut z = 77 + nr as u64;
                let bits: Vec<u32> = (0..nr).map(|_| (next(&mut z) >> 20) as u32).collect();
                let rows = ColumnRows { u: &u, v: &v, c: &c, bits: &bits };
                let bound = a.iter().chain(&w).fold(0f32, |m, v| m.max(v.abs()));
                let every = ((80.0 / (bound + 4f32.ln())) as usize).max(1);
                let mut first: Option<Vec<[f32; COLS]>> = None;
                for isa in ISAS {
                    let mut out = vec![[0f32; COLS]; nr];
                    if log_add_columns_with(isa, &mut out, &rows, &table, stride, every).is_none() {
                        continue;
                    }
                    for r in 0..nr {
                        for f in 0..COLS {
                            let t = if bits[r] >> f & 1 == 0 { 1.0 } else { -1.0 };
                            let wf = &w[f * h..(f + 1) * h];
                            let want: f64 = (0..h)
                                .map(|j| sp(a[r * h + j] as f64 + t * wf[j] as f64) - sp(a[r * h + j] as f64))
                                .sum();
                            let shift = if t > 0.0 { 0.0 } else { wf.iter().map(|&x| x as f64).sum() };
                            let got = out[r][f] as f64 - shift;
                            let tol = 2e-6 * h as f64 * (1.0 + a_scale as f64 + w_scale as f64) + 1e-6 * want.abs();
                            assert!(
                                (got - want).abs() <= tol,
                                "{isa:?} h={h} a×{a_scale} rows={nr} r={r} f={f}: {got} vs {want}"
                            );
                        }
                    }
                    match &first {
                        None => first = Some(out),
                        Some(f) => assert!(
                            f.iter().flatten().zip(out.iter().flatten()).all(|(a, b)| a.to_bits() == b.to_bits()),
                            "{isa:?} h={h} rows={nr}: bits"
                        ),
                    }
                }
            }
        }
    }
}

/// The column table from row-major rows: R ≤ 32 flips × H, around the 8 × 8 tiles (R and H of 1,
/// 7, 8, 9, 17, 32, 256), against the definition; padding columns zero even over old contents.
#[test]
fn columns_from_rows_transposes() {
    for r in [1usize, 7, 8, 9, 17, 32] {
        for h in [1usize, 7, 8, 9, 17, 256] {
            let rows = random_weights(r * h, (r * 1000 + h) as u64);
            let mut block = vec![f32::NAN; h * COLS];
            columns_from_rows(&mut block, &rows, h);
            for j in 0..h {
                for f in 0..COLS {
                    let want = if f < r { rows[f * h + j] } else { 0.0 };
                    assert_eq!(block[j * COLS + f].to_bits(), want.to_bits(), "r={r} h={h} j={j} f={f}");
                }
            }
        }
    }
}
