//! Adversarial and virtual adversarial training in word-embedding space
//! (Sato et al. 2018, after Miyato et al. 2017), for `lstm_classifier` and
//! `bilstm_tagger` (and any word model): objective `J(clean) + λ·J_adv`.
//!
//! - AdvT: `r = ε g/‖g‖`, g the loss gradient at the embeddings.
//! - VAT: a random direction ξ·d, one power iteration on
//!   `KL(p(x) ‖ p(x + ξd))`, `r = ε ĝ/‖ĝ‖`; J_adv is that KL at r (p fixed).
//! - iAdvT / iVAT: the same, with r restricted to `Σ_k α_k d_k`, d_k the
//!   unit directions to the K nearest vocabulary embeddings (recomputed each
//!   step from the current embeddings).
//! - Random: r a random direction of norm ε (the baseline).
//! - iAdvT-Rand / iAdvT-Best: one nearest-word direction per position,
//!   random or the best (Sato et al. Table 3; `adv::iadvt_baselines`).

use crate::adv::iadvt_baselines::{one_direction, OneDirection};
use crate::adv::perturb::{check, gather, normalize_per_example, random_direction, real_positions, scatter};
use crate::error::{Error, Result};
use crate::models::{Input, Mode, Model, Weights, WordBatch};
use crate::nn::ParamStore;
use crate::ops::neighbours::{self, AlphaScope, IadvtConfig, Table};
use crate::rng::Rng;
use crate::tape::{Tape, Var};
use crate::tensor::Tensor;
use crate::train::{task_loss, Batch, CleanPass, Objective, StepContext, StepResult, Targets};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
/// Which embedding-space adversary trains the model (Miyato et al.; Sato et al.).
pub enum EmbeddingMethod {
    /// AdvT: ε along the loss gradient, normalised per example.
    AdvT,
    /// VAT: ε along the KL divergence's gradient from a random start (one power iteration).
    Vat,
    /// iAdvT: the gradient projected onto the K nearest-word directions.
    IAdvT,
    /// iVAT: VAT's direction projected onto the K nearest-word directions.
    IVat,
    /// A random direction of norm ε (the baseline).
    Random,
    /// Sato et al. Table 3: one random nearest-word direction per position.
    IAdvTRand,
    /// Sato et al. Table 3: the single best nearest-word direction (Eq. 13).
    IAdvTBest,
}

impl EmbeddingMethod {
    /// The `--adv` name.
    pub fn name(self) -> &'static str {
        match self {
            EmbeddingMethod::AdvT => "advt",
            EmbeddingMethod::Vat => "vat",
            EmbeddingMethod::IAdvT => "iadvt",
            EmbeddingMethod::IVat => "ivat",
            EmbeddingMethod::Random => "random",
            EmbeddingMethod::IAdvTRand => "iadvt-rand",
            EmbeddingMethod::IAdvTBest => "iadvt-best",
        }
    }

    /// Perturbations built from nearest-word directions (ε 15 in the paper).
    pub fn interpretable(self) -> bool {
        matches!(
            self,
            EmbeddingMethod::IAdvT | EmbeddingMethod::IVat | EmbeddingMethod::IAdvTRand | EmbeddingMethod::IAdvTBest
        )
    }

    fn virtual_(self) -> bool {
        matches!(self, EmbeddingMethod::Vat | EmbeddingMethod::IVat)
    }
}

#[derive(Clone, Debug)]
/// An embedding-space adversarial training objective: J + λ·J_adv at a perturbation of norm ε.
pub struct EmbeddingAdversary {
    /// How the perturbation is built.
    pub method: EmbeddingMethod,
    /// Norm of the perturbation per example (AdvT/VAT 5, iAdvT/iVAT 15).
    pub epsilon: f32,
    /// Weight of the adversarial term.
    pub lambda: f32,
    /// VAT's finite-difference step for the power iteration.
    pub xi: f32,
    /// K nearest words (iAdvT, iVAT).
    pub neighbours: usize,
    /// Over what α is normalised: one example, or one position.
    pub scope: AlphaScope,
    /// Seeds the random starts and directions (mixed with the step number).
    pub seed: u64,
}

impl EmbeddingAdversary {
    /// Sato et al.'s settings for `method` (ε 5, or 15 for the
    /// interpretable versions; λ 1; K 10; ξ 0.1).
    pub fn paper(method: EmbeddingMethod, seed: u64) -> Self {
        let epsilon = if method.interpretable() { 15.0 } else { 5.0 };
        EmbeddingAdversary {
            method,
            epsilon,
            lambda: 1.0,
            xi: 0.1,
            neighbours: 10,
            scope: AlphaScope::PerExample,
            seed,
        }
    }
}

