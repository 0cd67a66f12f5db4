//! Ising lattice data in the convention of Gibbs-with-Gradients (Grathwohl et al. 2021).
//!
//! Spins s = 2x − 1 on an L×L periodic grid, log p(x) = sᵀ(σA)s + const with A the 4-neighbour
//! adjacency (no ½): in rmbench's quadratic model E = −(½sᵀJs + hᵀs) that is J = 2σA, h = 0, so
//! each edge couples with 2σ. Samples come from single-site Gibbs, p(sᵢ = +1 | rest) = σ(2·fᵢ) with
//! fᵢ = (J s)ᵢ = 2σ·Σ_{neighbours} sⱼ, over independent chains: each chain burns in for
//! `burn_in_steps` single-site updates (default 10⁶, the paper's count) and then yields a sample every
//! `thin_sweeps` sweeps (default 10).

use crate::rng::Stream;
use rmbench_kernels::BitBatch;

/// An L×L periodic lattice with coupling strength σ.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct IsingLattice {
    /// Side length L (d = L²).
    pub l: usize,
    /// σ: log p = σ·sᵀAs.
    pub sigma: f64,
}

/// How the sampler runs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GibbsSchedule {
    /// Independent chains.
    pub chains: usize,
    /// Single-site updates per chain before the first sample.
    pub burn_in_steps: usize,
    /// Sweeps (L² updates) between samples of one chain.
    pub thin_sweeps: usize,
}

impl Default for GibbsSchedule {
    fn default() -> Self {
        GibbsSchedule { chains: 20, burn_in_steps: 1_000_000, thin_sweeps: 10 }
    }
}

impl IsingLattice {
    /// Number of spins d = L².
    pub fn d(&self) -> usize {
        self.l * self.l
    }

    /// The 4 periodic neighbours of site i (with repeats for L ≤ 2, as in A's multi-edges).
    pub fn neighbours(&self, i: usize) -> [usize; 4] {
        let l = self.l;
        let (r, c) = (i / l, i % l);
        [((r + l - 1) % l) * l + c, ((r + 1) % l) * l + c, r * l + (c + l - 1) % l, r * l + (c + 1) % l]
    }

    /// The true coupling matrix J = 2σA (d × d, row-major, f32) of rmbench's quadratic model.
    pub fn true_j(&self) -> Vec<f32> {
        let d = self.d();
        let mut j = vec![0f32; d * d];
        for i in 0..d {
            for nb in self.neighbours(i) {
                if nb != i {
                    j[i * d + nb] += (2.0 * self.sigma) as f32;
                }
            }
        }
        // For L = 2 both periodic neighbours in a direction coincide; keep J symmetric with the
        // multiplicity A has.
        j
    }

    /// n samples by Gibbs over `schedule.chains` independent chains (chain c uses stream c).
    pub fn sample(&self, n: usize, schedule: GibbsSchedule, seed: u64) -> BitBatch {
        let d = self.d();
        let chains = schedule.chains.clamp(1, n.max(1));
        let mut out = BitBatch::zeros(n, d);
        let per_chain = n.div_ceil(chains);
        let mut row = 0;
        for c in 0..chains {
            let mut rng = Stream::new(seed, c as u64);
            let mut s: Vec<i8> = (0..d).map(|_| if rng.bernoulli(0.5) { 1 } else { -1 }).collect();
            let mut site = 0;
            let step = |s: &mut Vec<i8>, rng: &mut Stream, site: &mut usize| {
                let i = *site;
                let f: f64 = self.neighbours(i).iter().filter(|&&j| j != i).map(|&j| s[j] as f64).sum::<f64>()
                    * 2.0
                    * self.sigma;
                let p_up = 1.0 / (1.0 + (-2.0 * f).exp());
                s[i] = if rng.uniform() < p_up { 1 } else { -1 };
                *site = (i + 1) % d;
            };
            for _ in 0..schedule.burn_in_steps {
                step(&mut s, &mut rng, &mut site);
            }
            for _ in 0..per_chain {
                if row == n {
                    break;
                }
                for _ in 0..schedule.thin_sweeps.max(1) * d {
                    step(&mut s, &mut rng, &mut site);
                }
                for (i, &v) in s.iter().enumerate() {
                    if v == 1 {
                        out.set(row, i, true);
                    }
                }
                row += 1;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(x: &BitBatch, lat: &IsingLattice) -> (f64, f64) {
        let d = lat.d();
        let (mut m, mut nn) = (0f64, 0f64);
        for r in 0..x.n() {
            let s = |i: usize| if x.get(r, i) { 1.0 } else { -1.0 };
            m += (0..d).map(s).sum::<f64>().abs() / d as f64;
            nn += (0..d).map(|i| s(i) * s(lat.neighbours(i)[3])).sum::<f64>() / d as f64;
        }
        (m / x.n() as f64, nn / x.n() as f64)
    }

    #[test]
    fn true_j_is_symmetric_with_four_neighbours() {
        let lat = IsingLattice { l: 5, sigma: 0.25 };
        let j = lat.true_j();
        let d = lat.d();
        for a in 0..d {
            assert_eq!(j[a * d + a], 0.0);
            assert_eq!(j[a * d..(a + 1) * d].iter().filter(|&&v| v != 0.0).count(), 4);
            for b in 0..d {
                assert_eq!(j[a * d + b], j[b * d + a]);
            }
        }
        assert!(j.iter().all(|&v| v == 0.0 || v == 0.5));
    }

    /// Short-schedule samples agree with a much longer run on |magnetization| and nearest-neighbour
    /// correlation (both well within sampling error).
    #[test]
    fn gibbs_statistics_agree_with_a_long_run() {
        for sigma in [0.1, 0.3] {
            let lat = IsingLattice { l: 6, sigma };
            let short = lat.sample(400, GibbsSchedule { chains: 20, burn_in_steps: 20_000, thin_sweeps: 5 }, 1);
            let long = lat.sample(400, GibbsSchedule { chains: 4, burn_in_steps: 200_000, thin_sweeps: 20 }, 2);
            let (m1, c1) = stats(&short, &lat);
            let (m2, c2) = stats(&long, &lat);
            assert!((m1 - m2).abs() < 0.08, "σ={sigma}: |m| {m1} vs {m2}");
            assert!((c1 - c2).abs() < 0.08, "σ={sigma}: nn {c1} vs {c2}");
            // Stronger coupling ⇒ stronger nearest-neighbour correlation (tanh(2σ)-ish at weak σ).
            assert!(c1 > 0.1 * sigma, "σ={sigma}: nn {c1}");
        }
    }
}
