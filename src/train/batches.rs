//! Padded batches for training and evaluation.
//!
//! Training batches are bucketed: the epoch's shuffled order is cut into
//! pools of 50 batches, each pool sorted by length and cut into batches,
//! and the batches shuffled again. A batch then holds documents of similar
//! length, so little LSTM time goes to padding, while the order stays random
//! and is fixed by (seed, epoch).

use crate::error::{Error, Result};
use crate::models::{CharBatch, Input, ModelConfig, WordBatch};
use crate::rng::Rng;
use crate::train::samples::{Sample, Target, Tokens};

/// Targets of a batch, aligned with its inputs.
#[derive(Clone, Debug, PartialEq)]
pub enum Targets {
    /// One class id per example `[B]` (classifiers).
    Classes(Vec<usize>),
    /// Per-token labels `[B·T]` (0 at padding) and a mask that is 1 at real tokens.
    Tags {
        /// Label per position, row-major `[B·T]`.
        labels: Vec<usize>,
        /// 1.0 at real tokens, 0.0 at padding: the loss weights.
        mask: Vec<f32>,
    },
}

/// Padded inputs and their targets for a set of samples, plus which samples
/// they are (so predictions can be mapped back).
#[derive(Clone, Debug)]
pub struct Batch {
    /// The padded model input (chars or words, per the model).
    pub input: Input,
    /// Targets in the same example order as `input`.
    pub targets: Targets,
    /// Which samples (positions in the slice given to `make`) it holds.
    pub members: Vec<usize>,
}

impl Batch {
    /// Pads `members` of `samples` into one batch for `model`.
    pub fn make(samples: &[Sample], members: &[usize], model: &ModelConfig, min_len: usize) -> Result<Self> {
        if members.is_empty() {
            return Err(Error::invalid("batch", "no samples"));
        }
        let pick = |i: usize| &samples[i];
        let input = match &pick(members[0]).tokens {
            Tokens::Chars(_) => {
                let docs: Vec<Vec<Vec<usize>>> = members
                    .iter()
                    .map(|&i| match &pick(i).tokens {
                        Tokens::Chars(d) => Ok(d.clone()),
                        Tokens::Words(_) => Err(Error::invalid("batch", "mixed character and word samples")),
                    })
                    .collect::<Result<_>>()?;
                let (l, w) = match model {
                    ModelConfig::CharCnnLstm(c) => (c.max_word_len, c.max_words),
                    _ => return Err(Error::invalid("batch", format!("{} takes words, not characters", model.arch()))),
                };
                Input::Chars(CharBatch::from_docs(&docs, l, w)?)
            }
            Tokens::Words(_) => {
                let sents: Vec<Vec<usize>> = members
                    .iter()
                    .map(|&i| match &pick(i).tokens {
                        Tokens::Words(s) => Ok(s.clone()),
                        Tokens::Chars(_) => Err(Error::invalid("batch", "mixed character and word samples")),
                    })
                    .collect::<Result<_>>()?;
                Input::Words(WordBatch::from_sentences(&sents, model.max_words(), min_len)?)
            }
        };
        let targets = match &pick(members[0]).target {
            Target::Class(_) => Targets::Classes(
                members
                    .iter()
                    .map(|&i| match &pick(i).target {
                        Target::Class(c) => Ok(*c),
                        Target::Tags(_) => Err(Error::invalid("batch", "mixed class and tag targets")),
                    })
                    .collect::<Result<_>>()?,
            ),
            Target::Tags(_) => {
                let t = match &input {
                    Input::Words(w) => w.len,
                    Input::Chars(c) => c.words,
                };
                let mut labels = vec![0usize; members.len() * t];
                let mut mask = vec![0.0f32; members.len() * t];
                for (b, &i) in members.iter().enumerate() {
                    let Target::Tags(tags) = &pick(i).target else {
                        return Err(Error::invalid("batch", "mixed class and tag targets"));
                    };
                    let n = tags.len().min(input.lengths()[b]);
                    labels[b * t..b * t + n].copy_from_slice(&tags[..n]);
                    mask[b * t..b * t + n].fill(1.0);
                }
                Targets::Tags { labels, mask }
            }
        };
        Ok(Batch { input, targets, members: members.to_vec() })
    }

    /// Number of examples in the batch.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether the batch holds no examples (`make` never builds one).
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }
}

/// The training batches of one epoch, as lists of sample positions.
pub fn epoch_plan(lengths: &[usize], batch: usize, seed: u64, epoch: u64) -> Vec<Vec<usize>> {
    let batch = batch.max(1);
    let mut rng = Rng::derive(seed, 0x45_50_4f_43_48 ^ epoch);
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    rng.shuffle(&mut order);
    let mut batches = Vec::with_capacity(order.len().div_ceil(batch));
    for pool in order.chunks(batch * 50) {
        let mut pool = pool.to_vec();
        // Stable sort: equal lengths keep their shuffled order.
        pool.sort_by_key(|&i| lengths[i]);
        batches.extend(pool.chunks(batch).map(<[usize]>::to_vec));
    }
    rng.shuffle(&mut batches);
    batches
}

/// Evaluation batches: sorted by length (padding-free), all samples once.
pub fn eval_plan(lengths: &[usize], batch: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    order.sort_by_key(|&i| lengths[i]);
    order.chunks(batch.max(1)).map(<[usize]>::to_vec).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_plan_covers_every_sample_once_and_depends_on_seed_and_epoch() {
        let lengths: Vec<usize> = (0..1000).map(|i| (i * 7919) % 97 + 1).collect();
        let plan = epoch_plan(&lengths, 32, 1, 0);
        let mut seen: Vec<usize> = plan.iter().flatten().copied().collect();
        seen.sort();
        assert_eq!(seen, (0..1000).collect::<Vec<_>>());
        assert!(plan.iter().all(|b| b.len() <= 32));
        assert_eq!(plan, epoch_plan(&lengths, 32, 1, 0));
        assert_ne!(plan, epoch_plan(&lengths, 32, 1, 1));
        assert_ne!(plan, epoch_plan(&lengths, 32, 2, 0));
        // Bucketing: within-batch length spread is far below the global one.
        let spread: usize = plan
            .iter()
            .map(|b| {
                let l: Vec<usize> = b.iter().map(|&i| lengths[i]).collect();
                l.iter().max().unwrap() - l.iter().min().unwrap()
            })
            .sum::<usize>()
            / plan.len();
        assert!(spread < 10, "mean within-batch spread {spread}");
    }
}
