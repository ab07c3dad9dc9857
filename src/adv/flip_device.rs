//! HotFlip adversarial training (`--adv hotflip`) with the steps on a
//! device (`train --device cuda`): the clean pass's loss, weight gradients
//! and character-embedding gradient on the device; the flips chosen by the
//! same `flip_chars` as on the tape, from that gradient and the embedding
//! table brought to the host (`[B·W, L, char_dim]` and `[V, char_dim]`
//! values a step); the adversarial pass on the device; the two combined
//! there (`clean_weight·J + adv_weight·J_adv`, as `CleanPass::with_adversarial`).

use crate::adv::flip_training::{flip_chars, FlipKind, FlipTraining};
use crate::error::{Error, Result};
use crate::models::device::{DeviceGrads, DeviceModel};
use crate::models::Mode;
use crate::train::device_step::{char_classes, combine, DeviceObjective};
use crate::train::{Batch, Objective};

impl DeviceObjective for FlipTraining {
    fn name(&self) -> String {
        Objective::name(self)
    }

    fn grads(&mut self, model: &DeviceModel, batch: &Batch, mode: Mode, _step: u64) -> Result<DeviceGrads> {
        let (DeviceModel::CharCnnLstm(model), FlipKind::Chars) = (model, self.kind) else {
            return Err(Error::invalid(
                "adversarial training on a device",
                "only character flips of char_cnn_lstm run on a device",
            ));
        };
        let (x, y) = char_classes(batch)?;
        // Unweighted: the flip scores need J's own gradient; the weights apply when combining.
        let (clean, ge) = model.train_grads_and_input(x, y, mode)?;
        let Some(ge) = ge else { return Ok(clean) };
        let d = model.device().as_ref();
        let (ge, table) = (d.to_host(&ge)?, d.to_host(model.embedding())?);
        let cfg = model.config();
        let adv = flip_chars(x, &ge, &table, (cfg.n_chars, cfg.char_dim), self.fraction, self.per_word);
        let adv = model.train_grads(&adv, y, mode)?;
        combine(d, clean, self.clean_weight, adv, self.adv_weight)
    }
}
