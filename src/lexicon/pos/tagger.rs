//! The averaged-perceptron POS tagger: greedy left-to-right tagging where
//! each decision sees the two tags already chosen (Collins 2002; the design
//! of Honnibal's 2013 tagger, also NLTK's `PerceptronTagger`).

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

use super::features::{Sentence, START, START2};
use super::perceptron::{Trainer, Weights};
use super::{conllu, Accuracy, PosTagger, TaggedSentence, Upos};
use crate::error::{Error, Result};
use crate::rng::Rng;

/// How to train a [`PerceptronTagger`]. The defaults are Honnibal's.
#[derive(Clone, Debug)]
pub struct TrainOptions {
    /// Passes over the training sentences; each pass visits them in a new
    /// order, so the perceptron does not learn the file order.
    pub iterations: usize,
    /// Seed of the visiting order ([`Rng`]): the same seed and data give the
    /// same model.
    pub seed: u64,
    /// A word seen at least this often ...
    pub tagdict_min_count: usize,
    /// ... with one tag at least this fraction of the time is tagged from
    /// the tag dictionary, without the model: faster, and these words
    /// ("the", ",", "and") are never wrong often enough to matter.
    pub tagdict_min_ratio: f64,
    /// Lowercase every token, in training and in tagging, for text that is
    /// lowercased already (SST-2 and MR in ../shared/data are): a model
    /// trained on cased text leans on capitals that such input never has.
    pub lowercase: bool,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions { iterations: 5, seed: 1, tagdict_min_count: 20, tagdict_min_ratio: 0.97, lowercase: false }
    }
}

/// A trained averaged-perceptron tagger. Tagging never fails: an unseen
/// word still has affix, shape and context features.
#[derive(Clone, Debug)]
pub struct PerceptronTagger {
    pub(super) weights: Weights,
    pub(super) tagdict: HashMap<String, Upos>,
    pub(super) lowercase: bool,
}

impl PerceptronTagger {
    /// Trains on `sentences` (which must hold at least one token).
    pub fn train(sentences: &[TaggedSentence], opts: &TrainOptions) -> Result<Self> {
        Self::train_with_progress(sentences, opts, |_, _| {})
    }

    /// [`Self::train`], calling `progress(iteration, accuracy)` after each
    /// pass with the accuracy of the guesses made during that pass.
    pub fn train_with_progress(
        sentences: &[TaggedSentence],
        opts: &TrainOptions,
        mut progress: impl FnMut(usize, Accuracy),
    ) -> Result<Self> {
        let op = "PerceptronTagger::train";
        if let Some((i, s)) = sentences.iter().enumerate().find(|(_, s)| s.tokens.len() != s.tags.len()) {
            return Err(Error::invalid(
                op,
                format!("sentence {i} has {} tokens but {} tags", s.tokens.len(), s.tags.len()),
            ));
        }
        if sentences.iter().all(|s| s.tokens.is_empty()) {
            return Err(Error::invalid(op, "no training tokens"));
        }
        if opts.iterations == 0 {
            return Err(Error::invalid(op, "iterations must be at least 1"));
        }
        let lowercased: Vec<Vec<Cow<str>>> =
            sentences.iter().map(|s| s.tokens.iter().map(|t| case(t, opts.lowercase)).collect()).collect();
        let tagdict = tag_dictionary(&lowercased, sentences, opts);
        let mut classes = [false; Upos::COUNT];
        sentences.iter().flat_map(|s| &s.tags).for_each(|t| classes[t.index()] = true);

        let mut trainer = Trainer::new(classes);
        let mut order: Vec<usize> = (0..sentences.len()).collect();
        let mut rng = Rng::new(opts.seed);
        for iteration in 0..opts.iterations {
            rng.shuffle(&mut order);
            let mut acc = Accuracy::default();
            for &si in &order {
                let tokens: Vec<&str> = lowercased[si].iter().map(|t| t.as_ref()).collect();
                let sentence = Sentence::new(&tokens);
                let (mut prev, mut prev2) = (START, START2);
                for (i, (token, gold)) in tokens.iter().zip(&sentences[si].tags).enumerate() {
                    let guess = match tagdict.get(*token) {
                        Some(t) => t.index(),
                        None => {
                            let features = sentence.features(i, prev, prev2);
                            let guess = trainer.predict(&features);
                            trainer.step(&features, gold.index(), guess);
                            guess
                        }
                    };
                    acc.total += 1;
                    acc.correct += usize::from(guess == gold.index());
                    // Later decisions see the guess, not the gold tag, as
                    // they will when tagging new text.
                    (prev, prev2) = (guess as u8, prev);
                }
            }
            progress(iteration, acc);
        }
        Ok(PerceptronTagger { weights: trainer.average(), tagdict, lowercase: opts.lowercase })
    }

    /// Reads a CoNLL-U treebank and trains on all of it.
    pub fn train_conllu(path: &Path, opts: &TrainOptions) -> Result<Self> {
        Self::train(&conllu::read(path)?, opts)
    }

