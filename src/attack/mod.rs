//! HotFlip attacks (Ebrahimi et al. 2018; ../shared/spec/ATTACKS.md):
//! first-order scores of character and word edits from one-hot input
//! gradients, beam search over them, the paper's baselines, and the results
//! files.
//!
//! `beam::Beam` runs the beam search for any `space::Space` against any
//! `beam::Objective` (`search::Attacker`: a classifier; `translation`: an
//! NMT model's reference);
//! `CharSpace` (flips, insertions, deletions of characters) and `WordSpace`
//! (word flips under semantic constraints, or UNK) are the two spaces.

mod attacker;
pub mod beam;
pub mod char_doc;
pub mod char_space;
pub mod oracle;
pub mod report;
pub mod result;
pub mod results_file;
pub mod run;
pub mod score;
pub mod search;
pub mod settings;
pub mod shard;
pub mod side_by_side;
pub mod space;
pub mod translation;
pub mod word_constraints;
mod word_select;
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
