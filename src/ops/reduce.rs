//! Reductions: sum/mean of everything or along one axis, and max over an axis.

use crate::error::{Error, Result};
use crate::ops::cpu;
use crate::tape::{Tape, Var};
use crate::tensor::Tensor;

/// Splits `shape` around `axis` into (outer, size, inner) element counts.
pub(crate) fn split_axis(op: &'static str, shape: &[usize], axis: isize) -> Result<(usize, usize, usize, usize)> {
    let r = shape.len() as isize;
    let ax = if axis < 0 { r + axis } else { axis };
    if ax < 0 || ax >= r {
        return Err(Error::invalid(op, format!("axis {axis} out of range for shape {shape:?}")));
    }
    let ax = ax as usize;
    Ok((shape[..ax].iter().product(), shape[ax], shape[ax + 1..].iter().product(), ax))
}

impl Tape {
    /// Sum of all elements (a scalar), accumulated in f64.
    pub fn sum(&self, x: Var) -> Result<Var> {
        let xv = self.value(x)?;
        let y = Tensor::scalar(cpu::sum(xv.data()) as f32);
        let shape = xv.shape().to_vec();
        self.record("sum", y, &[x], move |g, sink| sink.add(x, Tensor::full(&shape, g.data()[0])))
    }

    /// Mean of all elements (a scalar).
    pub fn mean(&self, x: Var) -> Result<Var> {
        let n = self.value(x)?.numel().max(1);
        let s = self.sum(x)?;
        self.scale(s, 1.0 / n as f32)
    }

    /// Sum along `axis`, which is removed from the shape.
    pub fn sum_axis(&self, x: Var, axis: isize) -> Result<Var> {
        let xv = self.value(x)?;
        let (outer, size, inner, ax) = split_axis("sum_axis", xv.shape(), axis)?;
        let out = sum_axis_forward(xv.data(), outer, size, inner);
        let mut shape = xv.shape().to_vec();
        shape.remove(ax);
        let in_shape = xv.shape().to_vec();
        self.record("sum_axis", Tensor::from_parts(shape, out), &[x], move |g, sink| {
            let mut gx = vec![0.0f32; outer * size * inner];
            let gd = g.data();
            cpu::for_rows(&mut gx, inner.max(1), |r, row| {
                let o = r / size;
                row.copy_from_slice(&gd[o * inner..(o + 1) * inner]);
            });
            sink.add(x, Tensor::from_parts(in_shape, gx))
        })
    }

    /// Mean along `axis`, which is removed from the shape.
    pub fn mean_axis(&self, x: Var, axis: isize) -> Result<Var> {
        let (_, size, _, _) = split_axis("mean_axis", &self.shape(x)?, axis)?;
        let s = self.sum_axis(x, axis)?;
        self.scale(s, 1.0 / size.max(1) as f32)
    }

    /// Max along `axis` (removed from the shape); the gradient goes to the
    /// first maximal element. Max-over-time pooling in the CNNs.
    pub fn max_axis(&self, x: Var, axis: isize) -> Result<Var> {
        let xv = self.value(x)?;
        let (outer, size, inner, ax) = split_axis("max_axis", xv.shape(), axis)?;
        if size == 0 {
            return Err(Error::invalid("max_axis", format!("axis {axis} of shape {:?} is empty", xv.shape())));
        }
        let (out, arg) = max_axis_forward(xv.data(), outer, size, inner);
        let mut shape = xv.shape().to_vec();
        shape.remove(ax);
        let in_shape = xv.shape().to_vec();
        self.record("max_axis", Tensor::from_parts(shape, out), &[x], move |g, sink| {
            sink.add(x, Tensor::from_parts(in_shape, max_backward(g.data(), &arg, outer, size, inner)))
        })
    }

