//! The word edit space (HotFlip §5): flip word w_i to w_j, scored
//! `e_i · (E_j − E_i)` on the model's own (fine-tuned, and for the LSTM
//! models normalised) embeddings, under four constraints — cosine
//! similarity above 0.8, same part of speech, no stop-words, not the same
//! lexeme — or replace a word by UNK (the UNK attack).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use rayon::prelude::*;

use crate::attack::result::Change;
use crate::attack::score::flip_table::FlipTable;
use crate::attack::score::words::PositionScores;
use crate::attack::settings::Settings;
use crate::attack::space::{ScoreEntry, Scored, Space};
pub use crate::attack::word_constraints::WordConstraints;
use crate::attack::word_select::{best_distinct_per_group, TopK};
use crate::data::{Tokenizer, Vocab, WordEncoder};
use crate::error::{Error, Result};
use crate::lexicon::stem::StemIndex;
use crate::lexicon::stopwords::StopWords;
use crate::models::{Input, Model, WordBatch};
use crate::nn::ParamStore;
use crate::ops::neighbours::CosineNeighbours;
use crate::tensor::Tensor;

/// A sentence as a word model reads it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct WordDoc {
    /// Normalised words (lowercased if the model lowercases).
    pub words: Vec<String>,
    /// Vocabulary ids of `words`, one each (UNK for words outside the
    /// vocabulary): what the model embeds.
    pub ids: Vec<usize>,
    /// Whether each word was replaced (for the one-change-per-word rule).
    pub changed: Vec<bool>,
}

/// Replace the word at `pos` by vocabulary entry `to` (UNK for the UNK attack).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WordEdit {
    /// Index of the word in [`WordDoc::words`].
    pub pos: usize,
    /// The new word's vocabulary id.
    pub to: usize,
}

/// Word flips under the semantic constraints, or UNK replacements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WordMode {
    /// HotFlip's word flips: replace a word by another vocabulary word
    /// that passes the [`WordConstraints`] (level `word`).
    Flip,
    /// Replace a word by UNK, no constraints on the word (level `unk`).
    Unk,
}

/// The edit space of a word classifier: which word may become which, scored
/// from the gradient at the model's word embeddings. Build one per model with
/// [`WordSpace::new`] and hand it to a [`BeamSearch`](crate::attack::BeamSearch).
pub struct WordSpace<'a> {
    vocab: &'a Vocab,
    tok: Tokenizer,
    /// Text to normalised words and ids (the shared encoder).
    encoder: WordEncoder<'a>,
    max_words: usize,
    min_len: usize,
    mode: WordMode,
    /// The embedding table as the model reads it `[V, D]`, and its unit
    /// rows (for the cosine constraint).
    table: Tensor,
    cosines: CosineNeighbours,
    constraints: WordConstraints,
    one_change_per_word: bool,
    /// Each vocabulary word's stem, computed once (when lexemes must differ).
    stems: Option<StemIndex>,
    /// The replacements of a word allowed wherever it stands (cosine,
    /// stop-words, stems), by word id, computed at first use.
    allowed: Mutex<HashMap<usize, Arc<Vec<usize>>>>,
    /// The largest cosine between an attacked word and any other vocabulary
    /// word met so far: what to tell the user when the threshold left no
    /// candidates.
    largest_cosine: Mutex<Option<f32>>,
    /// The table in panels for scoring every word at once (word flips).
    flips: Option<FlipTable>,
    /// Whether each vocabulary word is punctuation or a stop-word, worked
    /// out at first use (once, not once per attacked word).
    stops: OnceLock<Vec<bool>>,
    /// The score buffer of the last `children` call, reused: a fresh one
    /// of several megabytes costs its page faults every time.
    scratch: Mutex<Vec<f32>>,
}

/// A position's candidates are scored all at once when they are at least
/// 1/`DENSE_SHARE` of the vocabulary: a panel pass costs about that many
/// times less per word than one dot product at a time.
const DENSE_SHARE: usize = 32;

