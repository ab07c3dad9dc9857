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

/// The kernels' inputs besides the gradients and the table, from the twin's
/// (`ScoreTensors` and the entries), checked: ids below V, allowed
/// characters distinct, sizes within the kernels' limits.
#[derive(Clone, Debug, PartialEq)]
pub struct HostInputs {
    pub shape: ScoreShape,
    /// `[E·W, L]`.
    pub ids: Vec<u32>,
    /// `[V]`: code points.
    pub chars: Vec<u32>,
    /// `[V]`: 0 or 1.
    pub allowed: Vec<u32>,
    /// `[E·W]`: 1 where the word exists and is open.
    pub open: Vec<u32>,
    /// `[E·W]`: full word lengths (0 past a document's words).
    pub lengths: Vec<u32>,
    /// `[E·W]`: id of character L − 1 of words longer than L − 1, else 0.
    pub unseen: Vec<u32>,
    /// `[E]`: the entries' scores.
    pub parent: Vec<f32>,
}

impl HostInputs {
    pub fn new(t: &ScoreTensors<'_>, entries: &[EntryRef<'_>]) -> Result<Self> {
        let shape = ScoreShape {
            entries: entries.len(),
            words: t.words,
            positions: t.positions,
            dim: t.dim,
            vocab: t.allowed.len(),
        };
        shape.params(OP, 1)?;
        let (l, v, rows) = (t.positions, shape.vocab, shape.rows());
        if t.ids.len() != rows * l || t.grads.len() != rows * l * t.dim || t.table_t.len() != t.dim * v {
            return Err(Error::invalid(OP, format!("ids, gradients or table do not match {shape:?}")));
        }
        if t.chars.len() != v {
            return Err(Error::invalid(OP, format!("{} characters for {v} ids", t.chars.len())));
        }
        let u32_of =
            |x: usize| u32::try_from(x).map_err(|_| Error::invalid(OP, format!("{x} does not fit in 32 bits")));
        let (mut open, mut lengths, mut unseen) = (vec![0u32; rows], vec![0u32; rows], vec![0u32; rows]);
        for (e, entry) in entries.iter().enumerate() {
            for (w, word) in entry.doc.words.iter().enumerate().take(t.words) {
                let row = e * t.words + w;
                open[row] = entry.open.get(w).copied().unwrap_or(false) as u32;
                lengths[row] = u32_of(word.len())?;
                if word.len() > l - 1 {
                    unseen[row] = u32_of((t.char_id)(word[l - 1]))?;
                }
            }
        }
        let host = HostInputs {
            shape,
            ids: t.ids.iter().map(|&i| u32_of(i)).collect::<Result<_>>()?,
            chars: t.chars.iter().map(|&c| c as u32).collect(),
            allowed: t.allowed.iter().map(|&a| a as u32).collect(),
            open,
            lengths,
            unseen,
            parent: entries.iter().map(|e| e.score).collect(),
        };
        host.validate()?;
        Ok(host)
    }

    /// What the kernels rely on: lengths, ids below V (the kernel indexes
    /// shared memory with them), distinct allowed characters (edit keys
    /// must be unique).
    pub fn validate(&self) -> Result<()> {
        let s = self.shape;
        let (rows, v) = (s.rows(), s.vocab);
        s.params(OP, 1)?;
        let lens = [
            ("ids", self.ids.len(), rows * s.positions),
            ("chars", self.chars.len(), v),
            ("allowed", self.allowed.len(), v),
            ("open", self.open.len(), rows),
            ("lengths", self.lengths.len(), rows),
            ("unseen", self.unseen.len(), rows),
            ("parent", self.parent.len(), s.entries),
        ];
        if let Some((what, got, want)) = lens.iter().find(|(_, got, want)| got != want) {
            return Err(Error::invalid(OP, format!("{what} holds {got} values, {s:?} needs {want}")));
        }
        if let Some(&bad) = self.ids.iter().chain(&self.unseen).find(|&&i| i as usize >= v) {
            return Err(Error::IndexOutOfRange { op: OP, index: bad as usize, size: v });
        }
        let mut seen = HashSet::new();
        for (c, &a) in self.chars.iter().zip(&self.allowed) {
            if a > 1 || (a == 1 && (char::from_u32(*c).is_none() || !seen.insert(*c))) {
                return Err(Error::invalid(OP, format!("allowed characters must be distinct code points ({c:#x})")));
            }
        }
        if self.open.iter().any(|&o| o > 1) {
            return Err(Error::invalid(OP, "open flags must be 0 or 1"));
        }
        Ok(())
    }
}

/// What stays on the device for a whole attack (one model, one character
/// vocabulary): the embedding table transposed `[D, V]`, the characters and
/// the allowed flags `[V]`. Uploaded once ([`CudaScorer`] keeps it).
pub struct DeviceTable {
    dim: usize,
    vocab: usize,
    table_t: DeviceBuf<f32>,
    chars: DeviceBuf<u32>,
    allowed: DeviceBuf<u32>,
    /// The host's copies of chars and allowed, to check steps against.
    host_chars: Vec<u32>,
    host_allowed: Vec<u32>,
}

impl DeviceTable {
    /// `table_t [D, V]`; `chars`/`allowed` as [`HostInputs`] holds them.
    pub fn upload(gpu: &Gpu, table_t: &[f32], dim: usize, chars: &[u32], allowed: &[u32]) -> Result<Self> {
        let vocab = chars.len();
        if allowed.len() != vocab || table_t.len() != dim * vocab {
            return Err(Error::invalid(
                OP,
                format!(
                    "table holds {} values, chars {vocab}, allowed {}: not D·V, V, V",
                    table_t.len(),
                    allowed.len()
                ),
            ));
        }
        Ok(DeviceTable {
            dim,
            vocab,
            table_t: gpu.upload(table_t)?,
            chars: gpu.upload(chars)?,
            allowed: gpu.upload(allowed)?,
            host_chars: chars.to_vec(),
            host_allowed: allowed.to_vec(),
        })
    }

