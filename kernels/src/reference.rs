//! Plain scalar versions of every kernel: the definition of "correct".
//!
//! Model kernels are built from one f64 function per model, [`eval`], which evaluates E(x) at a
//! real-valued x with its gradients ∂E/∂x and ∂E/∂θ by textbook backpropagation, reading the
//! parameters through their public [`TensorSpec`] names (independent of how the fast paths store
//! them). ΔE is brute-force re-evaluation. Slow on purpose; benches time it beside the fast paths.

use crate::bits::{for_each_one, BitBatch};
use crate::model::{EnergyModel, ModelKind, TensorSpec};

/// Σ popcount(row).
pub fn popcount(row: &[u64]) -> u32 {
    row.iter().map(|w| w.count_ones()).sum()
}

/// Σ popcount(a ⊕ b).
pub fn hamming(a: &[u64], b: &[u64]) -> u32 {
    a.iter().zip(b).map(|(x, y)| (x ^ y).count_ones()).sum()
}

/// `out[c] += Σ_{set j} table[j·width + c]`.
pub fn gather_add(row: &[u64], table: &[f32], width: usize, out: &mut [f32]) {
    gather_add_strided(row, table, width, width, out);
}

/// out[c] += Σ_{set j} table[j·stride + c] for c < width.
pub fn gather_add_strided(row: &[u64], table: &[f32], stride: usize, width: usize, out: &mut [f32]) {
    for_each_one(row, |j| {
        for c in 0..width {
            out[c] += table[j * stride + c];
        }
    });
}

/// A model tensor read in its interchange layout as f64, row-major over `shape`.
pub fn tensor_f64(model: &dyn EnergyModel, name: &str) -> (Vec<usize>, Vec<f64>) {
    let t: &TensorSpec =
        model.tensors().iter().find(|t| t.name == name).unwrap_or_else(|| panic!("model has no tensor {name}"));
    let p = &model.params()[t.range()];
    let mut out: Vec<f64> = p.iter().map(|&v| v as f64).collect();
    if t.transposed {
        let (r, c) = (t.shape[0], t.shape[1]);
        for i in 0..r {
            for j in 0..c {
                out[i * c + j] = p[j * r + i] as f64;
            }
        }
    }
    (t.shape.clone(), out)
}

/// Scatters per-tensor gradients (interchange layout) into a flat gradient in storage layout.
fn scatter(model: &dyn EnergyModel, grads: &[(&str, Vec<f64>)]) -> Vec<f64> {
    let mut flat = vec![0f64; model.num_params()];
    for (name, g) in grads {
        let t = model.tensors().iter().find(|t| t.name == *name).expect("tensor");
        if t.transposed {
            let (r, c) = (t.shape[0], t.shape[1]);
            for i in 0..r {
                for j in 0..c {
                    flat[t.offset + j * r + i] = g[i * c + j];
                }
            }
        } else {
            flat[t.range()].copy_from_slice(g);
        }
    }
    flat
}

/// Energy, input gradient and flat parameter gradient at a real-valued x, in f64.
pub struct Eval {
    /// E(x).
    pub energy: f64,
    /// ∂E/∂x.
    pub input_grad: Vec<f64>,
    /// ∂E/∂θ in the model's flat storage layout.
    pub param_grad: Vec<f64>,
}

/// E(x), ∂E/∂x and ∂E/∂θ at real x by the textbook formulas.
pub fn eval(model: &dyn EnergyModel, x: &[f64]) -> Eval {
    match model.kind() {
        ModelKind::Quadratic => eval_quadratic(model, x),
        ModelKind::Rbm => eval_rbm(model, x),
        ModelKind::Mlp => eval_mlp(model, x),
    }
}

