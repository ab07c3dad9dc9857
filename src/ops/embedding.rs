//! Embedding lookup: row gather forward, deterministic scatter-add backward.

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::pool::Buf;
use crate::tape::{Tape, Var};
use crate::tensor::Tensor;

impl Tape {
    /// Rows of `weight [V, D]` for `ids` (laid out as `shape`) → `shape ++ [D]`.
    /// The `padding_idx` row gets no gradient, so it stays as initialised (zero).
    pub fn embedding(&self, weight: Var, ids: &[usize], shape: &[usize], padding_idx: Option<usize>) -> Result<Var> {
        let wv = self.value(weight)?;
        if wv.rank() != 2 {
            return Err(Error::invalid("embedding", format!("weight must be [vocab, dim], got {:?}", wv.shape())));
        }
        let (v, d) = (wv.shape()[0], wv.shape()[1]);
        if ids.len() != shape.iter().product::<usize>() {
            return Err(Error::invalid("embedding", format!("{} ids for shape {shape:?}", ids.len())));
        }
        if let Some(&bad) = ids.iter().find(|&&i| i >= v) {
            return Err(Error::IndexOutOfRange { op: "embedding", index: bad, size: v });
        }
        let out = gather_rows(wv.data(), d, ids);
        let mut out_shape = shape.to_vec();
        out_shape.push(d);
        let ids = ids.to_vec();
        self.record("embedding", Tensor::from_parts(out_shape, out), &[weight], move |g, sink| {
            let (start, order) = embedding_buckets(&ids, v);
            let gw = embedding_backward(g.data(), d, &start, &order, padding_idx);
            sink.add(weight, Tensor::from_parts(vec![v, d], gw))
        })
    }
}

// The CPU kernels, shared with the CUDA self-check (kernels/embedding.cu).

/// Rows of `weight [V, d]` at `ids` → `[ids.len(), d]`.
pub(crate) fn embedding_forward(weight: &[f32], d: usize, ids: &[usize]) -> Vec<f32> {
    gather_rows(weight, d, ids).into_vec()
}

/// [`embedding_forward`] into a pooled buffer (every row is copied into).
fn gather_rows(weight: &[f32], d: usize, ids: &[usize]) -> Buf {
    let mut out = Buf::scratch(ids.len() * d);
    crate::ops::cpu::for_rows(&mut out, d, |r, row| row.copy_from_slice(&weight[ids[r] * d..(ids[r] + 1) * d]));
    out
}

/// Positions bucketed by vocabulary row (a counting sort): row `v` owns
/// `order[start[v]..start[v + 1]]`, positions in ascending order.
pub(crate) fn embedding_buckets(ids: &[usize], vocab: usize) -> (Vec<usize>, Vec<usize>) {
    let mut start = vec![0usize; vocab + 1];
    for &i in ids {
        start[i + 1] += 1;
    }
    for i in 0..vocab {
        start[i + 1] += start[i];
    }
    let mut fill = start.clone();
    let mut order = vec![0usize; ids.len()];
    for (pos, &i) in ids.iter().enumerate() {
        order[fill[i]] = pos;
        fill[i] += 1;
    }
    (start, order)
}

/// dLoss/dweight `[V, d]`: each row sums its positions' gradient rows in
/// ascending order (deterministic without atomics); the padding row gets none.
pub(crate) fn embedding_backward(
    g: &[f32],
    d: usize,
    start: &[usize],
    order: &[usize],
    padding_idx: Option<usize>,
) -> Vec<f32> {
    let vocab = start.len() - 1;
    let mut gw = vec![0.0f32; vocab * d];
    if d == 0 {
        return gw;
    }
    gw.par_chunks_mut(d).enumerate().for_each(|(row, acc)| {
        if Some(row) == padding_idx {
            return;
        }
        for &pos in &order[start[row]..start[row + 1]] {
            acc.iter_mut().zip(&g[pos * d..(pos + 1) * d]).for_each(|(a, &x)| *a += x);
        }
    });
    gw
}
