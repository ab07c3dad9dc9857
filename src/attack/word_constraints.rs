//! The constraints of a word flip (HotFlip §5, ATTACKS.md): cosine
//! similarity of the embeddings, the same part of speech in context, no
//! stop-words, not the same lexeme. Each can be switched off.
//!
//! ```
//! use hotflip::attack::WordConstraints;
//!
//! let c = WordConstraints::none().cosine(0.8).stopwords(true).distinct_lexemes(true);
//! assert_eq!(c.describe()[0], ("cosine".to_string(), "> 0.8".to_string()));
//! ```

use crate::lexicon::pos::PosTagger;
use crate::lexicon::stopwords::StopWords;

/// The constraints of a word flip; each can be switched off (`None`/false).
pub struct WordConstraints {
    /// Cosine similarity of the two words' embeddings must exceed this (0.8).
    pub cosine: Option<f32>,
    /// Same part of speech in context, by this tagger.
    pub pos: Option<Box<dyn PosTagger + Send + Sync>>,
    /// Neither word may be a stop-word.
    pub stopwords: Option<StopWords>,
    /// The words must not share a stem.
    pub distinct_lexemes: bool,
}

impl WordConstraints {
    /// All four, as ATTACKS.md asks (the tagger is the caller's to supply).
    pub fn paper(tagger: Option<Box<dyn PosTagger + Send + Sync>>) -> Self {
        WordConstraints {
            cosine: Some(0.8),
            pos: tagger,
            stopwords: Some(StopWords::english()),
            distinct_lexemes: true,
        }
    }

    /// One line per constraint, for summaries.
    pub fn describe(&self) -> Vec<(String, String)> {
        vec![
            ("cosine".into(), self.cosine.map_or("off".into(), |c| format!("> {c}"))),
            ("same_pos".into(), if self.pos.is_some() { "on".into() } else { "off".into() }),
            ("no_stopwords".into(), if self.stopwords.is_some() { "on".into() } else { "off".into() }),
            ("distinct_lexemes".into(), if self.distinct_lexemes { "on".into() } else { "off".into() }),
        ]
    }
}

impl WordConstraints {
    /// No constraint at all (the UNK attack's default).
    pub fn none() -> Self {
        WordConstraints { cosine: None, pos: None, stopwords: None, distinct_lexemes: false }
    }

    /// Requires a cosine similarity of the embeddings above `threshold`.
    pub fn cosine(mut self, threshold: f32) -> Self {
        self.cosine = Some(threshold);
        self
    }

    /// Requires the same part of speech in context, by `tagger`.
    pub fn pos(mut self, tagger: Box<dyn PosTagger + Send + Sync>) -> Self {
        self.pos = Some(tagger);
        self
    }

    /// Forbids English stop-words (on) or allows them (off).
    pub fn stopwords(mut self, on: bool) -> Self {
        self.stopwords = on.then(StopWords::english);
        self
    }

    /// Forbids flipping a word into its own inflection (same stem).
    pub fn distinct_lexemes(mut self, on: bool) -> Self {
        self.distinct_lexemes = on;
        self
    }
}
