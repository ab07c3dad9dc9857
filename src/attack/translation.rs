//! HotFlip on translation (ATTACKS.md "HotFlip on translation"): the
//! character edit space of the classification attack (`CharSpace`: the
//! same flips, inserts and deletes, one change per word, changed words
//! outside the source training vocabulary, 10% budget, the same one-hot
//! gradient scores) and the same beam search (`beam::Beam`, with every
//! `Method`: HotFlip, loss-based beam, random gradients, random) against
//! `char_nmt`. J = the teacher-forced cross-entropy of the reference
//! (summed over its tokens); an entry's outcome is its beam-search
//! translation, and success = its sentence BLEU at least δ below the clean
//! translation's. Beam entries of many sentences go through one
//! forward/backward pass and one batched decoding.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::attack::beam::{Beam, Evaluated, Job, Objective};
use crate::attack::char_doc::{CharDoc, CharEdit};
use crate::attack::result::Change;
use crate::attack::space::Space;
use crate::attack::{CharSpace, Method, Settings};
use crate::bleu::sentence_bleu;
use crate::error::{Error, Result};
use crate::models::char_nmt::{CharNmt, TargetBatch};
use crate::models::{frozen_input_pass, Input, Mode};
use crate::nmt::{translate, NmtVocab};
use crate::nn::ParamStore;
use crate::tensor::Tensor;

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

/// How a translation attack searches and what counts as success; checked
/// by [`TranslationAttacker::new`].
#[derive(Clone, Debug)]
pub struct TranslationSettings {
    /// The method (`hotflip`, `loss-beam`, `random-grad`, `random`), search
    /// beam width and every other character-attack setting.
    pub search: Settings,
    /// Beam width of the decoder that translates each candidate.
    pub decode_beam: usize,
    /// δ for the [`TranslationGoal::BleuDrop`] goal: the sentence-BLEU
    /// points (0–100 scale) the translation must lose; in (0, 100].
    pub min_bleu_drop: f64,
    /// What the adversary wants of the translation.
    pub goal: TranslationGoal,
}

/// One attacked sentence (a line of `--out`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TranslationResult {
    /// Position in the split.
    pub index: usize,
    /// The source sentence as given.
    pub src: String,
    /// The source with the changes applied (words past the model's
    /// `max_src_words` stay as written); equal to `src` when nothing changed.
    pub adv_src: String,
    /// The reference translation (`ref` in JSON).
    #[serde(rename = "ref")]
    pub reference: String,
    /// The model's translation of `src`.
    pub src_output: String,
    /// The model's translation of `adv_src`.
    pub adv_output: String,
    /// Sentence BLEU (0–100) of `src_output` against the reference.
    pub src_bleu: f64,
    /// Sentence BLEU (0–100) of `adv_output` against the reference.
    pub adv_bleu: f64,
    /// `src_bleu − adv_bleu`; negative when the attack improved the translation.
    pub bleu_drop: f64,
    /// The goal was met (BLEU dropped by δ, or the word removed/replaced).
    pub success: bool,
    /// The applied character changes, in search order.
    pub changes: Vec<Change>,
    /// Characters of the source as the budget counts them.
    pub n_chars: usize,
    /// `changes.len() / n_chars`: the share of characters changed.
    pub frac_changed: f64,
    /// Not attacked: the model reads no source word, or the goal already
    /// holds for the clean translation (e.g. the word to remove is absent).
    pub skipped: bool,
    /// Teacher-forced passes over a candidate (decodings come with some of them).
    #[serde(default)]
    pub forward_passes: u64,
    /// Gradient computations spent on this sentence (0 for `random`).
    #[serde(default)]
    pub backward_passes: u64,
    /// Wall time spent on this sentence, shared time split among the
    /// sentences attacked together.
    pub seconds: f64,
}

/// One sentence to attack.
#[derive(Clone, Debug)]
pub struct TranslationTask {
    /// Position in the split, copied to [`TranslationResult::index`].
    pub index: usize,
    /// Source words (13a tokens) joined by single spaces.
    pub src: String,
    /// The reference translation: J for the BLEU goal, and what BLEU is
    /// measured against.
    pub reference: String,
}

/// HotFlip (or a baseline) against a `char_nmt` model: build with
/// [`TranslationAttacker::new`], then [`attack`](TranslationAttacker::attack)
/// batches of sentences.
pub struct TranslationAttacker<'a> {
    /// The character edit space, built from the model's source alphabet and
    /// source training words.
    pub space: CharSpace<'a>,
    objective: Translator<'a>,
    settings: Settings,
}

