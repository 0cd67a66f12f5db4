//! Sweep configuration (TOML) and its expansion into grid points.
//!
//! ```toml
//! name = "default"          # written into every row
//! seed = 0
//! warmup_steps = 1          # untimed steps per point
//! steps = 5                 # timed steps per point (median and quartiles)
//! quality_reps = 20         # R estimator draws against exact rm (0 = skip)
//! max_point_seconds = 60.0  # a point whose first step predicts more than this is recorded as skipped
//! measure_peak = true       # report GFLOP/s as a fraction of the measured machine peak
//!
//! [[grid]]                  # any number of blocks; each is a full cartesian product
//! model = ["mlp"]           # mlp | rbm | quadratic
//! hidden = [256]
//! layers = [3]
//! dim = [16, 64, 256]
//! batch = [128]
//! samples = [10]            # ignored (recorded as 0) for exact objectives and nce
//! objective = ["rm", "ggis-basic", "ggis-advanced", "rm-uniform"]
//! without_replacement = [false]
//! threads = [0]             # 0 = all cores
//! precision = ["f32"]       # f32 | bf16 | bf16x3 (mlp only; default: the --precision flag)
//! ```
//! Unknown keys and invalid values are rejected before any work starts, naming the key.

use crate::error::{Error, Result};
use crate::model_io::{ModelKindName, ModelShape};
use crate::objective::{Objective, ObjectiveConfig};
use rmbench_kernels::bf16::Precision;
use serde::Deserialize;

/// A whole sweep file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepConfig {
    /// Name written into every row.
    pub name: String,
    /// Seed of models, data and sampling.
    #[serde(default)]
    pub seed: u64,
    /// Untimed steps per point.
    #[serde(default = "one")]
    pub warmup_steps: usize,
    /// Timed steps per point.
    #[serde(default = "five")]
    pub steps: usize,
    /// Estimator draws for gradient quality (0 = skip).
    #[serde(default)]
    pub quality_reps: usize,
    /// Per-point time budget in seconds.
    #[serde(default = "sixty")]
    pub max_point_seconds: f64,
    /// Measure (or read the cached) machine peak for `frac_of_peak`.
    #[serde(default)]
    pub measure_peak: bool,
    /// Grid blocks.
    pub grid: Vec<GridBlock>,
}

fn one() -> usize {
    1
}
fn five() -> usize {
    5
}
fn sixty() -> f64 {
    60.0
}

/// One cartesian block of the grid.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GridBlock {
    /// Model kinds.
    pub model: Vec<String>,
    /// Hidden widths.
    #[serde(default = "h256")]
    pub hidden: Vec<usize>,
    /// Hidden layer counts (mlp).
    #[serde(default = "l3")]
    pub layers: Vec<usize>,
    /// Dimensions.
    pub dim: Vec<usize>,
    /// Batch sizes.
    #[serde(default = "n128")]
    pub batch: Vec<usize>,
    /// Sample counts s.
    #[serde(default = "s10")]
    pub samples: Vec<usize>,
    /// Objectives.
    pub objective: Vec<String>,
    /// ggis-basic without replacement.
    #[serde(default = "no")]
    pub without_replacement: Vec<bool>,
    /// Thread counts (0 = all cores).
    #[serde(default = "t0")]
    pub threads: Vec<usize>,
    /// Precisions of the MLP's dense products: f32, bf16, bf16x3 (empty: the process's `--precision`).
    #[serde(default)]
    pub precision: Vec<String>,
}

fn h256() -> Vec<usize> {
    vec![256]
}
fn l3() -> Vec<usize> {
    vec![3]
}
fn n128() -> Vec<usize> {
    vec![128]
}
fn s10() -> Vec<usize> {
    vec![10]
}
fn no() -> Vec<bool> {
    vec![false]
}
fn t0() -> Vec<usize> {
    vec![0]
}