impl<'a> WordSpace<'a> {
    /// The space for a word-level classifier over `vocab`, whose size must
    /// match the model's embedding table; `lowercase` must match how the
    /// model was trained. An error for character models, taggers, or a
    /// vocabulary of the wrong size.
    pub fn new(
        model: &Model,
        store: &ParamStore,
        vocab: &'a Vocab,
        lowercase: bool,
        mode: WordMode,
        constraints: WordConstraints,
        settings: &Settings,
    ) -> Result<Self> {
        let cfg = model.config();
        if cfg.is_char_level() || cfg.is_tagger() {
            return Err(Error::invalid(
                "attack",
                format!("word-level attacks need a word classifier, not {}", cfg.arch()),
            ));
        }
        let table = model
            .word_table_values(store)?
            .ok_or_else(|| Error::invalid("attack", "the model has no word embeddings"))?;
        let (v, d) = (table.shape()[0], table.shape()[1]);
        if v != vocab.len() {
            return Err(Error::invalid("attack", format!("vocabulary of {} words for a table of {v}", vocab.len())));
        }
        let cosines = CosineNeighbours::new(table.data(), v, d);
        let stems = constraints
            .distinct_lexemes
            .then(|| StemIndex::new((0..vocab.len()).map(|id| vocab.token(id).unwrap_or_default())));
        let flips = (mode == WordMode::Flip).then(|| FlipTable::new(table.data(), v, d));
        Ok(WordSpace {
            vocab,
            tok: Tokenizer::new(lowercase),
            encoder: WordEncoder::new(vocab, Tokenizer::new(lowercase), Some(cfg.max_words()))?,
            max_words: cfg.max_words(),
            min_len: model.min_len(),
            mode,
            table,
            cosines,
            constraints,
            one_change_per_word: settings.one_change_per_word,
            stems,
            allowed: Mutex::new(HashMap::new()),
            largest_cosine: Mutex::new(None),
            flips,
            stops: OnceLock::new(),
            scratch: Mutex::new(Vec::new()),
        })
    }

    fn dim(&self) -> usize {
        self.table.shape()[1]
    }

    /// Ids within the cosine threshold of `id` (every real word without a threshold).
    fn similar(&self, id: usize) -> Vec<usize> {
        let Some(c) = self.constraints.cosine else {
            return (Vocab::RESERVED..self.cosines.vocab()).filter(|&j| j != id).collect();
        };
        let mut best = f32::NEG_INFINITY;
        let out = self
            .cosines
            .cosines(id)
            .filter(|&(_, cos)| {
                best = best.max(cos);
                cos > c
            })
            .map(|(j, _)| j)
            .collect();
        if best.is_finite() {
            if let Ok(mut seen) = self.largest_cosine.lock() {
                *seen = Some(seen.map_or(best, |s| s.max(best)));
            }
        }
        out
    }

    /// The largest cosine between an attacked word and another vocabulary
    /// word met so far (`None` before any, or without a cosine threshold).
    pub fn largest_cosine_seen(&self) -> Option<f32> {
        self.largest_cosine.lock().ok().and_then(|s| *s)
    }

    /// The replacements of vocabulary word `id` that the context-free
    /// constraints allow (cosine, stop-words, distinct stems): the same
    /// wherever the word stands, so computed once per word.
    fn allowed_for(&self, id: usize) -> Arc<Vec<usize>> {
        if let Some(hit) = self.allowed.lock().ok().and_then(|m| m.get(&id).cloned()) {
            return hit;
        }
        let stops = self.stops.get_or_init(|| {
            (0..self.vocab.len())
                .map(|j| {
                    let w = self.vocab.token(j).unwrap_or_default();
                    StopWords::is_punctuation(w) || self.constraints.stopwords.as_ref().is_some_and(|s| s.contains(w))
                })
                .collect()
        });
        let stop = |j: usize| stops[j];
        let out = if stop(id) {
            Vec::new()
        } else {
            self.similar(id)
                .into_iter()
                .filter(|&j| !stop(j))
                .filter(|&j| !self.stems.as_ref().is_some_and(|s| s.same(id, j)))
                .collect()
        };
        let out = Arc::new(out);
        if let Ok(mut m) = self.allowed.lock() {
            m.insert(id, Arc::clone(&out));
        }
        out
    }

