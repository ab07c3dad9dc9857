//! Launchers for kernels/neighbours.cu (iAdvT's nearest-neighbour
//! directions), checked against `ops::neighbours`, whose functions are the
//! kernels' CPU twins.
//!
//! - this file: the search plan ([`plan`]), checked uploads, one launcher
//!   per kernel;
//! - [`pipeline`]: the whole computation on device buffers;
//! - [`check`]: the self-checks and the test problems they draw.

pub mod check;
pub mod pipeline;

use std::ops::Range;

use cudarc::driver::LaunchConfig;

use crate::cuda::buffer::DeviceBuf;
use crate::cuda::gpu::{elementwise, to_u32, Gpu};
use crate::cuda::params::NnDims;
use crate::cuda::registry::k;
use crate::error::{Error, Result};
use crate::ops::neighbours::{candidates, group_offsets, AlphaScope, FIRST_WORD};

pub(crate) use check::checks;
pub use pipeline::{iadvt, iadvt_refs, search_refs, DeviceInputs, DeviceNeighbours, InputRefs};

/// `HF_NN_MAX_K`: one list entry per lane of a warp.
pub const MAX_K: usize = 32;
/// `HF_NN_BM`, `HF_NN_BN`, `HF_NN_THREADS` in kernels/neighbours.cu.
pub const BM: usize = 64;
pub const BN: usize = 128;
pub const THREADS: u32 = 256;
/// `HF_NN_BLOCK`: threads per block of the per-group α kernel.
pub const BLOCK: u32 = 256;
/// `HF_NN_NO_ID`: a list slot no candidate filled.
pub const NO_ID: u32 = u32::MAX;
/// Blocks the search aims for (several waves' worth on a 132-SM H100 at
/// two resident blocks per SM), reached by splitting the vocabulary.
const TARGET_BLOCKS: usize = 1024;
/// A split is at least this many tiles, so that its list is worth merging.
const MIN_SPLIT_TILES: usize = 4;
/// Most blocks a grid-stride launch uses.
const MAX_GRID: usize = 65_535;

/// The search's sizes and vocabulary splits for P positions, V rows, D
/// dimensions and K neighbours. The split count is a function of the sizes
/// alone, and the result does not depend on it anyway (see the kernel file).
pub fn plan(positions: usize, vocab: usize, dim: usize, k: usize) -> Result<NnDims> {
    let op = k::neighbours::NN_TOPK_F32.name;
    if k == 0 || k > MAX_K {
        return Err(Error::invalid(op, format!("K = {k}: the CUDA search keeps 1 to {MAX_K} neighbours")));
    }
    if dim == 0 {
        return Err(Error::invalid(op, "the embedding dimension must be at least 1"));
    }
    if k > candidates(vocab, FIRST_WORD) {
        return Err(Error::invalid(op, format!("K = {k} needs at least {} vocabulary rows, got {vocab}", k + 3)));
    }
    // v0 + column stays below 2^32 in the kernel with V < 2^31; products
    // of sizes are taken in 64 bits there.
    for (what, n) in [("positions", positions), ("vocabulary rows", vocab), ("dimensions", dim)] {
        if n > i32::MAX as usize {
            return Err(Error::invalid(op, format!("{n} {what} exceed the kernels' 2^31 − 1")));
        }
    }
    let words = vocab - FIRST_WORD;
    let blocks_x = positions.div_ceil(BM).max(1);
    let most = words.div_ceil(MIN_SPLIT_TILES * BN).max(1);
    let want = TARGET_BLOCKS.div_ceil(blocks_x).clamp(1, most);
    let split_len = words.div_ceil(want).div_ceil(BN) * BN;
    let splits = words.div_ceil(split_len);
    Ok(NnDims {
        positions: positions as u32,
        vocab: vocab as u32,
        dim: dim as u32,
        k: k as u32,
        split_len: split_len as u32,
        splits: splits as u32,
    })
}

/// The vocabulary rows of each split, in order (their union is `2..V`).
pub fn split_ranges(p: &NnDims) -> Vec<Range<usize>> {
    let (len, vocab) = (p.split_len as usize, p.vocab as usize);
    (0..p.splits as usize).map(|j| (FIRST_WORD + j * len).min(vocab)..(FIRST_WORD + (j + 1) * len).min(vocab)).collect()
}

fn pairs(p: &NnDims) -> usize {
    p.positions as usize * p.k as usize
}

fn rows(p: &NnDims) -> usize {
    p.positions as usize * p.dim as usize
}

