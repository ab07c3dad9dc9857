//! The character edit space of `char_cnn_lstm` (HotFlip §3): flips,
//! insertions and deletions, one changed character per word, changed words
//! outside the training vocabulary, never PAD, UNK or whitespace.

use crate::attack::char_doc::{edit_display_word, CharDoc, CharEdit, CharOp};
use crate::attack::result::Change;
use crate::attack::score::chars::{all_edits, top_children, transpose_table, EntryRef, ScoreTensors};
use crate::attack::score::cuda::CudaScorer;
use crate::attack::settings::{CharOps, Settings};
use crate::attack::space::{ScoreEntry, Scored, Space};
use crate::backend::{CudaDevice, Storage};
use crate::cuda::Gpu;
use crate::data::{ModelVocab, Tokenizer, Vocab};
use crate::error::{Error, Result};
use crate::models::device::DeviceClassifier;
use crate::models::{CharBatch, Input, Model, ModelConfig};
use crate::nn::ParamStore;
use crate::tensor::Tensor;

/// The edit space of a character model: which characters may be flipped,
/// inserted or deleted in which words, scored from the gradient with respect
/// to the one-hot character inputs (on the GPU after [`CharSpace::with_gpu`]).
/// Build one per model with [`CharSpace::new`] and hand it to a
/// [`BeamSearch`](crate::attack::BeamSearch).
pub struct CharSpace<'a> {
    vocab: &'a Vocab,
    word_vocab: Option<&'a Vocab>,
    tok: Tokenizer,
    positions: usize,
    max_words: usize,
    /// The character embedding table `[V, D]`, and transposed `[D, V]`.
    table: Tensor,
    table_t: Vec<f32>,
    allowed: Vec<bool>,
    chars: Vec<char>,
    allowed_chars: Vec<char>,
    one_change_per_word: bool,
    forbid_training_words: bool,
    ops: CharOps,
    /// With a GPU: the fused scoring + top-b pruning kernels
    /// (kernels/hotflip_score.cu), table uploaded once per attack.
    cuda: Option<std::sync::Mutex<CudaScorer<std::sync::Arc<Gpu>>>>,
}

impl<'a> CharSpace<'a> {
    /// The space for a `char_cnn_lstm` classifier, with the alphabet from
    /// `vocab` and the word and character limits from the model's config;
    /// `lowercase` must match how the model was trained. An error for any
    /// other architecture.
    pub fn new(
        model: &Model,
        store: &ParamStore,
        vocab: &'a ModelVocab,
        lowercase: bool,
        settings: &Settings,
    ) -> Result<Self> {
        let ModelConfig::CharCnnLstm(cfg) = model.config() else {
            return Err(Error::invalid("attack", "the character attack needs a char_cnn_lstm model"));
        };
        let table = store.get(model.embedding_param()).clone();
        let words = vocab.word_vocab.as_ref();
        Self::from_parts(table, &vocab.vocab, words, lowercase, (cfg.max_word_len, cfg.max_words), settings)
    }

    /// The space for any character model: its character embedding table,
    /// character and training-word vocabularies, and `(max_word_len,
    /// max_words)` (`char_nmt`'s translation adversary uses this).
    pub fn from_parts(
        table: Tensor,
        vocab: &'a Vocab,
        word_vocab: Option<&'a Vocab>,
        lowercase: bool,
        (positions, max_words): (usize, usize),
        settings: &Settings,
    ) -> Result<Self> {
        let v = table.shape()[0];
        let mut chars = vec!['\0'; v];
        let mut allowed = vec![false; v];
        for (id, (c, ok)) in chars.iter_mut().zip(allowed.iter_mut()).enumerate().skip(Vocab::RESERVED) {
            if let Some(ch) = vocab.token(id).and_then(|t| t.chars().next()) {
                *c = ch;
                // Whitespace would split the word; PAD and UNK are not text.
                *ok = !ch.is_whitespace();
            }
        }
        let allowed_chars = (0..v).filter(|&i| allowed[i]).map(|i| chars[i]).collect();
        let d = table.shape()[1];
        Ok(CharSpace {
            table_t: transpose_table(table.data(), v, d),
            vocab,
            word_vocab,
            tok: Tokenizer::new(lowercase),
            positions,
            max_words,
            table,
            allowed,
            chars,
            allowed_chars,
            one_change_per_word: settings.one_change_per_word,
            forbid_training_words: settings.forbid_training_words,
            ops: settings.char_ops,
            cuda: None,
        })
    }

    /// Scores and prunes on `gpu` (or the emulated device) with the fused
    /// kernels: the same children as on the CPU (the kernels round as
    /// `top_children` does).
    pub fn with_gpu(mut self, gpu: std::sync::Arc<Gpu>) -> Self {
        self.cuda = Some(std::sync::Mutex::new(CudaScorer::new(gpu)));
        self
    }

