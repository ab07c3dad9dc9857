//! The two baselines of Sato et al. (2018) Table 3 that restrict iAdvT's
//! perturbation to ONE of the K nearest-word directions per position:
//!
//! - iAdvT-Rand: the direction towards one of the K nearest words picked
//!   uniformly at random (no gradient involved);
//! - iAdvT-Best: the single best direction, `k* = argmax_k α_{t,k}` of
//!   iAdvT's α (Sato et al. Eq. 13, `α = ε ĝ/‖ĝ‖` with `ĝ_{t,k} = g_t·d_{t,k}`),
//!   i.e. the nearest word whose direction raises the loss most.
//!
//! Both keep iAdvT's budget: the one-hot weights are rescaled to norm ε over
//! the same scope as iAdvT's α (per example by default), then
//! `r_t = Σ_k α_{t,k} d_{t,k}` as for iAdvT. The neighbour search, the
//! directions and the projection are iAdvT's own (`ops::neighbours`).

use crate::error::Result;
use crate::ops::neighbours::{self, AlphaScope, Table};
use crate::rng::Rng;

/// Which single direction each position keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OneDirection {
    /// A uniformly random one of the K nearest words.
    Random,
    /// The one with the largest ĝ (hence the largest α).
    Best,
}

/// What one-direction perturbation chose, `[P, K]` / `[P, D]`.
#[derive(Clone, Debug, PartialEq)]
pub struct OneDirectionPerturbation {
    /// The K nearest words per position (nearest first).
    pub ids: Vec<usize>,
    /// The index in 0..K each position kept.
    pub chosen: Vec<usize>,
    /// α: zero but at `chosen`, norm ε per scope group.
    pub alpha: Vec<f32>,
    /// The perturbation rows `[P, D]`.
    pub r: Vec<f32>,
}

/// The chosen index per position: a random one, or the argmax of `ghat`
/// (`[P, K]`; the first on ties).
pub fn choose(kind: OneDirection, ghat: &[f32], k: usize, rng: &mut Rng) -> Vec<usize> {
    ghat.chunks(k)
        .map(|row| match kind {
            OneDirection::Random => rng.below(k),
            OneDirection::Best => {
                let mut best = 0;
                for (j, &v) in row.iter().enumerate() {
                    if v > row[best] {
                        best = j;
                    }
                }
                best
            }
        })
        .collect()
}

/// The weights `[P, K]` before iAdvT's normalisation to ε: zero but at
/// each position's `chosen` direction, which keeps its ĝ for Best (its sign
/// kept, as iAdvT's α has it) and 1 for Rand.
pub fn one_hot(kind: OneDirection, ghat: &[f32], chosen: &[usize], k: usize) -> Vec<f32> {
    let mut sparse = vec![0.0f32; chosen.len() * k];
    for (t, &j) in chosen.iter().enumerate() {
        sparse[t * k + j] = match kind {
            OneDirection::Best => ghat[t * k + j],
            OneDirection::Random => 1.0,
        };
    }
    sparse
}