    /// Whether a step's inputs use this table's vocabulary.
    pub fn serves(&self, host: &HostInputs) -> bool {
        host.shape.dim == self.dim && host.chars == self.host_chars && host.allowed == self.host_allowed
    }
}

/// One step's inputs on the device (from [`HostInputs`], validated again).
pub struct DeviceInputs {
    shape: ScoreShape,
    ids: DeviceBuf<u32>,
    open: DeviceBuf<u32>,
    lengths: DeviceBuf<u32>,
    unseen: DeviceBuf<u32>,
    parent: DeviceBuf<f32>,
}

impl DeviceInputs {
    /// The step's ids, flags and scores; `table` must hold its vocabulary.
    pub fn upload(gpu: &Gpu, table: &DeviceTable, host: &HostInputs) -> Result<Self> {
        host.validate()?;
        if !table.serves(host) {
            return Err(Error::invalid(OP, "the step's characters or dimension differ from the uploaded table's"));
        }
        Ok(DeviceInputs {
            shape: host.shape,
            ids: gpu.upload(&host.ids)?,
            open: gpu.upload(&host.open)?,
            lengths: gpu.upload(&host.lengths)?,
            unseen: gpu.upload(&host.unseen)?,
            parent: gpu.upload(&host.parent)?,
        })
    }

    pub fn shape(&self) -> ScoreShape {
        self.shape
    }
}

/// `lists` candidate lists of `cap` slots on the device: totals, gains and
/// edit keys `[lists, cap]`, counts `[lists]`.
pub struct Tops {
    pub lists: usize,
    pub cap: usize,
    pub total: DeviceBuf<f32>,
    pub gain: DeviceBuf<f32>,
    pub edit: DeviceBuf<u64>,
    pub count: DeviceBuf<u32>,
}

impl Tops {
    /// Poisoned, so that an unwritten slot shows (the self-check's outputs).
    pub fn poisoned(gpu: &Gpu, lists: usize, cap: usize) -> Result<Self> {
        Ok(Tops {
            lists,
            cap,
            total: gpu.filled(lists * cap, POISON)?,
            gain: gpu.filled(lists * cap, POISON)?,
            edit: gpu.filled(lists * cap, POISON_U64)?,
            count: gpu.filled(lists, POISON_U32)?,
        })
    }

    /// Zeroed (a device memset): the attack's outputs, which the kernels
    /// overwrite completely; no host copy of poison per step.
    pub fn zeroed(gpu: &Gpu, lists: usize, cap: usize) -> Result<Self> {
        Ok(Tops {
            lists,
            cap,
            total: gpu.zeros(lists * cap)?,
            gain: gpu.zeros(lists * cap)?,
            edit: gpu.zeros(lists * cap)?,
            count: gpu.zeros(lists)?,
        })
    }

    /// Lists made on the host (the merge kernel's self-check feeds it the
    /// twin's row lists, so that it checks that kernel alone).
    pub fn upload(gpu: &Gpu, h: &HostTops) -> Result<Self> {
        let n = h.lists * h.cap;
        if h.total.len() != n || h.gain.len() != n || h.edit.len() != n || h.count.len() != h.lists {
            return Err(Error::invalid(OP, format!("host lists do not hold {}×{} slots", h.lists, h.cap)));
        }
        Ok(Tops {
            lists: h.lists,
            cap: h.cap,
            total: gpu.upload(&h.total)?,
            gain: gpu.upload(&h.gain)?,
            edit: gpu.upload(&h.edit)?,
            count: gpu.upload(&h.count)?,
        })
    }

    pub fn download(&self, gpu: &Gpu) -> Result<HostTops> {
        Ok(HostTops {
            lists: self.lists,
            cap: self.cap,
            total: gpu.download(&self.total)?,
            gain: gpu.download(&self.gain)?,
            edit: gpu.download(&self.edit)?,
            count: gpu.download(&self.count)?,
        })
    }

    fn expect(&self, op: &'static str, lists: usize, cap: usize) -> Result<()> {
        if self.lists != lists || self.cap != cap {
            return Err(Error::invalid(
                op,
                format!("{}×{} output lists, the launch needs {lists}×{cap}", self.lists, self.cap),
            ));
        }
        self.total.expect_len(op, "total", lists * cap)?;
        self.gain.expect_len(op, "gain", lists * cap)?;
        self.edit.expect_len(op, "edit", lists * cap)?;
        self.count.expect_len(op, "count", lists)
    }
}

/// Candidate lists as the kernels write them, on the host.
#[derive(Clone, Debug, PartialEq)]
pub struct HostTops {
    pub lists: usize,
    pub cap: usize,
    pub total: Vec<f32>,
    pub gain: Vec<f32>,
    pub edit: Vec<u64>,
    pub count: Vec<u32>,
}

/// Which lists a [`HostTops`] holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lists {
    /// `hotflip_score_f32`'s: one per word row `e·W + w`.
    Rows,
    /// `hotflip_merge_f32`'s: one per entry.
    Entries,
}

impl HostTops {
    /// Lists as a kernel writes them, from candidates (best first, at most
    /// `cap` each): slots past the count hold (0, 0, EMPTY).
    pub fn from_lists(lists: &[Vec<Candidate>], cap: usize) -> Result<Self> {
        let n = lists.len();
        let mut h = HostTops {
            lists: n,
            cap,
            total: vec![0.0; n * cap],
            gain: vec![0.0; n * cap],
            edit: vec![EMPTY; n * cap],
            count: Vec::with_capacity(n),
        };
        for (i, l) in lists.iter().enumerate() {
            if l.len() > cap {
                return Err(Error::invalid(
                    OP,
                    format!("list {i} holds {} candidates, more than the cap {cap}", l.len()),
                ));
            }
            h.count.push(l.len() as u32);
            for (s, c) in l.iter().enumerate() {
                h.total[i * cap + s] = c.total;
                h.gain[i * cap + s] = c.gain;
                h.edit[i * cap + s] =
                    pack_edit(&c.edit).ok_or_else(|| Error::invalid(OP, format!("{:?} does not fit a key", c.edit)))?;
            }
        }
        Ok(h)
    }

