//! Reading iAdvT's perturbations as words (Sato et al. 2018 Figure 4 and
//! Table 7): for each word, the nearest-word direction with the largest α
//! and its strength; the text with the most perturbed word replaced by that
//! direction's word, and how the prediction moves; and, for comparison, the
//! word whose direction is most cosine-similar to AdvT's unrestricted
//! perturbation.
//!
//! Word classifiers perturb against the predicted class; the tagger
//! (grammatical error detection) against its gold labels where they are
//! known (a data set's sentences) and its predicted ones otherwise, so that
//! on an erroneous word the direction that raises the loss is the one that
//! makes it look correct (Sato et al. Table 7).

use serde::Serialize;

use crate::adv::perturb::{gather, normalize_per_example, real_positions};
use crate::data::{Tokenizer, Vocab, WordEncoder};
use crate::error::{Error, Result};
use crate::models::{Input, Mode, Model, Weights, WordBatch};
use crate::nn::ParamStore;
use crate::ops::neighbours::{self, AlphaScope, IadvtConfig, Table};
use crate::tape::{Tape, Var};

mod render;
mod tagged;

pub use render::{render_html, render_text, LEGEND, TAGGER_LEGEND};
pub use tagged::interpret_tagged;

/// One word of an interpreted text.
#[derive(Clone, Debug, Serialize)]
pub struct WordView {
    /// The word as the model reads it.
    pub word: String,
    /// The direction word with the largest α (none for UNK/PAD positions).
    pub direction: Option<String>,
    /// That α: how strongly the perturbation points at the direction word.
    pub alpha: f32,
    /// ‖r_t‖ of the iAdvT perturbation at this word.
    pub norm: f32,
    /// The word whose direction is most cosine-similar to AdvT's
    /// perturbation here, and that cosine.
    pub advt_word: Option<String>,
    /// That cosine.
    pub advt_cos: f32,
    /// Taggers: the gold label of this word, where known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gold: Option<usize>,
    /// Taggers: P(label 1) (`i`, an error) at this word.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p1: Option<f32>,
    /// Taggers: P(label 1) at this word once the most perturbed word is replaced.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adv_p1: Option<f32>,
}

#[derive(Clone, Debug, Serialize)]
/// One text's interpretation: its words' perturbation directions and what replacing the most perturbed word does.
pub struct Interpretation {
    /// The text as given.
    pub text: String,
    /// The predicted class (taggers: the label predicted at the replaced
    /// word, or at the first word when none was replaced).
    pub pred: usize,
    /// Class probabilities (taggers: at that word).
    pub probs: Vec<f32>,
    /// Each word read, in order.
    pub words: Vec<WordView>,
    /// The word with the largest perturbation replaced by its direction word.
    pub adv_text: String,
    /// Which word was replaced (none if no direction raises the loss).
    pub replaced: Option<usize>,
    /// The prediction on `adv_text` (taggers: at the same word).
    pub adv_pred: usize,
    /// Class probabilities on `adv_text` (taggers: at the same word).
    pub adv_probs: Vec<f32>,
}

fn probs_of(model: &Model, store: &ParamStore, input: &Input) -> Result<Vec<Vec<f32>>> {
    let tape = Tape::no_grad();
    let p = tape.bind_frozen(store);
    let logits = model.forward(&tape, &p, input, None, Mode::EVAL)?.logits;
    let pr = tape.value(tape.softmax(logits)?)?;
    let c = *pr.shape().last().unwrap_or(&1);
    Ok(pr.data().chunks(c).map(<[f32]>::to_vec).collect())
}

