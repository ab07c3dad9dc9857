//! HotFlip's character scores and top-b pruning in one pass (the CPU twin
//! of the fused scoring kernel, BENCHMARKS.md W5).
//!
//! With `e_ij` the loss gradient at the embedding of character position
//! (word i, position j) and E the embedding table, the one-hot gradient is
//! `S_ij(c) = e_ij · E_c` (ATTACKS.md). For one word:
//! - flip a→b at j: `S_j(b) − S_j(a_j)`;
//! - delete at j: the left shift of positions j.. (the trailing PAD, or the
//!   first character the model does not see of a long word, moves in);
//! - insert b at j: a flip to b at j, then the right shift of j+1..=n into
//!   the trailing PAD.
//!
//! Insert and delete scores are the sum of their flips' scores divided by
//! the number of positions whose character actually changes.
//!
//! Per entry (a document state in the beam) the scores of all allowed edits
//! of all open words are computed from a `[positions, V]` block held in
//! cache and pushed into a bounded heap; a candidate is checked against the
//! word-vocabulary constraint only when it would enter the heap, so the full
//! score matrix is never stored and the (slow) membership test runs on a few
//! dozen candidates per entry.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashSet};

use rayon::prelude::*;

use crate::attack::char_doc::{CharDoc, CharEdit, CharOp};

/// The model-side tensors the scores are computed from.
#[derive(Clone, Copy)]
pub struct ScoreTensors<'a> {
    /// Embedding gradients `[E·W, L, D]` in the attack batch's layout.
    pub grads: &'a [f32],
    /// Character ids `[E·W, L]` of the same batch.
    pub ids: &'a [usize],
    /// Words per entry in the batch (`W`, the padded count).
    pub words: usize,
    /// Positions per word (`L`, the model's `max_word_len`).
    pub positions: usize,
    /// Embedding size `D`.
    pub dim: usize,
    /// The character embedding table transposed, `[D, V]`: `S_j` is then a
    /// sum of D rows scaled by `e_j`'s components, which vectorises over V
    /// (a dot product per character would be a scalar reduction).
    pub table_t: &'a [f32],
    /// Which ids may be flipped to or inserted (`[V]`; never PAD or UNK).
    pub allowed: &'a [bool],
    /// The character of each id (`[V]`; PAD and UNK map to `'\0'`).
    pub chars: &'a [char],
    /// Id of each character, for the first unseen character of a long word.
    pub char_id: &'a (dyn Fn(char) -> usize + Sync),
}

/// One beam entry to expand.
pub struct EntryRef<'a> {
    /// The entry's document.
    pub doc: &'a CharDoc,
    /// Which document (beam) the entry belongs to.
    pub group: usize,
    /// Sum of the first-order scores of the edits that led here.
    pub score: f32,
    /// Whether each word may still be edited.
    pub open: &'a [bool],
}

/// A child: which entry, which edit, the edit's own first-order score and
/// the ranking key (parent score + edit score).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Candidate {
    /// Index of the parent entry.
    pub entry: usize,
    /// The edit applied to it.
    pub edit: CharEdit,
    /// The edit's own first-order score.
    pub gain: f32,
    /// Parent score + `gain`: the ranking key.
    pub total: f32,
}

impl Candidate {
    /// Best first; ties broken by entry and edit so results never depend on
    /// thread scheduling.
    pub(crate) fn rank(&self, other: &Self) -> Ordering {
        other.total.total_cmp(&self.total).then(self.entry.cmp(&other.entry)).then(self.edit.cmp(&other.edit))
    }
}

/// Heap order: the worst candidate on top, to be evicted first.
struct Worst(Candidate);

