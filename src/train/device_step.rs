//! One optimisation step on a device (`train --device cuda`): the model's
//! weights and Adam's moments stay resident; a step uploads the batch's ids,
//! runs the training pass (`models::device`), clips the joint gradient
//! norm and applies Adam there, and brings back only the loss and the
//! norm. Dev evaluation runs there too ([`predict`], [`evaluate_at`]).
//! [`DeviceUpdater::sync`] downloads weights and moments into the host
//! store and `Adam` for each checkpoint save (`best/` when dev improves,
//! `last/`), so that `last/` resumes on either device.
//!
//! The same arithmetic as [`crate::train::Updater`] with the tape: mean
//! cross-entropy, PyTorch's `clip_grad_norm_` (scale `max / (norm + 1e-6)`
//! when the norm exceeds it), Adam with per-parameter bias correction and
//! the learning-rate decay per step, then the max-norm constraint.

use std::sync::Arc;

use crate::backend::{Device, Storage};
use crate::cuda::params::AdamParams;
use crate::error::{Error, Result};
use crate::models::device::{DeviceGrads, DeviceModel, PassLoss, DEVICE_ARCHS};
use crate::models::{CharBatch, Input, Mode, Model, ModelConfig, WordBatch};
use crate::nn::ParamStore;
use crate::ops::BinaryKind;
use crate::optim::{renorm_rows, Adam, AdamConfig, Optimizer};
use crate::tensor::Tensor;
use crate::train::batches::{eval_plan, Batch, Targets};
use crate::train::metrics::{Metrics, Probs};
use crate::train::samples::Sample;

const OP: &str = "training on a device";

/// The output layer max-norm acts on (as `train::step`).
const CLASSIFIER: &str = "classifier.weight";

/// Adam's state for one parameter, on the device.
struct Moments {
    m: Storage,
    v: Storage,
    /// Steps this parameter took (its bias correction).
    t: u64,
}

/// Where a run's steps go: the device and the objective's device version.
pub struct OnDevice {
    /// The device (a GPU, or the emulated one).
    pub device: Arc<dyn Device>,
    /// The run's objective on the device.
    pub objective: Box<dyn DeviceObjective>,
}

/// The model, its optimiser state and the update around it, on a device.
pub struct DeviceUpdater {
    model: DeviceModel,
    config: AdamConfig,
    clip: Option<f32>,
    max_norm: Option<f32>,
    /// Store index of `classifier.weight` (for max-norm).
    classifier: Option<usize>,
    /// Store order; `None` until a parameter's first step.
    moments: Vec<Option<Moments>>,
    trainable: Vec<bool>,
    shapes: Vec<Vec<usize>>,
    steps: u64,
    /// The host copies are behind the device's.
    dirty: bool,
}

/// Why a training run cannot run on a device, if it cannot: the
/// architecture (`ModelConfig::arch`'s name); `char_cnn_lstm`,
/// `lstm_classifier`, `bilstm_tagger` and `word_cnn` train there so far.
pub fn unsupported_arch(arch: &str) -> Option<String> {
    (!DEVICE_ARCHS.contains(&arch)).then(|| {
        format!("{arch} does not train on the GPU yet (only char_cnn_lstm, lstm_classifier, bilstm_tagger and word_cnn do); use --device cpu")
    })
}

/// The error for an objective without a device version.
pub fn unsupported_objective(objective: &str) -> String {
    format!(
        "the `{objective}` objective does not train on the GPU yet (plain training, --adv hotflip for \
         char_cnn_lstm and every --adv of the word models do); use --device cpu"
    )
}

/// What a device step minimises (an [`crate::train::Objective`]'s
/// counterpart): the loss and every weight's gradient, left on the device.
pub trait DeviceObjective {
    /// The name of the host objective it mirrors (`Objective::name`): a run
    /// checks that they match, and `last/` records it for resuming.
    fn name(&self) -> String;

    /// The loss of `batch` under `mode` and its gradients; `step` is the
    /// run's step number (`StepContext::step`: seeds random directions).
    fn grads(&mut self, model: &DeviceModel, batch: &Batch, mode: Mode, step: u64) -> Result<DeviceGrads>;
}

