//! The bf16x3 engine of the hidden→hidden products ([`bf16::Precision::Bf16x3`]): the same f32
//! passes (`passes.rs`), with each product aₖ₊₁ = zₖ·Wₖᵀ, dzₖ₋₁ = δₖ·Wₖ₋₁ and ∂Wₖ₋₁ = δₖᵀ·zₖ₋₁
//! run as hi·hi + hi·lo + lo·hi bf16 products ([`bf16::split`]), three times the FLOPs at the
//! AMX rate. Weight packs are split once per parameter generation; the weight-gradient operands
//! per call ([`bf16::weight_grad_x3`]).

use super::Mlp;
use crate::bf16::{self, Order, PackedB};
use crate::dense::{gemm, gemm_seq, Operand};
use rayon::prelude::*;

/// Split packs of the hidden→hidden weights of layers k = 1..L−1: (forward Wₖᵀ, backward Wₖ).
pub(super) type X3Packs = Vec<(PackedB, PackedB)>;

impl Mlp {
    /// bf16x3 products for every hidden→hidden layer (returns whether it is on; off where the
    /// packs would hold fp16, [`bf16::x3_available`]). Turns the bf16 difference path off.
    pub fn set_bf16x3(&mut self, on: bool) -> bool {
        self.x3_packs = None;
        if on && bf16::x3_available() {
            self.bf16_packs = None;
            self.split_weights();
        }
        self.x3_packs.is_some()
    }

    /// The precision the dense products run in.
    pub fn precision(&self) -> bf16::Precision {
        if self.x3_packs.is_some() {
            bf16::Precision::Bf16x3
        } else if self.bf16_packs.is_some() {
            bf16::Precision::Bf16
        } else {
            bf16::Precision::F32
        }
    }

    /// Splits Wₖᵀ and Wₖ of every hidden→hidden layer (in parallel), reusing the old packs.
    pub(super) fn split_weights(&mut self) {
        let h = self.h;
        let mut packs = self.x3_packs.take().unwrap_or_default();
        packs.resize_with(self.layers - 1, Default::default);
        packs.par_iter_mut().enumerate().for_each(|(i, (f, b))| {
            let w = self.w(i + 1);
            rayon::join(|| f.resplit(Operand::t(w, h, h), Order::Rhs), || b.resplit(Operand::new(w, h, h), Order::Rhs));
        });
        self.x3_packs = Some(packs);
    }

    /// out (m × H) ← a·Wₖᵀ (forward into layer k + 1) or a·Wₖ (`backward`, from layer k + 1),
    /// on the calling thread: bf16x3 when on, else f32.
    pub(super) fn hidden_product(&self, out: &mut [f32], m: usize, a: &[f32], k: usize, backward: bool) {
        let h = self.h;
        match &self.x3_packs {
            Some(p) => {
                let (f, b) = &p[k - 1];
                bf16::gemm_x3(out, m, h, a, if backward { b } else { f }, false, false);
            }
            None => {
                let w = if backward { Operand::new(self.w(k), h, h) } else { Operand::t(self.w(k), h, h) };
                gemm_seq(out, m, h, Operand::new(a, m, h), w, 1.0, false);
            }
        }
    }

    /// grad (H × H) += δᵀ·z over m rows (the gradient of the weights from z's layer into δ's):
    /// [`bf16::weight_grad_x3`] when bf16x3 is on, else f32.
    pub(super) fn hidden_weight_grad(&self, grad: &mut [f32], m: usize, delta: &[f32], z: &[f32]) {
        let h = self.h;
        if self.x3_packs.is_none() {
            return gemm(grad, h, h, Operand::t(delta, m, h), Operand::new(z, m, h), 1.0, true);
        }
        bf16::weight_grad_x3(grad, m, h, delta, h, z);
    }
}