impl PartialEq for Worst {
    fn eq(&self, o: &Self) -> bool {
        self.0.rank(&o.0) == Ordering::Equal
    }
}
impl Eq for Worst {}
impl PartialOrd for Worst {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Worst {
    fn cmp(&self, o: &Self) -> Ordering {
        self.0.rank(&o.0)
    }
}

/// How many children per entry `top_children` keeps before the per-group
/// merge: twice `keep` leaves room for children that turn out to be
/// duplicates of each other across entries (the fused CUDA kernel keeps the
/// same number).
pub(crate) const fn entry_cap(keep: usize) -> usize {
    if keep == 0 {
        1
    } else {
        2 * keep
    }
}

/// `out[c] = g · E_c` for every character c (`out` has length V), from
/// the transposed `[D, V]` table: D rows scaled by `g`'s components, which
/// vectorises over V. Each score sums over the components in order, so the
/// attack, training and the CUDA kernel agree bit for bit.
pub fn position_scores(g: &[f32], table_t: &[f32], out: &mut [f32]) {
    let v = out.len();
    out.fill(0.0);
    for (k, &gk) in g.iter().enumerate() {
        for (o, &e) in out.iter_mut().zip(&table_t[k * v..(k + 1) * v]) {
            *o += gk * e;
        }
    }
}

/// The `[V, D]` table transposed to `[D, V]`, as [`position_scores`] reads it.
pub fn transpose_table(table: &[f32], v: usize, d: usize) -> Vec<f32> {
    let mut t = vec![0.0f32; v * d];
    for c in 0..v {
        for k in 0..d {
            t[k * v + c] = table[c * d + k];
        }
    }
    t
}

/// The best flip `g_j · (E_c − E_a)` of every character position of one
/// word (`ids`, PAD-terminated; `grads` its `[L, D]` gradients) to any
/// character id from 2 on (never PAD or UNK): `(score, position, id)`,
/// best first (ties by position). One flip per position, because the
/// first-order scores of two flips at one position do not add up.
pub fn best_flips(ids: &[usize], grads: &[f32], table_t: &[f32], v: usize) -> Vec<(f32, usize, usize)> {
    let d = table_t.len() / v.max(1);
    let mut row = vec![0.0f32; v];
    let mut flips = Vec::new();
    for (j, &a) in ids.iter().enumerate() {
        if a == 0 {
            break;
        }
        position_scores(&grads[j * d..(j + 1) * d], table_t, &mut row);
        let mut best: Option<(f32, usize, usize)> = None;
        for c in (2..v).filter(|&c| c != a) {
            let s = row[c] - row[a];
            if best.is_none_or(|(bs, _, _)| s > bs) {
                best = Some((s, j, c));
            }
        }
        flips.extend(best);
    }
    flips.sort_by(|p, q| q.0.total_cmp(&p.0).then(p.1.cmp(&q.1)));
    flips
}

/// Where [`for_each_edit`] sends an entry's candidates.
trait EditSink {
    /// The ranking key (`parent score + gain`) a candidate must reach to be
    /// kept, if there is one yet: a candidate whose key is below it under
    /// `total_cmp` would be refused. `None` while everything is kept.
    fn floor(&self) -> Option<f32>;

    /// One allowed edit with its first-order score.
    fn visit(&mut self, edit: CharEdit, gain: f32);
}

/// Every candidate, unpruned ([`score_all`]).
struct Collect<'a> {
    entry: usize,
    score: f32,
    out: &'a mut Vec<Candidate>,
}

impl EditSink for Collect<'_> {
    fn floor(&self) -> Option<f32> {
        None
    }

    fn visit(&mut self, edit: CharEdit, gain: f32) {
        self.out.push(Candidate { entry: self.entry, edit, gain, total: self.score + gain });
    }
}

/// An entry's best `cap` candidates that are not forbidden: a bounded heap
/// with the worst kept candidate on top.
struct TopK<'a> {
    entry: usize,
    doc: &'a CharDoc,
    score: f32,
    cap: usize,
    heap: BinaryHeap<Worst>,
    forbidden: &'a (dyn Fn(&CharDoc, &CharEdit) -> bool + Sync),
}

impl EditSink for TopK<'_> {
    fn floor(&self) -> Option<f32> {
        if self.heap.len() < self.cap {
            return None;
        }
        self.heap.peek().map(|w| w.0.total)
    }

    fn visit(&mut self, edit: CharEdit, gain: f32) {
        let c = Candidate { entry: self.entry, edit, gain, total: self.score + gain };
        let enters = self.heap.len() < self.cap || self.heap.peek().is_some_and(|w| c.rank(&w.0) == Ordering::Less);
        if enters && !(self.forbidden)(self.doc, &edit) {
            self.heap.push(Worst(c));
            if self.heap.len() > self.cap {
                self.heap.pop();
            }
        }
    }
}

