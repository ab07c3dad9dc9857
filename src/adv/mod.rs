//! Training that resists adversarial examples: HotFlip's flip-based
//! adversarial training (characters, word SEM/UNK) and Sato et al.'s
//! embedding-space methods (AdvT, VAT, iAdvT, iVAT, random), each an
//! `Objective` for the training loop.

pub mod embedding;
pub mod embedding_device;
mod flip_device;
pub mod flip_training;
pub mod iadvt_baselines;
pub mod interpret;
pub mod perturb;

pub use embedding::{EmbeddingAdversary, EmbeddingMethod};
pub use flip_training::{FlipKind, FlipTraining};
