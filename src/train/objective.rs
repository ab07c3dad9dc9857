//! What a training step minimises. Plain training is cross-entropy; the
//! adversarial methods (HotFlip, AdvT, VAT, iAdvT, iVAT) implement the same
//! trait with their extra passes.

use crate::error::Result;
use crate::models::{Input, Mode, Model, Weights};
use crate::nn::ParamStore;
use crate::optim::{weighted_sum, Grads};
use crate::tape::{Tape, Var};
use crate::tensor::Tensor;
use crate::train::batches::{Batch, Targets};

/// Everything a step may read.
pub struct StepContext<'a> {
    /// The model being trained.
    pub model: &'a Model,
    /// Its current weights (read only; the trainer applies the update).
    pub store: &'a ParamStore,
    /// Training mode with this step's dropout seed.
    pub mode: Mode,
    /// Global step number (seeds for random perturbations).
    pub step: u64,
}

/// The outcome of one step: the loss that was differentiated, its
/// gradients in store order, and named parts (e.g. `clean`, `adv`) to log.
pub struct StepResult {
    /// The value of the differentiated loss.
    pub loss: f32,
    /// Gradients in store order, `None` for parameters the loss does not reach.
    pub grads: Grads,
    /// Named loss components to log (e.g. `("clean", …)`, `("adv", …)`).
    pub parts: Vec<(&'static str, f32)>,
}

/// A training objective: how one batch becomes a loss and gradients. The
/// trainer clips and applies them, so an objective only computes.
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

/// The clean pass of a two-pass (clean + adversarial) objective.
pub struct CleanPass {
    /// The clean task loss J(x).
    pub loss: f32,
    /// Its parameter gradients, in store order.
    pub grads: Grads,
    /// The embedded input the model read.
    pub embedded: Tensor,
    /// The clean logits.
    pub logits: Tensor,
    /// dJ/d(embedded input), flat (zeros where nothing flowed).
    pub input_grad: Vec<f32>,
}

impl CleanPass {
    /// One forward and backward pass of the task loss on `batch`, keeping
    /// the gradient at the embedded input: what HotFlip training scores
    /// flips with and embedding adversaries perturb along.
    pub fn run(ctx: &StepContext<'_>, batch: &Batch) -> Result<CleanPass> {
        let ig = ctx.model.input_gradient(ctx.store, &batch.input, ctx.mode, Weights::Trained, |tape, logits| {
            task_loss(tape, logits, &batch.targets)
        })?;
        Ok(CleanPass {
            loss: ig.loss,
            grads: ig.weights,
            embedded: ig.embedded,
            logits: ig.logits,
            input_grad: ig.grad.data().to_vec(),
        })
    }

    /// The adversarial pass on `input` (with the embedding perturbation `r`,
    /// if any) under `loss` (given the tape and the logits), combined with
    /// this clean pass as `clean_weight · J + adv_weight · J_adv`.
    pub fn with_adversarial(
        self,
        ctx: &StepContext<'_>,
        input: &Input,
        r: Option<Tensor>,
        loss: impl FnOnce(&Tape, Var) -> Result<Var>,
        clean_weight: f32,
        adv_weight: f32,
    ) -> Result<StepResult> {
        let tape = Tape::new();
        let p = tape.bind(ctx.store);
        let rv = r.map(|r| tape.constant(r));
        let f = ctx.model.forward(&tape, &p, input, rv, ctx.mode)?;
        let adv = loss(&tape, f.logits)?;
        let adv_value = tape.value(adv)?.item()?;
        let mut g = tape.backward(adv)?;
        let adv_grads = collect_grads(&p, &mut g, ctx.store);
        Ok(StepResult {
            loss: clean_weight * self.loss + adv_weight * adv_value,
            grads: weighted_sum(self.grads, clean_weight, adv_grads, adv_weight)?,
            parts: vec![("clean", self.loss), ("adv", adv_value)],
        })
    }
}
