//! The beam search over edits (HotFlip §3–4) and the paper's random
//! baseline, written once for every attack: any `Space` of edits against
//! any `Objective` (a classifier's label, a translation's reference). Many
//! documents are attacked together: at every step the beam entries of all
//! of them are stacked into one forward and one backward pass.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use crate::attack::result::{tau_key, TAUS};
use crate::attack::settings::{Method, Settings};
use crate::attack::space::{ScoreEntry, Space};
use crate::backend::{Device, Storage};
use crate::error::{Error, Result};
use crate::rng::Rng;
use crate::tensor::Tensor;

/// dJ/d(embedded input): on the host, or left on the device that computed
/// it (a space that scores there takes it as it is; any other downloads it).
pub enum Grads {
    /// Host values.
    Host(Tensor),
    /// Values on `device`.
    Device {
        /// The gradient.
        grads: Storage,
        /// The device holding it.
        device: Arc<dyn Device>,
    },
}

impl Grads {
    /// The values on the host (a download for device gradients).
    pub fn into_host(self) -> Result<Vec<f32>> {
        match self {
            Grads::Host(t) => Ok(t.into_vec()),
            Grads::Device { grads, device } => device.to_host(&grads),
        }
    }
}

/// One batch's evaluation by an [`Objective`].
pub struct Evaluated<O> {
    /// One outcome per document, or none at all when outcomes were not asked for.
    pub outcomes: Vec<O>,
    /// The attack's loss J per document (the search maximises it).
    pub loss: Vec<f32>,
    /// dJ/d(embedded input) summed over the batch, in the layout
    /// `Space::input` gives `Space::children`.
    pub grads: Option<Grads>,
}

/// What an attack is against: how beam entries are evaluated and when an
/// outcome counts as adversarial.
pub trait Objective<S: Space> {
    /// Per document: what J is built on (a label, a reference translation).
    type Goal: Clone;
    /// What the model made of one document (class probabilities, a translation).
    type Outcome: Clone;

    /// J of each document against its goal (one pass over all of them), the
    /// outcome of each if `outcomes`, and the gradient of Σ J if `grads`.
    fn evaluate(
        &self,
        space: &S,
        docs: &[&S::Doc],
        goals: &[&Self::Goal],
        grads: bool,
        outcomes: bool,
    ) -> Result<Evaluated<Self::Outcome>>;

    /// How adversarial an outcome is; among successful entries the highest wins.
    fn adversarial(&self, goal: &Self::Goal, outcome: &Self::Outcome) -> f32;

    /// Whether the outcome is a successful attack.
    fn success(&self, goal: &Self::Goal, outcome: &Self::Outcome) -> bool;

    /// Which unsuccessful entry is reported when the search gives up: the
    /// highest key (by default the loss J).
    fn fallback(&self, _goal: &Self::Goal, _outcome: &Self::Outcome, loss: f32) -> f32 {
        loss
    }
}

/// One applied edit along a beam path.
#[derive(Clone, Debug)]
pub struct Step<E> {
    /// The edit applied.
    pub edit: E,
    /// Its first-order score (gradient-ranked searches).
    pub predicted: Option<f32>,
    /// The change of J it caused.
    pub actual: Option<f32>,
}

/// One beam entry: a document, the edits that made it, and (once
/// evaluated) its loss and outcome.
#[derive(Clone, Debug)]
pub struct Entry<D, E, O> {
    /// The edited document.
    pub doc: D,
    /// Sum of the first-order scores along the path.
    pub score: f32,
    /// The edits from the original, in order.
    pub path: Vec<Step<E>>,
    /// J of the parent, for the actual loss change of the last step.
    parent_loss: Option<f32>,
    /// J, once evaluated.
    pub loss: Option<f32>,
    /// What the model made of `doc`, once evaluated.
    pub outcome: Option<O>,
}

impl<D, E, O> Entry<D, E, O> {
    fn loss(&self) -> f32 {
        self.loss.unwrap_or(f32::NEG_INFINITY)
    }
}

