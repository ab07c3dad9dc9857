//! Embedding lookup: row gather forward, deterministic scatter-add backward.

use rayon::prelude::*;

use crate::error::{Error, Result};
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
        let mut out = vec![0.0f32; ids.len() * d];
        let wd = wv.data();
        crate::ops::cpu::for_rows(&mut out, d, |r, row| row.copy_from_slice(&wd[ids[r] * d..(ids[r] + 1) * d]));
        let mut out_shape = shape.to_vec();
        out_shape.push(d);
        let ids = ids.to_vec();
        self.record("embedding", Tensor::from_parts(out_shape, out), &[weight], move |g, sink| {
            // Bucket positions by row (counting sort), then each row sums its
            // positions in ascending order: deterministic without atomics.
            let mut start = vec![0usize; v + 1];
            for &i in &ids {
                start[i + 1] += 1;
            }
            for i in 0..v {
                start[i + 1] += start[i];
            }
            let mut fill = start.clone();
            let mut order = vec![0usize; ids.len()];
            for (pos, &i) in ids.iter().enumerate() {
                order[fill[i]] = pos;
                fill[i] += 1;
            }
            let gd = g.data();
            let mut gw = vec![0.0f32; v * d];
            gw.par_chunks_mut(d).enumerate().for_each(|(row, acc)| {
                if Some(row) == padding_idx {
                    return;
                }
                for &pos in &order[start[row]..start[row + 1]] {
                    acc.iter_mut().zip(&gd[pos * d..(pos + 1) * d]).for_each(|(a, &x)| *a += x);
                }
            });
            sink.add(weight, Tensor::from_parts(vec![v, d], gw))
        })
    }
}
