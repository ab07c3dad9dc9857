//! LSTM language-model pre-training for `lstm_classifier` and
//! `bilstm_tagger` (Sato et al. §6.2 after Miyato et al. 2017): the model's
//! own embedding and LSTM (same names and shapes, so the weights load into
//! the classifier or tagger) under a word-prediction head.
//!
//! - `lstm_classifier` (one direction): the state at t predicts word t+1.
//! - `bilstm_tagger`: a forward and a backward LM at once: the forward
//!   direction's state at t predicts word t+1, the reverse direction's state
//!   at t predicts word t−1, each through its own head (`lm.*`,
//!   `lm_reverse.*`); the loss is their mean.
//!
//! Cheap softmax: **sampled softmax** over a per-batch candidate set — the
//! batch's target words plus `samples` words drawn from the unigram
//! distribution raised to 0.75 — with each candidate's logit corrected by
//! `−log(expected count)` under the proposal (Jean et al. 2015). Dev
//! perplexity is computed with the exact full softmax.

use crate::error::{Error, Result};
use crate::models::{Mode, Model, WordBatch};
use crate::nn::{Linear, ParamStore};
use crate::optim::{clip_grad_norm, Adam, AdamConfig, Optimizer};
use crate::rng::Rng;
use crate::tape::{Tape, Var};
use crate::tensor::Tensor;
use crate::train::batches::eval_plan;
use crate::train::objective::collect_grads;

/// The word-prediction heads (one per LSTM direction).
pub struct LmHead {
    /// The heads' own weights (`lm.*`, `lm_reverse.*`), kept apart from the
    /// model's so that the model's checkpoint stays loadable by the classifier.
    pub store: ParamStore,
    heads: Vec<Linear>,
    hidden: usize,
}

impl LmHead {
    /// Heads `[vocab × hidden]` for `dirs` directions (1 for `lstm_classifier`,
    /// 2 for `bilstm_tagger`), freshly initialised.
    pub fn new(vocab: usize, hidden: usize, dirs: usize, rng: &mut Rng) -> Result<Self> {
        let mut store = ParamStore::new();
        let names = ["lm", "lm_reverse"];
        let heads = (0..dirs).map(|d| Linear::new(&mut store, names[d], hidden, vocab, rng)).collect::<Result<_>>()?;
        Ok(LmHead { store, heads, hidden })
    }

    /// Sets the heads' weights from saved tensors (`path` names the file in
    /// errors): every head tensor must be there with its shape.
    pub fn load_weights(&mut self, tensors: &[(String, Tensor)], path: &std::path::Path) -> Result<()> {
        let bad = |msg: String| Error::Checkpoint { path: path.to_path_buf(), msg };
        let ids: Vec<_> = self.store.ids().collect();
        for id in ids {
            let name = self.store.name(id).to_string();
            let t = tensors
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, t)| t.clone())
                .ok_or_else(|| bad(format!("tensor `{name}` of the LM head is missing")))?;
            if t.shape() != self.store.get(id).shape() {
                return Err(bad(format!(
                    "tensor `{name}` has shape {:?}, expected {:?}",
                    t.shape(),
                    self.store.get(id).shape()
                )));
            }
            self.store.set(id, t)?;
        }
        Ok(())
    }
}

/// One direction's prediction rows: flat indices into `[B·T]` and targets.
fn pairs(x: &WordBatch, reverse: bool) -> (Vec<usize>, Vec<usize>) {
    let (mut rows, mut targets) = (Vec::new(), Vec::new());
    for (b, &l) in x.lengths.iter().enumerate() {
        for t in 0..l.saturating_sub(1) {
            let (from, to) = if reverse { (t + 1, t) } else { (t, t + 1) };
            rows.push(b * x.len + from);
            targets.push(x.ids[b * x.len + to]);
        }
    }
    (rows, targets)
}

/// The LSTM states `[B·T, H]` of direction `d`.
fn states(tape: &Tape, out: Var, x: &WordBatch, hidden: usize, d: usize) -> Result<Var> {
    let dirs = tape.shape(out)?[2] / hidden;
    let flat = tape.reshape(out, &[x.batch * x.len, dirs * hidden])?;
    if dirs == 1 {
        Ok(flat)
    } else {
        tape.narrow(flat, 1, d * hidden, hidden)
    }
}

/// Sampling proposal: unigram counts to the power 0.75, PAD and UNK excluded.
pub struct Proposal {
    cumulative: Vec<f64>,
    q: Vec<f64>,
}

impl Proposal {
    /// From word counts indexed by word id (`[V]`); errors if every count past
    /// PAD and UNK is zero.
    pub fn new(counts: &[u64]) -> Result<Self> {
        let w: Vec<f64> =
            counts.iter().enumerate().map(|(i, &c)| if i < 2 { 0.0 } else { (c as f64).powf(0.75) }).collect();
        let total: f64 = w.iter().sum();
        if total <= 0.0 {
            return Err(Error::invalid("language model", "the training text has no words"));
        }
        let q: Vec<f64> = w.iter().map(|v| v / total).collect();
        let mut acc = 0.0;
        let cumulative = q
            .iter()
            .map(|v| {
                acc += v;
                acc
            })
            .collect();
        Ok(Proposal { cumulative, q })
    }

