//! hotflip: white-box adversarial examples (HotFlip, Ebrahimi et al. 2018)
//! and adversarial training in embedding space (AdvT/VAT/iAdvT/iVAT, Sato et
//! al. 2018) for neural text models, on a from-scratch reverse-mode
//! autodiff engine.
//!
//! The engine: [`Tensor`] holds f32 data; a [`Tape`] records ops on [`Var`]s
//! and `Tape::backward` returns [`Gradients`] for parameters and for any
//! intermediate value marked with `Tape::retain_grad`.

//!
//! Most users want the [`prelude`]: load a [`checkpoint`], build an
//! [`attack::Attacker`] at a [`attack::Level`] and attack a text, or run a
//! whole data set resumably with [`attack::run_resumable`]; train with
//! [`train::run_resumable`]. `examples/` shows each.
//!
//! `bench`, `cuda`, `gradcheck` and `profile` are internals the `hotflip`
//! binary, the benches and the tests reach; they are hidden from the
//! documentation and may change without notice.

#![warn(missing_docs)]

pub mod adv;
pub mod attack;
pub mod backend;
#[doc(hidden)]
pub mod bench;
pub mod bleu;
pub mod checkpoint;
pub mod cpu;
#[doc(hidden)]
pub mod cuda;
pub mod data;
pub mod error;
#[doc(hidden)]
pub mod gradcheck;
#[doc(hidden)]
pub mod kernel_checks;
pub mod lexicon;
pub mod math;
pub mod models;
pub mod nmt;
pub mod nn;
pub mod ops;
pub mod optim;
pub mod pool;
#[doc(hidden)]
pub mod profile;
pub mod rng;
pub mod tape;
pub mod tensor;
pub mod train;
pub mod util;

/// The names most programs need, in one `use hotflip::prelude::*;`.
pub mod prelude {
    pub use crate::attack::{
        run_resumable as attack_resumable, Attacker, ExampleResult, Level, Method, RunOptions, RunSpec, Settings,
        Summary, Task, WordConstraints,
    };
    pub use crate::checkpoint::{self, Checkpoint};
    pub use crate::error::{Error, Result};
    pub use crate::models::{Model, ModelConfig};
    pub use crate::tape::{Gradients, Tape, Var};
    pub use crate::tensor::Tensor;
    pub use crate::train::{run_resumable as train_resumable, Arch, Preset, TrainOptions, TrainSpec, TrainSummary};
}

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
