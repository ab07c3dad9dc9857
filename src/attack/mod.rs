//! HotFlip attacks (Ebrahimi et al. 2018; ../shared/spec/ATTACKS.md):
//! first-order scores of character and word edits from one-hot input
//! gradients, beam search over them, the paper's baselines, and the results
//! files.

pub mod char_attack;
pub mod char_doc;
pub mod char_score;
pub mod oracle;
pub mod report;
pub mod result;
pub mod results_file;

pub use char_attack::{CharAttacker, Method, Settings, Task};
pub use result::{Change, ExampleResult, RunInfo, Summary, TAUS};