/// KL(p ‖ q) over the rows that are predictions (all rows of a classifier;
/// the real tokens of the tagger).
fn kl_loss(tape: &Tape, p_logits: &Tensor, q_logits: Var, targets: &Targets) -> Result<Var> {
    let p = tape.constant(p_logits.clone());
    match targets {
        Targets::Classes(_) => tape.kl_div(p, q_logits),
        Targets::Tags { mask, .. } => {
            let c = *p_logits.shape().last().unwrap_or(&1);
            let rows: Vec<usize> = mask.iter().enumerate().filter(|(_, &m)| m > 0.0).map(|(i, _)| i).collect();
            let n = mask.len();
            let p2 = tape.index_select(tape.reshape(p, &[n, c])?, &rows)?;
            let q2 = tape.index_select(tape.reshape(q_logits, &[n, c])?, &rows)?;
            tape.kl_div(p2, q2)
        }
    }
}

impl EmbeddingAdversary {
    /// dKL/dr at `r` (the power iteration's gradient), with weights frozen.
    #[allow(clippy::too_many_arguments)]
    fn kl_gradient(
        &self,
        model: &Model,
        store: &ParamStore,
        input: &Input,
        embedded: &Tensor,
        r: Vec<f32>,
        p_logits: &Tensor,
        targets: &Targets,
        mode: Mode,
    ) -> Result<Vec<f32>> {
        let tape = Tape::new();
        let p = tape.bind_frozen(store);
        let e = tape.constant(embedded.clone());
        let rv = tape.leaf(Tensor::new(embedded.shape(), r)?);
        let logits = model.forward_embedded(&tape, &p, input, tape.add(e, rv)?, mode)?;
        let kl = kl_loss(&tape, p_logits, logits, targets)?;
        let g = tape.backward(kl)?;
        Ok(g.get(rv).map(|t| t.data().to_vec()).unwrap_or_else(|| vec![0.0; embedded.numel()]))
    }

    /// The perturbation `[B, T, D]` for this batch.
    #[allow(clippy::too_many_arguments)]
    fn perturbation(
        &self,
        ctx: &StepContext<'_>,
        input: &Input,
        x: &WordBatch,
        embedded: &Tensor,
        g: &[f32],
        p_logits: &Tensor,
        targets: &Targets,
    ) -> Result<Vec<f32>> {
        let d = *embedded.shape().last().unwrap_or(&1);
        check(g, x, d)?;
        let mut rng = Rng::derive(self.seed, ctx.step);
        let interpretable = || -> Result<(Tensor, Vec<usize>, Vec<f32>)> {
            let table = ctx
                .model
                .word_table_values(ctx.store)?
                .ok_or_else(|| Error::invalid("iadvt", "the model has no word embeddings"))?;
            let ids: Vec<usize> = real_positions(x).into_iter().map(|(b, t)| x.ids[b * x.len + t]).collect();
            Ok((table, ids, gather(embedded.data(), x, d)))
        };
        Ok(match self.method {
            EmbeddingMethod::AdvT => {
                let mut r = g.to_vec();
                normalize_per_example(&mut r, x, d, self.epsilon);
                r
            }
            EmbeddingMethod::Random => random_direction(x, d, self.epsilon, &mut rng),
            EmbeddingMethod::Vat => {
                let start = random_direction(x, d, self.xi, &mut rng);
                let mut gd =
                    self.kl_gradient(ctx.model, ctx.store, input, embedded, start, p_logits, targets, ctx.mode)?;
                // Padding rows carry no gradient; keep them exactly zero.
                gd = scatter(&gather(&gd, x, d), x, d);
                normalize_per_example(&mut gd, x, d, self.epsilon);
                gd
            }
            EmbeddingMethod::IAdvT => {
                let (table, ids, w) = interpretable()?;
                let t = Table::new(table.data(), table.shape()[0], d)?;
                let cfg = IadvtConfig { k: self.neighbours, eps: self.epsilon, scope: self.scope };
                let nb = neighbours::iadvt(t, &ids, &w, &gather(g, x, d), &x.lengths, &cfg)?;
                scatter(&nb.r, x, d)
            }
            EmbeddingMethod::IVat => {
                let (table, ids, w) = interpretable()?;
                let t = Table::new(table.data(), table.shape()[0], d)?;
                let k = self.neighbours;
                let nearest = neighbours::nearest(t, &ids, &w, k)?;
                // A random unit α per example, scaled by ξ, as VAT's start.
                let raw: Vec<f32> = (0..ids.len() * k).map(|_| rng.normal()).collect();
                let alpha0 = neighbours::alpha(&raw, k, &x.lengths, AlphaScope::PerExample, self.xi)?;
                let r0 = neighbours::perturbation(t, &w, &nearest.ids, k, &alpha0)?;
                let gr = self.kl_gradient(
                    ctx.model,
                    ctx.store,
                    input,
                    embedded,
                    scatter(&r0, x, d),
                    p_logits,
                    targets,
                    ctx.mode,
                )?;
                let ghat = neighbours::alpha_grad(t, &w, &nearest.ids, k, &gather(&gr, x, d))?;
                let alpha = neighbours::alpha(&ghat, k, &x.lengths, self.scope, self.epsilon)?;
                scatter(&neighbours::perturbation(t, &w, &nearest.ids, k, &alpha)?, x, d)
            }
            EmbeddingMethod::IAdvTRand | EmbeddingMethod::IAdvTBest => {
                let (table, ids, w) = interpretable()?;
                let t = Table::new(table.data(), table.shape()[0], d)?;
                let kind =
                    if self.method == EmbeddingMethod::IAdvTBest { OneDirection::Best } else { OneDirection::Random };
                let p = one_direction(
                    kind,
                    t,
                    &ids,
                    &w,
                    &gather(g, x, d),
                    &x.lengths,
                    self.neighbours,
                    self.scope,
                    self.epsilon,
                    &mut rng,
                )?;
                scatter(&p.r, x, d)
            }
        })
    }
}

