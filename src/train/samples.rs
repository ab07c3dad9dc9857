//! Data sets turned into id sequences and targets for a given architecture,
//! with the vocabulary built from the training split.

use crate::data::{
    AnyDataset, CharEncoder, Dataset, Example, ModelVocab, TaggedSentence, Tokenizer, Vocab, WordEncoder,
};
use crate::error::{Error, Result};
use crate::models::ModelConfig;

/// A model input before batching.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tokens {
    /// Words of character ids (character models).
    Chars(Vec<Vec<usize>>),
    /// Word ids (word models).
    Words(Vec<usize>),
}

impl Tokens {
    /// One text as the model of `cfg` reads it: character ids per word for
    /// a character model, word ids otherwise (at most the model's number of
    /// words). The one text encoder the trainer, `predict` and the
    /// attacker's prediction share.
    pub fn of_text(text: &str, vocab: &Vocab, lowercase: bool, cfg: &ModelConfig) -> Result<Tokens> {
        let tok = Tokenizer::new(lowercase);
        let cap = Some(cfg.max_words());
        Ok(if cfg.is_char_level() {
            Tokens::Chars(CharEncoder::new(vocab, tok, cap)?.encode(text).ids)
        } else {
            Tokens::Words(WordEncoder::new(vocab, tok, cap)?.encode(text).ids)
        })
    }
}

/// What the model should predict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// Class id of the whole text (classifiers).
    Class(usize),
    /// One label per word (the tagger).
    Tags(Vec<usize>),
}

/// One encoded record of a split: model input, target and where it came
/// from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sample {
    /// The encoded input (already cut to the model's `max_words`).
    pub tokens: Tokens,
    /// What the model should predict for it.
    pub target: Target,
    /// Position of the record in its split (so results can name it).
    pub index: usize,
}

impl Sample {
    /// Length in words.
    pub fn len(&self) -> usize {
        match &self.tokens {
            Tokens::Chars(w) => w.len(),
            Tokens::Words(w) => w.len(),
        }
    }

    /// Whether it has no words (encoding drops such records).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// How the vocabulary is built from the training split.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VocabOptions {
    /// Lowercase text before tokenising (for the vocabulary and every split
    /// alike; the same setting must be used when encoding later inputs).
    pub lowercase: bool,
    /// Keep tokens seen at least this often.
    pub min_count: usize,
    /// Keep at most this many tokens (PAD and UNK not counted).
    pub max_size: Option<usize>,
}

/// The three splits encoded for one model, and what was left out.
#[derive(Clone, Debug)]
pub struct Encoded {
    /// Training split, in the data set's order.
    pub train: Vec<Sample>,
    /// Validation split (model selection).
    pub dev: Vec<Sample>,
    /// Test split.
    pub test: Vec<Sample>,
    /// Records with no words, which no model can read (per split).
    pub dropped_empty: [usize; 3],
}

/// Builds the input vocabulary (and, for characters, the training word
/// vocabulary the char-level attack consults) from the training split.
pub fn build_vocab(char_level: bool, data: &AnyDataset, opts: VocabOptions) -> Result<ModelVocab> {
    let tok = Tokenizer::new(opts.lowercase);
    let texts: Vec<String> = match data {
        AnyDataset::Classification(d) => d.train.iter().map(|e| e.text.clone()).collect(),
        AnyDataset::Tagging(d) => d.train.iter().map(|s| s.tokens.join(" ")).collect(),
        AnyDataset::Translation(d) => {
            return Err(Error::invalid(
                "train",
                format!("`{}` is a translation data set; classifiers need labels", d.name),
            ))
        }
    };
    let refs = texts.iter().map(String::as_str);
    if char_level {
        let chars = Vocab::chars_from_texts(refs.clone(), &tok, opts.min_count, opts.max_size);
        // Every training word, whatever its count: the attack must never
        // produce a word the model saw in training.
        let words = Vocab::words_from_texts(refs, &tok, 1, None);
        ModelVocab::new(chars, Some(words))
    } else {
        ModelVocab::new(Vocab::words_from_texts(refs, &tok, opts.min_count, opts.max_size), None)
    }
}

/// Encodes every split of `data` for `model` with `vocab`.
pub fn encode(data: &AnyDataset, vocab: &ModelVocab, lowercase: bool, model: &ModelConfig) -> Result<Encoded> {
    let tok = Tokenizer::new(lowercase);
    match data {
        AnyDataset::Classification(d) => {
            if model.is_tagger() {
                return Err(Error::invalid(
                    "train",
                    format!("{} needs a tagging data set, `{}` is not", model.arch(), d.name),
                ));
            }
            check_labels(d, model)?;
            let one = |e: &Example, index: usize| -> Sample {
                let tokens = Tokens::of_text(&e.text, &vocab.vocab, lowercase, model).unwrap_or_else(|_| {
                    if model.is_char_level() {
                        Tokens::Chars(Vec::new())
                    } else {
                        Tokens::Words(Vec::new())
                    }
                });
                Sample { tokens, target: Target::Class(e.label), index }
            };
            check_kind(vocab, model)?;
            Ok(split3([&d.train, &d.dev, &d.test], one))
        }
        AnyDataset::Tagging(d) => {
            if !model.is_tagger() {
                return Err(Error::invalid(
                    "train",
                    format!("{} classifies texts; `{}` tags tokens", model.arch(), d.name),
                ));
            }
            check_kind(vocab, model)?;
            let enc = WordEncoder::new(&vocab.vocab, tok, None)?;
            let cap = model.max_words();
            let one = |s: &TaggedSentence, index: usize| -> Sample {
                let n = s.tokens.len().min(cap);
                Sample {
                    tokens: Tokens::Words(enc.encode_words(&s.tokens[..n])),
                    target: Target::Tags(s.labels[..n].to_vec()),
                    index,
                }
            };
            Ok(split3([&d.train, &d.dev, &d.test], one))
        }
        AnyDataset::Translation(d) => Err(Error::invalid(
            "train",
            format!("`{}` is a translation data set; no model here translates yet", d.name),
        )),
    }
}

fn check_kind(vocab: &ModelVocab, model: &ModelConfig) -> Result<()> {
    let chars = vocab.vocab.kind() == crate::data::VocabKind::Chars;
    if chars != model.is_char_level() {
        return Err(Error::invalid(
            "vocabulary",
            format!("{} needs a {} vocabulary", model.arch(), if model.is_char_level() { "chars" } else { "words" }),
        ));
    }
    Ok(())
}

fn check_labels(d: &Dataset<Example>, model: &ModelConfig) -> Result<()> {
    if d.labels.len() != model.n_classes() {
        return Err(Error::invalid(
            "train",
            format!("`{}` has {} labels, the model {} classes", d.name, d.labels.len(), model.n_classes()),
        ));
    }
    Ok(())
}

fn split3<T>(splits: [&Vec<T>; 3], one: impl Fn(&T, usize) -> Sample) -> Encoded {
    let mut out: Vec<Vec<Sample>> = Vec::with_capacity(3);
    let mut dropped = [0usize; 3];
    for (k, split) in splits.iter().enumerate() {
        let mut v = Vec::with_capacity(split.len());
        for (i, r) in split.iter().enumerate() {
            let s = one(r, i);
            if s.is_empty() {
                dropped[k] += 1;
            } else {
                v.push(s);
            }
        }
        out.push(v);
    }
    let test = out.pop().unwrap_or_default();
    let dev = out.pop().unwrap_or_default();
    let train = out.pop().unwrap_or_default();
    Encoded { train, dev, test, dropped_empty: dropped }
}
