//! Beam search for `char_nmt` (width 1 is greedy decoding), batched over
//! sentences: every live hypothesis of every unfinished sentence is one row
//! of the decoder's batch. Hypotheses end at `</s>` or after the model's
//! `max_tgt_words`; the best by length-normalised log-probability (sum over
//! its tokens, `</s>` included, divided by their number) wins.

use crate::error::{Error, Result};
use crate::models::char_nmt::{CharNmt, BOS, EOS, PAD};
use crate::models::{CharBatch, Mode};
use crate::nn::ParamStore;
use crate::tape::Tape;

/// A finished translation: target ids (without `</s>`) and its scores.
#[derive(Clone, Debug, PartialEq)]
pub struct Translation {
    /// Target word ids, specials excluded; `NmtVocab::decode_tgt` turns them
    /// into text.
    pub ids: Vec<usize>,
    /// Sum of log-probabilities, `</s>` included.
    pub log_prob: f64,
    /// `log_prob` / (tokens + 1).
    pub score: f64,
}

#[derive(Clone, Debug)]
struct Live {
    ids: Vec<usize>,
    log_prob: f64,
}

/// Translates sentences given as words of char ids. An empty source (no
/// words) translates to the empty sentence without running the model.
pub fn translate(
    model: &CharNmt,
    store: &ParamStore,
    srcs: &[Vec<Vec<usize>>],
    beam: usize,
) -> Result<Vec<Translation>> {
    if beam == 0 {
        return Err(Error::invalid("beam search", "the beam width must be at least 1"));
    }
    let mut out: Vec<Option<Translation>> = vec![None; srcs.len()];
    let nonempty: Vec<usize> = (0..srcs.len()).filter(|&i| !srcs[i].is_empty()).collect();
    for &i in &(0..srcs.len()).filter(|&i| srcs[i].is_empty()).collect::<Vec<_>>() {
        out[i] = Some(Translation { ids: Vec::new(), log_prob: 0.0, score: 0.0 });
    }
    if !nonempty.is_empty() {
        let docs: Vec<Vec<Vec<usize>>> = nonempty.iter().map(|&i| srcs[i].clone()).collect();
        let done = search(model, store, &docs, beam)?;
        for (k, t) in nonempty.into_iter().zip(done) {
            out[k] = Some(t);
        }
    }
    Ok(out.into_iter().map(|t| t.unwrap_or(Translation { ids: Vec::new(), log_prob: 0.0, score: 0.0 })).collect())
}

fn search(model: &CharNmt, store: &ParamStore, docs: &[Vec<Vec<usize>>], beam: usize) -> Result<Vec<Translation>> {
    let c = &model.config;
    let x = CharBatch::from_docs(docs, c.max_word_len, c.max_src_words)?;
    let tape = Tape::no_grad();
    let p = tape.bind_frozen(store);
    let e = model.embed(&tape, &p, &x)?;
    let mem0 = model.encode(&tape, &p, &x, e, Mode::EVAL)?;
    let n = docs.len();
    // Each active sentence owns `beam` rows; at first only its row 0 is live.
    let mut active: Vec<usize> = (0..n).collect();
    let mut lives: Vec<Vec<Live>> = vec![vec![Live { ids: Vec::new(), log_prob: 0.0 }]; n];
    let mut finished: Vec<Vec<Translation>> = vec![Vec::new(); n];
    let rows_of = |active: &[usize], lives: &[Vec<Live>]| -> Vec<usize> {
        // Memory rows: sentence s repeated once per live hypothesis.
        active.iter().flat_map(|&s| std::iter::repeat_n(s, lives[s].len())).collect()
    };
    let mut mem = mem0.select(&tape, &rows_of(&active, &lives))?;
    let mut st = model.start(&tape, &mem)?;
    let v = c.n_tgt;
    for t in 0..=c.max_tgt_words {
        let prev: Vec<usize> =
            active.iter().flat_map(|&s| lives[s].iter().map(|h| *h.ids.last().unwrap_or(&BOS))).collect();
        let ht = model.step(&tape, &p, &mem, &mut st, &prev, Mode::EVAL, t)?;
        let logp = tape.value(tape.log_softmax(model.logits(&tape, &p, ht)?)?)?;
        let logp = logp.data();
        let last_step = t == c.max_tgt_words;
        let mut parents = Vec::new();
        let mut next_active = Vec::new();
        let mut row = 0;
        for &s in &active {
            let hyps = std::mem::take(&mut lives[s]);
            let mut cands: Vec<(f64, usize, usize)> = Vec::with_capacity(hyps.len() * beam * 2);
            for (k, h) in hyps.iter().enumerate() {
                let r = &logp[(row + k) * v..(row + k + 1) * v];
                for (tok, lp) in top_k(r, beam + 1) {
                    if tok == PAD || tok == BOS {
                        continue;
                    }
                    cands.push((h.log_prob + lp as f64, k, tok));
                }
            }
            cands.sort_by(|a, b| b.0.total_cmp(&a.0));
            let mut kept = Vec::new();
            for (lp, k, tok) in cands {
                if kept.len() >= beam || finished[s].len() >= beam {
                    break;
                }
                let mut ids = hyps[k].ids.clone();
                if tok == EOS || last_step {
                    if tok != EOS {
                        ids.push(tok);
                    }
                    let len = ids.len() + 1;
                    finished[s].push(Translation { ids, log_prob: lp, score: lp / len as f64 });
                } else {
                    ids.push(tok);
                    kept.push((Live { ids, log_prob: lp }, row + k));
                }
            }
            row += hyps.len();
            if finished[s].len() >= beam || kept.is_empty() {
                continue;
            }
            next_active.push(s);
            for (h, parent) in kept {
                parents.push(parent);
                lives[s].push(h);
            }
        }
        if next_active.is_empty() {
            break;
        }
        let sentence_rows: Vec<usize> = {
            // Memory rows are per sentence; map each parent row to its
            // sentence's memory by reselecting from the original memory.
            rows_of(&next_active, &lives)
        };
        mem = mem0.select(&tape, &sentence_rows)?;
        st = st.select(&tape, &parents)?;
        active = next_active;
    }
    Ok(finished
        .into_iter()
        .map(|mut f| {
            f.sort_by(|a, b| b.score.total_cmp(&a.score));
            f.into_iter().next().unwrap_or(Translation { ids: Vec::new(), log_prob: 0.0, score: 0.0 })
        })
        .collect())
}

/// The `k` largest entries of `row` (index, value), best first.
fn top_k(row: &[f32], k: usize) -> Vec<(usize, f32)> {
    let mut best: Vec<(usize, f32)> = Vec::with_capacity(k + 1);
    for (i, &x) in row.iter().enumerate() {
        if best.len() < k || x > best[best.len() - 1].1 {
            let pos = best.partition_point(|&(_, y)| y >= x);
            best.insert(pos, (i, x));
            best.truncate(k);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::top_k;

    #[test]
    fn top_k_is_sorted_and_complete() {
        assert_eq!(top_k(&[0.1, 0.5, -1.0, 0.3], 2), vec![(1, 0.5), (3, 0.3)]);
        assert_eq!(top_k(&[1.0], 3), vec![(0, 1.0)]);
    }
}
