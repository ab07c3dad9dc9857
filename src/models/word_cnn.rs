//! `word_cnn`: Kim (2014) CNN, HotFlip's word-level target.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::models::{Forward, Mode, WordBatch};
use crate::nn::{init, Bound, Linear, ParamId, ParamStore};
use crate::rng::Rng;
use crate::tape::{Tape, Var};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WordCnnConfig {
    /// Word vocabulary size including PAD (0) and UNK (1).
    pub vocab: usize,
    pub n_classes: usize,
    pub embed_dim: usize,
    pub kernel_widths: Vec<usize>,
    pub kernel_filters: Vec<usize>,
    pub dropout: f32,
    pub max_words: usize,
}

impl WordCnnConfig {
    /// Kim (2014) CNN-rand.
    pub fn paper(vocab: usize, n_classes: usize) -> Self {
        WordCnnConfig {
            vocab,
            n_classes,
            embed_dim: 300,
            kernel_widths: vec![3, 4, 5],
            kernel_filters: vec![100; 3],
            dropout: 0.5,
            max_words: 100,
        }
    }

    pub fn small(vocab: usize, n_classes: usize) -> Self {
        WordCnnConfig { embed_dim: 64, kernel_filters: vec![32; 3], ..Self::paper(vocab, n_classes) }
    }

    pub fn max_width(&self) -> usize {
        self.kernel_widths.iter().copied().max().unwrap_or(1)
    }

    pub fn validate(&self) -> Result<()> {
        if self.kernel_widths.len() != self.kernel_filters.len()
            || self.kernel_widths.is_empty()
            || self.kernel_widths.contains(&0)
        {
            return Err(Error::invalid(
                "word_cnn config",
                format!("kernel_widths {:?} / kernel_filters {:?}", self.kernel_widths, self.kernel_filters),
            ));
        }
        if self.vocab < 3 || self.n_classes < 2 || self.embed_dim == 0 || !(0.0..1.0).contains(&self.dropout) {
            return Err(Error::invalid(
                "word_cnn config",
                "vocab ≥ 3, n_classes ≥ 2, embed_dim > 0, dropout in [0, 1)",
            ));
        }
        Ok(())
    }
}

#[derive(Clone, Debug)]
pub struct WordCnn {
    pub config: WordCnnConfig,
    pub embedding: ParamId,
    convs: Vec<(ParamId, ParamId)>,
    classifier: Linear,
}

impl WordCnn {
    pub fn new(config: WordCnnConfig, store: &mut ParamStore, rng: &mut Rng) -> Result<Self> {
        config.validate()?;
        let c = &config;
        let embedding = store.add("embedding.weight", init::embedding(c.vocab, c.embed_dim, Some(0), rng)?)?;
        let mut convs = Vec::new();
        for (i, (&w, &f)) in c.kernel_widths.iter().zip(&c.kernel_filters).enumerate() {
            let (wt, b) = init::conv1d(f, c.embed_dim, w, rng);
            convs.push((store.add(&format!("convs.{i}.weight"), wt)?, store.add(&format!("convs.{i}.bias"), b)?));
        }
        let classifier = Linear::new(store, "classifier", c.kernel_filters.iter().sum(), c.n_classes, rng)?;
        Ok(WordCnn { config, embedding, convs, classifier })
    }

    /// Logits `[B, C]`. Each sentence counts as padded to the widest kernel
    /// (MODELS.md); positions past that are batch padding and are ignored by
    /// the max over time, so results do not depend on batch composition.
    pub fn forward(
        &self,
        tape: &Tape,
        p: &Bound,
        x: &WordBatch,
        perturbation: Option<Var>,
        mode: Mode,
    ) -> Result<Forward> {
        let mut embedded = self.embed(tape, p, x)?;
        if let Some(r) = perturbation {
            embedded = tape.add(embedded, r)?;
        }
        let logits = self.forward_embedded(tape, p, x, embedded, mode)?;
        Ok(Forward { embedded, logits })
    }

    /// The word embeddings of a batch, `[B, T, D]`.
    pub fn embed(&self, tape: &Tape, p: &Bound, x: &WordBatch) -> Result<Var> {
        let wmax = self.config.max_width();
        if x.len < wmax {
            return Err(Error::invalid(
                "word_cnn",
                format!(
                    "batch length {} is shorter than the widest kernel {wmax}; build it with min_len {wmax}",
                    x.len
                ),
            ));
        }
        tape.embedding(p.var(self.embedding), &x.ids, &[x.batch, x.len], Some(0))
    }

    /// Logits from given word embeddings `[B, T, D]`.
    pub fn forward_embedded(&self, tape: &Tape, p: &Bound, x: &WordBatch, embedded: Var, mode: Mode) -> Result<Var> {
        let c = &self.config;
        let wmax = c.max_width();
        let mut pooled = Vec::with_capacity(self.convs.len());
        for (&(w, b), &width) in self.convs.iter().zip(&c.kernel_widths) {
            let y = tape.relu(tape.conv1d(embedded, p.var(w), Some(p.var(b)))?)?;
            let valid: Vec<usize> = x.lengths.iter().map(|&l| l.max(wmax) - width + 1).collect();
            pooled.push(tape.max_over_valid(y, &valid)?);
        }
        let mut h = if pooled.len() == 1 { pooled[0] } else { tape.concat(&pooled, 1)? };
        if mode.train && c.dropout > 0.0 {
            h = tape.dropout(h, c.dropout, mode.site(0))?;
        }
        self.classifier.forward(tape, p, h)
    }
}