/// One document under attack; [`Beam::run`] fills `result`.
#[derive(Clone, Debug)]
pub struct Job<D, E, G, O> {
    /// The caller's position for it (results are reassembled by it).
    pub task: usize,
    /// The example's index in its split (seeds depend on it, not on batching).
    pub index: usize,
    /// What J and success are measured against.
    pub goal: G,
    /// The unedited document.
    pub orig: D,
    /// The unedited document's outcome.
    pub orig_outcome: O,
    /// The most edits allowed (the budget).
    pub max_changes: usize,
    entries: Vec<Entry<D, E, O>>,
    depth: usize,
    /// Forward passes spent on it (one per evaluated entry).
    pub fwd: u64,
    /// Backward passes spent on it.
    pub bwd: u64,
    /// Its share of the wall-clock time.
    pub seconds: f64,
    /// Changes needed to reach each τ of `TAUS` (classification).
    pub tau_changes: BTreeMap<String, usize>,
    /// The most adversarial outcome seen.
    pub best_adv: f32,
    /// The reported entry once finished.
    pub result: Option<Entry<D, E, O>>,
    /// Whether `result` meets the objective.
    pub success: bool,
}

impl<D: Clone, E, G, O> Job<D, E, G, O> {
    /// A document whose original outcome is known (one forward pass so far).
    pub fn start(task: usize, index: usize, goal: G, doc: D, orig_outcome: O, max_changes: usize) -> Self {
        Job {
            task,
            index,
            goal,
            orig: doc.clone(),
            orig_outcome,
            max_changes,
            entries: vec![Entry { doc, score: 0.0, path: Vec::new(), parent_loss: None, loss: None, outcome: None }],
            depth: 0,
            fwd: 1,
            bwd: 0,
            seconds: 0.0,
            tau_changes: BTreeMap::new(),
            best_adv: 0.0,
            result: None,
            success: false,
        }
    }

    /// The reported entry (the original if the search never ran).
    pub fn reported(&self) -> &Entry<D, E, O> {
        self.result.as_ref().unwrap_or(&self.entries[0])
    }
}

type JobOf<S, O> = Job<<S as Space>::Doc, <S as Space>::Edit, <O as Objective<S>>::Goal, <O as Objective<S>>::Outcome>;
type EntryOf<S, O> = Entry<<S as Space>::Doc, <S as Space>::Edit, <O as Objective<S>>::Outcome>;

/// The search of one space against one objective.
pub struct Beam<'a, S: Space, O: Objective<S>> {
    /// The edits allowed.
    pub space: &'a S,
    /// What the edits are for.
    pub objective: &'a O,
    /// Method, beam width, budget and batch sizes.
    pub settings: &'a Settings,
}

impl<'a, S: Space, O: Objective<S>> Beam<'a, S, O> {
    /// Runs `settings.method` on the jobs until each has a result; the jobs
    /// come back in the order given.
    pub fn run(&self, jobs: Vec<JobOf<S, O>>) -> Result<Vec<JobOf<S, O>>> {
        match self.settings.method {
            Method::Random => self.random(jobs),
            m => self.search(jobs, m),
        }
    }

    /// The beam search with children ranked by `method`.
    fn search(&self, mut jobs: Vec<JobOf<S, O>>, method: Method) -> Result<Vec<JobOf<S, O>>> {
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
        Ok(jobs)
    }

    fn evaluate(
        &self,
        docs: &[&S::Doc],
        goals: &[&O::Goal],
        grads: bool,
        outcomes: bool,
    ) -> Result<Evaluated<O::Outcome>> {
        let ev = self.objective.evaluate(self.space, docs, goals, grads, outcomes)?;
        if ev.loss.len() != docs.len() || (outcomes && ev.outcomes.len() != docs.len()) {
            return Err(Error::invalid("attack", "the objective returned a result per document short"));
        }
        Ok(ev)
    }

    fn adv_of(&self, goal: &O::Goal, e: &EntryOf<S, O>) -> f32 {
        e.outcome.as_ref().map_or(0.0, |o| self.objective.adversarial(goal, o))
    }

    /// The entry reported for a job that did not succeed.
    fn fallback(&self, job: &JobOf<S, O>) -> Option<EntryOf<S, O>> {
        let key = |e: &EntryOf<S, O>| match &e.outcome {
            Some(o) => self.objective.fallback(&job.goal, o, e.loss()),
            None => e.loss(),
        };
        job.entries.iter().max_by(|a, b| key(a).total_cmp(&key(b))).cloned()
    }

