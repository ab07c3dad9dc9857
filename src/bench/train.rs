//! Training throughput: documents per second through the training step
//! (forward with dropout, backward, gradient clipping, Adam with its
//! learning-rate decay) of `char_cnn_lstm`, on W1's synthetic batch.
//! `benches/pytorch/train_throughput.py` runs the same step in PyTorch.

use std::time::Instant;

use serde::Serialize;

use crate::bench::engine::{Preset, Workload};
use crate::error::Result;
use crate::models::{Input, Mode, Model};
use crate::optim::{Adam, AdamConfig};
use crate::train::{Batch, Plain, Targets, TrainOptions, Updater};

#[derive(Clone, Debug, Serialize)]
pub struct TrainReport {
    pub workload: &'static str,
    pub preset: Preset,
    pub backend: &'static str,
    pub threads: usize,
    pub batch: usize,
    pub words: usize,
    pub chars: usize,
    pub dropout: f32,
    pub iters: usize,
    pub median_s: f64,
    pub docs_per_s: f64,
}

/// Times `iters` training steps after `warmup` untimed ones (the first
/// steps also allocate Adam's moments); reports the median.
pub fn run(
    preset: Preset,
    batch: usize,
    words: usize,
    chars: usize,
    warmup: usize,
    iters: usize,
) -> Result<TrainReport> {
    let w = Workload::new(preset, batch, words, chars, 0)?;
    let dropout = w.model.config.dropout;
    let model = Model::CharCnnLstm(w.model);
    let mut store = w.store;
    let batch_in =
        Batch { input: Input::Chars(w.batch), targets: Targets::Classes(w.labels), members: (0..batch).collect() };
    let mut updater =
        Updater { adam: Adam::new(AdamConfig::default())?, clip: TrainOptions::default().clip, max_norm: None };
    let mut step = 0u64;
    let mut once = || -> Result<f64> {
        let t0 = Instant::now();
        let loss = updater.step(&mut Plain, &model, &mut store, &batch_in, Mode::train(step), step)?;
        std::hint::black_box(loss);
        step += 1;
        Ok(t0.elapsed().as_secs_f64())
    };
    for _ in 0..warmup {
        once()?;
    }
    let times = (0..iters.max(1)).map(|_| once()).collect::<Result<Vec<f64>>>()?;
    let median_s = super::median(times);
    Ok(TrainReport {
        workload: "train",
        preset,
        backend: "cpu",
        threads: rayon::current_num_threads(),
        batch,
        words,
        chars,
        dropout,
        iters: iters.max(1),
        median_s,
        docs_per_s: batch as f64 / median_s,
    })
}
