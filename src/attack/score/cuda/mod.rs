//! Launchers for kernels/hotflip_score.cu — HotFlip's character scores with
//! top-K pruning, fused (BENCHMARKS.md W5) — the host side around them, and
//! their self-check against `attack::score::chars`.
//!
//! Two launches: `hotflip_score_f32` scores every allowed edit of one word
//! per block and keeps the word's best K; `hotflip_merge_f32` keeps each
//! entry's best K of its words' lists. K is `entry_cap(keep)` = 2·keep for
//! `top_children`; the lists that come back are then exactly its per-entry
//! lists without a word-vocabulary filter (same candidates, same order, the
//! same f32 scores bit for bit: the kernel rounds every step as the CPU
//! does, in the same order). The word-vocabulary filter needs strings and
//! the per-group merge needs the documents (duplicate children), so both
//! stay on the host: [`finish_on_host`], and [`top_children_cuda`] for the
//! whole step.
//!
//! The self-check compares what a kernel returns with the twin's lists under
//! [`compare_lists`]: every candidate one the twin scores, its total and
//! gain within tolerance of the twin's; each list in `Candidate::rank` order
//! by its own totals (so exact ties are broken exactly as the twin breaks
//! them); order and membership as the twin's, except that candidates whose
//! twin totals are within the tolerance may swap, or trade places at a
//! list's end — the only differences another summation order could cause.
//! On a correct GPU the difference is 0: the kernels are bit-exact.
//! tests/hotflip_score_emu.rs runs the kernel source itself on the CPU.

use std::collections::{HashMap, HashSet};

use cudarc::driver::LaunchConfig;

use crate::attack::char_doc::{CharDoc, CharEdit, CharOp};
use crate::attack::score::chars::{entry_cap, merge_groups, score_all, Candidate, EntryRef, ScoreTensors};
use crate::cuda::buffer::DeviceBuf;
use crate::cuda::gpu::Gpu;
use crate::cuda::params::HotflipDims;
use crate::cuda::registry::k;
use crate::cuda::selfcheck::{size_in, small_sizes, worst, Check, MATH, POISON, POISON_U32};
use crate::error::{Error, Result};
use crate::models::CharBatch;
use crate::rng::Rng;

/// Threads per block of `hotflip_score_f32` (one block per word).
pub const SCORE_THREADS: u32 = 128;
/// Threads per block of `hotflip_merge_f32` (one block per entry).
pub const MERGE_THREADS: u32 = 256;
/// An empty slot's edit key (`HF_EMPTY`).
pub const EMPTY: u64 = u64::MAX;
/// Poison for the 64-bit edit keys.
pub const POISON_U64: u64 = 0xDEAD_BEEF_DEAD_BEEF;
/// Largest word index and position the edit key holds (22 and 19 bits).
pub const MAX_WORDS: usize = 1 << 22;
pub const MAX_POSITIONS: usize = 1 << 19;
/// Dynamic shared memory a block may use without opting in.
pub const SMEM_LIMIT: usize = 48 * 1024;

const OP_SHIFT: u32 = 62;
const WORD_SHIFT: u32 = 40;
const POS_SHIFT: u32 = 21;
const CHAR_MASK: u64 = (1 << POS_SHIFT) - 1;
/// `HF_SLOTS`: the reduction's slots (a u64 and a u32 each).
const SLOTS: usize = 33;

const OP: &str = "hotflip_score";

/// The sizes of one scoring step: `entries` beam entries of `words` words
/// (the batch's padded count) of `positions` characters, `dim` = char_dim,
/// `vocab` characters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScoreShape {
    pub entries: usize,
    pub words: usize,
    pub positions: usize,
    pub dim: usize,
    pub vocab: usize,
}

impl ScoreShape {
    /// Word rows, `entries · words`.
    pub fn rows(&self) -> usize {
        self.entries * self.words
    }

    /// Dynamic shared memory of `hotflip_score_f32`, in the kernel's carving
    /// order: the reduction slots, g `[L, D]`, S `[L, V]`, ids `[L]`, allowed
    /// and chars `[V]` each, base `[L]`, rsum and rcnt `[L + 1]` each, dgain
    /// and dok `[L]` each.
    pub fn score_smem_bytes(&self) -> usize {
        let (l, d, v) = (self.positions, self.dim, self.vocab);
        SLOTS * 12 + 4 * (l * (d + v) + 6 * l + 2 * v + 2)
    }

    /// Dynamic shared memory of `hotflip_merge_f32`: the reduction slots,
    /// then a head pointer per word row.
    pub fn merge_smem_bytes(&self) -> usize {
        SLOTS * 12 + 4 * self.words
    }