/// Word ids on the device, checked below the vocabulary size.
pub fn upload_ids(gpu: &Gpu, ids: &[usize], vocab: usize) -> Result<DeviceBuf<u32>> {
    if let Some(&bad) = ids.iter().find(|&&i| i >= vocab) {
        return Err(Error::IndexOutOfRange { op: "neighbours", index: bad, size: vocab });
    }
    gpu.upload(&to_u32("neighbours", "id", ids)?)
}

/// The groups α is normalised over, on the device: offsets that
/// [`group_offsets`] built (non-decreasing, ending at P), so the kernel
/// can trust them.
pub struct DeviceGroups {
    offsets: DeviceBuf<u32>,
    groups: usize,
    positions: usize,
}

impl DeviceGroups {
    pub fn groups(&self) -> usize {
        self.groups
    }
}

/// Uploads the α groups for `lengths` (per-example position counts summing
/// to `positions`) in `scope`.
pub fn upload_groups(gpu: &Gpu, lengths: &[usize], scope: AlphaScope, positions: usize) -> Result<DeviceGroups> {
    let offsets = group_offsets(lengths, scope, positions)?;
    Ok(DeviceGroups {
        offsets: gpu.upload(&to_u32("neighbours", "position offset", &offsets)?)?,
        groups: offsets.len() - 1,
        positions,
    })
}

/// `norms [V] = ‖E_v‖²`. `table [V, D]`.
pub fn sq_norms(gpu: &Gpu, p: &NnDims, table: &DeviceBuf<f32>, norms: &mut DeviceBuf<f32>) -> Result<()> {
    let kr = k::neighbours::NN_SQ_NORMS_F32;
    table.expect_len(kr.name, "table", p.vocab as usize * p.dim as usize)?;
    norms.expect_len(kr.name, "norms", p.vocab as usize)?;
    if norms.is_empty() {
        return Ok(());
    }
    let cfg = elementwise(norms.len() * 32);
    let mut args = gpu.args();
    args.arg(p).arg(table).arg(&mut *norms);
    // SAFETY: (p, table, norms) is the kernel's parameter list; one warp per row below V.
    unsafe { gpu.launch(kr, &mut args, cfg) }
}

/// The partial top-K lists `part_s`, `part_ids [S, P, K]` of every
/// (position block, split). `w [P, D]`, `ids [P]` (the positions' own ids,
/// only compared), `norms [V]` from [`sq_norms`].
#[allow(clippy::too_many_arguments)]
pub fn topk(
    gpu: &Gpu,
    p: &NnDims,
    table: &DeviceBuf<f32>,
    norms: &DeviceBuf<f32>,
    w: &DeviceBuf<f32>,
    ids: &DeviceBuf<u32>,
    part_s: &mut DeviceBuf<f32>,
    part_ids: &mut DeviceBuf<u32>,
) -> Result<()> {
    let kr = k::neighbours::NN_TOPK_F32;
    check_dims(kr.name, p)?;
    table.expect_len(kr.name, "table", p.vocab as usize * p.dim as usize)?;
    norms.expect_len(kr.name, "norms", p.vocab as usize)?;
    w.expect_len(kr.name, "w", rows(p))?;
    ids.expect_len(kr.name, "ids", p.positions as usize)?;
    let parts = p.splits as usize * pairs(p);
    part_s.expect_len(kr.name, "part_s", parts)?;
    part_ids.expect_len(kr.name, "part_ids", parts)?;
    if parts == 0 {
        return Ok(());
    }
    let cfg = LaunchConfig {
        grid_dim: ((p.positions as usize).div_ceil(BM) as u32, p.splits, 1),
        block_dim: (THREADS, 1, 1),
        shared_mem_bytes: 0,
    };
    let mut args = gpu.args();
    args.arg(p).arg(table).arg(norms).arg(w).arg(ids).arg(&mut *part_s).arg(&mut *part_ids);
    // SAFETY: the kernel's parameter list; lengths checked above; the
    // kernel reads table rows below V and w rows below P only.
    unsafe { gpu.launch(kr, &mut args, cfg) }
}

