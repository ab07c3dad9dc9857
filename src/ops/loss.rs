//! Softmax family and the losses built on it: cross-entropy (mean, per
//! example, per token with a mask) and KL divergence between predictions.
//! All work on the last axis, as rows.

use crate::error::{Error, Result};
use crate::ops::cpu;
use crate::tape::{Tape, Var};
use crate::tensor::Tensor;

/// Row-wise log-softmax, max-subtracted for stability.
pub(crate) fn log_softmax_rows(x: &[f32], c: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; x.len()];
    cpu::for_rows(&mut out, c, |r, o| {
        let row = &x[r * c..(r + 1) * c];
        let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let lse = m + row.iter().map(|&v| ((v - m) as f64).exp()).sum::<f64>().ln() as f32;
        o.iter_mut().zip(row).for_each(|(o, &v)| *o = v - lse);
    });
    out
}

/// dx = g − softmax · Σ g per row, with `y` the log-softmax output.
pub(crate) fn log_softmax_backward_rows(gd: &[f32], yd: &[f32], c: usize) -> Vec<f32> {
    let mut gx = vec![0.0f32; gd.len()];
    cpu::for_rows(&mut gx, c, |r, o| {
        let (gr, yr) = (&gd[r * c..(r + 1) * c], &yd[r * c..(r + 1) * c]);
        let s: f32 = gr.iter().sum();
        for j in 0..c {
            o[j] = gr[j] - yr[j].exp() * s;
        }
    });
    gx
}

/// Log-softmax of the logit rows and each row's weighted cross-entropy
/// `−log softmax(x)[t] · w`.
pub(crate) fn ce_forward_rows(x: &[f32], c: usize, targets: &[usize], weights: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let ls = log_softmax_rows(x, c);
    let per = (0..targets.len()).map(|r| -ls[r * c + targets[r]] * weights[r]).collect();
    (ls, per)
}

/// dLoss/dlogits from the saved log-softmax: `g` is the scalar loss's
/// gradient if `reduce`, else one per row.
pub(crate) fn ce_backward_rows(
    ls: &[f32],
    c: usize,
    targets: &[usize],
    weights: &[f32],
    g: &[f32],
    reduce: bool,
) -> Vec<f32> {
    let mut gx = vec![0.0f32; ls.len()];
    cpu::for_rows(&mut gx, c, |r, o| {
        // d(−log softmax_t)/dx = softmax − onehot(t)
        let scale = weights[r] * if reduce { g[0] } else { g[r] };
        for j in 0..c {
            o[j] = scale * ls[r * c + j].exp();
        }
        o[targets[r]] -= scale;
    });
    gx
}

fn rows_of(op: &'static str, shape: &[usize]) -> Result<(usize, usize)> {
    match shape.last() {
        Some(&c) if c > 0 => Ok((shape.iter().product::<usize>() / c, c)),
        _ => Err(Error::invalid(op, format!("needs a non-empty last axis, got shape {shape:?}"))),
    }
}

fn check_targets(op: &'static str, targets: &[usize], rows: usize, c: usize) -> Result<()> {
    if targets.len() != rows {
        return Err(Error::invalid(op, format!("{} targets for {rows} rows", targets.len())));
    }
    if let Some(&t) = targets.iter().find(|&&t| t >= c) {
        return Err(Error::IndexOutOfRange { op, index: t, size: c });
    }
    Ok(())
}

impl Tape {
    /// Log-softmax over the last axis, any leading shape (`[B, T, C]` →
    /// `[B, T, C]`); computed stably (max subtracted). An error if the last
    /// axis is empty.
    pub fn log_softmax(&self, x: Var) -> Result<Var> {
        let xv = self.value(x)?;
        let (_, c) = rows_of("log_softmax", xv.shape())?;
        let y = Tensor::from_parts(xv.shape().to_vec(), log_softmax_rows(xv.data(), c));
        let yv = y.clone();
        self.record("log_softmax", y, &[x], move |g, sink| {
            let gx = log_softmax_backward_rows(g.data(), yv.data(), c);
            sink.add(x, Tensor::from_parts(g.shape().to_vec(), gx))
        })
    }

