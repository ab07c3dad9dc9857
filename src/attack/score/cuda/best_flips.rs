//! `hotflip_best_flips_f32`: the flips HotFlip adversarial training applies
//! (`train --adv hotflip` on a device), scored where the gradient is. Each
//! character position's best flip comes back (a score and an id per
//! position, instead of the `[B·W, L, D]` gradient and the `[V, D]` table);
//! the per-document choice of the top r among them stays on the host
//! (`adv::flip_training`). Twin: [`chars::best_flips`], bit for bit.

use crate::attack::score::chars;
use crate::cuda::buffer::DeviceBuf;
use crate::cuda::gpu::{elementwise, Gpu};
use crate::cuda::registry::k;
use crate::cuda::selfcheck::{small_sizes, Check, MATH};
use crate::error::{Error, Result};
use crate::rng::Rng;

/// What the kernel writes for a position with no flip (`HF_NO_FLIP`).
const NO_FLIP: u32 = u32::MAX;

/// Sizes: `rows` words of `positions` character ids, `dim`-d embeddings of
/// `vocab` characters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlipShape {
    /// Words (`B·W`).
    pub rows: usize,
    /// Character positions per word (`L`).
    pub positions: usize,
    /// Embedding size (`D`).
    pub dim: usize,
    /// Characters (`V`).
    pub vocab: usize,
}

fn u32_of(what: &str, n: usize) -> Result<u32> {
    u32::try_from(n).map_err(|_| Error::invalid(k::hotflip_score::HOTFLIP_BEST_FLIPS_F32.name, format!("{what} {n}")))
}

/// Every row's best flips, as [`chars::best_flips`] lists them (best
/// first, ties by position), from `grads [R, L, D]` and `table [V, D]` on
/// the device and the rows' `ids [R, L]`.
pub fn best_flips(
    gpu: &Gpu,
    grads: &DeviceBuf<f32>,
    table: &DeviceBuf<f32>,
    ids: &[usize],
    s: FlipShape,
) -> Result<Vec<Vec<(f32, usize, usize)>>> {
    let kr = k::hotflip_score::HOTFLIP_BEST_FLIPS_F32;
    let n = s.rows * s.positions;
    if ids.len() != n {
        return Err(Error::invalid(kr.name, format!("{} ids for {} rows of {}", ids.len(), s.rows, s.positions)));
    }
    if let Some(&bad) = ids.iter().find(|&&i| i >= s.vocab) {
        return Err(Error::invalid(kr.name, format!("character id {bad} of a {}-character table", s.vocab)));
    }
    grads.expect_len(kr.name, "grads", n * s.dim)?;
    table.expect_len(kr.name, "table", s.vocab * s.dim)?;
    if n == 0 {
        return Ok(vec![Vec::new(); s.rows]);
    }
    let ids_u32: Vec<u32> = ids.iter().map(|&i| i as u32).collect();
    let ids_dev = gpu.upload(&ids_u32)?;
    let mut score = gpu.zeros::<f32>(n)?;
    let mut best = gpu.zeros::<u32>(n)?;
    let (rows, positions) = (u32_of("rows", s.rows)?, u32_of("positions", s.positions)?);
    let (dim, vocab) = (u32_of("dim", s.dim)?, u32_of("vocab", s.vocab)?);
    let mut args = gpu.args();
    args.arg(&rows)
        .arg(&positions)
        .arg(&dim)
        .arg(&vocab)
        .arg(grads)
        .arg(&ids_dev)
        .arg(table)
        .arg(&mut score)
        .arg(&mut best);
    // SAFETY: the kernel's parameter list; grads, table and ids were sized
    // from the shape above and every id is below vocab; the outputs hold
    // one element per (row, position).
    unsafe { gpu.launch(kr, &mut args, elementwise(n))? };
    let (score, best) = (gpu.download(&score)?, gpu.download(&best)?);
    Ok(lists(&score, &best, s))
}

