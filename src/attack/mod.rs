//! HotFlip attacks (Ebrahimi et al. 2018; ../shared/spec/ATTACKS.md):
//! first-order scores of character and word edits from one-hot input
//! gradients, beam search over them, the paper's baselines, and the results
//! files.
//!
//! `search::Attacker` runs the beam search for any `space::Space`;
//! `CharSpace` (flips, insertions, deletions of characters) and `WordSpace`
//! (word flips under semantic constraints, or UNK) are the two spaces.

mod attacker;
#[allow(missing_docs)] // to document
pub mod char_doc;
#[allow(missing_docs)] // to document
pub mod char_score;
#[allow(missing_docs)] // to document
pub mod char_space;
#[allow(missing_docs)] // to document
pub mod oracle;
#[allow(missing_docs)] // to document
pub mod report;
#[allow(missing_docs)] // to document
pub mod result;
#[allow(missing_docs)] // to document
pub mod results_file;
pub mod run;
#[allow(missing_docs)] // to document
pub mod search;
pub mod settings;
pub mod shard;
#[allow(missing_docs)] // to document
pub mod space;
#[allow(missing_docs)] // to document
pub mod translation;
pub mod word_constraints;
pub mod word_scores;
#[allow(missing_docs)] // to document
pub mod word_space;

pub use attacker::Attacker;
pub use char_space::{CharAttacker, CharSpace};
pub use result::{Change, ExampleResult, RunInfo, Summary, TAUS};
pub use run::{run_resumable, AttackFn, Level, RunOptions, RunOutcome, RunSpec};
pub use search::{Attacker as BeamSearch, Task};
pub use settings::{CharOps, Method, Settings};
pub use shard::{merge, Merged, Shard};
pub use space::{ScoreEntry, Scored, Space};
pub use word_space::{WordAttacker, WordConstraints, WordDoc, WordEdit, WordMode, WordSpace};
