//! Figures from sweep CSVs: step time, speed-up over exact RM, peak memory and fraction of the
//! machine's peak against d, and gradient-estimate error against s.
//!
//! A figure holds the rows of one (model, batch n, threads, ISA) group. Lines against d compare
//! like with like: exact objectives (s = 0) with every estimator at one s; a group whose
//! estimators were swept over several s with ≥ 2 values of d gets one figure per s (`_s{s}` in the
//! file name), otherwise the s with the most rows is drawn.

use super::axis::Scale;
use super::chart::{line_chart, line_panels, LineChart, Series};
use crate::csvio::read_rows;
use crate::error::Result;
use crate::sweep::schema::SweepRecord;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Rows of one or more sweep CSVs, split into those measured and those skipped.
#[derive(Clone, Debug, Default)]
pub struct SweepSet {
    /// Rows with an empty `err` and a finite median step time.
    pub ok: Vec<SweepRecord>,
    /// Rows with an error or no timing: not drawn, counted in each figure's note.
    pub skipped: Vec<SweepRecord>,
    /// `quality_reps` (draws R of the estimator-quality measurement) by `point_id`, where > 0.
    pub quality_reps: BTreeMap<String, usize>,
}

/// The one column [`SweepRecord`] does not read back.
#[derive(serde::Deserialize)]
struct RepsRecord {
    point_id: String,
    quality_reps: Option<usize>,
}

/// Reads sweep CSVs (by column name; extra columns ignored). An unreadable file or a row that
/// does not parse is an error naming the file and line.
pub fn load_sweeps(paths: &[PathBuf]) -> Result<SweepSet> {
    let mut set = SweepSet::default();
    for p in paths {
        for r in read_rows::<RepsRecord>(p)? {
            if let Some(reps) = r.quality_reps.filter(|&k| k > 0) {
                set.quality_reps.insert(r.point_id, reps);
            }
        }
        for r in read_rows::<SweepRecord>(p)? {
            if r.err.is_empty() && r.step_ms_median.is_some_and(f64::is_finite) {
                set.ok.push(r);
            } else {
                set.skipped.push(r);
            }
        }
    }
    Ok(set)
}

/// A figure group: (model, batch, threads, ISA).
type GroupKey = (String, usize, usize, String);

fn group_of(r: &SweepRecord) -> GroupKey {
    (r.model.clone(), r.batch, r.threads, r.isa.clone())
}

fn group_title(g: &GroupKey) -> String {
    format!("{}, n = {}, {} thread{}, {}", g.0, g.1, g.2, if g.2 == 1 { "" } else { "s" }, g.3)
}

fn group_file(g: &GroupKey) -> String {
    format!("{}_n{}_t{}_{}", g.0, g.1, g.2, g.3)
}

fn skipped_note(set: &SweepSet, keep: impl Fn(&SweepRecord) -> bool) -> String {
    let n = set.skipped.iter().filter(|r| keep(r)).count();
    match n {
        0 => String::new(),
        1 => "1 point failed or has no timing (see the `err` column); not shown".into(),
        _ => format!("{n} points failed or have no timing (see the `err` column); not shown"),
    }
}

/// One d-scaling slice of a group: exact rows plus the estimator rows at one s.
struct Slice<'a> {
    group: GroupKey,
    /// The estimators' s, 0 if the group has none.
    samples: usize,
    /// File-name stem suffix (group, plus `_s{s}` when the group has several slices).
    file: String,
    rows: Vec<&'a SweepRecord>,
}

fn slices(rows: &[SweepRecord]) -> Vec<Slice<'_>> {
    let mut groups: BTreeMap<GroupKey, Vec<&SweepRecord>> = BTreeMap::new();
    for r in rows {
        groups.entry(group_of(r)).or_default().push(r);
    }
    let mut out = Vec::new();
    for (g, rs) in groups {
        // s values at which some estimator has ≥ 2 distinct d.
        let mut dims: BTreeMap<(usize, &str), BTreeSet<usize>> = BTreeMap::new();
        for r in rs.iter().filter(|r| r.samples > 0) {
            dims.entry((r.samples, &r.objective)).or_default().insert(r.dim);
        }
        let lines: BTreeSet<usize> = dims.iter().filter(|(_, d)| d.len() >= 2).map(|((s, _), _)| *s).collect();
        let chosen: Vec<usize> = if !lines.is_empty() {
            lines.into_iter().collect()
        } else {
            let mut count: BTreeMap<usize, usize> = BTreeMap::new();
            for r in rs.iter().filter(|r| r.samples > 0) {
                *count.entry(r.samples).or_default() += 1;
            }
            vec![count.into_iter().max_by_key(|&(s, c)| (c, std::cmp::Reverse(s))).map_or(0, |(s, _)| s)]
        };
        let several = chosen.len() > 1;
        for s in chosen {
            let file = if several { format!("{}_s{s}", group_file(&g)) } else { group_file(&g) };
            let rows = rs.iter().copied().filter(|r| r.samples == 0 || r.samples == s).collect();
            out.push(Slice { group: g.clone(), samples: s, file, rows });
        }
    }
    out
}

