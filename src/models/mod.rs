//! The four architectures of shared/spec/MODELS.md, with PyTorch parameter
//! names so checkpoints load on both sides.

mod any;
mod batch;
pub mod char_cnn_lstm;
pub mod char_features;
pub mod char_nmt;
pub mod device;
mod input_gradient;
pub mod lstm_text;
pub mod word_cnn;

pub use any::{Input, Model, ModelConfig};
pub use batch::{CharBatch, WordBatch};
pub use char_cnn_lstm::{CharCnnLstm, CharCnnLstmConfig};
pub use input_gradient::{frozen_input_pass, FrozenPass, InputGradient, Weights};
pub use lstm_text::{BiLstmTagger, LstmClassifier, LstmTextConfig};
pub use word_cnn::{WordCnn, WordCnnConfig};

use crate::tape::Var;

/// Training (dropout on, with a seed for its masks) or evaluation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mode {
    /// Whether dropout is applied; `false` makes the forward pass deterministic.
    pub train: bool,
    /// Seeds the dropout masks: the same seed on the same batch gives the same
    /// masks, so a training forward pass can be repeated exactly.
    pub seed: u64,
}

impl Mode {
    /// Evaluation: no dropout, seed unused.
    pub const EVAL: Mode = Mode { train: false, seed: 0 };

    /// Training mode with dropout masks drawn from `seed` (vary it per step).
    pub fn train(seed: u64) -> Self {
        Mode { train: true, seed }
    }

    /// Dropout seed for the `k`-th dropout site of a forward pass.
    pub(crate) fn site(&self, k: u64) -> u64 {
        self.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(k)
    }
}

/// A forward pass's handles: the embedded input (what HotFlip and iAdvT
/// differentiate with respect to; call `Tape::retain_grad` on it) and the
/// logits.
#[derive(Clone, Copy, Debug)]
pub struct Forward {
    /// The embedded input (`[B, T, D]` words, `[B·W, L, char_dim]` chars).
    pub embedded: Var,
    /// Unnormalised scores: `[B, C]`, or `[B, T, C]` for the tagger.
    pub logits: Var,
}

/// Checks each `(field, value, minimum)` of a config and the dropout rate,
/// naming the first field out of range and its value.
pub(crate) fn check_sizes(
    what: &'static str,
    sizes: &[(&str, usize, usize)],
    dropout: f32,
) -> crate::error::Result<()> {
    if let Some((name, v, min)) = sizes.iter().find(|(_, v, min)| v < min) {
        return Err(crate::error::Error::invalid(what, format!("`{name}` is {v}; it must be at least {min}")));
    }
    if !(0.0..1.0).contains(&dropout) {
        return Err(crate::error::Error::invalid(what, format!("`dropout` is {dropout}; it must be in [0, 1)")));
    }
    Ok(())
}
