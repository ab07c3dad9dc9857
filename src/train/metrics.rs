//! Predictions over a split and the figures reported from them: accuracy
//! and a confusion matrix for classifiers; precision, recall and F0.5 on the
//! `i` (incorrect) label for the tagger (Rei & Yannakoudakis 2016).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::models::{Mode, Model, ModelConfig};
use crate::nn::ParamStore;
use crate::tape::Tape;
use crate::train::batches::{eval_plan, Batch};
use crate::train::samples::{Sample, Target};

/// Probabilities for one sample: `C` values for a classifier, `T·C` (one row
/// per token) for the tagger.
pub type Probs = Vec<f32>;

/// Runs the model (evaluation mode) over `samples`; returns probabilities
/// in sample order.
pub fn predict(model: &Model, store: &ParamStore, samples: &[Sample], batch: usize) -> Result<Vec<Probs>> {
    let cfg = model.config();
    let c = cfg.n_classes();
    let lengths: Vec<usize> = samples.iter().map(Sample::len).collect();
    let mut out: Vec<Probs> = vec![Vec::new(); samples.len()];
    for members in eval_plan(&lengths, batch) {
        let b = Batch::make(samples, &members, &cfg, model.min_len())?;
        let tape = Tape::no_grad();
        let p = tape.bind(store);
        let f = model.forward(&tape, &p, &b.input, None, Mode::EVAL)?;
        let probs = tape.value(tape.softmax(f.logits)?)?;
        let pd = probs.data();
        if cfg.is_tagger() {
            let t = probs.shape()[1];
            for (k, &i) in members.iter().enumerate() {
                let n = b.input.lengths()[k];
                out[i] = pd[k * t * c..(k * t + n) * c].to_vec();
            }
        } else {
            for (k, &i) in members.iter().enumerate() {
                out[i] = pd[k * c..(k + 1) * c].to_vec();
            }
        }
    }
    Ok(out)
}

pub use crate::math::argmax;

/// Evaluation figures of a split, as logs and `config.json` record them.
/// Rates are fractions in `[0, 1]`, not percentages.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Examples (classifier) or tokens (tagger) scored.
    pub n: usize,
    /// Fraction of examples (or tokens) predicted correctly.
    pub accuracy: f64,
    /// `confusion[true][predicted]`.
    pub confusion: Vec<Vec<usize>>,
    /// Tagger only: precision of label 1 (`i`, an error token).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub precision: Option<f64>,
    /// Tagger only: recall of label 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recall: Option<f64>,
    /// Tagger only: F0.5 of label 1 (precision weighted twice as much as
    /// recall, the GED convention); 0 when both are 0.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub f05: Option<f64>,
}

impl Metrics {
    /// The figure model selection maximises: F0.5 for the tagger, else accuracy.
    pub fn score(&self) -> f64 {
        self.f05.unwrap_or(self.accuracy)
    }

    /// Scores predictions against the samples' targets.
    pub fn of(samples: &[Sample], probs: &[Probs], cfg: &ModelConfig) -> Result<Self> {
        let c = cfg.n_classes();
        let mut confusion = vec![vec![0usize; c]; c];
        for (s, p) in samples.iter().zip(probs) {
            match &s.target {
                Target::Class(y) => confusion[*y][argmax(p)] += 1,
                Target::Tags(tags) => {
                    if p.len() != tags.len() * c {
                        return Err(Error::invalid("metrics", "tag predictions do not match the sentence length"));
                    }
                    for (t, &y) in tags.iter().enumerate() {
                        confusion[y][argmax(&p[t * c..(t + 1) * c])] += 1;
                    }
                }
            }
        }
        let n: usize = confusion.iter().flatten().sum();
        let correct: usize = (0..c).map(|i| confusion[i][i]).sum();
        let accuracy = if n == 0 { 0.0 } else { correct as f64 / n as f64 };
        let (mut precision, mut recall, mut f05) = (None, None, None);
        if cfg.is_tagger() {
            let tp = confusion[1][1] as f64;
            let fp = confusion[0][1] as f64;
            let fn_ = confusion[1][0] as f64;
            let p = if tp + fp > 0.0 { tp / (tp + fp) } else { 0.0 };
            let r = if tp + fn_ > 0.0 { tp / (tp + fn_) } else { 0.0 };
            precision = Some(p);
            recall = Some(r);
            f05 = Some(if p + r > 0.0 { 1.25 * p * r / (0.25 * p + r) } else { 0.0 });
        }
        Ok(Metrics { n, accuracy, confusion, precision, recall, f05 })
    }
}

/// Predicts and scores in one go.
pub fn evaluate(model: &Model, store: &ParamStore, samples: &[Sample], batch: usize) -> Result<Metrics> {
    let probs = predict(model, store, samples, batch)?;
    Metrics::of(samples, &probs, &model.config())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::LstmTextConfig;
    use crate::train::samples::Tokens;

    #[test]
    fn f05_and_confusion_by_hand() {
        let cfg = ModelConfig::BilstmTagger(LstmTextConfig::small(10, 2));
        let s = |tags: Vec<usize>| Sample {
            tokens: Tokens::Words(vec![2; tags.len()]),
            target: Target::Tags(tags),
            index: 0,
        };
        let samples = vec![s(vec![1, 1, 0, 0]), s(vec![0, 1])];
        // predictions: 1,0,1,0 | 0,1  → TP 2, FP 1, FN 1, TN 2
        let p = |labels: &[usize]| labels.iter().flat_map(|&l| if l == 1 { [0.2, 0.8] } else { [0.9, 0.1] }).collect();
        let probs = vec![p(&[1, 0, 1, 0]), p(&[0, 1])];
        let m = Metrics::of(&samples, &probs, &cfg).unwrap();
        assert_eq!(m.confusion, vec![vec![2, 1], vec![1, 2]]);
        assert_eq!(m.n, 6);
        let (pr, rc) = (2.0 / 3.0, 2.0 / 3.0);
        assert!((m.f05.unwrap() - 1.25 * pr * rc / (0.25 * pr + rc)).abs() < 1e-12);
        assert!((m.accuracy - 4.0 / 6.0).abs() < 1e-12);
        assert_eq!(m.score(), m.f05.unwrap());
    }
}
