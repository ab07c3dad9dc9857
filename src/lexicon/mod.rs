//! Linguistic resources for HotFlip's word-level attack (Ebrahimi et al.
//! 2018, §5; ATTACKS.md "HotFlip, word level"): a word w_i may be flipped to
//! w_j only if both have the same part of speech ([`pos`]), neither is a
//! stop-word ([`stopwords`]) and they are not the same lexeme ([`stem`](mod@stem)).
//! [`resources`] finds the files these read under the shared data root;
//! [`flip::FlipFilter`] puts the three conditions together for the attack.
//!
//! Everything here is independent of the autodiff engine: plain strings in,
//! plain answers out.

pub mod flip;
mod lines;
pub mod pos;
pub mod resources;
pub mod stem;
pub mod stopwords;

pub use flip::{FlipFilter, FlipVeto};
pub use pos::{PerceptronTagger, PosTagger, TaggedSentence, Upos};
pub use stem::{same_lexeme, stem, StemIndex};
pub use stopwords::{is_stop_word, StopWords};
