//! L2 norm and L2 normalisation along the last axis (AdvT's `g/‖g‖`, VAT's
//! unit perturbation, iAdvT's unit directions).

use crate::error::{Error, Result};
use crate::ops::cpu;
use crate::tape::{Tape, Var};
use crate::tensor::Tensor;

fn rows_of(op: &'static str, shape: &[usize]) -> Result<(usize, usize)> {
    match shape.last() {
        Some(&d) if d > 0 => Ok((shape.iter().product::<usize>() / d, d)),
        _ => Err(Error::invalid(op, format!("needs a non-empty last axis, got shape {shape:?}"))),
    }
}

/// ‖row‖₂ of each row, accumulated in f64.
fn row_norms(x: &[f32], d: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; x.len() / d];
    cpu::for_rows(&mut out, 1, |r, o| o[0] = cpu::sum_sq(&x[r * d..(r + 1) * d]).sqrt() as f32);
    out
}

impl Tape {
    /// `‖x‖₂` over the last axis: `[..., D]` → `[...]`. The gradient at a
    /// zero row is taken as zero (the subgradient PyTorch also picks).
    pub fn l2_norm(&self, x: Var) -> Result<Var> {
        let xv = self.value(x)?;
        let shape = xv.shape().to_vec();
        let (_, d) = rows_of("l2_norm", &shape)?;
        let norms = row_norms(xv.data(), d);
        let y = Tensor::from_parts(shape[..shape.len() - 1].to_vec(), norms.clone());
        self.record("l2_norm", y, &[x], move |g, sink| {
            let (xd, gd) = (xv.data(), g.data());
            let mut gx = vec![0.0f32; xd.len()];
            cpu::for_rows(&mut gx, d, |r, o| {
                if norms[r] > 0.0 {
                    let s = gd[r] / norms[r];
                    o.iter_mut().zip(&xd[r * d..(r + 1) * d]).for_each(|(o, &x)| *o = s * x);
                }
            });
            sink.add(x, Tensor::from_parts(shape, gx))
        })
    }

    /// `x / (‖x‖₂ + eps)` over the last axis. `eps` keeps a zero row at zero
    /// instead of NaN (VAT normalises gradients that can vanish).
    pub fn l2_normalize(&self, x: Var, eps: f32) -> Result<Var> {
        let xv = self.value(x)?;
        let shape = xv.shape().to_vec();
        let (_, d) = rows_of("l2_normalize", &shape)?;
        let norms = row_norms(xv.data(), d);
        let mut out = vec![0.0f32; xv.numel()];
        let xd = xv.data();
        cpu::for_rows(&mut out, d, |r, o| {
            let s = 1.0 / (norms[r] + eps);
            o.iter_mut().zip(&xd[r * d..(r + 1) * d]).for_each(|(o, &x)| *o = s * x);
        });
        self.record("l2_normalize", Tensor::from_parts(shape.clone(), out), &[x], move |g, sink| {
            // y = x/(n + eps), n = ‖x‖: dx = g/(n+eps) − x·(x·g)/(n·(n+eps)²).
            let (xd, gd) = (xv.data(), g.data());
            let mut gx = vec![0.0f32; xd.len()];
            cpu::for_rows(&mut gx, d, |r, o| {
                let (xr, gr) = (&xd[r * d..(r + 1) * d], &gd[r * d..(r + 1) * d]);
                let n = norms[r];
                let a = 1.0 / (n + eps);
                let dot: f64 = xr.iter().zip(gr).map(|(&x, &g)| x as f64 * g as f64).sum();
                let b = if n > 0.0 { (dot / (n as f64 * (n as f64 + eps as f64).powi(2))) as f32 } else { 0.0 };
                for j in 0..d {
                    o[j] = a * gr[j] - b * xr[j];
                }
            });
            sink.add(x, Tensor::from_parts(shape, gx))
        })
    }
}
