//! HotFlip adversarial training (Ebrahimi et al. 2018 §6): per example one
//! backward pass, then the top r flips applied at once (no beam search),
//! and the loss on the clean and the adversarial batch.
//!
//! - Characters (`char_cnn_lstm`): r = 20% of the document's characters:
//!   each position's best flip, the r best positions (optionally at most
//!   `per_word` of them in one word).
//! - Words (any word model): one flip per example, to a word whose
//!   embedding has cosine similarity above 0.8 (SEM), or to UNK.
//!
//! Training uses the first-order scores alone: no vocabulary, part-of-speech
//! or stop-word checks, which the attack applies but which would cost more
//! than the training step itself.

use std::collections::HashMap;

use rayon::prelude::*;

use crate::attack::score::{chars, words};
use crate::error::{Error, Result};
use crate::models::{CharBatch, Input, WordBatch};
use crate::ops::neighbours::CosineNeighbours;
use crate::tape::Tape;
use crate::train::{task_loss, Batch, CleanPass, Objective, StepContext, StepResult};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
/// What a HotFlip training step flips.
pub enum FlipKind {
    /// Character flips (HotFlip's character model).
    Chars,
    /// One word flip to a semantically close word.
    WordSem,
    /// One word replaced by UNK.
    WordUnk,
}

#[derive(Clone, Debug)]
/// HotFlip adversarial training: the clean loss plus the loss on the batch with its best first-order flips.
pub struct FlipTraining {
    /// Characters or words, and to what.
    pub kind: FlipKind,
    /// Share of characters flipped (characters).
    pub fraction: f32,
    /// At most this many flips in one word (`None`: the top r anywhere).
    pub per_word: Option<usize>,
    /// Cosine threshold for SEM word flips.
    pub cosine: f32,
    /// Weights of the clean and the adversarial loss.
    pub clean_weight: f32,
    /// Weight of the adversarial loss.
    pub adv_weight: f32,
}

impl FlipTraining {
    /// The paper's setting: r = 20% of the characters, cosine 0.8, equal weights.
    pub fn paper(kind: FlipKind) -> Self {
        FlipTraining { kind, fraction: 0.2, per_word: None, cosine: 0.8, clean_weight: 1.0, adv_weight: 1.0 }
    }
}

/// Each word's best flip per character position ([`chars::best_flips`]),
/// best first; empty for padding words.
pub(crate) fn best_char_flips(
    x: &CharBatch,
    g: &[f32],
    table: &[f32],
    v: usize,
    d: usize,
) -> Vec<Vec<(f32, usize, usize)>> {
    let l = x.chars;
    let table_t = chars::transpose_table(table, v, d);
    (0..x.batch * x.words)
        .into_par_iter()
        .map(|row| {
            if row % x.words >= x.lengths[row / x.words] {
                return Vec::new();
            }
            chars::best_flips(&x.ids[row * l..(row + 1) * l], &g[row * l * d..(row + 1) * l * d], &table_t, v)
        })
        .collect()
}

/// The batch with each example's top r flips applied, at most `per_word`
/// of them in one word (`None`: no cap).
fn flip_chars(
    x: &CharBatch,
    g: &[f32],
    table: &[f32],
    (v, d): (usize, usize),
    fraction: f32,
    per_word: Option<usize>,
) -> CharBatch {
    apply_char_flips(x, &best_char_flips(x, g, table, v, d), fraction, per_word)
}

/// The batch with each example's top r of `best` (each word's best flip per
/// position, best first, as [`best_char_flips`] gives them) applied, at
/// most `per_word` of them in one word.
pub(crate) fn apply_char_flips(
    x: &CharBatch,
    best: &[Vec<(f32, usize, usize)>],
    fraction: f32,
    per_word: Option<usize>,
) -> CharBatch {
    let l = x.chars;
    let cap = per_word.unwrap_or(usize::MAX);
    let mut out = x.clone();
    for b in 0..x.batch {
        let chars: usize = (0..x.lengths[b])
            .map(|w| x.ids[(b * x.words + w) * l..(b * x.words + w + 1) * l].iter().filter(|&&c| c != 0).count())
            .sum();
        let r = ((fraction * chars as f32).round() as usize).max(1);
        let mut flips: Vec<(f32, usize, usize, usize)> = (0..x.lengths[b])
            .flat_map(|w| best[b * x.words + w].iter().take(cap).map(move |&(s, j, c)| (s, w, j, c)))
            .collect();
        flips.sort_by(|p, q| q.0.total_cmp(&p.0).then((p.1, p.2).cmp(&(q.1, q.2))));
        for &(_, w, j, c) in flips.iter().take(r) {
            out.ids[(b * x.words + w) * l + j] = c;
        }
    }
    out
}