    /// The lists as candidates, after checking everything a kernel must
    /// have written: counts within the cap, valid and distinct edits of the
    /// list's word (or entry) within the shape, empty slots past the count
    /// holding (0, 0, EMPTY). Any poison left fails here.
    pub fn decode(&self, shape: ScoreShape, which: Lists) -> Result<Vec<Vec<Candidate>>> {
        let want_lists = match which {
            Lists::Rows => shape.rows(),
            Lists::Entries => shape.entries,
        };
        let k = self.cap;
        if self.lists != want_lists
            || self.total.len() != want_lists * k
            || self.gain.len() != want_lists * k
            || self.edit.len() != want_lists * k
            || self.count.len() != want_lists
        {
            return Err(Error::invalid(OP, format!("{} lists of {k} for {want_lists} expected", self.lists)));
        }
        let bad = |list: usize, msg: String| Error::invalid(OP, format!("list {list}: {msg}"));
        let mut out = Vec::with_capacity(want_lists);
        for (list, &count) in self.count.iter().enumerate() {
            let count = count as usize;
            if count > k {
                return Err(bad(list, format!("count {count} exceeds the cap {k}")));
            }
            let entry = match which {
                Lists::Rows => list / shape.words,
                Lists::Entries => list,
            };
            let mut seen = HashSet::new();
            let mut cands = Vec::with_capacity(count);
            for s in 0..k {
                let at = list * k + s;
                let (total, gain, key) = (self.total[at], self.gain[at], self.edit[at]);
                if s >= count {
                    if key != EMPTY || total.to_bits() != 0 || gain.to_bits() != 0 {
                        return Err(bad(list, format!("slot {s} past the count holds ({total}, {gain}, {key:#x})")));
                    }
                    continue;
                }
                let edit = unpack_edit(key).ok_or_else(|| bad(list, format!("slot {s}: no edit in key {key:#x}")))?;
                let in_shape = edit.word < shape.words
                    && edit.pos < shape.positions
                    && (which == Lists::Entries || edit.word == list % shape.words);
                if !in_shape || !seen.insert(key) {
                    return Err(bad(list, format!("slot {s}: edit {edit:?} is repeated or outside the list's words")));
                }
                cands.push(Candidate { entry, edit, gain, total });
            }
            out.push(cands);
        }
        Ok(out)
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
        let gpu: &Gpu = &self.gpu;
        let host = HostInputs::new(t, entries)?;
        let table_of = (t.table_t.as_ptr() as usize, t.table_t.len());
        if self.table_of != table_of || !self.table.as_ref().is_some_and(|d| d.serves(&host)) {
            self.table = Some(DeviceTable::upload(gpu, t.table_t, t.dim, &host.chars, &host.allowed)?);
            self.table_of = table_of;
        }
        let table = self.table.as_ref().expect("uploaded above");
        let inp = DeviceInputs::upload(gpu, table, &host)?;
        let grads = gpu.upload(t.grads)?;
        let per_word = (2 * t.positions + 1).saturating_mul(host.shape.vocab);
        let mut cap = entry_cap(keep).min(per_word);
        loop {
            let s = host.shape;
            let rows = reuse(gpu, &mut self.rows, s.rows(), cap)?;
            let lists = reuse(gpu, &mut self.entries, s.entries, cap)?;
            let per_entry = top_per_entry(gpu, table, &inp, &grads, (rows, lists))?;
            if let Some(out) = finish_on_host(per_entry, entries, groups, keep, forbidden, cap) {
                return Ok(out);
            }
            if cap >= per_word {
                return Ok(crate::attack::score::chars::top_children(t, entries, groups, keep, forbidden));
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

/// Twin of `hotflip_score_f32`: per word row `e·W + w`, its best `cap`
/// candidates by `Candidate::rank` (from `score_all`, i.e. `for_each_edit`).
pub fn twin_rows(t: &ScoreTensors<'_>, entries: &[EntryRef<'_>], cap: usize) -> Vec<Vec<Candidate>> {
    let mut rows = vec![Vec::new(); entries.len() * t.words];
    for c in score_all(t, entries) {
        rows[c.entry * t.words + c.edit.word].push(c);
    }
    for r in &mut rows {
        r.sort_by(|a, b| a.rank(b));
        r.truncate(cap);
    }
    rows
}

/// Twin of both kernels: per entry its best `cap` candidates, best first —
/// `top_children`'s (and `top_children_by_sorting`'s) per-entry lists
/// before the per-group merge, with nothing forbidden.
pub fn twin_entries(t: &ScoreTensors<'_>, entries: &[EntryRef<'_>], cap: usize) -> Vec<Vec<Candidate>> {
    let mut lists = vec![Vec::new(); entries.len()];
    for c in score_all(t, entries) {
        lists[c.entry].push(c);
    }
    for l in &mut lists {
        l.sort_by(|a, b| a.rank(b));
        l.truncate(cap);
    }
    lists
}

/// The twin's candidate for each (entry, edit) in `lists`: what a kernel's
/// candidate is compared with.
pub fn twin_scores(
    t: &ScoreTensors<'_>,
    entries: &[EntryRef<'_>],
    lists: &[Vec<Candidate>],
) -> HashMap<(usize, CharEdit), Candidate> {
    let wanted: HashSet<(usize, CharEdit)> = lists.iter().flatten().map(|c| (c.entry, c.edit)).collect();
    score_all(t, entries)
        .into_iter()
        .filter(|c| wanted.contains(&(c.entry, c.edit)))
        .map(|c| ((c.entry, c.edit), c))
        .collect()
}

/// How far `got` (a kernel's list) is from `want` (the twin's list for the
/// same entry, word or group): the largest relative difference of a
/// candidate's total or gain from the twin's score for the same (entry,
/// edit), `|got − twin| / max(1, |twin|)`. `Err` says how they differ where
/// a summation order cannot explain it:
/// - different lengths, or a candidate the twin does not produce;
/// - `got` not strictly in `Candidate::rank` order by its own totals: equal
///   totals must be ordered by entry and edit exactly as the twin orders
///   them, so a wrong tie-break fails here whatever the tolerance;
/// - two candidates in another order than the twin's scores give, unless
///   their twin totals are within `2·tol·max(1, |total|)` (the kernel's
///   totals differ from the twin's, each by at most `tol`, and order them);
/// - a candidate in one list only, unless every such pair (one from each
///   side) has twin totals within that window (a near-tie at the cut).
///
/// A score difference beyond `tol` returns `Ok` with that difference (NaN
/// for NaN), which fails the check's threshold. The kernels round as the
/// twin does, so on a correct GPU every difference is 0 and the windows
/// are never used; they keep the check meaningful if the arithmetic ever
/// changes (an FMA, another summation order).
pub fn compare_lists(
    got: &[Candidate],
    want: &[Candidate],
    twin_of: &dyn Fn(&Candidate) -> Option<Candidate>,
    tol: f64,
) -> std::result::Result<f64, String> {
    let scale = |x: f32| (x.abs() as f64).max(1.0);
    let rel = |a: f32, b: f32| ((a as f64) - (b as f64)).abs() / scale(b);
    let near = |a: f32, b: f32| rel(a, b) <= 2.0 * tol || rel(b, a) <= 2.0 * tol;
    if got.len() != want.len() {
        return Err(format!("{} candidates, the twin has {}", got.len(), want.len()));
    }
    for (i, pair) in got.windows(2).enumerate() {
        if pair[0].rank(&pair[1]) != std::cmp::Ordering::Less {
            return Err(format!("slots {i} and {} are not in rank order: {:?}, {:?}", i + 1, pair[0], pair[1]));
        }
    }
    let mut twins = Vec::with_capacity(got.len());
    let mut err = 0.0f64;
    for g in got {
        let c = twin_of(g).ok_or_else(|| format!("{g:?} is no edit the twin scores"))?;
        // `worst`, not `max`: f64::max would drop a NaN.
        err = worst(err, worst(rel(g.total, c.total), rel(g.gain, c.gain)));
        if err.is_nan() {
            return Ok(f64::NAN);
        }
        twins.push(c);
    }
    if err > tol {
        return Ok(err);
    }
    for i in 0..got.len() {
        for j in i + 1..got.len() {
            let inverted = twins[j].rank(&twins[i]) == std::cmp::Ordering::Less;
            if inverted && !near(twins[i].total, twins[j].total) {
                return Err(format!("{:?} and {:?} are in the other order than the twin's", got[i], got[j]));
            }
        }
    }
    let ids = |l: &[Candidate]| l.iter().map(|c| (c.entry, c.edit)).collect::<HashSet<_>>();
    let (got_ids, want_ids) = (ids(got), ids(want));
    let only_got: Vec<&Candidate> = twins.iter().filter(|c| !want_ids.contains(&(c.entry, c.edit))).collect();
    let only_want: Vec<&Candidate> = want.iter().filter(|c| !got_ids.contains(&(c.entry, c.edit))).collect();
    for x in &only_got {
        for y in &only_want {
            if !near(x.total, y.total) {
                return Err(format!("{x:?} came back instead of the twin's {y:?}, which ranks clearly better"));
            }
        }
    }
    Ok(err)
}

/// [`compare_lists`] over every list, the twin's candidates looked up in
/// `scores` ([`twin_scores`]); the worst difference.
pub fn compare_all(
    got: &[Vec<Candidate>],
    want: &[Vec<Candidate>],
    scores: &HashMap<(usize, CharEdit), Candidate>,
    tol: f64,
) -> Result<f64> {
    if got.len() != want.len() {
        return Err(Error::invalid(OP, format!("{} lists, the twin has {}", got.len(), want.len())));
    }
    let twin_of = |c: &Candidate| scores.get(&(c.entry, c.edit)).copied();
    let mut err = 0.0;
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let e = compare_lists(g, w, &twin_of, tol).map_err(|m| Error::invalid(OP, format!("list {i}: {m}")))?;
        err = worst(err, e);
    }
    Ok(err)
}

/// Size limits of a [`Case`].
#[derive(Clone, Copy, Debug)]
pub struct CaseSize {
    pub entries: usize,
    pub words: usize,
    pub positions: usize,
    pub dim: usize,
    pub vocab: usize,
    pub keep: usize,
}

/// A random scoring step with everything the twin needs: documents (some
/// words longer than L − 1, some with repeated or unknown characters, some
/// closed), a vocabulary whose character order is not its id order, exact
/// ties (zero gradient rows, duplicated table columns, equal parent scores).
#[derive(Clone, Debug)]
pub struct Case {
    pub docs: Vec<CharDoc>,
    pub opens: Vec<Vec<bool>>,
    pub groups: Vec<usize>,
    pub n_groups: usize,
    pub scores: Vec<f32>,
    pub keep: usize,
    pub words: usize,
    pub positions: usize,
    pub dim: usize,
    /// `[V]`; ids 0 (PAD) and 1 (UNK) are `'\0'`.
    pub chars: Vec<char>,
    pub allowed: Vec<bool>,
    /// `[D, V]`.
    pub table_t: Vec<f32>,
    /// `[E·W, L]`, from `CharBatch::from_docs`.
    pub ids: Vec<usize>,
    /// `[E·W, L, D]`.
    pub grads: Vec<f32>,
    char_ids: HashMap<char, usize>,
}

impl Case {
    pub fn random(rng: &mut Rng, size: CaseSize) -> Self {
        let v = size_in(rng, 3, size.vocab.max(3));
        let l = size_in(rng, 2, size.positions.max(2));
        let d = size_in(rng, 1, size.dim.max(1));
        let e = size_in(rng, 1, size.entries.max(1));
        // Distinct code points, shuffled against the ids: ASCII and beyond.
        let mut pool: Vec<char> = ('!'..='~').chain('À'..='ɏ').collect();
        rng.shuffle(&mut pool);
        let mut chars = vec!['\0'; v];
        chars[2..].copy_from_slice(&pool[..v - 2]);
        let char_ids: HashMap<char, usize> = chars.iter().enumerate().skip(2).map(|(i, &c)| (c, i)).collect();
        let allowed: Vec<bool> = (0..v).map(|i| i >= 2 && rng.below(8) != 0).collect();
        let unknown = pool[v - 2]; // not in the vocabulary: UNK
        let n_groups = size_in(rng, 1, e);
        let groups: Vec<usize> = (0..e).map(|i| if i < n_groups { i } else { rng.below(n_groups) }).collect();
        let shared_score = rng.below(2) == 0;
        let group_scores: Vec<f32> = (0..n_groups).map(|_| rng.normal()).collect();
        let scores: Vec<f32> =
            groups.iter().map(|&g| if shared_score { group_scores[g] } else { rng.normal() }).collect();
        let mut docs = Vec::with_capacity(e);
        let mut opens = Vec::with_capacity(e);
        for _ in 0..e {
            let n_words = size_in(rng, 1, size.words.max(1));
            let words: Vec<Vec<char>> = (0..n_words)
                .map(|_| {
                    let len = match rng.below(10) {
                        0 => 0,
                        1 | 2 => size_in(rng, l - 1, l + 3),
                        _ => size_in(rng, 1, l),
                    };
                    // Some words from two characters only (runs: unchanged shifts).
                    let alphabet: Vec<char> = if rng.below(3) == 0 {
                        vec![chars[2 + rng.below(v - 2)], chars[2 + rng.below(v - 2)]]
                    } else {
                        chars[2..].to_vec()
                    };
                    (0..len)
                        .map(|_| if rng.below(25) == 0 { unknown } else { alphabet[rng.below(alphabet.len())] })
                        .collect()
                })
                .collect();
            opens.push((0..n_words).map(|_| rng.below(5) != 0).collect());
            docs.push(CharDoc { changed: vec![false; words.len()], words });
        }
        let id_of = |c: char| char_ids.get(&c).copied().unwrap_or(1);
        let ids: Vec<Vec<Vec<usize>>> =
            docs.iter().map(|doc| doc.words.iter().map(|w| w.iter().map(|&c| id_of(c)).collect()).collect()).collect();
        let max_words = docs.iter().map(|d| d.words.len()).max().unwrap_or(1);
        let batch = CharBatch::from_docs(&ids, l, max_words).expect("documents have words and L ≥ 2");
        let mut table_t: Vec<f32> = (0..d * v).map(|_| rng.normal()).collect();
        // Duplicated columns: flips to either character score the same.
        for _ in 0..rng.below(3) {
            let (a, b) = (rng.below(v), rng.below(v));
            for k in 0..d {
                table_t[k * v + b] = table_t[k * v + a];
            }
        }
        let mut grads: Vec<f32> = (0..batch.batch * batch.words * l * d).map(|_| rng.normal()).collect();
        // Zero rows: every score of the position is 0.
        for row in grads.chunks_mut(d) {
            if rng.below(12) == 0 {
                row.fill(0.0);
            }
        }
        for word in grads.chunks_mut(l * d) {
            if rng.below(10) == 0 {
                word.fill(0.0);
            }
        }
        Case {
            docs,
            opens,
            groups,
            n_groups,
            scores,
            keep: size_in(rng, 1, size.keep.max(1)),
            words: batch.words,
            positions: l,
            dim: d,
            chars,
            allowed,
            table_t,
            ids: batch.ids,
            grads,
            char_ids,
        }
    }

    /// `entry_cap(keep)`: the candidates per entry `top_children` keeps.
    pub fn cap(&self) -> usize {
        entry_cap(self.keep)
    }

    /// Runs `f` on the case as the twin takes it.
    pub fn with_twin<R>(&self, f: impl FnOnce(&ScoreTensors<'_>, &[EntryRef<'_>]) -> R) -> R {
        let char_id = |c: char| self.char_ids.get(&c).copied().unwrap_or(1);
        let t = ScoreTensors {
            grads: &self.grads,
            ids: &self.ids,
            words: self.words,
            positions: self.positions,
            dim: self.dim,
            table_t: &self.table_t,
            allowed: &self.allowed,
            chars: &self.chars,
            char_id: &char_id,
        };
        let entries: Vec<EntryRef<'_>> = self
            .docs
            .iter()
            .zip(&self.opens)
            .enumerate()
            .map(|(e, (doc, open))| EntryRef { doc, group: self.groups[e], score: self.scores[e], open })
            .collect();
        f(&t, &entries)
    }
}

/// Sizes of the self-check's cases: small ones (a word or two, tiny
/// alphabets: many ties, lists shorter than the cap) and larger ones.
fn check_size(trial: usize) -> CaseSize {
    if trial.is_multiple_of(2) {
        CaseSize { entries: 3, words: 4, positions: 6, dim: 4, vocab: 8, keep: 4 }
    } else if small_sizes() {
        // The emulator: a few blocks with many candidates per thread.
        CaseSize { entries: 2, words: 6, positions: 14, dim: 12, vocab: 60, keep: 10 }
    } else {
        CaseSize { entries: 6, words: 24, positions: 18, dim: 32, vocab: 100, keep: 12 }
    }
}

/// Cases per check: fewer on the emulator.
fn check_trials() -> usize {
    if small_sizes() {
        4
    } else {
        6
    }
}

fn check_score(gpu: &Gpu, rng: &mut Rng) -> Result<f64> {
    let mut err = 0.0;
    for trial in 0..check_trials() {
        let case = Case::random(rng, check_size(trial));
        let cap = case.cap();
        let e = case.with_twin(|t, entries| -> Result<f64> {
            let host = HostInputs::new(t, entries)?;
            let table = DeviceTable::upload(gpu, t.table_t, t.dim, &host.chars, &host.allowed)?;
            let inp = DeviceInputs::upload(gpu, &table, &host)?;
            let grads = gpu.upload(t.grads)?;
            let mut rows = Tops::poisoned(gpu, host.shape.rows(), cap)?;
            score_rows(gpu, &table, &inp, &grads, cap, &mut rows)?;
            let got = rows.download(gpu)?.decode(host.shape, Lists::Rows)?;
            compare_all(&got, &twin_rows(t, entries, cap), &twin_scores(t, entries, &got), MATH)
        })?;
        err = worst(err, e);
    }
    Ok(err)
}

/// The merge kernel alone, on the twin's row lists made on the host: the
/// per-entry lists against the twin's, then the host's per-group merge of
/// them against `top_children` itself.
fn check_merge(gpu: &Gpu, rng: &mut Rng) -> Result<f64> {
    let mut err = 0.0;
    for trial in 0..check_trials() {
        let case = Case::random(rng, check_size(trial));
        let (cap, keep, groups) = (case.cap(), case.keep, case.n_groups);
        let e = case.with_twin(|t, entries| -> Result<f64> {
            let shape = HostInputs::new(t, entries)?.shape;
            let rows = Tops::upload(gpu, &HostTops::from_lists(&twin_rows(t, entries, cap), cap)?)?;
            let mut out = Tops::poisoned(gpu, shape.entries, cap)?;
            merge_entries(gpu, shape, &rows, &mut out)?;
            let got = out.download(gpu)?.decode(shape, Lists::Entries)?;
            let mut e = compare_all(&got, &twin_entries(t, entries, cap), &twin_scores(t, entries, &got), MATH)?;
            let none = |_: &CharDoc, _: &CharEdit| false;
            let got_groups = finish_on_host(got, entries, groups, keep, &none, cap)
                .ok_or_else(|| Error::invalid(OP, "nothing is forbidden, yet a list came back short"))?;
            let want_groups = crate::attack::score::chars::top_children(t, entries, groups, keep, &none);
            let scores = twin_scores(t, entries, &got_groups);
            e = worst(e, compare_all(&got_groups, &want_groups, &scores, MATH)?);
            Ok(e)
        })?;
        err = worst(err, e);
    }
    Ok(err)
}

pub fn checks() -> Vec<Check> {
    vec![
        Check::kernel(
            k::hotflip_score::HOTFLIP_SCORE_F32,
            "attack::score::chars::for_each_edit, each word's best 2·keep by Candidate::rank",
            MATH,
            check_score,
        ),
        Check::kernel(
            k::hotflip_score::HOTFLIP_MERGE_F32,
            "attack::score::chars::top_children's per-entry lists, from the twin's row lists (then the host's \
             per-group merge)",
            MATH,
            check_merge,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attack::score::chars::{top_children, top_children_by_sorting};

    fn small() -> CaseSize {
        CaseSize { entries: 4, words: 6, positions: 7, dim: 5, vocab: 12, keep: 5 }
    }

    fn edit(op: CharOp, word: usize, pos: usize, ch: char) -> CharEdit {
        CharEdit { op, word, pos, ch }
    }

    #[test]
    fn edit_keys_round_trip_and_order_as_char_edits() {
        let mut rng = Rng::new(1);
        let ops = [CharOp::Flip, CharOp::Insert, CharOp::Delete];
        let chars = ['a', 'b', 'Z', 'é', '\u{10FFFF}', '😀'];
        let edits: Vec<CharEdit> = (0..400)
            .map(|_| {
                let op = ops[rng.below(3)];
                let ch = if op == CharOp::Delete { '\0' } else { chars[rng.below(chars.len())] };
                let big =
                    |rng: &mut Rng, m: usize| if rng.below(4) == 0 { m - 1 - rng.below(3) } else { rng.below(20) };
                edit(op, big(&mut rng, MAX_WORDS), big(&mut rng, MAX_POSITIONS), ch)
            })
            .collect();
        for a in &edits {
            let ka = pack_edit(a).unwrap();
            assert_eq!(unpack_edit(ka), Some(*a));
            assert_ne!(ka, EMPTY);
            for b in &edits {
                assert_eq!(ka.cmp(&pack_edit(b).unwrap()), a.cmp(b), "{a:?} vs {b:?}");
            }
        }
        assert_eq!(pack_edit(&edit(CharOp::Flip, MAX_WORDS, 0, 'a')), None);
        assert_eq!(pack_edit(&edit(CharOp::Flip, 0, MAX_POSITIONS, 'a')), None);
        assert_eq!(unpack_edit(EMPTY), None);
        assert_eq!(unpack_edit(POISON_U64), None, "poison must not decode");
        assert_eq!(unpack_edit((2 << OP_SHIFT) | 'a' as u64), None, "a delete carries no character");
        assert_eq!(unpack_edit(0xD800), None, "a surrogate is no char");
    }

    #[test]
    fn order_keys_follow_total_cmp() {
        let mut xs = vec![
            f32::NEG_INFINITY,
            f32::INFINITY,
            -0.0,
            0.0,
            f32::MIN_POSITIVE,
            -f32::MIN_POSITIVE,
            f32::from_bits(1),
            f32::from_bits(0x8000_0001),
            f32::NAN,
            -f32::NAN,
            f32::MAX,
            f32::MIN,
            POISON,
        ];
        let mut rng = Rng::new(2);
        xs.extend((0..100).map(|_| rng.normal() * 10.0));
        for &a in &xs {
            for &b in &xs {
                assert_eq!(order_key(a).cmp(&order_key(b)), a.total_cmp(&b), "{a} vs {b}");
            }
        }
        // The kernel file computes the same transform.
        let src = crate::cuda::registry::file("hotflip_score").unwrap().source;
        assert!(src.contains("return (b & 0x80000000u) ? ~b : (b | 0x80000000u);"));
        for (name, v) in [("HF_OP_SHIFT", OP_SHIFT), ("HF_WORD_SHIFT", WORD_SHIFT), ("HF_POS_SHIFT", POS_SHIFT)] {
            assert!(src.contains(&format!("#define {name} {v}\n")), "{name}");
        }
        assert!(src.contains(&format!("#define HF_SLOTS {SLOTS}\n")));
    }

    #[test]
    fn the_twins_are_top_children_without_a_filter() {
        let mut rng = Rng::new(3);
        for _ in 0..30 {
            let case = Case::random(&mut rng, small());
            let (keep, groups) = (case.keep, case.n_groups);
            case.with_twin(|t, entries| {
                let none = |_: &CharDoc, _: &CharEdit| false;
                let lists = twin_entries(t, entries, entry_cap(keep));
                let via_lists = finish_on_host(lists.clone(), entries, groups, keep, &none, entry_cap(keep)).unwrap();
                assert_eq!(via_lists, top_children(t, entries, groups, keep, &none));
                // The rows' lists hold every entry list's candidates.
                let rows = twin_rows(t, entries, entry_cap(keep));
                for (e, list) in lists.iter().enumerate() {
                    let mut merged: Vec<Candidate> = rows[e * t.words..(e + 1) * t.words].concat();
                    merged.sort_by(|a, b| a.rank(b));
                    merged.truncate(entry_cap(keep));
                    assert_eq!(&merged, list);
                }
            });
        }
    }

    #[test]
    fn finishing_on_the_host_filters_forbidden_edits_or_asks_for_more() {
        let mut rng = Rng::new(4);
        let mut short = 0;
        for _ in 0..40 {
            let case = Case::random(&mut rng, small());
            let (keep, groups) = (case.keep, case.n_groups);
            case.with_twin(|t, entries| {
                // Forbid a third of the characters: many candidates drop out.
                let forbidden = |_: &CharDoc, e: &CharEdit| (e.ch as u32).is_multiple_of(3) && e.op != CharOp::Delete;
                let want = top_children(t, entries, groups, keep, &forbidden);
                assert_eq!(want, top_children_by_sorting(t, entries, groups, keep, &forbidden));
                let mut cap = entry_cap(keep);
                loop {
                    match finish_on_host(twin_entries(t, entries, cap), entries, groups, keep, &forbidden, cap) {
                        Some(got) => {
                            assert_eq!(got, want);
                            break;
                        }
                        None => {
                            short += 1;
                            cap *= 4;
                        }
                    }
                }
            });
        }
        assert!(short > 0, "no case needed a longer list: the test does not exercise the retry");
    }

    #[test]
    fn host_inputs_follow_the_documents() {
        let mut rng = Rng::new(5);
        for _ in 0..20 {
            let case = Case::random(&mut rng, small());
            case.with_twin(|t, entries| {
                let h = HostInputs::new(t, entries).unwrap();
                let l = t.positions;
                for (e, entry) in entries.iter().enumerate() {
                    for w in 0..t.words {
                        let row = e * t.words + w;
                        match entry.doc.words.get(w) {
                            None => assert_eq!((h.open[row], h.lengths[row]), (0, 0)),
                            Some(word) => {
                                assert_eq!(h.open[row] == 1, entry.open[w]);
                                assert_eq!(h.lengths[row] as usize, word.len());
                                let want = if word.len() > l - 1 { (t.char_id)(word[l - 1]) } else { 0 };
                                assert_eq!(h.unseen[row] as usize, want);
                            }
                        }
                    }
                }
            });
        }
        // Two allowed ids with one character would make edit keys collide.
        let case = Case::random(&mut rng, small());
        case.with_twin(|t, entries| {
            let mut h = HostInputs::new(t, entries).unwrap();
            let a: Vec<usize> = (0..h.chars.len()).filter(|&i| h.allowed[i] == 1).collect();
            if a.len() >= 2 {
                h.chars[a[1]] = h.chars[a[0]];
                assert!(h.validate().is_err());
                h.chars[a[1]] = 'ʬ' as u32;
            }
            h.ids[0] = h.shape.vocab as u32;
            assert!(matches!(h.validate(), Err(Error::IndexOutOfRange { .. })));
        });
    }

    fn encode(lists: &[Vec<Candidate>], cap: usize) -> HostTops {
        HostTops::from_lists(lists, cap).unwrap()
    }

    #[test]
    fn decoding_round_trips_and_rejects_what_a_kernel_must_not_leave() {
        let mut rng = Rng::new(6);
        let case = Case::random(&mut rng, small());
        let cap = case.cap();
        case.with_twin(|t, entries| {
            let shape = HostInputs::new(t, entries).unwrap().shape;
            let rows = twin_rows(t, entries, cap);
            let lists = twin_entries(t, entries, cap);
            assert_eq!(encode(&rows, cap).decode(shape, Lists::Rows).unwrap(), rows);
            let good = encode(&lists, cap);
            assert_eq!(good.decode(shape, Lists::Entries).unwrap(), lists);
            let full = lists.iter().position(|l| l.len() >= 2).expect("a list with two candidates");
            let mut bad = good.clone();
            bad.count[full] = POISON_U32;
            assert!(bad.decode(shape, Lists::Entries).is_err(), "poisoned count");
            let mut bad = good.clone();
            bad.edit[full * cap + 1] = bad.edit[full * cap];
            assert!(bad.decode(shape, Lists::Entries).is_err(), "repeated edit");
            let mut bad = good.clone();
            bad.edit[full * cap] = POISON_U64;
            assert!(bad.decode(shape, Lists::Entries).is_err(), "poisoned edit");
            if let Some(short) = lists.iter().position(|l| l.len() < cap) {
                let mut bad = good.clone();
                bad.total[short * cap + cap - 1] = POISON;
                assert!(bad.decode(shape, Lists::Entries).is_err(), "an unwritten empty slot");
            }
            // A row list holding another word's edit.
            if t.words > 1 {
                let r = rows.iter().position(|l| !l.is_empty()).unwrap();
                let mut moved = rows.clone();
                moved[r][0].edit.word = (moved[r][0].edit.word + 1) % t.words;
                assert!(encode(&moved, cap).decode(shape, Lists::Rows).is_err());
            }
        });
    }

    fn cand(entry: usize, pos: usize, total: f32) -> Candidate {
        Candidate { entry, edit: edit(CharOp::Flip, 0, pos, 'a'), gain: total, total }
    }

    fn sorted(mut l: Vec<Candidate>) -> Vec<Candidate> {
        l.sort_by(|a, b| a.rank(b));
        l
    }

    #[test]
    fn comparison_allows_near_ties_only() {
        let tol = MATH;
        let passes = |r: std::result::Result<f64, String>| matches!(r, Ok(e) if e <= tol);
        // The twin's scores: positions 0..6.
        let twin =
            [cand(0, 0, 5.0), cand(0, 1, 3.0), cand(0, 2, 3.0), cand(0, 3, 2.0), cand(0, 4, 1.0), cand(0, 5, 1.0)];
        let map: HashMap<_, _> = twin.iter().map(|c| ((c.entry, c.edit), *c)).collect();
        let twin_of = |c: &Candidate| map.get(&(c.entry, c.edit)).copied();
        let want = sorted(twin[..4].to_vec());
        assert_eq!(compare_lists(&want, &want, &twin_of, tol), Ok(0.0));
        // An exact tie (3.0, 3.0) broken the other way: a bug, not rounding.
        let swapped = vec![want[0], want[2], want[1], want[3]];
        assert!(compare_lists(&swapped, &want, &twin_of, tol).is_err());
        // The same order with the kernel's total of pos 2 a rounding above
        // 3.0: its own order is right, and the twin's tie is that close.
        let mut near = swapped.clone();
        near[1].total = 3.0 + 3.0 * 2e-7;
        near[1].gain = near[1].total;
        let e = compare_lists(&near, &want, &twin_of, tol).unwrap();
        assert!(e > 0.0 && e < 1e-6, "{e}");
        // The same swap across a gap the tolerance does not cover.
        let mut far = swapped;
        far[1].total = 3.0 + 3.0 * 3.0 * tol as f32;
        far[1].gain = far[1].total;
        assert!(!passes(compare_lists(&far, &want, &twin_of, tol)));
        // Scores off by more than the tolerance: Ok with the difference.
        let mut off = want.clone();
        off[3].total = 2.01;
        off[3].gain = 2.01;
        assert!(compare_lists(&off, &want, &twin_of, tol).unwrap() > tol);
        // NaN never passes, in a total or a gain.
        for last in [true, false] {
            let mut nan = want.clone();
            if last {
                nan[3].total = f32::NAN;
            } else {
                nan[3].gain = f32::NAN;
            }
            assert!(!passes(compare_lists(&nan, &want, &twin_of, tol)), "NaN total {last}");
        }
        // The cut: the twin keeps pos 3 (2.0); a kernel that scored pos 4
        // a rounding above 2.0 may keep it instead, one clearly lower not.
        let twin2 = [cand(0, 0, 5.0), cand(0, 3, 2.0), cand(0, 4, 2.0 - 2e-7), cand(0, 5, 1.0)];
        let map2: HashMap<_, _> = twin2.iter().map(|c| ((c.entry, c.edit), *c)).collect();
        let twin_of2 = |c: &Candidate| map2.get(&(c.entry, c.edit)).copied();
        let want2 = vec![twin2[0], twin2[1]];
        let cut = vec![twin2[0], cand(0, 4, 2.0 + 2e-7)];
        assert!(passes(compare_lists(&cut, &want2, &twin_of2, tol)));
        let wrong_cut = vec![twin2[0], cand(0, 5, 1.0)];
        assert!(compare_lists(&wrong_cut, &want2, &twin_of2, tol).is_err());
        // Lengths, order of the kernel's own list, unknown edits.
        assert!(compare_lists(&want[..3], &want, &twin_of, tol).is_err());
        let unsorted = vec![want[1], want[0], want[2], want[3]];
        assert!(compare_lists(&unsorted, &want, &twin_of, tol).is_err());
        let mut unknown = want.clone();
        unknown[3] = cand(7, 3, 2.0);
        assert!(compare_lists(&unknown, &want, &twin_of, tol).is_err());
    }

    #[test]
    fn twin_lists_compare_equal_to_themselves() {
        let mut rng = Rng::new(7);
        for _ in 0..10 {
            let case = Case::random(&mut rng, small());
            let cap = case.cap();
            case.with_twin(|t, entries| {
                let rows = twin_rows(t, entries, cap);
                assert_eq!(compare_all(&rows, &rows, &twin_scores(t, entries, &rows), MATH).unwrap(), 0.0);
                let lists = twin_entries(t, entries, cap);
                // Reversing a list of two or more breaks the order.
                if let Some(i) = lists.iter().position(|l| l.len() >= 2) {
                    let mut rev = lists.clone();
                    rev[i].reverse();
                    assert!(compare_all(&rev, &lists, &twin_scores(t, entries, &lists), MATH).is_err());
                }
            });
        }
    }

    #[test]
    fn shapes_that_do_not_fit_are_refused() {
        let s = ScoreShape { entries: 10, words: 64, positions: 16, dim: 25, vocab: 100 };
        assert!(s.params("t", 20).is_ok());
        // W5: one word's S and gradients in 8.9 KB.
        assert_eq!(s.score_smem_bytes(), 396 + 4 * (16 * 125 + 96 + 200 + 2));
        assert!(ScoreShape { positions: 1, ..s }.params("t", 20).is_err());
        assert!(s.params("t", 0).is_err());
        assert!(ScoreShape { vocab: 3000, ..s }.params("t", 20).is_err(), "shared memory");
        assert!(ScoreShape { words: MAX_WORDS + 1, positions: 2, dim: 1, vocab: 3, ..s }.params("t", 1).is_err());
        assert_eq!(s.merge_smem_bytes(), 396 + 4 * 64);
        assert!(ScoreShape { words: 20_000, ..s }.params("t", 1).is_err(), "merge heads");
    }
}
