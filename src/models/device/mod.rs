//! Models on a `backend::Device`: the forward pass, the input gradient and
//! the weights' gradients built from the device's coarse primitives
//! (char-CNN features, LSTM layer, linear, cross-entropy, dropout,
//! elementwise), with the weights uploaded once and every intermediate left
//! on the device. On the `CpuDevice` the same code runs the tape's own ops;
//! on a `CudaDevice` (a GPU, or the emulated device in `cargo test`) the
//! kernels of `kernels/`.
//!
//! - `char_cnn_lstm`: evaluation (log-probabilities and the gradient of a
//!   weighted cross-entropy with respect to the character embeddings, for
//!   the attack) and training (`train_grads`: the mean loss and every
//!   weight's gradient, for `train::device_step`).
//! - `lstm_classifier`: training, optionally with a perturbation of the
//!   embedded words and their gradient (the embedding-space adversaries).
//! - `bilstm_tagger`: the same model with both directions and a loss over
//!   the real tokens; plain and embedding-space adversarial training.
//! - `word_cnn`: training, optionally with a perturbation of the embedded
//!   words (as `lstm_classifier`).
//! - [`DeviceClassifier`]: any of the three classifiers as the attacks
//!   evaluate them (log-probabilities and dJ/d(embedded input)).
//!
//! [`DeviceModel`] is either, for the optimiser.

mod char_cnn_lstm;
mod classifier;
mod loss;
mod lstm_classifier;
mod train;
mod word_cnn;

use std::sync::Arc;

pub use char_cnn_lstm::{DeviceCharCnnLstm, DeviceEval};
pub use classifier::DeviceClassifier;
pub use lstm_classifier::{DeviceLstmClassifier, Pass, PassLoss};
pub use train::DeviceGrads;
pub use word_cnn::DeviceWordCnn;

use crate::backend::{Device, Storage};
use crate::error::{Error, Result};
use crate::models::{Input, Model, ModelConfig};
use crate::nn::ParamStore;

/// The store index of the weight `name` (what a model's layout on a
/// device records), or an error naming it and `op`.
pub(super) fn param_index(store: &ParamStore, op: &str, name: String) -> Result<usize> {
    store
        .id(&name)
        .map(|id| id.index())
        .ok_or_else(|| Error::Param { msg: format!("{op}: the store lacks this weight"), name })
}

/// A model that trains on a device.
pub enum DeviceModel {
    /// See [`DeviceCharCnnLstm`] (boxed, as the other: the two differ in size).
    CharCnnLstm(Box<DeviceCharCnnLstm>),
    /// See [`DeviceLstmClassifier`].
    LstmClassifier(Box<DeviceLstmClassifier>),
    /// `bilstm_tagger`: [`DeviceLstmClassifier`] with both directions and a
    /// label per token.
    BilstmTagger(Box<DeviceLstmClassifier>),
    /// See [`DeviceWordCnn`].
    WordCnn(Box<DeviceWordCnn>),
}

/// The architectures [`DeviceModel`] trains (`ModelConfig::arch`'s names).
pub const DEVICE_ARCHS: [&str; 4] = ["char_cnn_lstm", "lstm_classifier", "bilstm_tagger", "word_cnn"];

impl DeviceModel {
    /// Uploads `model`'s weights from `store` to `dev`.
    pub fn new(model: &Model, store: &ParamStore, dev: Arc<dyn Device>) -> Result<Self> {
        Ok(match model.config() {
            ModelConfig::CharCnnLstm(_) => {
                DeviceModel::CharCnnLstm(Box::new(DeviceCharCnnLstm::new(model, store, dev)?))
            }
            ModelConfig::LstmClassifier(_) => {
                DeviceModel::LstmClassifier(Box::new(DeviceLstmClassifier::new(model, store, dev)?))
            }
            ModelConfig::BilstmTagger(_) => {
                DeviceModel::BilstmTagger(Box::new(DeviceLstmClassifier::new(model, store, dev)?))
            }
            ModelConfig::WordCnn(_) => DeviceModel::WordCnn(Box::new(DeviceWordCnn::new(model, store, dev)?)),
        })
    }