/// Plain training on a device: the mean cross-entropy (`train::Plain`).
pub struct DevicePlain;

impl DeviceObjective for DevicePlain {
    fn name(&self) -> String {
        "plain".into()
    }

    fn grads(&mut self, model: &DeviceModel, batch: &Batch, mode: Mode, _step: u64) -> Result<DeviceGrads> {
        match model {
            DeviceModel::CharCnnLstm(m) => {
                let (x, y) = char_classes(batch)?;
                m.train_grads(x, y, mode)
            }
            DeviceModel::LstmClassifier(m) => {
                let (x, y) = word_classes(batch)?;
                m.train_grads(x, y, mode)
            }
            DeviceModel::WordCnn(m) => {
                let (x, y) = word_classes(batch)?;
                m.train_grads(x, y, mode)
            }
            DeviceModel::BilstmTagger(m) => {
                let (Input::Words(x), Targets::Tags { labels, mask }) = (&batch.input, &batch.targets) else {
                    return Err(Error::invalid(OP, "bilstm_tagger trains on word batches with tags"));
                };
                Ok(m.pass(x, mode, None, PassLoss::Tagged { labels, mask }, true, false)?.grads)
            }
        }
    }
}

/// `metrics::predict` on the device: the same batches (`eval_plan`,
/// `Batch::make` with `min_len`), evaluation mode, the probabilities
/// `exp(log-softmax)` per sample (a tagger's rows cut at each length).
pub fn predict(
    model: &DeviceModel,
    cfg: &ModelConfig,
    min_len: usize,
    samples: &[Sample],
    batch: usize,
) -> Result<Vec<Probs>> {
    let c = cfg.n_classes();
    let lengths: Vec<usize> = samples.iter().map(Sample::len).collect();
    let mut out: Vec<Probs> = vec![Vec::new(); samples.len()];
    for members in eval_plan(&lengths, batch) {
        let b = Batch::make(samples, &members, cfg, min_len)?;
        let probs: Vec<f32> = model.log_probs(&b.input)?.into_iter().map(f32::exp).collect();
        let per_sample = match (&b.input, cfg.is_tagger()) {
            (Input::Words(x), true) => x.len,
            _ => 1,
        };
        for (k, &i) in members.iter().enumerate() {
            let rows = if cfg.is_tagger() { b.input.lengths()[k] } else { 1 };
            let at = k * per_sample * c;
            out[i] = probs
                .get(at..at + rows * c)
                .ok_or_else(|| Error::invalid(OP, "the model returned fewer rows than the batch"))?
                .to_vec();
        }
    }
    Ok(out)
}

/// [`predict`] and its figures (`metrics::evaluate_at` on the device).
pub fn evaluate_at(
    model: &DeviceModel,
    cfg: &ModelConfig,
    min_len: usize,
    samples: &[Sample],
    batch: usize,
    dev_threshold: Option<f64>,
) -> Result<Metrics> {
    let probs = predict(model, cfg, min_len, samples, batch)?;
    Metrics::of_at(samples, &probs, cfg, dev_threshold)
}

/// The task's loss on the batch's targets: the classes' cross-entropy, or
/// the tagger's over its real tokens.
pub fn task_loss(targets: &Targets) -> PassLoss<'_> {
    match targets {
        Targets::Classes(y) => PassLoss::CrossEntropy(y),
        Targets::Tags { labels, mask } => PassLoss::Tagged { labels, mask },
    }
}

/// A batch's characters and classes (`char_cnn_lstm`).
pub fn char_classes(batch: &Batch) -> Result<(&CharBatch, &[usize])> {
    match (&batch.input, &batch.targets) {
        (Input::Chars(x), Targets::Classes(y)) => Ok((x, y)),
        _ => Err(Error::invalid(OP, "char_cnn_lstm trains on character batches with class targets")),
    }
}

/// A batch's words and classes (`lstm_classifier`, `word_cnn`).
pub fn word_classes(batch: &Batch) -> Result<(&WordBatch, &[usize])> {
    match (&batch.input, &batch.targets) {
        (Input::Words(x), Targets::Classes(y)) => Ok((x, y)),
        _ => Err(Error::invalid(OP, "word classifiers train on word batches with class targets")),
    }
}

