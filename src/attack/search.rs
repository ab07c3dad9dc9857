//! Beam search over edits (HotFlip §3–4) and the paper's baselines, for any
//! `Space` of edits. Many documents are attacked together: at every step
//! the beam entries of all of them are stacked into one forward and one
//! backward pass.

use std::collections::{BTreeMap, HashSet};
use std::time::Instant;

use crate::attack::oracle::{evaluate, Evaluation, Goal};
use crate::attack::result::{tau_key, ExampleResult, TAUS};
use crate::attack::settings::{Method, Settings};
use crate::attack::space::{ScoreEntry, Space};
use crate::error::{Error, Result};
use crate::models::Model;
use crate::nn::ParamStore;
use crate::rng::Rng;

/// An example to attack.
#[derive(Clone, Debug)]
pub struct Task {
    pub index: usize,
    pub text: String,
    pub label: usize,
}

/// One applied edit along a beam path.
#[derive(Clone, Debug)]
struct Step<E> {
    edit: E,
    predicted: Option<f32>,
    actual: Option<f32>,
}

#[derive(Clone, Debug)]
struct Entry<D, E> {
    doc: D,
    /// Sum of the first-order scores along the path.
    score: f32,
    path: Vec<Step<E>>,
    /// J of the parent, for the actual loss change of the last step.
    parent_loss: Option<f32>,
    /// (probabilities, J) once evaluated.
    eval: Option<(Vec<f32>, f32)>,
}

impl<D, E> Entry<D, E> {
    fn loss(&self) -> f32 {
        self.eval.as_ref().map_or(f32::NEG_INFINITY, |e| e.1)
    }
}

/// One document under attack.
struct Job<D, E> {
    /// Position in the batch of tasks.
    task: usize,
    /// The example's index in its split (seeds depend on it, not on batching).
    index: usize,
    goal: Goal,
    orig: D,
    orig_probs: Vec<f32>,
    max_changes: usize,
    entries: Vec<Entry<D, E>>,
    depth: usize,
    fwd: u64,
    bwd: u64,
    seconds: f64,
    tau_changes: BTreeMap<String, usize>,
    best_adv: f32,
    result: Option<Entry<D, E>>,
    success: bool,
}

/// An attack on one model in one space of edits.
pub struct Attacker<'a, S: Space> {
    pub model: &'a Model,
    pub store: &'a ParamStore,
    pub space: S,
    pub settings: Settings,
}

impl<'a, S: Space> Attacker<'a, S> {
    pub fn new(model: &'a Model, store: &'a ParamStore, space: S, settings: Settings) -> Result<Self> {
        settings.check()?;
        let n_classes = model.config().n_classes();
        if let Some(t) = settings.target {
            if t >= n_classes {
                return Err(Error::invalid("attack", format!("target class {t} of a {n_classes}-class model")));
            }
        }
        Ok(Attacker { model, store, space, settings })
    }

    /// Attacks `tasks` together; one result per task, in order.
    pub fn attack(&self, tasks: &[Task]) -> Result<Vec<ExampleResult>> {
        match self.settings.method {
            Method::Random => self.attack_random(tasks),
            m => self.search(tasks, m),
        }
    }