/// The largest of `row[c]` over the characters `c` that pass `take`, or
/// `None` if there is none or one is NaN (then nothing may be skipped).
fn row_max(row: &[f32], take: impl Fn(usize) -> bool) -> Option<f32> {
    let mut m: Option<f32> = None;
    for (c, &x) in row.iter().enumerate() {
        if !take(c) {
            continue;
        }
        if x.is_nan() {
            return None;
        }
        m = Some(m.map_or(x, |m: f32| m.max(x)));
    }
    m
}

/// Whether a whole row of candidates can be skipped: `bound` is at least
/// every candidate's gain (each gain is the row's score passed through
/// operations that round monotonically, so the row's largest score gives
/// the largest gain), and even `score + bound` is strictly below the sink's
/// floor as a number (not merely under `total_cmp`, which puts −0 below +0).
/// Then every candidate of the row would be refused: skipping it changes no
/// result. Infinite or NaN values never skip.
fn below_floor(sink: &impl EditSink, score: f32, bound: Option<f32>) -> bool {
    match (sink.floor(), bound) {
        (Some(floor), Some(b)) => score.is_finite() && b.is_finite() && score + b < floor,
        _ => false,
    }
}

/// Visits every allowed edit of one entry with its first-order score,
/// except rows of flips or inserts (one position, every character) that
/// `sink`'s floor rules out as a whole.
fn for_each_edit(t: &ScoreTensors<'_>, e: usize, entry: &EntryRef<'_>, sink: &mut impl EditSink) {
    let (l, d, v) = (t.positions, t.dim, t.allowed.len());
    let mut s = vec![0.0f32; l * v];
    for (w, word) in entry.doc.words.iter().enumerate().take(t.words) {
        if !entry.open.get(w).copied().unwrap_or(false) {
            continue;
        }
        let row = e * t.words + w;
        let a = &t.ids[row * l..(row + 1) * l];
        let g = &t.grads[row * l * d..(row + 1) * l * d];
        let n_full = word.len();
        let n = n_full.min(l - 1);
        // S[j][c] for the visible positions and the trailing PAD.
        for j in 0..=n {
            position_scores(&g[j * d..(j + 1) * d], t.table_t, &mut s[j * v..(j + 1) * v]);
        }
        let at = |j: usize, c: usize| s[j * v + c];
        let base: Vec<f32> = (0..=n).map(|j| at(j, a[j])).collect();
        // The largest score of a character other than the one in place, per position.
        let best_other: Vec<Option<f32>> =
            (0..=n).map(|j| row_max(&s[j * v..(j + 1) * v], |c| t.allowed[c] && c != a[j])).collect();
        // Flips.
        for j in 0..n {
            if below_floor(sink, entry.score, best_other[j].map(|m| m - base[j])) {
                continue;
            }
            for c in 0..v {
                if t.allowed[c] && c != a[j] {
                    sink.visit(CharEdit { op: CharOp::Flip, word: w, pos: j, ch: t.chars[c] }, at(j, c) - base[j]);
                }
            }
        }
        // Deletes: position k < n takes a[k+1]; the last visible one takes
        // the first unseen character of a long word, else PAD.
        if n_full >= 2 {
            let incoming = |k: usize| {
                if k + 1 < n {
                    a[k + 1]
                } else if n_full > n {
                    (t.char_id)(word[n])
                } else {
                    0
                }
            };
            let (mut sum, mut count) = (0.0f32, 0usize);
            for j in (0..n).rev() {
                let c = incoming(j);
                if c != a[j] {
                    sum += at(j, c) - base[j];
                    count += 1;
                }
                if count > 0 {
                    sink.visit(CharEdit { op: CharOp::Delete, word: w, pos: j, ch: '\0' }, sum / count as f32);
                }
            }
        }
        // Inserts need a free trailing position: the word must fit in L − 1.
        if n_full < l - 1 {
            // Suffix sums of the right shift of k in j+1..=n (a[k-1] moves to k).
            let mut rsum = vec![0.0f32; n + 2];
            let mut rcnt = vec![0usize; n + 2];
            for k in (1..=n).rev() {
                let moved = a[k - 1] != a[k];
                rsum[k] = rsum[k + 1] + if moved { at(k, a[k - 1]) - base[k] } else { 0.0 };
                rcnt[k] = rcnt[k + 1] + moved as usize;
            }
            for j in 0..=n {
                let insert = |c: usize| CharEdit { op: CharOp::Insert, word: w, pos: j, ch: t.chars[c] };
                // Every character but the one in place: (rsum + S − base) / (rcnt + 1).
                let bound = best_other[j].map(|m| (rsum[j + 1] + (m - base[j])) / (rcnt[j + 1] + 1) as f32);
                let skip_others = below_floor(sink, entry.score, bound);
                for c in 0..v {
                    if !t.allowed[c] {
                        continue;
                    }
                    let here = c != a[j];
                    if here && skip_others {
                        continue;
                    }
                    let count = rcnt[j + 1] + here as usize;
                    if count == 0 {
                        continue;
                    }
                    let sum = rsum[j + 1] + if here { at(j, c) - base[j] } else { 0.0 };
                    sink.visit(insert(c), sum / count as f32);
                }
            }
        }
    }
}

