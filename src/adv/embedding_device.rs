//! AdvT, iAdvT, VAT and iVAT (`--adv advt`, `iadvt`, `vat`, `ivat`) with the
//! steps on a device (`train --device cuda`, `lstm_classifier`, `word_cnn`
//! and `bilstm_tagger`, whose losses are over its real tokens): the clean pass's
//! loss, weight gradients, log-probabilities and g (the gradient at the
//! embedded words) on the device; the perturbation built there; the
//! adversarial pass at `x + r` and the combination `J + λ·J_adv`
//! (`CleanPass::with_adversarial`) on the device. What crosses per step:
//! the losses and one norm per example come back; VAT's random start
//! (drawn on the host from the same seeded generator as the host
//! objective, so the runs agree) goes up.
//!
//! - AdvT: `r = ε g/‖g‖` per example (ATTACKS.md; `perturb::normalize_per_example`):
//!   the squared norms by a GEMM with a ones vector, the B scales on the
//!   host (a zero gradient stays zero), broadcast back by a rank-1 GEMM.
//! - iAdvT: the real positions gathered (`embedding_fwd` on row indices),
//!   the batched nearest-neighbour pipeline (`Device::iadvt`) on the
//!   normalised table, `r` scattered back (`embedding_bwd`, each row once).
//! - iVAT: one search (`Device::nn_search`, ids and norms left on the
//!   device); a random α (P·K normals from the host generator, as the host
//!   objective draws them) normalised to ξ (`nn_alpha`) gives `r0`
//!   (`nn_perturb`); the KL gradient there is projected on the directions
//!   (`nn_project`), normalised to ε, and gives r.
//! - VAT: one power iteration: dKL(p ‖ q(x + ξd))/dr with the weights
//!   frozen (no weight gradients are formed), normalised per example to ε;
//!   J_adv is KL(p ‖ q(x + r)) with p the clean pass's (fixed).

use crate::adv::embedding::{EmbeddingAdversary, EmbeddingMethod};
use crate::adv::iadvt_baselines::{choose, one_hot, OneDirection};
use crate::adv::perturb::{random_direction, real_positions};
use crate::backend::{Device, Gemm, IadvtArgs, NearestArgs, NearestWords, Storage};
use crate::error::{Error, Result};
use crate::models::device::{DeviceGrads, DeviceModel, PassLoss, WordPasses};
use crate::models::{Input, Mode, WordBatch};
use crate::ops::neighbours::{AlphaScope, IadvtConfig};
use crate::ops::BinaryKind;
use crate::rng::Rng;
use crate::train::device_step::{combine, task_loss, DeviceObjective};
use crate::train::{Batch, Objective, Targets};

const OP: &str = "embedding adversarial training on a device";

/// Whether `method` trains on a device.
pub fn runs_on_device(method: EmbeddingMethod) -> bool {
    // Every method does; kept as the one place to say otherwise.
    matches!(
        method,
        EmbeddingMethod::AdvT
            | EmbeddingMethod::IAdvT
            | EmbeddingMethod::Vat
            | EmbeddingMethod::IVat
            | EmbeddingMethod::Random
            | EmbeddingMethod::IAdvTRand
            | EmbeddingMethod::IAdvTBest
    )
}

impl DeviceObjective for EmbeddingAdversary {
    fn name(&self) -> String {
        Objective::name(self)
    }

