//! The CPU device's coarse layers: the tape's own ops (`lstm_layer`,
//! `char_conv_features`, `linear`) on host values. The backward runs the
//! forward again on a fresh tape and back-propagates `g` from its output,
//! so the CPU device keeps nothing between the two calls.

use super::{CharConvShape, ConvKernel, LayerGrads, LstmParams, LstmShape, Saved, Storage, WordConvArgs};
use crate::error::Result;
use crate::ops::LstmWeights;
use crate::tape::{Tape, Var};
use crate::tensor::Tensor;

fn host<'a>(op: &'static str, s: &'a Storage) -> Result<&'a [f32]> {
    match s {
        Storage::Cpu(v) => Ok(v),
        other => Err(super::wrong_place(op, other, "cpu")),
    }
}

fn leaf(tape: &Tape, op: &'static str, s: &Storage, shape: &[usize]) -> Result<Var> {
    Ok(tape.leaf(Tensor::new(shape, host(op, s)?.to_vec())?))
}

/// The LSTM layer on `tape`: (x, weights, output).
fn lstm_on(
    tape: &Tape,
    x: &Storage,
    w: LstmParams<'_>,
    lengths: &[usize],
    s: LstmShape,
) -> Result<(Var, LstmWeights, Var)> {
    const OP: &str = "lstm";
    let (g4, h) = (4 * s.hidden, s.hidden);
    let xv = leaf(tape, OP, x, &[s.batch, s.steps, s.n_in])?;
    let lw = LstmWeights {
        w_ih: leaf(tape, OP, w.w_ih, &[g4, s.n_in])?,
        w_hh: leaf(tape, OP, w.w_hh, &[g4, h])?,
        b_ih: leaf(tape, OP, w.bias, &[g4])?,
        b_hh: tape.leaf(Tensor::zeros(&[g4])),
    };
    let y = tape.lstm_layer(xv, lw, lengths, s.reverse)?;
    Ok((xv, lw, y))
}

pub(super) fn lstm_fwd(x: &Storage, w: LstmParams<'_>, lengths: &[usize], s: LstmShape) -> Result<(Storage, Saved)> {
    s.check("lstm_fwd", x, w, lengths)?;
    let tape = Tape::no_grad();
    let (_, _, y) = lstm_on(&tape, x, w, lengths, s)?;
    Ok((Storage::Cpu(tape.value(y)?.into_vec()), Saved::default()))
}

/// The gradients of everything on `tape` from dLoss/dy = `g`.
fn backward_of(tape: Tape, y: Var, g: &Storage, op: &'static str) -> Result<crate::tape::Gradients> {
    let shape = tape.shape(y)?;
    tape.backward_with(y, Tensor::new(&shape, host(op, g)?.to_vec())?)
}

fn grad_of(grads: &crate::tape::Gradients, v: Var, len: usize) -> Storage {
    Storage::Cpu(grads.get(v).map(|t| t.data().to_vec()).unwrap_or_else(|| vec![0.0; len]))
}

pub(super) fn lstm_bwd(
    x: &Storage,
    w: LstmParams<'_>,
    lengths: &[usize],
    s: LstmShape,
    gy: &Storage,
    need_w: bool,
) -> Result<LayerGrads> {
    s.check("lstm_bwd", x, w, lengths)?;
    super::expect_len("lstm_bwd", "gy", gy.len(), s.out_len())?;
    let tape = Tape::new();
    let (xv, lw, y) = lstm_on(&tape, x, w, lengths, s)?;
    let grads = backward_of(tape, y, gy, "lstm_bwd")?;
    let weights = need_w.then(|| {
        vec![
            grad_of(&grads, lw.w_ih, w.w_ih.len()),
            grad_of(&grads, lw.w_hh, w.w_hh.len()),
            grad_of(&grads, lw.b_ih, w.bias.len()),
        ]
    });
    Ok(LayerGrads { dx: grad_of(&grads, xv, x.len()), weights })
}

/// Per kernel width, its weight and bias on a tape.
type KernelVars = Vec<(Var, Var)>;