/// Interprets `texts` on a word classifier: iAdvT with `k` neighbours and
/// radius `eps`, against the predicted class.
pub fn interpret(
    model: &Model,
    store: &ParamStore,
    vocab: &Vocab,
    lowercase: bool,
    texts: &[String],
    k: usize,
    eps: f32,
) -> Result<Vec<Interpretation>> {
    let cfg = model.config();
    if cfg.is_char_level() || cfg.is_tagger() {
        return Err(Error::invalid("interpret", format!("needs a word classifier, not {}", cfg.arch())));
    }
    let encoder = WordEncoder::new(vocab, Tokenizer::new(lowercase), Some(cfg.max_words()))?;
    let (parsed, ids): (Vec<Vec<String>>, Vec<Vec<usize>>) = texts.iter().map(|t| encoder.encode_normalised(t)).unzip();
    if let Some(i) = parsed.iter().position(Vec::is_empty) {
        return Err(Error::invalid("interpret", format!("text {} has no words", i + 1)));
    }
    let x = WordBatch::from_sentences(&ids, cfg.max_words(), model.min_len())?;
    let input = Input::Words(x.clone());
    let probs = probs_of(model, store, &input)?;
    let preds: Vec<usize> = probs.iter().map(|p| crate::math::argmax(p)).collect();

    // g = dJ/de with J the loss of the predicted class.
    let core =
        perturb(model, store, vocab, &x, &parsed, &ids, k, eps, |tape, logits| tape.cross_entropy(logits, &preds))?;
    let xa = WordBatch::from_sentences(&core.adv_ids, cfg.max_words(), model.min_len())?;
    let adv_probs = probs_of(model, store, &Input::Words(xa))?;
    let out = core
        .views
        .into_iter()
        .enumerate()
        .map(|(b, views)| Interpretation {
            text: texts[b].clone(),
            pred: preds[b],
            probs: probs[b].clone(),
            words: views,
            adv_text: adv_text(vocab, &parsed[b], &core.adv_ids[b], core.replaced[b]),
            replaced: core.replaced[b],
            adv_pred: crate::math::argmax(&adv_probs[b]),
            adv_probs: adv_probs[b].clone(),
        })
        .collect();
    Ok(out)
}
/// Per-text word views, and the ids with each text's most perturbed word
/// replaced by its direction word (where one raises the loss).
struct Perturbed {
    views: Vec<Vec<WordView>>,
    adv_ids: Vec<Vec<usize>>,
    replaced: Vec<Option<usize>>,
}

/// iAdvT's and AdvT's perturbations of `x` (the texts `parsed`, ids `ids`)
/// for the loss `loss` of the logits, read as words.
#[allow(clippy::too_many_arguments)]
fn perturb(
    model: &Model,
    store: &ParamStore,
    vocab: &Vocab,
    x: &WordBatch,
    parsed: &[Vec<String>],
    ids: &[Vec<usize>],
    k: usize,
    eps: f32,
    loss: impl FnOnce(&Tape, Var) -> Result<Var>,
) -> Result<Perturbed> {
    let input = Input::Words(x.clone());
    let ig = model.input_gradient(store, &input, Mode::EVAL, Weights::Frozen, loss)?;
    let (e, g) = (ig.embedded, ig.grad);
    let table = model.word_table_values(store)?.ok_or_else(|| Error::invalid("interpret", "no word embeddings"))?;
    let (v, d) = (table.shape()[0], table.shape()[1]);
    let tab = Table::new(table.data(), v, d)?;
    let pos = real_positions(x);
    let pos_ids: Vec<usize> = pos.iter().map(|&(b, t)| x.ids[b * x.len + t]).collect();
    let w = gather(e.data(), x, d);
    let gr = gather(g.data(), x, d);
    let nb =
        neighbours::iadvt(tab, &pos_ids, &w, &gr, &x.lengths, &IadvtConfig { k, eps, scope: AlphaScope::PerExample })?;
    // AdvT's perturbation for comparison: ε g/‖g‖ per example.
    let mut advt = g.data().to_vec();
    normalize_per_example(&mut advt, x, d, eps);
    let advt = gather(&advt, x, d);

    let dirs = Directions { vocab, table: table.data(), dim: d, k, pos_ids: &pos_ids, w: &w, advt: &advt, nb: &nb };
    let mut flat = 0usize;
    let mut adv_ids = ids.to_vec();
    let mut replaced = vec![None; parsed.len()];
    let mut views = Vec::with_capacity(parsed.len());
    for (b, words) in parsed.iter().enumerate() {
        let (v, best) = dirs.views(words, flat);
        if let Some((_, t, j)) = best {
            adv_ids[b][t] = j;
            replaced[b] = Some(t);
        }
        flat += words.len();
        views.push(v);
    }
    Ok(Perturbed { views, adv_ids, replaced })
}

