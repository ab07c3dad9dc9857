//! `char_cnn_lstm`'s training pass on a device: the forward pass with the
//! tape's dropout masks, the mean cross-entropy (the tape's
//! `cross_entropy`: weights 1/B), and the gradient of every weight, left on
//! the device for the optimiser (`train::device_step`).

use crate::backend::Storage;
use crate::error::Result;
use crate::models::device::DeviceCharCnnLstm;
use crate::models::{CharBatch, Mode};

/// One training pass's loss and gradients.
pub struct DeviceGrads {
    /// The mean cross-entropy of the batch, on the host.
    pub loss: f32,
    /// dLoss/dweight in the store's order, on the device; all `None` when
    /// the loss is not finite (the step is then skipped).
    pub grads: Vec<Option<Storage>>,
}

impl DeviceCharCnnLstm {
    /// The mean cross-entropy of `x` against `classes` and its gradients,
    /// under `mode` (dropout with `mode.site(0)`, as `CharCnnLstm` on the
    /// tape draws it).
    pub fn train_grads(&self, x: &CharBatch, classes: &[usize], mode: Mode) -> Result<DeviceGrads> {
        Ok(self.train_pass(x, classes, mode, false)?.0)
    }

    /// [`DeviceCharCnnLstm::train_grads`] and dLoss/d(character embeddings)
    /// `[B·W, L, char_dim]` (HotFlip training scores flips with it); `None`
    /// when the loss is not finite.
    pub fn train_grads_and_input(
        &self,
        x: &CharBatch,
        classes: &[usize],
        mode: Mode,
    ) -> Result<(DeviceGrads, Option<Storage>)> {
        self.train_pass(x, classes, mode, true)
    }

    /// The character embedding table `[n_chars, char_dim]` on the device.
    pub fn embedding(&self) -> &Storage {
        &self.params[self.layout.embedding]
    }

    fn train_pass(
        &self,
        x: &CharBatch,
        classes: &[usize],
        mode: Mode,
        keep_input_grad: bool,
    ) -> Result<(DeviceGrads, Option<Storage>)> {
        let w = vec![1.0 / x.batch.max(1) as f32; x.batch];
        self.check(x, classes, &w)?;
        let seed = mode.train.then(|| mode.site(0));
        let fw = self.forward(x, classes, &w, seed)?;
        let loss = self.dev.sum(&fw.per_row)?;
        let mut grads: Vec<Option<Storage>> = (0..self.params.len()).map(|_| None).collect();
        if !loss.is_finite() {
            return Ok((DeviceGrads { loss, grads }, None));
        }
        let glogits = self.dev.cross_entropy_bwd(&fw.ls, self.cfg.n_classes, classes, &w, &self.one, true)?;
        let gemb = self.backward(x, &fw, &glogits, Some(&mut grads))?;
        Ok((DeviceGrads { loss, grads }, keep_input_grad.then_some(gemb)))
    }
}