    fn draw(&self, rng: &mut Rng) -> usize {
        let u = rng.uniform() as f64;
        self.cumulative.partition_point(|&c| c < u).min(self.q.len() - 1)
    }
}

/// Sampled-softmax loss of `h [N, H]` against `targets` through `head`.
#[allow(clippy::too_many_arguments)]
fn sampled_loss(
    tape: &Tape,
    h: Var,
    head: &Linear,
    p: &crate::nn::Bound,
    targets: &[usize],
    proposal: &Proposal,
    samples: usize,
    rng: &mut Rng,
) -> Result<Var> {
    let v = proposal.q.len();
    let mut pos = vec![usize::MAX; v];
    let mut cand = Vec::new();
    for &t in targets {
        if pos[t] == usize::MAX {
            pos[t] = cand.len();
            cand.push(t);
        }
    }
    for _ in 0..samples {
        let s = proposal.draw(rng);
        if pos[s] == usize::MAX {
            pos[s] = cand.len();
            cand.push(s);
        }
    }
    // −log of each candidate's expected count among the samples (Jean et al.
    // 2015), the batch's own targets included, as TensorFlow's
    // sampled_softmax_loss does; without it for the targets the full-softmax
    // perplexity came out above the uniform one on a 16-word test corpus.
    let correction: Vec<f32> =
        cand.iter().map(|&c| -((samples as f64 * proposal.q[c]).max(1e-6).ln()) as f32).collect();
    let w = tape.index_select(p.var(head.weight), &cand)?;
    let b = tape.index_select(p.var(head.bias), &cand)?;
    let logits = tape.linear(h, w, Some(b))?;
    let logits = tape.add(logits, tape.constant(Tensor::new(&[cand.len()], correction)?))?;
    let local: Vec<usize> = targets.iter().map(|&t| pos[t]).collect();
    tape.cross_entropy(logits, &local)
}

/// Settings of a pre-training run.
#[derive(Clone, Debug)]
pub struct LmOptions {
    /// Sentences per batch.
    pub batch: usize,
    /// Words drawn from the proposal per batch (besides the batch's targets):
    /// the sampled softmax's candidate set size.
    pub samples: usize,
    /// Optimiser settings, used for both the model and the heads.
    pub adam: AdamConfig,
    /// Clip the joint gradient norm of model and heads to this, if set.
    pub clip: Option<f32>,
    /// Seeds batch order, dropout and sampling.
    pub seed: u64,
}

/// The LM objective on one batch; returns the loss value and updates both
/// stores.
#[allow(clippy::too_many_arguments)]
pub fn train_step(
    model: &Model,
    store: &mut ParamStore,
    head: &mut LmHead,
    adam: (&mut Adam, &mut Adam),
    x: &WordBatch,
    proposal: &Proposal,
    opts: &LmOptions,
    mode: Mode,
    rng: &mut Rng,
) -> Result<f32> {
    let tape = Tape::new();
    let p = tape.bind(store);
    let ph = tape.bind(&head.store);
    let out = model.lstm_outputs(&tape, &p, x, mode)?;
    let mut losses = Vec::new();
    for (d, lin) in head.heads.iter().enumerate() {
        let (rows, targets) = pairs(x, d == 1);
        if rows.is_empty() {
            continue;
        }
        let h = tape.index_select(states(&tape, out, x, head.hidden, d)?, &rows)?;
        losses.push(sampled_loss(&tape, h, lin, &ph, &targets, proposal, opts.samples, rng)?);
    }
    let Some(&first) = losses.first() else { return Ok(f32::NAN) };
    let mut loss = first;
    for &l in &losses[1..] {
        loss = tape.add(loss, l)?;
    }
    let loss = tape.scale(loss, 1.0 / losses.len() as f32)?;
    let value = tape.value(loss)?.item()?;
    if !value.is_finite() {
        return Ok(value);
    }
    let mut g = tape.backward(loss)?;
    let mut gm = collect_grads(&p, &mut g, store);
    let mut gh = collect_grads(&ph, &mut g, &head.store);
    drop(g);
    if let Some(c) = opts.clip {
        // One joint norm over both stores.
        let mut all: Vec<Option<Tensor>> = gm.drain(..).chain(gh.drain(..)).collect();
        clip_grad_norm(&mut all, c);
        gh = all.split_off(store.len());
        gm = all;
    }
    adam.0.step(store, &gm)?;
    adam.1.step(&mut head.store, &gh)?;
    Ok(value)
}