/// The kernel's per-position output as per-row lists, sorted as the twin sorts.
fn lists(score: &[f32], best: &[u32], s: FlipShape) -> Vec<Vec<(f32, usize, usize)>> {
    (0..s.rows)
        .map(|r| {
            let mut l: Vec<(f32, usize, usize)> = (0..s.positions)
                .filter(|&j| best[r * s.positions + j] != NO_FLIP)
                .map(|j| (score[r * s.positions + j], j, best[r * s.positions + j] as usize))
                .collect();
            l.sort_by(|p, q| q.0.total_cmp(&p.0).then(p.1.cmp(&q.1)));
            l
        })
        .collect()
}

/// The twin: [`chars::best_flips`] on every row.
pub fn twin(grads: &[f32], table: &[f32], ids: &[usize], s: FlipShape) -> Vec<Vec<(f32, usize, usize)>> {
    let table_t = chars::transpose_table(table, s.vocab, s.dim);
    let (l, d) = (s.positions, s.dim);
    (0..s.rows)
        .map(|r| chars::best_flips(&ids[r * l..(r + 1) * l], &grads[r * l * d..(r + 1) * l * d], &table_t, s.vocab))
        .collect()
}

/// Random rows (PAD-terminated words of random lengths, some empty), with
/// small integer values half the time so that exact ties occur.
fn case(rng: &mut Rng, s: FlipShape, ties: bool) -> (Vec<f32>, Vec<f32>, Vec<usize>) {
    let value = |rng: &mut Rng| if ties { rng.below(5) as f32 - 2.0 } else { rng.normal() };
    let grads: Vec<f32> = (0..s.rows * s.positions * s.dim).map(|_| value(rng)).collect();
    let table: Vec<f32> = (0..s.vocab * s.dim).map(|_| value(rng)).collect();
    let mut ids = vec![0usize; s.rows * s.positions];
    for r in 0..s.rows {
        let len = rng.below(s.positions);
        for j in 0..len {
            ids[r * s.positions + j] = 1 + rng.below(s.vocab - 1);
        }
    }
    (grads, table, ids)
}

fn check_best_flips(gpu: &Gpu, rng: &mut Rng) -> Result<f64> {
    let big = !small_sizes();
    let shapes = [
        FlipShape { rows: 5, positions: 6, dim: 3, vocab: 4 },
        FlipShape { rows: 7, positions: 16, dim: 15, vocab: 40 },
        FlipShape { rows: if big { 300 } else { 20 }, positions: 16, dim: 25, vocab: 70 },
    ];
    for (t, &s) in shapes.iter().enumerate() {
        for ties in [true, false] {
            let (grads, table, ids) = case(rng, s, ties);
            let got = best_flips(gpu, &gpu.upload(&grads)?, &gpu.upload(&table)?, &ids, s)?;
            let want = twin(&grads, &table, &ids, s);
            for (r, (g, w)) in got.iter().zip(&want).enumerate() {
                let same = g.len() == w.len()
                    && g.iter().zip(w).all(|(a, b)| a.0.to_bits() == b.0.to_bits() && (a.1, a.2) == (b.1, b.2));
                if !same {
                    return Err(Error::invalid(
                        "hotflip_best_flips_f32",
                        format!("case {t} (ties {ties}), row {r}: {g:?}, the twin {w:?}"),
                    ));
                }
            }
        }
    }
    // Bit for bit, or an error above.
    Ok(0.0)
}

/// The self-check of `hotflip_best_flips_f32` against [`twin`]
/// (`hotflip device` on a GPU; tests/kernels_emu.rs on the emulator).
pub fn check() -> Check {
    Check::kernel(
        k::hotflip_score::HOTFLIP_BEST_FLIPS_F32,
        "attack::score::chars::best_flips on every row (each position's best flip), bit for bit",
        MATH,
        check_best_flips,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_skip_positions_without_a_flip_and_sort_as_the_twin() {
        let s = FlipShape { rows: 2, positions: 3, dim: 1, vocab: 4 };
        let got = lists(&[0.5, 2.0, 0.0, 1.0, 1.0, -1.0], &[3, 2, NO_FLIP, 2, 3, 2], s);
        assert_eq!(got[0], vec![(2.0, 1, 2), (0.5, 0, 3)]);
        assert_eq!(got[1], vec![(1.0, 0, 2), (1.0, 1, 3), (-1.0, 2, 2)]);
    }
}