impl Slice<'_> {
    fn title(&self, what: &str) -> String {
        let s = if self.samples > 0 { format!(", s = {}", self.samples) } else { String::new() };
        format!("{what}: {}{s}", group_title(&self.group))
    }

    fn note(&self, set: &SweepSet) -> String {
        skipped_note(set, |r| group_of(r) == self.group && (r.samples == 0 || r.samples == self.samples))
    }

    /// One series per objective of (d, f(row)) points, with optional error bars.
    fn by_objective(
        &self,
        f: impl Fn(&SweepRecord) -> Option<f64>,
        spread: impl Fn(&SweepRecord) -> Option<(f64, f64)>,
    ) -> Vec<Series> {
        let mut m: BTreeMap<&str, Series> = BTreeMap::new();
        for r in &self.rows {
            let Some(v) = f(r) else { continue };
            let s = m.entry(&r.objective).or_insert_with(|| Series::line(r.objective.clone(), vec![]));
            s.points.push((r.dim as f64, v));
            if let Some((lo, hi)) = spread(r) {
                s.spread.push((r.dim as f64, lo, hi));
            }
        }
        m.into_values().collect()
    }
}

fn has_points(series: &[Series]) -> bool {
    series.iter().any(|s| !s.points.is_empty())
}

fn d_chart(title: String, y_desc: &str, y_scale: Scale, series: Vec<Series>, note: String) -> LineChart {
    LineChart {
        title,
        x_desc: "dimension d (bits)".into(),
        y_desc: y_desc.into(),
        x_scale: Scale::Log2,
        y_scale,
        series,
        note,
    }
}

/// `time_vs_dim_<group>`: median time of one training step (objective gradient + Adam) against
/// d, log-log, one line per objective, error bars from the first to the third quartile.
pub fn time_vs_dim(set: &SweepSet, out: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for sl in slices(&set.ok) {
        let series = sl.by_objective(|r| r.step_ms_median, |r| Some((r.step_ms_q1?, r.step_ms_q3?)));
        let c = d_chart(
            sl.title("Time per training step"),
            "median time per step (ms), bars: quartiles",
            Scale::Log10,
            series,
            sl.note(set),
        );
        files.extend(line_chart(&c, &out.join(format!("time_vs_dim_{}", sl.file)))?);
    }
    Ok(files)
}

/// `speedup_vs_dim_<group>`: time(exact `rm`) / time(objective) at the same (model, d, n,
/// threads, ISA), one line per sampled objective (ggis-basic, ggis-advanced, rm-uniform, …).
pub fn speedup_vs_dim(set: &SweepSet, out: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for sl in slices(&set.ok) {
        let rm: BTreeMap<usize, f64> =
            sl.rows.iter().filter(|r| r.objective == "rm").filter_map(|r| Some((r.dim, r.step_ms_median?))).collect();
        let series = sl.by_objective(
            |r| if r.samples > 0 && r.objective != "rm" { Some(rm.get(&r.dim)? / r.step_ms_median?) } else { None },
            |_| None,
        );
        if !has_points(&series) {
            continue;
        }
        let mut series = series;
        let dims = series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
        let (d0, d1) = dims.fold((f64::INFINITY, 0f64), |(a, b), d| (a.min(d), b.max(d)));
        series.push(Series::guide("break-even", vec![(d0, 1.0), (d1, 1.0)]));
        let c = d_chart(
            sl.title("Speed-up over exact RM"),
            "time(rm) / time(objective) (dashed: break-even)",
            Scale::Log10,
            series,
            sl.note(set),
        );
        files.extend(line_chart(&c, &out.join(format!("speedup_vs_dim_{}", sl.file)))?);
    }
    Ok(files)
}

/// `memory_vs_dim_<group>`: peak heap bytes of a step (MiB) against d, log-log.
pub fn memory_vs_dim(set: &SweepSet, out: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for sl in slices(&set.ok) {
        let series =
            sl.by_objective(|r| r.peak_bytes.filter(|&b| b > 0).map(|b| b as f64 / (1u64 << 20) as f64), |_| None);
        if !has_points(&series) {
            continue;
        }
        let c = d_chart(sl.title("Peak heap memory of a step"), "peak heap (MiB)", Scale::Log10, series, sl.note(set));
        files.extend(line_chart(&c, &out.join(format!("memory_vs_dim_{}", sl.file)))?);
    }
    Ok(files)
}