/// The best `keep` children per group (document), over all entries of the
/// group, distinct as documents, none `forbidden`. Returned per group, best
/// first.
///
/// Each entry keeps its best `entry_cap(keep)` candidates; once it holds
/// that many, a row of flips or inserts whose best possible key is below
/// the worst kept one is skipped without visiting its characters (exact:
/// `top_children_by_sorting`, which visits everything, gives the same).
pub fn top_children(
    t: &ScoreTensors<'_>,
    entries: &[EntryRef<'_>],
    groups: usize,
    keep: usize,
    forbidden: &(dyn Fn(&CharDoc, &CharEdit) -> bool + Sync),
) -> Vec<Vec<Candidate>> {
    let cap = entry_cap(keep);
    let per_entry: Vec<Vec<Candidate>> = entries
        .par_iter()
        .enumerate()
        .map(|(e, entry)| {
            let mut sink = TopK {
                entry: e,
                doc: entry.doc,
                score: entry.score,
                cap,
                heap: BinaryHeap::with_capacity(cap + 1),
                forbidden,
            };
            for_each_edit(t, e, entry, &mut sink);
            sink.heap.into_iter().map(|w| w.0).collect()
        })
        .collect();
    merge_groups(per_entry, entries, groups, keep)
}

/// Every allowed edit of every entry with its first-order score, no
/// constraint beyond the open words and allowed characters (tests compare
/// these with finite differences).
pub fn score_all(t: &ScoreTensors<'_>, entries: &[EntryRef<'_>]) -> Vec<Candidate> {
    let mut all = Vec::new();
    for (e, entry) in entries.iter().enumerate() {
        for_each_edit(t, e, entry, &mut Collect { entry: e, score: entry.score, out: &mut all });
    }
    all
}

