//! HotFlip on translation (ATTACKS.md "HotFlip on translation"): the
//! character edit space of the classification attack (`CharSpace`: the
//! same flips, inserts and deletes, one change per word, changed words
//! outside the source training vocabulary, 10% budget, the same one-hot
//! gradient scores) against `char_nmt`, with loss J = the teacher-forced
//! cross-entropy of the reference (summed over its tokens) and success =
//! the sentence BLEU of the adversarial translation at least δ below the
//! clean one's. Beam entries of many sentences go through one
//! forward/backward pass; each expanded entry is decoded (beam search) and
//! scored against the reference.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::attack::char_doc::{CharDoc, CharEdit};
use crate::attack::result::Change;
use crate::attack::space::{ScoreEntry, Space};
use crate::attack::{CharSpace, Settings};
use crate::bleu::sentence_bleu;
use crate::error::{Error, Result};
use crate::models::char_nmt::{CharNmt, TargetBatch};
use crate::models::{Input, Mode};
use crate::nmt::{translate, NmtVocab};
use crate::nn::ParamStore;
use crate::rng::Rng;
use crate::tape::Tape;

/// The δ values the success curve is reported at (HotFlip Figure 3).
pub const DELTAS: [f64; 6] = [5.0, 10.0, 20.0, 30.0, 40.0, 50.0];

/// What the adversary wants of the translation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TranslationGoal {
    /// Lower sentence BLEU by at least `--min-bleu-drop` (untargeted).
    BleuDrop,
    /// The word must vanish from the translation (controlled attack).
    Remove(String),
    /// `word` must be replaced by `new` (targeted attack).
    Replace(String, String),
}

#[derive(Clone, Debug)]
pub struct TranslationSettings {
    /// Search beam width and every other character-attack setting.
    pub search: Settings,
    /// Beam width of the decoder that translates each candidate.
    pub decode_beam: usize,
    pub min_bleu_drop: f64,
    pub goal: TranslationGoal,
    /// Random baseline instead of gradient-guided search.
    pub random: bool,
}

/// One attacked sentence (a line of `--out`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TranslationResult {
    pub index: usize,
    pub src: String,
    pub adv_src: String,
    #[serde(rename = "ref")]
    pub reference: String,
    pub src_output: String,
    pub adv_output: String,
    pub src_bleu: f64,
    pub adv_bleu: f64,
    pub bleu_drop: f64,
    pub success: bool,
    pub changes: Vec<Change>,
    /// Characters of the source as the budget counts them.
    pub n_chars: usize,
    pub frac_changed: f64,
    pub skipped: bool,
    pub seconds: f64,
}

/// One sentence to attack.
#[derive(Clone, Debug)]
pub struct TranslationTask {
    pub index: usize,
    /// Source words (13a tokens) joined by single spaces.
    pub src: String,
    pub reference: String,
}

pub struct TranslationAttacker<'a> {
    pub model: &'a CharNmt,
    pub store: &'a ParamStore,
    pub vocab: &'a NmtVocab,
    pub space: CharSpace<'a>,
    pub settings: TranslationSettings,
}

#[derive(Clone)]
struct Entry {
    doc: CharDoc,
    score: f32,
    path: Vec<CharEdit>,
}

fn text(doc: &CharDoc) -> String {
    doc.words.iter().map(|w| w.iter().collect::<String>()).collect::<Vec<_>>().join(" ")
}

impl<'a> TranslationAttacker<'a> {
    pub fn new(
        model: &'a CharNmt,
        store: &'a ParamStore,
        vocab: &'a NmtVocab,
        settings: TranslationSettings,
    ) -> Result<Self> {
        if settings.search.beam == 0 || settings.decode_beam == 0 {
            return Err(Error::invalid("translation attack", "beam widths must be at least 1"));
        }
        if !(settings.min_bleu_drop > 0.0 && settings.min_bleu_drop <= 100.0) {
            return Err(Error::invalid("translation attack", "--min-bleu-drop must be in (0, 100]"));
        }
        let table = store.get(model.embedding_param()).clone();
        let c = &model.config;
        let space = CharSpace::from_parts(
            table,
            &vocab.chars,
            Some(&vocab.words),
            false,
            (c.max_word_len, c.max_src_words),
            &settings.search,
        )?;
        Ok(TranslationAttacker { model, store, vocab, space, settings })
    }

