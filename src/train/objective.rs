//! What a training step minimises. Plain training is cross-entropy; the
//! adversarial methods (HotFlip, AdvT, VAT, iAdvT, iVAT) implement the same
//! trait with their extra passes.

use crate::error::Result;
use crate::models::{Mode, Model};
use crate::nn::ParamStore;
use crate::optim::Grads;
use crate::tape::{Tape, Var};
use crate::train::batches::{Batch, Targets};

/// Everything a step may read.
pub struct StepContext<'a> {
    pub model: &'a Model,
    pub store: &'a ParamStore,
    /// Training mode with this step's dropout seed.
    pub mode: Mode,
    /// Global step number (seeds for random perturbations).
    pub step: u64,
}

/// The outcome of one step: the loss that was differentiated, its
/// gradients in store order, and named parts (e.g. `clean`, `adv`) to log.
pub struct StepResult {
    pub loss: f32,
    pub grads: Grads,
    pub parts: Vec<(&'static str, f32)>,
}

pub trait Objective {
    /// Short name for logs and `config.json` (`plain`, `advt`, …).
    fn name(&self) -> String;

    /// The loss of `batch` and its gradients.
    fn step(&mut self, ctx: &StepContext<'_>, batch: &Batch) -> Result<StepResult>;
}

/// Mean cross-entropy of a batch: per example for classifiers, per real
/// token for the tagger.
pub fn task_loss(tape: &Tape, logits: Var, targets: &Targets) -> Result<Var> {
    match targets {
        Targets::Classes(y) => tape.cross_entropy(logits, y),
        Targets::Tags { labels, mask } => tape.cross_entropy_masked(logits, labels, mask),
    }
}

/// Gradients of every parameter, in store order (`None` where a parameter
/// did not influence the loss).
pub fn collect_grads(p: &crate::nn::Bound, grads: &mut crate::tape::Gradients, store: &ParamStore) -> Grads {
    store.ids().map(|id| grads.take(p.var(id))).collect()
}

/// Plain training: cross-entropy on the clean batch.
pub struct Plain;

impl Objective for Plain {
    fn name(&self) -> String {
        "plain".into()
    }

    fn step(&mut self, ctx: &StepContext<'_>, batch: &Batch) -> Result<StepResult> {
        let tape = Tape::new();
        let p = tape.bind(ctx.store);
        let f = ctx.model.forward(&tape, &p, &batch.input, None, ctx.mode)?;
        let loss = task_loss(&tape, f.logits, &batch.targets)?;
        let value = tape.value(loss)?.item()?;
        let mut g = tape.backward(loss)?;
        Ok(StepResult { loss: value, grads: collect_grads(&p, &mut g, ctx.store), parts: vec![("clean", value)] })
    }
}
