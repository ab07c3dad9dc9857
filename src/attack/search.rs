//! HotFlip against a classifier, for any `Space` of edits: the examples
//! the model gets right are attacked by the shared beam search
//! (`beam::Beam`) with J = the label's cross-entropy (or minus the
//! target's) and success = the adversarial class's probability ≥ τ.

use std::collections::BTreeMap;
use std::time::Instant;

use crate::attack::beam::{Beam, Evaluated, Grads, Job, Objective};
use crate::attack::oracle::{evaluate, evaluate_on_device, Goal};
use crate::attack::result::ExampleResult;
use crate::attack::settings::{Method, Settings};
use crate::attack::space::Space;
use crate::error::{Error, Result};
use crate::models::device::DeviceClassifier;
use crate::models::{Input, Model};
use crate::nn::ParamStore;

/// An example to attack.
#[derive(Clone, Debug)]
pub struct Task {
    /// Position in the split, copied to [`ExampleResult::index`] so results
    /// can be matched and resumed.
    pub index: usize,
    /// The raw text; the space normalises and tokenises it.
    pub text: String,
    /// The gold class (< the model's class count).
    pub label: usize,
}

/// The classifier as the beam search's objective: outcomes are class
/// probabilities.
pub struct Classes<'a> {
    /// The classifier.
    pub model: &'a Model,
    /// Its parameters.
    pub store: &'a ParamStore,
    /// Success threshold on the adversarial class's probability.
    pub tau: f32,
    /// The same model on a device, which then runs every forward and
    /// backward pass (gradients stay there).
    pub device: Option<&'a DeviceClassifier>,
}

impl Classes<'_> {
    /// Probabilities, J and (if `grads`) dJ/d(embedded input) of a batch.
    pub fn run(&self, input: &Input, goals: &[Goal], grads: bool) -> Result<Evaluated<Vec<f32>>> {
        if let Some(dm) = self.device {
            let ev = evaluate_on_device(dm, input, goals, grads)?;
            let grads = ev.grads.map(|grads| Grads::Device { grads, device: dm.device().clone() });
            return Ok(Evaluated { outcomes: ev.probs, loss: ev.loss, grads });
        }
        let ev = evaluate(self.model, self.store, input, goals, grads)?;
        Ok(Evaluated { outcomes: ev.probs, loss: ev.loss, grads: ev.grads.map(Grads::Host) })
    }
}

impl<S: Space> Objective<S> for Classes<'_> {
    type Goal = Goal;
    type Outcome = Vec<f32>;

    fn evaluate(
        &self,
        space: &S,
        docs: &[&S::Doc],
        goals: &[&Goal],
        grads: bool,
        _outcomes: bool,
    ) -> Result<Evaluated<Vec<f32>>> {
        let goals: Vec<Goal> = goals.iter().map(|&&g| g).collect();
        // Probabilities come with the forward pass: always returned.
        self.run(&space.input(docs)?, &goals, grads)
    }

    fn adversarial(&self, goal: &Goal, probs: &Vec<f32>) -> f32 {
        goal.adversarial(probs)
    }

    fn success(&self, goal: &Goal, probs: &Vec<f32>) -> bool {
        goal.adversarial(probs) >= self.tau
    }
}

type ClassJob<S> = Job<<S as Space>::Doc, <S as Space>::Edit, Goal, Vec<f32>>;

/// An attack on one model in one space of edits.
pub struct Attacker<'a, S: Space> {
    /// The classifier attacked.
    pub model: &'a Model,
    /// Its parameters (read only: attacks never train).
    pub store: &'a ParamStore,
    /// The edits allowed, and how they are scored.
    pub space: S,
    /// Method, beam, τ, budget and constraints; checked by [`Attacker::new`].
    pub settings: Settings,
    /// The model on a device ([`Attacker::on_device`]): every pass runs there.
    pub device: Option<DeviceClassifier>,
}

impl<'a, S: Space> Attacker<'a, S> {
    /// Checks the settings and that a target class, if any, exists in the
    /// model; an error otherwise.
    pub fn new(model: &'a Model, store: &'a ParamStore, space: S, settings: Settings) -> Result<Self> {
        settings.check()?;
        let n_classes = model.config().n_classes();
        if let Some(t) = settings.target {
            if t >= n_classes {
                return Err(Error::invalid("attack", format!("target class {t} of a {n_classes}-class model")));
            }
        }
        Ok(Attacker { model, store, space, settings, device: None })
    }

    /// Runs the model's forward and backward passes on `device` (the same
    /// weights, uploaded once).
    pub fn on_device(mut self, device: DeviceClassifier) -> Self {
        self.device = Some(device);
        self
    }

    fn objective(&self) -> Classes<'_> {
        Classes { model: self.model, store: self.store, tau: self.settings.tau, device: self.device.as_ref() }
    }

    /// Attacks `tasks` together; one result per task, in order.
    pub fn attack(&self, tasks: &[Task]) -> Result<Vec<ExampleResult>> {
        let start = Instant::now();
        let (mut jobs, mut results) = self.classify(tasks)?;
        if self.settings.method != Method::Random {
            // The random baseline's time is its own phase only.
            let first = start.elapsed().as_secs_f64() / tasks.len().max(1) as f64;
            for j in &mut jobs {
                j.seconds += first;
            }
        }
        let objective = self.objective();
        let beam = Beam { space: &self.space, objective: &objective, settings: &self.settings };
        for job in beam.run(jobs)? {
            let task = job.task;
            results[task] = Some(self.finish(&tasks[task], job));
        }
        results
            .into_iter()
            .map(|r| r.ok_or_else(|| Error::invalid("attack", "an example was left unfinished")))
            .collect()
    }

    /// One forward pass over the originals: which are correctly classified
    /// (and so attacked), and the jobs for them.
    #[allow(clippy::type_complexity)]
    fn classify(&self, tasks: &[Task]) -> Result<(Vec<ClassJob<S>>, Vec<Option<ExampleResult>>)> {
        let docs: Vec<S::Doc> = tasks.iter().map(|t| self.space.parse(&t.text)).collect();
        let mut results: Vec<Option<ExampleResult>> = vec![None; tasks.len()];
        let readable: Vec<usize> = (0..tasks.len()).filter(|&i| !self.space.is_empty(&docs[i])).collect();
        let mut probs: Vec<Vec<f32>> = vec![Vec::new(); tasks.len()];
        for chunk in readable.chunks(self.settings.eval_batch.max(1)) {
            let refs: Vec<&S::Doc> = chunk.iter().map(|&i| &docs[i]).collect();
            let goals: Vec<Goal> = chunk.iter().map(|&i| Goal { label: tasks[i].label, target: None }).collect();
            let ev = self.objective().run(&self.space.input(&refs)?, &goals, false)?;
            for (k, &i) in chunk.iter().enumerate() {
                probs[i] = ev.outcomes[k].clone();
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
            let goal = Goal { label: t.label, target: self.settings.target };
            let max_changes = self.space.max_changes(doc, &self.settings);
            jobs.push(Job::start(i, t.index, goal, doc.clone(), probs[i].clone(), max_changes));
        }
        Ok((jobs, results))
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

    fn finish(&self, t: &Task, job: ClassJob<S>) -> ExampleResult {
        let entry = job.reported().clone();
        let probs = entry.outcome.clone().unwrap_or_else(|| job.orig_outcome.clone());
        let adv_pred = crate::math::argmax(&probs);
        let orig_pred = crate::math::argmax(&job.orig_outcome);
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
            orig_prob: job.orig_outcome[orig_pred],
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
