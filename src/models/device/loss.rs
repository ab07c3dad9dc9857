//! The loss of a training pass on a device and its gradient at the logits,
//! shared by the word models (`lstm_classifier`, `bilstm_tagger`,
//! `word_cnn`): a weighted cross-entropy, or VAT's KL against fixed
//! log-probabilities (per text, or over the tagger's real tokens).

use std::borrow::Cow;

use crate::backend::{Device, Gemm, Storage};
use crate::error::{Error, Result};
use crate::models::device::PassLoss;
use crate::ops::{BinaryKind, Unary};

const OP: &str = "a training loss on a device";

/// The per-row classes and weights the forward's per-row loss and
/// [`differentiate`] take for `loss`, on a model with `rows` rows of logits
/// (one per token when `per_token`, the tagger; else one per text): the
/// mean (`CrossEntropy`), the given weights (`Weighted`), mask / Σ mask in
/// f64 as `Tape::cross_entropy_masked` (`Tagged`), all 0 for the KL terms
/// (only the log-softmax is wanted). A loss of the other granularity is an
/// error.
pub(super) fn rows_of(loss: PassLoss<'_>, rows: usize, per_token: bool) -> Result<(Cow<'_, [usize]>, Vec<f32>)> {
    let per_token_loss = matches!(loss, PassLoss::Tagged { .. } | PassLoss::TaggedKl { .. });
    if per_token_loss != per_token && !matches!(loss, PassLoss::CrossEntropy(_)) {
        return Err(Error::invalid(
            OP,
            if per_token {
                "the tagger's loss is per token, not per text"
            } else {
                "a per-token loss on a per-text model"
            },
        ));
    }
    Ok(match loss {
        PassLoss::CrossEntropy(c) => (Cow::Borrowed(c), vec![1.0 / rows.max(1) as f32; rows]),
        PassLoss::Weighted { classes, weights } => (Cow::Borrowed(classes), weights.to_vec()),
        PassLoss::Tagged { labels, mask } => {
            let total: f64 = mask.iter().map(|&m| m as f64).sum();
            if total <= 0.0 {
                return Err(Error::invalid(OP, "the mask selects no positions"));
            }
            (Cow::Borrowed(labels), mask.iter().map(|&m| (m as f64 / total) as f32).collect())
        }
        PassLoss::Kl(_) | PassLoss::TaggedKl { .. } => (Cow::Owned(vec![0; rows]), vec![0.0; rows]),
    })
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_loss_gives_its_rows_classes_and_weights() {
        let (c, w) = rows_of(PassLoss::CrossEntropy(&[1, 0]), 2, false).unwrap();
        assert_eq!((&c[..], w), (&[1, 0][..], vec![0.5, 0.5]));
        let (c, w) = rows_of(PassLoss::Weighted { classes: &[2, 1], weights: &[1.0, -1.0] }, 2, false).unwrap();
        assert_eq!((&c[..], w), (&[2, 1][..], vec![1.0, -1.0]));
        let (c, w) = rows_of(PassLoss::Tagged { labels: &[1, 0, 1, 0], mask: &[1.0, 1.0, 0.0, 1.0] }, 4, true).unwrap();
        assert_eq!(&c[..], &[1, 0, 1, 0]);
        assert_eq!(w, vec![1.0 / 3.0, 1.0 / 3.0, 0.0, 1.0 / 3.0]);
        let lp = Storage::Cpu(vec![0.0; 4]);
        let (c, w) = rows_of(PassLoss::Kl(&lp), 2, false).unwrap();
        assert_eq!((&c[..], w), (&[0, 0][..], vec![0.0, 0.0]));
    }

    #[test]
    fn a_loss_of_the_other_granularity_or_an_empty_mask_is_refused() {
        let lp = Storage::Cpu(vec![0.0; 4]);
        let tagged = PassLoss::Tagged { labels: &[0, 1], mask: &[1.0, 1.0] };
        assert!(rows_of(tagged, 2, false).unwrap_err().to_string().contains("per-token loss on a per-text model"));
        let weighted = PassLoss::Weighted { classes: &[0, 1], weights: &[1.0, 1.0] };
        assert!(rows_of(weighted, 2, true).unwrap_err().to_string().contains("per token, not per text"));
        assert!(rows_of(PassLoss::Kl(&lp), 2, true).is_err());
        assert!(rows_of(PassLoss::TaggedKl { log_probs: &lp, mask: &[1.0, 1.0] }, 2, false).is_err());
        let empty = PassLoss::Tagged { labels: &[0, 1], mask: &[0.0, 0.0] };
        assert!(rows_of(empty, 2, true).unwrap_err().to_string().contains("selects no positions"));
    }
}