    fn outputs(&self, docs: &[&CharDoc]) -> Result<Vec<String>> {
        let srcs: Vec<Vec<Vec<usize>>> = docs.iter().map(|d| d.ids(&self.vocab.chars)).collect();
        Ok(translate(self.model, self.store, &srcs, self.settings.decode_beam)?
            .into_iter()
            .map(|t| self.vocab.decode_tgt(&t.ids))
            .collect())
    }

    /// Whether a translation meets the goal (for the BLEU goal: a drop of δ).
    fn achieved(&self, clean_bleu: f64, adv_out: &str, reference: &str) -> bool {
        match &self.settings.goal {
            TranslationGoal::BleuDrop => clean_bleu - sentence_bleu(adv_out, reference) >= self.settings.min_bleu_drop,
            TranslationGoal::Remove(w) => !adv_out.split(' ').any(|t| t == w),
            TranslationGoal::Replace(w, new) => {
                !adv_out.split(' ').any(|t| t == w) && adv_out.split(' ').any(|t| t == new)
            }
        }
    }

    /// The target sentence J is computed against: the reference for the
    /// untargeted goal; for controlled/targeted goals the clean output
    /// with the word dropped or replaced (J is then minimised).
    fn target_ids(&self, reference: &str, clean_out: &str) -> Vec<usize> {
        match &self.settings.goal {
            TranslationGoal::BleuDrop => self.vocab.encode_tgt(reference),
            TranslationGoal::Remove(w) => {
                let kept: Vec<&str> = clean_out.split(' ').filter(|t| t != w).collect();
                self.vocab.encode_tgt(&kept.join(" "))
            }
            TranslationGoal::Replace(w, new) => {
                let rep: Vec<&str> = clean_out.split(' ').map(|t| if t == w { new.as_str() } else { t }).collect();
                self.vocab.encode_tgt(&rep.join(" "))
            }
        }
    }

    /// Gradients of Σ_entries J (or −J for goals that minimise) with
    /// respect to the character embeddings of `docs`.
    fn grads(&self, docs: &[&CharDoc], targets: &[Vec<usize>]) -> Result<Vec<f32>> {
        let Input::Chars(x) = self.space.input(docs)? else {
            return Err(Error::invalid("translation attack", "character batch expected"));
        };
        let y = TargetBatch::new(targets, self.model.config.max_tgt_words)?;
        let tape = Tape::new();
        let p = tape.bind_frozen(self.store);
        // The embeddings as a leaf: the one input the gradient is wanted for.
        let e0 = self.model.embed(&tape, &p, &x)?;
        let e = tape.leaf(tape.value(e0)?);
        let loss = self.model.loss_embedded(&tape, &p, &x, e, &y, Mode::EVAL)?;
        // Mean over tokens → sum, so every entry's gradient is its own J's.
        let sign = if self.settings.goal == TranslationGoal::BleuDrop { 1.0 } else { -1.0 };
        let total = tape.scale(loss, sign * y.tokens() as f32)?;
        let g = tape.backward(total)?;
        Ok(g.get(e).ok_or_else(|| Error::invalid("translation attack", "no embedding gradient"))?.data().to_vec())
    }

