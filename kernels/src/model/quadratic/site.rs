//! Single-site Gibbs state of one chain of the quadratic model: its local field f = J·s, so that
//! ΔEᵢ = 2sᵢ(fᵢ + hᵢ) is O(1) instead of a dot product of J's row i with the chain's bits, and a
//! flip of bit i (sᵢ → −sᵢ) is f += 2·sᵢ(new)·J[i, :] (J symmetric with a zero diagonal, as
//! `params_changed` keeps it). f is rebuilt from the bits every [`REFRESH`] flips.

use super::Quadratic;
use crate::bits::spin;
use crate::model::SiteState;

/// Flips between rebuilds of f from the bits.
const REFRESH: u32 = 1024;

pub(super) struct QuadraticSite<'a> {
    m: &'a Quadratic,
    f: Vec<f32>,
    flips: u32,
}

impl<'a> QuadraticSite<'a> {
    pub(super) fn new(m: &'a Quadratic, row: &[u64]) -> Self {
        let mut s = QuadraticSite { m, f: vec![0f32; m.d], flips: 0 };
        m.local_field(row, &mut s.f);
        s
    }
}

impl SiteState for QuadraticSite<'_> {
    fn delta(&mut self, row: &[u64], i: usize) -> f32 {
        2.0 * spin(row, i) * (self.f[i] + self.m.h()[i])
    }

    fn flipped(&mut self, row: &[u64], i: usize) {
        self.flips += 1;
        if self.flips >= REFRESH {
            self.flips = 0;
            return self.m.local_field(row, &mut self.f);
        }
        let d = self.m.d;
        let t = 2.0 * spin(row, i);
        let j = &self.m.j()[i * d..(i + 1) * d];
        self.f.iter_mut().zip(j).for_each(|(f, &w)| *f += t * w);
    }
}

#[cfg(test)]
mod tests {
    use crate::{EnergyModel, Quadratic};

    /// Along a walk of 3000 flips (past two rebuilds), the state's ΔE at every visited site
    /// matches the f64 reference evaluated from the bits alone.
    #[test]
    fn site_deltas_follow_a_walk_of_flips() {
        for d in [1usize, 2, 17, 70, 130] {
            let mut m = Quadratic::random(d, 0.7, d as u64);
            m.params_mut()[d * d..].iter_mut().enumerate().for_each(|(i, v)| *v = 0.1 * (i % 5) as f32 - 0.2);
            m.params_changed();
            crate::testing::check_site_walk(&format!("quadratic d={d}"), &m, 3000, 11);
        }
    }
}