    fn grads(&mut self, model: &DeviceModel, batch: &Batch, mode: Mode, step: u64) -> Result<DeviceGrads> {
        let m: &dyn WordPasses = match model {
            DeviceModel::LstmClassifier(m) | DeviceModel::BilstmTagger(m) => m.as_ref(),
            DeviceModel::WordCnn(m) => m.as_ref(),
            DeviceModel::CharCnnLstm(_) => {
                return Err(Error::invalid(
                    OP,
                    "only lstm_classifier, bilstm_tagger and word_cnn perturb word embeddings on a device",
                ))
            }
        };
        if !runs_on_device(self.method) {
            return Err(Error::invalid(OP, format!("--adv {} does not run on a device yet", self.method.name())));
        }
        let Input::Words(x) = &batch.input else {
            return Err(Error::invalid(OP, "embedding perturbations need a word batch"));
        };
        let task = task_loss(&batch.targets);
        let kl = |log_probs| kl_loss(log_probs, &batch.targets);
        let clean = m.pass(x, mode, None, task, true, true)?;
        let Some(g) = clean.input_grad else { return Ok(clean.grads) };
        let d = m.device().as_ref();
        let dim = m.table_dims().1;
        let width = x.len * dim;
        let adv = match self.method {
            EmbeddingMethod::AdvT => {
                let r = per_example(d, &g, x.batch, width, self.epsilon)?;
                m.pass(x, mode, Some(&r), task, true, false)?
            }
            EmbeddingMethod::IAdvT => {
                let r = self.iadvt(m, x, &g)?;
                m.pass(x, mode, Some(&r), task, true, false)?
            }
            EmbeddingMethod::Random => {
                // Drawn on the host from the step's generator, as the CPU run draws it.
                let mut rng = Rng::derive(self.seed, step);
                let r = d.upload(&random_direction(x, dim, self.epsilon, &mut rng))?;
                m.pass(x, mode, Some(&r), task, true, false)?
            }
            EmbeddingMethod::IAdvTRand | EmbeddingMethod::IAdvTBest => {
                let r = self.one_direction(m, x, &g, step)?;
                m.pass(x, mode, Some(&r), task, true, false)?
            }
            EmbeddingMethod::IVat => {
                let p = kl(&clean.log_probs);
                let r = self.ivat(m, x, step, |r0| {
                    let power = m.pass(x, mode, Some(r0), p, false, true)?;
                    Ok(power.input_grad)
                })?;
                let Some(r) = r else { return Ok(clean.grads) };
                m.pass(x, mode, Some(&r), p, true, false)?
            }
            _ => {
                // VAT, as `EmbeddingAdversary::perturbation` draws it.
                let mut rng = Rng::derive(self.seed, step);
                let start = d.upload(&random_direction(x, dim, self.xi, &mut rng))?;
                let p = kl(&clean.log_probs);
                let power = m.pass(x, mode, Some(&start), p, false, true)?;
                let Some(gd) = power.input_grad else { return Ok(power.grads) };
                // Padding rows keep exactly zero, as on the host (word_cnn's
                // windows reach the padding up to its widest kernel).
                let (rows, _) = positions(x);
                let all = x.batch * x.len;
                let gd = d.embedding_bwd(&d.embedding_fwd(&gd, all, dim, &rows)?, all, dim, &rows, None)?;
                let r = per_example(d, &gd, x.batch, width, self.epsilon)?;
                m.pass(x, mode, Some(&r), p, true, false)?
            }
        };
        combine(d, clean.grads, 1.0, adv.grads, self.lambda)
    }
}

/// (i)VAT's divergence from the clean pass's `log_probs`, on the rows
/// `task_loss` counts (as `adv::embedding`'s `kl_loss` on the tape).
fn kl_loss<'a>(log_probs: &'a Storage, targets: &'a Targets) -> PassLoss<'a> {
    match targets {
        Targets::Classes(_) => PassLoss::Kl(log_probs),
        Targets::Tags { mask, .. } => PassLoss::TaggedKl { log_probs, mask },
    }
}

/// The real positions of a batch: their rows in `[B·T, ·]` and their words.
fn positions(x: &WordBatch) -> (Vec<usize>, Vec<usize>) {
    let rows: Vec<usize> = real_positions(x).into_iter().map(|(b, t)| b * x.len + t).collect();
    let ids = rows.iter().map(|&i| x.ids[i]).collect();
    (rows, ids)
}

impl EmbeddingAdversary {
    /// iVAT's perturbation `[B·T, D]` (as `EmbeddingAdversary::perturbation`
    /// draws it): one search; a random α of norm ξ per example (drawn on
    /// the host from the step's generator) gives `r0`; `kl_grad(r0)` is
    /// dKL/dr there; its projection on the directions, normalised to ε,
    /// is α. `None` when the KL pass was not finite.
    fn ivat(
        &self,
        m: &dyn WordPasses,
        x: &WordBatch,
        step: u64,
        kl_grad: impl FnOnce(&Storage) -> Result<Option<Storage>>,
    ) -> Result<Option<Storage>> {
        let d = m.device().as_ref();
        let (dim, all, k) = (m.table_dims().1, x.batch * x.len, self.neighbours);
        let hood = Neighbourhood::search(m, x, k)?;
        let (at, near, rows) = (hood.args(m), &hood.near, &hood.rows);
        let mut rng = Rng::derive(self.seed, step);
        let raw: Vec<f32> = (0..hood.ids.len() * k).map(|_| rng.normal()).collect();
        let alpha0 = d.nn_alpha(&d.upload(&raw)?, k, &x.lengths, AlphaScope::PerExample, self.xi)?;
        let r0 = d.embedding_bwd(&d.nn_perturb(at, near, &alpha0)?, all, dim, rows, None)?;
        let Some(gr) = kl_grad(&r0)? else { return Ok(None) };
        let ghat = d.nn_project(at, near, &d.embedding_fwd(&gr, all, dim, rows)?)?;
        let alpha = d.nn_alpha(&ghat, k, &x.lengths, self.scope, self.epsilon)?;
        Ok(Some(d.embedding_bwd(&d.nn_perturb(at, near, &alpha)?, all, dim, rows, None)?))
    }

