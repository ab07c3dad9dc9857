//! The K nearest words of every position, without a `[P, V]` matrix.
//!
//! Ranking by `‖E_v − w_t‖²` is ranking by `s = ‖E_v‖² − 2 w_t·E_v` (the
//! constant `‖w_t‖²` dropped), and `E·wᵀ` is a GEMM. Positions are cut into
//! blocks of [`POS_BLOCK`] (one rayon task each) and the vocabulary into
//! blocks of [`VOCAB_BLOCK`]; a task multiplies one vocabulary block by its
//! positions into a `[VOCAB_BLOCK, POS_BLOCK]` tile that stays in L2, then
//! walks the tile's rows in id order, comparing 16 positions at a time
//! against each position's K-th best so far. After the first few blocks
//! almost nothing beats it, so the walk costs one compare per 16 values
//! and the work is the GEMM's: 2·P·V·D flops.
//!
//! Determinism: the blocks are fixed sizes, each task's GEMM runs on its
//! own thread (`matmul_serial`), and a position's list depends only on its
//! own column of each tile, so results are bit-identical for any thread
//! count. The AVX-512 and scalar walks compute `s` identically (`n − 2c`,
//! where `2c` is exact), so they agree bit for bit too.

use std::ops::Range;

use rayon::prelude::*;

use super::sums::sum_sq;
use super::{Table, FIRST_WORD};
use crate::error::{Error, Result};
use crate::ops::gemm::{matmul_serial, View, ViewMut};

/// Positions per task. The tile is `E_block · w_blockᵀ` (vocabulary rows
/// as the GEMM's left operand): measured single-threaded with `gemm` at
/// D = 256 (thread CPU time, best of 3), this orientation ran at 171–182
/// GFLOP/s for 256 positions × 1,024–2,048 rows against 150–152 for the
/// transposed one, of about 195 per core. 256 gives W4's 12,800 positions
/// fifty tasks, an even split over two threads.
pub const POS_BLOCK: usize = 256;
/// Vocabulary rows per tile: a `VOCAB_BLOCK × POS_BLOCK` f32 tile is 1 MiB,
/// inside one core's 2 MiB L2.
pub const VOCAB_BLOCK: usize = 1024;

/// An id slot that no candidate filled.
pub const NO_ID: u32 = u32::MAX;

/// Per-position top-K lists over part of the vocabulary, nearest first:
/// `ids [P, K]` ([`NO_ID`] where fewer than K candidates were seen) and the
/// ranking values `s [P, K]` (+∞ there).
#[derive(Clone, Debug, PartialEq)]
pub struct Partial {
    /// K, the length of each position's list.
    pub k: usize,
    /// `[P, K]` candidate ids, nearest first; [`NO_ID`] in unfilled slots.
    pub ids: Vec<u32>,
    /// `[P, K]` ranking values `‖E_v‖² − 2 w_t·E_v` (the squared distance
    /// less `‖w_t‖²`, so possibly negative), ascending; +∞ in unfilled slots.
    pub s: Vec<f32>,
}

impl Partial {
    /// `p` empty lists.
    pub fn empty(p: usize, k: usize) -> Self {
        Partial { k, ids: vec![NO_ID; p * k], s: vec![f32::INFINITY; p * k] }
    }

    /// The ids as `usize`; an error if a list is not full, which happens
    /// only when NaN or ∞ in the table or the position vectors left fewer
    /// than K comparable candidates.
    pub fn into_ids(self, op: &'static str) -> Result<Vec<usize>> {
        if self.ids.contains(&NO_ID) {
            return Err(Error::invalid(
                op,
                "fewer than K candidates had a finite distance: the embedding table or the position vectors \
                 hold NaN or infinity",
            ));
        }
        Ok(self.ids.into_iter().map(|v| v as usize).collect())
    }
}