/// `wa·a + wb·b`, losses and gradients (`optim::weighted_sum`'s device
/// twin); a non-finite loss on either side gives a non-finite loss and no
/// gradients (the step is then skipped).
pub fn combine(dev: &dyn Device, a: DeviceGrads, wa: f32, b: DeviceGrads, wb: f32) -> Result<DeviceGrads> {
    let loss = wa * a.loss + wb * b.loss;
    if !loss.is_finite() {
        return Ok(DeviceGrads { loss, grads: a.grads.iter().map(|_| None).collect() });
    }
    let scaled = |g: Storage, w: f32| if w == 1.0 { Ok(g) } else { dev.scale(&g, w) };
    let grads = a
        .grads
        .into_iter()
        .zip(b.grads)
        .map(|pair| {
            Ok(match pair {
                (Some(x), Some(y)) => Some(dev.binary(BinaryKind::Add, &scaled(x, wa)?, &scaled(y, wb)?)?),
                (Some(x), None) => Some(scaled(x, wa)?),
                (None, Some(y)) => Some(scaled(y, wb)?),
                (None, None) => None,
            })
        })
        .collect::<Result<_>>()?;
    Ok(DeviceGrads { loss, grads })
}

impl DeviceUpdater {
    /// Uploads `store`'s weights and `adam`'s state (empty for a fresh run,
    /// restored for a resumed one) to `dev`.
    pub fn new(
        dev: Arc<dyn Device>,
        model: &Model,
        store: &ParamStore,
        adam: &Adam,
        clip: Option<f32>,
        max_norm: Option<f32>,
    ) -> Result<Self> {
        let d = dev.clone();
        let device_model = DeviceModel::new(model, store, dev)?;
        let (tensors, steps) = adam.state(store);
        let find = |key: String| tensors.iter().find(|(k, _)| *k == key).map(|(_, t)| t);
        let moments = store
            .ids()
            .map(|id| {
                let name = store.name(id);
                let (Some(m), Some(v)) = (find(format!("exp_avg.{name}")), find(format!("exp_avg_sq.{name}"))) else {
                    return Ok(None);
                };
                let t = find(format!("step.{name}")).map_or(Ok(0.0), |t| t.item())? as u64;
                Ok(Some(Moments { m: d.upload(m.data())?, v: d.upload(v.data())?, t }))
            })
            .collect::<Result<_>>()?;
        Ok(DeviceUpdater {
            model: device_model,
            config: adam.config,
            clip,
            max_norm,
            classifier: store.id(CLASSIFIER).map(|id| id.index()),
            moments,
            trainable: store.ids().map(|id| store.trainable(id)).collect(),
            shapes: store.ids().map(|id| store.get(id).shape().to_vec()).collect(),
            steps,
            dirty: false,
        })
    }

    /// The model on the device (its weights are the latest).
    pub fn model(&self) -> &DeviceModel {
        &self.model
    }

    /// The learning rate of the next step (`Optimizer::current_lr` of the
    /// host Adam this one mirrors).
    pub fn current_lr(&self) -> f32 {
        (self.config.lr as f64 * (self.config.decay as f64).powf(self.steps as f64)) as f32
    }

    /// Optimiser steps taken (across resumes).
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Trains `objective` on `batch` under `mode` (dropout seeds) at the
    /// run's step `step` and returns the loss; a non-finite loss leaves
    /// everything untouched, as the host updater.
    pub fn step(&mut self, objective: &mut dyn DeviceObjective, batch: &Batch, mode: Mode, step: u64) -> Result<f32> {
        let r = objective.grads(&self.model, batch, mode, step)?;
        if !r.loss.is_finite() {
            return Ok(r.loss);
        }
        let mut grads = r.grads;
        if let Some(c) = self.clip {
            self.clip(&mut grads, c)?;
        }
        self.adam(&grads)?;
        self.model.refresh()?;
        if let Some(m) = self.max_norm {
            self.renorm(m)?;
        }
        self.dirty = true;
        Ok(r.loss)
    }