    /// The kernels' parameters with `cap` candidates per list, after
    /// checking every size the kernels derive indices from.
    pub fn params(&self, op: &'static str, cap: usize) -> Result<HotflipDims> {
        let ScoreShape { entries, words, positions, dim, vocab } = *self;
        if entries == 0 || words == 0 || dim == 0 || vocab == 0 || cap == 0 || positions < 2 {
            return Err(Error::invalid(
                op,
                format!("{self:?} with cap {cap}: every size must be positive, positions ≥ 2"),
            ));
        }
        if words > MAX_WORDS || positions > MAX_POSITIONS {
            return Err(Error::invalid(
                op,
                format!("{words} words or {positions} positions exceed the edit key's fields"),
            ));
        }
        let fits = |x: usize| x < i32::MAX as usize;
        if !fits(self.rows()) || !fits(words.saturating_mul(cap)) || !fits(self.rows().saturating_mul(cap)) {
            return Err(Error::invalid(op, format!("{self:?} with cap {cap} exceeds the kernels' 32-bit counts")));
        }
        if self.merge_smem_bytes() > SMEM_LIMIT {
            return Err(Error::invalid(op, format!("{words} words need more shared memory than a block has")));
        }
        if self.score_smem_bytes() > SMEM_LIMIT {
            return Err(Error::invalid(
                op,
                format!(
                    "{positions} positions × ({dim} dims + {vocab} chars) need {} bytes of shared memory per word, more \
                     than the {SMEM_LIMIT} a block has",
                    self.score_smem_bytes()
                ),
            ));
        }
        let u = |x: usize| x as u32;
        Ok(HotflipDims {
            entries: u(entries),
            words: u(words),
            positions: u(positions),
            dim: u(dim),
            vocab: u(vocab),
            cap: u(cap),
        })
    }
}

/// The edit as the kernels' 64-bit key, whose unsigned order is `CharEdit`'s
/// `Ord` (op, word, position, character); `None` if a field does not fit.
pub fn pack_edit(e: &CharEdit) -> Option<u64> {
    if e.word >= MAX_WORDS || e.pos >= MAX_POSITIONS {
        return None;
    }
    let op: u64 = match e.op {
        CharOp::Flip => 0,
        CharOp::Insert => 1,
        CharOp::Delete => 2,
    };
    Some((op << OP_SHIFT) | ((e.word as u64) << WORD_SHIFT) | ((e.pos as u64) << POS_SHIFT) | e.ch as u64)
}

/// The edit a key holds; `None` for [`EMPTY`] and anything the kernels do
/// not write (op 3, a code point that is no `char`, a delete with a char).
pub fn unpack_edit(key: u64) -> Option<CharEdit> {
    let op = match key >> OP_SHIFT {
        0 => CharOp::Flip,
        1 => CharOp::Insert,
        2 => CharOp::Delete,
        _ => return None,
    };
    let ch = char::from_u32((key & CHAR_MASK) as u32)?;
    if op == CharOp::Delete && ch != '\0' {
        return None;
    }
    let word = ((key >> WORD_SHIFT) & ((1 << (OP_SHIFT - WORD_SHIFT)) - 1)) as usize;
    let pos = ((key >> POS_SHIFT) & ((1 << (WORD_SHIFT - POS_SHIFT)) - 1)) as usize;
    Some(CharEdit { op, word, pos, ch })
}

/// `hf_order`: f32 bits as a key whose unsigned order is `f32::total_cmp`.
pub fn order_key(x: f32) -> u32 {
    let b = x.to_bits();
    if b & 0x8000_0000 != 0 {
        !b
    } else {
        b | 0x8000_0000
    }
}

/// `hotflip_score_f32`: every word's best `cap` candidates into `out`
/// (`[E·W]` lists). `grads`: `[E·W, L, D]`.
pub fn score_rows(
    gpu: &Gpu,
    table: &DeviceTable,
    inp: &DeviceInputs,
    grads: &DeviceBuf<f32>,
    cap: usize,
    out: &mut Tops,
) -> Result<()> {
    let kr = k::hotflip_score::HOTFLIP_SCORE_F32;
    let s = inp.shape;
    if (s.dim, s.vocab) != (table.dim, table.vocab) {
        return Err(Error::invalid(kr.name, format!("{s:?} on a table of {} × {}", table.dim, table.vocab)));
    }
    let p = s.params(kr.name, cap)?;
    let rows = s.rows();
    grads.expect_len(kr.name, "grads", rows * s.positions * s.dim)?;
    out.expect(kr.name, rows, cap)?;
    let cfg = LaunchConfig {
        grid_dim: (rows as u32, 1, 1),
        block_dim: (SCORE_THREADS, 1, 1),
        shared_mem_bytes: s.score_smem_bytes() as u32,
    };
    let mut args = gpu.args();
    args.arg(&p)
        .arg(grads)
        .arg(&inp.ids)
        .arg(&table.table_t)
        .arg(&table.chars)
        .arg(&table.allowed)
        .arg(&inp.open)
        .arg(&inp.lengths)
        .arg(&inp.unseen)
        .arg(&inp.parent)
        .arg(&mut out.total)
        .arg(&mut out.gain)
        .arg(&mut out.edit)
        .arg(&mut out.count);
    // SAFETY: the kernel's parameter list; every input was sized from (and
    // its ids checked against) the same shape when uploaded, the outputs
    // are checked above, and the shared memory is the kernel's carving.
    unsafe { gpu.launch(kr, &mut args, cfg) }
}