/// The char-CNN features on `tape`: (x, per kernel (weight, bias), output).
fn char_conv_on(
    tape: &Tape,
    x: &Storage,
    s: CharConvShape,
    kernels: &[ConvKernel<'_>],
) -> Result<(Var, KernelVars, Var)> {
    const OP: &str = "char_conv";
    let xv = leaf(tape, OP, x, &[s.words, s.positions, s.dim])?;
    let ks = kernels
        .iter()
        .map(|k| Ok((leaf(tape, OP, k.weight, &[k.filters, s.dim, k.width])?, leaf(tape, OP, k.bias, &[k.filters])?)))
        .collect::<Result<Vec<_>>>()?;
    let y = tape.char_conv_features(xv, &ks)?;
    Ok((xv, ks, y))
}

pub(super) fn char_conv_fwd(x: &Storage, s: CharConvShape, kernels: &[ConvKernel<'_>]) -> Result<(Storage, Saved)> {
    s.check("char_conv_fwd", x, kernels)?;
    let tape = Tape::no_grad();
    let (_, _, y) = char_conv_on(&tape, x, s, kernels)?;
    Ok((Storage::Cpu(tape.value(y)?.into_vec()), Saved::default()))
}

pub(super) fn char_conv_bwd(
    x: &Storage,
    s: CharConvShape,
    kernels: &[ConvKernel<'_>],
    g: &Storage,
    need_w: bool,
) -> Result<LayerGrads> {
    let ftot = s.check("char_conv_bwd", x, kernels)?;
    super::expect_len("char_conv_bwd", "g", g.len(), s.words * ftot)?;
    let tape = Tape::new();
    let (xv, ks, y) = char_conv_on(&tape, x, s, kernels)?;
    let grads = backward_of(tape, y, g, "char_conv_bwd")?;
    let weights = need_w.then(|| {
        ks.iter()
            .zip(kernels)
            .flat_map(|(&(w, b), k)| [grad_of(&grads, w, k.weight.len()), grad_of(&grads, b, k.bias.len())])
            .collect()
    });
    Ok(LayerGrads { dx: grad_of(&grads, xv, x.len()), weights })
}

/// word_cnn's convolutions on `tape` as `models::WordCnn` builds them:
/// (x, per kernel (weight, bias), output `[B, ΣF_i]`).
fn word_conv_on(tape: &Tape, a: WordConvArgs<'_>) -> Result<(Var, KernelVars, Var)> {
    const OP: &str = "word_conv";
    let s = a.shape;
    let xv = leaf(tape, OP, a.x, &[s.words, s.positions, s.dim])?;
    let mut ks = Vec::with_capacity(a.kernels.len());
    let mut pooled = Vec::with_capacity(a.kernels.len());
    for k in a.kernels {
        let (w, b) = (leaf(tape, OP, k.weight, &[k.filters, s.dim, k.width])?, leaf(tape, OP, k.bias, &[k.filters])?);
        let y = tape.relu(tape.conv1d(xv, w, Some(b))?)?;
        pooled.push(tape.max_over_valid(y, &a.valid(k.width))?);
        ks.push((w, b));
    }
    let y = if pooled.len() == 1 { pooled[0] } else { tape.concat(&pooled, 1)? };
    Ok((xv, ks, y))
}

pub(super) fn word_conv_fwd(a: WordConvArgs<'_>) -> Result<(Storage, Saved)> {
    a.check("word_conv_fwd")?;
    let tape = Tape::no_grad();
    let (_, _, y) = word_conv_on(&tape, a)?;
    Ok((Storage::Cpu(tape.value(y)?.into_vec()), Saved::default()))
}

pub(super) fn word_conv_bwd(a: WordConvArgs<'_>, g: &Storage, need_w: bool) -> Result<LayerGrads> {
    let ftot = a.check("word_conv_bwd")?;
    super::expect_len("word_conv_bwd", "g", g.len(), a.shape.words * ftot)?;
    let tape = Tape::new();
    let (xv, ks, y) = word_conv_on(&tape, a)?;
    let grads = backward_of(tape, y, g, "word_conv_bwd")?;
    let weights = need_w.then(|| {
        ks.iter()
            .zip(a.kernels)
            .flat_map(|(&(w, b), k)| [grad_of(&grads, w, k.weight.len()), grad_of(&grads, b, k.bias.len())])
            .collect()
    });
    Ok(LayerGrads { dx: grad_of(&grads, xv, a.x.len()), weights })
}

pub(super) fn linear(
    x: &Storage,
    w: &Storage,
    bias: Option<&Storage>,
    (rows, n_in, n_out): (usize, usize, usize),
) -> Result<Storage> {
    const OP: &str = "linear";
    super::expect_len(OP, "x", x.len(), rows * n_in)?;
    super::expect_len(OP, "w", w.len(), n_out * n_in)?;
    let tape = Tape::no_grad();
    let xv = leaf(&tape, OP, x, &[rows, n_in])?;
    let wv = leaf(&tape, OP, w, &[n_out, n_in])?;
    let bv = match bias {
        Some(b) => {
            super::expect_len(OP, "bias", b.len(), n_out)?;
            Some(leaf(&tape, OP, b, &[n_out])?)
        }
        None => None,
    };
    Ok(Storage::Cpu(tape.value(tape.linear(xv, wv, bv)?)?.into_vec()))
}
