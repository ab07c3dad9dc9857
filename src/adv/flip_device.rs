//! HotFlip adversarial training (`--adv hotflip`, and `word-sem` /
//! `word-unk` for `lstm_classifier` and `word_cnn`) with the steps on a
//! device (`train --device cuda`). Characters: the clean pass's loss, weight gradients
//! and character-embedding gradient on the device; each position's best
//! flip scored there too on a GPU (`hotflip_best_flips_f32`, the twin of
//! `chars::best_flips`), so only a score and an id per position come back
//! (on the CPU device, the host scores them); the top r per example chosen
//! by the same `apply_char_flips` as on the tape; the adversarial pass on
//! the device; the two combined there (`clean_weight·J + adv_weight·J_adv`,
//! as `CleanPass::with_adversarial`). Words: the clean pass's gradient at
//! the embedded words and the table the model reads come to the host, the
//! one flip per example is `flip_words`' (the cosine neighbours are there).

use crate::adv::flip_training::{apply_char_flips, best_char_flips, flip_words, FlipKind, FlipTraining};
use crate::attack::score::cuda::best_flips::{best_flips, FlipShape};
use crate::backend::Storage;
use crate::error::{Error, Result};
use crate::models::device::{DeviceCharCnnLstm, DeviceGrads, DeviceModel, WordPasses};
use crate::models::{Input, Mode};
use crate::train::device_step::{char_classes, combine, task_loss, DeviceObjective};
use crate::train::{Batch, Objective};

impl DeviceObjective for FlipTraining {
    fn name(&self) -> String {
        Objective::name(self)
    }

    fn grads(&mut self, model: &DeviceModel, batch: &Batch, mode: Mode, _step: u64) -> Result<DeviceGrads> {
        match (model, self.kind) {
            (DeviceModel::CharCnnLstm(m), FlipKind::Chars) => self.char_flips(m, batch, mode),
            (DeviceModel::LstmClassifier(m) | DeviceModel::BilstmTagger(m), FlipKind::WordSem | FlipKind::WordUnk) => {
                self.word_flips(m.as_ref(), batch, mode)
            }
            (DeviceModel::WordCnn(m), FlipKind::WordSem | FlipKind::WordUnk) => {
                self.word_flips(m.as_ref(), batch, mode)
            }
            _ => Err(Error::invalid(
                "adversarial training on a device",
                "hotflip flips characters of char_cnn_lstm; word-sem and word-unk words of the word models",
            )),
        }
    }
}

impl FlipTraining {
    fn char_flips(&self, model: &DeviceCharCnnLstm, batch: &Batch, mode: Mode) -> Result<DeviceGrads> {
        let (x, y) = char_classes(batch)?;
        // Unweighted: the flip scores need J's own gradient; the weights apply when combining.
        let (clean, ge) = model.train_grads_and_input(x, y, mode)?;
        let Some(ge) = ge else { return Ok(clean) };
        let d = model.device().as_ref();
        let cfg = model.config();
        let best = match (d.cuda_gpu(), &ge, model.embedding()) {
            (Some(gpu), Storage::Cuda(g), Storage::Cuda(table)) => {
                let s =
                    FlipShape { rows: x.batch * x.words, positions: x.chars, dim: cfg.char_dim, vocab: cfg.n_chars };
                let mut best = best_flips(gpu, g, table, &x.ids, s)?;
                // Padding words are scored too; as on the tape, they are not flipped.
                for (row, flips) in best.iter_mut().enumerate() {
                    if row % x.words >= x.lengths[row / x.words] {
                        flips.clear();
                    }
                }
                best
            }
            _ => {
                let (ge, table) = (d.to_host(&ge)?, d.to_host(model.embedding())?);
                best_char_flips(x, &ge, &table, cfg.n_chars, cfg.char_dim)
            }
        };
        let adv = apply_char_flips(x, &best, self.fraction, self.per_word);
        let adv = model.train_grads(&adv, y, mode)?;
        combine(d, clean, self.clean_weight, adv, self.adv_weight)
    }

    /// One word flip per example (SEM or UNK), chosen on the host as on the
    /// tape from the clean pass's gradient at the embedded words and the
    /// table the model reads (`[B·T, D]` and `[V, D]` values a step).
    fn word_flips(&self, model: &dyn WordPasses, batch: &Batch, mode: Mode) -> Result<DeviceGrads> {
        let Input::Words(x) = &batch.input else {
            return Err(Error::invalid("adversarial training on a device", "word flips need a word batch"));
        };
        let task = task_loss(&batch.targets);
        let clean = model.pass(x, mode, None, task, true, true)?;
        let Some(ge) = clean.input_grad else { return Ok(clean.grads) };
        let d = model.device().as_ref();
        let (ge, table) = (d.to_host(&ge)?, d.to_host(model.table())?);
        let (v, dim) = model.table_dims();
        let adv = flip_words(x, &ge, &table, v, dim, self.kind, self.cosine);
        let adv = model.pass(&adv, mode, None, task, true, false)?.grads;
        combine(d, clean.grads, self.clean_weight, adv, self.adv_weight)
    }
}
