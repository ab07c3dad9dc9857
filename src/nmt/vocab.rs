//! The translation model's vocabularies and `vocab.json` (MODELS.md
//! `char_nmt`): source characters, the source training words (the attack's
//! "outside the training vocabulary" test) and target words.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::bleu::tokenize_13a;
use crate::data::{Vocab, VocabKind};
use crate::error::{Error, Result};
use crate::models::char_nmt::{EOS, N_SPECIAL, UNK};

/// The three vocabularies of a `char_nmt` model, as `vocab.json` stores
/// them. Target ids 0–3 are the specials (PAD, UNK, `<s>`, `</s>`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NmtVocab {
    /// Source characters (ids 0 PAD, 1 UNK, then `chars.tokens()`).
    pub chars: Vocab,
    /// Source training words.
    pub words: Vocab,
    /// Target words; `tgt[i]` has id `i + 4`.
    pub tgt: Vec<String>,
    tgt_index: HashMap<String, usize>,
}

#[derive(Serialize, Deserialize)]
struct VocabJson {
    kind: String,
    tokens: Vec<String>,
    word_vocab: Vec<String>,
    tgt_tokens: Vec<String>,
}

/// Sentences as the model sees them: sacreBLEU's 13a tokens.
pub fn words(sentence: &str) -> Vec<String> {
    tokenize_13a(sentence)
}

impl NmtVocab {
    /// Checks the kinds (`chars` then `words`) and that target tokens are
    /// non-empty and distinct.
    pub fn new(chars: Vocab, words: Vocab, tgt: Vec<String>) -> Result<Self> {
        if chars.kind() != VocabKind::Chars || words.kind() != VocabKind::Words {
            return Err(Error::invalid("NmtVocab", "needs a chars and a words vocabulary"));
        }
        let mut tgt_index = HashMap::with_capacity(tgt.len());
        for (i, t) in tgt.iter().enumerate() {
            if t.is_empty() || tgt_index.insert(t.clone(), i + N_SPECIAL).is_some() {
                return Err(Error::invalid("NmtVocab", format!("target token {i} `{t}` is empty or repeated")));
            }
        }
        Ok(NmtVocab { chars, words, tgt, tgt_index })
    }

    /// Vocabularies of training pairs: characters seen at least
    /// `min_char_count` times, all source words, target words seen at least
    /// `min_tgt_count` times (at most `max_tgt` of them).
    pub fn build<'a>(
        pairs: impl Iterator<Item = (&'a str, &'a str)> + Clone,
        min_char_count: usize,
        min_tgt_count: usize,
        max_tgt: Option<usize>,
    ) -> Result<Self> {
        let src_words: Vec<String> = pairs.clone().flat_map(|(s, _)| words(s)).collect();
        let chars = Vocab::build_chars(&src_words, min_char_count, None);
        let words_v = Vocab::build_words(&src_words, 1, None);
        let tgt = Vocab::build_words(pairs.flat_map(|(_, t)| words(t)), min_tgt_count, max_tgt);
        NmtVocab::new(chars, words_v, tgt.tokens().to_vec())
    }

    /// Target vocabulary size including the four specials.
    pub fn n_tgt(&self) -> usize {
        self.tgt.len() + N_SPECIAL
    }

    /// Id of a target word, UNK if it is not in the vocabulary.
    pub fn tgt_id(&self, word: &str) -> usize {
        self.tgt_index.get(word).copied().unwrap_or(UNK)
    }

    /// Target ids of a sentence (no specials added).
    pub fn encode_tgt(&self, sentence: &str) -> Vec<usize> {
        words(sentence).iter().map(|w| self.tgt_id(w)).collect()
    }

    /// Target words of ids up to the first `</s>`; UNK prints as `<unk>`.
    pub fn decode_tgt(&self, ids: &[usize]) -> String {
        let words: Vec<&str> = ids
            .iter()
            .take_while(|&&i| i != EOS)
            .map(|&i| if i >= N_SPECIAL { self.tgt.get(i - N_SPECIAL).map_or("<unk>", |s| s) } else { "<unk>" })
            .collect();
        words.join(" ")
    }

    /// Char ids of each source word.
    pub fn encode_src_words(&self, words: &[String]) -> Vec<Vec<usize>> {
        words.iter().map(|w| w.chars().map(|c| self.chars.char_id(c)).collect()).collect()
    }

    /// `vocab.json`'s text (`kind`, `tokens`, `word_vocab`, `tgt_tokens`).
    pub fn to_json(&self) -> String {
        let file = VocabJson {
            kind: "chars".into(),
            tokens: self.chars.tokens().to_vec(),
            word_vocab: self.words.tokens().to_vec(),
            tgt_tokens: self.tgt.clone(),
        };
        serde_json::to_string_pretty(&file).unwrap_or_default()
    }

    /// Reads and checks a `vocab.json`; errors name the file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
        let bad = |msg: String| Error::BadFile { path: path.to_path_buf(), msg };
        let f: VocabJson = serde_json::from_str(&text).map_err(|e| bad(format!("not a char_nmt vocab.json: {e}")))?;
        if f.kind != "chars" {
            return Err(bad(format!("kind `{}`: a char_nmt vocabulary has kind `chars`", f.kind)));
        }
        let chars = Vocab::from_tokens(VocabKind::Chars, f.tokens).map_err(|e| bad(e.to_string()))?;
        let words = Vocab::from_tokens(VocabKind::Words, f.word_vocab).map_err(|e| bad(e.to_string()))?;
        NmtVocab::new(chars, words, f.tgt_tokens).map_err(|e| bad(e.to_string()))
    }
}
