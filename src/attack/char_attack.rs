//! The character-level attack on `char_cnn_lstm` (HotFlip §3–4): beam
//! search over flips, insertions and deletions ranked by first-order scores,
//! and the paper's baselines (loss-ranked beam, random gradients, random
//! changes). Many documents are attacked together: at every step the beam
//! entries of all of them are stacked into one forward and one backward pass.

use std::collections::{BTreeMap, HashSet};
use std::time::Instant;

use crate::attack::char_doc::{edit_display_word, CharDoc, CharEdit, CharOp};
use crate::attack::char_score::{all_edits, top_children, EntryRef, ScoreTensors};
use crate::attack::oracle::{evaluate, Evaluation, Goal};
use crate::attack::result::{tau_key, Change, ExampleResult, TAUS};
use crate::data::{ModelVocab, Tokenizer, Vocab};
use crate::error::{Error, Result};
use crate::models::{CharBatch, Input, Model, ModelConfig};
use crate::nn::ParamStore;
use crate::rng::Rng;
use crate::tensor::Tensor;

/// How children are ranked (ATTACKS.md's method and baselines).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// First-order scores from the one-hot gradient (HotFlip).
    HotFlip,
    /// True loss of every child from a forward pass (HotFlip Table 2).
    LossBeam,
    /// The beam with random gradients in place of the real ones (§4.1).
    RandomGrad,
    /// As many random changes as HotFlip made.
    Random,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::HotFlip => "hotflip",
            Method::LossBeam => "loss-beam",
            Method::RandomGrad => "random-grad",
            Method::Random => "random",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Settings {
    pub method: Method,
    /// Beam width b (1 = greedy).
    pub beam: usize,
    /// Success threshold τ on the adversarial class's probability.
    pub tau: f32,
    /// Largest share of the document's characters that may change.
    pub budget: f32,
    /// At most one changed character per word (ATTACKS.md, on by default).
    pub one_change_per_word: bool,
    /// The changed word must not be a training word (on by default).
    pub forbid_training_words: bool,
    /// Targeted attack towards this class.
    pub target: Option<usize>,
    pub seed: u64,
    /// Beam entries per forward/backward pass at most.
    pub eval_batch: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            method: Method::HotFlip,
            beam: 10,
            tau: 0.5,
            budget: 0.1,
            one_change_per_word: true,
            forbid_training_words: true,
            target: None,
            seed: 0,
            eval_batch: 512,
        }
    }
}

/// An example to attack.
#[derive(Clone, Debug)]
pub struct Task {
    pub index: usize,
    pub text: String,
    pub label: usize,
}

/// One applied edit along a beam path.
#[derive(Clone, Debug)]
struct Step {
    edit: CharEdit,
    from: Option<char>,
    word_before: Vec<char>,
    word_after: Vec<char>,
    predicted: Option<f32>,
    actual: Option<f32>,
}

#[derive(Clone, Debug)]
struct Entry {
    doc: CharDoc,
    /// Sum of the first-order scores along the path.
    score: f32,
    path: Vec<Step>,
    /// J of the parent, for the actual loss change of the last step.
    parent_loss: Option<f32>,
    /// (probabilities, J) once evaluated.
    eval: Option<(Vec<f32>, f32)>,
}

/// One document under attack.
struct Job {
    /// Position in the batch of tasks.
    task: usize,
    /// The example's index in its split (seeds depend on it, not on batching).
    index: usize,
    goal: Goal,
    orig: CharDoc,
    orig_probs: Vec<f32>,
    max_changes: usize,
    entries: Vec<Entry>,
    depth: usize,
    fwd: u64,
    bwd: u64,
    seconds: f64,
    tau_changes: BTreeMap<String, usize>,
    best_adv: f32,
    result: Option<Entry>,
    success: bool,
}

