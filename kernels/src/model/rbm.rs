//! RBM free energy (placeholder until implemented).
use super::TensorSpec;
/// Binary RBM free energy.
#[derive(Clone, Debug)]
pub struct Rbm {
    #[allow(dead_code)]
    tensors: Vec<TensorSpec>,
}