fn eval_quadratic(model: &dyn EnergyModel, x: &[f64]) -> Eval {
    let d = x.len();
    let (_, j) = tensor_f64(model, "J");
    let (_, h) = tensor_f64(model, "h");
    let s: Vec<f64> = x.iter().map(|&v| 2.0 * v - 1.0).collect();
    let mut e = 0.0;
    let mut ds = vec![0f64; d];
    let mut gj = vec![0f64; d * d];
    for a in 0..d {
        for b in 0..d {
            e -= 0.5 * j[a * d + b] * s[a] * s[b];
            ds[a] -= 0.5 * (j[a * d + b] + j[b * d + a]) * s[b];
            gj[a * d + b] = -0.5 * s[a] * s[b];
        }
        e -= h[a] * s[a];
        ds[a] -= h[a];
    }
    let gx = ds.iter().map(|v| 2.0 * v).collect();
    let gh = s.iter().map(|v| -v).collect();
    Eval { energy: e, input_grad: gx, param_grad: scatter(model, &[("J", gj), ("h", gh)]) }
}

fn softplus(z: f64) -> f64 {
    z.max(0.0) + (-z.abs()).exp().ln_1p()
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

fn eval_rbm(model: &dyn EnergyModel, x: &[f64]) -> Eval {
    let d = x.len();
    let (shape, w) = tensor_f64(model, "W");
    let (_, b) = tensor_f64(model, "b");
    let (_, c) = tensor_f64(model, "c");
    let hn = shape[0];
    let mut e = -(0..d).map(|i| b[i] * x[i]).sum::<f64>();
    let mut gx: Vec<f64> = b.iter().map(|v| -v).collect();
    let mut gw = vec![0f64; hn * d];
    let mut gc = vec![0f64; hn];
    for k in 0..hn {
        let a = c[k] + (0..d).map(|i| w[k * d + i] * x[i]).sum::<f64>();
        e -= softplus(a);
        let sg = sigmoid(a);
        gc[k] = -sg;
        for i in 0..d {
            gx[i] -= sg * w[k * d + i];
            gw[k * d + i] = -sg * x[i];
        }
    }
    let gb = x.iter().map(|v| -v).collect();
    Eval { energy: e, input_grad: gx, param_grad: scatter(model, &[("W", gw), ("b", gb), ("c", gc)]) }
}

fn eval_mlp(model: &dyn EnergyModel, x: &[f64]) -> Eval {
    let n_layers = model.tensors().iter().filter(|t| t.name.ends_with(".weight")).count();
    let (_, beta) = tensor_f64(model, "swish.beta");
    let beta = beta[0];
    let mut ws = Vec::new();
    let mut bs = Vec::new();
    for k in 0..n_layers {
        ws.push(tensor_f64(model, &format!("layers.{k}.weight")));
        bs.push(tensor_f64(model, &format!("layers.{k}.bias")).1);
    }
    // Forward: inputs[k] feeds layer k; pre[k] = W_k·inputs[k] + b_k.
    let mut inputs = vec![x.to_vec()];
    let mut pre = Vec::new();
    for k in 0..n_layers {
        let (shape, w) = &ws[k];
        let (o, i_n) = (shape[0], shape[1]);
        let inp = &inputs[k];
        let a: Vec<f64> = (0..o).map(|r| bs[k][r] + (0..i_n).map(|c| w[r * i_n + c] * inp[c]).sum::<f64>()).collect();
        if k + 1 < n_layers {
            inputs.push(a.iter().map(|&v| v * sigmoid(beta * v)).collect());
        }
        pre.push(a);
    }
    let energy = pre[n_layers - 1][0];
    // Backward.
    let mut grads: Vec<(String, Vec<f64>)> = Vec::new();
    let mut g_beta = 0.0;
    let mut delta = vec![1.0f64]; // ∂E/∂pre[last]
    let mut gx = Vec::new();
    for k in (0..n_layers).rev() {
        let (shape, w) = &ws[k];
        let (o, i_n) = (shape[0], shape[1]);
        let inp = &inputs[k];
        let mut gw = vec![0f64; o * i_n];
        for r in 0..o {
            for c in 0..i_n {
                gw[r * i_n + c] = delta[r] * inp[c];
            }
        }
        grads.push((format!("layers.{k}.weight"), gw));
        grads.push((format!("layers.{k}.bias"), delta.clone()));
        let g_in: Vec<f64> = (0..i_n).map(|c| (0..o).map(|r| delta[r] * w[r * i_n + c]).sum()).collect();
        if k == 0 {
            gx = g_in;
        } else {
            // inputs[k] = swish(pre[k-1]).
            let a = &pre[k - 1];
            delta = (0..i_n)
                .map(|c| {
                    let s = sigmoid(beta * a[c]);
                    g_beta += g_in[c] * a[c] * a[c] * s * (1.0 - s);
                    g_in[c] * (s + beta * a[c] * s * (1.0 - s))
                })
                .collect();
        }
    }
    grads.push(("swish.beta".to_string(), vec![g_beta]));
    let refs: Vec<(&str, Vec<f64>)> = grads.iter().map(|(n, g)| (n.as_str(), g.clone())).collect();
    Eval { energy, input_grad: gx, param_grad: scatter(model, &refs) }
}

fn row_f64(x: &BitBatch, r: usize) -> Vec<f64> {
    (0..x.d()).map(|i| x.get(r, i) as u8 as f64).collect()
}

/// `E(x_r)` for every row.
pub fn energy(model: &dyn EnergyModel, x: &BitBatch) -> Vec<f64> {
    (0..x.n()).map(|r| eval(model, &row_f64(x, r)).energy).collect()
}

/// ΔEᵢ(x_r) by re-evaluating E at every flipped point: n × d.
pub fn delta_all(model: &dyn EnergyModel, x: &BitBatch) -> Vec<f64> {
    let d = x.d();
    let mut out = Vec::with_capacity(x.n() * d);
    for r in 0..x.n() {
        let mut v = row_f64(x, r);
        let e0 = eval(model, &v).energy;
        for i in 0..d {
            v[i] = 1.0 - v[i];
            out.push(eval(model, &v).energy - e0);
            v[i] = 1.0 - v[i];
        }
    }
    out
}

/// ΔE at chosen bits: n × s with s = idx.len()/n.
pub fn delta_at(model: &dyn EnergyModel, x: &BitBatch, idx: &[u32]) -> Vec<f64> {
    let s = if x.n() == 0 { 0 } else { idx.len() / x.n() };
    let mut out = Vec::with_capacity(idx.len());
    for r in 0..x.n() {
        let mut v = row_f64(x, r);
        let e0 = eval(model, &v).energy;
        for &i in &idx[r * s..(r + 1) * s] {
            let i = i as usize;
            v[i] = 1.0 - v[i];
            out.push(eval(model, &v).energy - e0);
            v[i] = 1.0 - v[i];
        }
    }
    out
}

/// ∂E/∂x at every row: n × d.
pub fn input_grad(model: &dyn EnergyModel, x: &BitBatch) -> Vec<f64> {
    (0..x.n()).flat_map(|r| eval(model, &row_f64(x, r)).input_grad).collect()
}

/// Σ_r w_base[r]·∇θE(x_r) + Σ_{r,j} w_flip[r·s+j]·∇θE(x_r ⊕ e_{idx[r·s+j]}), materialized.
pub fn param_grad(model: &dyn EnergyModel, x: &BitBatch, w_base: &[f32], idx: &[u32], w_flip: &[f32]) -> Vec<f64> {
    let s = if x.n() == 0 { 0 } else { idx.len() / x.n() };
    let mut g = vec![0f64; model.num_params()];
    let mut add = |v: &[f64], w: f32| {
        if w != 0.0 {
            for (gk, pk) in g.iter_mut().zip(eval(model, v).param_grad) {
                *gk += w as f64 * pk;
            }
        }
    };
    for r in 0..x.n() {
        let mut v = row_f64(x, r);
        add(&v, w_base[r]);
        for j in 0..s {
            let i = idx[r * s + j] as usize;
            v[i] = 1.0 - v[i];
            add(&v, w_flip[r * s + j]);
            v[i] = 1.0 - v[i];
        }
    }
    g
}
