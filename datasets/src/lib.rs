//! rmbench-datasets: the binary data rmbench learns from.
//!
//! Seeded random streams ([`rng`]), the seven 2-D toy distributions ([`toy`]) quantized to d bits
//! with Gray code ([`gray`]), Ising lattice samples with their true couplings ([`ising`]), binarized
//! MNIST from `../shared/data`, and readers/writers for users' own files ([`io`]). Everything is a
//! [`rmbench_kernels::BitBatch`]. A dataset is named by a spec string, see [`load`].

pub mod gray;
pub mod io;
pub mod ising;
pub mod rng;
pub mod toy;

use rmbench_kernels::BitBatch;
use std::path::{Path, PathBuf};

/// Errors from generating or reading data. Display is one line naming the file (and line and column).
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum DataError {
    /// A problem with a whole file.
    #[error("{path}: {msg}")]
    File {
        /// The file.
        path: String,
        /// What is wrong.
        msg: String,
    },
    /// A problem at a line and column of a text file.
    #[error("{path}:{line}:{col}: {msg}")]
    At {
        /// The file.
        path: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        col: usize,
        /// What is wrong.
        msg: String,
    },
    /// A bad dataset spec or parameter.
    #[error("{0}")]
    Spec(String),
}

/// A generated or loaded dataset.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// The samples.
    pub x: BitBatch,
    /// For Ising data: the true J (d × d) of rmbench's quadratic model.
    pub true_j: Option<Vec<f32>>,
    /// For toy data: the distribution and its quantizer (to decode samples to the plane).
    pub toy: Option<(toy::Toy, gray::Quantizer)>,
}

/// The folder of the project's shared reference data: `$RMBENCH_DATA_DIR`, else `../shared/data`
/// from the current folder or from the workspace root.
pub fn shared_data_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("RMBENCH_DATA_DIR") {
        return Some(PathBuf::from(d));
    }
    let candidates = [PathBuf::from("../shared/data"), Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data")];
    candidates.into_iter().find(|p| p.is_dir())
}

/// Binarized MNIST (5000 × 784) from the shared data folder.
pub fn mnist() -> Result<BitBatch, DataError> {
    let dir = shared_data_dir()
        .ok_or_else(|| DataError::Spec("MNIST needs ../shared/data (or RMBENCH_DATA_DIR); not found".into()))?;
    let x = io::read_text(&dir.join("mnist5k-binarized.txt"))?;
    if x.d() != 784 {
        return Err(DataError::File {
            path: dir.join("mnist5k-binarized.txt").display().to_string(),
            msg: format!("expected 784 bits per line, found {}", x.d()),
        });
    }
    Ok(x)
}

fn parse_kv(spec: &str, body: &str) -> Result<Vec<(String, String)>, DataError> {
    body.split(',')
        .filter(|s| !s.is_empty())
        .map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .ok_or_else(|| DataError::Spec(format!("dataset `{spec}`: expected key=value, got `{kv}`")))
        })
        .collect()
}

