//! What an attack writes: one JSON line per example (ATTACKS.md's fields
//! and more), and a run summary computed from those lines.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The confidence thresholds the success-rate curve is reported at
/// (HotFlip Figure 2).
pub const TAUS: [f32; 5] = [0.5, 0.6, 0.7, 0.8, 0.9];

/// The key a threshold has in JSON maps (`"0.5"`).
pub fn tau_key(t: f32) -> String {
    format!("{t:.1}")
}

/// One applied change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// `flip`, `insert`, `delete` (characters), `word` (word flip) or `unk`.
    pub op: String,
    /// Index of the word in the document.
    pub word: usize,
    /// Character position in the word (0 for word-level changes).
    pub pos: usize,
    /// The character or word removed or replaced (empty for an insert).
    pub from: String,
    /// The character or word put in (empty for a delete).
    pub to: String,
    /// The whole word before the change.
    pub word_before: String,
    /// The whole word after the change.
    pub word_after: String,
    /// First-order predicted change of the attack's loss J (the op's score);
    /// absent for methods that rank by the true loss.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub predicted: Option<f32>,
    /// The actual change of J, from the forward passes before and after.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actual: Option<f32>,
}

/// One example's outcome (a line of the `--out` JSON Lines file).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExampleResult {
    /// Position in the split.
    pub index: usize,
    /// The gold class.
    pub label: usize,
    /// Not attacked because the model got it wrong already (or, in a
    /// targeted attack, already predicts the target; or the text is empty
    /// to the model).
    pub skipped: bool,
    /// The text as given.
    pub orig_text: String,
    /// The model's class for the original text (argmax).
    pub orig_pred: usize,
    /// The probability of `orig_pred` on the original text.
    pub orig_prob: f32,
    /// The original text with the reported changes applied; equal to
    /// `orig_text` when nothing changed.
    pub adv_text: String,
    /// The model's class for `adv_text` (argmax).
    pub adv_pred: usize,
    /// The probability of `adv_pred` on `adv_text`.
    pub adv_prob: f32,
    /// Adversarial with probability ≥ τ (misclassified, or the target class).
    pub success: bool,
    /// The target class of a targeted attack; absent for untargeted ones.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<usize>,
    /// The applied changes, in the order the search made them.
    pub changes: Vec<Change>,
    /// Characters edited (one per character change; for word changes the
    /// characters of the new word).
    pub chars_changed: usize,
    /// Non-space characters of the attacked text.
    pub n_chars: usize,
    /// Units the budget counts: characters (character level) or words.
    pub n_units: usize,
    /// Changes over `n_units`: the share of characters changed, or of words
    /// for word-level attacks.
    pub frac_changed: f32,
    /// The budget in changes.
    pub max_changes: usize,
    /// Changes at which each τ of `TAUS` was first reached (absent: never).
    pub tau_changes: BTreeMap<String, usize>,
    /// The largest adversarial probability seen on any evaluated entry.
    pub best_adv_prob: f32,
    /// Forward passes spent on this example, the first classification
    /// included: the attack's cost, comparable across methods.
    pub forward_passes: u64,
    /// Backward passes (gradient computations) spent on this example; 0 for
    /// the random baseline and for skipped examples.
    pub backward_passes: u64,
    /// Wall time spent on this example; when examples are attacked
    /// together, each step's time is shared among the examples in it.
    pub seconds: f64,
}

