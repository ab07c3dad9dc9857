//! Choosing the word attack's children: the best `k` flips of each beam
//! entry as they are scored, then each group's best children that are
//! distinct documents. Ties break on (entry, edit), so the choice never
//! depends on how rayon split the work.

use std::collections::{BinaryHeap, HashSet};

use crate::attack::space::{ScoreEntry, Scored, Space};
use crate::attack::word_space::{WordDoc, WordEdit, WordSpace};

/// Max-heap order of scored edits: highest total first, then lowest
/// (entry, edit).
pub(super) struct Ranked(Scored<WordEdit>);

impl PartialEq for Ranked {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == std::cmp::Ordering::Equal
    }
}
impl Eq for Ranked {}
impl PartialOrd for Ranked {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Ranked {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.0.total.total_cmp(&o.0.total).then(o.0.entry.cmp(&self.0.entry)).then(o.0.edit.cmp(&self.0.edit))
    }
}

/// The best `k` scored edits of one entry in [`Ranked`] order, kept as
/// they are offered (a sorted buffer: `k` is the beam width).
pub(super) struct TopK {
    k: usize,
    best: Vec<Ranked>,
}

impl TopK {
    pub(super) fn new(k: usize) -> Self {
        TopK { k, best: Vec::with_capacity(k + 1) }
    }

    pub(super) fn offer(&mut self, s: Scored<WordEdit>) {
        let c = Ranked(s);
        if self.best.len() == self.k && self.best.last().is_none_or(|worst| c <= *worst) {
            return;
        }
        // Descending order: the first place whose occupant ranks below `c`.
        let at = self.best.partition_point(|b| *b > c);
        self.best.insert(at, c);
        self.best.truncate(self.k);
    }

    pub(super) fn into_vec(self) -> Vec<Scored<WordEdit>> {
        self.best.into_iter().map(|r| r.0).collect()
    }
}

/// Each group's `keep` best children that are distinct documents, from
/// its entries' candidates.
pub(super) fn best_distinct_per_group(
    space: &WordSpace<'_>,
    entries: &[ScoreEntry<'_, WordDoc>],
    per_entry: Vec<Vec<Scored<WordEdit>>>,
    groups: usize,
    keep: usize,
) -> Vec<Vec<Scored<WordEdit>>> {
    let mut by_group: Vec<Vec<Scored<WordEdit>>> = vec![Vec::new(); groups];
    for s in per_entry.into_iter().flatten() {
        by_group[entries[s.entry].group].push(s);
    }
    by_group
        .into_iter()
        .map(|cands| {
            // Best first; entry and edit break ties so threads never matter.
            let mut heap: BinaryHeap<Ranked> = cands.into_iter().map(Ranked).collect();
            let mut seen = HashSet::new();
            let mut out = Vec::with_capacity(keep);
            while let Some(Ranked(c)) = heap.pop() {
                if out.len() == keep {
                    break;
                }
                if let Some(child) = space.apply(entries[c.entry].doc, &c.edit) {
                    if seen.insert(child) {
                        out.push(c);
                    }
                }
            }
            out
        })
        .collect()
}