    /// The beam search with children ranked by `method`.
    fn search(&self, tasks: &[Task], method: Method) -> Result<Vec<ExampleResult>> {
        let start = Instant::now();
        let (mut jobs, mut results) = self.classify(tasks)?;
        let first = start.elapsed().as_secs_f64() / tasks.len().max(1) as f64;
        for j in &mut jobs {
            j.seconds += first;
        }
        while jobs.iter().any(|j| j.result.is_none()) {
            for chunk in self.chunks(&jobs) {
                let t0 = Instant::now();
                self.advance(&mut jobs, &chunk, method)?;
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

    fn evaluate(&self, docs: &[&S::Doc], goals: &[Goal], grads: bool) -> Result<Evaluation> {
        evaluate(self.model, self.store, &self.space.input(docs)?, goals, grads)
    }

    /// One forward pass over the originals: which are correctly classified
    /// (and so attacked), and the jobs for them.
    #[allow(clippy::type_complexity)]
    fn classify(&self, tasks: &[Task]) -> Result<(Vec<Job<S::Doc, S::Edit>>, Vec<Option<ExampleResult>>)> {
        let docs: Vec<S::Doc> = tasks.iter().map(|t| self.space.parse(&t.text)).collect();
        let mut results: Vec<Option<ExampleResult>> = vec![None; tasks.len()];
        let readable: Vec<usize> = (0..tasks.len()).filter(|&i| !self.space.is_empty(&docs[i])).collect();
        let mut probs: Vec<Vec<f32>> = vec![Vec::new(); tasks.len()];
        for chunk in readable.chunks(self.settings.eval_batch.max(1)) {
            let refs: Vec<&S::Doc> = chunk.iter().map(|&i| &docs[i]).collect();
            let goals: Vec<Goal> = chunk.iter().map(|&i| Goal { label: tasks[i].label, target: None }).collect();
            let ev = self.evaluate(&refs, &goals, false)?;
            for (k, &i) in chunk.iter().enumerate() {
                probs[i] = ev.probs[k].clone();
            }
        }
        let mut jobs = Vec::new();
        for (i, t) in tasks.iter().enumerate() {
            let doc = &docs[i];
            let pred = if probs[i].is_empty() { usize::MAX } else { crate::math::argmax(&probs[i]) };
            let wrong = pred != t.label || self.settings.target == Some(t.label);
            if self.space.is_empty(doc) || wrong {
                results[i] = Some(self.skipped(t, doc, &probs[i]));
                continue;
            }
            jobs.push(Job {
                task: i,
                index: t.index,
                goal: Goal { label: t.label, target: self.settings.target },
                orig: doc.clone(),
                orig_probs: probs[i].clone(),
                max_changes: self.space.max_changes(doc, &self.settings),
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

    /// Unfinished jobs grouped for one pass each: no job's beam is split,
    /// at most `eval_batch` entries per pass, and documents of similar
    /// length together, so that padding to the longest costs at most a
    /// quarter more than the documents themselves.
    fn chunks(&self, jobs: &[Job<S::Doc, S::Edit>]) -> Vec<Vec<usize>> {
        let len = |j: usize| self.space.len(&jobs[j].entries[0].doc).max(1);
        let mut open: Vec<usize> = (0..jobs.len()).filter(|&j| jobs[j].result.is_none()).collect();
        open.sort_by_key(|&j| (len(j), j));
        let cap = self.settings.eval_batch.max(self.settings.beam);
        let mut out: Vec<Vec<usize>> = Vec::new();
        let (mut entries, mut real) = (0usize, 0usize);
        for j in open {
            let (n, l) = (jobs[j].entries.len(), len(j));
            // Sorted by length, so `l` is the chunk's longest if `j` joins.
            let padded = (entries + n) * l;
            let fits = entries + n <= cap && 4 * padded <= 5 * (real + n * l);
            if out.is_empty() || !fits {
                out.push(Vec::new());
                (entries, real) = (0, 0);
            }
            if let Some(c) = out.last_mut() {
                c.push(j);
            }
            entries += n;
            real += n * l;
        }
        out
    }

    /// Evaluates a chunk's entries, decides which jobs are done, and
    /// expands the others by one change.
    fn advance(&self, jobs: &mut [Job<S::Doc, S::Edit>], chunk: &[usize], method: Method) -> Result<()> {
        let wants_grads = matches!(method, Method::HotFlip | Method::RandomGrad);
        let pending: Vec<(usize, usize)> = chunk
            .iter()
            .flat_map(|&j| (0..jobs[j].entries.len()).map(move |e| (j, e)))
            .filter(|&(j, e)| jobs[j].entries[e].eval.is_none())
            .collect();
        let mut grads: Option<(Evaluation, Vec<(usize, usize)>)> = None;
        if !pending.is_empty() {
            let need = wants_grads && pending.iter().any(|&(j, _)| jobs[j].depth < jobs[j].max_changes);
            let refs: Vec<&S::Doc> = pending.iter().map(|&(j, e)| &jobs[j].entries[e].doc).collect();
            let goals: Vec<Goal> = pending.iter().map(|&(j, _)| jobs[j].goal).collect();
            let ev = self.evaluate(&refs, &goals, need)?;
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
            let goal = job.goal;
            let adv_of = |e: &Entry<S::Doc, S::Edit>| e.eval.as_ref().map_or(0.0, |(p, _)| goal.adversarial(p));
            let best_adv = job.entries.iter().max_by(|a, b| adv_of(a).total_cmp(&adv_of(b)));
            if let Some(best) = best_adv.filter(|e| adv_of(e) >= self.settings.tau) {
                job.result = Some(best.clone());
                job.success = true;
            } else if job.depth >= job.max_changes {
                job.result = job.entries.iter().max_by(|a, b| a.loss().total_cmp(&b.loss())).cloned();
            } else {
                expand.push(j);
            }
        }
        if expand.is_empty() {
            return Ok(());
        }
        let children = match method {
            Method::LossBeam => self.loss_children(jobs, &expand)?,
            _ => {
                let (ev, order) = grads.ok_or_else(|| Error::invalid("attack", "no gradients for expansion"))?;
                self.scored_children(jobs, &expand, ev, &order, method == Method::RandomGrad)?
            }
        };
        for (&j, kids) in expand.iter().zip(children) {
            let job = &mut jobs[j];
            job.depth += 1;
            if kids.is_empty() {
                // Nothing left to change: the best entry so far stands.
                job.result = job.entries.iter().max_by(|a, b| a.loss().total_cmp(&b.loss())).cloned();
            } else {
                job.entries = kids;
            }
        }
        Ok(())
    }

    /// HotFlip (or random-gradient) children of the jobs in `expand`.
    #[allow(clippy::type_complexity)]
    fn scored_children(
        &self,
        jobs: &[Job<S::Doc, S::Edit>],
        expand: &[usize],
        ev: Evaluation,
        order: &[(usize, usize)],
        random_grads: bool,
    ) -> Result<Vec<Vec<Entry<S::Doc, S::Edit>>>> {
        let grads = ev.grads.ok_or_else(|| Error::invalid("attack", "the evaluation returned no gradients"))?;
        let mut g = grads.into_vec();
        if random_grads {
            // Seeded per example, depth and entry, so a document's random
            // scores do not depend on which documents share its batch.
            let row = g.len() / order.len().max(1);
            for (k, &(j, e)) in order.iter().enumerate() {
                let stream = (jobs[j].index as u64) << 32 | (jobs[j].depth as u64) << 16 | e as u64;
                let mut rng = Rng::derive(self.settings.seed ^ 0x5247, stream);
                g[k * row..(k + 1) * row].iter_mut().for_each(|x| *x = rng.normal());
            }
        }
        let group_of: std::collections::HashMap<usize, usize> =
            expand.iter().enumerate().map(|(g, &j)| (j, g)).collect();
        let entries: Vec<ScoreEntry<'_, S::Doc>> = order
            .iter()
            .map(|&(j, e)| {
                let ent = &jobs[j].entries[e];
                let (group, active) = match group_of.get(&j) {
                    Some(&g) => (g, true),
                    None => (0, false),
                };
                ScoreEntry { doc: &ent.doc, group, score: ent.score, active }
            })
            .collect();
        let picked = self.space.children(&g, &entries, expand.len(), self.settings.beam)?;
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
    #[allow(clippy::type_complexity)]
    fn loss_children(
        &self,
        jobs: &mut [Job<S::Doc, S::Edit>],
        expand: &[usize],
    ) -> Result<Vec<Vec<Entry<S::Doc, S::Edit>>>> {
        let mut out = Vec::with_capacity(expand.len());
        for &j in expand {
            let mut kids: Vec<Entry<S::Doc, S::Edit>> = Vec::new();
            let mut seen: HashSet<S::Doc> = HashSet::new();
            for parent in &jobs[j].entries {
                for edit in self.space.edits(&parent.doc) {
                    if let Some(child) = self.child(parent, edit, None, parent.score) {
                        if seen.insert(child.doc.clone()) {
                            kids.push(child);
                        }
                    }
                }
            }
            for chunk in kids.chunks_mut(self.settings.eval_batch.max(1)) {
                let refs: Vec<&S::Doc> = chunk.iter().map(|k| &k.doc).collect();
                let goals = vec![jobs[j].goal; chunk.len()];
                let ev = self.evaluate(&refs, &goals, false)?;
                for (k, kid) in chunk.iter_mut().enumerate() {
                    kid.eval = Some((ev.probs[k].clone(), ev.loss[k]));
                }
            }
            jobs[j].fwd += kids.len() as u64;
            // Highest true loss first; the enumeration order breaks ties.
            let mut ranked: Vec<(usize, Entry<S::Doc, S::Edit>)> = kids.into_iter().enumerate().collect();
            ranked.sort_by(|a, b| b.1.loss().total_cmp(&a.1.loss()).then(a.0.cmp(&b.0)));
            out.push(ranked.into_iter().take(self.settings.beam).map(|(_, e)| e).collect());
        }
        Ok(out)
    }

    /// The entry after one more edit (its evaluation still to come).
    fn child(
        &self,
        parent: &Entry<S::Doc, S::Edit>,
        edit: S::Edit,
        gain: Option<f32>,
        total: f32,
    ) -> Option<Entry<S::Doc, S::Edit>> {
        let doc = self.space.apply(&parent.doc, &edit)?;
        let mut path = parent.path.clone();
        path.push(Step { edit, predicted: gain, actual: None });
        Some(Entry { doc, score: total, path, parent_loss: parent.eval.as_ref().map(|e| e.1), eval: None })
    }

    /// The random baseline: as many random allowed changes per example as
    /// the HotFlip search makes on it.
    fn attack_random(&self, tasks: &[Task]) -> Result<Vec<ExampleResult>> {
        let counts: Vec<usize> = self.search(tasks, Method::HotFlip)?.iter().map(|r| r.changes.len()).collect();
        let start = Instant::now();
        let (mut jobs, mut results) = self.classify(tasks)?;
        for job in &mut jobs {
            let mut rng = Rng::derive(self.settings.seed, 0x52_41_4e_44 ^ job.index as u64);
            let mut entry = job.entries[0].clone();
            for _ in 0..counts[job.task].min(job.max_changes) {
                let edits = self.space.edits(&entry.doc);
                if edits.is_empty() {
                    break;
                }
                let pick = edits[rng.below(edits.len())];
                entry = self.child(&entry, pick, None, 0.0).unwrap_or(entry);
            }
            job.entries = vec![entry];
        }
        let refs: Vec<&S::Doc> = jobs.iter().map(|j| &j.entries[0].doc).collect();
        let goals: Vec<Goal> = jobs.iter().map(|j| j.goal).collect();
        let n = self.settings.eval_batch.max(1);
        let mut evals = Vec::new();
        for (rchunk, gchunk) in refs.chunks(n).zip(goals.chunks(n)) {
            let ev = self.evaluate(rchunk, gchunk, false)?;
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

    fn skipped(&self, t: &Task, doc: &S::Doc, probs: &[f32]) -> ExampleResult {
        let pred = if probs.is_empty() { t.label } else { crate::math::argmax(probs) };
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
            n_chars: self.space.n_chars(doc),
            n_units: self.space.units(doc),
            frac_changed: 0.0,
            max_changes: 0,
            tau_changes: BTreeMap::new(),
            best_adv_prob: 0.0,
            forward_passes: 1,
            backward_passes: 0,
            seconds: 0.0,
        }
    }

    fn finish(&self, t: &Task, job: Job<S::Doc, S::Edit>) -> ExampleResult {
        let entry = job.result.unwrap_or_else(|| job.entries[0].clone());
        let probs = entry.eval.as_ref().map(|e| e.0.clone()).unwrap_or_else(|| job.orig_probs.clone());
        let adv_pred = crate::math::argmax(&probs);
        let orig_pred = crate::math::argmax(&job.orig_probs);
        let mut changes = Vec::with_capacity(entry.path.len());
        let mut doc = job.orig.clone();
        for s in &entry.path {
            let mut c = self.space.change(&doc, &s.edit);
            c.predicted = s.predicted;
            c.actual = s.actual;
            changes.push(c);
            if let Some(next) = self.space.apply(&doc, &s.edit) {
                doc = next;
            }
        }
        let edits: Vec<S::Edit> = entry.path.iter().map(|s| s.edit).collect();
        let units = self.space.units(&job.orig);
        ExampleResult {
            index: t.index,
            label: t.label,
            skipped: false,
            orig_text: t.text.clone(),
            orig_pred,
            orig_prob: job.orig_probs[orig_pred],
            adv_text: self.space.render(&t.text, &job.orig, &edits),
            adv_pred,
            adv_prob: probs[adv_pred],
            success: job.success,
            target: self.settings.target,
            chars_changed: self.space.chars_changed(&changes),
            n_chars: self.space.n_chars(&job.orig),
            n_units: units,
            frac_changed: changes.len() as f32 / units.max(1) as f32,
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