/// `hotflip_merge_f32`: each entry's best `cap` of its rows' lists (`rows`,
/// from [`score_rows`] with the same cap) into `out` (`[E]` lists).
pub fn merge_entries(gpu: &Gpu, shape: ScoreShape, rows: &Tops, out: &mut Tops) -> Result<()> {
    let kr = k::hotflip_score::HOTFLIP_MERGE_F32;
    let cap = rows.cap;
    let p = shape.params(kr.name, cap)?;
    rows.expect(kr.name, shape.rows(), cap)?;
    out.expect(kr.name, shape.entries, cap)?;
    let cfg = LaunchConfig {
        grid_dim: (shape.entries as u32, 1, 1),
        block_dim: (MERGE_THREADS, 1, 1),
        shared_mem_bytes: shape.merge_smem_bytes() as u32,
    };
    let mut args = gpu.args();
    args.arg(&p)
        .arg(&rows.total)
        .arg(&rows.gain)
        .arg(&rows.edit)
        .arg(&rows.count)
        .arg(&mut out.total)
        .arg(&mut out.gain)
        .arg(&mut out.edit)
        .arg(&mut out.count);
    // SAFETY: the kernel's parameter list; both list sets are sized from the
    // shape and cap (counts are clamped to the cap in the kernel).
    unsafe { gpu.launch(kr, &mut args, cfg) }
}

/// Both launches into `rows` and `entries` (sized for the shape and `cap`,
/// poisoned or not); per entry its best `cap` candidates, best first, on the
/// host (`top_children`'s per-entry lists when `cap = entry_cap(keep)`).
pub fn top_per_entry(
    gpu: &Gpu,
    table: &DeviceTable,
    inp: &DeviceInputs,
    grads: &DeviceBuf<f32>,
    (rows, entries): (&mut Tops, &mut Tops),
) -> Result<Vec<Vec<Candidate>>> {
    let (s, cap) = (inp.shape, rows.cap);
    score_rows(gpu, table, inp, grads, cap, rows)?;
    merge_entries(gpu, s, rows, entries)?;
    entries.download(gpu)?.decode(s, Lists::Entries)
}

