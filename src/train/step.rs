//! One optimisation step: the objective's loss and gradients, joint
//! gradient-norm clipping, Adam, then the max-norm constraint. The training
//! loop and the training-throughput bench (`hotflip bench train`) both call
//! it, so the bench times exactly what training runs.

use crate::error::{Error, Result};
use crate::models::{Mode, Model};
use crate::nn::ParamStore;
use crate::optim::{clip_grad_norm, renorm_rows, Adam, Optimizer};
use crate::train::batches::Batch;
use crate::train::objective::{Objective, StepContext};

/// The output layer every architecture has (MODELS.md); max-norm acts on it.
const CLASSIFIER: &str = "classifier.weight";

/// Adam and what is applied around it.
#[derive(Clone, Debug)]
pub struct Updater {
    /// The optimiser, with its moment estimates and step count.
    pub adam: Adam,
    /// Joint gradient-norm limit.
    pub clip: Option<f32>,
    /// Row-norm limit for `classifier.weight` (Kim 2014).
    pub max_norm: Option<f32>,
}

impl Updater {
    /// Runs `objective` on `batch` (global step `step`, dropout seeded by
    /// `mode`) and updates `store`. Returns the loss; a non-finite loss
    /// leaves the weights untouched, for the caller to report with context.
    pub fn step(
        &mut self,
        objective: &mut dyn Objective,
        model: &Model,
        store: &mut ParamStore,
        batch: &Batch,
        mode: Mode,
        step: u64,
    ) -> Result<f32> {
        let mut r = objective.step(&StepContext { model, store, mode, step }, batch)?;
        if !r.loss.is_finite() {
            return Ok(r.loss);
        }
        if let Some(c) = self.clip {
            clip_grad_norm(&mut r.grads, c);
        }
        self.adam.step(store, &r.grads)?;
        if let Some(m) = self.max_norm {
            let id = store.id(CLASSIFIER).ok_or_else(|| Error::Param {
                name: CLASSIFIER.into(),
                msg: "max-norm needs the output layer, which this model lacks".into(),
            })?;
            renorm_rows(store.get_mut(id), m)?;
        }
        Ok(r.loss)
    }
}
