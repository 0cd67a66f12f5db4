//! MLP energy (placeholder until implemented).
use super::TensorSpec;
/// MLP energy.
#[derive(Clone, Debug)]
pub struct Mlp {
    #[allow(dead_code)]
    tensors: Vec<TensorSpec>,
}