/// One grid point.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    /// Stable key of all coordinates.
    pub id: String,
    /// Model shape.
    pub shape: ModelShape,
    /// Batch size.
    pub batch: usize,
    /// Objective with s and replacement set.
    pub objective: Objective,
    /// s (0 for exact objectives and nce).
    pub samples: usize,
    /// ggis-basic without replacement.
    pub without_replacement: bool,
    /// Threads (resolved: never 0).
    pub threads: usize,
    /// Precision of the MLP's dense products (f32 for other models).
    pub precision: Precision,
}

impl Point {
    /// The objective settings of this point.
    pub fn objective_config(&self) -> ObjectiveConfig {
        let mut c = ObjectiveConfig::new(self.objective);
        c.samples = self.samples;
        c.without_replacement = self.without_replacement;
        c
    }
}

/// Parses and validates a config; errors name the key.
pub fn parse(text: &str, origin: &str) -> Result<SweepConfig> {
    let cfg: SweepConfig = toml::from_str(text).map_err(|e| {
        let msg = e.message().to_string();
        let key = e.span().map(|s| text[s].chars().take(40).collect::<String>()).unwrap_or_default();
        Error::config(format!("{origin}{}", if key.is_empty() { String::new() } else { format!(" near `{key}`") }), msg)
    })?;
    validate(&cfg)?;
    Ok(cfg)
}

fn validate(cfg: &SweepConfig) -> Result<()> {
    if cfg.steps == 0 {
        return Err(Error::config("steps", "must be at least 1"));
    }
    if cfg.max_point_seconds.is_nan() || cfg.max_point_seconds <= 0.0 {
        return Err(Error::config("max_point_seconds", "must be positive"));
    }
    if cfg.grid.is_empty() {
        return Err(Error::config("grid", "needs at least one [[grid]] block"));
    }
    for (b, g) in cfg.grid.iter().enumerate() {
        let key = |k: &str, i: usize| format!("grid[{b}].{k}[{i}]");
        let nonempty = |k: &str, len: usize| {
            if len == 0 {
                Err(Error::config(format!("grid[{b}].{k}"), "is empty"))
            } else {
                Ok(())
            }
        };
        nonempty("model", g.model.len())?;
        nonempty("dim", g.dim.len())?;
        nonempty("objective", g.objective.len())?;
        nonempty("hidden", g.hidden.len())?;
        nonempty("layers", g.layers.len())?;
        nonempty("batch", g.batch.len())?;
        nonempty("samples", g.samples.len())?;
        nonempty("threads", g.threads.len())?;
        nonempty("without_replacement", g.without_replacement.len())?;
        for (i, p) in g.precision.iter().enumerate() {
            Precision::parse(p).map_err(|e| Error::config(key("precision", i), e))?;
        }
        for (i, m) in g.model.iter().enumerate() {
            parse_model(m)
                .ok_or_else(|| Error::config(key("model", i), format!("`{m}` is not mlp, rbm or quadratic")))?;
        }
        for (i, o) in g.objective.iter().enumerate() {
            Objective::parse(o)
                .ok_or_else(|| Error::config(key("objective", i), format!("`{o}` is not an objective")))?;
        }
        for (k, list) in [("dim", &g.dim), ("hidden", &g.hidden), ("layers", &g.layers), ("batch", &g.batch)] {
            if let Some(i) = list.iter().position(|&v| v == 0) {
                return Err(Error::config(key(k, i), "0 is not valid"));
            }
        }
        if let Some(i) = g.dim.iter().position(|&v| v > 1 << 16) {
            return Err(Error::config(key("dim", i), format!("{} is larger than 65536", g.dim[i])));
        }
    }
    Ok(())
}

fn parse_model(s: &str) -> Option<ModelKindName> {
    match s {
        "mlp" => Some(ModelKindName::Mlp),
        "rbm" => Some(ModelKindName::Rbm),
        "quadratic" => Some(ModelKindName::Quadratic),
        _ => None,
    }
}