    /// Max over the first `valid[n]` positions of `x [N, P, F]` → `[N, F]`:
    /// max-over-time pooling that ignores a batch's padding positions, so a
    /// sentence gives the same features alone or in a padded batch.
    pub fn max_over_valid(&self, x: Var, valid: &[usize]) -> Result<Var> {
        let xv = self.value(x)?;
        let s = xv.shape().to_vec();
        if s.len() != 3 || valid.len() != s[0] {
            return Err(Error::invalid("max_over_valid", format!("input {s:?} with {} valid counts", valid.len())));
        }
        let (n, p, f) = (s[0], s[1], s[2]);
        if let Some(&v) = valid.iter().find(|&&v| v == 0 || v > p) {
            return Err(Error::invalid("max_over_valid", format!("valid count {v} outside 1..={p}")));
        }
        let (out, arg) = max_over_valid_forward(xv.data(), valid, n, p, f);
        self.record("max_over_valid", Tensor::from_parts(vec![n, f], out), &[x], move |g, sink| {
            sink.add(x, Tensor::from_parts(vec![n, p, f], max_backward(g.data(), &arg, n, p, f)))
        })
    }
}

// The CPU kernels of the reductions, shared by the tape ops and the CUDA
// self-check (kernels/reduce.cu is their twin). `x` is viewed as
// [outer, size, inner] and reduced along `size`.

/// Sum along `size`, in ascending order.
pub(crate) fn sum_axis_forward(x: &[f32], outer: usize, size: usize, inner: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; outer * inner];
    cpu::for_rows(&mut out, inner.max(1), |o, row| {
        for s in 0..size {
            let base = (o * size + s) * inner;
            row.iter_mut().zip(&x[base..base + inner]).for_each(|(r, &v)| *r += v);
        }
    });
    out
}

/// Max along `size` (non-empty) and the index of the first maximum.
pub(crate) fn max_axis_forward(x: &[f32], outer: usize, size: usize, inner: usize) -> (Vec<f32>, Vec<u32>) {
    let mut arg = vec![0u32; outer * inner];
    let mut out = vec![f32::NEG_INFINITY; outer * inner];
    for o in 0..outer {
        let (orow, arow) = (&mut out[o * inner..(o + 1) * inner], &mut arg[o * inner..(o + 1) * inner]);
        for s in 0..size {
            let base = (o * size + s) * inner;
            for i in 0..inner {
                // `>` keeps the first maximum; NaN propagates via the first slot.
                if x[base + i] > orow[i] || s == 0 {
                    orow[i] = x[base + i];
                    arow[i] = s as u32;
                }
            }
        }
    }
    (out, arg)
}

/// Max over the first `valid[i]` (≥ 1) positions of `x [n, p, f]`, with the
/// index of the first maximum.
pub(crate) fn max_over_valid_forward(x: &[f32], valid: &[usize], n: usize, p: usize, f: usize) -> (Vec<f32>, Vec<u32>) {
    let mut out = vec![0.0f32; n * f];
    let mut arg = vec![0u32; n * f];
    for i in 0..n {
        let (orow, arow) = (&mut out[i * f..(i + 1) * f], &mut arg[i * f..(i + 1) * f]);
        orow.copy_from_slice(&x[i * p * f..i * p * f + f]);
        for q in 1..valid[i] {
            let row = &x[(i * p + q) * f..(i * p + q + 1) * f];
            for j in 0..f {
                if row[j] > orow[j] {
                    orow[j] = row[j];
                    arow[j] = q as u32;
                }
            }
        }
    }
    (out, arg)
}

/// Backward of both maxima: `g [outer, inner]` goes to the argmax along
/// `size`, zeros elsewhere.
pub(crate) fn max_backward(g: &[f32], arg: &[u32], outer: usize, size: usize, inner: usize) -> Vec<f32> {
    let mut gx = vec![0.0f32; outer * size * inner];
    for o in 0..outer {
        for i in 0..inner {
            gx[(o * size + arg[o * inner + i] as usize) * inner + i] = g[o * inner + i];
        }
    }
    gx
}