    /// The device it runs on.
    pub fn device(&self) -> &Arc<dyn Device> {
        match self {
            DeviceModel::CharCnnLstm(m) => m.device(),
            DeviceModel::LstmClassifier(m) | DeviceModel::BilstmTagger(m) => m.device(),
            DeviceModel::WordCnn(m) => m.device(),
        }
    }

    /// Every weight, in the store's order.
    pub fn params(&self) -> &[Storage] {
        match self {
            DeviceModel::CharCnnLstm(m) => m.params(),
            DeviceModel::LstmClassifier(m) | DeviceModel::BilstmTagger(m) => m.params(),
            DeviceModel::WordCnn(m) => m.params(),
        }
    }

    /// Every weight, to update in place; call [`DeviceModel::refresh`] afterwards.
    pub fn params_mut(&mut self) -> &mut [Storage] {
        match self {
            DeviceModel::CharCnnLstm(m) => m.params_mut(),
            DeviceModel::LstmClassifier(m) | DeviceModel::BilstmTagger(m) => m.params_mut(),
            DeviceModel::WordCnn(m) => m.params_mut(),
        }
    }

    /// Evaluation-mode log-probabilities of `input`, on the host: `[B, C]`,
    /// or `[B·T, C]` for the tagger (dev evaluation during training).
    pub fn log_probs(&self, input: &Input) -> Result<Vec<f32>> {
        let lp = match (self, input) {
            (DeviceModel::CharCnnLstm(m), Input::Chars(x)) => {
                return Ok(m.evaluate(x, &vec![0; x.batch], &vec![0.0; x.batch], false)?.log_probs)
            }
            (DeviceModel::LstmClassifier(m) | DeviceModel::BilstmTagger(m), Input::Words(x)) => m.log_probs(x)?,
            (DeviceModel::WordCnn(m), Input::Words(x)) => m.log_probs(x)?,
            _ => return Err(Error::invalid("evaluation on a device", "the batch's input does not fit the model")),
        };
        self.device().to_host(&lp)
    }

    /// Rebuilds what is derived from the weights after they changed.
    pub fn refresh(&mut self) -> Result<()> {
        match self {
            DeviceModel::CharCnnLstm(m) => m.refresh(),
            DeviceModel::LstmClassifier(m) | DeviceModel::BilstmTagger(m) => m.refresh(),
            DeviceModel::WordCnn(m) => m.refresh(),
        }
    }
}

/// What the embedding-space adversaries (`adv::embedding_device`) need of
/// a word model on a device: its table, sizes and a training pass at
/// perturbed embedded words (`lstm_classifier`, `bilstm_tagger`, `word_cnn`).
pub trait WordPasses {
    /// The device it runs on.
    fn device(&self) -> &Arc<dyn Device>;
    /// The table the words are looked up in `[vocab, D]` (as the model reads it).
    fn table(&self) -> &Storage;
    /// `vocab` and `D`.
    fn table_dims(&self) -> (usize, usize);
    /// A training pass (see [`DeviceLstmClassifier::pass`]).
    fn pass(
        &self,
        x: &crate::models::WordBatch,
        mode: crate::models::Mode,
        r: Option<&Storage>,
        loss: PassLoss<'_>,
        need_w: bool,
        keep_input_grad: bool,
    ) -> Result<Pass>;
}

macro_rules! word_passes {
    ($t:ty) => {
        impl WordPasses for $t {
            fn device(&self) -> &Arc<dyn Device> {
                <$t>::device(self)
            }
            fn table(&self) -> &Storage {
                <$t>::table(self)
            }
            fn table_dims(&self) -> (usize, usize) {
                (self.config().vocab, self.config().embed_dim)
            }
            fn pass(
                &self,
                x: &crate::models::WordBatch,
                mode: crate::models::Mode,
                r: Option<&Storage>,
                loss: PassLoss<'_>,
                need_w: bool,
                keep_input_grad: bool,
            ) -> Result<Pass> {
                <$t>::pass(self, x, mode, r, loss, need_w, keep_input_grad)
            }
        }
    };
}

word_passes!(DeviceLstmClassifier);
word_passes!(DeviceWordCnn);
