//! Nearest-neighbour directions for iAdvT-Text and iVAT-Text (Sato et al.
//! 2018; ../shared/spec/ATTACKS.md), batched over positions.
//!
//! The contract. Inputs: the embedding table `E [V, D]` as the model reads
//! it, and for `P` positions their word ids `ids [P]`, their vectors
//! `w [P, D]` (usually `E[ids]`, but any vectors) and the loss gradient
//! there, `g [P, D]`.
//! - Candidates for position t: vocabulary rows with id ≥ 2 (0 = PAD and
//!   1 = UNK are not words) other than `ids[t]`; the K nearest to `w_t` by
//!   Euclidean distance, ties to the lower id.
//! - Directions `d_{t,k} = (E_k − w_t) / ‖E_k − w_t‖`, exactly 0 when
//!   `E_k == w_t` (a duplicate vector).
//! - `ĝ_{t,k} = g_t · d_{t,k}`; `α = ε ĝ / ‖ĝ‖₂` with the norm over one
//!   example's positions and all K ([`AlphaScope::PerExample`], Sato et
//!   al.'s iAdvT, as AdvT normalises over the sequence) or over one
//!   position's K ([`AlphaScope::PerPosition`], ATTACKS.md's formula as
//!   written); α = 0 where that norm is 0.
//! - `r_t = Σ_k α_{t,k} d_{t,k}`.
//!
//! For iVAT the same projection is the chain rule: with g the gradient
//! with respect to the perturbed embeddings, `g · d` is the gradient with
//! respect to α ([`alpha_grad`]).
//!
//! How: [`search()`] never builds `[P, V, D]` or `[P, V]`. It tiles positions
//! × vocabulary, computes `‖E_v‖² − 2 w_t·E_v` (the squared distance less
//! the constant `‖w_t‖²`) for a tile with the project's GEMM and keeps a
//! sorted top-K per position; [`directions`](mod@directions) then works on
//! the K chosen rows only. Every stage is also a CUDA kernel
//! (`kernels/neighbours.cu`) whose CPU twin is the function here.

pub mod cosine;
pub mod directions;
pub mod search;
mod sums;

use crate::error::{Error, Result};

pub use cosine::CosineNeighbours;
pub use directions::{alpha_scale, dir_norms, group_offsets, perturb, project};
pub use search::{search, search_range, sq_norms, Partial};

/// The first id that can be a neighbour: 0 (PAD) and 1 (UNK) are not words.
pub const FIRST_WORD: usize = 2;

/// The embedding table `[vocab, dim]`, row-major f32, as the model reads it.
#[derive(Clone, Copy, Debug)]
pub struct Table<'a> {
    /// `[vocab, dim]` row-major; row `v` is word id `v`'s vector.
    pub data: &'a [f32],
    /// Rows V, including PAD (0) and UNK (1), which are never neighbours.
    pub vocab: usize,
    /// Embedding width D (≥ 1).
    pub dim: usize,
}

impl<'a> Table<'a> {
    /// Checks `data.len() == vocab · dim` and `dim ≥ 1`; an error otherwise
    /// (the table usually comes from a checkpoint, so bad sizes are user input).
    pub fn new(data: &'a [f32], vocab: usize, dim: usize) -> Result<Self> {
        if dim == 0 {
            return Err(Error::invalid("neighbours", "the embedding dimension must be at least 1"));
        }
        if vocab.checked_mul(dim) != Some(data.len()) {
            return Err(Error::DataLength { shape: vec![vocab, dim], expected: vocab * dim, got: data.len() });
        }
        Ok(Table { data, vocab, dim })
    }

    /// Row `v` (`v < vocab`).
    pub fn row(&self, v: usize) -> &'a [f32] {
        &self.data[v * self.dim..(v + 1) * self.dim]
    }
}

/// Over which positions α is normalised.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlphaScope {
    /// `‖ĝ‖` over one example's positions and all K (Sato et al.'s iAdvT).
    #[default]
    PerExample,
    /// `‖ĝ_t‖` over one position's K (ATTACKS.md's formula as written).
    PerPosition,
}

