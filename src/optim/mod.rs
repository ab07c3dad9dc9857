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

/// `wa·a + wb·b` parameter by parameter, for objectives that add a second
/// loss (a missing gradient counts as zero). Adds into `a`'s tensors.
pub fn weighted_sum(a: Grads, wa: f32, b: Grads, wb: f32) -> Result<Grads> {
    if a.len() != b.len() {
        return Err(Error::invalid("weighted_sum", format!("{} gradients against {}", a.len(), b.len())));
    }
    let scale = |t: Tensor, w: f32| -> Result<Tensor> {
        if w == 1.0 {
            return Ok(t);
        }
        let v: Vec<f32> = t.data().iter().map(|x| w * x).collect();
        Tensor::new(t.shape(), v)
    };
    a.into_iter()
        .zip(b)
        .map(|pair| {
            Ok(match pair {
                (Some(x), Some(y)) => {
                    if x.shape() != y.shape() {
                        return Err(Error::invalid(
                            "weighted_sum",
                            format!("gradient shapes {:?} and {:?} differ", x.shape(), y.shape()),
                        ));
                    }
                    let v: Vec<f32> = x.data().iter().zip(y.data()).map(|(p, q)| wa * p + wb * q).collect();
                    Some(Tensor::new(x.shape(), v)?)
                }
                (Some(x), None) => Some(scale(x, wa)?),
                (None, Some(y)) => Some(scale(y, wb)?),
                (None, None) => None,
            })
        })
        .collect()
}

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

#[cfg(test)]
mod weighted_sum_tests {
    use super::*;

    fn t(v: &[f32]) -> Tensor {
        Tensor::new(&[v.len()], v.to_vec()).unwrap()
    }

    #[test]
    fn weights_each_side_and_counts_a_missing_gradient_as_zero() {
        let a = vec![Some(t(&[1.0, 2.0])), Some(t(&[3.0])), None, None];
        let b = vec![Some(t(&[10.0, 20.0])), None, Some(t(&[5.0])), None];
        let s = weighted_sum(a, 2.0, b, 0.5).unwrap();
        assert_eq!(s[0].as_ref().unwrap().data(), &[7.0, 14.0]);
        assert_eq!(s[1].as_ref().unwrap().data(), &[6.0]);
        assert_eq!(s[2].as_ref().unwrap().data(), &[2.5]);
        assert!(s[3].is_none());
    }

    #[test]
    fn mismatched_gradients_are_an_error_not_a_dropped_parameter() {
        assert!(weighted_sum(vec![Some(t(&[1.0]))], 1.0, vec![Some(t(&[1.0, 2.0]))], 1.0).is_err());
        assert!(weighted_sum(vec![None], 1.0, vec![None, None], 1.0).is_err());
    }
}
