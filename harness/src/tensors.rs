//! f32 tensors in safetensors files: the interchange format for models, energies and gradients.

use crate::error::{write_atomic, Error, Result};
use safetensors::{Dtype, SafeTensors};
use std::collections::HashMap;
use std::path::Path;

/// One named f32 tensor, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    /// safetensors key.
    pub name: String,
    /// Shape.
    pub shape: Vec<usize>,
    /// Row-major values.
    pub data: Vec<f32>,
}

impl Tensor {
    /// A tensor; panics if `shape` does not match `data.len()` (a programming error).
    pub fn new(name: impl Into<String>, shape: Vec<usize>, data: Vec<f32>) -> Self {
        assert_eq!(shape.iter().product::<usize>(), data.len(), "tensor shape/data mismatch");
        Tensor { name: name.into(), shape, data }
    }
}

/// Writes f32 tensors and string metadata to a safetensors file (atomically).
pub fn write_tensors(path: &Path, tensors: &[Tensor], metadata: &[(String, String)]) -> Result<()> {
    let bytes: Vec<Vec<u8>> = tensors.iter().map(|t| t.data.iter().flat_map(|v| v.to_le_bytes()).collect()).collect();
    let views = tensors
        .iter()
        .zip(&bytes)
        .map(|(t, b)| {
            safetensors::tensor::TensorView::new(Dtype::F32, t.shape.clone(), b)
                .map(|v| (t.name.clone(), v))
                .map_err(|e| Error::file(path, format!("tensor `{}`: {e}", t.name)))
        })
        .collect::<Result<Vec<_>>>()?;
    let meta: HashMap<String, String> = metadata.iter().cloned().collect();
    let buf = safetensors::serialize(views, Some(meta)).map_err(|e| Error::file(path, e))?;
    write_atomic(path, &buf)
}

/// Reads every tensor of a safetensors file as f32 (F32 only), with its metadata.
pub fn read_tensors(path: &Path) -> Result<(Vec<Tensor>, HashMap<String, String>)> {
    let buf = std::fs::read(path).map_err(|e| Error::file(path, e))?;
    let st = SafeTensors::deserialize(&buf).map_err(|e| Error::file(path, format!("not a safetensors file: {e}")))?;
    let (_, meta) = SafeTensors::read_metadata(&buf).map_err(|e| Error::file(path, e))?;
    let mut out = Vec::new();
    for (name, view) in st.tensors() {
        if view.dtype() != Dtype::F32 {
            return Err(Error::file(path, format!("tensor `{name}` has dtype {:?}, expected F32", view.dtype())));
        }
        let data: Vec<f32> =
            view.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        out.push(Tensor { name, shape: view.shape().to_vec(), data });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok((out, meta.metadata().clone().unwrap_or_default()))
}