/// What one sentence's J and success are measured against.
#[derive(Clone, Debug)]
pub struct Reference {
    /// Target ids J is computed on: the reference (BLEU goal), or the clean
    /// output with the word dropped or replaced (controlled/targeted goals).
    target: Vec<usize>,
    reference: String,
    clean_bleu: f64,
}

/// A candidate's translation and its sentence BLEU.
#[derive(Clone, Debug)]
pub struct Translated {
    /// The decoded target sentence.
    pub text: String,
    /// Its sentence BLEU (0–100) against the task's reference.
    pub bleu: f64,
}

/// `char_nmt` as the beam search's objective.
struct Translator<'a> {
    model: &'a CharNmt,
    store: &'a ParamStore,
    vocab: &'a NmtVocab,
    decode_beam: usize,
    min_bleu_drop: f64,
    goal: TranslationGoal,
}

impl Translator<'_> {
    fn outputs(&self, docs: &[&CharDoc]) -> Result<Vec<String>> {
        let srcs: Vec<Vec<Vec<usize>>> = docs.iter().map(|d| d.ids(&self.vocab.chars)).collect();
        Ok(translate(self.model, self.store, &srcs, self.decode_beam)?
            .into_iter()
            .map(|t| self.vocab.decode_tgt(&t.ids))
            .collect())
    }

    /// Whether a translation meets the goal (for the BLEU goal: a drop of δ).
    fn achieved(&self, r: &Reference, out: &Translated) -> bool {
        match &self.goal {
            TranslationGoal::BleuDrop => r.clean_bleu - out.bleu >= self.min_bleu_drop,
            TranslationGoal::Remove(w) => !out.text.split(' ').any(|t| t == w),
            TranslationGoal::Replace(w, new) => {
                !out.text.split(' ').any(|t| t == w) && out.text.split(' ').any(|t| t == new)
            }
        }
    }

    /// J's sign: the BLEU goal maximises the reference's loss; the others
    /// minimise the loss of the sentence they want.
    fn sign(&self) -> f32 {
        if self.goal == TranslationGoal::BleuDrop {
            1.0
        } else {
            -1.0
        }
    }

    fn reference(&self, reference: &str, clean_out: &str) -> Reference {
        let target = match &self.goal {
            TranslationGoal::BleuDrop => self.vocab.encode_tgt(reference),
            TranslationGoal::Remove(w) => {
                let kept: Vec<&str> = clean_out.split(' ').filter(|t| t != w).collect();
                self.vocab.encode_tgt(&kept.join(" "))
            }
            TranslationGoal::Replace(w, new) => {
                let rep: Vec<&str> = clean_out.split(' ').map(|t| if t == w { new.as_str() } else { t }).collect();
                self.vocab.encode_tgt(&rep.join(" "))
            }
        };
        Reference { target, reference: reference.into(), clean_bleu: sentence_bleu(clean_out, reference) }
    }

    /// Whether the goal is already met by the clean translation (nothing to attack).
    fn met_already(&self, clean_out: &str) -> bool {
        match &self.goal {
            TranslationGoal::BleuDrop => false,
            TranslationGoal::Remove(w) | TranslationGoal::Replace(w, _) => !clean_out.split(' ').any(|t| t == w),
        }
    }
}

