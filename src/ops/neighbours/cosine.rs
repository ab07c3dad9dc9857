//! Cosine neighbours of words: the word attack's cosine constraint and
//! `word-sem` training's candidate words read the same unit table.
//!
//! The zero-norm rule: a row of norm 0 (a word never trained, or an
//! all-zero row) stays the zero vector, so its cosine with every word is 0
//! and it is never within a positive threshold of any word, nor any word
//! of it. Every other row is divided by its norm.

use std::collections::HashMap;

use crate::ops::gemm::{self, View, ViewMut};

use super::FIRST_WORD as FIRST;

/// The unit rows of a `[V, D]` embedding table.
#[derive(Clone, Debug)]
pub struct CosineNeighbours {
    unit: Vec<f32>,
    vocab: usize,
    dim: usize,
}

impl CosineNeighbours {
    /// Normalises each row of `table` (`vocab × dim`, row-major) under the
    /// module's zero-norm rule.
    pub fn new(table: &[f32], vocab: usize, dim: usize) -> Self {
        let mut unit = table[..vocab * dim].to_vec();
        for row in unit.chunks_mut(dim.max(1)) {
            let n = row.iter().map(|x| x * x).sum::<f32>().sqrt();
            if n > 0.0 {
                row.iter_mut().for_each(|x| *x /= n);
            }
        }
        CosineNeighbours { unit, vocab, dim }
    }

    /// Rows in the table.
    pub fn vocab(&self) -> usize {
        self.vocab
    }

    fn row(&self, id: usize) -> &[f32] {
        &self.unit[id * self.dim..(id + 1) * self.dim]
    }

    /// The cosine of words `i` and `j` (summed in component order).
    pub fn cosine(&self, i: usize, j: usize) -> f32 {
        self.row(i).iter().zip(self.row(j)).map(|(a, b)| a * b).sum()
    }

    /// Every other real word `j` (id ≥ 2, not `id`) with its cosine to
    /// `id`, in id order.
    pub fn cosines(&self, id: usize) -> impl Iterator<Item = (usize, f32)> + '_ {
        (FIRST..self.vocab).filter(move |&j| j != id).map(move |j| (j, self.cosine(id, j)))
    }

    /// For each distinct real word of `ids` (ids below 2 are skipped), the
    /// other real words of cosine above `threshold`, in id order: one GEMM
    /// of those words' unit rows against the whole table, for a batch of
    /// many words (a training step). The GEMM sums in its own order, so a
    /// cosine within an ulp of the threshold may fall the other way than in
    /// [`cosines`](Self::cosines).
    pub fn above_for_each(&self, ids: &[usize], threshold: f32) -> HashMap<usize, Vec<usize>> {
        let (v, d) = (self.vocab, self.dim);
        let mut ids: Vec<usize> = ids.iter().copied().filter(|&i| i >= FIRST && i < v).collect();
        ids.sort_unstable();
        ids.dedup();
        let q: Vec<f32> = ids.iter().flat_map(|&i| self.row(i).iter().copied()).collect();
        let mut sims = vec![0.0f32; ids.len() * v];
        gemm::matmul(
            View::rm(&q, ids.len(), d),
            View::t(&self.unit, d, v),
            ViewMut::rm(&mut sims, ids.len(), v),
            false,
        );
        ids.iter()
            .enumerate()
            .map(|(k, &id)| {
                let row = &sims[k * v..(k + 1) * v];
                (id, (FIRST..v).filter(|&j| j != id && row[j] > threshold).collect())
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows: PAD, UNK, (1, 0), (2, 0), (0, 3), (0, 0), (1, 1).
    fn table() -> CosineNeighbours {
        let t = [0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 2.0, 0.0, 0.0, 3.0, 0.0, 0.0, 1.0, 1.0];
        CosineNeighbours::new(&t, 7, 2)
    }

    #[test]
    fn rows_are_unit_and_a_zero_row_stays_zero() {
        let c = table();
        assert!((c.cosine(2, 3) - 1.0).abs() < 1e-6);
        assert_eq!(c.cosine(2, 4), 0.0);
        assert!((c.cosine(2, 6) - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-6);
        // The zero row: cosine 0 with everything, itself included.
        assert!((2..7).all(|j| c.cosine(5, j) == 0.0));
    }

    #[test]
    fn cosines_skip_reserved_ids_and_the_word_itself() {
        let c = table();
        let ids: Vec<usize> = c.cosines(3).map(|(j, _)| j).collect();
        assert_eq!(ids, vec![2, 4, 5, 6]);
    }

    #[test]
    fn the_batched_query_agrees_with_the_scan() {
        let c = table();
        let got = c.above_for_each(&[0, 1, 2, 5, 6, 2], 0.5);
        assert_eq!(got.len(), 3);
        for (id, js) in &got {
            let want: Vec<usize> = c.cosines(*id).filter(|&(_, cos)| cos > 0.5).map(|(j, _)| j).collect();
            assert_eq!(js, &want, "word {id}");
        }
        assert_eq!(got[&2], vec![3, 6]);
        assert!(got[&5].is_empty());
    }
}
