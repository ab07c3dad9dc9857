//! First-order scores of word flips, `g · E_j` for every vocabulary word j,
//! for many gradient rows at once (one per attacked position of each beam
//! entry).
//!
//! Without a cosine threshold a position may flip to almost any of the
//! vocabulary's words, so the word attack's time went into these dot
//! products, one at a time. Each is a sum over the embedding dimension in
//! order, and a change of that order would change the scores in their last
//! bits, and so the reported gains and, on near ties, the attack's path. So
//! the speed comes from computing 16 words' sums side by side (one per SIMD
//! lane, each still summed in dimension order, from −0.0 as `Iterator::sum`
//! does), from a table laid out in 16-word panels that stay in the L1 cache
//! while every gradient row passes over them, and from both cores taking
//! different stretches of the vocabulary.

use rayon::prelude::*;

/// Words per panel: one 512-bit register of f32.
const LANES: usize = 16;
/// Gradient rows per micro-kernel step (4 × 16 accumulators).
const ROWS: usize = 4;
/// Panels per parallel task.
const PANELS_PER_TASK: usize = 16;

/// The embedding table `[V, D]` rearranged as panels of 16 words, each
/// panel `[D, 16]` contiguous; words past V are zero.
pub struct FlipTable {
    v: usize,
    d: usize,
    panels: Vec<f32>,
}

/// `g · E_j` for each row and word: rows × V values, stored by task
/// (a stretch of `PANELS_PER_TASK` panels), then row, then word.
pub struct FlipScores {
    rows: usize,
    v: usize,
    data: Vec<f32>,
}

impl FlipScores {
    /// The storage, for the next [`FlipTable::scores`].
    pub fn into_buffer(self) -> Vec<f32> {
        self.data
    }

    /// The score of word `j` for gradient row `r`.
    pub fn get(&self, r: usize, j: usize) -> f32 {
        let span = PANELS_PER_TASK * LANES;
        let (t, off) = (j / span, j % span);
        let width = span.min(self.v - t * span);
        self.data[t * span * self.rows + r * width + off]
    }
}

impl FlipTable {
    /// Panels of `table` (`v` rows of `d`).
    pub fn new(table: &[f32], v: usize, d: usize) -> Self {
        let n_panels = v.div_ceil(LANES);
        let mut panels = vec![0.0f32; n_panels * d * LANES];
        for j in 0..v {
            let (p, l) = (j / LANES, j % LANES);
            for k in 0..d {
                panels[(p * d + k) * LANES + l] = table[j * d + k];
            }
        }
        FlipTable { v, d, panels }
    }

    /// `g · E_j` for every word j and every row g of `rows` (each `d` long),
    /// bit for bit `g.iter().zip(e_j).map(|(a, b)| a * b).sum::<f32>()`;
    /// written into `buf` (a previous result's [`FlipScores::into_buffer`],
    /// or empty), whose contents do not matter.
    pub fn scores(&self, rows: &[&[f32]], mut buf: Vec<f32>) -> FlipScores {
        let (v, d, n) = (self.v, self.d, rows.len());
        assert!(rows.iter().all(|r| r.len() == d), "gradient rows must have the embedding's width");
        let span = PANELS_PER_TASK * LANES;
        // Every value is overwritten below: only the length matters.
        buf.resize(n * v, 0.0);
        buf.truncate(n * v);
        let mut data = buf;
        if n > 0 && v > 0 {
            data.par_chunks_mut(span * n).enumerate().for_each(|(t, out)| {
                let width = out.len() / n;
                let first = t * PANELS_PER_TASK;
                let panels = &self.panels[first * d * LANES..(first + width.div_ceil(LANES)) * d * LANES];
                stretch(panels, d, rows, width, out);
            });
        }
        FlipScores { rows: n, v, data }
    }
}

/// One task's stretch of words: `out[r * width + w]` for its `width` words.
fn stretch(panels: &[f32], d: usize, rows: &[&[f32]], width: usize, out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if avx512() {
        // SAFETY: avx512f was detected at run time.
        return unsafe { stretch_avx512(panels, d, rows, width, out) };
    }
    stretch_portable(panels, d, rows, width, out)
}

