//! Ops that move data without arithmetic: reshape, concat, narrow (slice),
//! index_select (rows), gather (one element per row), transpose.

use crate::error::{Error, Result};
use crate::ops::reduce::split_axis;
use crate::tape::{Tape, Var};
use crate::tensor::{numel, Tensor};

impl Tape {
    /// The same elements in row-major order under a new shape (no copy); an
    /// error unless the element counts match.
    pub fn reshape(&self, x: Var, shape: &[usize]) -> Result<Var> {
        let xv = self.value(x)?;
        let in_shape = xv.shape().to_vec();
        let y = xv.reshape(shape)?;
        self.record("reshape", y, &[x], move |g, sink| sink.add(x, g.reshape(&in_shape)?))
    }

    /// Concatenates along `axis`; all other dimensions must agree.
    pub fn concat(&self, xs: &[Var], axis: isize) -> Result<Var> {
        if xs.is_empty() {
            return Err(Error::invalid("concat", "no inputs"));
        }
        let vals: Vec<Tensor> = xs.iter().map(|&x| self.value(x)).collect::<Result<_>>()?;
        let first = vals[0].shape().to_vec();
        let (outer, _, inner, ax) = split_axis("concat", &first, axis)?;
        let mut total = 0;
        for v in &vals {
            let s = v.shape();
            if s.len() != first.len() || s[..ax] != first[..ax] || s[ax + 1..] != first[ax + 1..] {
                return Err(Error::shapes("concat", &first, s));
            }
            total += s[ax];
        }
        let mut out = Vec::with_capacity(outer * total * inner);
        for o in 0..outer {
            for v in &vals {
                let w = v.shape()[ax] * inner;
                out.extend_from_slice(&v.data()[o * w..(o + 1) * w]);
            }
        }
        let mut shape = first.clone();
        shape[ax] = total;
        let sizes: Vec<usize> = vals.iter().map(|v| v.shape()[ax]).collect();
        let shapes: Vec<Vec<usize>> = vals.iter().map(|v| v.shape().to_vec()).collect();
        let parents = xs.to_vec();
        self.record("concat", Tensor::from_parts(shape, out), xs, move |g, sink| {
            let gd = g.data();
            let mut start = 0;
            for (i, &x) in parents.iter().enumerate() {
                let w = sizes[i] * inner;
                if sink.wants(x) {
                    let mut gx = Vec::with_capacity(outer * w);
                    for o in 0..outer {
                        let base = o * total * inner + start;
                        gx.extend_from_slice(&gd[base..base + w]);
                    }
                    sink.add(x, Tensor::from_parts(shapes[i].clone(), gx))?;
                }
                start += w;
            }
            Ok(())
        })
    }

    /// `x[.., start..start+len, ..]` along `axis`.
    pub fn narrow(&self, x: Var, axis: isize, start: usize, len: usize) -> Result<Var> {
        let xv = self.value(x)?;
        let (outer, size, inner, ax) = split_axis("narrow", xv.shape(), axis)?;
        if start + len > size {
            return Err(Error::invalid(
                "narrow",
                format!("range {start}..{} exceeds size {size} of axis {axis} in {:?}", start + len, xv.shape()),
            ));
        }
        let mut out = Vec::with_capacity(outer * len * inner);
        for o in 0..outer {
            let base = (o * size + start) * inner;
            out.extend_from_slice(&xv.data()[base..base + len * inner]);
        }
        let mut shape = xv.shape().to_vec();
        shape[ax] = len;
        let in_shape = xv.shape().to_vec();
        self.record("narrow", Tensor::from_parts(shape, out), &[x], move |g, sink| {
            let mut gx = vec![0.0; numel(&in_shape)];
            for o in 0..outer {
                let base = (o * size + start) * inner;
                gx[base..base + len * inner].copy_from_slice(&g.data()[o * len * inner..(o + 1) * len * inner]);
            }
            sink.add(x, Tensor::from_parts(in_shape, gx))
        })
    }

