//! HotFlip attacks (Ebrahimi et al. 2018; ../shared/spec/ATTACKS.md):
//! first-order scores of character and word edits from one-hot input
//! gradients, beam search over them, the paper's baselines, and the results
//! files.
//!
//! `search::Attacker` runs the beam search for any `space::Space`;
//! `CharSpace` (flips, insertions, deletions of characters) and `WordSpace`
//! (word flips under semantic constraints, or UNK) are the two spaces.

pub mod char_doc;
pub mod char_score;
pub mod char_space;
pub mod oracle;
pub mod report;
pub mod result;
pub mod results_file;
pub mod search;
pub mod space;
pub mod translation;
pub mod word_space;

pub use char_space::{CharAttacker, CharSpace};
pub use result::{Change, ExampleResult, RunInfo, Summary, TAUS};
pub use search::{Attacker, CharOps, Method, Settings, Task};
pub use space::{ScoreEntry, Scored, Space};
pub use word_space::{WordAttacker, WordConstraints, WordDoc, WordEdit, WordMode, WordSpace};