    /// Allowed replacements of each word of `doc` (empty where closed). Only
    /// the part-of-speech check depends on the sentence: it tags `doc` once
    /// and each candidate with [`crate::lexicon::pos::PosTagger::tag_flipped`].
    fn candidates(&self, doc: &WordDoc) -> Vec<Arc<Vec<usize>>> {
        let mut tokens: Vec<&str> = doc.words.iter().map(String::as_str).collect();
        let tags = self.constraints.pos.as_ref().map(|t| t.tag(&tokens));
        let mut out = Vec::with_capacity(doc.words.len());
        for i in 0..doc.words.len() {
            let id = doc.ids[i];
            if id < Vocab::RESERVED || (doc.changed[i] && self.one_change_per_word) {
                out.push(Arc::new(Vec::new()));
                continue;
            }
            // Punctuation is not a word to flip (ATTACKS.md flips words).
            if StopWords::is_punctuation(&doc.words[i]) {
                out.push(Arc::new(Vec::new()));
                continue;
            }
            if self.mode == WordMode::Unk {
                out.push(Arc::new(vec![Vocab::UNK]));
                continue;
            }
            let allowed = self.allowed_for(id);
            let (Some(tagger), Some(tags)) = (&self.constraints.pos, &tags) else {
                out.push(allowed);
                continue;
            };
            let own = tokens[i];
            let kept: Vec<usize> = allowed
                .iter()
                .copied()
                .filter(|&j| {
                    tokens[i] = self.vocab.token(j).unwrap_or_default();
                    tagger.tag_flipped(&tokens, i, tags) == tags[i]
                })
                .collect();
            tokens[i] = own;
            out.push(Arc::new(kept));
        }
        out
    }

    /// A spelling of `word` the vocabulary does not know, so the model reads
    /// UNK where a person still reads the word: a doubled letter.
    fn legible_unknown(&self, word: &str) -> String {
        let chars: Vec<char> = word.chars().collect();
        for k in (0..chars.len()).rev().chain(std::iter::once(usize::MAX)) {
            let mut c = chars.clone();
            if k == usize::MAX {
                c.push('~');
            } else {
                c.insert(k, chars[k]);
            }
            let s: String = c.into_iter().collect();
            if self.vocab.get(&self.tok.normalize(&s)).is_none() {
                return s;
            }
        }
        format!("{word}~")
    }
}