    /// Unfinished jobs grouped for one pass each: no job's beam is split,
    /// at most `eval_batch` entries per pass, and documents of similar
    /// length together, so that padding to the longest costs at most a
    /// quarter more than the documents themselves.
    fn chunks(&self, jobs: &[JobOf<S, O>]) -> Vec<Vec<usize>> {
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
    fn advance(&self, jobs: &mut [JobOf<S, O>], chunk: &[usize], method: Method) -> Result<()> {
        let wants_grads = matches!(method, Method::HotFlip | Method::RandomGrad);
        let pending: Vec<(usize, usize)> = chunk
            .iter()
            .flat_map(|&j| (0..jobs[j].entries.len()).map(move |e| (j, e)))
            .filter(|&(j, e)| jobs[j].entries[e].outcome.is_none())
            .collect();
        let mut grads: Option<(Grads, Vec<(usize, usize)>)> = None;
        if !pending.is_empty() {
            let need = wants_grads && pending.iter().any(|&(j, _)| jobs[j].depth < jobs[j].max_changes);
            let refs: Vec<&S::Doc> = pending.iter().map(|&(j, e)| &jobs[j].entries[e].doc).collect();
            let goals: Vec<&O::Goal> = pending.iter().map(|&(j, _)| &jobs[j].goal).collect();
            let ev = self.evaluate(&refs, &goals, need, true)?;
            let mut outcomes = ev.outcomes.into_iter();
            for (k, &(j, e)) in pending.iter().enumerate() {
                jobs[j].fwd += 1;
                // Counted where the example needed it (a job at its last
                // depth only needs the forward pass, whatever its batch).
                jobs[j].bwd += (need && jobs[j].depth < jobs[j].max_changes) as u64;
                jobs[j].entries[e].loss = Some(ev.loss[k]);
                jobs[j].entries[e].outcome = outcomes.next();
            }
            if need {
                let g = ev.grads.ok_or_else(|| Error::invalid("attack", "the evaluation returned no gradients"))?;
                grads = Some((g, pending.clone()));
            }
        }
        // Record what this depth reached; finish jobs that are done.
        let mut expand: Vec<usize> = Vec::new();
        for &j in chunk {
            let job = &mut jobs[j];
            for k in 0..job.entries.len() {
                let adv = self.adv_of(&job.goal, &job.entries[k]);
                let entry = &mut job.entries[k];
                let loss = entry.loss.unwrap_or_default();
                if let (Some(p), Some(last)) = (entry.parent_loss, entry.path.last_mut()) {
                    last.actual = Some(loss - p);
                }
                job.best_adv = job.best_adv.max(adv);
                for t in TAUS {
                    if adv >= t {
                        job.tau_changes.entry(tau_key(t)).or_insert(job.depth);
                    }
                }
            }
            let won = |e: &&EntryOf<S, O>| e.outcome.as_ref().is_some_and(|o| self.objective.success(&job.goal, o));
            let best = job
                .entries
                .iter()
                .filter(won)
                .max_by(|a, b| self.adv_of(&job.goal, a).total_cmp(&self.adv_of(&job.goal, b)));
            if let Some(best) = best {
                job.result = Some(best.clone());
                job.success = true;
            } else if job.depth >= job.max_changes {
                job.result = self.fallback(job);
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
                let (g, order) = grads.ok_or_else(|| Error::invalid("attack", "no gradients for expansion"))?;
                self.scored_children(jobs, &expand, g, &order, method == Method::RandomGrad)?
            }
        };
        for (&j, kids) in expand.iter().zip(children) {
            let job = &mut jobs[j];
            job.depth += 1;
            if kids.is_empty() {
                // Nothing left to change: the best entry so far stands.
                job.result = self.fallback(job);
            } else {
                job.entries = kids;
            }
        }
        Ok(())
    }

    /// HotFlip (or random-gradient) children of the jobs in `expand`.
    fn scored_children(
        &self,
        jobs: &[JobOf<S, O>],
        expand: &[usize],
        grads: Grads,
        order: &[(usize, usize)],
        random_grads: bool,
    ) -> Result<Vec<Vec<EntryOf<S, O>>>> {
        let group_of: HashMap<usize, usize> = expand.iter().enumerate().map(|(g, &j)| (j, g)).collect();
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
        // Gradients that stay on the device: scored there when the space can.
        let on_device = match &grads {
            Grads::Device { grads, .. } if !random_grads => {
                self.space.children_on_device(grads, &entries, expand.len(), self.settings.beam)
            }
            _ => None,
        };
        let picked = match on_device {
            Some(picked) => picked?,
            None => {
                let g = self.host_grads(jobs, grads, order, random_grads)?;
                self.space.children(&g, &entries, expand.len(), self.settings.beam)?
            }
        };
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

    /// The gradients on the host, replaced by seeded normal values for the
    /// random-gradient baseline.
    fn host_grads(
        &self,
        jobs: &[JobOf<S, O>],
        grads: Grads,
        order: &[(usize, usize)],
        random_grads: bool,
    ) -> Result<Vec<f32>> {
        let mut g = grads.into_host()?;
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
        Ok(g)
    }

    /// Loss-ranked children (HotFlip Table 2's "loss-based beam"): every
    /// allowed child's true J from a forward pass, the best `beam` kept.
    /// Only J is computed here; outcomes (a translation's decoding) come
    /// when the kept children are evaluated at the next depth.
    fn loss_children(&self, jobs: &mut [JobOf<S, O>], expand: &[usize]) -> Result<Vec<Vec<EntryOf<S, O>>>> {
        let mut out = Vec::with_capacity(expand.len());
        for &j in expand {
            let mut kids: Vec<EntryOf<S, O>> = Vec::new();
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
                let goals = vec![&jobs[j].goal; chunk.len()];
                let ev = self.evaluate(&refs, &goals, false, false)?;
                let mut outcomes = ev.outcomes.into_iter();
                for (k, kid) in chunk.iter_mut().enumerate() {
                    kid.loss = Some(ev.loss[k]);
                    kid.outcome = outcomes.next();
                }
            }
            jobs[j].fwd += kids.len() as u64;
            // Highest true loss first; the enumeration order breaks ties.
            let mut ranked: Vec<(usize, EntryOf<S, O>)> = kids.into_iter().enumerate().collect();
            ranked.sort_by(|a, b| b.1.loss().total_cmp(&a.1.loss()).then(a.0.cmp(&b.0)));
            out.push(ranked.into_iter().take(self.settings.beam).map(|(_, e)| e).collect());
        }
        Ok(out)
    }

    /// The entry after one more edit (its evaluation still to come).
    fn child(&self, parent: &EntryOf<S, O>, edit: S::Edit, gain: Option<f32>, total: f32) -> Option<EntryOf<S, O>> {
        let doc = self.space.apply(&parent.doc, &edit)?;
        let mut path = parent.path.clone();
        path.push(Step { edit, predicted: gain, actual: None });
        Some(Entry { doc, score: total, path, parent_loss: parent.loss, loss: None, outcome: None })
    }

    /// The random baseline: as many random allowed changes per example as
    /// the HotFlip search makes on it, judged by one evaluation.
    fn random(&self, mut jobs: Vec<JobOf<S, O>>) -> Result<Vec<JobOf<S, O>>> {
        let counts: Vec<usize> =
            self.search(jobs.clone(), Method::HotFlip)?.iter().map(|j| j.reported().path.len()).collect();
        let start = Instant::now();
        for (job, &count) in jobs.iter_mut().zip(&counts) {
            let mut rng = Rng::derive(self.settings.seed, 0x52_41_4e_44 ^ job.index as u64);
            let mut entry = job.entries[0].clone();
            for _ in 0..count.min(job.max_changes) {
                let edits = self.space.edits(&entry.doc);
                if edits.is_empty() {
                    break;
                }
                let pick = edits[rng.below(edits.len())];
                entry = self.child(&entry, pick, None, 0.0).unwrap_or(entry);
            }
            job.entries = vec![entry];
        }
        let n = self.settings.eval_batch.max(1);
        let mut evals = Vec::new();
        for chunk in jobs.chunks(n) {
            let refs: Vec<&S::Doc> = chunk.iter().map(|j| &j.entries[0].doc).collect();
            let goals: Vec<&O::Goal> = chunk.iter().map(|j| &j.goal).collect();
            let ev = self.evaluate(&refs, &goals, false, true)?;
            evals.extend(ev.outcomes.into_iter().zip(ev.loss));
        }
        let share = start.elapsed().as_secs_f64() / jobs.len().max(1) as f64;
        for (job, (outcome, loss)) in jobs.iter_mut().zip(evals) {
            let adv = self.objective.adversarial(&job.goal, &outcome);
            job.best_adv = adv;
            for t in TAUS {
                if adv >= t {
                    job.tau_changes.insert(tau_key(t), job.entries[0].path.len());
                }
            }
            job.success = self.objective.success(&job.goal, &outcome);
            job.fwd += 1;
            job.seconds += share;
            job.entries[0].loss = Some(loss);
            job.entries[0].outcome = Some(outcome);
            job.result = Some(job.entries[0].clone());
        }
        Ok(jobs)
    }
}
