//! W1: one forward + backward pass of `char_cnn_lstm` on a random batch.

use std::time::Instant;

use serde::Serialize;

use crate::error::Result;
use crate::models::{CharBatch, CharCnnLstm, CharCnnLstmConfig, Mode};
use crate::nn::ParamStore;
use crate::rng::Rng;
use crate::tape::Tape;

/// Character vocabulary of the synthetic batch (the PyTorch twin uses the same).
pub const N_CHARS: usize = 70;
pub const N_CLASSES: usize = 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    Paper,
    Small,
}

impl Preset {
    pub fn config(self, max_word_len: usize, max_words: usize) -> CharCnnLstmConfig {
        let base = match self {
            Preset::Paper => CharCnnLstmConfig::paper(N_CHARS, N_CLASSES),
            Preset::Small => CharCnnLstmConfig::small(N_CHARS, N_CLASSES),
        };
        CharCnnLstmConfig { max_word_len, max_words, ..base }
    }
}

/// A model, its parameters and one fixed batch, ready to time.
pub struct Workload {
    pub model: CharCnnLstm,
    pub store: ParamStore,
    pub batch: CharBatch,
    pub labels: Vec<usize>,
}

impl Workload {
    /// Every character position holds a random non-PAD id, as in the PyTorch
    /// twin, so both sides do identical work.
    pub fn new(preset: Preset, batch: usize, words: usize, chars: usize, seed: u64) -> Result<Self> {
        let mut rng = Rng::new(seed);
        let mut store = ParamStore::new();
        let model = CharCnnLstm::new(preset.config(chars, words), &mut store, &mut rng)?;
        let ids = (0..batch * words * chars).map(|_| 2 + rng.below(N_CHARS - 2)).collect();
        let labels = (0..batch).map(|_| rng.below(N_CLASSES)).collect();
        Ok(Workload {
            model,
            store,
            batch: CharBatch { ids, batch, words, chars, lengths: vec![words; batch] },
            labels,
        })
    }

    /// One forward + backward pass; returns the loss.
    pub fn step(&self) -> Result<f32> {
        let tape = Tape::new();
        let p = tape.bind(&self.store);
        let out = self.model.forward(&tape, &p, &self.batch, Mode::EVAL)?;
        let loss = tape.cross_entropy(out.logits, &self.labels)?;
        let value = tape.value(loss)?.item()?;
        let grads = tape.backward(loss)?;
        std::hint::black_box(p.grads(&grads));
        Ok(value)
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct EngineReport {
    pub workload: &'static str,
    pub preset: Preset,
    pub backend: &'static str,
    pub threads: usize,
    pub batch: usize,
    pub words: usize,
    pub chars: usize,
    pub iters: usize,
    pub median_s: f64,
    pub docs_per_s: f64,
}

/// Times `iters` steps after `warmup` untimed ones; reports the median.
pub fn run(
    preset: Preset,
    batch: usize,
    words: usize,
    chars: usize,
    warmup: usize,
    iters: usize,
) -> Result<EngineReport> {
    let w = Workload::new(preset, batch, words, chars, 0)?;
    for _ in 0..warmup {
        w.step()?;
    }
    let mut times = Vec::with_capacity(iters);
    for _ in 0..iters.max(1) {
        let t0 = Instant::now();
        w.step()?;
        times.push(t0.elapsed().as_secs_f64());
    }
    let median_s = super::median(times);
    Ok(EngineReport {
        workload: "W1",
        preset,
        backend: "cpu",
        threads: rayon::current_num_threads(),
        batch,
        words,
        chars,
        iters: iters.max(1),
        median_s,
        docs_per_s: batch as f64 / median_s,
    })
}