    /// Whether this tagger lowercases its input (see [`TrainOptions::lowercase`]).
    pub fn lowercases(&self) -> bool {
        self.lowercase
    }

    /// Words tagged from the tag dictionary, and features with weights: a
    /// rough measure of how much the model learned.
    pub fn size(&self) -> (usize, usize) {
        (self.tagdict.len(), self.weights.len())
    }

    /// Writes the model as one JSON object (format version, feature-set
    /// name, tag dictionary, sparse averaged weights), atomically: a crash
    /// never leaves a half-written model under `path`.
    pub fn save(&self, path: &Path) -> Result<()> {
        super::model_file::save(self, path)
    }

    /// Reads a model written by [`Self::save`].
    pub fn load(path: &Path) -> Result<Self> {
        super::model_file::load(path)
    }

    /// Token accuracy on gold-tagged sentences.
    pub fn evaluate(&self, sentences: &[TaggedSentence]) -> Accuracy {
        super::evaluate(self, sentences)
    }
}

impl PosTagger for PerceptronTagger {
    fn tag(&self, tokens: &[&str]) -> Vec<Upos> {
        let cased: Vec<Cow<str>> = tokens.iter().map(|t| case(t, self.lowercase)).collect();
        let tokens: Vec<&str> = cased.iter().map(|t| t.as_ref()).collect();
        let sentence = Sentence::new(&tokens);
        let (mut prev, mut prev2) = (START, START2);
        let mut out = Vec::with_capacity(tokens.len());
        for (i, token) in tokens.iter().enumerate() {
            let tag = match self.tagdict.get(*token) {
                Some(&t) => t,
                None => {
                    let k = self.weights.predict(&sentence.features(i, prev, prev2));
                    Upos::from_index(k).unwrap_or(Upos::X)
                }
            };
            out.push(tag);
            (prev, prev2) = (tag.index() as u8, prev);
        }
        out
    }

    /// Features see the words two positions either side and the two tags
    /// before, so tags before `i − 2` are those of the unflipped sentence:
    /// tagging restarts at `i − 2` from them.
    fn tag_flipped(&self, tokens: &[&str], i: usize, tags: &[Upos]) -> Upos {
        if i >= tokens.len() || tags.len() != tokens.len() {
            return self.tag(tokens).get(i).copied().unwrap_or(Upos::X);
        }
        let start = i.saturating_sub(2);
        let end = (i + 3).min(tokens.len());
        let cased: Vec<Cow<str>> = tokens
            .iter()
            .enumerate()
            .map(|(j, t)| if j + 2 >= start && j < end { case(t, self.lowercase) } else { Cow::Borrowed(*t) })
            .collect();
        let cased: Vec<&str> = cased.iter().map(|t| t.as_ref()).collect();
        let sentence = Sentence::range(&cased, start, i + 1);
        let tag_id = |j: usize| tags[j].index() as u8;
        let (mut prev, mut prev2) = match start {
            0 => (START, START2),
            1 => (tag_id(0), START),
            s => (tag_id(s - 1), tag_id(s - 2)),
        };
        let mut tag = Upos::X;
        for (j, token) in cased.iter().enumerate().take(i + 1).skip(start) {
            tag = match self.tagdict.get(*token) {
                Some(&t) => t,
                None => {
                    let k = self.weights.predict(&sentence.features(j, prev, prev2));
                    Upos::from_index(k).unwrap_or(Upos::X)
                }
            };
            (prev, prev2) = (tag.index() as u8, prev);
        }
        tag
    }
}

fn case(token: &str, lowercase: bool) -> Cow<'_, str> {
    if lowercase {
        Cow::Owned(token.to_lowercase())
    } else {
        Cow::Borrowed(token)
    }
}

/// Words frequent enough and unambiguous enough to skip the model.
fn tag_dictionary(
    tokens: &[Vec<Cow<str>>],
    sentences: &[TaggedSentence],
    opts: &TrainOptions,
) -> HashMap<String, Upos> {
    let mut counts: HashMap<&str, [usize; Upos::COUNT]> = HashMap::new();
    for (words, s) in tokens.iter().zip(sentences) {
        for (w, t) in words.iter().zip(&s.tags) {
            counts.entry(w.as_ref()).or_insert([0; Upos::COUNT])[t.index()] += 1;
        }
    }
    let mut dict = HashMap::new();
    for (word, c) in counts {
        let n: usize = c.iter().sum();
        let (best, &top) = c.iter().enumerate().max_by_key(|&(k, &v)| (v, std::cmp::Reverse(k))).unwrap_or((0, &0));
        if n >= opts.tagdict_min_count && top as f64 / n as f64 >= opts.tagdict_min_ratio {
            if let Some(tag) = Upos::from_index(best) {
                dict.insert(word.to_string(), tag);
            }
        }
    }
    dict
}
