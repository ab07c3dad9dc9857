//! How an attack is set up: the ranking method, the beam, the success
//! threshold, the budget and the constraints every search space obeys.
//! Both the search (`search.rs`) and the spaces (`space.rs`) read it.

use crate::error::{Error, Result};

/// How children are ranked (ATTACKS.md's method and baselines).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// First-order scores from the one-hot gradient (HotFlip).
    HotFlip,
    /// True loss of every child from a forward pass (HotFlip Table 2).
    LossBeam,
    /// The beam with random gradients in place of the real ones (§4.1).
    RandomGrad,
    /// As many random changes as HotFlip made.
    Random,
}

impl Method {
    /// The name results files use (`hotflip`, `loss-beam`, …).
    pub fn name(self) -> &'static str {
        match self {
            Method::HotFlip => "hotflip",
            Method::LossBeam => "loss-beam",
            Method::RandomGrad => "random-grad",
            Method::Random => "random",
        }
    }
}

/// How an attack searches and what it may change.
#[derive(Clone, Debug)]
pub struct Settings {
    /// How children are ranked.
    pub method: Method,
    /// Beam width b (1 = greedy).
    pub beam: usize,
    /// Success threshold τ on the adversarial class's probability.
    pub tau: f32,
    /// Largest share of the document's units (characters, or words for
    /// word-level attacks) that may change.
    pub budget: f32,
    /// A fixed number of changes instead of the budget (word level: the
    /// paper's "one or two flips").
    pub max_changes: Option<usize>,
    /// At most one change per word (ATTACKS.md, on by default).
    pub one_change_per_word: bool,
    /// The changed word must not be a training word (character level, on
    /// by default).
    pub forbid_training_words: bool,
    /// Targeted attack towards this class.
    pub target: Option<usize>,
    /// Which character operations the character attack may use.
    pub char_ops: CharOps,
    /// Seed of the random baselines.
    pub seed: u64,
    /// Beam entries per forward/backward pass at most.
    pub eval_batch: usize,
}

/// The widest beam `hotflip attack --beam` accepts: every step evaluates
/// every entry's children, so the cost grows with the width, and beyond a
/// few hundred entries one document takes hours (HotFlip uses 10). The
/// library takes any width (a test searches exhaustively with a huge one).
pub const MAX_BEAM: usize = 1000;

impl Settings {
    /// Checks each setting, naming the first one out of range (by its
    /// command-line flag) and its value.
    pub fn check(&self) -> Result<()> {
        let bad =
            |flag: &str, value: String, rule: &str| Err(Error::invalid("attack", format!("--{flag} {value}: {rule}")));
        if self.beam == 0 {
            return bad("beam", "0".into(), "must be at least 1 (1 = greedy)");
        }
        if !(self.tau > 0.0 && self.tau < 1.0) {
            return bad("tau", self.tau.to_string(), "must be a probability in (0, 1)");
        }
        if !(self.budget > 0.0 && self.budget.is_finite()) {
            return bad("budget", self.budget.to_string(), "must be a positive share of the units (0.1 = 10%)");
        }
        if self.max_changes == Some(0) {
            return bad("max-changes", "0".into(), "must be at least 1");
        }
        if self.eval_batch == 0 {
            return bad("eval-batch", "0".into(), "must be at least 1");
        }
        Ok(())
    }
}

/// The character operations allowed (all by default; HotFlip §6 reports a
/// flip-only adversary against adversarially trained models).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CharOps {
    /// Replace a character.
    pub flip: bool,
    /// Insert a character.
    pub insert: bool,
    /// Delete a character.
    pub delete: bool,
}

impl Default for CharOps {
    fn default() -> Self {
        CharOps { flip: true, insert: true, delete: true }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            method: Method::HotFlip,
            beam: 10,
            tau: 0.5,
            budget: 0.1,
            max_changes: None,
            one_change_per_word: true,
            forbid_training_words: true,
            target: None,
            char_ops: CharOps::default(),
            seed: 0,
            eval_batch: 512,
        }
    }
}