/// iAdvT's settings: K neighbours, the radius ε, the α scope.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct IadvtConfig {
    /// Neighbours per position (K); at most the number of candidate words.
    pub k: usize,
    /// Perturbation radius ε, in embedding units: the norm of α (not of
    /// `r`, whose norm also depends on how the directions align).
    pub eps: f32,
    /// Over which positions `‖ĝ‖` is taken when normalising α.
    pub scope: AlphaScope,
}

impl Default for IadvtConfig {
    /// ATTACKS.md: K = 10, ε = 15, normalised per example.
    fn default() -> Self {
        IadvtConfig { k: 10, eps: 15.0, scope: AlphaScope::PerExample }
    }
}

/// The K nearest words of each position, nearest first.
#[derive(Clone, Debug, PartialEq)]
pub struct Nearest {
    /// K, the row length of `ids` and `dist`.
    pub k: usize,
    /// `[P, K]` word ids.
    pub ids: Vec<usize>,
    /// `[P, K]` Euclidean distances `‖E_k − w_t‖`, recomputed from the
    /// chosen rows (the search ranks by `‖E_v‖² − 2 w_t·E_v`; where two
    /// distances differ by less than that value's f32 rounding they may
    /// appear out of order here).
    pub dist: Vec<f32>,
}

/// Everything iAdvT needs at a batch of positions.
#[derive(Clone, Debug, PartialEq)]
pub struct Neighbours {
    /// K, the row length of every `[P, K]` field.
    pub k: usize,
    /// Embedding width D, the row length of every `[P, D]` field.
    pub dim: usize,
    /// `[P, K]`, nearest first.
    pub ids: Vec<usize>,
    /// `[P, K]` Euclidean distances (see [`Nearest::dist`]).
    pub dist: Vec<f32>,
    /// `[P, K]` `ĝ = g · d`.
    pub ghat: Vec<f32>,
    /// `[P, K]` `α = ε ĝ / ‖ĝ‖` in the chosen scope.
    pub alpha: Vec<f32>,
    /// `[P, D]` `r_t = Σ_k α_{t,k} d_{t,k}`.
    pub r: Vec<f32>,
}

/// The K nearest candidate words of each position (`ids [P]`, `w [P, D]`).
pub fn nearest(table: Table<'_>, ids: &[usize], w: &[f32], k: usize) -> Result<Nearest> {
    check_positions(table, ids, w, k)?;
    let norms = sq_norms(table);
    let found = search(table, &norms, ids, w, k)?.into_ids("neighbours")?;
    let (dist, _) = dir_norms(table, w, &found, k);
    Ok(Nearest { k, ids: found, dist })
}

/// The unit directions `d [P, K, D]` from each position to its given
/// neighbours `nbr [P, K]` (0 for a neighbour equal to the position's
/// vector): the interpretation view.
pub fn directions(table: Table<'_>, w: &[f32], nbr: &[usize], k: usize) -> Result<Vec<f32>> {
    let p = check_neighbours(table, w, nbr, k)?;
    let (_, inv) = dir_norms(table, w, nbr, k);
    let d = table.dim;
    let mut out = vec![0.0f32; p * k * d];
    crate::ops::cpu::for_rows(&mut out, k * d, |t, dirs| {
        let wt = &w[t * d..(t + 1) * d];
        for (j, dir) in dirs.chunks_mut(d).enumerate() {
            let (e, s) = (table.row(nbr[t * k + j]), inv[t * k + j]);
            for ((o, &ev), &wv) in dir.iter_mut().zip(e).zip(wt) {
                *o = ((ev - wv) as f64 * s) as f32;
            }
        }
    });
    Ok(out)
}

/// `ĝ [P, K] = g_t · d_{t,k}` for given neighbours: iAdvT's ĝ, and for
/// iVAT (g the gradient with respect to the perturbed embeddings) the
/// gradient with respect to α.
pub fn alpha_grad(table: Table<'_>, w: &[f32], nbr: &[usize], k: usize, g: &[f32]) -> Result<Vec<f32>> {
    check_neighbours(table, w, nbr, k)?;
    check_len("gradient", g.len(), w.len())?;
    let (_, inv) = dir_norms(table, w, nbr, k);
    Ok(project(table, w, nbr, &inv, g, k))
}