    /// Rows of `x [N, ...]` picked by `indices` (repeats allowed):
    /// `[indices.len(), ...]`. Backward scatter-adds in index order.
    pub fn index_select(&self, x: Var, indices: &[usize]) -> Result<Var> {
        let xv = self.value(x)?;
        let s = xv.shape().to_vec();
        if s.is_empty() {
            return Err(Error::invalid("index_select", "cannot select rows of a scalar"));
        }
        let row = numel(&s[1..]);
        let mut out = Vec::with_capacity(indices.len() * row);
        for &i in indices {
            if i >= s[0] {
                return Err(Error::IndexOutOfRange { op: "index_select", index: i, size: s[0] });
            }
            out.extend_from_slice(&xv.data()[i * row..(i + 1) * row]);
        }
        let mut shape = s.clone();
        shape[0] = indices.len();
        let idx = indices.to_vec();
        self.record("index_select", Tensor::from_parts(shape, out), &[x], move |g, sink| {
            let mut gx = vec![0.0; numel(&s)];
            for (k, &i) in idx.iter().enumerate() {
                gx[i * row..(i + 1) * row]
                    .iter_mut()
                    .zip(&g.data()[k * row..(k + 1) * row])
                    .for_each(|(a, &b)| *a += b);
            }
            sink.add(x, Tensor::from_parts(s, gx))
        })
    }

    /// `y[n] = x[n, idx[n]]` for `x [N, C]`: the true class's score.
    pub fn gather(&self, x: Var, idx: &[usize]) -> Result<Var> {
        let xv = self.value(x)?;
        let s = xv.shape().to_vec();
        if s.len() != 2 || s[0] != idx.len() {
            return Err(Error::shapes("gather", &s, &[idx.len()]));
        }
        let c = s[1];
        let mut out = Vec::with_capacity(idx.len());
        for (n, &i) in idx.iter().enumerate() {
            if i >= c {
                return Err(Error::IndexOutOfRange { op: "gather", index: i, size: c });
            }
            out.push(xv.data()[n * c + i]);
        }
        let idx = idx.to_vec();
        self.record("gather", Tensor::from_parts(vec![idx.len()], out), &[x], move |g, sink| {
            let mut gx = vec![0.0; numel(&s)];
            for (n, &i) in idx.iter().enumerate() {
                gx[n * c + i] = g.data()[n];
            }
            sink.add(x, Tensor::from_parts(s, gx))
        })
    }

    /// Swaps two axes (copies).
    pub fn transpose(&self, x: Var, a: usize, b: usize) -> Result<Var> {
        let xv = self.value(x)?;
        let s = xv.shape().to_vec();
        if a >= s.len() || b >= s.len() {
            return Err(Error::invalid("transpose", format!("axes {a}, {b} of shape {s:?}")));
        }
        let mut t = s.clone();
        t.swap(a, b);
        let y = Tensor::from_parts(t.clone(), permute(xv.data(), &s, a, b));
        self.record("transpose", y, &[x], move |g, sink| {
            sink.add(x, Tensor::from_parts(s.clone(), permute(g.data(), &t, a, b)))
        })
    }
}

fn permute(data: &[f32], shape: &[usize], a: usize, b: usize) -> Vec<f32> {
    let r = shape.len();
    let mut strides = vec![1; r];
    for i in (0..r.saturating_sub(1)).rev() {
        strides[i] = strides[i + 1] * shape[i + 1];
    }
    let mut out_shape = shape.to_vec();
    out_shape.swap(a, b);
    let mut in_strides = strides.clone();
    in_strides.swap(a, b);
    let mut out = Vec::with_capacity(data.len());
    let mut idx = vec![0usize; r];
    for _ in 0..data.len() {
        out.push(data[idx.iter().zip(&in_strides).map(|(i, s)| i * s).sum::<usize>()]);
        for d in (0..r).rev() {
            idx[d] += 1;
            if idx[d] < out_shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    out
}
