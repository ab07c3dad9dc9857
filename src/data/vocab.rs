//! Token and label vocabularies (MODELS.md: 0 = PAD, 1 = UNK, `tokens[i]`
//! has id `i + 2`).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::tokenize::Tokenizer;
use crate::error::{Error, Result};

/// What a vocabulary's tokens are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VocabKind {
    /// Single characters (Unicode scalar values).
    Chars,
    /// Whitespace-free words.
    Words,
}

impl VocabKind {
    /// The name `vocab.json` uses.
    pub fn as_str(self) -> &'static str {
        match self {
            VocabKind::Chars => "chars",
            VocabKind::Words => "words",
        }
    }
}

/// A token to id map with PAD and UNK reserved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vocab {
    kind: VocabKind,
    tokens: Vec<String>,
    index: HashMap<String, usize>,
}

impl Vocab {
    /// Padding id; row 0 of an embedding.
    pub const PAD: usize = 0;
    /// Id of every token not in the vocabulary.
    pub const UNK: usize = 1;
    /// Ids before the first token.
    pub const RESERVED: usize = 2;
    /// How [`Vocab::decode`] shows PAD.
    pub const PAD_STR: &'static str = "<pad>";
    /// How [`Vocab::decode`] shows UNK.
    pub const UNK_STR: &'static str = "<unk>";

    /// A vocabulary with exactly these tokens (`tokens[i]` gets id `i + 2`).
    /// Fails on a duplicate, an empty token, or for `Chars` a token that is
    /// not one character.
    pub fn from_tokens(kind: VocabKind, tokens: Vec<String>) -> Result<Self> {
        let mut index = HashMap::with_capacity(tokens.len());
        for (i, t) in tokens.iter().enumerate() {
            if t.is_empty() {
                return Err(Error::invalid("Vocab", format!("token {i} is empty")));
            }
            if kind == VocabKind::Chars && t.chars().nth(1).is_some() {
                return Err(Error::invalid(
                    "Vocab",
                    format!("token {i} `{t}` of a chars vocabulary is not one character"),
                ));
            }
            if let Some(first) = index.insert(t.clone(), i + Self::RESERVED) {
                return Err(Error::invalid(
                    "Vocab",
                    format!("duplicate token `{t}` (positions {} and {i})", first - Self::RESERVED),
                ));
            }
        }
        Ok(Vocab { kind, tokens, index })
    }

    /// Word vocabulary of pre-split words (e.g. FCE tokens). Keeps words
    /// seen at least `min_count` times, at most `max_size` of them (PAD and
    /// UNK not counted), most frequent first, ties by string order.
    pub fn build_words<I, S>(words: I, min_count: usize, max_size: Option<usize>) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut counts: HashMap<String, usize> = HashMap::new();
        for w in words {
            let w = w.as_ref();
            if !w.is_empty() {
                bump(&mut counts, w);
            }
        }
        Self::from_counts(VocabKind::Words, counts, min_count, max_size)
    }

    /// Character vocabulary of the characters of `words`, with the same
    /// `min_count` / `max_size` / order rules as [`Vocab::build_words`].
    pub fn build_chars<I, S>(words: I, min_count: usize, max_size: Option<usize>) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut counts: HashMap<char, usize> = HashMap::new();
        for w in words {
            for c in w.as_ref().chars() {
                *counts.entry(c).or_insert(0) += 1;
            }
        }
        let counts = counts.into_iter().map(|(c, n)| (c.to_string(), n)).collect();
        Self::from_counts(VocabKind::Chars, counts, min_count, max_size)
    }

    /// Word vocabulary of training texts, tokenised by `tokenizer`.
    pub fn words_from_texts<'a>(
        texts: impl IntoIterator<Item = &'a str>,
        tokenizer: &Tokenizer,
        min_count: usize,
        max_size: Option<usize>,
    ) -> Self {
        let words = texts.into_iter().flat_map(|t| t.split_whitespace().map(|w| tokenizer.normalize(w)));
        Self::build_words(words, min_count, max_size)
    }

    /// Character vocabulary of training texts, tokenised by `tokenizer`.
    pub fn chars_from_texts<'a>(
        texts: impl IntoIterator<Item = &'a str>,
        tokenizer: &Tokenizer,
        min_count: usize,
        max_size: Option<usize>,
    ) -> Self {
        let words = texts.into_iter().flat_map(|t| t.split_whitespace().map(|w| tokenizer.normalize(w)));
        Self::build_chars(words, min_count, max_size)
    }

    fn from_counts(kind: VocabKind, counts: HashMap<String, usize>, min_count: usize, max_size: Option<usize>) -> Self {
        let mut kept: Vec<(String, usize)> = counts.into_iter().filter(|&(_, n)| n >= min_count).collect();
        kept.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        kept.truncate(max_size.unwrap_or(usize::MAX));
        let tokens: Vec<String> = kept.into_iter().map(|(t, _)| t).collect();
        let index = tokens.iter().enumerate().map(|(i, t)| (t.clone(), i + Self::RESERVED)).collect();
        Vocab { kind, tokens, index }
    }

    /// Characters or words.
    pub fn kind(&self) -> VocabKind {
        self.kind
    }

    /// The tokens in id order (id = position + 2).
    pub fn tokens(&self) -> &[String] {
        &self.tokens
    }

    /// Number of ids, PAD and UNK included: an embedding's row count.
    pub fn len(&self) -> usize {
        self.tokens.len() + Self::RESERVED
    }

    /// True when no token besides PAD and UNK is known.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The token's id, if known.
    pub fn get(&self, token: &str) -> Option<usize> {
        self.index.get(token).copied()
    }

    /// The token's id, or UNK.
    pub fn id(&self, token: &str) -> usize {
        self.get(token).unwrap_or(Self::UNK)
    }

    /// A character's id, or UNK (no allocation).
    pub fn char_id(&self, c: char) -> usize {
        self.id(c.encode_utf8(&mut [0u8; 4]))
    }

    /// Whether `token` is in the vocabulary: the char-level attack's test
    /// of whether an edited word is a real word.
    pub fn contains(&self, token: &str) -> bool {
        self.index.contains_key(token)
    }

    /// The token with this id; `None` for PAD, UNK and ids out of range.
    pub fn token(&self, id: usize) -> Option<&str> {
        id.checked_sub(Self::RESERVED).and_then(|i| self.tokens.get(i)).map(String::as_str)
    }

    /// Ids of tokens, UNK for unknown ones.
    pub fn encode<S: AsRef<str>>(&self, tokens: &[S]) -> Vec<usize> {
        tokens.iter().map(|t| self.id(t.as_ref())).collect()
    }

    /// Tokens of ids, with `<pad>` and `<unk>` for PAD and for UNK or an
    /// id out of range.
    pub fn decode(&self, ids: &[usize]) -> Vec<&str> {
        ids.iter()
            .map(|&id| match id {
                Self::PAD => Self::PAD_STR,
                _ => self.token(id).unwrap_or(Self::UNK_STR),
            })
            .collect()
    }

    /// The word spelled by char ids: PAD ends it, UNK (or an unknown id)
    /// shows as U+FFFD.
    pub fn decode_chars(&self, ids: &[usize]) -> String {
        ids.iter().take_while(|&&id| id != Self::PAD).map(|&id| self.token(id).unwrap_or("\u{FFFD}")).collect()
    }
}