/// Generates or loads a dataset from a spec:
/// - a toy name (`2spirals`, `8gaussians`, `circles`, `moons`, `pinwheel`, `swissroll`,
///   `checkerboard`): n points quantized to `dim` bits (even, default 32);
/// - `ising:L=10,sigma=0.25[,chains=20,burnin=1000000,thin=10]`: n lattice samples, true J kept;
/// - `mnist`: the shared binarized MNIST (all 5000 rows, d = 784);
/// - `file:PATH` or an existing path: a text or `.npy` file.
///
/// `dim`, when given, must match the data's d for files, MNIST and Ising.
pub fn load(spec: &str, dim: Option<usize>, n: usize, seed: u64) -> Result<Dataset, DataError> {
    let check_dim = |x: &BitBatch| -> Result<(), DataError> {
        match dim {
            Some(d) if d != x.d() => {
                Err(DataError::Spec(format!("dataset `{spec}` has d = {} but d = {d} was requested", x.d())))
            }
            _ => Ok(()),
        }
    };
    if let Some(t) = toy::Toy::parse(spec) {
        let d = dim.unwrap_or(32);
        let q = gray::Quantizer::for_toy(t, d)?;
        let pts = toy::sample_2d(t, n, &mut rng::Stream::new(seed, 0x70));
        return Ok(Dataset { x: q.encode(&pts), true_j: None, toy: Some((t, q)) });
    }
    if spec == "mnist" {
        let x = mnist()?;
        check_dim(&x)?;
        return Ok(Dataset { x, true_j: None, toy: None });
    }
    if let Some(body) = spec.strip_prefix("ising") {
        let body = body.strip_prefix(':').unwrap_or(body);
        let mut lat = ising::IsingLattice { l: 10, sigma: 0.25 };
        let mut sched = ising::GibbsSchedule::default();
        for (k, v) in parse_kv(spec, body)? {
            let bad = |what: &str| DataError::Spec(format!("dataset `{spec}`: {k}={v} is not {what}"));
            match k.as_str() {
                "L" | "l" => lat.l = v.parse().ok().filter(|&l| l >= 2).ok_or_else(|| bad("an integer ≥ 2"))?,
                "sigma" => lat.sigma = v.parse().ok().filter(|s: &f64| s.is_finite()).ok_or_else(|| bad("a number"))?,
                "chains" => {
                    sched.chains = v.parse().ok().filter(|&c| c > 0).ok_or_else(|| bad("a positive integer"))?
                }
                "burnin" => sched.burn_in_steps = v.parse().map_err(|_| bad("an integer"))?,
                "thin" => {
                    sched.thin_sweeps = v.parse().ok().filter(|&t| t > 0).ok_or_else(|| bad("a positive integer"))?
                }
                _ => {
                    return Err(DataError::Spec(format!(
                        "dataset `{spec}`: unknown key `{k}` (L, sigma, chains, burnin, thin)"
                    )))
                }
            }
        }
        let x = lat.sample(n, sched, seed);
        check_dim(&x)?;
        return Ok(Dataset { x, true_j: Some(lat.true_j()), toy: None });
    }
    let path = spec.strip_prefix("file:").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(spec));
    if spec.starts_with("file:") || path.exists() {
        let x = io::read_file(&path)?;
        check_dim(&x)?;
        return Ok(Dataset { x, true_j: None, toy: None });
    }
    let toys: Vec<&str> = toy::Toy::ALL.iter().map(|t| t.name()).collect();
    Err(DataError::Spec(format!(
        "unknown dataset `{spec}` (expected {}, ising:L=..,sigma=.., mnist, or file:PATH)",
        toys.join(", ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_generate() {
        let ds = load("moons", Some(16), 50, 1).unwrap();
        assert_eq!((ds.x.n(), ds.x.d()), (50, 16));
        assert!(ds.toy.is_some());
        let ds = load("ising:L=4,sigma=0.2,burnin=1000", None, 10, 1).unwrap();
        assert_eq!(ds.x.d(), 16);
        assert_eq!(ds.true_j.unwrap().len(), 256);
        assert!(load("ising:L=4,foo=1", None, 10, 1).unwrap_err().to_string().contains("unknown key `foo`"));
        assert!(load("ising:L=4", Some(10), 10, 1).unwrap_err().to_string().contains("d = 16"));
        assert!(load("nope", None, 10, 1).unwrap_err().to_string().contains("unknown dataset `nope`"));
        assert!(load("file:/nonexistent.txt", None, 10, 1).is_err());
    }

    #[test]
    fn mnist_loads_when_the_shared_folder_is_present() {
        let Some(dir) = shared_data_dir().filter(|d| d.join("mnist5k-binarized.txt").exists()) else {
            eprintln!("skipping: shared data folder with mnist5k-binarized.txt not found");
            return;
        };
        let x = mnist().unwrap();
        assert_eq!((x.n(), x.d()), (5000, 784));
        let ones: u64 = x.popcount_rows().iter().map(|&v| v as u64).sum();
        let frac = ones as f64 / (5000.0 * 784.0);
        assert!((frac - 0.133).abs() < 0.01, "{frac} ({})", dir.display());
    }
}