/// The run's figures (the `--summary` file).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Summary {
    /// The model attacked (its checkpoint directory).
    #[serde(default)]
    pub model: String,
    /// The data set and split attacked.
    #[serde(default)]
    pub dataset: String,
    /// How children were ranked (`hotflip`, `random`, …; see [`Method`](crate::attack::Method)).
    pub method: String,
    /// `char`, `word` or `unk` (see [`Space::level`](crate::attack::Space::level)).
    pub level: String,
    /// The success threshold τ on the adversarial class's probability.
    pub tau: f32,
    /// Beam width b (1 = greedy).
    pub beam: usize,
    /// Largest share of units that could change (0.1 = 10%).
    pub budget: f32,
    /// `--max-changes`, if set (the limit word-level attacks obey instead of the budget).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_changes: Option<usize>,
    /// The target class of a targeted attack; absent for untargeted ones.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<usize>,
    /// Which constraints were on.
    pub constraints: BTreeMap<String, String>,
    /// Correctly classified examples attacked, and misclassified ones skipped.
    pub attacked: usize,
    /// Examples not attacked (see [`ExampleResult::skipped`]).
    pub skipped: usize,
    /// Attacked examples that reached τ within the budget.
    pub successes: usize,
    /// `successes / attacked` (0 when nothing was attacked): the paper's
    /// headline figure at the run's τ.
    pub success_rate: f64,
    /// Success rate at each τ of `TAUS`. Exact up to the run's τ (the search
    /// ran until it reached it); above it, a lower bound from the largest
    /// adversarial probability the search met before stopping.
    pub success_by_tau: BTreeMap<String, f64>,
    /// The τ keys of `success_by_tau` above the run's τ: the search stopped
    /// once an example reached the run's τ, so these are lower bounds (from
    /// `best_adv_prob`), not measured rates.
    #[serde(default)]
    pub success_by_tau_lower_bounds: Vec<String>,
    /// Mean share of characters changed, over successful examples.
    pub mean_frac_changed: f64,
    /// Mean number of changes, over successful examples.
    pub mean_changes: f64,
    /// Successful examples by number of changes: `"1"`, `"2"`, `"3+"`.
    pub changes_hist: BTreeMap<String, usize>,
    /// Share of each operation among the changes of successful examples.
    pub op_share: BTreeMap<String, f64>,
    /// Mean forward passes per attacked example (skipped ones excluded).
    pub forward_passes_per_example: f64,
    /// Mean backward passes per attacked example.
    pub backward_passes_per_example: f64,
    /// Mean wall seconds per attacked example, successful or not.
    pub seconds_per_example: f64,
    /// Mean seconds per successful example by number of changes (HotFlip Table 2).
    pub seconds_by_changes: BTreeMap<String, f64>,
    /// Pairs of (predicted, actual) loss changes over all applied changes,
    /// their means, and their Pearson correlation.
    pub fidelity_pairs: usize,
    /// Pearson correlation of predicted and actual loss changes: how well
    /// the first-order scores rank real edits. `None` with fewer than two
    /// pairs or no spread.
    pub fidelity_correlation: Option<f64>,
    /// Mean predicted change of J per applied change; `None` without pairs.
    pub mean_predicted: Option<f64>,
    /// Mean actual change of J per applied change; `None` without pairs.
    pub mean_actual: Option<f64>,
    /// Attacked examples left exactly as they were: the constraints allowed
    /// no change at all (at word level, typically no word pair above the
    /// cosine threshold).
    #[serde(default)]
    pub unchanged: usize,
    /// What to change when the constraints left examples without a single
    /// candidate: the largest cosine seen and the flag (set by the caller
    /// that knows the edit space, e.g. `hotflip attack --level word`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

fn bucket(n: usize) -> String {
    if n >= 3 {
        "3+".into()
    } else {
        n.to_string()
    }
}

fn mean(xs: impl Iterator<Item = f64>) -> f64 {
    let (s, n) = xs.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    if n == 0 {
        0.0
    } else {
        s / n as f64
    }
}

/// Pearson correlation; `None` with fewer than 2 pairs or no spread.
pub fn pearson(pairs: &[(f64, f64)]) -> Option<f64> {
    if pairs.len() < 2 {
        return None;
    }
    let mx = mean(pairs.iter().map(|p| p.0));
    let my = mean(pairs.iter().map(|p| p.1));
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for &(x, y) in pairs {
        sxy += (x - mx) * (y - my);
        sxx += (x - mx) * (x - mx);
        syy += (y - my) * (y - my);
    }
    (sxx > 0.0 && syy > 0.0).then(|| sxy / (sxx * syy).sqrt())
}

/// How a run was configured (copied into the summary).
#[derive(Clone, Debug)]
pub struct RunInfo {
    /// The model attacked (its checkpoint directory).
    pub model: String,
    /// The data set and split attacked (`sst2 test`).
    pub dataset: String,
    /// `--max-changes`, if the run set one (word and UNK levels do).
    pub max_changes: Option<usize>,
    /// The method's name, as [`Summary::method`].
    pub method: String,
    /// The level's name, as [`Summary::level`].
    pub level: String,
    /// The success threshold τ.
    pub tau: f32,
    /// Beam width b.
    pub beam: usize,
    /// Largest share of units that may change.
    pub budget: f32,
    /// The target class, for a targeted attack.
    pub target: Option<usize>,
    /// Which constraints were on (e.g. `same_pos: off` without a tagger).
    pub constraints: BTreeMap<String, String>,
}

