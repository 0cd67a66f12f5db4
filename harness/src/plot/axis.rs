//! Chart axes: a plotters coordinate for linear, log₂ and log₁₀ scales whose tick positions are
//! chosen here, so log axes are labelled at round values (16, 64, 256, 1024 on a log₂ axis; 0.1,
//! 1, 10, 100 on a log₁₀ axis) with light grid lines at 2…9 × 10ᵏ, never at 10^0.5 = 3.16.

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, KeyPointWeight, Ranged};
use std::ops::Range;

/// Axis scale.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scale {
    /// Linear.
    Linear,
    /// log₂: ticks at powers of two.
    Log2,
    /// log₁₀: ticks at powers of ten (or 1, 2, 5 × 10ᵏ on short ranges).
    Log10,
}

impl Scale {
    /// The coordinate in which the axis is linear: v, log₂ v or log₁₀ v.
    pub fn fwd(self, v: f64) -> f64 {
        match self {
            Scale::Linear => v,
            Scale::Log2 => v.log2(),
            Scale::Log10 => v.log10(),
        }
    }

    /// Inverse of [`Scale::fwd`].
    pub fn inv(self, t: f64) -> f64 {
        match self {
            Scale::Linear => t,
            Scale::Log2 => t.exp2(),
            Scale::Log10 => 10f64.powf(t),
        }
    }

    /// Whether `v` can be drawn on this scale (finite, and positive on log scales).
    pub fn admits(self, v: f64) -> bool {
        v.is_finite() && (self == Scale::Linear || v > 0.0)
    }
}

/// An axis range `[lo, hi]` in data units on a scale; implements plotters' [`Ranged`].
#[derive(Clone, Debug, PartialEq)]
pub struct Axis {
    /// Scale.
    pub scale: Scale,
    /// Lower end (data units).
    pub lo: f64,
    /// Upper end (data units).
    pub hi: f64,
}

impl Axis {
    /// The smallest axis holding every admitted value with a 5 % margin (in the scale's linear
    /// coordinate) on each side; a linear axis over non-negative data starts at 0 when the data's
    /// minimum is under a quarter of its maximum. `None` if no value is admitted. O(#values).
    pub fn covering(scale: Scale, values: impl IntoIterator<Item = f64>) -> Option<Axis> {
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for v in values.into_iter().filter(|&v| scale.admits(v)) {
            lo = lo.min(v);
            hi = hi.max(v);
        }
        if lo > hi {
            return None;
        }
        let from_zero = scale == Scale::Linear && lo >= 0.0 && lo < 0.25 * hi;
        if from_zero {
            lo = 0.0;
        }
        let (mut a, mut b) = (scale.fwd(lo), scale.fwd(hi));
        if b - a <= 1e-12 * a.abs().max(1.0) {
            let half = match scale {
                Scale::Linear => (0.1 * a.abs()).max(0.5),
                Scale::Log2 => 0.5,
                Scale::Log10 => 0.3,
            };
            a -= half;
            b += half;
        } else {
            let pad = 0.05 * (b - a);
            if !from_zero {
                a -= pad;
            }
            b += pad;
        }
        Some(Axis { scale, lo: scale.inv(a), hi: scale.inv(b) })
    }

    /// Labelled tick positions, at most `max` (at least 2 where the range allows). O(#ticks).
    pub fn ticks(&self, max: usize) -> Vec<f64> {
        let max = max.max(2);
        match self.scale {
            Scale::Linear => linear_ticks(self.lo, self.hi, max),
            Scale::Log2 => {
                let p = powers(self.lo, self.hi, 2.0);
                if p.len() >= 2 {
                    thin(p, max, 2.0)
                } else {
                    linear_ticks(self.lo, self.hi, max.min(5))
                }
            }
            Scale::Log10 => {
                let decades = powers(self.lo, self.hi, 10.0);
                if decades.len() >= 3 {
                    return thin(decades, max, 10.0);
                }
                for mantissas in [&[1.0, 2.0, 5.0][..], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]] {
                    let t = decade_multiples(self.lo, self.hi, mantissas);
                    if t.len() >= 3 && t.len() <= max {
                        return t;
                    }
                }
                linear_ticks(self.lo, self.hi, max.min(6))
            }
        }
    }

    /// Grid-line positions for at most `bold` ticks: on a log₁₀ axis every m × 10ᵏ (m = 1…9) if
    /// there are at most `max` of them; on a linear axis the ticks and the midpoints between them;
    /// else the ticks.
    pub fn grid(&self, bold: usize, max: usize) -> Vec<f64> {
        let ticks = self.ticks(bold);
        match self.scale {
            Scale::Log10 => {
                let all = decade_multiples(self.lo, self.hi, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]);
                if all.len() <= max {
                    return all;
                }
            }
            Scale::Linear if ticks.len() >= 2 => {
                let half = (ticks[1] - ticks[0]) / 2.0;
                let (k0, k1) = ((self.lo / half).ceil() as i64, (self.hi / half).floor() as i64);
                if k1 - k0 < max as i64 {
                    return (k0..=k1).map(|k| round_sig(k as f64 * half)).collect();
                }
            }
            _ => {}
        }
        ticks
    }
}

impl Ranged for Axis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let (a, b) = (self.scale.fwd(self.lo), self.scale.fwd(self.hi));
        let t = (self.scale.fwd(*v) - a) / (b - a);
        let p = limit.0 as f64 + t * (limit.1 - limit.0) as f64;
        if p.is_nan() {
            limit.0
        } else {
            p.round().clamp(-1e7, 1e7) as i32
        }
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        match hint.weight() {
            KeyPointWeight::Bold => self.ticks(hint.max_num_points()),
            KeyPointWeight::Any => self.grid(hint.bold_points(), hint.max_num_points()),
        }
    }

    fn range(&self) -> Range<f64> {
        self.lo..self.hi
    }
}