    /// Attacks the tasks together (one result each, in order).
    pub fn attack(&self, tasks: &[TranslationTask]) -> Result<Vec<TranslationResult>> {
        let start = Instant::now();
        let docs: Vec<CharDoc> = tasks.iter().map(|t| self.space.parse(&t.src)).collect();
        let readable: Vec<usize> = (0..tasks.len()).filter(|&i| !self.space.is_empty(&docs[i])).collect();
        let refs: Vec<&CharDoc> = readable.iter().map(|&i| &docs[i]).collect();
        let clean = self.outputs(&refs)?;
        let mut out: Vec<Option<TranslationResult>> = vec![None; tasks.len()];
        let mut clean_out = vec![String::new(); tasks.len()];
        for (k, &i) in readable.iter().enumerate() {
            clean_out[i] = clean[k].clone();
        }
        for (i, t) in tasks.iter().enumerate() {
            if self.space.is_empty(&docs[i]) {
                out[i] = Some(self.result(t, &docs[i], &[], "", "", false, true));
            }
        }
        // Live beams per sentence.
        let mut beams: Vec<(usize, Vec<Entry>)> =
            readable.iter().map(|&i| (i, vec![Entry { doc: docs[i].clone(), score: 0.0, path: Vec::new() }])).collect();
        let max_changes: Vec<usize> =
            (0..tasks.len()).map(|i| self.space.max_changes(&docs[i], &self.settings.search)).collect();
        let targets: Vec<Vec<usize>> =
            (0..tasks.len()).map(|i| self.target_ids(&tasks[i].reference, &clean_out[i])).collect();
        let src_bleu: Vec<f64> = (0..tasks.len()).map(|i| sentence_bleu(&clean_out[i], &tasks[i].reference)).collect();
        let mut rng = Rng::derive(self.settings.search.seed, 14);
        let mut depth = 0;
        while !beams.is_empty() {
            depth += 1;
            let children = if self.settings.random {
                self.random_children(&beams, &mut rng)
            } else {
                self.gradient_children(&beams, &targets)?
            };
            let flat: Vec<&CharDoc> = children.iter().flat_map(|(_, es)| es.iter().map(|e| &e.doc)).collect();
            let outs = if flat.is_empty() { Vec::new() } else { self.outputs(&flat)? };
            let mut k = 0;
            let mut next = Vec::new();
            for (i, es) in children {
                let t = &tasks[i];
                let mut best: Option<(f64, usize)> = None;
                for (j, _) in es.iter().enumerate() {
                    let o = &outs[k + j];
                    if self.achieved(src_bleu[i], o, &t.reference) {
                        let drop = src_bleu[i] - sentence_bleu(o, &t.reference);
                        if best.is_none_or(|(d, _)| drop > d) {
                            best = Some((drop, j));
                        }
                    }
                }
                let last = depth >= max_changes[i] || es.is_empty();
                if let Some((_, j)) = best {
                    out[i] = Some(self.result(t, &docs[i], &es[j].path, &clean_out[i], &outs[k + j], true, false));
                } else if last {
                    // Report the entry whose translation lost the most BLEU.
                    let pick = (0..es.len()).max_by(|&a, &b| {
                        let (x, y) =
                            (sentence_bleu(&outs[k + a], &t.reference), sentence_bleu(&outs[k + b], &t.reference));
                        y.total_cmp(&x)
                    });
                    out[i] = Some(match pick {
                        Some(j) => self.result(t, &docs[i], &es[j].path, &clean_out[i], &outs[k + j], false, false),
                        None => self.result(t, &docs[i], &[], &clean_out[i], &clean_out[i], false, false),
                    });
                } else {
                    next.push((i, es.clone()));
                }
                k += es.len();
            }
            beams = next;
        }
        let per = start.elapsed().as_secs_f64() / tasks.len().max(1) as f64;
        out.into_iter()
            .map(|r| {
                let mut r = r.ok_or_else(|| Error::invalid("translation attack", "a sentence was left unfinished"))?;
                r.seconds = per;
                Ok(r)
            })
            .collect()
    }

    /// Gradient-guided expansion: every live entry of every sentence in one
    /// forward/backward pass, the best `beam` distinct children per sentence.
    fn gradient_children(
        &self,
        beams: &[(usize, Vec<Entry>)],
        targets: &[Vec<usize>],
    ) -> Result<Vec<(usize, Vec<Entry>)>> {
        let docs: Vec<&CharDoc> = beams.iter().flat_map(|(_, es)| es.iter().map(|e| &e.doc)).collect();
        let tgts: Vec<Vec<usize>> =
            beams.iter().flat_map(|(i, es)| std::iter::repeat_n(targets[*i].clone(), es.len())).collect();
        let grads = self.grads(&docs, &tgts)?;
        let mut entries = Vec::with_capacity(docs.len());
        let mut flat: Vec<&Entry> = Vec::new();
        for (g, (_, es)) in beams.iter().enumerate() {
            for e in es {
                entries.push(ScoreEntry { doc: &e.doc, group: g, score: e.score, active: true });
                flat.push(e);
            }
        }
        let groups = self.space.children(&grads, &entries, beams.len(), self.settings.search.beam)?;
        Ok(beams
            .iter()
            .zip(groups)
            .map(|((i, _), kids)| {
                let es = kids
                    .into_iter()
                    .filter_map(|s| {
                        let parent = flat[s.entry];
                        self.space.apply(&parent.doc, &s.edit).map(|doc| {
                            let mut path = parent.path.clone();
                            path.push(s.edit);
                            Entry { doc, score: s.total, path }
                        })
                    })
                    .collect();
                (*i, es)
            })
            .collect())
    }

    /// The random baseline: one uniformly drawn allowed edit per step on a
    /// single path, as many steps as the budget allows.
    fn random_children(&self, beams: &[(usize, Vec<Entry>)], rng: &mut Rng) -> Vec<(usize, Vec<Entry>)> {
        beams
            .iter()
            .map(|(i, es)| {
                let parent = &es[0];
                let edits = self.space.edits(&parent.doc);
                let kids = if edits.is_empty() {
                    Vec::new()
                } else {
                    let e = edits[(rng.next_u64() % edits.len() as u64) as usize];
                    self.space
                        .apply(&parent.doc, &e)
                        .map(|doc| {
                            let mut path = parent.path.clone();
                            path.push(e);
                            vec![Entry { doc, score: 0.0, path }]
                        })
                        .unwrap_or_default()
                };
                (*i, kids)
            })
            .collect()
    }

