//! W3: one training step of `lstm_classifier` (V 20,000, D 256, H 1024,
//! batch 32, 100 words) plain, with AdvT and with iAdvT — forward, backward
//! and the Adam update — to show what interpretability costs.

use std::time::Instant;

use serde::Serialize;

use crate::adv::{EmbeddingAdversary, EmbeddingMethod};
use crate::error::Result;
use crate::models::{Input, LstmTextConfig, Mode, Model, ModelConfig, WordBatch};
use crate::nn::ParamStore;
use crate::optim::{Adam, AdamConfig};
use crate::rng::Rng;
use crate::train::{Batch, Objective, Plain, Targets, TrainOptions, Updater};

#[derive(Clone, Copy, Debug)]
pub struct AdvStepShape {
    pub vocab: usize,
    pub dim: usize,
    pub hidden: usize,
    pub batch: usize,
    pub words: usize,
}

impl Default for AdvStepShape {
    fn default() -> Self {
        AdvStepShape { vocab: 20_000, dim: 256, hidden: 1024, batch: 32, words: 100 }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct AdvStepReport {
    pub workload: &'static str,
    pub vocab: usize,
    pub dim: usize,
    pub hidden: usize,
    pub batch: usize,
    pub words: usize,
    pub backend: &'static str,
    pub threads: usize,
    pub iters: usize,
    pub plain_ms: f64,
    pub advt_ms: f64,
    pub iadvt_ms: f64,
    pub iadvt_over_advt: f64,
    pub iadvt_over_plain: f64,
}

/// Median milliseconds of `iters` steps of `objective` after `warmup`.
fn time(
    objective: &mut dyn Objective,
    model: &Model,
    store: &mut ParamStore,
    batch: &Batch,
    warmup: usize,
    iters: usize,
) -> Result<f64> {
    // The training loop's own update (clipping included), so W3 times what `train` runs.
    let adam = Adam::new(AdamConfig::default())?;
    let mut updater = Updater { adam, clip: TrainOptions::default().clip, max_norm: None };
    let mut times = Vec::with_capacity(iters);
    for i in 0..warmup + iters.max(1) {
        let t0 = Instant::now();
        updater.step(objective, model, store, batch, Mode::train(i as u64), i as u64)?;
        if i >= warmup {
            times.push(t0.elapsed().as_secs_f64() * 1e3);
        }
    }
    Ok(super::median(times))
}

pub fn run(shape: AdvStepShape, warmup: usize, iters: usize) -> Result<AdvStepReport> {
    let mut rng = Rng::new(0);
    let cfg = LstmTextConfig {
        embed_dim: shape.dim,
        lstm_hidden: shape.hidden,
        max_words: shape.words,
        ..LstmTextConfig::paper(shape.vocab, 2)
    };
    let cfg = ModelConfig::LstmClassifier(cfg);
    let mut store = ParamStore::new();
    let model = Model::new(&cfg, &mut store, &mut rng)?;
    let sents: Vec<Vec<usize>> =
        (0..shape.batch).map(|_| (0..shape.words).map(|_| 2 + rng.below(shape.vocab - 2)).collect()).collect();
    let labels: Vec<usize> = (0..shape.batch).map(|_| rng.below(2)).collect();
    let batch = Batch {
        input: Input::Words(WordBatch::from_sentences(&sents, shape.words, 1)?),
        targets: Targets::Classes(labels),
        members: (0..shape.batch).collect(),
    };
    let plain_ms = time(&mut Plain, &model, &mut store.clone(), &batch, warmup, iters)?;
    let mut advt = EmbeddingAdversary::paper(EmbeddingMethod::AdvT, 0);
    let advt_ms = time(&mut advt, &model, &mut store.clone(), &batch, warmup, iters)?;
    let mut iadvt = EmbeddingAdversary::paper(EmbeddingMethod::IAdvT, 0);
    let iadvt_ms = time(&mut iadvt, &model, &mut store, &batch, warmup, iters)?;
    Ok(AdvStepReport {
        workload: "W3",
        vocab: shape.vocab,
        dim: shape.dim,
        hidden: shape.hidden,
        batch: shape.batch,
        words: shape.words,
        backend: "cpu",
        threads: rayon::current_num_threads(),
        iters: iters.max(1),
        plain_ms,
        advt_ms,
        iadvt_ms,
        iadvt_over_advt: iadvt_ms / advt_ms,
        iadvt_over_plain: iadvt_ms / plain_ms,
    })
}
