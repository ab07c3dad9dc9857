//! Training and evaluation: data sets encoded for a model, padded batches,
//! objectives (plain here, adversarial in `adv`), the training loop with
//! checkpoints and resume, and the metrics reported.

mod batches;
pub mod device_step;
pub mod epochs;
mod frequencies;
pub mod lm;
pub mod lm_run;
mod metrics;
mod objective;
pub mod progress;
pub mod ranking;
pub mod resume;
mod run;
mod samples;
mod step;
mod trainer;

pub use batches::{epoch_plan, eval_plan, Batch, Targets};
pub use frequencies::set_embedding_frequencies;
pub use metrics::{argmax, evaluate, evaluate_at, predict, Metrics, Probs};
pub use objective::{collect_grads, task_loss, CleanPass, Objective, Plain, StepContext, StepResult};
pub use run::{init_from, run_resumable, run_resumable_on, Arch, Preset, TrainSpec};
pub use samples::{build_vocab, encode, Encoded, Sample, Target, Tokens, VocabOptions};
pub use step::Updater;
pub use trainer::{resolve_model_dir, StopReason, TrainOptions, TrainSummary, Trainee, Trainer, BEST, LAST, LOG};