impl<'s> Objective<CharSpace<'s>> for Translator<'_> {
    type Goal = Reference;
    type Outcome = Translated;

    fn evaluate(
        &self,
        space: &CharSpace<'s>,
        docs: &[&CharDoc],
        goals: &[&Reference],
        grads: bool,
        outcomes: bool,
    ) -> Result<Evaluated<Translated>> {
        let Input::Chars(x) = space.input(docs)? else {
            return Err(Error::invalid("translation attack", "character batch expected"));
        };
        let targets: Vec<Vec<usize>> = goals.iter().map(|g| g.target.clone()).collect();
        let y = TargetBatch::new(&targets, self.model.config.max_tgt_words)?;
        // J of each sentence: the sum over its real tokens, times the goal's sign.
        let sign = self.sign();
        let weights: Vec<f32> = y.mask.iter().map(|&m| m * sign).collect();
        let pass = frozen_input_pass(
            self.store,
            grads,
            |tape, p| self.model.embed(tape, p, &x),
            |tape, p, e| {
                let mem = self.model.encode(tape, p, &x, e, Mode::EVAL)?;
                let logits = self.model.forced_logits(tape, p, &mem, &y, Mode::EVAL)?;
                let v = *tape.shape(logits)?.last().unwrap_or(&1);
                let flat = tape.reshape(logits, &[y.batch * y.len, v])?;
                let per_token = tape.cross_entropy_per_example(flat, &y.outputs)?;
                let w = tape.constant(Tensor::new(&[weights.len()], weights.clone())?);
                Ok((tape.sum(tape.mul(per_token, w)?)?, tape.value(per_token)?))
            },
        )?;
        let loss: Vec<f32> = pass
            .out
            .data()
            .chunks(y.len)
            .zip(weights.chunks(y.len))
            .map(|(c, w)| c.iter().zip(w).map(|(a, b)| a * b).sum())
            .collect();
        let grads = match (grads, pass.grad) {
            (false, _) => None,
            (true, Some(g)) => Some(g),
            (true, None) => return Err(Error::invalid("translation attack", "no embedding gradient")),
        };
        let outcomes = if outcomes {
            self.outputs(docs)?
                .into_iter()
                .zip(goals)
                .map(|(text, g)| Translated { bleu: sentence_bleu(&text, &g.reference), text })
                .collect()
        } else {
            Vec::new()
        };
        Ok(Evaluated { outcomes, loss, grads: grads.map(crate::attack::beam::Grads::Host) })
    }

    /// The BLEU drop (for every goal: among entries that meet it, the one
    /// that hurts the translation most is reported).
    fn adversarial(&self, goal: &Reference, out: &Translated) -> f32 {
        (goal.clean_bleu - out.bleu) as f32
    }

    fn success(&self, goal: &Reference, out: &Translated) -> bool {
        self.achieved(goal, out)
    }

    /// A failed untargeted attack reports its largest BLEU drop (Figure 3
    /// counts drops of every size); the other goals their best J.
    fn fallback(&self, goal: &Reference, out: &Translated, loss: f32) -> f32 {
        match self.goal {
            TranslationGoal::BleuDrop => self.adversarial(goal, out),
            _ => loss,
        }
    }
}