/// `‖E_v‖²` for every row, summed in f64 and rounded once.
pub fn sq_norms(table: Table<'_>) -> Vec<f32> {
    let mut out = vec![0.0f32; table.vocab];
    let run = |(v, o): (usize, &mut f32)| *o = sum_sq(table.row(v)) as f32;
    if table.vocab * table.dim >= 1 << 16 {
        out.par_iter_mut().enumerate().with_min_len(1024).for_each(run);
    } else {
        out.iter_mut().enumerate().for_each(run);
    }
    out
}

/// The K nearest candidate words of each position over the whole
/// vocabulary (ids ≥ 2, not the position's own id). `norms` from
/// [`sq_norms`]. The caller has checked the shapes and K.
pub fn search(table: Table<'_>, norms: &[f32], ids: &[usize], w: &[f32], k: usize) -> Result<Partial> {
    search_range(table, norms, ids, w, k, FIRST_WORD.min(table.vocab)..table.vocab)
}

/// [`search`] over the vocabulary rows in `range` only (one split of the
/// CUDA kernel). Lists hold the K smallest `(s, id)` pairs in
/// lexicographic order: equal values keep the lower id first.
pub fn search_range(
    table: Table<'_>,
    norms: &[f32],
    ids: &[usize],
    w: &[f32],
    k: usize,
    range: Range<usize>,
) -> Result<Partial> {
    let (p, d) = (ids.len(), table.dim);
    if norms.len() != table.vocab || w.len() != p * d || k == 0 {
        return Err(Error::invalid("neighbours", "search: norms must be [V], w [P, D] and K ≥ 1"));
    }
    if range.start > range.end || range.end > table.vocab || table.vocab >= NO_ID as usize {
        return Err(Error::invalid(
            "neighbours",
            format!("search: range {range:?} in a vocabulary of {}", table.vocab),
        ));
    }
    let mut out = Partial::empty(p, k);
    let task = |(b, (oid, os)): (usize, (&mut [u32], &mut [f32]))| {
        let p0 = b * POS_BLOCK;
        let pb = oid.len() / k;
        let rhs = View::t(&w[p0 * d..(p0 + pb) * d], d, pb);
        let skips: Vec<u32> = ids[p0..p0 + pb].iter().map(|&i| u32::try_from(i).unwrap_or(NO_ID)).collect();
        let mut lists = Lists { k, s: os, ids: oid, thr: vec![f32::INFINITY; pb] };
        let mut tile = vec![0.0f32; pb * VOCAB_BLOCK.min(range.len())];
        let mut v0 = range.start;
        while v0 < range.end {
            let n = VOCAB_BLOCK.min(range.end - v0);
            let lhs = View::rm(&table.data[v0 * d..(v0 + n) * d], n, d);
            matmul_serial(lhs, rhs, ViewMut::rm(&mut tile[..n * pb], n, pb));
            for (r, row) in tile[..n * pb].chunks_exact(pb).enumerate() {
                scan_row(row, norms[v0 + r], (v0 + r) as u32, &skips, &mut lists);
            }
            v0 += n;
        }
    };
    out.ids.par_chunks_mut(POS_BLOCK * k).zip(out.s.par_chunks_mut(POS_BLOCK * k)).enumerate().for_each(task);
    Ok(out)
}

/// Merges lists over consecutive vocabulary ranges (in range order) into
/// one: the CPU twin of the CUDA kernel that joins its splits.
pub fn merge(parts: &[Partial], p: usize, k: usize) -> Result<Partial> {
    if parts.iter().any(|q| q.k != k || q.ids.len() != p * k || q.s.len() != p * k) {
        return Err(Error::invalid("neighbours", "merge: every partial list must be [P, K]"));
    }
    let mut out = Partial::empty(p, k);
    for (t, (oid, os)) in out.ids.chunks_mut(k).zip(out.s.chunks_mut(k)).enumerate() {
        // Later ranges hold higher ids, and each list is in (s, id) order,
        // so among equal values the lower id is always offered first.
        for q in parts {
            for j in t * k..(t + 1) * k {
                if q.ids[j] != NO_ID {
                    offer(os, oid, q.s[j], q.ids[j]);
                }
            }
        }
    }
    Ok(out)
}