/// The character attack on one model.
pub struct CharAttacker<'a> {
    model: &'a Model,
    store: &'a ParamStore,
    vocab: &'a Vocab,
    word_vocab: Option<&'a Vocab>,
    tok: Tokenizer,
    positions: usize,
    max_words: usize,
    table: Tensor,
    allowed: Vec<bool>,
    chars: Vec<char>,
    allowed_chars: Vec<char>,
    pub settings: Settings,
}

impl<'a> CharAttacker<'a> {
    pub fn new(
        model: &'a Model,
        store: &'a ParamStore,
        vocab: &'a ModelVocab,
        lowercase: bool,
        settings: Settings,
    ) -> Result<Self> {
        let ModelConfig::CharCnnLstm(cfg) = model.config() else {
            return Err(Error::invalid("attack", "the character attack needs a char_cnn_lstm model"));
        };
        let ok = settings.beam > 0 && settings.tau > 0.0 && settings.tau < 1.0 && settings.budget > 0.0;
        if !ok {
            return Err(Error::invalid(
                "attack",
                format!(
                    "beam {} ≥ 1, τ {} in (0, 1) and budget {} > 0 required",
                    settings.beam, settings.tau, settings.budget
                ),
            ));
        }
        if let Some(t) = settings.target {
            if t >= cfg.n_classes {
                return Err(Error::invalid("attack", format!("target class {t} of a {}-class model", cfg.n_classes)));
            }
        }
        let table = store.get(model.embedding_param()).clone();
        let v = table.shape()[0];
        let mut chars = vec!['\0'; v];
        let mut allowed = vec![false; v];
        for id in Vocab::RESERVED..v {
            if let Some(tok) = vocab.vocab.token(id) {
                if let Some(c) = tok.chars().next() {
                    chars[id] = c;
                    // Whitespace would split the word; PAD and UNK are not text.
                    allowed[id] = !c.is_whitespace();
                }
            }
        }
        let allowed_chars = (0..v).filter(|&i| allowed[i]).map(|i| chars[i]).collect();
        Ok(CharAttacker {
            model,
            store,
            vocab: &vocab.vocab,
            word_vocab: vocab.word_vocab.as_ref(),
            tok: Tokenizer::new(lowercase),
            positions: cfg.max_word_len,
            max_words: cfg.max_words,
            table,
            allowed,
            chars,
            allowed_chars,
            settings,
        })
    }

    fn input(&self, docs: &[&CharDoc]) -> Result<Input> {
        let ids: Vec<Vec<Vec<usize>>> = docs.iter().map(|d| d.ids(self.vocab)).collect();
        Ok(Input::Chars(CharBatch::from_docs(&ids, self.positions, self.max_words)?))
    }

    fn open(&self, doc: &CharDoc) -> Vec<bool> {
        doc.changed.iter().map(|&c| !(c && self.settings.one_change_per_word)).collect()
    }

    /// Whether an edit breaks the word-vocabulary constraint.
    fn forbidden(&self, doc: &CharDoc, e: &CharEdit) -> bool {
        if !self.settings.forbid_training_words {
            return false;
        }
        let Some(wv) = self.word_vocab else { return false };
        match doc.edited_word(e) {
            Some(w) => wv.contains(&w.iter().collect::<String>()),
            None => true,
        }
    }

    /// Attacks `tasks` together; one result per task, in order.
    pub fn attack(&self, tasks: &[Task]) -> Result<Vec<ExampleResult>> {
        if self.settings.method == Method::Random {
            let counter = CharAttacker {
                settings: Settings { method: Method::HotFlip, ..self.settings.clone() },
                ..self.clone_parts()
            };
            let reference = counter.attack(tasks)?;
            let counts: Vec<usize> = reference.iter().map(|r| r.changes.len()).collect();
            return self.attack_random(tasks, &counts);
        }
        let start = Instant::now();
        let (mut jobs, mut results) = self.classify(tasks)?;
        let first = start.elapsed().as_secs_f64() / tasks.len().max(1) as f64;
        for j in &mut jobs {
            j.seconds += first;
        }
        while jobs.iter().any(|j| j.result.is_none()) {
            for chunk in self.chunks(&jobs) {
                let t0 = Instant::now();
                self.advance(&mut jobs, &chunk)?;
                let share = t0.elapsed().as_secs_f64() / chunk.len() as f64;
                for &j in &chunk {
                    jobs[j].seconds += share;
                }
            }
        }
        for job in jobs {
            let task = job.task;
            results[task] = Some(self.finish(&tasks[task], job));
        }
        results
            .into_iter()
            .map(|r| r.ok_or_else(|| Error::invalid("attack", "an example was left unfinished")))
            .collect()
    }