    #[allow(clippy::too_many_arguments)]
    fn result(
        &self,
        t: &TranslationTask,
        orig: &CharDoc,
        path: &[CharEdit],
        src_output: &str,
        adv_output: &str,
        success: bool,
        skipped: bool,
    ) -> TranslationResult {
        let mut doc = orig.clone();
        let mut changes = Vec::with_capacity(path.len());
        for e in path {
            changes.push(self.space.change(&doc, e));
            if let Some(d) = self.space.apply(&doc, e) {
                doc = d;
            }
        }
        let src_bleu = sentence_bleu(src_output, &t.reference);
        let adv_bleu = sentence_bleu(adv_output, &t.reference);
        let n_chars = self.space.units(orig);
        TranslationResult {
            index: t.index,
            src: t.src.clone(),
            adv_src: text(&doc),
            reference: t.reference.clone(),
            src_output: src_output.into(),
            adv_output: adv_output.into(),
            src_bleu,
            adv_bleu,
            bleu_drop: src_bleu - adv_bleu,
            success,
            frac_changed: path.len() as f64 / n_chars.max(1) as f64,
            changes,
            n_chars,
            skipped,
            seconds: 0.0,
        }
    }
}

/// The run summary (`--summary`).
#[derive(Clone, Debug, Serialize)]
pub struct TranslationSummary {
    pub n: usize,
    pub attacked: usize,
    pub success_rate: f64,
    /// Share of attacked sentences whose final translation lost at least δ
    /// sentence-BLEU points, δ = 5, 10, 20, 30, 40, 50.
    pub success_by_bleu_drop: std::collections::BTreeMap<String, f64>,
    /// Share of flip / insert / delete among all changes of successful attacks.
    pub op_share: std::collections::BTreeMap<String, f64>,
    pub mean_frac_changed: f64,
    pub mean_changes: f64,
    pub share_one_change: f64,
    pub clean_corpus_bleu: f64,
    pub adv_corpus_bleu: f64,
    pub seconds_per_example: f64,
}

pub fn summarize(results: &[TranslationResult]) -> Result<TranslationSummary> {
    let att: Vec<&TranslationResult> = results.iter().filter(|r| !r.skipped).collect();
    let n = att.len().max(1) as f64;
    let ok: Vec<&&TranslationResult> = att.iter().filter(|r| r.success).collect();
    let mut by = std::collections::BTreeMap::new();
    for d in DELTAS {
        by.insert(format!("{d}"), att.iter().filter(|r| r.bleu_drop >= d).count() as f64 / n);
    }
    let mut ops = std::collections::BTreeMap::new();
    let total: usize = ok.iter().map(|r| r.changes.len()).sum();
    for op in ["flip", "insert", "delete"] {
        let c = ok.iter().flat_map(|r| &r.changes).filter(|c| c.op == op).count();
        ops.insert(op.to_string(), c as f64 / total.max(1) as f64);
    }
    let clean: Vec<&str> = results.iter().map(|r| r.src_output.as_str()).collect();
    let adv: Vec<&str> = results.iter().map(|r| r.adv_output.as_str()).collect();
    let refs: Vec<&str> = results.iter().map(|r| r.reference.as_str()).collect();
    let ns = ok.len().max(1) as f64;
    Ok(TranslationSummary {
        n: results.len(),
        attacked: att.len(),
        success_rate: ok.len() as f64 / n,
        success_by_bleu_drop: by,
        op_share: ops,
        mean_frac_changed: 0.0 + ok.iter().map(|r| r.frac_changed).sum::<f64>() / ns,
        mean_changes: 0.0 + ok.iter().map(|r| r.changes.len() as f64).sum::<f64>() / ns,
        share_one_change: ok.iter().filter(|r| r.changes.len() == 1).count() as f64 / ns,
        clean_corpus_bleu: crate::bleu::corpus_bleu(&clean, &refs)?.bleu,
        adv_corpus_bleu: crate::bleu::corpus_bleu(&adv, &refs)?.bleu,
        seconds_per_example: results.iter().map(|r| r.seconds).sum::<f64>() / results.len().max(1) as f64,
    })
}