impl Space for WordSpace<'_> {
    type Doc = WordDoc;
    type Edit = WordEdit;

    fn level(&self) -> &'static str {
        match self.mode {
            WordMode::Flip => "word",
            WordMode::Unk => "unk",
        }
    }

    fn parse(&self, text: &str) -> WordDoc {
        let (words, ids) = self.encoder.encode_normalised(text);
        let changed = vec![false; words.len()];
        WordDoc { words, ids, changed }
    }

    fn is_empty(&self, doc: &WordDoc) -> bool {
        doc.words.is_empty()
    }

    fn input(&self, docs: &[&WordDoc]) -> Result<Input> {
        let ids: Vec<Vec<usize>> = docs.iter().map(|d| d.ids.clone()).collect();
        Ok(Input::Words(WordBatch::from_sentences(&ids, self.max_words, self.min_len)?))
    }

    fn len(&self, doc: &WordDoc) -> usize {
        doc.words.len()
    }

    fn units(&self, doc: &WordDoc) -> usize {
        doc.words.len()
    }

    fn n_chars(&self, doc: &WordDoc) -> usize {
        doc.words.iter().map(|w| w.chars().count()).sum()
    }

    fn max_changes(&self, doc: &WordDoc, s: &Settings) -> usize {
        let n = s.max_changes.unwrap_or_else(|| ((s.budget * doc.words.len() as f32).floor() as usize).max(1));
        n.min(doc.words.len())
    }

    fn apply(&self, doc: &WordDoc, e: &WordEdit) -> Option<WordDoc> {
        if e.pos >= doc.words.len() || doc.ids[e.pos] == e.to {
            return None;
        }
        let mut d = doc.clone();
        d.ids[e.pos] = e.to;
        d.words[e.pos] = self.vocab.token(e.to).unwrap_or(Vocab::UNK_STR).to_string();
        d.changed[e.pos] = true;
        Some(d)
    }

    fn edits(&self, doc: &WordDoc) -> Vec<WordEdit> {
        self.candidates(doc)
            .into_iter()
            .enumerate()
            .flat_map(|(pos, js)| js.iter().map(move |&to| WordEdit { pos, to }).collect::<Vec<_>>())
            .collect()
    }

    fn children(
        &self,
        grads: &[f32],
        entries: &[ScoreEntry<'_, WordDoc>],
        groups: usize,
        keep: usize,
    ) -> Result<Vec<Vec<Scored<WordEdit>>>> {
        let docs: Vec<&WordDoc> = entries.iter().map(|e| e.doc).collect();
        let Input::Words(batch) = self.input(&docs)? else {
            return Err(Error::invalid("attack", "word batch expected"));
        };
        let d = self.dim();
        if grads.len() != batch.batch * batch.len * d {
            return Err(Error::invalid("attack", "gradients do not match the word batch"));
        }
        let grad = |k: usize, pos: usize| &grads[(k * batch.len + pos) * d..(k * batch.len + pos + 1) * d];
        let cands: Vec<Vec<Arc<Vec<usize>>>> = entries
            .par_iter()
            .map(|entry| if entry.active { self.candidates(entry.doc) } else { Vec::new() })
            .collect();
        // Positions with many candidates get every word's score at once
        // (`FlipTable`); the few others are scored one candidate at a time.
        // Both sum in the same order, so which way a position goes never
        // changes a score.
        let v = self.table.shape()[0];
        let dense: Vec<(usize, usize)> = cands
            .iter()
            .enumerate()
            .flat_map(|(k, c)| c.iter().enumerate().map(move |(pos, js)| (k, pos, js.len())))
            .filter(|&(_, _, n)| n > 0 && n * DENSE_SHARE >= v && self.flips.is_some())
            .map(|(k, pos, _)| (k, pos))
            .collect();
        let dense_scores = match &self.flips {
            Some(t) if !dense.is_empty() => {
                let buf = self.scratch.try_lock().map(|mut b| std::mem::take(&mut *b)).unwrap_or_default();
                Some(t.scores(&dense.iter().map(|&(k, pos)| grad(k, pos)).collect::<Vec<_>>(), buf))
            }
            _ => None,
        };
        let row_of: HashMap<(usize, usize), usize> = dense.iter().enumerate().map(|(r, &kp)| (kp, r)).collect();
        let e_tab = self.table.data();
        // Each entry's best `keep` children suffice: its children are
        // distinct documents, so `keep` of them ranked above any other of
        // its children fill the group's `keep` places before that one is
        // reached, whatever the duplicates between entries.
        let per_entry: Vec<Vec<Scored<WordEdit>>> = (0..entries.len())
            .into_par_iter()
            .map(|k| {
                let entry = &entries[k];
                let mut best = TopK::new(keep);
                for (pos, js) in cands[k].iter().enumerate() {
                    if js.is_empty() {
                        continue;
                    }
                    let cur = entry.doc.ids[pos];
                    let mut offer = |to: usize, gain: f32| {
                        // (Never a candidate; `apply` would refuse it.)
                        if to == cur {
                            return;
                        }
                        best.offer(Scored { entry: k, edit: WordEdit { pos, to }, gain, total: entry.score + gain });
                    };
                    match (row_of.get(&(k, pos)), &dense_scores) {
                        (Some(&r), Some(sc)) => {
                            let base = sc.get(r, cur);
                            js.iter().for_each(|&to| offer(to, sc.get(r, to) - base));
                        }
                        _ => {
                            let scores = PositionScores::new(grad(k, pos), e_tab, cur);
                            js.iter().for_each(|&to| offer(to, scores.gain(to)));
                        }
                    }
                }
                best.into_vec()
            })
            .collect();
        if let (Some(sc), Ok(mut b)) = (dense_scores, self.scratch.try_lock()) {
            *b = sc.into_buffer();
        }
        Ok(best_distinct_per_group(self, entries, per_entry, groups, keep))
    }

    fn change(&self, before: &WordDoc, e: &WordEdit) -> Change {
        let from = before.words.get(e.pos).cloned().unwrap_or_default();
        let to = match self.mode {
            WordMode::Unk => self.legible_unknown(&from),
            WordMode::Flip => self.vocab.token(e.to).unwrap_or_default().to_string(),
        };
        Change {
            op: self.level().into(),
            word: e.pos,
            pos: 0,
            from: from.clone(),
            to: to.clone(),
            word_before: from,
            word_after: to,
            predicted: None,
            actual: None,
        }
    }

    fn chars_changed(&self, changes: &[Change]) -> usize {
        changes.iter().map(|c| c.to.chars().count()).sum()
    }

    fn render(&self, text: &str, orig: &WordDoc, path: &[WordEdit]) -> String {
        let mut shown: Vec<String> = text.split_whitespace().map(String::from).collect();
        let mut doc = orig.clone();
        for e in path {
            let c = self.change(&doc, e);
            if let (Some(w), Some(next)) = (shown.get_mut(e.pos), self.apply(&doc, e)) {
                *w = c.to;
                doc = next;
            }
        }
        shown.join(" ")
    }
}

/// The word attack.
pub type WordAttacker<'a> = crate::attack::search::Attacker<'a, WordSpace<'a>>;
