//! SGD with momentum, PyTorch's form: `v = μ·v + g`, `p -= lr·v`
//! (no dampening; the first step sets `v = g`).

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::nn::ParamStore;
use crate::optim::{check_grads, Grads, Optimizer, Slots};
use crate::tensor::Tensor;

#[derive(Clone, Copy, Debug, PartialEq)]
/// SGD's hyper-parameters (PyTorch's names).
pub struct SgdConfig {
    /// Learning rate.
    pub lr: f32,
    /// Momentum in [0, 1) (0 = plain SGD).
    pub momentum: f32,
    /// L2 penalty added to the gradient (`g + wd·p`), PyTorch's `weight_decay`.
    pub weight_decay: f32,
}

impl Default for SgdConfig {
    fn default() -> Self {
        SgdConfig { lr: 0.1, momentum: 0.9, weight_decay: 0.0 }
    }
}

#[derive(Clone, Debug)]
/// SGD with momentum and weight decay, as `torch.optim.SGD`.
pub struct Sgd {
    /// Its hyper-parameters.
    pub config: SgdConfig,
    velocity: Slots,
    steps: u64,
}

impl Sgd {
    /// An optimiser with no state yet; refuses a non-positive rate, momentum outside [0, 1) or negative decay.
    pub fn new(config: SgdConfig) -> Result<Self> {
        let ok = config.lr > 0.0 && (0.0..1.0).contains(&config.momentum) && config.weight_decay >= 0.0;
        if !ok {
            return Err(Error::invalid(
                "sgd",
                format!("lr {} must be > 0, momentum {} in [0, 1), weight decay ≥ 0", config.lr, config.momentum),
            ));
        }
        Ok(Sgd { config, velocity: Slots::default(), steps: 0 })
    }
}

impl Optimizer for Sgd {
    fn step(&mut self, store: &mut ParamStore, grads: &Grads) -> Result<()> {
        check_grads(store, grads)?;
        let SgdConfig { lr, momentum, weight_decay } = self.config;
        let ids: Vec<_> = store.ids().collect();
        for (id, g) in ids.into_iter().zip(grads) {
            let Some(g) = g else { continue };
            if !store.trainable(id) {
                continue;
            }
            let p = store.get_mut(id).data_mut();
            if momentum == 0.0 {
                p.par_iter_mut().zip(g.data().par_iter()).for_each(|(p, &g)| *p -= lr * (g + weight_decay * *p));
                continue;
            }
            let fresh = self.velocity.slots.get(id.index()).is_none_or(|s| s.is_none());
            let v = self.velocity.get_or_zero(id.index(), g).data_mut();
            p.par_iter_mut().zip(v.par_iter_mut()).zip(g.data().par_iter()).for_each(|((p, v), &g)| {
                let g = g + weight_decay * *p;
                *v = if fresh { g } else { momentum * *v + g };
                *p -= lr * *v;
            });
        }
        self.steps += 1;
        Ok(())
    }

    fn steps(&self) -> u64 {
        self.steps
    }

    fn current_lr(&self) -> f32 {
        self.config.lr
    }

    fn state(&self, store: &ParamStore) -> (Vec<(String, Tensor)>, u64) {
        let mut out = Vec::new();
        self.velocity.export("momentum_buffer", store, &mut out);
        (out, self.steps)
    }

    fn load_state(&mut self, store: &ParamStore, tensors: &[(String, Tensor)], steps: u64) -> Result<()> {
        self.velocity = Slots::import("momentum_buffer", store, tensors)?;
        self.steps = steps;
        Ok(())
    }
}