/// From per-entry lists (best first, `fetched_cap` long at most) to
/// `top_children`'s result: per entry the first `entry_cap(keep)` that are
/// not `forbidden`, then the per-group merge. `None` when an entry's list
/// was full and too many of it were forbidden: fetch a longer list.
pub fn finish_on_host(
    per_entry: Vec<Vec<Candidate>>,
    entries: &[EntryRef<'_>],
    groups: usize,
    keep: usize,
    forbidden: &(dyn Fn(&CharDoc, &CharEdit) -> bool + Sync),
    fetched_cap: usize,
) -> Option<Vec<Vec<Candidate>>> {
    let cap = entry_cap(keep);
    let mut kept = Vec::with_capacity(per_entry.len());
    for list in per_entry {
        let full = list.len() >= fetched_cap;
        let allowed: Vec<Candidate> =
            list.into_iter().filter(|c| !forbidden(entries[c.entry].doc, &c.edit)).take(cap).collect();
        if full && allowed.len() < cap {
            return None;
        }
        kept.push(allowed);
    }
    Some(merge_groups(kept, entries, groups, keep))
}

/// `top_children` on the GPU for a whole attack: the table uploaded once,
/// the output lists reused between steps (allocated again only when a step
/// needs more), nothing poisoned.
pub struct CudaScorer<G: std::ops::Deref<Target = Gpu>> {
    gpu: G,
    table: Option<DeviceTable>,
    /// The host table the device copy was made from (address and length).
    table_of: (usize, usize),
    rows: Option<Tops>,
    entries: Option<Tops>,
}

impl<G: std::ops::Deref<Target = Gpu>> CudaScorer<G> {
    /// On `gpu` (`&Gpu` or `Arc<Gpu>`; the emulated device works too).
    pub fn new(gpu: G) -> Self {
        CudaScorer { gpu, table: None, table_of: (0, 0), rows: None, entries: None }
    }

    /// The same children as `top_children`, in the same order, with the
    /// same scores. Starts with `entry_cap(keep)` candidates per entry and
    /// fetches four times more while forbidden edits leave an entry short,
    /// up to one word's every candidate ((2L + 1)·V: a row list that long is
    /// complete); past that the step is scored on the host, by `top_children`
    /// itself, rather than sizing E·W row lists for a whole entry's worth.
    pub fn top_children(
        &mut self,
        t: &ScoreTensors<'_>,
        entries: &[EntryRef<'_>],
        groups: usize,
        keep: usize,
        forbidden: &(dyn Fn(&CharDoc, &CharEdit) -> bool + Sync),
    ) -> Result<Vec<Vec<Candidate>>> {
        let grads = self.gpu.upload(t.grads)?;
        self.top_children_of(t, &grads, entries, groups, keep, forbidden)
    }

    /// [`Self::top_children`] from gradients already on the device (the
    /// device model's backward pass left them there): `t.grads` is not read
    /// and may be empty; only the kept children come back. `grads` is
    /// `[E·W, L, D]`.
    pub fn top_children_of(
        &mut self,
        t: &ScoreTensors<'_>,
        grads: &DeviceBuf<f32>,
        entries: &[EntryRef<'_>],
        groups: usize,
        keep: usize,
        forbidden: &(dyn Fn(&CharDoc, &CharEdit) -> bool + Sync),
    ) -> Result<Vec<Vec<Candidate>>> {
        let gpu: &Gpu = &self.gpu;
        let host = HostInputs::with_grads(t, entries, grads.len())?;
        let table_of = (t.table_t.as_ptr() as usize, t.table_t.len());
        if self.table_of != table_of || !self.table.as_ref().is_some_and(|d| d.serves(&host)) {
            self.table = Some(DeviceTable::upload(gpu, t.table_t, t.dim, &host.chars, &host.allowed)?);
            self.table_of = table_of;
        }
        let table = self.table.as_ref().expect("uploaded above");
        let inp = DeviceInputs::upload(gpu, table, &host)?;
        let per_word = (2 * t.positions + 1).saturating_mul(host.shape.vocab);
        let mut cap = entry_cap(keep).min(per_word);
        loop {
            let s = host.shape;
            let rows = reuse(gpu, &mut self.rows, s.rows(), cap)?;
            let lists = reuse(gpu, &mut self.entries, s.entries, cap)?;
            let per_entry = top_per_entry(gpu, table, &inp, grads, (rows, lists))?;
            if let Some(out) = finish_on_host(per_entry, entries, groups, keep, forbidden, cap) {
                return Ok(out);
            }
            if cap >= per_word {
                // Rare (most candidates forbidden): the host scores this step.
                let host_grads = gpu.download(grads)?;
                let th = ScoreTensors { grads: &host_grads, ..*t };
                return Ok(crate::attack::score::chars::top_children(&th, entries, groups, keep, forbidden));
            }
            cap = (cap * 4).min(per_word);
        }
    }
}

/// `slot`'s lists if they have this shape, else new zeroed ones.
fn reuse<'a>(gpu: &Gpu, slot: &'a mut Option<Tops>, lists: usize, cap: usize) -> Result<&'a mut Tops> {
    if !slot.as_ref().is_some_and(|t| t.lists == lists && t.cap == cap) {
        *slot = Some(Tops::zeroed(gpu, lists, cap)?);
    }
    Ok(slot.as_mut().expect("set above"))
}

/// One step of [`CudaScorer`] (uploads the table: for one-off calls).
pub fn top_children_cuda(
    gpu: &Gpu,
    t: &ScoreTensors<'_>,
    entries: &[EntryRef<'_>],
    groups: usize,
    keep: usize,
    forbidden: &(dyn Fn(&CharDoc, &CharEdit) -> bool + Sync),
) -> Result<Vec<Vec<Candidate>>> {
    CudaScorer::new(gpu).top_children(t, entries, groups, keep, forbidden)
}

pub mod best_flips;
mod buffers;
mod check;
mod twins;

pub use buffers::{DeviceInputs, DeviceTable, HostInputs, HostTops, Lists, Tops};
pub use check::{checks, Case, CaseSize};
pub use twins::{compare_all, compare_lists, twin_entries, twin_rows, twin_scores};

#[cfg(test)]
mod tests;