    /// Softmax over the last axis, as `exp(log_softmax(x))`: each row sums to 1.
    pub fn softmax(&self, x: Var) -> Result<Var> {
        let l = self.log_softmax(x)?;
        self.exp(l)
    }

    /// Cross-entropy of each row of `logits [N, C]` against `targets` → `[N]`.
    pub fn cross_entropy_per_example(&self, logits: Var, targets: &[usize]) -> Result<Var> {
        let weights = vec![1.0f32; targets.len()];
        self.weighted_ce("cross_entropy_per_example", logits, targets, &weights, false)
    }

    /// Mean cross-entropy over the rows of `logits [N, C]`.
    pub fn cross_entropy(&self, logits: Var, targets: &[usize]) -> Result<Var> {
        let n = targets.len().max(1) as f32;
        let weights = vec![1.0 / n; targets.len()];
        self.weighted_ce("cross_entropy", logits, targets, &weights, true)
    }

    /// Per-token cross-entropy of `logits [..., C]`, averaged over positions
    /// with `mask` 1 (the tagger's padded batches): Σ mask·CE / Σ mask.
    pub fn cross_entropy_masked(&self, logits: Var, targets: &[usize], mask: &[f32]) -> Result<Var> {
        if mask.len() != targets.len() {
            return Err(Error::invalid(
                "cross_entropy_masked",
                format!("{} mask values for {} targets", mask.len(), targets.len()),
            ));
        }
        let total: f64 = mask.iter().map(|&m| m as f64).sum();
        if total <= 0.0 {
            return Err(Error::invalid("cross_entropy_masked", "the mask selects no positions"));
        }
        let weights: Vec<f32> = mask.iter().map(|&m| (m as f64 / total) as f32).collect();
        self.weighted_ce("cross_entropy_masked", logits, targets, &weights, true)
    }

    /// Σ_n w_n·CE_n (a scalar) if `reduce`, else the vector w_n·CE_n.
    fn weighted_ce(
        &self,
        op: &'static str,
        logits: Var,
        targets: &[usize],
        weights: &[f32],
        reduce: bool,
    ) -> Result<Var> {
        let xv = self.value(logits)?;
        let (rows, c) = rows_of(op, xv.shape())?;
        check_targets(op, targets, rows, c)?;
        let (ls, per) = ce_forward_rows(xv.data(), c, targets, weights);
        let y = if reduce {
            Tensor::scalar(per.iter().map(|&v| v as f64).sum::<f64>() as f32)
        } else {
            Tensor::from_parts(vec![rows], per)
        };
        let (targets, weights, shape) = (targets.to_vec(), weights.to_vec(), xv.shape().to_vec());
        self.record(op, y, &[logits], move |g, sink| {
            let gx = ce_backward_rows(&ls, c, &targets, &weights, g.data(), reduce);
            sink.add(logits, Tensor::from_parts(shape, gx))
        })
    }

    /// Mean over rows of KL(p ‖ q) = Σ_c p_c (log p_c − log q_c), with
    /// p = softmax(p_logits), q = softmax(q_logits). VAT detaches p.
    pub fn kl_div(&self, p_logits: Var, q_logits: Var) -> Result<Var> {
        let (ps, qs) = (self.shape(p_logits)?, self.shape(q_logits)?);
        if ps != qs {
            return Err(Error::shapes("kl_div", &ps, &qs));
        }
        let (rows, _) = rows_of("kl_div", &ps)?;
        let lp = self.log_softmax(p_logits)?;
        let lq = self.log_softmax(q_logits)?;
        let p = self.exp(lp)?;
        let d = self.sub(lp, lq)?;
        let s = self.sum(self.mul(p, d)?)?;
        self.scale(s, 1.0 / rows.max(1) as f32)
    }
}