    /// A copy sharing the borrowed model, for running a second method.
    fn clone_parts(&self) -> CharAttacker<'a> {
        CharAttacker {
            model: self.model,
            store: self.store,
            vocab: self.vocab,
            word_vocab: self.word_vocab,
            tok: self.tok,
            positions: self.positions,
            max_words: self.max_words,
            table: self.table.clone(),
            allowed: self.allowed.clone(),
            chars: self.chars.clone(),
            allowed_chars: self.allowed_chars.clone(),
            settings: self.settings.clone(),
        }
    }

    /// One forward pass over the originals: which are correctly classified
    /// (and so attacked), and the jobs for them.
    #[allow(clippy::type_complexity)]
    fn classify(&self, tasks: &[Task]) -> Result<(Vec<Job>, Vec<Option<ExampleResult>>)> {
        let docs: Vec<CharDoc> = tasks.iter().map(|t| CharDoc::new(&t.text, self.tok, self.max_words)).collect();
        let mut results: Vec<Option<ExampleResult>> = vec![None; tasks.len()];
        let readable: Vec<usize> = (0..tasks.len()).filter(|&i| !docs[i].words.is_empty()).collect();
        let mut probs: Vec<Vec<f32>> = vec![Vec::new(); tasks.len()];
        for chunk in readable.chunks(self.settings.eval_batch.max(1)) {
            let refs: Vec<&CharDoc> = chunk.iter().map(|&i| &docs[i]).collect();
            let goals: Vec<Goal> = chunk.iter().map(|&i| Goal { label: tasks[i].label, target: None }).collect();
            let ev = evaluate(self.model, self.store, &self.input(&refs)?, &goals, false)?;
            for (k, &i) in chunk.iter().enumerate() {
                probs[i] = ev.probs[k].clone();
            }
        }
        let mut jobs = Vec::new();
        for (i, t) in tasks.iter().enumerate() {
            let doc = &docs[i];
            let pred = if probs[i].is_empty() { usize::MAX } else { crate::train::argmax(&probs[i]) };
            let wrong = pred != t.label || self.settings.target == Some(t.label);
            if doc.words.is_empty() || wrong {
                results[i] = Some(self.skipped(t, doc, &probs[i]));
                continue;
            }
            let n_chars = doc.n_chars();
            let mut max_changes = ((self.settings.budget * n_chars as f32).floor() as usize).max(1);
            if self.settings.one_change_per_word {
                max_changes = max_changes.min(doc.words.len());
            }
            jobs.push(Job {
                task: i,
                index: t.index,
                goal: Goal { label: t.label, target: self.settings.target },
                orig: doc.clone(),
                orig_probs: probs[i].clone(),
                max_changes,
                entries: vec![Entry { doc: doc.clone(), score: 0.0, path: Vec::new(), parent_loss: None, eval: None }],
                depth: 0,
                fwd: 1,
                bwd: 0,
                seconds: 0.0,
                tau_changes: BTreeMap::new(),
                best_adv: 0.0,
                result: None,
                success: false,
            });
        }
        Ok((jobs, results))
    }

    /// Unfinished jobs grouped so that no job's beam is split across passes.
    fn chunks(&self, jobs: &[Job]) -> Vec<Vec<usize>> {
        let mut out: Vec<Vec<usize>> = Vec::new();
        let mut size = 0;
        for (j, job) in jobs.iter().enumerate() {
            if job.result.is_some() {
                continue;
            }
            let n = job.entries.len();
            if out.is_empty() || size + n > self.settings.eval_batch.max(self.settings.beam) {
                out.push(Vec::new());
                size = 0;
            }
            if let Some(c) = out.last_mut() {
                c.push(j);
            }
            size += n;
        }
        out
    }

    /// Evaluates a chunk's entries, decides which jobs are done, and
    /// expands the others by one change.
    fn advance(&self, jobs: &mut [Job], chunk: &[usize]) -> Result<()> {
        let wants_grads = matches!(self.settings.method, Method::HotFlip | Method::RandomGrad);
        let pending: Vec<(usize, usize)> = chunk
            .iter()
            .flat_map(|&j| (0..jobs[j].entries.len()).map(move |e| (j, e)))
            .filter(|&(j, e)| jobs[j].entries[e].eval.is_none())
            .collect();
        let mut grads: Option<(Evaluation, Vec<(usize, usize)>)> = None;
        if !pending.is_empty() {
            let need = wants_grads && pending.iter().any(|&(j, _)| jobs[j].depth < jobs[j].max_changes);
            let refs: Vec<&CharDoc> = pending.iter().map(|&(j, e)| &jobs[j].entries[e].doc).collect();
            let goals: Vec<Goal> = pending.iter().map(|&(j, _)| jobs[j].goal).collect();
            let ev = evaluate(self.model, self.store, &self.input(&refs)?, &goals, need)?;
            for (k, &(j, e)) in pending.iter().enumerate() {
                jobs[j].fwd += 1;
                // Counted where the example needed it (a job at its last
                // depth only needs the forward pass, whatever its batch).
                jobs[j].bwd += (need && jobs[j].depth < jobs[j].max_changes) as u64;
                jobs[j].entries[e].eval = Some((ev.probs[k].clone(), ev.loss[k]));
            }
            if need {
                grads = Some((ev, pending.clone()));
            }
        }
        // Record what this depth reached; finish jobs that are done.
        let mut expand: Vec<usize> = Vec::new();
        for &j in chunk {
            let job = &mut jobs[j];
            for entry in &mut job.entries {
                let (probs, loss) = entry.eval.clone().unwrap_or_default();
                if let (Some(p), Some(last)) = (entry.parent_loss, entry.path.last_mut()) {
                    last.actual = Some(loss - p);
                }
                let adv = job.goal.adversarial(&probs);
                job.best_adv = job.best_adv.max(adv);
                for t in TAUS {
                    if adv >= t {
                        job.tau_changes.entry(tau_key(t)).or_insert(job.depth);
                    }
                }
            }
            let adv_of = |e: &Entry| e.eval.as_ref().map_or(0.0, |(p, _)| job.goal.adversarial(p));
            let loss_of = |e: &Entry| e.eval.as_ref().map_or(f32::NEG_INFINITY, |(_, l)| *l);
            let best_adv = job.entries.iter().max_by(|a, b| adv_of(a).total_cmp(&adv_of(b)));
            if let Some(best) = best_adv.filter(|e| adv_of(e) >= self.settings.tau) {
                job.result = Some(best.clone());
                job.success = true;
            } else if job.depth >= job.max_changes {
                job.result = job.entries.iter().max_by(|a, b| loss_of(a).total_cmp(&loss_of(b))).cloned();
            } else {
                expand.push(j);
            }
        }
        if expand.is_empty() {
            return Ok(());
        }
        let children: Vec<Vec<Entry>> = match self.settings.method {
            Method::LossBeam => self.loss_children(jobs, &expand)?,
            _ => {
                let (ev, order) = grads.ok_or_else(|| Error::invalid("attack", "no gradients for expansion"))?;
                self.scored_children(jobs, &expand, ev, &order)?
            }
        };
        for (&j, kids) in expand.iter().zip(children) {
            let job = &mut jobs[j];
            job.depth += 1;
            if kids.is_empty() {
                // Nothing left to change: the best entry so far stands.
                let loss_of = |e: &Entry| e.eval.as_ref().map_or(f32::NEG_INFINITY, |(_, l)| *l);
                job.result = job.entries.iter().max_by(|a, b| loss_of(a).total_cmp(&loss_of(b))).cloned();
            } else {
                job.entries = kids;
            }
        }
        Ok(())
    }

    /// HotFlip (or random-gradient) children of the jobs in `expand`.
    fn scored_children(
        &self,
        jobs: &[Job],
        expand: &[usize],
        ev: Evaluation,
        order: &[(usize, usize)],
    ) -> Result<Vec<Vec<Entry>>> {
        let grads = ev.grads.ok_or_else(|| Error::invalid("attack", "the evaluation returned no gradients"))?;
        let (l, d) = (self.positions, self.table.shape()[1]);
        let words = grads.shape()[0] / order.len().max(1);
        let mut g = grads.into_vec();
        if self.settings.method == Method::RandomGrad {
            // Seeded per example and depth, so a document's random scores do
            // not depend on which documents share its batch.
            let row = words * l * d;
            for (k, &(j, e)) in order.iter().enumerate() {
                let stream = (jobs[j].index as u64) << 32 | (jobs[j].depth as u64) << 16 | e as u64;
                let mut rng = Rng::derive(self.settings.seed ^ 0x5247, stream);
                g[k * row..(k + 1) * row].iter_mut().for_each(|x| *x = rng.normal());
            }
        }
        let refs: Vec<&CharDoc> = order.iter().map(|&(j, e)| &jobs[j].entries[e].doc).collect();
        let ids = match self.input(&refs)? {
            Input::Chars(b) => b.ids,
            Input::Words(_) => return Err(Error::invalid("attack", "character batch expected")),
        };
        let group_of: std::collections::HashMap<usize, usize> =
            expand.iter().enumerate().map(|(g, &j)| (j, g)).collect();
        let opens: Vec<Vec<bool>> = order.iter().map(|&(j, e)| self.open(&jobs[j].entries[e].doc)).collect();
        // Entries of finished jobs keep their rows in the batch but are
        // closed, so they produce no children.
        let closed: Vec<Vec<bool>> =
            order.iter().map(|&(j, e)| vec![false; jobs[j].entries[e].doc.words.len()]).collect();
        let entries: Vec<EntryRef<'_>> = order
            .iter()
            .enumerate()
            .map(|(k, &(j, e))| {
                let ent = &jobs[j].entries[e];
                let (group, open) = match group_of.get(&j) {
                    Some(&g) => (g, &opens[k]),
                    None => (0, &closed[k]),
                };
                EntryRef { doc: &ent.doc, group, score: ent.score, open }
            })
            .collect();
        let vocab = self.vocab;
        let char_id = move |c: char| vocab.char_id(c);
        let t = ScoreTensors {
            grads: &g,
            ids: &ids,
            words,
            positions: l,
            dim: d,
            table: self.table.data(),
            allowed: &self.allowed,
            chars: &self.chars,
            char_id: &char_id,
        };
        let forbidden = |doc: &CharDoc, e: &CharEdit| self.forbidden(doc, e);
        let picked = top_children(&t, &entries, expand.len(), self.settings.beam, &forbidden);
        Ok(picked
            .into_iter()
            .map(|cands| {
                cands
                    .into_iter()
                    .filter_map(|c| {
                        let (j, e) = order[c.entry];
                        self.child(&jobs[j].entries[e], c.edit, Some(c.gain), c.total)
                    })
                    .collect()
            })
            .collect())
    }

    /// Loss-ranked children: every allowed child evaluated by a forward pass.
    fn loss_children(&self, jobs: &mut [Job], expand: &[usize]) -> Result<Vec<Vec<Entry>>> {
        let mut out = Vec::with_capacity(expand.len());
        for &j in expand {
            let mut kids: Vec<Entry> = Vec::new();
            let mut seen: HashSet<CharDoc> = HashSet::new();
            for parent in &jobs[j].entries {
                let open = self.open(&parent.doc);
                for edit in all_edits(&parent.doc, &open, self.positions, &self.allowed_chars) {
                    if self.forbidden(&parent.doc, &edit) {
                        continue;
                    }
                    if let Some(child) = self.child(parent, edit, None, parent.score) {
                        if seen.insert(child.doc.clone()) {
                            kids.push(child);
                        }
                    }
                }
            }
            for chunk in kids.chunks_mut(self.settings.eval_batch.max(1)) {
                let refs: Vec<&CharDoc> = chunk.iter().map(|k| &k.doc).collect();
                let goals = vec![jobs[j].goal; chunk.len()];
                let ev = evaluate(self.model, self.store, &self.input(&refs)?, &goals, false)?;
                for (k, kid) in chunk.iter_mut().enumerate() {
                    kid.eval = Some((ev.probs[k].clone(), ev.loss[k]));
                }
            }
            jobs[j].fwd += kids.len() as u64;
            // Highest true loss first; the enumeration order breaks ties.
            let mut order: Vec<usize> = (0..kids.len()).collect();
            let loss = |k: &Entry| k.eval.as_ref().map_or(f32::NEG_INFINITY, |e| e.1);
            order.sort_by(|&a, &b| loss(&kids[b]).total_cmp(&loss(&kids[a])).then(a.cmp(&b)));
            let keep: HashSet<usize> = order.into_iter().take(self.settings.beam).collect();
            let mut chosen: Vec<(usize, Entry)> =
                kids.into_iter().enumerate().filter(|(i, _)| keep.contains(i)).collect();
            chosen.sort_by(|a, b| loss(&b.1).total_cmp(&loss(&a.1)).then(a.0.cmp(&b.0)));
            out.push(chosen.into_iter().map(|(_, e)| e).collect());
        }
        Ok(out)
    }

    /// The entry after one more edit (its evaluation still to come).
    fn child(&self, parent: &Entry, edit: CharEdit, gain: Option<f32>, total: f32) -> Option<Entry> {
        let doc = parent.doc.apply(&edit)?;
        let word_before = parent.doc.words[edit.word].clone();
        let word_after = doc.words[edit.word].clone();
        let mut path = parent.path.clone();
        path.push(Step {
            edit,
            from: parent.doc.from_char(&edit),
            word_before,
            word_after,
            predicted: gain,
            actual: None,
        });
        Some(Entry { doc, score: total, path, parent_loss: parent.eval.as_ref().map(|e| e.1), eval: None })
    }

    /// The random baseline: `counts[i]` random allowed changes per example.
    fn attack_random(&self, tasks: &[Task], counts: &[usize]) -> Result<Vec<ExampleResult>> {
        let start = Instant::now();
        let (mut jobs, mut results) = self.classify(tasks)?;
        for job in &mut jobs {
            let mut rng = Rng::derive(self.settings.seed, 0x52_41_4e_44 ^ job.index as u64);
            let mut entry = job.entries[0].clone();
            for _ in 0..counts[job.task].min(job.max_changes) {
                let open = self.open(&entry.doc);
                let edits: Vec<CharEdit> = all_edits(&entry.doc, &open, self.positions, &self.allowed_chars)
                    .into_iter()
                    .filter(|e| !self.forbidden(&entry.doc, e))
                    .collect();
                if edits.is_empty() {
                    break;
                }
                let pick = edits[rng.below(edits.len())];
                entry = self.child(&entry, pick, None, 0.0).unwrap_or(entry);
            }
            job.entries = vec![entry];
        }
        let refs: Vec<&CharDoc> = jobs.iter().map(|j| &j.entries[0].doc).collect();
        let goals: Vec<Goal> = jobs.iter().map(|j| j.goal).collect();
        let mut evals = Vec::new();
        for (rchunk, gchunk) in
            refs.chunks(self.settings.eval_batch.max(1)).zip(goals.chunks(self.settings.eval_batch.max(1)))
        {
            let ev = evaluate(self.model, self.store, &self.input(rchunk)?, gchunk, false)?;
            evals.extend(ev.probs.into_iter().zip(ev.loss));
        }
        let share = start.elapsed().as_secs_f64() / tasks.len().max(1) as f64;
        for (job, (probs, loss)) in jobs.iter_mut().zip(evals) {
            let adv = job.goal.adversarial(&probs);
            job.best_adv = adv;
            for t in TAUS {
                if adv >= t {
                    job.tau_changes.insert(tau_key(t), job.entries[0].path.len());
                }
            }
            job.success = adv >= self.settings.tau;
            job.fwd += 1;
            job.seconds = share;
            job.entries[0].eval = Some((probs, loss));
            job.result = Some(job.entries[0].clone());
        }
        for job in jobs {
            let task = job.task;
            results[task] = Some(self.finish(&tasks[task], job));
        }
        results
            .into_iter()
            .map(|r| r.ok_or_else(|| Error::invalid("attack", "an example was left unfinished")))
            .collect()
    }

    fn skipped(&self, t: &Task, doc: &CharDoc, probs: &[f32]) -> ExampleResult {
        let pred = if probs.is_empty() { t.label } else { crate::train::argmax(probs) };
        let prob = probs.get(pred).copied().unwrap_or(0.0);
        ExampleResult {
            index: t.index,
            label: t.label,
            skipped: true,
            orig_text: t.text.clone(),
            orig_pred: pred,
            orig_prob: prob,
            adv_text: t.text.clone(),
            adv_pred: pred,
            adv_prob: prob,
            success: false,
            target: self.settings.target,
            changes: Vec::new(),
            chars_changed: 0,
            n_chars: doc.n_chars(),
            frac_changed: 0.0,
            max_changes: 0,
            tau_changes: BTreeMap::new(),
            best_adv_prob: 0.0,
            forward_passes: 1,
            backward_passes: 0,
            seconds: 0.0,
        }
    }

    fn finish(&self, t: &Task, job: Job) -> ExampleResult {
        let entry = job.result.unwrap_or_else(|| job.entries[0].clone());
        let probs = entry.eval.as_ref().map(|e| e.0.clone()).unwrap_or_else(|| job.orig_probs.clone());
        let adv_pred = crate::train::argmax(&probs);
        let orig_pred = crate::train::argmax(&job.orig_probs);
        // Rebuild the text: edited words in place of the originals (keeping
        // their case), every other word — including those past the model's
        // max_words — as written.
        let mut shown: Vec<String> = t.text.split_whitespace().map(String::from).collect();
        let mut changes = Vec::with_capacity(entry.path.len());
        let mut norm: Vec<Vec<char>> = job.orig.words.clone();
        for s in &entry.path {
            let w = s.edit.word;
            shown[w] = edit_display_word(&shown[w], &norm[w], &s.edit);
            norm[w] = s.word_after.clone();
            changes.push(Change {
                op: s.edit.op.name().into(),
                word: w,
                pos: s.edit.pos,
                from: s.from.map(String::from).unwrap_or_default(),
                to: if s.edit.op == CharOp::Delete { String::new() } else { s.edit.ch.to_string() },
                word_before: s.word_before.iter().collect(),
                word_after: s.word_after.iter().collect(),
                predicted: s.predicted,
                actual: s.actual,
            });
        }
        let n_chars = job.orig.n_chars();
        ExampleResult {
            index: t.index,
            label: t.label,
            skipped: false,
            orig_text: t.text.clone(),
            orig_pred,
            orig_prob: job.orig_probs[orig_pred],
            adv_text: shown.join(" "),
            adv_pred,
            adv_prob: probs[adv_pred],
            success: job.success,
            target: self.settings.target,
            chars_changed: changes.len(),
            n_chars,
            frac_changed: changes.len() as f32 / n_chars.max(1) as f32,
            changes,
            max_changes: job.max_changes,
            tau_changes: job.tau_changes,
            best_adv_prob: job.best_adv,
            forward_passes: job.fwd,
            backward_passes: job.bwd,
            seconds: job.seconds,
        }
    }
}
