//! Padded batches of token ids, as the models consume them.

use crate::error::{Error, Result};

/// Documents as character ids `[batch, words, chars]` (PAD = 0), with each
/// document's true number of words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CharBatch {
    /// Row-major `[batch, words, chars]` character ids; 0 is PAD.
    pub ids: Vec<usize>,
    /// Number of documents `B`.
    pub batch: usize,
    /// Words per document after padding `W` (the longest document, at most
    /// `max_words`).
    pub words: usize,
    /// Characters per word `L` (= the model's `max_word_len`).
    pub chars: usize,
    /// Each document's true word count (`1..=words`), for the LSTM's masking.
    pub lengths: Vec<usize>,
}

impl CharBatch {
    /// Pads documents given as words of char ids. Each word is cut to
    /// `max_word_len - 1` chars so it keeps at least one trailing PAD, and
    /// each document to `max_words` words (MODELS.md).
    pub fn from_docs(docs: &[Vec<Vec<usize>>], max_word_len: usize, max_words: usize) -> Result<Self> {
        if docs.is_empty() {
            return Err(Error::invalid("CharBatch", "empty batch"));
        }
        if max_word_len < 2 {
            return Err(Error::invalid("CharBatch", "max_word_len must be at least 2"));
        }
        let lengths: Vec<usize> = docs.iter().map(|d| d.len().min(max_words)).collect();
        if let Some(i) = lengths.iter().position(|&l| l == 0) {
            return Err(Error::invalid("CharBatch", format!("document {i} of the batch has no words")));
        }
        let words = *lengths.iter().max().expect("non-empty");
        let mut ids = vec![0; docs.len() * words * max_word_len];
        for (b, doc) in docs.iter().enumerate() {
            for (w, word) in doc.iter().take(max_words).enumerate() {
                let base = (b * words + w) * max_word_len;
                for (c, &id) in word.iter().take(max_word_len - 1).enumerate() {
                    ids[base + c] = id;
                }
            }
        }
        Ok(CharBatch { ids, batch: docs.len(), words, chars: max_word_len, lengths })
    }
}

/// Sentences as word ids `[batch, len]` (PAD = 0), with true lengths.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WordBatch {
    /// Row-major `[batch, len]` word ids; 0 is PAD.
    pub ids: Vec<usize>,
    /// Number of sentences `B`.
    pub batch: usize,
    /// Padded length `T` (the longest sentence, at least `min_len`).
    pub len: usize,
    /// Each sentence's true length (`1..=len`); positions past it are PAD.
    pub lengths: Vec<usize>,
}

impl WordBatch {
    /// Pads sentences to the longest (after cutting to `max_words`), and to
    /// at least `min_len` positions.
    pub fn from_sentences(sents: &[Vec<usize>], max_words: usize, min_len: usize) -> Result<Self> {
        if sents.is_empty() {
            return Err(Error::invalid("WordBatch", "empty batch"));
        }
        let lengths: Vec<usize> = sents.iter().map(|s| s.len().min(max_words)).collect();
        if let Some(i) = lengths.iter().position(|&l| l == 0) {
            return Err(Error::invalid("WordBatch", format!("sentence {i} of the batch has no words")));
        }
        let len = (*lengths.iter().max().expect("non-empty")).max(min_len);
        let mut ids = vec![0; sents.len() * len];
        for (b, s) in sents.iter().enumerate() {
            ids[b * len..b * len + lengths[b]].copy_from_slice(&s[..lengths[b]]);
        }
        Ok(WordBatch { ids, batch: sents.len(), len, lengths })
    }
}
