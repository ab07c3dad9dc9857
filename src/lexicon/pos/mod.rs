//! Part-of-speech tagging with the 17 Universal POS tags: the [`PosTagger`]
//! trait the attack calls, a streaming CoNLL-U reader ([`conllu`]) for
//! training data, and an averaged-perceptron tagger ([`PerceptronTagger`])
//! trained from it.

pub mod cache;
pub mod conllu;
mod features;
mod model_file;
mod perceptron;
mod tagger;
mod upos;

pub use tagger::{PerceptronTagger, TrainOptions};
pub use upos::Upos;

/// Anything that assigns one Universal POS tag to each token of a sentence.
pub trait PosTagger {
    /// One tag per token: `tag(tokens).len() == tokens.len()`. Tokens are
    /// taken as given (no further splitting); an empty slice gives an empty
    /// vector.
    fn tag(&self, tokens: &[&str]) -> Vec<Upos>;

    /// `tag(tokens)[i]`, given `tags = tag(others)` for a sentence `others`
    /// that differs from `tokens` at position `i` alone: a tagger whose
    /// decisions look only a few words around lets the tags far before `i`
    /// stand instead of re-tagging the sentence (the word attack asks this
    /// for every candidate replacement of every word).
    fn tag_flipped(&self, tokens: &[&str], i: usize, tags: &[Upos]) -> Upos {
        let _ = tags;
        self.tag(tokens)[i]
    }
}

/// A sentence with one gold tag per token, as a treebank gives it.
///
/// Not to be confused with [`crate::data::TaggedSentence`], whose labels are
/// a data set's class ids (e.g. FCE's error labels).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaggedSentence {
    /// The syntactic words (CoNLL-U FORM of each integer-ID line).
    pub tokens: Vec<String>,
    /// `tags[t]` is the UPOS tag of `tokens[t]`.
    pub tags: Vec<Upos>,
}

impl TaggedSentence {
    /// The tokens as string slices, the form [`PosTagger::tag`] takes.
    pub fn token_strs(&self) -> Vec<&str> {
        self.tokens.iter().map(String::as_str).collect()
    }
}

/// Token-level tagging accuracy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Accuracy {
    /// Tokens tagged as the gold standard tags them.
    pub correct: usize,
    /// Tokens tagged.
    pub total: usize,
}

impl Accuracy {
    /// correct / total, or 0 when there were no tokens.
    pub fn ratio(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.correct as f64 / self.total as f64
        }
    }
}

/// Tags every sentence with `tagger` and counts the tokens whose tag equals
/// the gold tag.
pub fn evaluate<T: PosTagger + ?Sized>(tagger: &T, sentences: &[TaggedSentence]) -> Accuracy {
    let mut acc = Accuracy::default();
    for s in sentences {
        let predicted = tagger.tag(&s.token_strs());
        acc.total += s.tags.len();
        acc.correct += predicted.iter().zip(&s.tags).filter(|(p, g)| p == g).count();
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tags every token NOUN: the floor any real tagger must beat.
    struct AllNouns;

    impl PosTagger for AllNouns {
        fn tag(&self, tokens: &[&str]) -> Vec<Upos> {
            vec![Upos::Noun; tokens.len()]
        }
    }

    #[test]
    fn evaluate_counts_matching_tags() {
        let s = TaggedSentence {
            tokens: vec!["dogs".into(), "bark".into(), ".".into()],
            tags: vec![Upos::Noun, Upos::Verb, Upos::Punct],
        };
        let acc = evaluate(&AllNouns, &[s.clone(), s]);
        assert_eq!(acc, Accuracy { correct: 2, total: 6 });
        assert!((acc.ratio() - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(evaluate(&AllNouns, &[]).ratio(), 0.0);
    }
}
