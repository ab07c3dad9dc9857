//! The one "gradient at the embedded input" pass: HotFlip's scores, the
//! attack's oracle, AdvT/VAT/iAdvT's directions and the interpretation all
//! start from it.

use crate::error::Result;
use crate::models::{Input, Mode, Model};
use crate::nn::ParamStore;
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
        let tape = Tape::new();
        let p = match weights {
            Weights::Frozen => tape.bind_frozen(store),
            Weights::Trained => tape.bind(store),
        };
        let (embedded_var, logits_var) = match weights {
            // Frozen weights make the embedded input a constant: a leaf
            // holding its value is where the gradient is wanted.
            Weights::Frozen => {
                let leaf = tape.leaf(tape.value(self.embed(&tape, &p, x)?)?);
                (leaf, self.forward_embedded(&tape, &p, x, leaf, mode)?)
            }
            Weights::Trained => {
                let f = self.forward(&tape, &p, x, None, mode)?;
                tape.retain_grad(f.embedded)?;
                (f.embedded, f.logits)
            }
        };
        let embedded = tape.value(embedded_var)?;
        let logits = tape.value(logits_var)?;
        let l = loss(&tape, logits_var)?;
        let value = tape.value(l)?.item()?;
        let mut g = tape.backward(l)?;
        let grad = g.take(embedded_var).unwrap_or_else(|| Tensor::zeros(embedded.shape()));
        let weights = match weights {
            Weights::Frozen => Vec::new(),
            Weights::Trained => store.ids().map(|id| g.take(p.var(id))).collect(),
        };
        Ok(InputGradient { embedded, logits, loss: value, grad, weights })
    }
}
