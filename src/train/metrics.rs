//! Predictions over a split and the figures reported from them: accuracy
//! and a confusion matrix for classifiers; precision, recall and F0.5 on the
//! `i` (incorrect) label for the tagger (Rei & Yannakoudakis 2016), with
//! the threshold-free average precision of P(`i`) and F0.5 at the best
//! threshold on P(`i`) (`train::ranking`).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::models::{Mode, Model, ModelConfig};
use crate::nn::ParamStore;
use crate::tape::Tape;
use crate::train::batches::{eval_plan, Batch};
use crate::train::ranking::{f05, AtThreshold, Ranking};
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
    /// Tagger only: average precision of P(`i`) over the tokens, a score of
    /// the ranking that does not depend on the 0.5 threshold of the argmax.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub average_precision: Option<f64>,
    /// Tagger only: the threshold on P(`i`) with the best F0.5 on this split
    /// and its figures (optimistic on the split that chose it: on dev it is
    /// what picks the threshold that test is then scored at).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_threshold: Option<AtThreshold>,
    /// Tagger only, when a threshold chosen on another split (dev) was
    /// given: precision, recall and F0.5 at it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_dev_threshold: Option<AtThreshold>,
}

impl Metrics {
    /// The figure model selection maximises: F0.5 for the tagger, else accuracy.
    pub fn score(&self) -> f64 {
        self.f05.unwrap_or(self.accuracy)
    }

    /// Scores predictions against the samples' targets.
    pub fn of(samples: &[Sample], probs: &[Probs], cfg: &ModelConfig) -> Result<Self> {
        Self::of_at(samples, probs, cfg, None)
    }

    /// As [`Metrics::of`], and for a tagger also the figures at
    /// `dev_threshold` on P(`i`) (the one dev's `best_threshold` chose).
    pub fn of_at(samples: &[Sample], probs: &[Probs], cfg: &ModelConfig, dev_threshold: Option<f64>) -> Result<Self> {
        let c = cfg.n_classes();
        let mut confusion = vec![vec![0usize; c]; c];
        // (P(label 1), gold is 1) per token, for the ranking scores.
        let mut ranked: Vec<(f32, bool)> = Vec::new();
        for (s, p) in samples.iter().zip(probs) {
            match &s.target {
                Target::Class(y) => confusion[*y][argmax(p)] += 1,
                Target::Tags(tags) => {
                    if p.len() != tags.len() * c {
                        return Err(Error::invalid("metrics", "tag predictions do not match the sentence length"));
                    }
                    for (t, &y) in tags.iter().enumerate() {
                        let row = &p[t * c..(t + 1) * c];
                        confusion[y][argmax(row)] += 1;
                        ranked.push((row.get(1).copied().unwrap_or(0.0), y == 1));
                    }
                }
            }
        }
        let n: usize = confusion.iter().flatten().sum();
        let correct: usize = (0..c).map(|i| confusion[i][i]).sum();
        let accuracy = if n == 0 { 0.0 } else { correct as f64 / n as f64 };
        let mut m = Metrics {
            n,
            accuracy,
            confusion,
            precision: None,
            recall: None,
            f05: None,
            average_precision: None,
            best_threshold: None,
            at_dev_threshold: None,
        };
        if cfg.is_tagger() && c >= 2 {
            let tp = m.confusion[1][1] as f64;
            let fp = (0..c).filter(|&i| i != 1).map(|i| m.confusion[i][1]).sum::<usize>() as f64;
            let fn_ = (0..c).filter(|&j| j != 1).map(|j| m.confusion[1][j]).sum::<usize>() as f64;
            let p = if tp + fp > 0.0 { tp / (tp + fp) } else { 0.0 };
            let r = if tp + fn_ > 0.0 { tp / (tp + fn_) } else { 0.0 };
            m.precision = Some(p);
            m.recall = Some(r);
            m.f05 = Some(f05(p, r));
            let ranking = Ranking::new(ranked);
            m.average_precision = ranking.average_precision();
            m.best_threshold = ranking.best_f05();
            m.at_dev_threshold = dev_threshold.map(|t| ranking.at(t));
        }
        Ok(m)
    }
}

/// Predicts and scores in one go.
pub fn evaluate(model: &Model, store: &ParamStore, samples: &[Sample], batch: usize) -> Result<Metrics> {
    evaluate_at(model, store, samples, batch, None)
}

/// As [`evaluate`], with a tagger's figures at `dev_threshold` on P(`i`).
pub fn evaluate_at(
    model: &Model,
    store: &ParamStore,
    samples: &[Sample],
    batch: usize,
    dev_threshold: Option<f64>,
) -> Result<Metrics> {
    let probs = predict(model, store, samples, batch)?;
    Metrics::of_at(samples, &probs, &model.config(), dev_threshold)
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
        // P(i) ranks 0.8, 0.8, 0.8 (two of them `i`) above 0.1, 0.1, 0.1 (one `i`):
        // one tie at the top (P 2/3 at R 2/3), then all (P 1/2 at R 1).
        let ap = 2.0 / 3.0 * 2.0 / 3.0 + 1.0 / 3.0 * 0.5;
        assert!((m.average_precision.unwrap() - ap).abs() < 1e-12);
        assert_eq!(m.best_threshold.unwrap().threshold, 0.8f32 as f64);
        assert!(m.at_dev_threshold.is_none());
        // Dev's threshold applied: "P(i) ≥ 0.05" labels every token `i`.
        let at = Metrics::of_at(&samples, &probs, &cfg, Some(0.05)).unwrap().at_dev_threshold.unwrap();
        assert_eq!((at.precision, at.recall), (0.5, 1.0));
    }

    #[test]
    fn a_tagger_that_never_predicts_i_can_still_rank_perfectly() {
        // Every P(i) under 0.5, but the `i` tokens have the highest: F0.5 0, AP 1.
        let cfg = ModelConfig::BilstmTagger(LstmTextConfig::small(10, 2));
        let samples =
            vec![Sample { tokens: Tokens::Words(vec![2; 4]), target: Target::Tags(vec![0, 1, 0, 1]), index: 0 }];
        let probs = vec![vec![0.9, 0.1, 0.8, 0.2, 0.95, 0.05, 0.7, 0.3]];
        let m = Metrics::of(&samples, &probs, &cfg).unwrap();
        assert_eq!(m.f05, Some(0.0));
        assert_eq!(m.average_precision, Some(1.0));
        let b = m.best_threshold.unwrap();
        assert_eq!((b.threshold, b.precision, b.recall), (0.2f32 as f64, 1.0, 1.0));
        // Classifiers get none of the tagger's figures.
        let cls = ModelConfig::LstmClassifier(LstmTextConfig::small(10, 2));
        let s = vec![Sample { tokens: Tokens::Words(vec![2]), target: Target::Class(1), index: 0 }];
        let m = Metrics::of(&s, &[vec![0.4, 0.6]], &cls).unwrap();
        assert!(m.average_precision.is_none() && m.best_threshold.is_none() && m.f05.is_none());
    }
}
