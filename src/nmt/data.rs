//! Sentence pairs encoded for `char_nmt`, and length-sorted batches.

use crate::data::ParallelPair;
use crate::error::Result;
use crate::models::char_nmt::TargetBatch;
use crate::models::CharBatch;
use crate::nmt::vocab::{words, NmtVocab};
use crate::rng::Rng;

/// One sentence pair, tokenised and encoded.
#[derive(Clone, Debug, PartialEq)]
pub struct NmtExample {
    /// The raw source line.
    pub src: String,
    /// The reference translation line (what BLEU compares against).
    pub reference: String,
    /// Source words (13a tokens).
    pub src_words: Vec<String>,
    /// Char ids of each source word, as `CharBatch::from_docs` takes them.
    pub src_chars: Vec<Vec<usize>>,
    /// Target word ids (no specials).
    pub tgt: Vec<usize>,
}

/// Which side of a Multi30k pair is the source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// The loader's source (German) to its target (English).
    Forward,
    /// English to German.
    Reverse,
}

impl Direction {
    /// The `(source, target)` lines of `p` in this direction.
    pub fn sides(self, p: &ParallelPair) -> (&str, &str) {
        match self {
            Direction::Forward => (&p.src, &p.tgt),
            Direction::Reverse => (&p.tgt, &p.src),
        }
    }
}

/// Encodes a source sentence for `vocab`.
pub fn encode_source(vocab: &NmtVocab, src: &str) -> (Vec<String>, Vec<Vec<usize>>) {
    let w = words(src);
    let c = vocab.encode_src_words(&w);
    (w, c)
}

/// Encodes every pair for `vocab`, in order; unknown characters and target
/// words become UNK, empty sides are kept (the batcher skips them).
pub fn encode_pairs(vocab: &NmtVocab, pairs: &[ParallelPair], dir: Direction) -> Vec<NmtExample> {
    pairs
        .iter()
        .map(|p| {
            let (s, t) = dir.sides(p);
            let (src_words, src_chars) = encode_source(vocab, s);
            NmtExample { src: s.to_string(), reference: t.to_string(), src_words, src_chars, tgt: vocab.encode_tgt(t) }
        })
        .collect()
}

/// Training batches: examples with both sides non-empty, sorted by source
/// length, cut into batches of `size`, in a seeded random order.
pub fn epoch_batches(examples: &[NmtExample], size: usize, seed: u64, epoch: u64) -> Vec<Vec<usize>> {
    let mut idx: Vec<usize> =
        (0..examples.len()).filter(|&i| !examples[i].src_words.is_empty() && !examples[i].tgt.is_empty()).collect();
    let mut rng = Rng::derive(seed, epoch);
    shuffle(&mut idx, &mut rng);
    idx.sort_by_key(|&i| (examples[i].src_words.len(), examples[i].tgt.len()));
    let mut batches: Vec<Vec<usize>> = idx.chunks(size.max(1)).map(<[usize]>::to_vec).collect();
    shuffle(&mut batches, &mut rng);
    batches
}

fn shuffle<T>(v: &mut [T], rng: &mut Rng) {
    for i in (1..v.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        v.swap(i, j);
    }
}

/// The padded source and target batches of `examples[idx]`.
pub fn make_batch(
    examples: &[NmtExample],
    idx: &[usize],
    max_word_len: usize,
    max_src_words: usize,
    max_tgt_words: usize,
) -> Result<(CharBatch, TargetBatch)> {
    let docs: Vec<Vec<Vec<usize>>> = idx.iter().map(|&i| examples[i].src_chars.clone()).collect();
    let tgts: Vec<Vec<usize>> = idx.iter().map(|&i| examples[i].tgt.clone()).collect();
    Ok((CharBatch::from_docs(&docs, max_word_len, max_src_words)?, TargetBatch::new(&tgts, max_tgt_words)?))
}