/// The words of a text with the replaced one (if any) swapped for its
/// direction word.
fn adv_text(vocab: &Vocab, words: &[String], adv_ids: &[usize], replaced: Option<usize>) -> String {
    words
        .iter()
        .enumerate()
        .map(|(t, w)| if Some(t) == replaced { vocab.token(adv_ids[t]).unwrap_or(w).to_string() } else { w.clone() })
        .collect::<Vec<_>>()
        .join(" ")
}

/// iAdvT's and AdvT's perturbations at the batch's real positions (flat,
/// in position order), read per word.
struct Directions<'a> {
    vocab: &'a Vocab,
    /// The `[V, D]` word table the model reads.
    table: &'a [f32],
    dim: usize,
    /// Neighbours per position.
    k: usize,
    pos_ids: &'a [usize],
    /// Embedded words `[P, D]`.
    w: &'a [f32],
    /// AdvT's perturbation `[P, D]`.
    advt: &'a [f32],
    nb: &'a neighbours::Neighbours,
}

impl Directions<'_> {
    /// The views of one text whose first position is `flat`, and its most
    /// perturbed word: the strongest direction that raises the loss (a
    /// negative α points away from its word) as `(α, position, word id)`.
    fn views(&self, words: &[String], flat: usize) -> (Vec<WordView>, Option<(f32, usize, usize)>) {
        let (k, d) = (self.k, self.dim);
        let mut views = Vec::with_capacity(words.len());
        let mut best: Option<(f32, usize, usize)> = None;
        for (t, word) in words.iter().enumerate() {
            let at = flat + t;
            let id = self.pos_ids[at];
            let alphas = &self.nb.alpha[at * k..(at + 1) * k];
            let (kk, &alpha) = alphas.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap_or((0, &0.0));
            let dir_id = self.nb.ids[at * k + kk];
            let norm = self.nb.r[at * d..(at + 1) * d].iter().map(|a| a * a).sum::<f32>().sqrt();
            let best_cos = self.closest_to_advt(at, id);
            let real = id >= Vocab::RESERVED;
            if real && alpha > 0.0 && best.is_none_or(|(a, _, _)| alpha > a) {
                best = Some((alpha, t, dir_id));
            }
            views.push(WordView {
                word: word.clone(),
                direction: real.then(|| self.vocab.token(dir_id).unwrap_or_default().to_string()),
                alpha,
                norm,
                advt_word: best_cos.map(|(_, j)| self.vocab.token(j).unwrap_or_default().to_string()),
                advt_cos: best_cos.map_or(0.0, |(c, _)| c),
                gold: None,
                p1: None,
                adv_p1: None,
            });
        }
        (views, best)
    }

    /// The word whose direction from position `at`'s vector is most
    /// cosine-similar to AdvT's perturbation there, with that cosine.
    fn closest_to_advt(&self, at: usize, id: usize) -> Option<(f32, usize)> {
        let d = self.dim;
        let (wt, at_r) = (&self.w[at * d..(at + 1) * d], &self.advt[at * d..(at + 1) * d]);
        let nr = at_r.iter().map(|a| a * a).sum::<f32>().sqrt().max(1e-12);
        let mut best_cos: Option<(f32, usize)> = None;
        for j in (Vocab::RESERVED..self.table.len() / d.max(1)).filter(|&j| j != id) {
            let ej = &self.table[j * d..(j + 1) * d];
            let (mut dot, mut nd) = (0.0f32, 0.0f32);
            for q in 0..d {
                let u = ej[q] - wt[q];
                dot += u * at_r[q];
                nd += u * u;
            }
            let cos = dot / (nd.sqrt().max(1e-12) * nr);
            if best_cos.is_none_or(|(c, _)| cos > c) {
                best_cos = Some((cos, j));
            }
        }
        best_cos
    }
}