    /// iAdvT-Rand's or iAdvT-Best's perturbation `[B·T, D]` from g
    /// `[B·T, D]` (`iadvt_baselines::one_direction` on the device): the
    /// search, ĝ (Best), α and r there; ĝ `[P, K]` comes to the host for the
    /// choice (Rand draws it from the step's generator, as the CPU run).
    fn one_direction(&self, m: &dyn WordPasses, x: &WordBatch, g: &Storage, step: u64) -> Result<Storage> {
        let d = m.device().as_ref();
        let (dim, all, k) = (m.table_dims().1, x.batch * x.len, self.neighbours);
        let hood = Neighbourhood::search(m, x, k)?;
        let (at, near, rows) = (hood.args(m), &hood.near, &hood.rows);
        let kind = if self.method == EmbeddingMethod::IAdvTBest { OneDirection::Best } else { OneDirection::Random };
        let ghat = match kind {
            OneDirection::Best => d.to_host(&d.nn_project(at, near, &d.embedding_fwd(g, all, dim, rows)?)?)?,
            OneDirection::Random => vec![0.0; hood.ids.len() * k],
        };
        let mut rng = Rng::derive(self.seed, step);
        let chosen = choose(kind, &ghat, k, &mut rng);
        let sparse = d.upload(&one_hot(kind, &ghat, &chosen, k))?;
        let alpha = d.nn_alpha(&sparse, k, &x.lengths, self.scope, self.epsilon)?;
        d.embedding_bwd(&d.nn_perturb(at, near, &alpha)?, all, dim, rows, None)
    }

    /// iAdvT's perturbation `[B·T, D]` from g `[B·T, D]`, on the device.
    fn iadvt(&self, m: &dyn WordPasses, x: &WordBatch, g: &Storage) -> Result<Storage> {
        let d = m.device().as_ref();
        let (vocab, dim) = m.table_dims();
        let (rows, ids) = positions(x);
        let all = x.batch * x.len;
        let w = d.embedding_fwd(m.table(), vocab, dim, &ids)?;
        let gr = d.embedding_fwd(g, all, dim, &rows)?;
        let cfg = IadvtConfig { k: self.neighbours, eps: self.epsilon, scope: self.scope };
        let args = IadvtArgs { table: m.table(), vocab, dim, ids: &ids, w: &w, g: &gr, lengths: &x.lengths, cfg };
        let r = d.iadvt(args)?;
        // Each real position once: the scatter-add is a copy, padding stays 0.
        d.embedding_bwd(&r, all, dim, &rows, None)
    }
}

/// A batch's real positions with their K nearest words, on the device:
/// what iVAT and the one-direction baselines start from.
struct Neighbourhood {
    /// The positions' rows in `[B·T, ·]`.
    rows: Vec<usize>,
    /// Their words.
    ids: Vec<usize>,
    /// Their vectors `[P, D]`, from the table the model reads.
    w: Storage,
    /// Their `k` nearest words.
    near: NearestWords,
}

impl Neighbourhood {
    fn search(m: &dyn WordPasses, x: &WordBatch, k: usize) -> Result<Self> {
        let d = m.device().as_ref();
        let (vocab, dim) = m.table_dims();
        let (rows, ids) = positions(x);
        let w = d.embedding_fwd(m.table(), vocab, dim, &ids)?;
        let near = d.nn_search(NearestArgs { table: m.table(), vocab, dim, ids: &ids, w: &w }, k)?;
        Ok(Neighbourhood { rows, ids, w, near })
    }

    /// The primitives' view of it.
    fn args<'a>(&'a self, m: &'a dyn WordPasses) -> NearestArgs<'a> {
        let (vocab, dim) = m.table_dims();
        NearestArgs { table: m.table(), vocab, dim, ids: &self.ids, w: &self.w }
    }
}

/// Each of the `batch` rows of `v [batch, width]` scaled to L2 norm `eps`
/// (a zero row stays zero), as `perturb::normalize_per_example`.
pub fn per_example(d: &dyn Device, v: &Storage, batch: usize, width: usize, eps: f32) -> Result<Storage> {
    let ones = d.upload(&vec![1.0; width])?;
    let sq = d.unary(crate::ops::Unary::Square, v)?;
    let norms = d.to_host(&d.gemm(&sq, &ones, Gemm { m: batch, k: width, n: 1, ta: false, tb: false })?)?;
    let scales: Vec<f32> = norms
        .iter()
        .map(|&n2| {
            let n = (n2 as f64).sqrt();
            if n > 0.0 {
                (eps as f64 / n) as f32
            } else {
                0.0
            }
        })
        .collect();
    let s = d.upload(&scales)?;
    let rows = d.gemm(&s, &ones, Gemm { m: batch, k: 1, n: width, ta: false, tb: false })?;
    d.binary(BinaryKind::Mul, v, &rows)
}
