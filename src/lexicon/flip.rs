//! Conditions (2)–(4) of HotFlip's word flip in one place, so the attack
//! asks one question per candidate. Condition (1), cosine similarity of the
//! model's embeddings above 0.8, needs the model and stays with the attack.

use super::pos::{PosTagger, Upos};
use super::stem::same_lexeme;
use super::stopwords::StopWords;

/// Which linguistic condition rules a flip out (the first that does, in
/// this order: the cheap checks before the tagger).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlipVeto {
    /// The word to replace is a stop-word.
    SourceStopWord,
    /// The replacement is a stop-word.
    TargetStopWord,
    /// Both are forms of one lexeme (same stem).
    SameLexeme,
    /// The replacement, put in the sentence, gets another POS tag than the
    /// word it replaces.
    PosChanged {
        /// The tag of the word replaced.
        from: Upos,
        /// The tag of the replacement.
        to: Upos,
    },
}

/// Checks word flips against the stop-word list, the stemmer and a tagger.
pub struct FlipFilter<'a, T: PosTagger + ?Sized> {
    tagger: &'a T,
    stopwords: &'a StopWords,
}

impl<'a, T: PosTagger + ?Sized> FlipFilter<'a, T> {
    /// A filter that tags with `tagger` and refuses `stopwords`.
    pub fn new(tagger: &'a T, stopwords: &'a StopWords) -> Self {
        FlipFilter { tagger, stopwords }
    }

    /// The sentence's tags, to compute once and pass to [`Self::check`] for
    /// every candidate flip in it.
    pub fn tags(&self, tokens: &[&str]) -> Vec<Upos> {
        self.tagger.tag(tokens)
    }

    /// `Ok(())` if replacing `tokens[i]` with `candidate` passes conditions
    /// (2)–(4); else the first condition it fails. The part of speech is
    /// compared in context: the candidate's tag is the one the tagger gives
    /// it in the sentence with the flip made (a word's tag depends on its
    /// neighbours; "run" is a NOUN or a VERB), against `tags[i]`.
    ///
    /// Panics if `i` is out of range or `tags` is not `tokens`' length.
    pub fn check(&self, tokens: &[&str], tags: &[Upos], i: usize, candidate: &str) -> Result<(), FlipVeto> {
        assert_eq!(tokens.len(), tags.len(), "one tag per token");
        let source = tokens[i];
        if self.stopwords.contains(source) {
            return Err(FlipVeto::SourceStopWord);
        }
        if self.stopwords.contains(candidate) {
            return Err(FlipVeto::TargetStopWord);
        }
        if same_lexeme(source, candidate) {
            return Err(FlipVeto::SameLexeme);
        }
        let mut flipped = tokens.to_vec();
        flipped[i] = candidate;
        let to = self.tagger.tag(&flipped)[i];
        if to != tags[i] {
            return Err(FlipVeto::PosChanged { from: tags[i], to });
        }
        Ok(())
    }

    /// [`Self::check`] as a yes/no.
    pub fn allows(&self, tokens: &[&str], tags: &[Upos], i: usize, candidate: &str) -> bool {
        self.check(tokens, tags, i, candidate).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A lexicon tagger: "-ly" words ADV, a few adjectives, the rest NOUN,
    /// except that a word after "to" is a VERB (so context matters).
    struct Toy;

    impl PosTagger for Toy {
        fn tag(&self, tokens: &[&str]) -> Vec<Upos> {
            tokens
                .iter()
                .enumerate()
                .map(|(i, w)| match *w {
                    _ if i > 0 && tokens[i - 1] == "to" => Upos::Verb,
                    "the" | "a" => Upos::Det,
                    "to" => Upos::Part,
                    "good" | "great" | "bad" => Upos::Adj,
                    w if w.ends_with("ly") => Upos::Adv,
                    _ => Upos::Noun,
                })
                .collect()
        }
    }

    #[test]
    fn each_condition_vetoes_and_a_clean_flip_passes() {
        let stop = StopWords::english();
        let f = FlipFilter::new(&Toy, &stop);
        let tokens = ["the", "good", "film", "is", "slowly", "fun"];
        let tags = f.tags(&tokens);
        assert_eq!(f.check(&tokens, &tags, 1, "great"), Ok(()));
        assert!(f.allows(&tokens, &tags, 2, "movie"));
        assert_eq!(f.check(&tokens, &tags, 0, "one"), Err(FlipVeto::SourceStopWord));
        assert_eq!(f.check(&tokens, &tags, 2, "The"), Err(FlipVeto::TargetStopWord));
        assert_eq!(f.check(&tokens, &tags, 2, "films"), Err(FlipVeto::SameLexeme));
        assert_eq!(f.check(&tokens, &tags, 1, "badly"), Err(FlipVeto::PosChanged { from: Upos::Adj, to: Upos::Adv }));
    }

    #[test]
    fn the_candidate_is_tagged_in_context() {
        let stop = StopWords::from_words(["the"]);
        let f = FlipFilter::new(&Toy, &stop);
        // "want" after "to" is a VERB, and so is any replacement there.
        let tokens = ["to", "want", "movies"];
        let tags = f.tags(&tokens);
        assert_eq!(tags[1], Upos::Verb);
        assert!(f.allows(&tokens, &tags, 1, "quickly"));
        // Out of that context "quickly" is an ADV, not a NOUN.
        assert!(!f.allows(&tokens, &tags, 2, "quickly"));
    }
}
