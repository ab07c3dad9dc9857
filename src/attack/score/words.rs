//! Word flips `w_i → w_j` scored `g_t · E_j − g_t · E_i` (HotFlip §3.2, on
//! the table the model reads): the word attack and `word-sem`/`word-unk`
//! training share it.

/// The scores of replacing one position's word, given the gradient there.
#[derive(Clone, Copy)]
pub struct PositionScores<'a> {
    g: &'a [f32],
    table: &'a [f32],
    base: f32,
}

impl<'a> PositionScores<'a> {
    /// `g` is the gradient at the position (length D), `table` the `[V, D]`
    /// word table, `from` the word there now.
    pub fn new(g: &'a [f32], table: &'a [f32], from: usize) -> Self {
        let mut s = PositionScores { g, table, base: 0.0 };
        s.base = s.dot(from);
        s
    }

    /// `g · E_id`, summed in component order (every caller's scores are
    /// then the same f32s).
    fn dot(&self, id: usize) -> f32 {
        let d = self.g.len();
        self.g.iter().zip(&self.table[id * d..(id + 1) * d]).map(|(a, b)| a * b).sum()
    }

    /// The first-order change of the loss for flipping to `to`.
    pub fn gain(&self, to: usize) -> f32 {
        self.dot(to) - self.base
    }
}

/// The best flip of one document: over its first `len` positions (ids
/// below 2, PAD and UNK, are never flipped) and the candidates
/// `candidates(t, id)` of each, the highest-scoring `(gain, position, to)`;
/// the first of equal gains.
pub fn best_flip<'c>(
    g: &[f32],
    table: &[f32],
    ids: &[usize],
    dim: usize,
    candidates: impl Fn(usize, usize) -> &'c [usize],
) -> Option<(f32, usize, usize)> {
    let mut best: Option<(f32, usize, usize)> = None;
    for (t, &id) in ids.iter().enumerate() {
        if id < 2 {
            continue;
        }
        let s = PositionScores::new(&g[t * dim..(t + 1) * dim], table, id);
        for &j in candidates(t, id) {
            let gain = s.gain(j);
            if best.is_none_or(|(b, _, _)| gain > b) {
                best = Some((gain, t, j));
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gains_are_the_gradient_dotted_with_the_difference() {
        // E_0 = (0, 0), E_1 = (1, 0), E_2 = (0, 1), E_3 = (2, 2).
        let table = [0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 2.0, 2.0];
        let g = [0.5, -1.0];
        let s = PositionScores::new(&g, &table, 2);
        assert_eq!(s.gain(1), 0.5 + 1.0);
        assert_eq!(s.gain(3), 1.0 - 2.0 + 1.0);
        assert_eq!(s.gain(2), 0.0);
    }

    #[test]
    fn best_flip_skips_reserved_ids_and_keeps_the_first_of_ties() {
        let table = [0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 2.0, 2.0];
        let g = [1.0, 0.0, 1.0, 0.0, 9.0, 9.0];
        let cands = [1usize, 2, 3];
        // Position 2 holds UNK (1): skipped despite its large gradient.
        let best = best_flip(&g, &table, &[2, 2, 1], 2, |_, _| &cands);
        assert_eq!(best, Some((2.0, 0, 3)));
        assert_eq!(best_flip(&g, &table, &[0, 1], 2, |_, _| &cands), None);
    }
}
