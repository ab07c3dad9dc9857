//! hotflip: white-box adversarial examples (HotFlip, Ebrahimi et al. 2018)
//! and adversarial training in embedding space (AdvT/VAT/iAdvT/iVAT, Sato et
//! al. 2018) for neural text models, on a from-scratch reverse-mode
//! autodiff engine.
//!
//! The engine: [`Tensor`] holds f32 data; a [`Tape`] records ops on [`Var`]s
//! and `Tape::backward` returns [`Gradients`] for parameters and for any
//! intermediate value marked with `Tape::retain_grad`.

pub mod adv;
pub mod attack;
pub mod backend;
pub mod bench;
pub mod checkpoint;
pub mod cuda;
pub mod data;
pub mod error;
pub mod gradcheck;
pub mod lexicon;
pub mod models;
pub mod nn;
pub mod ops;
pub mod optim;
pub mod profile;
pub mod rng;
pub mod tape;
pub mod tensor;
pub mod train;

pub use error::{Error, Result};
pub use rng::Rng;
pub use tape::{GradSink, Gradients, Tape, Var};
pub use tensor::{DType, Tensor};

/// Sizes rayon's global pool. Call once, before any parallel work; later
/// calls (or a pool already built) leave the first size in place.
pub fn set_threads(n: usize) -> usize {
    if n > 0 {
        let _ = rayon::ThreadPoolBuilder::new().num_threads(n).build_global();
    }
    rayon::current_num_threads()
}
