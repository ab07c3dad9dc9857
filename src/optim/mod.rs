//! Optimisers over a `ParamStore`, with PyTorch's update rules so that a
//! training recipe carries over from a PyTorch paper unchanged.
//!
//! Gradients come in store order (`Bound::grads`); a `None` (a parameter that
//! did not influence the loss) leaves that parameter and its state alone, as
//! PyTorch skips parameters whose `.grad` is `None`. Buffers (non-trainable
//! entries such as `embedding.freq`) are never touched.

mod adam;
mod clip;
mod max_norm;
mod sgd;

pub use adam::{Adam, AdamConfig};
pub use clip::clip_grad_norm;
pub use max_norm::renorm_rows;
pub use sgd::{Sgd, SgdConfig};

use crate::error::{Error, Result};
use crate::nn::ParamStore;
use crate::tensor::Tensor;

/// Gradients in store order, owned so that clipping can scale them in place.
pub type Grads = Vec<Option<Tensor>>;

/// What every optimiser offers the training loop.
pub trait Optimizer {
    /// One update of every trainable parameter that has a gradient.
    fn step(&mut self, store: &mut ParamStore, grads: &Grads) -> Result<()>;

    /// Updates taken so far.
    fn steps(&self) -> u64;

    /// The learning rate the next step will use (after any decay).
    fn current_lr(&self) -> f32;

    /// State tensors to save for resuming, named `{kind}.{param}` (e.g.
    /// `exp_avg.lstm.weight_ih_l0`), plus the step count.
    fn state(&self, store: &ParamStore) -> (Vec<(String, Tensor)>, u64);

    /// Restores what `state` returned; shapes are checked against the store.
    fn load_state(&mut self, store: &ParamStore, tensors: &[(String, Tensor)], steps: u64) -> Result<()>;
}

/// Checks that `grads` lines up with `store`, naming the first mismatch.
fn check_grads(store: &ParamStore, grads: &Grads) -> Result<()> {
    if grads.len() != store.len() {
        return Err(Error::invalid("optimizer", format!("{} gradients for {} parameters", grads.len(), store.len())));
    }
    for (id, g) in store.ids().zip(grads) {
        if let Some(g) = g {
            if g.shape() != store.get(id).shape() {
                return Err(Error::Param {
                    name: store.name(id).to_string(),
                    msg: format!(
                        "gradient of shape {:?} for a parameter of shape {:?}",
                        g.shape(),
                        store.get(id).shape()
                    ),
                });
            }
        }
    }
    Ok(())
}

/// Per-parameter state buffers (momentum, Adam moments), allocated lazily at
/// a parameter's first gradient as PyTorch does.
#[derive(Clone, Debug, Default)]
struct Slots {
    slots: Vec<Option<Tensor>>,
}

impl Slots {
    fn get_or_zero(&mut self, i: usize, like: &Tensor) -> &mut Tensor {
        if self.slots.len() <= i {
            self.slots.resize(i + 1, None);
        }
        self.slots[i].get_or_insert_with(|| Tensor::zeros(like.shape()))
    }

    fn export(&self, kind: &str, store: &ParamStore, out: &mut Vec<(String, Tensor)>) {
        for (id, s) in store.ids().zip(&self.slots) {
            if let Some(s) = s {
                out.push((format!("{kind}.{}", store.name(id)), s.clone()));
            }
        }
    }

    fn import(kind: &str, store: &ParamStore, tensors: &[(String, Tensor)]) -> Result<Self> {
        let mut slots = vec![None; store.len()];
        let prefix = format!("{kind}.");
        for (name, t) in tensors {
            let Some(param) = name.strip_prefix(&prefix) else { continue };
            let id = store.id(param).ok_or_else(|| Error::Param {
                name: name.clone(),
                msg: "optimizer state for an unknown parameter".into(),
            })?;
            if t.shape() != store.get(id).shape() {
                return Err(Error::Param {
                    name: name.clone(),
                    msg: format!("state of shape {:?} for a parameter of shape {:?}", t.shape(), store.get(id).shape()),
                });
            }
            slots[id.index()] = Some(t.clone());
        }
        Ok(Slots { slots })
    }
}