/// The batch with each example's best single word flip applied (to a word
/// within the cosine threshold, or to UNK).
pub(crate) fn flip_words(
    x: &WordBatch,
    g: &[f32],
    table: &[f32],
    v: usize,
    d: usize,
    kind: FlipKind,
    cosine: f32,
) -> WordBatch {
    let similar = if kind == FlipKind::WordSem {
        CosineNeighbours::new(table, v, d).above_for_each(&x.ids, cosine)
    } else {
        HashMap::new()
    };
    let unk = [1usize];
    let picks: Vec<Option<(usize, usize)>> = (0..x.batch)
        .into_par_iter()
        .map(|b| {
            let span = b * x.len..b * x.len + x.lengths[b];
            let candidates = |_t: usize, id: usize| -> &[usize] {
                match kind {
                    FlipKind::WordUnk => &unk,
                    _ => similar.get(&id).map_or(&[], Vec::as_slice),
                }
            };
            words::best_flip(&g[span.start * d..span.end * d], table, &x.ids[span], d, candidates)
                .map(|(_, t, j)| (t, j))
        })
        .collect();
    let mut out = x.clone();
    for (b, p) in picks.into_iter().enumerate() {
        if let Some((t, j)) = p {
            out.ids[b * x.len + t] = j;
        }
    }
    out
}

impl Objective for FlipTraining {
    fn name(&self) -> String {
        match self.kind {
            FlipKind::Chars => format!("hotflip(r={})", self.fraction),
            FlipKind::WordSem => format!("word-sem(cos={})", self.cosine),
            FlipKind::WordUnk => "word-unk".into(),
        }
    }

    fn step(&mut self, ctx: &StepContext<'_>, batch: &Batch) -> Result<StepResult> {
        // Unweighted: the flip scores need J's own gradient; the weights apply when combining.
        let clean = CleanPass::run(ctx, batch)?;
        let ge = &clean.input_grad;

        let table = ctx.store.get(ctx.model.embedding_param());
        let (v, d) = (table.shape()[0], table.shape()[1]);
        let adv_input = match (&batch.input, self.kind) {
            (Input::Chars(x), FlipKind::Chars) => {
                Input::Chars(flip_chars(x, ge, table.data(), (v, d), self.fraction, self.per_word))
            }
            (Input::Words(x), FlipKind::WordSem | FlipKind::WordUnk) => {
                // The table the model reads (normalised for the LSTM models).
                let read = ctx.model.word_table_values(ctx.store)?.unwrap_or_else(|| table.clone());
                Input::Words(flip_words(x, ge, read.data(), v, d, self.kind, self.cosine))
            }
            _ => {
                return Err(Error::invalid(
                    "adversarial training",
                    "hotflip training needs a character model; word-sem and word-unk need a word model",
                ))
            }
        };
        let loss = |tape: &Tape, logits| task_loss(tape, logits, &batch.targets);
        clean.with_adversarial(ctx, &adv_input, None, loss, self.clean_weight, self.adv_weight)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One document of two 3-char words; a table where the score of a flip
    /// to char c at (word w, position j) is `g[w, j] · (E_c − E_a)`.
    fn setup() -> (CharBatch, Vec<f32>, Vec<f32>) {
        let x = CharBatch::from_docs(&[vec![vec![2, 3, 4], vec![2, 3, 4]]], 4, 2).unwrap();
        let (v, d) = (6, 1);
        // E_c = c: a flip to char 5 gains (5 − a)·g.
        let table: Vec<f32> = (0..v).map(|c| c as f32).collect();
        // Gains 9, 5, 4 in word 0; 3, 1, 0.2 in word 1.
        let mut g = vec![0.0f32; x.batch * x.words * x.chars * d];
        for (j, gv) in [(0, 3.0), (1, 2.5), (2, 4.0)] {
            g[j] = gv;
        }
        for (j, gv) in [(0, 1.0), (1, 0.5), (2, 0.1)] {
            g[x.chars + j] = gv;
        }
        (x, g, table)
    }

    fn changed(a: &CharBatch, b: &CharBatch) -> Vec<(usize, usize)> {
        (0..a.ids.len()).filter(|&i| a.ids[i] != b.ids[i]).map(|i| (i / a.chars, i % a.chars)).collect()
    }

    #[test]
    fn top_r_flips_take_the_best_positions_anywhere() {
        let (x, g, table) = setup();
        // 6 characters × 0.5 → r = 3: all three land in word 0.
        let out = flip_chars(&x, &g, &table, (6, 1), 0.5, None);
        assert_eq!(changed(&x, &out), vec![(0, 0), (0, 1), (0, 2)]);
        assert!(out.ids[..3].iter().all(|&c| c == 5));
    }

    #[test]
    fn per_word_cap_spreads_the_flips() {
        let (x, g, table) = setup();
        let out = flip_chars(&x, &g, &table, (6, 1), 0.5, Some(1));
        // One flip per word: each word's best position, and only two words.
        assert_eq!(changed(&x, &out), vec![(0, 0), (1, 0)]);
    }
}