#[cfg(target_arch = "x86_64")]
fn avx512() -> bool {
    static AVX512: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AVX512.get_or_init(|| std::is_x86_feature_detected!("avx512f"))
}

/// The same code compiled for 512-bit registers (separate multiplies and
/// adds: Rust never fuses them, so the rounding is the scalar one).
///
/// # Safety
/// avx512f must be available.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn stretch_avx512(panels: &[f32], d: usize, rows: &[&[f32]], width: usize, out: &mut [f32]) {
    stretch_portable(panels, d, rows, width, out)
}

#[inline(always)]
fn stretch_portable(panels: &[f32], d: usize, rows: &[&[f32]], width: usize, out: &mut [f32]) {
    for (p, panel) in panels.chunks_exact(d * LANES).enumerate() {
        let lanes = LANES.min(width - p * LANES);
        let mut r = 0;
        while r < rows.len() {
            let q = ROWS.min(rows.len() - r);
            let acc = if q == ROWS {
                kernel::<ROWS>(panel, d, &rows[r..r + ROWS])
            } else {
                let mut acc = [[0.0f32; LANES]; ROWS];
                for (i, g) in rows[r..r + q].iter().enumerate() {
                    acc[i] = kernel::<1>(panel, d, std::slice::from_ref(g))[0];
                }
                acc
            };
            for (i, a) in acc.iter().take(q).enumerate() {
                let at = (r + i) * width + p * LANES;
                out[at..at + lanes].copy_from_slice(&a[..lanes]);
            }
            r += q;
        }
    }
}

/// `Q` rows against one panel: 16 sums per row, each over the dimension
/// in order.
#[inline(always)]
fn kernel<const Q: usize>(panel: &[f32], d: usize, rows: &[&[f32]]) -> [[f32; LANES]; ROWS] {
    let mut acc = [[-0.0f32; LANES]; ROWS];
    let rows: [&[f32]; Q] = std::array::from_fn(|i| &rows[i][..d]);
    for (k, e) in panel.chunks_exact(LANES).enumerate().take(d) {
        for i in 0..Q {
            let g = rows[i][k];
            for l in 0..LANES {
                acc[i][l] += g * e[l];
            }
        }
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn dot(g: &[f32], e: &[f32]) -> f32 {
        g.iter().zip(e).map(|(a, b)| a * b).sum()
    }

    #[test]
    fn scores_equal_sequential_dot_products_bit_for_bit() {
        let mut rng = Rng::new(11);
        for (v, d, n) in [(1, 1, 1), (17, 5, 3), (300, 37, 9), (600, 64, 4), (1000, 3, 13)] {
            // Mixed magnitudes, so that a different summation order would
            // round differently; zeros and negative zeros for the sign of
            // empty-looking sums.
            let table: Vec<f32> = (0..v * d)
                .map(|i| match i % 7 {
                    0 => 0.0,
                    1 => -0.0,
                    _ => rng.normal() * 10f32.powi((i % 5) as i32 - 2),
                })
                .collect();
            let grads: Vec<Vec<f32>> = (0..n)
                .map(|r| (0..d).map(|k| if r == 0 { -0.0 } else { rng.normal() * (1 + k % 3) as f32 }).collect())
                .collect();
            let rows: Vec<&[f32]> = grads.iter().map(Vec::as_slice).collect();
            let s = FlipTable::new(&table, v, d).scores(&rows, Vec::new());
            for (r, g) in grads.iter().enumerate() {
                for j in 0..v {
                    let want = dot(g, &table[j * d..(j + 1) * d]);
                    assert_eq!(s.get(r, j).to_bits(), want.to_bits(), "v {v} d {d} row {r} word {j}");
                }
            }
        }
    }

    #[test]
    fn a_changed_table_entry_changes_its_score() {
        let (v, d) = (40, 8);
        let mut table = vec![1.0f32; v * d];
        table[33 * d + 2] = 5.0;
        let g = vec![1.0f32; d];
        let s = FlipTable::new(&table, v, d).scores(&[&g], vec![7.0; 3]);
        assert_eq!(s.get(0, 33), 12.0);
        assert_eq!(s.get(0, 32), 8.0);
        assert_eq!(FlipTable::new(&table, v, d).scores(&[], Vec::new()).data.len(), 0);
    }
}
