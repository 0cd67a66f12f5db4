//! The seven 2-D toy distributions of the discrete-EBM literature, generated from a seed.
//!
//! Formulas follow `inf_train_gen` of FFJORD (rtqichen/ffjord `lib/toy_data.py`), which the
//! RMwGGIS reference copies in `dataset.py`. Where FFJORD calls scikit-learn (`make_swiss_roll`,
//! `make_circles`, `make_moons`), the same construction is written out; sklearn places circle and
//! moon points on an evenly spaced angle grid, here angles are drawn uniformly (the same
//! distribution, without a dependence on the batch size).

use crate::rng::Stream;
use std::f64::consts::PI;

/// A 2-D toy distribution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Toy {
    /// Two interleaved spirals.
    TwoSpirals,
    /// Eight Gaussians on a circle of radius 4/1.414.
    EightGaussians,
    /// Two concentric noisy circles.
    Circles,
    /// Two interleaved half moons.
    Moons,
    /// Five-armed pinwheel.
    Pinwheel,
    /// Swiss roll (x, z projection).
    Swissroll,
    /// 4 × 4 checkerboard on [−4, 4]², half the squares empty.
    Checkerboard,
}

impl Toy {
    /// All seven, in the order of the literature's tables.
    pub const ALL: [Toy; 7] = [
        Toy::TwoSpirals,
        Toy::EightGaussians,
        Toy::Circles,
        Toy::Moons,
        Toy::Pinwheel,
        Toy::Swissroll,
        Toy::Checkerboard,
    ];

    /// Name as in the literature and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Toy::TwoSpirals => "2spirals",
            Toy::EightGaussians => "8gaussians",
            Toy::Circles => "circles",
            Toy::Moons => "moons",
            Toy::Pinwheel => "pinwheel",
            Toy::Swissroll => "swissroll",
            Toy::Checkerboard => "checkerboard",
        }
    }

    /// Parses [`Toy::name`].
    pub fn parse(s: &str) -> Option<Toy> {
        Self::ALL.into_iter().find(|t| t.name() == s)
    }
}

/// n points of a toy distribution.
pub fn sample_2d(toy: Toy, n: usize, rng: &mut Stream) -> Vec<[f64; 2]> {
    (0..n).map(|k| point(toy, k, rng)).collect()
}

fn point(toy: Toy, k: usize, rng: &mut Stream) -> [f64; 2] {
    match toy {
        Toy::Swissroll => {
            // make_swiss_roll(noise=1): t = 1.5π(1 + 2u), (t cos t, t sin t) + N(0, 1); then / 5.
            let t = 1.5 * PI * (1.0 + 2.0 * rng.uniform());
            let x = t * t.cos() + rng.normal();
            let _y = 21.0 * rng.uniform() + rng.normal();
            let z = t * t.sin() + rng.normal();
            [x / 5.0, z / 5.0]
        }
        Toy::Circles => {
            // make_circles(factor=.5, noise=.08), × 3.
            let outer = rng.bernoulli(0.5);
            let a = 2.0 * PI * rng.uniform();
            let r = if outer { 1.0 } else { 0.5 };
            [3.0 * (r * a.cos() + 0.08 * rng.normal()), 3.0 * (r * a.sin() + 0.08 * rng.normal())]
        }
        Toy::Moons => {
            // make_moons(noise=.1), × 2 + (−1, −0.2).
            let t = PI * rng.uniform();
            let (x, y) = if rng.bernoulli(0.5) { (t.cos(), t.sin()) } else { (1.0 - t.cos(), 1.0 - t.sin() - 0.5) };
            [2.0 * (x + 0.1 * rng.normal()) - 1.0, 2.0 * (y + 0.1 * rng.normal()) - 0.2]
        }
        Toy::EightGaussians => {
            let c = rng.below(8);
            let s = std::f64::consts::FRAC_1_SQRT_2;
            let centers = [(1.0, 0.0), (-1.0, 0.0), (0.0, 1.0), (0.0, -1.0), (s, s), (s, -s), (-s, s), (-s, -s)];
            let (cx, cy) = centers[c];
            [(0.5 * rng.normal() + 4.0 * cx) / 1.414, (0.5 * rng.normal() + 4.0 * cy) / 1.414]
        }
        Toy::Pinwheel => {
            let class = (k % 5) as f64;
            let f0 = 0.3 * rng.normal() + 1.0;
            let f1 = 0.1 * rng.normal();
            let angle = class * 2.0 * PI / 5.0 + 0.25 * f0.exp();
            let (c, s) = (angle.cos(), angle.sin());
            // einsum("ti,tij->tj", f, [[c, −s], [s, c]]) = (f0 c + f1 s, −f0 s + f1 c).
            [2.0 * (f0 * c + f1 * s), 2.0 * (-f0 * s + f1 * c)]
        }
        Toy::TwoSpirals => {
            let n = rng.uniform().sqrt() * 540.0 * 2.0 * PI / 360.0;
            let d1x = -n.cos() * n + 0.5 * rng.uniform();
            let d1y = n.sin() * n + 0.5 * rng.uniform();
            let sign = if k.is_multiple_of(2) { 1.0 } else { -1.0 };
            [sign * d1x / 3.0 + 0.1 * rng.normal(), sign * d1y / 3.0 + 0.1 * rng.normal()]
        }
        Toy::Checkerboard => {
            let x1 = 4.0 * rng.uniform() - 2.0;
            let x2 = rng.uniform() - 2.0 * rng.below(2) as f64 + x1.floor().rem_euclid(2.0);
            [2.0 * x1, 2.0 * x2]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkerboard_empty_squares_stay_empty() {
        let mut rng = Stream::new(3, 0);
        for [x, y] in sample_2d(Toy::Checkerboard, 20000, &mut rng) {
            assert!((-4.0..4.0).contains(&x) && (-4.0..4.0).contains(&y));
            // Occupied squares (side 2) have (⌊x/2⌋ + ⌊y/2⌋) even.
            let parity = ((x / 2.0).floor() + (y / 2.0).floor()).rem_euclid(2.0);
            assert_eq!(parity, 0.0, "point ({x}, {y}) in an empty square");
        }
    }

    #[test]
    fn shapes_have_the_expected_geometry() {
        let mut rng = Stream::new(1, 0);
        // Eight Gaussians: every point within ~4σ of one of the centres.
        for [x, y] in sample_2d(Toy::EightGaussians, 5000, &mut rng) {
            let r = (x * x + y * y).sqrt();
            assert!((r - 4.0 / 1.414).abs() < 2.5, "radius {r}");
        }
        // Circles: radii near 3 and 1.5.
        let radii: Vec<f64> =
            sample_2d(Toy::Circles, 5000, &mut rng).iter().map(|p| (p[0] * p[0] + p[1] * p[1]).sqrt()).collect();
        assert!(radii.iter().all(|&r| (r - 3.0).abs() < 1.0 || (r - 1.5).abs() < 1.0));
        let near_outer = radii.iter().filter(|&&r| (r - 3.0).abs() < 0.5).count() as f64 / 5000.0;
        assert!((near_outer - 0.5).abs() < 0.05, "{near_outer}");
        // Every generator is reproducible from its seed.
        for t in Toy::ALL {
            assert_eq!(sample_2d(t, 10, &mut Stream::new(9, 1)), sample_2d(t, 10, &mut Stream::new(9, 1)));
        }
    }
}