/// The reference: every allowed child's score materialised, then sorted.
/// Same result as `top_children` (the W5 comparison and a test).
pub fn top_children_by_sorting(
    t: &ScoreTensors<'_>,
    entries: &[EntryRef<'_>],
    groups: usize,
    keep: usize,
    forbidden: &(dyn Fn(&CharDoc, &CharEdit) -> bool + Sync),
) -> Vec<Vec<Candidate>> {
    let mut all = score_all(t, entries);
    all.sort_by(|a, b| a.rank(b));
    let mut per_entry: Vec<Vec<Candidate>> = vec![Vec::new(); entries.len()];
    for c in all {
        if per_entry[c.entry].len() < entry_cap(keep) && !forbidden(entries[c.entry].doc, &c.edit) {
            per_entry[c.entry].push(c);
        }
    }
    merge_groups(per_entry, entries, groups, keep)
}

/// Per group, the best `keep` children of its entries' lists (each an
/// entry's best candidates, any order), distinct as documents, best first.
pub(crate) fn merge_groups(
    per_entry: Vec<Vec<Candidate>>,
    entries: &[EntryRef<'_>],
    groups: usize,
    keep: usize,
) -> Vec<Vec<Candidate>> {
    let mut by_group: Vec<Vec<Candidate>> = vec![Vec::new(); groups];
    for list in per_entry {
        for c in list {
            by_group[entries[c.entry].group].push(c);
        }
    }
    by_group
        .into_iter()
        .map(|mut cands| {
            cands.sort_by(|a, b| a.rank(b));
            let mut seen: HashSet<CharDoc> = HashSet::new();
            let mut out = Vec::with_capacity(keep);
            for c in cands {
                if out.len() == keep {
                    break;
                }
                if let Some(child) = entries[c.entry].doc.apply(&c.edit) {
                    if seen.insert(child) {
                        out.push(c);
                    }
                }
            }
            out
        })
        .collect()
}

/// Every allowed edit of one document (the loss-based beam and the random
/// baseline enumerate them): the same set `top_children` scores.
pub fn all_edits(doc: &CharDoc, open: &[bool], positions: usize, allowed_chars: &[char]) -> Vec<CharEdit> {
    let mut out = Vec::new();
    for (w, word) in doc.words.iter().enumerate() {
        if !open.get(w).copied().unwrap_or(false) {
            continue;
        }
        let n = word.len().min(positions - 1);
        for (j, &here) in word.iter().enumerate().take(n) {
            for &c in allowed_chars {
                if c != here {
                    out.push(CharEdit { op: CharOp::Flip, word: w, pos: j, ch: c });
                }
            }
        }
        if word.len() >= 2 {
            for j in 0..n {
                out.push(CharEdit { op: CharOp::Delete, word: w, pos: j, ch: '\0' });
            }
        }
        if word.len() < positions - 1 {
            for j in 0..=n {
                for &c in allowed_chars {
                    out.push(CharEdit { op: CharOp::Insert, word: w, pos: j, ch: c });
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    /// The scalar reference: `g_j · E_c` as one dot product per character
    /// (how HotFlip training scored flips before it shared this scorer).
    fn best_flips_by_dots(ids: &[usize], g: &[f32], table: &[f32], v: usize, d: usize) -> Vec<(f32, usize, usize)> {
        let mut flips = Vec::new();
        for (j, &a) in ids.iter().enumerate() {
            if a == 0 {
                break;
            }
            let gj = &g[j * d..(j + 1) * d];
            let dot = |c: usize| -> f32 { gj.iter().zip(&table[c * d..(c + 1) * d]).map(|(p, q)| p * q).sum() };
            let mut best: Option<(f32, usize, usize)> = None;
            for c in (2..v).filter(|&c| c != a) {
                let s = dot(c) - dot(a);
                if best.is_none_or(|(bs, _, _)| s > bs) {
                    best = Some((s, j, c));
                }
            }
            flips.extend(best);
        }
        flips.sort_by(|p, q| q.0.total_cmp(&p.0).then(p.1.cmp(&q.1)));
        flips
    }

    #[test]
    fn best_flips_equal_the_scalar_reference_bit_for_bit() {
        let mut rng = Rng::new(12);
        let (v, d, l) = (11, 5, 7);
        let table: Vec<f32> = (0..v * d).map(|_| rng.normal()).collect();
        let table_t = transpose_table(&table, v, d);
        for trial in 0..20 {
            let n = 1 + trial % (l - 1);
            let mut ids: Vec<usize> = (0..n).map(|_| 1 + rng.below(v - 1)).collect();
            ids.resize(l, 0);
            let g: Vec<f32> = (0..l * d).map(|_| rng.normal()).collect();
            let got = best_flips(&ids, &g, &table_t, v);
            let want = best_flips_by_dots(&ids, &g, &table, v, d);
            assert_eq!(got.len(), n);
            let bits = |f: &[(f32, usize, usize)]| f.iter().map(|&(s, j, c)| (s.to_bits(), j, c)).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&want), "trial {trial}");
        }
    }

    /// A sink with a fixed floor: what `for_each_edit` visits under it.
    struct Fixed {
        floor: f32,
        seen: Vec<Candidate>,
        entry: usize,
        score: f32,
    }

    impl EditSink for Fixed {
        fn floor(&self) -> Option<f32> {
            Some(self.floor)
        }
        fn visit(&mut self, edit: CharEdit, gain: f32) {
            self.seen.push(Candidate { entry: self.entry, edit, gain, total: self.score + gain });
        }
    }

    fn attack_sized() -> crate::attack::score::cuda::CaseSize {
        // About the W2 workload: 10 entries of up to 40 words, 16 positions,
        // 16-d embeddings, 58 characters, beam 10.
        crate::attack::score::cuda::CaseSize { entries: 10, words: 40, positions: 16, dim: 16, vocab: 58, keep: 10 }
    }

    #[test]
    fn rows_skipped_under_a_floor_hold_no_candidate_that_reaches_it() {
        let mut rng = Rng::new(21);
        let (mut skipped, mut total) = (0usize, 0usize);
        for _ in 0..25 {
            let case = crate::attack::score::cuda::Case::random(&mut rng, attack_sized());
            case.with_twin(|t, entries| {
                for (e, entry) in entries.iter().enumerate() {
                    let mut all = Vec::new();
                    for_each_edit(t, e, entry, &mut Collect { entry: e, score: entry.score, out: &mut all });
                    if all.is_empty() {
                        continue;
                    }
                    let mut keys: Vec<f32> = all.iter().map(|c| c.total).collect();
                    keys.sort_by(|a, b| b.total_cmp(a));
                    // Floors from the best few down to the median, exact keys included.
                    for floor in [keys[0], keys[keys.len().min(20) - 1], keys[keys.len() / 2]] {
                        let mut sink = Fixed { floor, seen: Vec::new(), entry: e, score: entry.score };
                        for_each_edit(t, e, entry, &mut sink);
                        // Every candidate that reaches the floor is visited, with the same bits.
                        let seen: std::collections::HashMap<CharEdit, u32> =
                            sink.seen.iter().map(|c| (c.edit, c.total.to_bits())).collect();
                        for c in all.iter().filter(|c| c.total >= floor || c.total.is_nan()) {
                            assert_eq!(seen.get(&c.edit), Some(&c.total.to_bits()), "{c:?} under floor {floor}");
                        }
                        assert!(sink.seen.iter().all(|c| all.contains(c)), "visited something unscored");
                        skipped += all.len() - sink.seen.len();
                        total += all.len();
                    }
                }
            });
        }
        assert!(skipped > total / 2, "the floor skipped only {skipped} of {total} candidates");
    }

    #[test]
    fn pruned_top_children_equal_sorting_every_candidate_at_attack_sizes() {
        let mut rng = Rng::new(22);
        for _ in 0..25 {
            let case = crate::attack::score::cuda::Case::random(&mut rng, attack_sized());
            let (keep, groups) = (case.keep, case.n_groups);
            case.with_twin(|t, entries| {
                let none = |_: &CharDoc, _: &CharEdit| false;
                let some = |_: &CharDoc, e: &CharEdit| (e.ch as u32).is_multiple_of(4) && e.op != CharOp::Delete;
                for forbidden in [&none as &(dyn Fn(&CharDoc, &CharEdit) -> bool + Sync), &some] {
                    let got = top_children(t, entries, groups, keep, forbidden);
                    let want = top_children_by_sorting(t, entries, groups, keep, forbidden);
                    let bits = |g: &[Vec<Candidate>]| -> Vec<Vec<(usize, CharEdit, u32, u32)>> {
                        g.iter()
                            .map(|l| l.iter().map(|c| (c.entry, c.edit, c.gain.to_bits(), c.total.to_bits())).collect())
                            .collect()
                    };
                    assert_eq!(bits(&got), bits(&want));
                }
            });
        }
    }

    #[test]
    fn transposing_puts_component_k_of_char_c_at_k_v_plus_c() {
        let table = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        assert_eq!(transpose_table(&table, 3, 2), vec![1.0, 3.0, 5.0, 2.0, 4.0, 6.0]);
    }
}
