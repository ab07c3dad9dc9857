//! PyTorch's default initialisers, drawn from our own `Rng`.
//!
//! The distributions are PyTorch's, so a model trained here starts where a
//! PyTorch one would; the values cannot be (a different generator), but a seed
//! gives the same values on every platform. Each function draws its tensors in
//! the order PyTorch's module constructor does (weight, then bias).

use crate::error::{Error, Result};
use crate::rng::Rng;
use crate::tensor::Tensor;

/// PyTorch's `kaiming_uniform_(a=√5)` bound: gain·√(3/fan_in) with
/// gain = √(2/(1+a²)) = √(1/3), i.e. 1/√fan_in. PyTorch uses the same bound
/// for biases. A zero fan-in (an empty tensor) gets bound 0 rather than ∞.
fn fan_in_bound(fan_in: usize) -> f32 {
    if fan_in == 0 {
        0.0
    } else {
        (1.0 / (fan_in as f64).sqrt()) as f32
    }
}

/// `nn.Linear(in, out)`: weight `[out, in]` and bias `[out]`, both
/// U(−1/√in, 1/√in).
pub fn linear(out_features: usize, in_features: usize, rng: &mut Rng) -> (Tensor, Tensor) {
    let b = fan_in_bound(in_features);
    let weight = Tensor::uniform(&[out_features, in_features], -b, b, rng);
    let bias = Tensor::uniform(&[out_features], -b, b, rng);
    (weight, bias)
}

/// `nn.Conv1d(in, out, width)`: weight `[out, in, width]` and bias `[out]`,
/// both U(−1/√(in·width), 1/√(in·width)).
pub fn conv1d(out_channels: usize, in_channels: usize, width: usize, rng: &mut Rng) -> (Tensor, Tensor) {
    let b = fan_in_bound(in_channels * width);
    let weight = Tensor::uniform(&[out_channels, in_channels, width], -b, b, rng);
    let bias = Tensor::uniform(&[out_channels], -b, b, rng);
    (weight, bias)
}

/// One tensor of `nn.LSTM(hidden_size = hidden)`: every weight and bias is
/// U(−1/√H, 1/√H), whatever its shape (`[4H, in]`, `[4H, H]` or `[4H]`).
pub fn lstm(hidden: usize, shape: &[usize], rng: &mut Rng) -> Tensor {
    let b = fan_in_bound(hidden);
    Tensor::uniform(shape, -b, b, rng)
}

/// `nn.Embedding(num, dim, padding_idx)`: `[num, dim]` drawn from N(0, 1),
/// with the padding row set to exactly zero.
pub fn embedding(num: usize, dim: usize, padding_idx: Option<usize>, rng: &mut Rng) -> Result<Tensor> {
    let mut weight = Tensor::randn(&[num, dim], 1.0, rng);
    if let Some(pad) = padding_idx {
        if pad >= num {
            return Err(Error::IndexOutOfRange { op: "embedding init (padding_idx)", index: pad, size: num });
        }
        weight.data_mut()[pad * dim..(pad + 1) * dim].fill(0.0);
    }
    Ok(weight)
}
