//! Lexemes by stem: HotFlip's word flips must not turn a word into another
//! form of itself ("film" → "films" is not an adversarial change).
//!
//! The stemmer is Snowball's English algorithm (Porter2, `rust-stemmers`):
//! the successor of the Porter stemmer, with fewer of its known errors. A
//! stemmer strips suffixes; it does not know irregular forms ("ran"/"run",
//! "better"/"good" keep different stems), which is what "same stem" in the
//! paper means. It also over-stems now and then ("university"/"universe"),
//! which only makes the attack skip a flip it could have tried.

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
