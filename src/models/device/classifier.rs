//! A classifier on a device, as the attacks use it: log-probabilities and
//! the gradient of a weighted cross-entropy with respect to the embedded
//! input (character embeddings for `char_cnn_lstm`, word embeddings for
//! `lstm_classifier` and `word_cnn`), left on the device.

use std::sync::Arc;

use crate::backend::Device;
use crate::error::{Error, Result};
use crate::models::device::{DeviceCharCnnLstm, DeviceEval, DeviceLstmClassifier, DeviceWordCnn, PassLoss, WordPasses};
use crate::models::{Input, Mode, Model, ModelConfig};
use crate::nn::ParamStore;

const OP: &str = "a classifier on a device";

/// A classifier's weights on a device, uploaded once.
pub enum DeviceClassifier {
    /// `char_cnn_lstm`.
    Chars(Box<DeviceCharCnnLstm>),
    /// `lstm_classifier` or `word_cnn`.
    Words(Box<dyn WordPasses + Send + Sync>),
}

impl DeviceClassifier {
    /// Uploads `model`'s weights from `store` to `dev`; a tagger is refused
    /// (it labels tokens; the attacks flip a text's class).
    pub fn new(model: &Model, store: &ParamStore, dev: Arc<dyn Device>) -> Result<Self> {
        Ok(match model.config() {
            ModelConfig::CharCnnLstm(_) => {
                DeviceClassifier::Chars(Box::new(DeviceCharCnnLstm::new(model, store, dev)?))
            }
            ModelConfig::LstmClassifier(_) => {
                DeviceClassifier::Words(Box::new(DeviceLstmClassifier::new(model, store, dev)?))
            }
            ModelConfig::WordCnn(_) => DeviceClassifier::Words(Box::new(DeviceWordCnn::new(model, store, dev)?)),
            ModelConfig::BilstmTagger(_) => {
                return Err(Error::invalid(OP, "bilstm_tagger labels tokens; only classifiers are attacked"))
            }
        })
    }

    /// The device it runs on.
    pub fn device(&self) -> &Arc<dyn Device> {
        match self {
            DeviceClassifier::Chars(m) => m.device(),
            DeviceClassifier::Words(m) => m.device(),
        }
    }

    /// Log-probabilities of `input` (on the host), and with `need_grad` the
    /// gradient of `J = Σ_b weights[b] · CE(b, classes[b])` with respect to
    /// the embedded input, in the layout `Model::embed` gives, on the device.
    pub fn evaluate(&self, input: &Input, classes: &[usize], weights: &[f32], need_grad: bool) -> Result<DeviceEval> {
        match (self, input) {
            (DeviceClassifier::Chars(m), Input::Chars(x)) => m.evaluate(x, classes, weights, need_grad),
            (DeviceClassifier::Words(m), Input::Words(x)) => {
                let pass = m.pass(x, Mode::EVAL, None, PassLoss::Weighted { classes, weights }, false, need_grad)?;
                if need_grad && pass.input_grad.is_none() {
                    return Err(Error::invalid(OP, format!("the attack's loss is {}", pass.grads.loss)));
                }
                Ok(DeviceEval { log_probs: m.device().to_host(&pass.log_probs)?, grad: pass.input_grad })
            }
            (DeviceClassifier::Chars(_), Input::Words(_)) => Err(Error::invalid(OP, "words for a character model")),
            (DeviceClassifier::Words(_), Input::Chars(_)) => Err(Error::invalid(OP, "characters for a word model")),
        }
    }
}
