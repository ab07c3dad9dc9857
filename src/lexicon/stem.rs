//! Lexemes by stem: HotFlip's word flips must not turn a word into another
//! form of itself ("film" → "films" is not an adversarial change).
//!
//! The stemmer is Snowball's English algorithm (Porter2, `rust-stemmers`):
//! the successor of the Porter stemmer, with fewer of its known errors. A
//! stemmer strips suffixes; it does not know irregular forms ("ran"/"run",
//! "better"/"good" keep different stems), which is what "same stem" in the
//! paper means. It also over-stems now and then ("university"/"universe"),
//! which only makes the attack skip a flip it could have tried.

use std::collections::HashMap;

use rust_stemmers::{Algorithm, Stemmer};

/// The Snowball English stem of `word`, lowercased first (the algorithm is
/// defined on lowercase text).
pub fn stem(word: &str) -> String {
    let lower = word.to_lowercase();
    Stemmer::create(Algorithm::English).stem(&lower).into_owned()
}

/// Whether `a` and `b` are forms of one lexeme: equal after lowercasing, or
/// with the same stem.
pub fn same_lexeme(a: &str, b: &str) -> bool {
    let (a, b) = (a.to_lowercase(), b.to_lowercase());
    if a == b {
        return true;
    }
    let stemmer = Stemmer::create(Algorithm::English);
    stemmer.stem(&a) == stemmer.stem(&b)
}

/// The stems of a fixed word list (a model's vocabulary), each computed
/// once and interned: whether two listed words are one lexeme is then an
/// integer comparison. `same(a, b)` equals `same_lexeme(words[a], words[b])`
/// (equal lowercased words have equal stems).
#[derive(Clone, Debug)]
pub struct StemIndex {
    ids: Vec<u32>,
}

impl StemIndex {
    /// Stems `words` (the vocabulary, in id order) with the English Snowball stemmer.
    pub fn new<'a>(words: impl IntoIterator<Item = &'a str>) -> Self {
        let stemmer = Stemmer::create(Algorithm::English);
        let mut interned: HashMap<String, u32> = HashMap::new();
        let ids = words
            .into_iter()
            .map(|w| {
                let s = stemmer.stem(&w.to_lowercase()).into_owned();
                let next = interned.len() as u32;
                *interned.entry(s).or_insert(next)
            })
            .collect();
        StemIndex { ids }
    }

    /// Words listed.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether no word was indexed.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Whether listed words `a` and `b` share a stem (false if either is
    /// not listed).
    pub fn same(&self, a: usize, b: usize) -> bool {
        matches!((self.ids.get(a), self.ids.get(b)), (Some(x), Some(y)) if x == y)
    }
}
