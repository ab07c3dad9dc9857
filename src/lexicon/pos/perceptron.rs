//! The multiclass perceptron (Collins 2002) with weight averaging, over
//! hashed features and the 17 UPOS classes.
//!
//! Training keeps integer weights `w` and, per weight, `u = Σ s·Δ` (s the
//! step at which Δ was added). After T steps the average of the weights
//! after each step is `Σ_s Δ_s·(T + 1 − s) / T = ((T + 1)·w − u) / T`
//! (Daumé's trick, "A Course in Machine Learning", Alg. 7), so an update
//! touches only its own features instead of every weight each step.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::Upos;

const CLASSES: usize = Upos::COUNT;

/// Keys are already well-mixed 64-bit hashes (see `features`), so the map
/// uses them as they are instead of hashing them again with SipHash.
#[derive(Default)]
pub(super) struct PreHashed(u64);

impl Hasher for PreHashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only reached for non-u64 keys, which this map never has; fold
        // them in anyway rather than lose them.
        for &b in bytes {
            self.0 = (self.0 ^ b as u64).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

pub(super) type FeatureIndex = HashMap<u64, u32, BuildHasherDefault<PreHashed>>;

/// The best class among `allowed` for `scores`; ties go to the lower class
/// index so that predictions are deterministic.
fn argmax<T: PartialOrd + Copy>(scores: &[T; CLASSES], allowed: &[bool; CLASSES]) -> usize {
    let mut best: Option<usize> = None;
    for c in 0..CLASSES {
        if allowed[c] && best.is_none_or(|b| scores[c] > scores[b]) {
            best = Some(c);
        }
    }
    best.unwrap_or(0)
}

/// The perceptron while it learns.
pub(super) struct Trainer {
    index: FeatureIndex,
    w: Vec<[i32; CLASSES]>,
    u: Vec<[i64; CLASSES]>,
    /// Steps so far, plus one (Daumé's `c` starts at 1).
    c: i64,
    /// Classes that occur in the training data; no other is ever predicted.
    classes: [bool; CLASSES],
}

impl Trainer {
    pub(super) fn new(classes: [bool; CLASSES]) -> Self {
        Trainer { index: FeatureIndex::default(), w: Vec::new(), u: Vec::new(), c: 1, classes }
    }

    pub(super) fn predict(&self, features: &[u64]) -> usize {
        let mut scores = [0i64; CLASSES];
        for f in features {
            if let Some(&row) = self.index.get(f) {
                for (s, w) in scores.iter_mut().zip(&self.w[row as usize]) {
                    *s += *w as i64;
                }
            }
        }
        argmax(&scores, &self.classes)
    }

    /// One training step: on a mistake, moves the features' weights towards
    /// `truth` and away from `guess`.
    pub(super) fn step(&mut self, features: &[u64], truth: usize, guess: usize) {
        if truth != guess {
            for &f in features {
                let next = self.w.len() as u32;
                let row = *self.index.entry(f).or_insert(next) as usize;
                if row == self.w.len() {
                    self.w.push([0; CLASSES]);
                    self.u.push([0; CLASSES]);
                }
                self.w[row][truth] += 1;
                self.w[row][guess] -= 1;
                self.u[row][truth] += self.c;
                self.u[row][guess] -= self.c;
            }
        }
        self.c += 1;
    }

    /// The averaged weights; features whose average is zero for every class
    /// are dropped (they cannot change a score).
    pub(super) fn average(self) -> Weights {
        // c = T + 1; with no steps at all every weight is zero anyway.
        let (c, steps) = (self.c as f64, (self.c - 1).max(1) as f64);
        let mut weights = Weights { index: FeatureIndex::default(), rows: Vec::new(), classes: self.classes };
        for (&f, &row) in &self.index {
            let (w, u) = (&self.w[row as usize], &self.u[row as usize]);
            let avg: [f32; CLASSES] = std::array::from_fn(|k| ((c * w[k] as f64 - u[k] as f64) / steps) as f32);
            weights.insert(f, avg);
        }
        weights
    }
}

/// Averaged weights, for tagging.
#[derive(Clone, Debug)]
pub(super) struct Weights {
    index: FeatureIndex,
    rows: Vec<[f32; CLASSES]>,
    classes: [bool; CLASSES],
}

impl Weights {
    pub(super) fn empty(classes: [bool; CLASSES]) -> Self {
        Weights { index: FeatureIndex::default(), rows: Vec::new(), classes }
    }

    /// Adds one feature's row unless it is all zeros; `false` if the feature
    /// was already there.
    pub(super) fn insert(&mut self, feature: u64, row: [f32; CLASSES]) -> bool {
        if self.index.contains_key(&feature) {
            return false;
        }
        if row.iter().any(|&x| x != 0.0) {
            self.index.insert(feature, self.rows.len() as u32);
            self.rows.push(row);
        }
        true
    }

    pub(super) fn predict(&self, features: &[u64]) -> usize {
        let mut scores = [0f32; CLASSES];
        for f in features {
            if let Some(&row) = self.index.get(f) {
                for (s, w) in scores.iter_mut().zip(&self.rows[row as usize]) {
                    *s += *w;
                }
            }
        }
        argmax(&scores, &self.classes)
    }

    pub(super) fn classes(&self) -> &[bool; CLASSES] {
        &self.classes
    }

    /// Every (feature, row), sorted by feature so saved files are stable.
    pub(super) fn sorted_rows(&self) -> Vec<(u64, &[f32; CLASSES])> {
        let mut out: Vec<_> = self.index.iter().map(|(&f, &r)| (f, &self.rows[r as usize])).collect();
        out.sort_unstable_by_key(|&(f, _)| f);
        out
    }

    pub(super) fn len(&self) -> usize {
        self.rows.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn averaging_matches_the_explicit_average() {
        // Two features, three steps; check ((T+1)w − u)/T against summing the
        // weight vector after every step.
        let mut classes = [false; CLASSES];
        classes[0] = true;
        classes[1] = true;
        let mut t = Trainer::new(classes);
        let steps: [(&[u64], usize, usize); 3] = [(&[10, 20], 1, 0), (&[10], 0, 1), (&[20], 1, 1)];
        let mut sum = [[0f64; 2]; 2];
        let mut cur = [[0f64; 2]; 2];
        for (feats, truth, guess) in steps {
            t.step(feats, truth, guess);
            if truth != guess {
                for &f in feats {
                    let r = (f / 10 - 1) as usize;
                    cur[r][truth] += 1.0;
                    cur[r][guess] -= 1.0;
                }
            }
            for r in 0..2 {
                for k in 0..2 {
                    sum[r][k] += cur[r][k];
                }
            }
        }
        let w = t.average();
        for (r, f) in [10u64, 20].iter().enumerate() {
            let row = w.index.get(f).map(|&i| w.rows[i as usize]).unwrap_or([0.0; CLASSES]);
            for k in 0..2 {
                assert!((row[k] as f64 - sum[r][k] / 3.0).abs() < 1e-6, "feature {f} class {k}");
            }
        }
    }

    #[test]
    fn only_seen_classes_are_predicted_and_ties_go_low() {
        let mut classes = [false; CLASSES];
        classes[3] = true;
        classes[9] = true;
        let w = Weights::empty(classes);
        assert_eq!(w.predict(&[1, 2, 3]), 3);
    }
}