/// `sel`, `nbr [P, K]`: the split lists of [`topk`] joined.
pub fn merge(
    gpu: &Gpu,
    p: &NnDims,
    part_s: &DeviceBuf<f32>,
    part_ids: &DeviceBuf<u32>,
    sel: &mut DeviceBuf<f32>,
    nbr: &mut DeviceBuf<u32>,
) -> Result<()> {
    let kr = k::neighbours::NN_MERGE_F32;
    check_dims(kr.name, p)?;
    let parts = p.splits as usize * pairs(p);
    part_s.expect_len(kr.name, "part_s", parts)?;
    part_ids.expect_len(kr.name, "part_ids", parts)?;
    sel.expect_len(kr.name, "sel", pairs(p))?;
    nbr.expect_len(kr.name, "nbr", pairs(p))?;
    if nbr.is_empty() {
        return Ok(());
    }
    let mut args = gpu.args();
    args.arg(p).arg(part_s).arg(part_ids).arg(&mut *sel).arg(&mut *nbr);
    // SAFETY: (p, part_s, part_ids, sel, nbr) is the kernel's parameter list; one warp per position.
    unsafe { gpu.launch(kr, &mut args, elementwise(p.positions as usize * 32)) }
}

/// `dist [P, K]` and `inv [P, K]` for neighbours `nbr [P, K]` (ids ≥ V give
/// +∞ and 0).
pub fn dir_norms(
    gpu: &Gpu,
    p: &NnDims,
    (table, w): (&DeviceBuf<f32>, &DeviceBuf<f32>),
    nbr: &DeviceBuf<u32>,
    dist: &mut DeviceBuf<f32>,
    inv: &mut DeviceBuf<f64>,
) -> Result<()> {
    let kr = k::neighbours::NN_DIR_NORMS_F32;
    check_rows(kr.name, p, table, w, nbr)?;
    dist.expect_len(kr.name, "dist", pairs(p))?;
    inv.expect_len(kr.name, "inv", pairs(p))?;
    if dist.is_empty() {
        return Ok(());
    }
    let mut args = gpu.args();
    args.arg(p).arg(table).arg(w).arg(nbr).arg(&mut *dist).arg(&mut *inv);
    // SAFETY: the kernel's parameter list; it dereferences nbr ids below V only.
    unsafe { gpu.launch(kr, &mut args, elementwise(pairs(p) * 32)) }
}

/// `ghat [P, K] = g · d` for neighbours `nbr` with inverse norms `inv`.
#[allow(clippy::too_many_arguments)]
pub fn project(
    gpu: &Gpu,
    p: &NnDims,
    (table, w): (&DeviceBuf<f32>, &DeviceBuf<f32>),
    nbr: &DeviceBuf<u32>,
    inv: &DeviceBuf<f64>,
    g: &DeviceBuf<f32>,
    ghat: &mut DeviceBuf<f32>,
) -> Result<()> {
    let kr = k::neighbours::NN_PROJECT_F32;
    check_rows(kr.name, p, table, w, nbr)?;
    inv.expect_len(kr.name, "inv", pairs(p))?;
    g.expect_len(kr.name, "g", rows(p))?;
    ghat.expect_len(kr.name, "ghat", pairs(p))?;
    if ghat.is_empty() {
        return Ok(());
    }
    let mut args = gpu.args();
    args.arg(p).arg(table).arg(w).arg(nbr).arg(inv).arg(g).arg(&mut *ghat);
    // SAFETY: the kernel's parameter list; it dereferences nbr ids below V only.
    unsafe { gpu.launch(kr, &mut args, elementwise(pairs(p) * 32)) }
}

/// `alpha [P, K] = ε ĝ / ‖ĝ‖` over each group of `groups`.
pub fn alpha(
    gpu: &Gpu,
    ghat: &DeviceBuf<f32>,
    groups: &DeviceGroups,
    k: usize,
    eps: f32,
    alpha: &mut DeviceBuf<f32>,
) -> Result<()> {
    let kr = k::neighbours::NN_ALPHA_F32;
    let n = groups.positions * k;
    ghat.expect_len(kr.name, "ghat", n)?;
    alpha.expect_len(kr.name, "alpha", n)?;
    if groups.groups == 0 || n == 0 {
        return Ok(());
    }
    let (count, k32) = (groups.groups as u32, k as u32);
    let cfg = LaunchConfig {
        grid_dim: (groups.groups.min(MAX_GRID) as u32, 1, 1),
        block_dim: (BLOCK, 1, 1),
        shared_mem_bytes: 0,
    };
    let mut args = gpu.args();
    args.arg(ghat).arg(&groups.offsets).arg(&count).arg(&k32).arg(&eps).arg(&mut *alpha);
    // SAFETY: the kernel's parameter list; the offsets come from
    // group_offsets (non-decreasing, last = P), so every index is below P·K.
    unsafe { gpu.launch(kr, &mut args, cfg) }
}