    fn open(&self, doc: &CharDoc) -> Vec<bool> {
        doc.changed.iter().map(|&c| !(c && self.one_change_per_word)).collect()
    }

    /// Whether an edit is an operation not allowed, or breaks the
    /// word-vocabulary constraint.
    fn forbidden(&self, doc: &CharDoc, e: &CharEdit) -> bool {
        let op_allowed = match e.op {
            CharOp::Flip => self.ops.flip,
            CharOp::Insert => self.ops.insert,
            CharOp::Delete => self.ops.delete,
        };
        if !op_allowed {
            return true;
        }
        if !self.forbid_training_words {
            return false;
        }
        let Some(wv) = self.word_vocab else { return false };
        match doc.edited_word(e) {
            Some(w) => wv.contains(&w.iter().collect::<String>()),
            None => true,
        }
    }

    /// The scorer's inputs for `entries` (gradients of `grads_len` values,
    /// not read here: `t.grads` is empty) handed to `score`, and its
    /// candidates as the search's children.
    fn scored(
        &self,
        grads_len: usize,
        entries: &[ScoreEntry<'_, CharDoc>],
        score: impl FnOnce(
            &ScoreTensors<'_>,
            &[EntryRef<'_>],
            &(dyn Fn(&CharDoc, &CharEdit) -> bool + Sync),
        ) -> Result<Vec<Vec<crate::attack::score::chars::Candidate>>>,
    ) -> Result<Vec<Vec<Scored<CharEdit>>>> {
        let docs: Vec<&CharDoc> = entries.iter().map(|e| e.doc).collect();
        let Input::Chars(batch) = self.input(&docs)? else {
            return Err(Error::invalid("attack", "character batch expected"));
        };
        let d = self.table.shape()[1];
        if grads_len != batch.batch * batch.words * self.positions * d {
            return Err(Error::invalid("attack", "gradients do not match the character batch"));
        }
        let opens: Vec<Vec<bool>> =
            entries.iter().map(|e| if e.active { self.open(e.doc) } else { vec![false; e.doc.words.len()] }).collect();
        let refs: Vec<EntryRef<'_>> = entries
            .iter()
            .zip(&opens)
            .map(|(e, open)| EntryRef { doc: e.doc, group: e.group, score: e.score, open })
            .collect();
        let vocab = self.vocab;
        let char_id = move |c: char| vocab.char_id(c);
        let t = ScoreTensors {
            grads: &[],
            ids: &batch.ids,
            words: batch.words,
            positions: self.positions,
            dim: d,
            table_t: &self.table_t,
            allowed: &self.allowed,
            chars: &self.chars,
            char_id: &char_id,
        };
        let forbidden = |doc: &CharDoc, e: &CharEdit| self.forbidden(doc, e);
        let children = score(&t, &refs, &forbidden)?;
        Ok(children
            .into_iter()
            .map(|g| {
                g.into_iter().map(|c| Scored { entry: c.entry, edit: c.edit, gain: c.gain, total: c.total }).collect()
            })
            .collect())
    }
}

impl Space for CharSpace<'_> {
    type Doc = CharDoc;
    type Edit = CharEdit;

    fn level(&self) -> &'static str {
        "char"
    }

    fn parse(&self, text: &str) -> CharDoc {
        CharDoc::new(text, self.tok, self.max_words)
    }

    fn is_empty(&self, doc: &CharDoc) -> bool {
        doc.words.is_empty()
    }

    fn input(&self, docs: &[&CharDoc]) -> Result<Input> {
        let ids: Vec<Vec<Vec<usize>>> = docs.iter().map(|d| d.ids(self.vocab)).collect();
        Ok(Input::Chars(CharBatch::from_docs(&ids, self.positions, self.max_words)?))
    }

    fn len(&self, doc: &CharDoc) -> usize {
        doc.words.len()
    }

    fn units(&self, doc: &CharDoc) -> usize {
        doc.n_chars()
    }

    fn n_chars(&self, doc: &CharDoc) -> usize {
        doc.n_chars()
    }

    fn max_changes(&self, doc: &CharDoc, s: &Settings) -> usize {
        let mut n = s.max_changes.unwrap_or_else(|| ((s.budget * doc.n_chars() as f32).floor() as usize).max(1));
        if self.one_change_per_word {
            n = n.min(doc.words.len());
        }
        n
    }

    fn apply(&self, doc: &CharDoc, edit: &CharEdit) -> Option<CharDoc> {
        doc.apply(edit)
    }