impl EmbeddingAdversary {
    /// The perturbation this objective would train against on `batch`
    /// (`[B, T, D]`), with the clean embeddings it is added to: for tests
    /// and for inspecting what the model is trained to resist.
    pub fn perturbation_of(&self, ctx: &StepContext<'_>, batch: &Batch) -> Result<(Tensor, Tensor)> {
        let Input::Words(x) = &batch.input else {
            return Err(Error::invalid("adversarial training", "embedding perturbations need a word model"));
        };
        let ig = ctx.model.input_gradient(ctx.store, &batch.input, ctx.mode, Weights::Frozen, |tape, logits| {
            task_loss(tape, logits, &batch.targets)
        })?;
        let e = ig.embedded;
        let r = self.perturbation(ctx, &batch.input, x, &e, ig.grad.data(), &ig.logits, &batch.targets)?;
        Ok((e.clone(), Tensor::new(e.shape(), r)?))
    }

    /// dKL(p ‖ p(x + r))/dr at `r`, weights frozen (VAT's power-iteration
    /// gradient), exposed for tests.
    pub fn kl_gradient_at(&self, ctx: &StepContext<'_>, batch: &Batch, r: &Tensor) -> Result<Tensor> {
        let tape = Tape::no_grad();
        let p = tape.bind_frozen(ctx.store);
        let e = tape.value(ctx.model.embed(&tape, &p, &batch.input)?)?;
        let logits =
            tape.value(ctx.model.forward_embedded(&tape, &p, &batch.input, tape.constant(e.clone()), ctx.mode)?)?;
        let g = self.kl_gradient(
            ctx.model,
            ctx.store,
            &batch.input,
            &e,
            r.data().to_vec(),
            &logits,
            &batch.targets,
            ctx.mode,
        )?;
        Tensor::new(e.shape(), g)
    }
}

impl Objective for EmbeddingAdversary {
    fn name(&self) -> String {
        format!("{}(eps={},lambda={},k={})", self.method.name(), self.epsilon, self.lambda, self.neighbours)
    }

    fn step(&mut self, ctx: &StepContext<'_>, batch: &Batch) -> Result<StepResult> {
        let Input::Words(x) = &batch.input else {
            return Err(Error::invalid("adversarial training", "embedding perturbations need a word model"));
        };
        // Clean pass: the loss, its parameter gradients, and g at the embeddings.
        let clean = CleanPass::run(ctx, batch)?;
        let (embedded, p_logits) = (&clean.embedded, &clean.logits);
        let r = self.perturbation(ctx, &batch.input, x, embedded, &clean.input_grad, p_logits, &batch.targets)?;
        let r = Tensor::new(embedded.shape(), r)?;

        // Adversarial pass at the (constant) perturbation.
        let virtual_ = self.method.virtual_();
        let p_logits = p_logits.clone();
        let loss = |tape: &Tape, logits| {
            if virtual_ {
                kl_loss(tape, &p_logits, logits, &batch.targets)
            } else {
                task_loss(tape, logits, &batch.targets)
            }
        };
        clean.with_adversarial(ctx, &batch.input, Some(r), loss, 1.0, self.lambda)
    }
}
