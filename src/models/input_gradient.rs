//! The one "gradient at the embedded input" pass: HotFlip's scores, the
//! attack's oracle, AdvT/VAT/iAdvT's directions and the interpretation all
//! start from it.

use crate::error::Result;
use crate::models::{Input, Mode, Model};
use crate::nn::{Bound, ParamStore};
use crate::tape::{Tape, Var};
use crate::tensor::Tensor;

/// Whether [`Model::input_gradient`] also differentiates the weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Weights {
    /// Weights are constants: only the input gradient is computed (attacks,
    /// inspection), which saves the weight half of the backward pass.
    Frozen,
    /// Weights are differentiated too (a training step's clean pass).
    Trained,
}

/// What [`Model::input_gradient`] returns.
#[derive(Clone, Debug)]
pub struct InputGradient {
    /// The embedded input the model read (`Model::embed`'s layout:
    /// `[B·W, L, D]` for characters, `[B, T, D]` for words).
    pub embedded: Tensor,
    /// The logits.
    pub logits: Tensor,
    /// The value of the scalar loss.
    pub loss: f32,
    /// d loss / d embedded, shaped like `embedded` (zeros where nothing
    /// flowed, e.g. PAD positions a model masks out).
    pub grad: Tensor,
    /// The weights' gradients in store order (`None` for a weight that did
    /// not influence the loss); empty for [`Weights::Frozen`].
    pub weights: Vec<Option<Tensor>>,
}

impl Model {
    /// One forward pass of `x` (no perturbation) in `mode`, the scalar
    /// `loss(tape, logits)`, and one backward pass that keeps the gradient
    /// at the embedded input.
    ///
    /// With [`Weights::Trained`] the gradient is read off the embedded input
    /// inside the graph (not a detached copy), so the embedding table still
    /// receives its gradient.
    pub fn input_gradient(
        &self,
        store: &ParamStore,
        x: &Input,
        mode: Mode,
        weights: Weights,
        loss: impl FnOnce(&Tape, Var) -> Result<Var>,
    ) -> Result<InputGradient> {
        if weights == Weights::Frozen {
            let pass = frozen_input_pass(
                store,
                true,
                |tape, p| self.embed(tape, p, x),
                |tape, p, leaf| {
                    let logits = self.forward_embedded(tape, p, x, leaf, mode)?;
                    Ok((loss(tape, logits)?, tape.value(logits)?))
                },
            )?;
            let grad = pass.grad.unwrap_or_else(|| Tensor::zeros(pass.embedded.shape()));
            return Ok(InputGradient {
                embedded: pass.embedded,
                logits: pass.out,
                loss: pass.loss,
                grad,
                weights: Vec::new(),
            });
        }
        let tape = Tape::new();
        let p = tape.bind(store);
        let f = self.forward(&tape, &p, x, None, mode)?;
        // Read off the embedded input inside the graph (not a detached
        // copy), so the embedding table still receives its gradient.
        tape.retain_grad(f.embedded)?;
        let embedded = tape.value(f.embedded)?;
        let logits = tape.value(f.logits)?;
        let l = loss(&tape, f.logits)?;
        let value = tape.value(l)?.item()?;
        let mut g = tape.backward(l)?;
        let grad = g.take(f.embedded).unwrap_or_else(|| Tensor::zeros(embedded.shape()));
        let weights = store.ids().map(|id| g.take(p.var(id))).collect();
        Ok(InputGradient { embedded, logits, loss: value, grad, weights })
    }
}

/// What [`frozen_input_pass`] returns.
#[derive(Clone, Debug)]
pub struct FrozenPass<T> {
    /// The embedded input the model read.
    pub embedded: Tensor,
    /// What the forward closure chose to keep (logits, per-token losses, …).
    pub out: T,
    /// The value of the scalar loss.
    pub loss: f32,
    /// d loss / d embedded when gradients were asked for (`None` when
    /// nothing flowed to the input, or when `grads` was false).
    pub grad: Option<Tensor>,
}

/// The frozen-weights pass every attack shares, whatever the model: the
/// weights are constants, the embedded input is a leaf holding
/// `embed`'s value (so the backward pass stops there and computes no
/// weight gradient), `forward` runs the rest of the model from that leaf
/// and returns its scalar loss, and one backward pass keeps the leaf's
/// gradient. With `grads` false it is a forward pass on a tape that
/// records nothing (the attack's re-scoring of children).
///
/// [`Model::input_gradient`] is this pass for the classifiers and
/// taggers; the translation adversary calls it with `char_nmt`'s encoder
/// and teacher-forced decoder.
pub fn frozen_input_pass<T>(
    store: &ParamStore,
    grads: bool,
    embed: impl FnOnce(&Tape, &Bound) -> Result<Var>,
    forward: impl FnOnce(&Tape, &Bound, Var) -> Result<(Var, T)>,
) -> Result<FrozenPass<T>> {
    let tape = if grads { Tape::new() } else { Tape::no_grad() };
    let p = tape.bind_frozen(store);
    let embedded = tape.value(embed(&tape, &p)?)?;
    let leaf = tape.leaf(embedded.clone());
    let (l, out) = forward(&tape, &p, leaf)?;
    let loss = tape.value(l)?.item()?;
    let grad = if grads { tape.backward(l)?.take(leaf) } else { None };
    Ok(FrozenPass { embedded, out, loss, grad })
}