/// base^k for every integer k with base^k in [lo, hi].
fn powers(lo: f64, hi: f64, base: f64) -> Vec<f64> {
    let (k0, k1) = ((lo.log(base) - 1e-9).ceil() as i32, (hi.log(base) + 1e-9).floor() as i32);
    (k0..=k1).map(|k| base.powi(k)).collect()
}

/// The powers of `base` in `p` whose exponent is a multiple of `every`, with `every` the smallest
/// step leaving at most `max` of them.
fn thin(p: Vec<f64>, max: usize, base: f64) -> Vec<f64> {
    let every = p.len().div_ceil(max).max(1) as i64;
    p.into_iter().filter(|v| (v.log(base).round() as i64).rem_euclid(every) == 0).collect()
}

/// m × 10ᵏ for the given mantissas m, inside [lo, hi], ascending.
fn decade_multiples(lo: f64, hi: f64, mantissas: &[f64]) -> Vec<f64> {
    let (k0, k1) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
    let mut out = Vec::new();
    for k in k0..=k1 {
        for &m in mantissas {
            let v = round_sig(m * 10f64.powi(k));
            if v >= lo * (1.0 - 1e-9) && v <= hi * (1.0 + 1e-9) {
                out.push(v);
            }
        }
    }
    out
}

/// Multiples of a 1, 2 or 5 × 10ᵏ step inside [lo, hi], at most `max` of them.
fn linear_ticks(lo: f64, hi: f64, max: usize) -> Vec<f64> {
    let span = hi - lo;
    if span.is_nan() || span <= 0.0 || span.is_infinite() {
        return vec![lo];
    }
    let raw = span / max as f64;
    let mag = 10f64.powf(raw.log10().floor());
    for m in [1.0, 2.0, 5.0, 10.0, 20.0] {
        let step = m * mag;
        let (k0, k1) = ((lo / step - 1e-9).ceil() as i64, (hi / step + 1e-9).floor() as i64);
        if (k1 - k0 + 1) as usize <= max {
            return (k0..=k1).map(|k| round_sig(k as f64 * step)).collect();
        }
    }
    vec![lo, hi]
}

/// `v` rounded to 12 significant digits (removes the float noise of k × step and 10ᵏ).
fn round_sig(v: f64) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    let scale = 10f64.powi(11 - v.abs().log10().floor() as i32);
    (v * scale).round() / scale
}

/// A short tick label: 4 significant digits without trailing zeros (0.0025, 0.1, 16, 1024),
/// scientific below 10⁻³ and from 10⁶ on (1e-4, 2.5e6).
pub fn tick_label(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if !(1e-3..1e6).contains(&a) {
        let s = format!("{v:.3e}");
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        return format!("{}e{e}", trim_zeros(m));
    }
    let decimals = (3 - a.log10().floor() as i32).max(0) as usize;
    trim_zeros(&format!("{v:.decimals$}")).to_string()
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(a: &Axis, max: usize) -> Vec<String> {
        a.ticks(max).into_iter().map(tick_label).collect()
    }

    #[test]
    fn log2_axis_ticks_at_powers_of_two() {
        let a = Axis::covering(Scale::Log2, [16.0, 1024.0]).unwrap();
        assert_eq!(labels(&a, 12), ["16", "32", "64", "128", "256", "512", "1024"]);
        assert_eq!(labels(&a, 4), ["16", "64", "256", "1024"]);
        let a = Axis::covering(Scale::Log2, [1.0, 30.0]).unwrap();
        assert_eq!(labels(&a, 12), ["1", "2", "4", "8", "16", "32"]);
    }

    #[test]
    fn log10_axis_ticks_at_decades_or_1_2_5() {
        let a = Axis::covering(Scale::Log10, [0.11, 1076.0]).unwrap();
        assert_eq!(labels(&a, 10), ["0.1", "1", "10", "100", "1000"]);
        let a = Axis::covering(Scale::Log10, [7.4, 682.0]).unwrap();
        assert_eq!(labels(&a, 10), ["10", "20", "50", "100", "200", "500"]);
        let a = Axis::covering(Scale::Log10, [976.0, 982.0]).unwrap();
        assert!(a.ticks(10).len() >= 2, "{:?}", a.ticks(10));
        let a = Axis::covering(Scale::Log10, [1e-5, 1e7]).unwrap();
        assert_eq!(labels(&a, 7), ["1e-4", "0.01", "1", "100", "10000", "1e6"]);
        let grid = a.grid(7, 1000);
        assert!(grid.len() > 100 && grid.contains(&2e-5) && grid.contains(&9e6), "{grid:?}");
    }

    #[test]
    fn linear_axis_ticks_are_round_and_start_at_zero_for_nonnegative_data() {
        let a = Axis::covering(Scale::Linear, [6.0, 43.0]).unwrap();
        assert_eq!(a.lo, 0.0);
        assert_eq!(labels(&a, 8), ["0", "10", "20", "30", "40"]);
        let a = Axis::covering(Scale::Linear, [-1.0, -1.0]).unwrap();
        assert!(a.lo < -1.0 && a.hi > -1.0);
        assert!(Axis::covering(Scale::Log10, [0.0, -1.0, f64::NAN]).is_none());
    }

    #[test]
    fn labels_are_short() {
        for (v, s) in [(0.0025, "0.0025"), (0.1, "0.1"), (16.0, "16"), (1024.0, "1024"), (2.5e6, "2.5e6")] {
            assert_eq!(tick_label(v), s);
        }
        assert_eq!(tick_label(1.0000000000000002e-4), "1e-4");
        assert_eq!(tick_label(316.22776), "316.2");
    }
}
