//! The loss of a training pass on a device and its gradient at the logits,
//! shared by the word models (`lstm_classifier`, `bilstm_tagger`,
//! `word_cnn`): a weighted cross-entropy, or VAT's KL against fixed
//! log-probabilities.

use crate::backend::{Device, Storage};
use crate::error::{Error, Result};
use crate::models::device::PassLoss;
use crate::ops::{BinaryKind, Unary};

const OP: &str = "a training loss on a device";

/// The loss's value and, when finite, dLoss/dlogits `[rows, nc]`, from the
/// forward's log-softmax `ls` and weighted per-row cross-entropy `per_row`
/// (computed with `classes` and `w`; for `Kl` all weights 0).
pub(super) fn differentiate(
    d: &dyn Device,
    loss: PassLoss<'_>,
    (ls, per_row): (&Storage, &Storage),
    classes: &[usize],
    w: &[f32],
    nc: usize,
    one: &Storage,
) -> Result<(f32, Option<Storage>)> {
    let rows = w.len();
    let inv = 1.0 / rows.max(1) as f32;
    Ok(match loss {
        PassLoss::CrossEntropy(_) | PassLoss::Tagged { .. } | PassLoss::Weighted { .. } => {
            let value = d.sum(per_row)?;
            (value, value.is_finite().then(|| d.cross_entropy_bwd(ls, nc, classes, w, one, true)).transpose()?)
        }
        PassLoss::Kl(lp) => {
            if lp.len() != rows * nc {
                return Err(Error::invalid(
                    OP,
                    format!("{} fixed log-probabilities, {} expected", lp.len(), rows * nc),
                ));
            }
            // Σ p (log p − log q) / rows; d/dq-logits = (softmax(q) − p) / rows.
            let p = d.unary(Unary::Exp, lp)?;
            let diff = d.binary(BinaryKind::Sub, lp, ls)?;
            let value = d.sum(&d.binary(BinaryKind::Mul, &p, &diff)?)? * inv;
            let g = || d.scale(&d.binary(BinaryKind::Sub, &d.unary(Unary::Exp, ls)?, &p)?, inv);
            (value, value.is_finite().then(g).transpose()?)
        }
    })
}
