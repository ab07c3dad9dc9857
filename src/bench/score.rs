//! W5: HotFlip scoring and top-b pruning for one beam step — 10 entries of
//! 64 words × 16 characters, an alphabet of 100 characters, char_dim 25,
//! keep 10 — fused (bounded heaps, no score matrix) against materialising
//! every child's score and sorting.

use std::time::Instant;

use serde::Serialize;

use crate::attack::char_doc::{CharDoc, CharEdit};
use crate::attack::char_score::{top_children, top_children_by_sorting, EntryRef, ScoreTensors};
use crate::error::{Error, Result};
use crate::models::CharBatch;
use crate::rng::Rng;

#[derive(Clone, Debug, Serialize)]
pub struct ScoreReport {
    pub workload: &'static str,
    pub entries: usize,
    pub words: usize,
    pub chars: usize,
    pub alphabet: usize,
    pub dim: usize,
    pub keep: usize,
    pub backend: &'static str,
    pub threads: usize,
    pub fused_us: f64,
    pub sorted_us: f64,
    pub speedup: f64,
}

pub fn run(
    entries: usize,
    words: usize,
    chars: usize,
    alphabet: usize,
    dim: usize,
    keep: usize,
    iters: usize,
) -> Result<ScoreReport> {
    if alphabet < 3 || chars < 2 || words == 0 || entries == 0 {
        return Err(Error::invalid("bench score", "alphabet ≥ 3, chars ≥ 2, words and entries ≥ 1"));
    }
    let mut rng = Rng::new(5);
    // Characters are ids 2..alphabet, drawn from a private range of chars.
    let chars_of: Vec<char> =
        (0..alphabet).map(|i| if i < 2 { '\0' } else { char::from_u32(0x4E00 + i as u32).unwrap_or('x') }).collect();
    let docs: Vec<CharDoc> = (0..entries)
        .map(|_| {
            let words: Vec<Vec<char>> = (0..words)
                .map(|_| (0..1 + rng.below(chars - 1)).map(|_| chars_of[2 + rng.below(alphabet - 2)]).collect())
                .collect();
            CharDoc { changed: vec![false; words.len()], words }
        })
        .collect();
    let id_of = |c: char| chars_of.iter().position(|&x| x == c).unwrap_or(1);
    let ids: Vec<Vec<Vec<usize>>> =
        docs.iter().map(|d| d.words.iter().map(|w| w.iter().map(|&c| id_of(c)).collect()).collect()).collect();
    let batch = CharBatch::from_docs(&ids, chars, words)?;
    let grads: Vec<f32> = (0..batch.batch * batch.words * chars * dim).map(|_| rng.normal()).collect();
    let table_t: Vec<f32> = (0..alphabet * dim).map(|_| rng.normal()).collect();
    let allowed: Vec<bool> = (0..alphabet).map(|i| i >= 2).collect();
    let open = vec![true; words];
    let refs: Vec<EntryRef<'_>> = docs.iter().map(|d| EntryRef { doc: d, group: 0, score: 0.0, open: &open }).collect();
    let char_id = move |c: char| id_of(c);
    let t = ScoreTensors {
        grads: &grads,
        ids: &batch.ids,
        words: batch.words,
        positions: chars,
        dim,
        table_t: &table_t,
        allowed: &allowed,
        chars: &chars_of,
        char_id: &char_id,
    };
    let none = |_: &CharDoc, _: &CharEdit| false;
    let time = |f: &dyn Fn()| {
        f();
        let mut v: Vec<f64> = (0..iters.max(1))
            .map(|_| {
                let t0 = Instant::now();
                f();
                t0.elapsed().as_secs_f64() * 1e6
            })
            .collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let fused = top_children(&t, &refs, 1, keep, &none);
    let sorted = top_children_by_sorting(&t, &refs, 1, keep, &none);
    if fused != sorted {
        return Err(Error::invalid("bench score", "the fused and the sorted results differ"));
    }
    let fused_us = time(&|| {
        std::hint::black_box(top_children(&t, &refs, 1, keep, &none));
    });
    let sorted_us = time(&|| {
        std::hint::black_box(top_children_by_sorting(&t, &refs, 1, keep, &none));
    });
    Ok(ScoreReport {
        workload: "W5",
        entries,
        words,
        chars,
        alphabet,
        dim,
        keep,
        backend: "cpu",
        threads: rayon::current_num_threads(),
        fused_us,
        sorted_us,
        speedup: sorted_us / fused_us,
    })
}