/// `r [P, D] = Σ_k α d`.
#[allow(clippy::too_many_arguments)]
pub fn perturb(
    gpu: &Gpu,
    p: &NnDims,
    (table, w): (&DeviceBuf<f32>, &DeviceBuf<f32>),
    nbr: &DeviceBuf<u32>,
    inv: &DeviceBuf<f64>,
    alpha: &DeviceBuf<f32>,
    r: &mut DeviceBuf<f32>,
) -> Result<()> {
    let kr = k::neighbours::NN_PERTURB_F32;
    check_rows(kr.name, p, table, w, nbr)?;
    inv.expect_len(kr.name, "inv", pairs(p))?;
    alpha.expect_len(kr.name, "alpha", pairs(p))?;
    r.expect_len(kr.name, "r", rows(p))?;
    if r.is_empty() {
        return Ok(());
    }
    let mut args = gpu.args();
    args.arg(p).arg(table).arg(w).arg(nbr).arg(inv).arg(alpha).arg(&mut *r);
    // SAFETY: the kernel's parameter list; it dereferences nbr ids below V only.
    unsafe { gpu.launch(kr, &mut args, elementwise(rows(p))) }
}

/// A plan's sizes are the kernels' invariants (K in range, splits that
/// cover the vocabulary): a hand-built `NnDims` must satisfy them too.
fn check_dims(op: &'static str, p: &NnDims) -> Result<()> {
    let ok = (1..=MAX_K as u32).contains(&p.k)
        && p.dim > 0
        && p.vocab as usize > FIRST_WORD
        && p.vocab <= i32::MAX as u32
        && p.positions <= i32::MAX as u32
        && p.split_len > 0
        && (p.split_len as usize).is_multiple_of(BN)
        && (1..=MAX_GRID as u32).contains(&p.splits)
        && FIRST_WORD as u64 + p.splits as u64 * p.split_len as u64 >= p.vocab as u64;
    if !ok {
        return Err(Error::invalid(op, format!("{p:?} is not a valid search plan (use neighbours::plan)")));
    }
    Ok(())
}

fn check_rows(
    op: &'static str,
    p: &NnDims,
    table: &DeviceBuf<f32>,
    w: &DeviceBuf<f32>,
    nbr: &DeviceBuf<u32>,
) -> Result<()> {
    if p.k == 0 || p.k as usize > MAX_K || p.dim == 0 {
        return Err(Error::invalid(op, format!("{p:?}: K must be 1..={MAX_K} and D at least 1")));
    }
    table.expect_len(op, "table", p.vocab as usize * p.dim as usize)?;
    w.expect_len(op, "w", rows(p))?;
    nbr.expect_len(op, "nbr", pairs(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_match_the_kernel_file() {
        let src = crate::cuda::registry::file("neighbours").unwrap().source;
        for (name, value) in [
            ("HF_NN_MAX_K", MAX_K as u64),
            ("HF_NN_BM", BM as u64),
            ("HF_NN_BN", BN as u64),
            ("HF_NN_THREADS", THREADS as u64),
            ("HF_NN_BLOCK", BLOCK as u64),
            ("HF_NN_FIRST_WORD", FIRST_WORD as u64),
        ] {
            let line = format!("#define {name} {value}");
            assert!(src.lines().any(|l| l == line || l == format!("{line}u")), "kernels/neighbours.cu lacks `{line}`");
        }
        assert!(src.contains("#define HF_NN_NO_ID 0xFFFFFFFFu\n"));
        assert_eq!(NO_ID, crate::ops::neighbours::search::NO_ID);
    }

    #[test]
    fn plans_cover_the_vocabulary_and_respect_the_limits() {
        for &(p, v, k) in &[(1, 4, 1), (12_800, 50_000, 10), (50, 3000, 32), (100_000, 200, 5), (7, 1_000_000, 10)] {
            let d = plan(p, v, 16, k).unwrap();
            check_dims("t", &d).unwrap();
            let ranges = split_ranges(&d);
            assert_eq!(ranges.first().unwrap().start, FIRST_WORD);
            assert_eq!(ranges.last().unwrap().end, v);
            assert!(ranges.windows(2).all(|r| r[0].end == r[1].start && !r[1].is_empty()), "{d:?}");
        }
        let w4 = plan(12_800, 50_000, 256, 10).unwrap();
        assert_eq!((w4.splits, w4.split_len), (6, 8448));
        assert!(plan(10, 100, 8, 33).is_err());
        assert!(plan(10, 12, 8, 10).is_err());
        assert!(plan(10, 13, 8, 10).is_ok());
        assert!(plan(10, 100, 0, 3).is_err());
        assert!(check_dims("t", &NnDims { split_len: 100, ..w4 }).is_err());
        assert!(check_dims("t", &NnDims { splits: 1, ..w4 }).is_err());
    }
}