/// All points of the grid, in order, without duplicates (exact objectives ignore s and
/// `without_replacement`, quadratic ignores hidden/layers, rbm ignores layers).
pub fn expand(cfg: &SweepConfig) -> Vec<Point> {
    let all = rayon::current_num_threads().max(1);
    let mut out: Vec<Point> = Vec::new();
    for g in &cfg.grid {
        for m in &g.model {
            let kind = parse_model(m).expect("validated");
            for &hidden in &g.hidden {
                for &layers in &g.layers {
                    for &dim in &g.dim {
                        for &batch in &g.batch {
                            for o in &g.objective {
                                let objective = Objective::parse(o).expect("validated");
                                for &s in &g.samples {
                                    for &wor in &g.without_replacement {
                                        for (&t, prec) in
                                            g.threads.iter().flat_map(|t| precisions(g).map(move |p| (t, p)))
                                        {
                                            let sampled = !matches!(
                                                objective,
                                                Objective::Rm | Objective::RmSigmoid | Objective::Nce
                                            );
                                            let samples = if sampled { s } else { 0 };
                                            let wor = wor && objective == Objective::GgisBasic;
                                            let (hidden, layers) = match kind {
                                                ModelKindName::Quadratic => (0, 0),
                                                ModelKindName::Rbm => (hidden, 0),
                                                ModelKindName::Mlp => (hidden, layers),
                                            };
                                            let threads = if t == 0 { all } else { t };
                                            let precision =
                                                if kind == ModelKindName::Mlp { prec } else { Precision::F32 };
                                            let id = format!(
                                                "{m}-h{hidden}-l{layers}-d{dim}-n{batch}-s{samples}-{o}{}-t{threads}{}",
                                                if wor { "-wor" } else { "" },
                                                match precision {
                                                    Precision::F32 => String::new(),
                                                    p => format!("-{}", p.name()),
                                                }
                                            );
                                            if out.iter().any(|p| p.id == id) {
                                                continue;
                                            }
                                            out.push(Point {
                                                id,
                                                shape: ModelShape { kind, dim, hidden, layers },
                                                batch,
                                                objective,
                                                samples,
                                                without_replacement: wor,
                                                threads,
                                                precision,
                                            });
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    out
}

/// The block's precisions (empty: the process default).
fn precisions(g: &GridBlock) -> impl Iterator<Item = Precision> + '_ {
    let default = [rmbench_kernels::bf16::precision_default()];
    let listed: Vec<Precision> = g.precision.iter().map(|p| Precision::parse(p).expect("validated")).collect();
    if listed.is_empty() { default.to_vec() } else { listed }.into_iter()
}

/// Parses `k/N` (1-based k, 1 ≤ k ≤ N).
pub fn parse_shard(s: &str) -> Result<(usize, usize)> {
    let bad = || Error::config("--shard", format!("`{s}` is not k/N with 1 ≤ k ≤ N"));
    let (k, n) = s.split_once('/').ok_or_else(bad)?;
    let (k, n): (usize, usize) = (k.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
    if n == 0 || k == 0 || k > n {
        return Err(bad());
    }
    Ok((k, n))
}

/// The points of shard k of N: every N-th point starting at k − 1 (round-robin, so shards get
/// similar mixes of cheap and expensive points).
pub fn shard(points: Vec<Point>, k: usize, n: usize) -> Vec<Point> {
    points.into_iter().enumerate().filter(|(i, _)| i % n == k - 1).map(|(_, p)| p).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name = "t"
steps = 2
[[grid]]
model = ["mlp", "quadratic"]
hidden = [8]
layers = [2]
dim = [4, 8]
samples = [1, 3]
objective = ["rm", "ggis-basic"]
"#;

    #[test]
    fn expands_without_duplicates_and_with_stable_ids() {
        let cfg = parse(GOOD, "t.toml").unwrap();
        let pts = expand(&cfg);
        // per model and dim: rm once (s ignored) + ggis-basic for s ∈ {1, 3} = 3.
        assert_eq!(pts.len(), 2 * 2 * 3);
        assert_eq!(expand(&cfg), pts);
        let ids: std::collections::HashSet<_> = pts.iter().map(|p| p.id.clone()).collect();
        assert_eq!(ids.len(), pts.len());
        assert!(pts.iter().any(|p| p.id.starts_with("quadratic-h0-l0-d8-n128-s3-ggis-basic")));
    }

    /// A precision axis multiplies the mlp points (ids end in `-bf16`, `-bf16x3`) and leaves other models alone;
    /// f32 ids keep their old form so existing result files still resume.
    #[test]
    fn precision_axis_applies_to_the_mlp_only() {
        let text = GOOD.replace("[[grid]]", "[[grid]]\nprecision = [\"f32\", \"bf16\"]");
        let pts = expand(&parse(&text, "t").unwrap());
        assert_eq!(pts.len(), 2 * 3 + 2 * 2 * 3);
        assert!(pts
            .iter()
            .filter(|p| p.precision == Precision::Bf16)
            .all(|p| p.id.ends_with("-bf16") && p.shape.kind == ModelKindName::Mlp));
        let f32_ids: Vec<_> = expand(&parse(GOOD, "t").unwrap()).into_iter().map(|p| p.id).collect();
        assert!(f32_ids.iter().all(|id| pts.iter().any(|p| &p.id == id && p.precision == Precision::F32)));
        let e = parse(&GOOD.replace("[[grid]]", "[[grid]]\nprecision = [\"f16\"]"), "t").unwrap_err().to_string();
        assert!(e.contains("grid[0].precision[0]"), "{e}");
        let text = GOOD.replace("[[grid]]", "[[grid]]\nprecision = [\"f32\", \"bf16\", \"bf16x3\"]");
        let pts = expand(&parse(&text, "t").unwrap());
        assert_eq!(pts.len(), 2 * 3 + 3 * 2 * 3);
        let x3: Vec<_> = pts.iter().filter(|p| p.precision == Precision::Bf16x3).collect();
        assert!(
            x3.len() == 2 * 3 && x3.iter().all(|p| p.id.ends_with("-bf16x3") && p.shape.kind == ModelKindName::Mlp)
        );
    }

    #[test]
    fn errors_name_the_key() {
        let e = parse(&GOOD.replace("dim = [4, 8]", "dim = [4, 0]"), "t.toml").unwrap_err().to_string();
        assert!(e.contains("grid[0].dim[1]"), "{e}");
        let e = parse(&GOOD.replace("\"rm\",", "\"rn\","), "t.toml").unwrap_err().to_string();
        assert!(e.contains("grid[0].objective[0]"), "{e}");
        let e = parse(&GOOD.replace("steps = 2", "stepz = 2"), "t.toml").unwrap_err().to_string();
        assert!(e.contains("stepz"), "{e}");
        let e = parse(&GOOD.replace("\"quadratic\"", "\"ising\""), "t.toml").unwrap_err().to_string();
        assert!(e.contains("grid[0].model[1]"), "{e}");
        assert!(parse("name = \"x\"\ngrid = []", "t").unwrap_err().to_string().contains("grid"));
    }

    #[test]
    fn shards_partition_the_grid() {
        let pts = expand(&parse(GOOD, "t").unwrap());
        for n in 1..5 {
            let mut all: Vec<String> = (1..=n).flat_map(|k| shard(pts.clone(), k, n)).map(|p| p.id).collect();
            all.sort();
            let mut want: Vec<String> = pts.iter().map(|p| p.id.clone()).collect();
            want.sort();
            assert_eq!(all, want, "N={n}");
        }
        assert_eq!(parse_shard("2/3").unwrap(), (2, 3));
        for bad in ["0/3", "4/3", "x", "1/0"] {
            assert!(parse_shard(bad).is_err(), "{bad}");
        }
    }
}