impl<'a> TranslationAttacker<'a> {
    /// Checks the settings (the search's, `decode_beam ≥ 1`, δ in (0, 100])
    /// and builds the character space from the model's embedding table and
    /// `vocab`; an error if any check fails.
    pub fn new(
        model: &'a CharNmt,
        store: &'a ParamStore,
        vocab: &'a NmtVocab,
        settings: TranslationSettings,
    ) -> Result<Self> {
        settings.search.check()?;
        if settings.decode_beam == 0 {
            return Err(Error::invalid("translation attack", "--decode-beam must be at least 1"));
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
        let objective = Translator {
            model,
            store,
            vocab,
            decode_beam: settings.decode_beam,
            min_bleu_drop: settings.min_bleu_drop,
            goal: settings.goal,
        };
        Ok(TranslationAttacker { space, objective, settings: settings.search })
    }

    /// Attacks the tasks together (one result each, in order).
    pub fn attack(&self, tasks: &[TranslationTask]) -> Result<Vec<TranslationResult>> {
        let start = Instant::now();
        let docs: Vec<CharDoc> = tasks.iter().map(|t| self.space.parse(&t.src)).collect();
        let readable: Vec<usize> = (0..tasks.len()).filter(|&i| !self.space.is_empty(&docs[i])).collect();
        let refs: Vec<&CharDoc> = readable.iter().map(|&i| &docs[i]).collect();
        let clean = if refs.is_empty() { Vec::new() } else { self.objective.outputs(&refs)? };
        let mut out: Vec<Option<TranslationResult>> = vec![None; tasks.len()];
        let mut jobs = Vec::with_capacity(readable.len());
        for (i, t) in tasks.iter().enumerate() {
            if self.space.is_empty(&docs[i]) {
                // Nothing the model can read (no source word): reported, not attacked.
                out[i] = Some(self.result(t, &docs[i], "", "", false, true));
            }
        }
        for (&i, clean_out) in readable.iter().zip(clean) {
            let t = &tasks[i];
            if self.objective.met_already(&clean_out) {
                out[i] = Some(self.result(t, &docs[i], &clean_out, &clean_out, false, true));
                continue;
            }
            let goal = self.objective.reference(&t.reference, &clean_out);
            let orig = Translated { bleu: goal.clean_bleu, text: clean_out };
            let max_changes = self.space.max_changes(&docs[i], &self.settings);
            jobs.push(Job::start(i, t.index, goal, docs[i].clone(), orig, max_changes));
        }
        if self.settings.method != Method::Random {
            let first = start.elapsed().as_secs_f64() / tasks.len().max(1) as f64;
            jobs.iter_mut().for_each(|j| j.seconds += first);
        }
        let beam = Beam { space: &self.space, objective: &self.objective, settings: &self.settings };
        for job in beam.run(jobs)? {
            let t = &tasks[job.task];
            let entry = job.reported();
            let adv = entry.outcome.as_ref().unwrap_or(&job.orig_outcome);
            let mut r = self.result(t, &job.orig, &job.orig_outcome.text, &adv.text, job.success, false);
            self.record_changes(&mut r, t, &job.orig, entry.path.iter().map(|s| (s.edit, s.predicted, s.actual)));
            r.forward_passes = job.fwd;
            r.backward_passes = job.bwd;
            r.seconds = job.seconds;
            out[job.task] = Some(r);
        }
        out.into_iter()
            .map(|r| r.ok_or_else(|| Error::invalid("translation attack", "a sentence was left unfinished")))
            .collect()
    }

    /// Fills the result's changes, adversarial source and changed share
    /// from the path's edits.
    fn record_changes(
        &self,
        r: &mut TranslationResult,
        t: &TranslationTask,
        orig: &CharDoc,
        path: impl Iterator<Item = (CharEdit, Option<f32>, Option<f32>)>,
    ) {
        let mut doc = orig.clone();
        let mut edits = Vec::new();
        r.changes.clear();
        for (e, predicted, actual) in path {
            let mut c = self.space.change(&doc, &e);
            c.predicted = predicted;
            c.actual = actual;
            r.changes.push(c);
            edits.push(e);
            if let Some(d) = self.space.apply(&doc, &e) {
                doc = d;
            }
        }
        // Words past the model's `max_src_words` stay as written.
        r.adv_src = self.space.render(&t.src, orig, &edits);
        r.frac_changed = r.changes.len() as f64 / r.n_chars.max(1) as f64;
    }

    fn result(
        &self,
        t: &TranslationTask,
        orig: &CharDoc,
        src_output: &str,
        adv_output: &str,
        success: bool,
        skipped: bool,
    ) -> TranslationResult {
        let src_bleu = sentence_bleu(src_output, &t.reference);
        let adv_bleu = sentence_bleu(adv_output, &t.reference);
        let n_chars = self.space.units(orig);
        TranslationResult {
            index: t.index,
            src: t.src.clone(),
            adv_src: t.src.clone(),
            reference: t.reference.clone(),
            src_output: src_output.into(),
            adv_output: adv_output.into(),
            src_bleu,
            adv_bleu,
            bleu_drop: src_bleu - adv_bleu,
            success,
            frac_changed: 0.0,
            changes: Vec::new(),
            n_chars,
            skipped,
            forward_passes: if skipped { 0 } else { 1 },
            backward_passes: 0,
            seconds: 0.0,
        }
    }
}

/// The run summary (`--summary`).
#[derive(Clone, Debug, Serialize)]
pub struct TranslationSummary {
    /// Sentences in the results, skipped ones included.
    pub n: usize,
    /// Sentences attacked (not skipped).
    pub attacked: usize,
    /// Successes over attacked sentences.
    pub success_rate: f64,
    /// Share of attacked sentences whose final translation lost at least δ
    /// sentence-BLEU points, δ = 5, 10, 20, 30, 40, 50.
    pub success_by_bleu_drop: std::collections::BTreeMap<String, f64>,
    /// Share of flip / insert / delete among all changes of successful attacks.
    pub op_share: std::collections::BTreeMap<String, f64>,
    /// Mean share of characters changed, over successful attacks.
    pub mean_frac_changed: f64,
    /// Mean number of changes, over successful attacks.
    pub mean_changes: f64,
    /// Share of successful attacks that needed a single change.
    pub share_one_change: f64,
    /// Corpus BLEU (0–100) of the clean translations of all sentences.
    pub clean_corpus_bleu: f64,
    /// Corpus BLEU (0–100) of the adversarial translations of all sentences
    /// (a skipped sentence counts with its clean translation).
    pub adv_corpus_bleu: f64,
    /// Mean wall seconds per sentence, skipped ones included.
    pub seconds_per_example: f64,
}

/// The run's figures from its per-sentence results. An error only if corpus
/// BLEU cannot be computed.
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