/// `α [P, K] = ε ĝ / ‖ĝ‖` over the groups `scope` and the per-example
/// position counts `lengths` define (α = 0 where the norm is 0).
pub fn alpha(ghat: &[f32], k: usize, lengths: &[usize], scope: AlphaScope, eps: f32) -> Result<Vec<f32>> {
    if k == 0 || !ghat.len().is_multiple_of(k) {
        return Err(Error::invalid("neighbours", format!("ĝ holds {} values, not a multiple of K = {k}", ghat.len())));
    }
    let offsets = group_offsets(lengths, scope, ghat.len() / k)?;
    Ok(alpha_scale(ghat, &offsets, k, eps))
}

/// iAdvT's perturbation `r [P, D] = Σ_k α_{t,k} d_{t,k}` for given
/// neighbours and α (iVAT's perturbation from its own α).
pub fn perturbation(table: Table<'_>, w: &[f32], nbr: &[usize], k: usize, alpha: &[f32]) -> Result<Vec<f32>> {
    check_neighbours(table, w, nbr, k)?;
    check_len("α", alpha.len(), nbr.len())?;
    let (_, inv) = dir_norms(table, w, nbr, k);
    Ok(perturb(table, w, nbr, &inv, alpha, k))
}

/// The whole computation: neighbours, distances, ĝ, α and r for P
/// positions of `lengths.len()` examples (`lengths` sums to P).
pub fn iadvt(
    table: Table<'_>,
    ids: &[usize],
    w: &[f32],
    g: &[f32],
    lengths: &[usize],
    cfg: &IadvtConfig,
) -> Result<Neighbours> {
    let k = cfg.k;
    check_positions(table, ids, w, k)?;
    check_len("gradient", g.len(), w.len())?;
    let offsets = group_offsets(lengths, cfg.scope, ids.len())?;
    let norms = sq_norms(table);
    let nbr = search(table, &norms, ids, w, k)?.into_ids("neighbours")?;
    let (dist, inv) = dir_norms(table, w, &nbr, k);
    let ghat = project(table, w, &nbr, &inv, g, k);
    let alpha = alpha_scale(&ghat, &offsets, k, cfg.eps);
    let r = perturb(table, w, &nbr, &inv, &alpha, k);
    Ok(Neighbours { k, dim: table.dim, ids: nbr, dist, ghat, alpha, r })
}

/// How many candidates position t has: every word but itself.
pub fn candidates(vocab: usize, id: usize) -> usize {
    vocab.saturating_sub(FIRST_WORD) - usize::from(id >= FIRST_WORD && id < vocab)
}

fn check_len(what: &str, got: usize, want: usize) -> Result<()> {
    if got != want {
        return Err(Error::invalid("neighbours", format!("{what} holds {got} values, expected {want}")));
    }
    Ok(())
}

/// Shapes, ids below V, and K within every position's candidates.
fn check_positions(table: Table<'_>, ids: &[usize], w: &[f32], k: usize) -> Result<()> {
    check_len("the position vectors", w.len(), ids.len() * table.dim)?;
    if k == 0 {
        return Err(Error::invalid("neighbours", "K must be at least 1"));
    }
    for &id in ids {
        if id >= table.vocab {
            return Err(Error::IndexOutOfRange { op: "neighbours", index: id, size: table.vocab });
        }
        if k > candidates(table.vocab, id) {
            return Err(Error::invalid(
                "neighbours",
                format!(
                    "K = {k} but a position with id {id} has only {} candidate words in a vocabulary of {}",
                    candidates(table.vocab, id),
                    table.vocab
                ),
            ));
        }
    }
    Ok(())
}

/// `nbr [P, K]` ids below V against `w [P, D]`; returns P.
fn check_neighbours(table: Table<'_>, w: &[f32], nbr: &[usize], k: usize) -> Result<usize> {
    if k == 0 || !w.len().is_multiple_of(table.dim) {
        return Err(Error::invalid("neighbours", "K must be at least 1 and w must be [P, D]"));
    }
    let p = w.len() / table.dim;
    check_len("the neighbour ids", nbr.len(), p * k)?;
    if let Some(&bad) = nbr.iter().find(|&&v| v >= table.vocab) {
        return Err(Error::IndexOutOfRange { op: "neighbours", index: bad, size: table.vocab });
    }
    Ok(p)
}