    /// PyTorch's `clip_grad_norm_` over every gradient together; returns
    /// the norm before clipping.
    fn clip(&self, grads: &mut [Option<Storage>], max: f32) -> Result<f32> {
        let d = self.model.device().as_ref();
        let mut sq = 0.0f64;
        for g in grads.iter().flatten() {
            sq += d.sum(&d.unary(crate::ops::Unary::Square, g)?)? as f64;
        }
        let norm = sq.sqrt() as f32;
        if !norm.is_finite() || norm <= max {
            return Ok(norm);
        }
        let scale = max / (norm + 1e-6);
        for g in grads.iter_mut() {
            if let Some(v) = g.take() {
                *g = Some(d.scale(&v, scale)?);
            }
        }
        Ok(norm)
    }

    /// One Adam step on every trainable parameter that has a gradient.
    fn adam(&mut self, grads: &[Option<Storage>]) -> Result<()> {
        let d = self.model.device().clone();
        let AdamConfig { lr, beta1, beta2, eps, decay } = self.config;
        let lr = (lr as f64 * (decay as f64).powf(self.steps as f64)) as f32;
        let params = self.model.params_mut();
        for (i, g) in grads.iter().enumerate() {
            let Some(g) = g else { continue };
            if !self.trainable[i] {
                continue;
            }
            let slot = match &mut self.moments[i] {
                Some(s) => s,
                empty => {
                    let zeros = vec![0.0f32; g.len()];
                    empty.insert(Moments { m: d.upload(&zeros)?, v: d.upload(&zeros)?, t: 0 })
                }
            };
            slot.t += 1;
            let t = slot.t as i32;
            // As `optim::Adam`: the corrections in f64, the step size folded.
            let bc1 = 1.0 - (beta1 as f64).powi(t);
            let bc2 = 1.0 - (beta2 as f64).powi(t);
            let p = AdamParams {
                lr: (lr as f64 / bc1) as f32,
                beta1,
                beta2,
                eps,
                weight_decay: 0.0,
                bias_correction1: 1.0,
                bias_correction2_sqrt: bc2.sqrt() as f32,
                decoupled: 0,
            };
            d.adam(&p, &mut params[i], g, &mut slot.m, &mut slot.v)?;
        }
        self.steps += 1;
        Ok(())
    }

    /// Kim's max-norm on the classifier's rows: its few values come to the
    /// host and back (`C·H`, far less than a step moves).
    fn renorm(&mut self, max: f32) -> Result<()> {
        let i = self.classifier.ok_or_else(|| Error::Param {
            name: CLASSIFIER.into(),
            msg: "max-norm needs the output layer, which this model lacks".into(),
        })?;
        let d = self.model.device().clone();
        let mut w = Tensor::new(&self.shapes[i], d.to_host(&self.model.params()[i])?)?;
        if renorm_rows(&mut w, max)? > 0 {
            self.model.params_mut()[i] = d.upload(w.data())?;
        }
        Ok(())
    }

    /// Downloads the weights into `store` and the moments into `adam`, if
    /// a step ran since the last sync.
    pub fn sync(&mut self, store: &mut ParamStore, adam: &mut Adam) -> Result<()> {
        if !self.dirty {
            return Ok(());
        }
        let d = self.model.device().clone();
        let ids: Vec<_> = store.ids().collect();
        let mut state = Vec::new();
        for (i, id) in ids.into_iter().enumerate() {
            let values = d.to_host(&self.model.params()[i])?;
            store.set(id, Tensor::new(&self.shapes[i], values)?)?;
            if let Some(s) = &self.moments[i] {
                let name = store.name(id).to_string();
                state.push((format!("exp_avg.{name}"), Tensor::new(&self.shapes[i], d.to_host(&s.m)?)?));
                state.push((format!("exp_avg_sq.{name}"), Tensor::new(&self.shapes[i], d.to_host(&s.v)?)?));
                state.push((format!("step.{name}"), Tensor::scalar(s.t as f32)));
            }
        }
        adam.load_state(store, &state, self.steps)?;
        self.dirty = false;
        Ok(())
    }
}