impl Summary {
    /// The run's figures from its per-example results (any order; a resumed
    /// run passes every line of its results file). Rates and means are over
    /// attacked examples, change statistics over successful ones; `hint` is
    /// left `None` for the caller to fill.
    pub fn of(info: &RunInfo, results: &[ExampleResult]) -> Summary {
        let attacked: Vec<&ExampleResult> = results.iter().filter(|r| !r.skipped).collect();
        let wins: Vec<&ExampleResult> = attacked.iter().copied().filter(|r| r.success).collect();
        let n = attacked.len();
        let rate = |k: usize| if n == 0 { 0.0 } else { k as f64 / n as f64 };
        let mut success_by_tau = BTreeMap::new();
        for t in TAUS {
            let k = attacked.iter().filter(|r| r.tau_changes.contains_key(&tau_key(t)) || r.best_adv_prob >= t).count();
            success_by_tau.insert(tau_key(t), rate(k));
        }
        let mut changes_hist = BTreeMap::new();
        let mut op_count: BTreeMap<String, usize> = BTreeMap::new();
        let mut by_changes: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for r in &wins {
            *changes_hist.entry(bucket(r.changes.len())).or_insert(0) += 1;
            by_changes.entry(bucket(r.changes.len())).or_default().push(r.seconds);
            for c in &r.changes {
                *op_count.entry(c.op.clone()).or_insert(0) += 1;
            }
        }
        let total_ops: usize = op_count.values().sum();
        let op_share = op_count.into_iter().map(|(k, v)| (k, v as f64 / total_ops.max(1) as f64)).collect();
        let pairs: Vec<(f64, f64)> = attacked
            .iter()
            .flat_map(|r| r.changes.iter())
            .filter_map(|c| Some((c.predicted? as f64, c.actual? as f64)))
            .collect();
        Summary {
            model: info.model.clone(),
            dataset: info.dataset.clone(),
            max_changes: info.max_changes,
            method: info.method.clone(),
            level: info.level.clone(),
            tau: info.tau,
            beam: info.beam,
            budget: info.budget,
            target: info.target,
            constraints: info.constraints.clone(),
            attacked: n,
            skipped: results.len() - n,
            successes: wins.len(),
            success_rate: rate(wins.len()),
            success_by_tau,
            success_by_tau_lower_bounds: TAUS.iter().filter(|&&t| t > info.tau + 1e-6).map(|&t| tau_key(t)).collect(),
            mean_frac_changed: mean(wins.iter().map(|r| r.frac_changed as f64)),
            mean_changes: mean(wins.iter().map(|r| r.changes.len() as f64)),
            changes_hist,
            op_share,
            forward_passes_per_example: mean(attacked.iter().map(|r| r.forward_passes as f64)),
            backward_passes_per_example: mean(attacked.iter().map(|r| r.backward_passes as f64)),
            seconds_per_example: mean(attacked.iter().map(|r| r.seconds)),
            seconds_by_changes: by_changes.into_iter().map(|(k, v)| (k, mean(v.into_iter()))).collect(),
            fidelity_pairs: pairs.len(),
            unchanged: attacked.iter().filter(|r| !r.success && r.changes.is_empty()).count(),
            hint: None,
            fidelity_correlation: pearson(&pairs),
            mean_predicted: (!pairs.is_empty()).then(|| mean(pairs.iter().map(|p| p.0))),
            mean_actual: (!pairs.is_empty()).then(|| mean(pairs.iter().map(|p| p.1))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pearson_by_hand() {
        assert!((pearson(&[(1.0, 2.0), (2.0, 4.0), (3.0, 6.0)]).unwrap() - 1.0).abs() < 1e-12);
        assert!((pearson(&[(1.0, 3.0), (2.0, 2.0), (3.0, 1.0)]).unwrap() + 1.0).abs() < 1e-12);
        assert!(pearson(&[(1.0, 1.0), (1.0, 2.0)]).is_none());
    }
}
