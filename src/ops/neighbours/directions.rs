//! From chosen neighbours to iAdvT's quantities, never materialising the
//! `[P, K, D]` directions: `d_{t,k} = (E_k − w_t)·inv_{t,k}` is rebuilt
//! from the row and the inverse norm wherever it is needed.
//!
//! Each function is the CPU twin of one kernel of `kernels/neighbours.cu`
//! and does that kernel's arithmetic: differences in f32, reductions over D
//! in f64 (see `sums.rs`), one rounding to f32 at the end. All are
//! parallel over positions with fixed chunks (deterministic).

use rayon::prelude::*;

use super::sums::{add_scaled_diff, dot_diff, sq_dist};
use super::{AlphaScope, Table};
use crate::error::{Error, Result};
use crate::ops::cpu::for_rows;

/// (position, neighbour) pairs per rayon task.
const PAIRS_PER_TASK: usize = 256;

/// Distances `‖E_k − w_t‖ [P, K]` (f32) and inverse norms `[P, K]` (f64,
/// exactly 0 for a neighbour equal to the position's vector), for
/// neighbours `nbr [P, K]` already checked below V.
pub fn dir_norms(table: Table<'_>, w: &[f32], nbr: &[usize], k: usize) -> (Vec<f32>, Vec<f64>) {
    let d = table.dim;
    let mut dist = vec![0.0f32; nbr.len()];
    let mut inv = vec![0.0f64; nbr.len()];
    let task = |(c, (ds, is)): (usize, (&mut [f32], &mut [f64]))| {
        for (j, (dv, iv)) in ds.iter_mut().zip(is).enumerate() {
            let i = c * PAIRS_PER_TASK + j;
            let t = i / k;
            let ss = sq_dist(table.row(nbr[i]), &w[t * d..(t + 1) * d]);
            *dv = ss.sqrt() as f32;
            *iv = if ss > 0.0 { 1.0 / ss.sqrt() } else { 0.0 };
        }
    };
    dist.par_chunks_mut(PAIRS_PER_TASK).zip(inv.par_chunks_mut(PAIRS_PER_TASK)).enumerate().for_each(task);
    (dist, inv)
}

/// `ĝ [P, K] = g_t · d_{t,k} = inv_{t,k} · Σ_j g_{t,j} (E_{k,j} − w_{t,j})`.
pub fn project(table: Table<'_>, w: &[f32], nbr: &[usize], inv: &[f64], g: &[f32], k: usize) -> Vec<f32> {
    let d = table.dim;
    let mut out = vec![0.0f32; nbr.len()];
    for_rows(&mut out, 1, |i, o| {
        let t = i / k;
        let rows = t * d..(t + 1) * d;
        o[0] = (dot_diff(&g[rows.clone()], table.row(nbr[i]), &w[rows]) * inv[i]) as f32;
    });
    out
}

/// Position offsets `[G + 1]` of the groups α is normalised over: the
/// examples (consecutive runs of `lengths`, which must sum to `p`) or,
/// per position, every position alone.
pub fn group_offsets(lengths: &[usize], scope: AlphaScope, p: usize) -> Result<Vec<usize>> {
    let total: usize = lengths.iter().try_fold(0usize, |a, &l| a.checked_add(l)).unwrap_or(usize::MAX);
    if total != p {
        return Err(Error::invalid(
            "neighbours",
            format!("the per-example position counts add up to {total}, but there are {p} positions"),
        ));
    }
    Ok(match scope {
        AlphaScope::PerPosition => (0..=p).collect(),
        AlphaScope::PerExample => std::iter::once(0)
            .chain(lengths.iter().scan(0, |at, &l| {
                *at += l;
                Some(*at)
            }))
            .collect(),
    })
}

/// `α = ε ĝ / ‖ĝ‖` per group (positions `offsets[i]..offsets[i + 1]`, all
/// K of each), the norm in f64 over the group in order; α = 0 where the
/// norm is 0.
pub fn alpha_scale(ghat: &[f32], offsets: &[usize], k: usize, eps: f32) -> Vec<f32> {
    let mut out = vec![0.0f32; ghat.len()];
    for pair in offsets.windows(2) {
        let span = pair[0] * k..pair[1] * k;
        let norm = ghat[span.clone()].iter().map(|&x| x as f64 * x as f64).sum::<f64>().sqrt();
        let scale = if norm > 0.0 { eps as f64 / norm } else { 0.0 };
        for (o, &x) in out[span.clone()].iter_mut().zip(&ghat[span]) {
            *o = (x as f64 * scale) as f32;
        }
    }
    out
}

/// `r [P, D]`: `r_{t,j} = Σ_k α_{t,k} inv_{t,k} (E_{k,j} − w_{t,j})`,
/// summed in f64 over k in order.
pub fn perturb(table: Table<'_>, w: &[f32], nbr: &[usize], inv: &[f64], alpha: &[f32], k: usize) -> Vec<f32> {
    let d = table.dim;
    let p = w.len().checked_div(d).unwrap_or(0);
    let mut out = vec![0.0f32; p * d];
    for_rows(&mut out, d, |t, r| {
        let wt = &w[t * d..(t + 1) * d];
        let mut acc = vec![0.0f64; d];
        for i in t * k..(t + 1) * k {
            add_scaled_diff(&mut acc, alpha[i] as f64 * inv[i], table.row(nbr[i]), wt);
        }
        for (o, a) in r.iter_mut().zip(acc) {
            *o = a as f32;
        }
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_offsets_follow_the_scope() {
        assert_eq!(group_offsets(&[2, 0, 3], AlphaScope::PerExample, 5).unwrap(), vec![0, 2, 2, 5]);
        assert_eq!(group_offsets(&[2, 3], AlphaScope::PerPosition, 5).unwrap(), vec![0, 1, 2, 3, 4, 5]);
        let e = group_offsets(&[2, 2], AlphaScope::PerExample, 5).unwrap_err().to_string();
        assert!(e.contains("add up to 4") && e.contains("5 positions"), "{e}");
        assert!(group_offsets(&[usize::MAX, 2], AlphaScope::PerExample, 5).is_err());
    }

    #[test]
    fn alpha_is_zero_where_the_gradient_is() {
        let ghat = [3.0, 4.0, 0.0, 0.0];
        assert_eq!(alpha_scale(&ghat, &[0, 1, 2], 2, 10.0), vec![6.0, 8.0, 0.0, 0.0]);
        assert_eq!(alpha_scale(&ghat, &[0, 2], 2, 10.0), vec![6.0, 8.0, 0.0, 0.0]);
    }
}
