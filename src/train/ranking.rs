//! Threshold-free scores of the tagger's `i` label: average precision of
//! P(`i`) over a split's tokens, and F0.5 at the threshold on P(`i`) that
//! maximises it (chosen on dev, then applied to test).
//!
//! Why: the argmax decision is P(`i`) > 0.5, and with 13% `i` tokens a model
//! that ranks errors well but is not yet confident predicts no `i` at all and
//! scores F0.5 = 0. Average precision tells "later" (good ranking, low
//! confidence) from "worse" (bad ranking).

use serde::{Deserialize, Serialize};

/// Precision, recall and F0.5 of "P(`i`) ≥ threshold".
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct AtThreshold {
    /// Tokens whose P(`i`) is at least this are labelled `i`.
    pub threshold: f64,
    /// Precision of `i`.
    pub precision: f64,
    /// Recall of `i`.
    pub recall: f64,
    /// F0.5 of `i` (0 when precision and recall are both 0).
    pub f05: f64,
}

/// F0.5 from precision and recall (precision weighted twice as much).
pub fn f05(p: f64, r: f64) -> f64 {
    if p + r > 0.0 {
        1.25 * p * r / (0.25 * p + r)
    } else {
        0.0
    }
}

/// Scores of the positive class with their gold labels, sorted by score,
/// highest first.
pub struct Ranking {
    pairs: Vec<(f32, bool)>,
    positives: usize,
}

impl Ranking {
    /// From `(score, is_positive)` pairs in any order (NaN scores rank last).
    pub fn new(mut pairs: Vec<(f32, bool)>) -> Self {
        let key = |s: f32| if s.is_nan() { f32::NEG_INFINITY } else { s };
        pairs.sort_by(|a, b| key(b.0).total_cmp(&key(a.0)));
        let positives = pairs.iter().filter(|p| p.1).count();
        Ranking { pairs, positives }
    }

    /// Cumulative (true positives, predicted positives, threshold) at every
    /// distinct score, highest first: the cut "score ≥ threshold".
    fn cuts(&self) -> Vec<(usize, usize, f32)> {
        let mut out = Vec::new();
        let mut tp = 0;
        for (k, &(s, pos)) in self.pairs.iter().enumerate() {
            tp += usize::from(pos);
            // Tied scores are one cut: a threshold cannot split them.
            let last_of_tie = self.pairs.get(k + 1).is_none_or(|n| n.0 != s);
            if last_of_tie {
                out.push((tp, k + 1, s));
            }
        }
        out
    }

    /// Average precision: Σ over cuts of (Rₙ − Rₙ₋₁)·Pₙ (the step-wise area
    /// under the precision-recall curve, as scikit-learn's
    /// `average_precision_score`). `None` when there is no positive.
    pub fn average_precision(&self) -> Option<f64> {
        if self.positives == 0 {
            return None;
        }
        let (mut ap, mut prev_tp) = (0.0, 0usize);
        for (tp, n, _) in self.cuts() {
            ap += (tp - prev_tp) as f64 / self.positives as f64 * (tp as f64 / n as f64);
            prev_tp = tp;
        }
        Some(ap)
    }

    fn score_cut(&self, tp: usize, n: usize, threshold: f64) -> AtThreshold {
        let precision = if n > 0 { tp as f64 / n as f64 } else { 0.0 };
        let recall = if self.positives > 0 { tp as f64 / self.positives as f64 } else { 0.0 };
        AtThreshold { threshold, precision, recall, f05: f05(precision, recall) }
    }

    /// The cut with the highest F0.5 (the highest threshold among equals).
    /// `None` when there is no token.
    pub fn best_f05(&self) -> Option<AtThreshold> {
        let mut best: Option<AtThreshold> = None;
        for (tp, n, s) in self.cuts() {
            let at = self.score_cut(tp, n, s as f64);
            if best.is_none_or(|b| at.f05 > b.f05) {
                best = Some(at);
            }
        }
        best
    }

    /// Precision, recall and F0.5 of "score ≥ `threshold`".
    pub fn at(&self, threshold: f64) -> AtThreshold {
        let n = self.pairs.partition_point(|p| p.0 as f64 >= threshold);
        let tp = self.pairs[..n].iter().filter(|p| p.1).count();
        self.score_cut(tp, n, threshold)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn average_precision_by_hand() {
        // Ranked: + (0.9), − (0.8), + (0.7), − (0.1): P at the two positives
        // is 1/1 and 2/3, each recall step 1/2 → AP = (1 + 2/3) / 2.
        let r = Ranking::new(vec![(0.1, false), (0.7, true), (0.9, true), (0.8, false)]);
        assert!((r.average_precision().unwrap() - (1.0 + 2.0 / 3.0) / 2.0).abs() < 1e-12);
        // A perfect ranking scores 1 whatever the scale of the scores (all below 0.5 here).
        let p = Ranking::new(vec![(0.3, true), (0.2, true), (0.01, false), (0.02, false)]);
        assert_eq!(p.average_precision(), Some(1.0));
        // The worst ranking: positives last. P at them is 1/3 and 2/4.
        let w = Ranking::new(vec![(0.9, false), (0.8, false), (0.2, true), (0.1, true)]);
        assert!((w.average_precision().unwrap() - (1.0 / 3.0 + 0.5) / 2.0).abs() < 1e-12);
        assert_eq!(Ranking::new(vec![(0.5, false)]).average_precision(), None);
    }

    #[test]
    fn ties_are_one_cut() {
        // All four tied: one cut, precision 2/4 at recall 1 → AP 0.5 (not
        // an order-dependent value).
        let r = Ranking::new(vec![(0.4, true), (0.4, false), (0.4, false), (0.4, true)]);
        assert_eq!(r.average_precision(), Some(0.5));
        let b = r.best_f05().unwrap();
        assert_eq!((b.threshold, b.precision, b.recall), (0.4f32 as f64, 0.5, 1.0));
    }

    #[test]
    fn best_threshold_and_applying_it() {
        // Scores all under 0.5 (the argmax would predict no positive): the
        // best cut is ≥ 0.3, P 1, R 2/3.
        let r = Ranking::new(vec![(0.4, true), (0.3, true), (0.2, false), (0.1, true), (0.05, false)]);
        let b = r.best_f05().unwrap();
        assert_eq!(b.threshold, 0.3f32 as f64);
        assert_eq!((b.precision, b.recall), (1.0, 2.0 / 3.0));
        assert!((b.f05 - f05(1.0, 2.0 / 3.0)).abs() < 1e-12);
        // Check against every other cut by brute force.
        for t in [0.4, 0.2, 0.1, 0.05] {
            assert!(r.at(t).f05 <= b.f05);
        }
        // The same threshold on another split.
        let test = Ranking::new(vec![(0.35, true), (0.31, false), (0.29, true), (0.6, false)]);
        let at = test.at(b.threshold);
        assert_eq!((at.precision, at.recall), (1.0 / 3.0, 0.5));
        assert_eq!(test.at(0.99), AtThreshold { threshold: 0.99, precision: 0.0, recall: 0.0, f05: 0.0 });
    }
}