fn bump(counts: &mut HashMap<String, usize>, token: &str) {
    match counts.get_mut(token) {
        Some(n) => *n += 1,
        None => {
            counts.insert(token.to_string(), 1);
        }
    }
}

/// Class (or tag) names and their ids, in the order `config.json`'s
/// `labels` lists them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelVocab {
    names: Vec<String>,
    index: HashMap<String, usize>,
}

impl LabelVocab {
    /// Labels with ids 0..n in the order given; fails on a duplicate.
    pub fn new(names: Vec<String>) -> Result<Self> {
        let mut index = HashMap::with_capacity(names.len());
        for (i, n) in names.iter().enumerate() {
            if index.insert(n.clone(), i).is_some() {
                return Err(Error::invalid("LabelVocab", format!("duplicate label `{n}`")));
            }
        }
        Ok(LabelVocab { names, index })
    }

    /// The names, index = label id.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// True when there are no labels.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The id of label `name`, if known.
    pub fn id(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// The name of label `id`, if in range.
    pub fn name(&self, id: usize) -> Option<&str> {
        self.names.get(id).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_models_md_and_counts_order_tokens() {
        let v = Vocab::build_words("b a c a b a d".split(' '), 1, None);
        assert_eq!(v.tokens(), ["a", "b", "c", "d"]);
        assert_eq!((v.id("a"), v.id("b"), v.id("d"), v.id("zzz")), (2, 3, 5, Vocab::UNK));
        assert_eq!(v.len(), 6);
        assert_eq!(v.decode(&[0, 1, 2, 5, 99]), ["<pad>", "<unk>", "a", "d", "<unk>"]);
        assert_eq!(v.token(Vocab::PAD), None);
        assert_eq!(v.encode(&["d", "q"]), [5, 1]);
    }

    #[test]
    fn min_count_and_max_size_cut_the_rare_tokens() {
        let words = "x x x y y z w w".split(' ');
        assert_eq!(Vocab::build_words(words.clone(), 2, None).tokens(), ["x", "w", "y"]);
        assert_eq!(Vocab::build_words(words.clone(), 1, Some(2)).tokens(), ["x", "w"]);
        assert_eq!(Vocab::build_words(words, 3, Some(10)).tokens(), ["x"]);
    }

    #[test]
    fn char_vocab_counts_scalar_values() {
        let t = Tokenizer::new(true);
        let v = Vocab::chars_from_texts(["Aé b", "ab"], &t, 1, None);
        assert_eq!(v.tokens(), ["a", "b", "é"]);
        assert_eq!(v.char_id('é'), 4);
        assert_eq!(v.char_id('Z'), Vocab::UNK);
        assert_eq!(v.decode_chars(&[2, 4, 1, 0, 3]), "aé\u{FFFD}");
    }

    #[test]
    fn from_tokens_rejects_duplicates_and_multi_char_chars() {
        assert!(Vocab::from_tokens(VocabKind::Words, vec!["a".into(), "b".into(), "a".into()])
            .unwrap_err()
            .to_string()
            .contains("duplicate token `a`"));
        assert!(Vocab::from_tokens(VocabKind::Chars, vec!["ab".into()]).is_err());
        assert!(Vocab::from_tokens(VocabKind::Words, vec![String::new()]).is_err());
        let labels = LabelVocab::new(vec!["c".into(), "i".into()]).unwrap();
        assert_eq!((labels.id("i"), labels.name(0)), (Some(1), Some("c")));
        assert!(LabelVocab::new(vec!["c".into(), "c".into()]).is_err());
    }
}
