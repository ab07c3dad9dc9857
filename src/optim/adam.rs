//! Adam (Kingma & Ba) with bias correction, PyTorch's form, and the
//! exponential learning-rate decay Sato et al. use (lr 0.001, ×0.9998 per
//! step): `lr_t = lr·decay^t`.

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::nn::ParamStore;
use crate::optim::{check_grads, Grads, Optimizer, Slots};
use crate::tensor::Tensor;

#[derive(Clone, Copy, Debug, PartialEq)]
/// Adam's hyper-parameters (PyTorch's names and defaults but for `decay`).
pub struct AdamConfig {
    /// Learning rate.
    pub lr: f32,
    /// Decay of the first-moment average.
    pub beta1: f32,
    /// Decay of the second-moment average.
    pub beta2: f32,
    /// Added to the second moment's square root (numerical safety).
    pub eps: f32,
    /// Multiplies the learning rate after every step (1 = no decay).
    pub decay: f32,
}

impl Default for AdamConfig {
    /// Sato et al. §5: Adam, lr 0.001, exponential decay 0.9998 per step.
    fn default() -> Self {
        AdamConfig { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, decay: 0.9998 }
    }
}

#[derive(Clone, Debug)]
/// Adam (Kingma & Ba), with PyTorch's bias correction per parameter.
pub struct Adam {
    /// Its hyper-parameters; the learning rate decays in place.
    pub config: AdamConfig,
    m: Slots,
    v: Slots,
    /// Per-parameter step counts: a parameter first seen late starts its
    /// bias correction at 1, as PyTorch's per-parameter `step` does.
    t: Vec<u64>,
    steps: u64,
}

impl Adam {
    /// An optimiser with no state yet; refuses a non-positive rate or eps and betas outside [0, 1).
    pub fn new(config: AdamConfig) -> Result<Self> {
        let c = &config;
        // Written as "all good" so that a NaN setting fails too.
        let ok = c.lr > 0.0
            && (0.0..1.0).contains(&c.beta1)
            && (0.0..1.0).contains(&c.beta2)
            && c.eps > 0.0
            && c.decay > 0.0
            && c.decay <= 1.0;
        if !ok {
            return Err(Error::invalid(
                "adam",
                format!(
                    "lr {} > 0, betas ({}, {}) in [0, 1), eps {} > 0, decay {} in (0, 1] required",
                    c.lr, c.beta1, c.beta2, c.eps, c.decay
                ),
            ));
        }
        Ok(Adam { config, m: Slots::default(), v: Slots::default(), t: Vec::new(), steps: 0 })
    }
}

impl Optimizer for Adam {
    fn step(&mut self, store: &mut ParamStore, grads: &Grads) -> Result<()> {
        check_grads(store, grads)?;
        let AdamConfig { beta1, beta2, eps, .. } = self.config;
        let lr = self.current_lr();
        if self.t.len() < store.len() {
            self.t.resize(store.len(), 0);
        }
        let ids: Vec<_> = store.ids().collect();
        for (id, g) in ids.into_iter().zip(grads) {
            let Some(g) = g else { continue };
            if !store.trainable(id) {
                continue;
            }
            let i = id.index();
            self.t[i] += 1;
            let t = self.t[i] as i32;
            // Bias corrections in f64: 1 − β2^t is tiny for small t.
            let bc1 = 1.0 - (beta1 as f64).powi(t);
            let bc2 = 1.0 - (beta2 as f64).powi(t);
            let step = (lr as f64 / bc1) as f32;
            let bc2_sqrt = bc2.sqrt() as f32;
            let m = self.m.get_or_zero(i, g).data_mut();
            let v = self.v.get_or_zero(i, g).data_mut();
            let p = store.get_mut(id).data_mut();
            p.par_iter_mut().zip(m.par_iter_mut().zip(v.par_iter_mut())).zip(g.data().par_iter()).for_each(
                |((p, (m, v)), &g)| {
                    *m = beta1 * *m + (1.0 - beta1) * g;
                    *v = beta2 * *v + (1.0 - beta2) * g * g;
                    *p -= step * *m / (v.sqrt() / bc2_sqrt + eps);
                },
            );
        }
        self.steps += 1;
        Ok(())
    }

    fn steps(&self) -> u64 {
        self.steps
    }

    fn current_lr(&self) -> f32 {
        (self.config.lr as f64 * (self.config.decay as f64).powf(self.steps as f64)) as f32
    }

    fn state(&self, store: &ParamStore) -> (Vec<(String, Tensor)>, u64) {
        let mut out = Vec::new();
        self.m.export("exp_avg", store, &mut out);
        self.v.export("exp_avg_sq", store, &mut out);
        for (id, &t) in store.ids().zip(&self.t) {
            if t > 0 {
                out.push((format!("step.{}", store.name(id)), Tensor::scalar(t as f32)));
            }
        }
        (out, self.steps)
    }

    fn load_state(&mut self, store: &ParamStore, tensors: &[(String, Tensor)], steps: u64) -> Result<()> {
        self.m = Slots::import("exp_avg", store, tensors)?;
        self.v = Slots::import("exp_avg_sq", store, tensors)?;
        self.t = vec![0; store.len()];
        for (name, t) in tensors {
            if let Some(param) = name.strip_prefix("step.") {
                let id = store.id(param).ok_or_else(|| Error::Param {
                    name: name.clone(),
                    msg: "step count for an unknown parameter".into(),
                })?;
                self.t[id.index()] = t.item()? as u64;
            }
        }
        self.steps = steps;
        Ok(())
    }
}
