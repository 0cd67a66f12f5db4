//! Building, saving and loading models (safetensors, metadata `model` = mlp | rbm | quadratic).
//!
//! Layouts (all f32, PyTorch conventions): mlp `layers.{k}.weight` [out, in], `layers.{k}.bias`
//! [out], `swish.beta` [1]; rbm `W` [H, d], `b` [d], `c` [H]; quadratic `J` [d, d], `h` [d].

use crate::error::{Error, Result};
use crate::tensors::{read_tensors, write_tensors, Tensor};
use rmbench_kernels::{EnergyModel, Mlp, ModelKind, Quadratic, Rbm};
use std::path::Path;

/// The shape of a model to build.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ModelShape {
    /// Which energy.
    pub kind: ModelKindName,
    /// Input dimension d.
    pub dim: usize,
    /// Hidden width H (mlp, rbm).
    pub hidden: usize,
    /// Hidden layers L (mlp).
    pub layers: usize,
}

/// A serde-friendly [`ModelKind`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKindName {
    /// Quadratic / Ising.
    Quadratic,
    /// RBM free energy.
    Rbm,
    /// MLP with Swish.
    Mlp,
}

impl From<ModelKindName> for ModelKind {
    fn from(k: ModelKindName) -> ModelKind {
        match k {
            ModelKindName::Quadratic => ModelKind::Quadratic,
            ModelKindName::Rbm => ModelKind::Rbm,
            ModelKindName::Mlp => ModelKind::Mlp,
        }
    }
}

impl From<ModelKind> for ModelKindName {
    fn from(k: ModelKind) -> ModelKindName {
        match k {
            ModelKind::Quadratic => ModelKindName::Quadratic,
            ModelKind::Rbm => ModelKindName::Rbm,
            ModelKind::Mlp => ModelKindName::Mlp,
        }
    }
}

/// A freshly initialized model: mlp with PyTorch's default init, rbm with W ~ U(±0.01), quadratic
/// with J = 0, h = 0 (the uniform distribution).
pub fn new_model(shape: ModelShape, seed: u64) -> Box<dyn EnergyModel> {
    match shape.kind {
        ModelKindName::Quadratic => Box::new(Quadratic::zeros(shape.dim)),
        ModelKindName::Rbm => Box::new(Rbm::random(shape.dim, shape.hidden, 0.01, seed)),
        ModelKindName::Mlp => Box::new(Mlp::new(shape.dim, shape.hidden, shape.layers, seed)),
    }
}

/// A flat vector in the model's storage layout (parameters or a gradient) as named tensors in
/// interchange layout.
pub fn flat_to_tensors(model: &dyn EnergyModel, flat: &[f32]) -> Vec<Tensor> {
    model
        .tensors()
        .iter()
        .map(|t| {
            let p = &flat[t.range()];
            let data = if t.transposed {
                let (r, c) = (t.shape[0], t.shape[1]);
                (0..r * c).map(|k| p[(k % c) * r + k / c]).collect()
            } else {
                p.to_vec()
            };
            Tensor::new(t.name.clone(), t.shape.clone(), data)
        })
        .collect()
}

/// The model's parameters as named tensors in interchange layout.
pub fn model_tensors(model: &dyn EnergyModel) -> Vec<Tensor> {
    flat_to_tensors(model, model.params())
}

/// Saves a model with metadata `model` = kind plus the model's own settings and `extra`.
pub fn save_model(path: &Path, model: &dyn EnergyModel, extra: &[(String, String)]) -> Result<()> {
    let mut meta = vec![("model".to_string(), model.kind().name().to_string())];
    meta.extend(model.metadata());
    meta.extend(extra.iter().cloned());
    write_tensors(path, &model_tensors(model), &meta)
}

fn find<'a>(path: &Path, ts: &'a [Tensor], name: &str) -> Result<&'a Tensor> {
    ts.iter().find(|t| t.name == name).ok_or_else(|| Error::file(path, format!("missing tensor `{name}`")))
}

fn dim_of(path: &Path, t: &Tensor, axis: usize) -> Result<usize> {
    t.shape.get(axis).copied().ok_or_else(|| {
        Error::file(
            path,
            format!("tensor `{}` has shape {:?}, expected at least {} dimensions", t.name, t.shape, axis + 1),
        )
    })
}

/// Loads a model, checking names, shapes, finiteness and the model's constraints.
pub fn load_model(path: &Path) -> Result<Box<dyn EnergyModel>> {
    let (ts, meta) = read_tensors(path)?;
    let kind_s = meta.get("model").ok_or_else(|| Error::file(path, "metadata has no `model` key"))?;
    let kind = ModelKind::parse(kind_s)
        .ok_or_else(|| Error::file(path, format!("unknown model `{kind_s}` (expected mlp, rbm or quadratic)")))?;
    let shape = match kind {
        ModelKind::Quadratic => {
            ModelShape { kind: kind.into(), dim: dim_of(path, find(path, &ts, "h")?, 0)?, hidden: 0, layers: 0 }
        }
        ModelKind::Rbm => {
            let w = find(path, &ts, "W")?;
            ModelShape { kind: kind.into(), dim: dim_of(path, w, 1)?, hidden: dim_of(path, w, 0)?, layers: 0 }
        }
        ModelKind::Mlp => {
            if let Some(act) = meta.get("activation") {
                if act != "swish" {
                    return Err(Error::file(path, format!("activation `{act}` is not supported (only swish)")));
                }
            }
            let w0 = find(path, &ts, "layers.0.weight")?;
            let n_weights = ts.iter().filter(|t| t.name.starts_with("layers.") && t.name.ends_with(".weight")).count();
            if n_weights < 2 {
                return Err(Error::file(path, "an mlp needs at least layers.0 and an output layer"));
            }
            ModelShape {
                kind: kind.into(),
                dim: dim_of(path, w0, 1)?,
                hidden: dim_of(path, w0, 0)?,
                layers: n_weights - 1,
            }
        }
    };
    let mut model = new_model(shape, 0);
    let specs = model.tensors().to_vec();
    for t in &ts {
        if !specs.iter().any(|s| s.name == t.name) {
            return Err(Error::file(path, format!("unexpected tensor `{}` for a {} model", t.name, kind.name())));
        }
    }
    for spec in &specs {
        let t = find(path, &ts, &spec.name)?;
        if t.shape != spec.shape {
            return Err(Error::file(
                path,
                format!("tensor `{}` has shape {:?}, expected {:?}", t.name, t.shape, spec.shape),
            ));
        }
        if let Some(k) = t.data.iter().position(|v| !v.is_finite()) {
            return Err(Error::file(path, format!("tensor `{}` element {k} is {}", t.name, t.data[k])));
        }
        let dst = &mut model.params_mut()[spec.range()];
        if spec.transposed {
            let (r, c) = (spec.shape[0], spec.shape[1]);
            for i in 0..r {
                for j in 0..c {
                    dst[j * r + i] = t.data[i * c + j];
                }
            }
        } else {
            dst.copy_from_slice(&t.data);
        }
    }
    let before = model.params().to_vec();
    model.params_changed();
    if let Some(k) = before.iter().zip(model.params()).position(|(a, b)| (a - b).abs() > 1e-5 * a.abs().max(1.0)) {
        let spec = specs.iter().find(|s| s.range().contains(&k)).expect("every parameter belongs to a tensor");
        return Err(Error::file(
            path,
            format!(
                "tensor `{}` violates the model's constraints at element {} (J must be symmetric with a zero diagonal)",
                spec.name,
                k - spec.offset
            ),
        ));
    }
    Ok(model)
}
