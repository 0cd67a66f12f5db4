//! Single-site Gibbs state of one RBM chain: its hidden pre-activations a = c + Wᵀx and
//! softplus(a), so that ΔEᵢ is one O(H) pass ([`Rbm::delta_from`]) instead of rebuilding a from
//! the chain's bits (O(popcount·H)) at every site, and a flip of bit i is a ± Wᵀ[i, :] plus H
//! softplus. a is rebuilt from the bits every [`REFRESH`] flips, so the f32 rounding of the
//! incremental updates cannot drift.

use super::Rbm;
use crate::bits::bit;
use crate::model::SiteState;

/// Flips between rebuilds of a from the bits.
const REFRESH: u32 = 1024;

pub(super) struct RbmSite<'a> {
    m: &'a Rbm,
    a: Vec<f32>,
    sp: Vec<f32>,
    flips: u32,
}

impl<'a> RbmSite<'a> {
    pub(super) fn new(m: &'a Rbm, row: &[u64]) -> Self {
        let mut s = RbmSite { m, a: vec![0f32; m.h], sp: vec![0f32; m.h], flips: 0 };
        s.rebuild(row);
        s
    }

    fn rebuild(&mut self, row: &[u64]) {
        self.m.preact(row, &mut self.a);
        Rbm::base_softplus(&self.a, &mut self.sp);
        self.flips = 0;
    }
}

impl SiteState for RbmSite<'_> {
    fn delta(&mut self, row: &[u64], i: usize) -> f32 {
        self.m.delta_from(row, &self.a, &self.sp, i)
    }

    fn flipped(&mut self, row: &[u64], i: usize) {
        self.flips += 1;
        if self.flips >= REFRESH {
            return self.rebuild(row);
        }
        let h = self.m.h;
        let w = &self.m.wt()[i * h..(i + 1) * h];
        if bit(row, i) == 1 {
            self.a.iter_mut().zip(w).for_each(|(a, &w)| *a += w);
        } else {
            self.a.iter_mut().zip(w).for_each(|(a, &w)| *a -= w);
        }
        Rbm::base_softplus(&self.a, &mut self.sp);
    }
}

#[cfg(test)]
mod tests {
    use crate::Rbm;

    /// Along a walk of 3000 flips (past two rebuilds), the state's ΔE at every visited site
    /// matches the f64 reference evaluated from the bits alone, for H around the vector widths.
    #[test]
    fn site_deltas_follow_a_walk_of_flips() {
        for (d, h) in [(1usize, 1usize), (13, 16), (70, 37), (130, 64)] {
            let m = Rbm::random(d, h, 0.8, (d * h) as u64);
            crate::testing::check_site_walk(&format!("rbm d={d} h={h}"), &m, 3000, 7);
        }
    }
}
