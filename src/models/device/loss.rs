//! The loss of a training pass on a device and its gradient at the logits,
//! shared by the word models (`lstm_classifier`, `bilstm_tagger`,
//! `word_cnn`): a weighted cross-entropy, or VAT's KL against fixed
//! log-probabilities (per text, or over the tagger's real tokens).

use crate::backend::{Device, Gemm, Storage};
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
            expect_rows(lp, rows, nc)?;
            // Σ p (log p − log q) / rows; d/dq-logits = (softmax(q) − p) / rows.
            let p = d.unary(Unary::Exp, lp)?;
            let diff = d.binary(BinaryKind::Sub, lp, ls)?;
            let value = d.sum(&d.binary(BinaryKind::Mul, &p, &diff)?)? * inv;
            let g = || d.scale(&d.binary(BinaryKind::Sub, &d.unary(Unary::Exp, ls)?, &p)?, inv);
            (value, value.is_finite().then(g).transpose()?)
        }
        PassLoss::TaggedKl { log_probs: lp, mask } => {
            expect_rows(lp, rows, nc)?;
            if mask.len() != rows {
                return Err(Error::invalid(OP, format!("a mask of {} for {rows} positions", mask.len())));
            }
            // The same per row, weighted 1/n on the n real tokens and 0 at
            // padding (whose logits the tape never selects), the weights
            // broadcast over the classes by a rank-1 GEMM.
            let real = mask.iter().filter(|&&m| m > 0.0).count();
            if real == 0 {
                return Err(Error::invalid(OP, "the mask selects no positions"));
            }
            let kw: Vec<f32> = mask.iter().map(|&m| if m > 0.0 { 1.0 / real as f32 } else { 0.0 }).collect();
            let ones = d.upload(&vec![1.0; nc])?;
            let wide = d.gemm(&d.upload(&kw)?, &ones, Gemm { m: rows, k: 1, n: nc, ta: false, tb: false })?;
            let p = d.unary(Unary::Exp, lp)?;
            let diff = d.binary(BinaryKind::Sub, lp, ls)?;
            let value = d.sum(&d.binary(BinaryKind::Mul, &d.binary(BinaryKind::Mul, &p, &diff)?, &wide)?)?;
            let g = || d.binary(BinaryKind::Mul, &d.binary(BinaryKind::Sub, &d.unary(Unary::Exp, ls)?, &p)?, &wide);
            (value, value.is_finite().then(g).transpose()?)
        }
    })
}

/// `lp` holds `rows · nc` fixed log-probabilities.
fn expect_rows(lp: &Storage, rows: usize, nc: usize) -> Result<()> {
    if lp.len() != rows * nc {
        return Err(Error::invalid(OP, format!("{} fixed log-probabilities, {} expected", lp.len(), rows * nc)));
    }
    Ok(())
}