/// iAdvT-Rand / iAdvT-Best for P positions of `lengths.len()` examples:
/// `ids [P]` their words, `w [P, D]` their vectors, `g [P, D]` the loss
/// gradient there.
#[allow(clippy::too_many_arguments)]
pub fn one_direction(
    kind: OneDirection,
    table: Table<'_>,
    ids: &[usize],
    w: &[f32],
    g: &[f32],
    lengths: &[usize],
    k: usize,
    scope: AlphaScope,
    eps: f32,
    rng: &mut Rng,
) -> Result<OneDirectionPerturbation> {
    let nearest = neighbours::nearest(table, ids, w, k)?;
    let ghat = match kind {
        OneDirection::Best => neighbours::alpha_grad(table, w, &nearest.ids, k, g)?,
        OneDirection::Random => vec![0.0; nearest.ids.len()],
    };
    let chosen = choose(kind, &ghat, k, rng);
    let alpha = neighbours::alpha(&one_hot(kind, &ghat, &chosen, k), k, lengths, scope, eps)?;
    let r = neighbours::perturbation(table, w, &nearest.ids, k, &alpha)?;
    Ok(OneDirectionPerturbation { ids: nearest.ids, chosen, alpha, r })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 6 words in 2-d; position vectors are rows of the table.
    fn table() -> Vec<f32> {
        vec![
            0.0, 0.0, // PAD
            9.0, 9.0, // UNK
            0.0, 0.0, // 2
            1.0, 0.0, // 3
            0.0, 2.0, // 4
            -3.0, 0.0, // 5
            0.0, -4.0, // 6
        ]
    }

    fn run(kind: OneDirection, g: &[f32], seed: u64) -> OneDirectionPerturbation {
        let data = table();
        let t = Table::new(&data, 7, 2).unwrap();
        let (ids, w) = (vec![2usize, 3], vec![0.0, 0.0, 1.0, 0.0]);
        one_direction(kind, t, &ids, &w, g, &[2], 3, AlphaScope::PerExample, 2.0, &mut Rng::new(seed)).unwrap()
    }

    #[test]
    fn best_keeps_the_direction_most_aligned_with_the_gradient() {
        // Word 2 at the origin: nearest 3 (+x), 4 (+y), 5 (−x). g points −x, so 5 is best.
        // Word 3 at (1,0): nearest 2 (−x), 4 (−1,2)/√5, 5 (−x). g = +y: 4 is best.
        let p = run(OneDirection::Best, &[-1.0, 0.0, 0.0, 1.0], 0);
        assert_eq!(&p.ids[..3], &[3, 4, 5]);
        assert_eq!(&p.ids[3..], &[2, 4, 5]);
        assert_eq!(p.chosen, vec![2, 1]);
        // α: one non-zero per position, norm ε over the example.
        let nz: Vec<usize> = p.alpha.iter().enumerate().filter(|(_, &a)| a != 0.0).map(|(i, _)| i).collect();
        assert_eq!(nz, vec![2, 4]);
        let norm = p.alpha.iter().map(|a| a * a).sum::<f32>().sqrt();
        assert!((norm - 2.0).abs() < 1e-5, "{norm}");
        // r_0 points to word 5 (−x), r_1 towards word 4 from (1,0): (−1, 2)/√5.
        assert!(p.r[0] < 0.0 && p.r[1].abs() < 1e-6, "{:?}", p.r);
        let s5 = 5f32.sqrt();
        assert!((p.r[2] / p.r[3] - (-1.0 / s5) / (2.0 / s5)).abs() < 1e-5, "{:?}", p.r);
    }

    #[test]
    fn best_differs_from_full_iadvt_and_follows_the_gradient() {
        let a = run(OneDirection::Best, &[0.0, 1.0, 0.0, 1.0], 0);
        let b = run(OneDirection::Best, &[1.0, 0.0, 0.0, 1.0], 0);
        assert_eq!(a.chosen[0], 1, "+y gradient at the origin picks word 4");
        assert_eq!(b.chosen[0], 0, "+x gradient at the origin picks word 3");
    }

    #[test]
    fn random_ignores_the_gradient_and_depends_on_the_seed() {
        let g1 = [1.0, 0.0, 0.0, 1.0];
        let g2 = [-1.0, 0.0, 5.0, -1.0];
        let a = run(OneDirection::Random, &g1, 7);
        assert_eq!(a, run(OneDirection::Random, &g2, 7), "no gradient involved");
        // Over seeds, every one of the K directions gets picked.
        let mut seen = [false; 3];
        for s in 0..40 {
            seen[run(OneDirection::Random, &g1, s).chosen[0]] = true;
        }
        assert_eq!(seen, [true; 3]);
        let norm = a.alpha.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 2.0).abs() < 1e-5);
        assert!(a.alpha.iter().all(|&x| x >= 0.0), "towards the word, never away");
    }
}