/// Offers `(value, id)` to a list sorted by value: it enters if below the
/// last value, after every entry ≤ it. Given candidates with equal values
/// in ascending id order, the list holds the K smallest `(value, id)`
/// pairs; NaN never enters.
#[inline]
pub fn offer(s: &mut [f32], ids: &mut [u32], value: f32, id: u32) {
    let k = s.len();
    // `>=` would let NaN in: only a value that compares below enters.
    if value.partial_cmp(&s[k - 1]) != Some(std::cmp::Ordering::Less) {
        return;
    }
    let mut at = k - 1;
    while at > 0 && s[at - 1] > value {
        s[at] = s[at - 1];
        ids[at] = ids[at - 1];
        at -= 1;
    }
    s[at] = value;
    ids[at] = id;
}

/// The lists of one block of positions, with each list's last value
/// (`thr[i] = s[i·k + k − 1]`) kept contiguous for 16-wide compares.
struct Lists<'a> {
    k: usize,
    s: &'a mut [f32],
    ids: &'a mut [u32],
    thr: Vec<f32>,
}

impl Lists<'_> {
    #[inline]
    fn offer(&mut self, i: usize, value: f32, id: u32) {
        let span = i * self.k..(i + 1) * self.k;
        offer(&mut self.s[span.clone()], &mut self.ids[span], value, id);
        self.thr[i] = self.s[(i + 1) * self.k - 1];
    }
}

/// One tile row: candidate `v` (skipped where it is the position's own id)
/// with `s_i = norm − 2·c[i]` for every position i of the block.
fn scan_row(c: &[f32], norm: f32, v: u32, skips: &[u32], lists: &mut Lists<'_>) {
    #[cfg(target_arch = "x86_64")]
    if avx512() {
        // SAFETY: avx512f was detected at run time.
        return unsafe { scan_row_avx512(c, norm, v, skips, lists) };
    }
    scan_row_scalar(c, 0, norm, v, skips, lists)
}

/// Positions `from..` of [`scan_row`], one at a time.
fn scan_row_scalar(c: &[f32], from: usize, norm: f32, v: u32, skips: &[u32], lists: &mut Lists<'_>) {
    for i in from..c.len() {
        let value = norm - 2.0 * c[i];
        if value < lists.thr[i] && skips[i] != v {
            lists.offer(i, value, v);
        }
    }
}

#[cfg(target_arch = "x86_64")]
fn avx512() -> bool {
    static AVX512: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AVX512.get_or_init(|| std::is_x86_feature_detected!("avx512f"))
}