/// `throughput_vs_dim_<group>`: achieved FLOP rate as a percentage of the machine's measured
/// dense f32 peak on the same threads (`frac_of_peak`) against d.
pub fn throughput_vs_dim(set: &SweepSet, out: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for sl in slices(&set.ok) {
        let series = sl.by_objective(|r| r.frac_of_peak.map(|f| 100.0 * f), |_| None);
        if !has_points(&series) {
            continue;
        }
        let c = d_chart(
            sl.title("Throughput vs measured GEMM peak"),
            "achieved / peak GFLOP/s (%)",
            Scale::Linear,
            series,
            sl.note(set),
        );
        files.extend(line_chart(&c, &out.join(format!("throughput_vs_dim_{}", sl.file)))?);
    }
    Ok(files)
}

/// `grad_error_vs_samples_<group>_d<d>`: the estimated gradient ĝ against exact RM's g on the
/// same batch, against s (log₂): relative bias ‖E ĝ − g‖/‖g‖, relative variance
/// E‖ĝ − E ĝ‖²/‖g‖², and 1 − cos(ĝ, g); one line per objective (rm-uniform: uniform proposal,
/// ggis-*: gradient-guided). Drawn for every (group, d) with ≥ 2 values of s.
pub fn grad_error_vs_samples(set: &SweepSet, out: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut g: BTreeMap<(GroupKey, usize), Vec<&SweepRecord>> = BTreeMap::new();
    for r in set.ok.iter().filter(|r| r.samples > 0) {
        if r.grad_rel_bias.is_some() || r.grad_rel_var.is_some() || r.grad_cosine.is_some() {
            g.entry((group_of(r), r.dim)).or_default().push(r);
        }
    }
    type Metric = (&'static str, &'static str, fn(&SweepRecord) -> Option<f64>);
    let metrics: [Metric; 3] = [
        ("Relative bias (dashed: noise floor √(var / R))", "‖mean of R draws of ĝ − g‖ / ‖g‖", |r| {
            r.grad_rel_bias
        }),
        ("Relative variance", "E‖ĝ − E ĝ‖² / ‖g‖²", |r| r.grad_rel_var),
        ("Misalignment", "1 − cos(ĝ, g)", |r| r.grad_cosine.map(|c| (1.0 - c).max(1e-12))),
    ];
    for ((key, d), rs) in g {
        if rs.iter().map(|r| r.samples).collect::<BTreeSet<_>>().len() < 2 {
            continue;
        }
        let mut panels = Vec::new();
        for (name, y_desc, f) in metrics {
            let mut m: BTreeMap<&str, Series> = BTreeMap::new();
            for r in &rs {
                if let Some(v) = f(r) {
                    let s = m.entry(&r.objective).or_insert_with(|| Series::line(r.objective.clone(), vec![]));
                    s.points.push((r.samples as f64, v));
                }
            }
            let mut series: Vec<Series> = m.into_values().collect();
            if name.starts_with("Relative bias") {
                // An unbiased estimator's mean of R draws still misses g by ≈ √(var / R).
                series.extend(noise_floors(&rs, &set.quality_reps));
            }
            if series.iter().flat_map(|s| &s.points).any(|p| p.1 > 0.0) {
                panels.push(LineChart {
                    title: name.into(),
                    x_desc: "sampled bits per sample s".into(),
                    y_desc: y_desc.into(),
                    x_scale: Scale::Log2,
                    y_scale: Scale::Log10,
                    series,
                    note: String::new(),
                });
            }
        }
        if panels.is_empty() {
            continue;
        }
        let title = format!("Gradient estimate vs exact RM: {}, d = {d}", group_title(&key));
        let note = skipped_note(set, |r| group_of(r) == key && r.dim == d && r.samples > 0);
        let stem = out.join(format!("grad_error_vs_samples_{}_d{d}", group_file(&key)));
        files.extend(line_panels(&title, &note, &panels, &stem)?);
    }
    Ok(files)
}

/// Per objective, (s, √(grad_rel_var / quality_reps)): the relative error the mean of R draws of
/// an unbiased estimator shows, which the measured relative bias cannot go below.
fn noise_floors(rs: &[&SweepRecord], quality_reps: &BTreeMap<String, usize>) -> Vec<Series> {
    let mut m: BTreeMap<&str, Series> = BTreeMap::new();
    for r in rs {
        if let (Some(v), Some(&reps)) = (r.grad_rel_var, quality_reps.get(&r.point_id)) {
            let s = m.entry(&r.objective).or_insert_with(|| Series::guide(r.objective.clone(), vec![]));
            s.points.push((r.samples as f64, (v / reps as f64).sqrt()));
        }
    }
    m.into_values().collect()
}
