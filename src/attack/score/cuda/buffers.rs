//! The kernels' inputs and outputs: checked host inputs, the table and one
//! step's buffers on the device, and candidate lists on either side.

use super::*;

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
        Self::with_grads(t, entries, t.grads.len())
    }

    /// [`Self::new`] for gradients of `grads_len` values held elsewhere
    /// (on the device): `t.grads` is not read.
    pub fn with_grads(t: &ScoreTensors<'_>, entries: &[EntryRef<'_>], grads_len: usize) -> Result<Self> {
        let shape = ScoreShape {
            entries: entries.len(),
            words: t.words,
            positions: t.positions,
            dim: t.dim,
            vocab: t.allowed.len(),
        };
        shape.params(OP, 1)?;
        let (l, v, rows) = (t.positions, shape.vocab, shape.rows());
        if t.ids.len() != rows * l || grads_len != rows * l * t.dim || t.table_t.len() != t.dim * v {
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
    pub(super) dim: usize,
    pub(super) vocab: usize,
    pub(super) table_t: DeviceBuf<f32>,
    pub(super) chars: DeviceBuf<u32>,
    pub(super) allowed: DeviceBuf<u32>,
    /// The host's copies of chars and allowed, to check steps against.
    pub(super) host_chars: Vec<u32>,
    pub(super) host_allowed: Vec<u32>,
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
    pub(super) shape: ScoreShape,
    pub(super) ids: DeviceBuf<u32>,
    pub(super) open: DeviceBuf<u32>,
    pub(super) lengths: DeviceBuf<u32>,
    pub(super) unseen: DeviceBuf<u32>,
    pub(super) parent: DeviceBuf<f32>,
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

    pub(super) fn expect(&self, op: &'static str, lists: usize, cap: usize) -> Result<()> {
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