/// 16 positions per compare against their K-th best; the rare values below
/// go through [`offer`]. `fmadd(c, −2, n)` rounds once, exactly like the
/// scalar `n − 2c`.
///
/// # Safety
/// avx512f must be available.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn scan_row_avx512(c: &[f32], norm: f32, v: u32, skips: &[u32], lists: &mut Lists<'_>) {
    use std::arch::x86_64::*;
    let n = c.len().min(lists.thr.len());
    let (minus2, nv) = (_mm512_set1_ps(-2.0), _mm512_set1_ps(norm));
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: i + 16 ≤ n bounds both loads.
        let (cv, thr) = unsafe { (_mm512_loadu_ps(c.as_ptr().add(i)), _mm512_loadu_ps(lists.thr.as_ptr().add(i))) };
        let value = _mm512_fmadd_ps(cv, minus2, nv);
        let mut mask = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(value, thr);
        if mask != 0 {
            let mut lanes = [0.0f32; 16];
            // SAFETY: `lanes` holds 16 floats.
            unsafe { _mm512_storeu_ps(lanes.as_mut_ptr(), value) };
            while mask != 0 {
                let b = mask.trailing_zeros() as usize;
                mask &= mask - 1;
                if skips[i + b] != v {
                    lists.offer(i + b, lanes[b], v);
                }
            }
        }
        i += 16;
    }
    scan_row_scalar(&c[..n], i, norm, v, skips, lists);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    #[test]
    fn offer_keeps_the_k_smallest_with_lower_ids_first() {
        let (mut s, mut ids) = (vec![f32::INFINITY; 3], vec![NO_ID; 3]);
        for (v, id) in [(5.0, 2), (1.0, 3), (5.0, 4), (1.0, 5), (0.5, 6), (1.0, 7), (f32::NAN, 8)] {
            offer(&mut s, &mut ids, v, id);
        }
        assert_eq!(s, [0.5, 1.0, 1.0]);
        assert_eq!(ids, [6, 3, 5]);
    }

    #[test]
    fn avx512_and_scalar_walks_agree_with_a_sort() {
        let mut rng = Rng::new(3);
        for pb in [1usize, 15, 16, 17, 100] {
            let k = 7;
            // Rows of a tile; norms on a coarse grid for many exact ties.
            let rows = 300;
            let c: Vec<f32> = (0..rows * pb).map(|_| (rng.below(9) as f32 - 4.0) / 4.0).collect();
            let norms: Vec<f32> = (0..rows).map(|_| rng.below(8) as f32).collect();
            let skips: Vec<u32> = (0..pb).map(|i| 10 + (7 * i as u32) % rows as u32).collect();
            let run = |scalar: bool| {
                let (mut s, mut ids) = (vec![f32::INFINITY; pb * k], vec![NO_ID; pb * k]);
                let mut lists = Lists { k, s: &mut s, ids: &mut ids, thr: vec![f32::INFINITY; pb] };
                for (r, row) in c.chunks(pb).enumerate() {
                    if scalar {
                        scan_row_scalar(row, 0, norms[r], 10 + r as u32, &skips, &mut lists);
                    } else {
                        scan_row(row, norms[r], 10 + r as u32, &skips, &mut lists);
                    }
                }
                (s, ids)
            };
            let (scalar, fast) = (run(true), run(false));
            assert_eq!(scalar, fast, "pb = {pb}");
            for i in 0..pb {
                let mut all: Vec<(f32, u32)> = (0..rows)
                    .map(|r| (norms[r] - 2.0 * c[r * pb + i], 10 + r as u32))
                    .filter(|&(_, v)| v != skips[i])
                    .collect();
                all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                let want: Vec<u32> = all.iter().take(k).map(|x| x.1).collect();
                assert_eq!(&fast.1[i * k..(i + 1) * k], &want[..], "pb = {pb}, position {i}");
            }
        }
    }

    #[test]
    fn merging_ranges_equals_one_search() {
        let mut rng = Rng::new(4);
        let (vocab, dim, p, k) = (700, 9, 37, 6);
        // Integer-valued data: exact arithmetic, so many exact ties.
        let e: Vec<f32> = (0..vocab * dim).map(|_| rng.below(5) as f32 - 2.0).collect();
        let table = Table::new(&e, vocab, dim).unwrap();
        let ids: Vec<usize> = (0..p).map(|_| rng.below(vocab)).collect();
        let w: Vec<f32> = ids.iter().flat_map(|&i| table.row(i).to_vec()).collect();
        let norms = sq_norms(table);
        let whole = search(table, &norms, &ids, &w, k).unwrap();
        let cuts = [2, 3, 200, 201, 555, vocab];
        let parts: Vec<Partial> =
            cuts.windows(2).map(|r| search_range(table, &norms, &ids, &w, k, r[0]..r[1]).unwrap()).collect();
        assert_eq!(merge(&parts, p, k).unwrap(), whole);
        // A range with fewer than K candidates leaves empty slots.
        assert!(parts[0].ids.contains(&NO_ID));
    }
}