    fn edits(&self, doc: &CharDoc) -> Vec<CharEdit> {
        all_edits(doc, &self.open(doc), self.positions, &self.allowed_chars)
            .into_iter()
            .filter(|e| !self.forbidden(doc, e))
            .collect()
    }

    fn children(
        &self,
        grads: &[f32],
        entries: &[ScoreEntry<'_, CharDoc>],
        groups: usize,
        keep: usize,
    ) -> Result<Vec<Vec<Scored<CharEdit>>>> {
        self.scored(grads.len(), entries, |t, refs, forbidden| {
            let t = ScoreTensors { grads, ..*t };
            match &self.cuda {
                Some(scorer) => {
                    scorer.lock().unwrap_or_else(|p| p.into_inner()).top_children(&t, refs, groups, keep, forbidden)
                }
                None => Ok(top_children(&t, refs, groups, keep, forbidden)),
            }
        })
    }

    fn children_on_device(
        &self,
        grads: &Storage,
        entries: &[ScoreEntry<'_, CharDoc>],
        groups: usize,
        keep: usize,
    ) -> Option<Result<crate::attack::space::Children<CharEdit>>> {
        let (Some(scorer), Storage::Cuda(buf)) = (&self.cuda, grads) else { return None };
        Some(self.scored(buf.len(), entries, |t, refs, forbidden| {
            scorer.lock().unwrap_or_else(|p| p.into_inner()).top_children_of(t, buf, refs, groups, keep, forbidden)
        }))
    }

    fn change(&self, before: &CharDoc, e: &CharEdit) -> Change {
        let word_before: String = before.words.get(e.word).map(|w| w.iter().collect()).unwrap_or_default();
        let word_after: String = before.edited_word(e).map(|w| w.into_iter().collect()).unwrap_or_default();
        Change {
            op: e.op.name().into(),
            word: e.word,
            pos: e.pos,
            from: before.from_char(e).map(String::from).unwrap_or_default(),
            to: if e.op == CharOp::Delete { String::new() } else { e.ch.to_string() },
            word_before,
            word_after,
            predicted: None,
            actual: None,
        }
    }

    fn render(&self, text: &str, orig: &CharDoc, path: &[CharEdit]) -> String {
        // Edited words in place of the originals (keeping their case), every
        // other word — including those past max_words — as written.
        let mut shown: Vec<String> = text.split_whitespace().map(String::from).collect();
        let mut doc = orig.clone();
        for e in path {
            if let (Some(w), Some(next)) = (shown.get_mut(e.word), doc.apply(e)) {
                *w = edit_display_word(w, &doc.words[e.word], e);
                doc = next;
            }
        }
        shown.join(" ")
    }
}

/// The character attack, as most callers want it.
pub type CharAttacker<'a> = crate::attack::search::Attacker<'a, CharSpace<'a>>;

impl<'a> crate::attack::search::Attacker<'a, CharSpace<'a>> {
    /// The character attack on a `char_cnn_lstm` with its vocabulary.
    pub fn chars(
        model: &'a Model,
        store: &'a ParamStore,
        vocab: &'a ModelVocab,
        lowercase: bool,
        settings: Settings,
    ) -> Result<Self> {
        Self::chars_on(model, store, vocab, lowercase, settings, None)
    }

    /// [`Self::chars`], scoring and pruning on `gpu` when given.
    pub fn chars_on(
        model: &'a Model,
        store: &'a ParamStore,
        vocab: &'a ModelVocab,
        lowercase: bool,
        settings: Settings,
        gpu: Option<std::sync::Arc<Gpu>>,
    ) -> Result<Self> {
        let mut space = CharSpace::new(model, store, vocab, lowercase, &settings)?;
        if let Some(gpu) = gpu {
            space = space.with_gpu(gpu);
        }
        Self::new(model, store, space, settings)
    }

    /// `attack --device cuda`: with `gpu`, the model's forward and backward
    /// passes run there too (`models::device`), and the gradients go from
    /// the backward pass to the fused scorer without leaving the device;
    /// only the kept children come back. Without, [`Self::chars`].
    pub fn chars_on_device(
        model: &'a Model,
        store: &'a ParamStore,
        vocab: &'a ModelVocab,
        lowercase: bool,
        settings: Settings,
        gpu: Option<std::sync::Arc<Gpu>>,
    ) -> Result<Self> {
        let attacker = Self::chars_on(model, store, vocab, lowercase, settings, gpu.clone())?;
        Ok(match gpu {
            Some(gpu) => {
                let device = std::sync::Arc::new(CudaDevice::new(gpu));
                attacker.on_device(DeviceClassifier::new(model, store, device)?)
            }
            None => attacker,
        })
    }
}