/// Exact (full-softmax) perplexity over `sents`, both directions pooled.
pub fn perplexity(
    model: &Model,
    store: &ParamStore,
    head: &LmHead,
    sents: &[Vec<usize>],
    max_words: usize,
) -> Result<f64> {
    let lengths: Vec<usize> = sents.iter().map(Vec::len).collect();
    let (mut nll, mut n) = (0.0f64, 0usize);
    for members in eval_plan(&lengths, 64) {
        let batch: Vec<Vec<usize>> = members.iter().map(|&i| sents[i].clone()).collect();
        let x = WordBatch::from_sentences(&batch, max_words, 1)?;
        let tape = Tape::no_grad();
        let p = tape.bind(store);
        let ph = tape.bind(&head.store);
        let out = model.lstm_outputs(&tape, &p, &x, Mode::EVAL)?;
        for (d, lin) in head.heads.iter().enumerate() {
            let (rows, targets) = pairs(&x, d == 1);
            if rows.is_empty() {
                continue;
            }
            let h = tape.index_select(states(&tape, out, &x, head.hidden, d)?, &rows)?;
            let logits = lin.forward(&tape, &ph, h)?;
            let ce = tape.value(tape.cross_entropy(logits, &targets)?)?.item()? as f64;
            nll += ce * targets.len() as f64;
            n += targets.len();
        }
    }
    if n == 0 {
        return Err(Error::invalid("language model", "no sentence of two or more words to score"));
    }
    Ok((nll / n as f64).exp())
}

/// Unigram counts of the training words (`[V]`).
pub fn counts(train: &[Vec<usize>], vocab: usize) -> Vec<u64> {
    let mut c = vec![0u64; vocab];
    for s in train {
        for &w in s {
            if w < vocab {
                c[w] += 1;
            }
        }
    }
    c
}

/// A fresh pair of optimisers for the model and the head.
pub fn optimisers(cfg: AdamConfig) -> Result<(Adam, Adam)> {
    Ok((Adam::new(cfg)?, Adam::new(cfg)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{LstmTextConfig, ModelConfig};

    /// Sentences over a 12-word vocabulary where each word fixes the next
    /// (and the previous): an LM must get far below the uniform perplexity.
    fn corpus(n: usize, rng: &mut Rng) -> Vec<Vec<usize>> {
        (0..n)
            .map(|_| {
                let start = 2 + rng.below(10);
                (0..6).map(|k| 2 + (start - 2 + 3 * k) % 10).collect()
            })
            .collect()
    }

    fn check(arch: fn(LstmTextConfig) -> ModelConfig, dirs: usize) {
        let cfg = LstmTextConfig {
            vocab: 12,
            n_classes: 2,
            embed_dim: 8,
            lstm_hidden: 16,
            ffnn_dim: 4,
            normalize_embeddings: false,
            dropout: 0.0,
            max_words: 20,
        };
        let mut rng = Rng::new(3);
        let mut store = ParamStore::new();
        let model = Model::new(&arch(cfg), &mut store, &mut rng).unwrap();
        let mut head = LmHead::new(12, 16, dirs, &mut rng).unwrap();
        let (train, dev) = (corpus(200, &mut rng), corpus(40, &mut rng));
        let proposal = Proposal::new(&counts(&train, 12)).unwrap();
        let opts = LmOptions {
            batch: 16,
            samples: 4,
            adam: AdamConfig { lr: 0.01, decay: 1.0, ..AdamConfig::default() },
            clip: Some(5.0),
            seed: 1,
        };
        let (mut a, mut b) = optimisers(opts.adam).unwrap();
        let before = perplexity(&model, &store, &head, &dev, 20).unwrap();
        assert!(before > 5.0, "an untrained LM is near uniform over 10 words: {before}");
        let lengths: Vec<usize> = train.iter().map(Vec::len).collect();
        for epoch in 0..6 {
            for (k, members) in
                crate::train::batches::epoch_plan(&lengths, opts.batch, opts.seed, epoch).iter().enumerate()
            {
                let batch: Vec<Vec<usize>> = members.iter().map(|&i| train[i].clone()).collect();
                let x = WordBatch::from_sentences(&batch, 20, 1).unwrap();
                let mut r = Rng::derive(opts.seed, epoch * 1000 + k as u64);
                let mode = Mode::train(r.next_u64());
                let loss =
                    train_step(&model, &mut store, &mut head, (&mut a, &mut b), &x, &proposal, &opts, mode, &mut r);
                assert!(loss.unwrap().is_finite());
            }
        }
        let after = perplexity(&model, &store, &head, &dev, 20).unwrap();
        // Each next (previous) word is determined but for the first (last).
        assert!(after < 1.6, "dev perplexity {before} -> {after}");
    }

    #[test]
    fn forward_lm_learns_a_deterministic_successor() {
        check(ModelConfig::LstmClassifier, 1);
    }

    #[test]
    fn forward_and_backward_lm_for_the_tagger() {
        check(ModelConfig::BilstmTagger, 2);
    }

    #[test]
    fn pairs_shift_forward_and_backward() {
        let x = WordBatch::from_sentences(&[vec![5, 6, 7], vec![8]], 10, 1).unwrap();
        assert_eq!(pairs(&x, false), (vec![0, 1], vec![6, 7]));
        assert_eq!(pairs(&x, true), (vec![1, 2], vec![5, 6]));
    }
}
