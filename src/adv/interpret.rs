//! Reading iAdvT's perturbations as words (Sato et al. 2018 Figure 4 and
//! Table 7): for each word, the nearest-word direction with the largest α
//! and its strength; the text with the most perturbed word replaced by that
//! direction's word, and how the prediction moves; and, for comparison, the
//! word whose direction is most cosine-similar to AdvT's unrestricted
//! perturbation.

use serde::Serialize;

use crate::adv::perturb::{gather, normalize_per_example, real_positions};
use crate::data::{Tokenizer, Vocab, WordEncoder};
use crate::error::{Error, Result};
use crate::models::{Input, Mode, Model, Weights, WordBatch};
use crate::nn::ParamStore;
use crate::ops::neighbours::{self, AlphaScope, IadvtConfig, Table};
use crate::tape::Tape;

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
}

#[derive(Clone, Debug, Serialize)]
/// One text's interpretation: its words' perturbation directions and what replacing the most perturbed word does.
pub struct Interpretation {
    /// The text as given.
    pub text: String,
    /// The predicted class.
    pub pred: usize,
    /// Class probabilities.
    pub probs: Vec<f32>,
    /// Each word read, in order.
    pub words: Vec<WordView>,
    /// The word with the largest perturbation replaced by its direction word.
    pub adv_text: String,
    /// Which word was replaced (none if no direction raises the loss).
    pub replaced: Option<usize>,
    /// The prediction on `adv_text`.
    pub adv_pred: usize,
    /// Class probabilities on `adv_text`.
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
    let ig = model.input_gradient(store, &input, Mode::EVAL, Weights::Frozen, |tape, logits| {
        tape.cross_entropy(logits, &preds)
    })?;
    let (e, g) = (ig.embedded, ig.grad);
    let table = model.word_table_values(store)?.ok_or_else(|| Error::invalid("interpret", "no word embeddings"))?;
    let (v, d) = (table.shape()[0], table.shape()[1]);
    let tab = Table::new(table.data(), v, d)?;
    let pos = real_positions(&x);
    let pos_ids: Vec<usize> = pos.iter().map(|&(b, t)| x.ids[b * x.len + t]).collect();
    let w = gather(e.data(), &x, d);
    let gr = gather(g.data(), &x, d);
    let nb =
        neighbours::iadvt(tab, &pos_ids, &w, &gr, &x.lengths, &IadvtConfig { k, eps, scope: AlphaScope::PerExample })?;
    // AdvT's perturbation for comparison: ε g/‖g‖ per example.
    let mut advt = g.data().to_vec();
    normalize_per_example(&mut advt, &x, d, eps);
    let advt = gather(&advt, &x, d);

    let dirs = Directions { vocab, table: table.data(), dim: d, k, pos_ids: &pos_ids, w: &w, advt: &advt, nb: &nb };
    let mut flat = 0usize;
    let mut adv_ids = ids.clone();
    let mut replaced = vec![None; texts.len()];
    let mut views_all = Vec::with_capacity(texts.len());
    for (b, words) in parsed.iter().enumerate() {
        let (views, best) = dirs.views(words, flat);
        if let Some((_, t, j)) = best {
            adv_ids[b][t] = j;
            replaced[b] = Some(t);
        }
        flat += words.len();
        views_all.push(views);
    }
    let xa = WordBatch::from_sentences(&adv_ids, cfg.max_words(), model.min_len())?;
    let adv_probs = probs_of(model, store, &Input::Words(xa))?;
    let out = views_all
        .into_iter()
        .enumerate()
        .map(|(b, views)| Interpretation {
            text: texts[b].clone(),
            pred: preds[b],
            probs: probs[b].clone(),
            words: views,
            adv_text: adv_text(vocab, &parsed[b], &adv_ids[b], replaced[b]),
            replaced: replaced[b],
            adv_pred: crate::math::argmax(&adv_probs[b]),
            adv_probs: adv_probs[b].clone(),
        })
        .collect();
    Ok(out)
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

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// What the terminal view's notation means; printed once above the texts.
pub const LEGEND: &str = "each word: word (→ \"w\" α) = iAdvT's perturbation at it points most towards word \"w\", with      weight α in [0, 1]; words without one are UNK or PAD";

/// A terminal view: each word with its strongest direction and α.
pub fn render_text(it: &Interpretation, labels: &[String]) -> String {
    let name = |i: usize| labels.get(i).cloned().unwrap_or_else(|| i.to_string());
    let words: Vec<String> = it
        .words
        .iter()
        .map(|w| match &w.direction {
            // Debug quoting: `*` or `]` as a direction word stays legible.
            Some(dir) => format!("{} (→ {dir:?} {:.2})", w.word, w.alpha),
            None => w.word.clone(),
        })
        .collect();
    format!(
        "{}\n  prediction {} ({:.3}); replacing the most perturbed word: \"{}\" → {} ({:.3})\n",
        words.join(" "),
        name(it.pred),
        it.probs[it.pred],
        it.adv_text,
        name(it.adv_pred),
        it.adv_probs[it.adv_pred]
    )
}

/// An HTML heat map of the perturbation strength.
pub fn render_html(items: &[Interpretation], labels: &[String]) -> String {
    let name = |i: usize| labels.get(i).cloned().unwrap_or_else(|| i.to_string());
    let mut s = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>iAdvT interpretation</title><style>\
body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto}\
.t{margin:14px 0;padding:10px;border:1px solid #ddd;border-radius:6px;line-height:2.2}\
.w{padding:2px 4px;border-radius:3px;position:relative}\
.w sub{font-size:70%;color:#444}</style></head><body><h1>Interpretable adversarial perturbations</h1>\
<p>Each word is shaded by the strength α of its strongest direction (Sato et al. Figure 4); the subscript is the word that direction points to.</p>",
    );
    let max_alpha = items.iter().flat_map(|i| i.words.iter().map(|w| w.alpha)).fold(1e-12f32, f32::max);
    for it in items {
        s += "<div class=\"t\">";
        for w in &it.words {
            let a = (w.alpha / max_alpha).clamp(0.0, 1.0);
            let title = format!(
                "α {:.3}, ‖r‖ {:.3}; AdvT's nearest: {} (cos {:.2})",
                w.alpha,
                w.norm,
                w.advt_word.clone().unwrap_or_default(),
                w.advt_cos
            );
            s += &format!(
                "<span class=\"w\" style=\"background:rgba(231,76,60,{a:.2})\" title=\"{}\">{}<sub>{}</sub></span> ",
                esc(&title),
                esc(&w.word),
                esc(w.direction.as_deref().unwrap_or(""))
            );
        }
        s += &format!(
            "<div>prediction <b>{}</b> ({:.3}) → with the most perturbed word replaced: <i>{}</i> → <b>{}</b> ({:.3})</div></div>",
            esc(&name(it.pred)),
            it.probs[it.pred],
            esc(&it.adv_text),
            esc(&name(it.adv_pred)),
            it.adv_probs[it.adv_pred]
        );
    }
    s += "</body></html>\n";
    s
}

#[cfg(test)]
mod render_tests {
    use super::*;

    #[test]
    fn directions_are_quoted_and_the_legend_names_the_notation() {
        let view = |word: &str, dir: Option<&str>| WordView {
            word: word.into(),
            direction: dir.map(String::from),
            alpha: 0.37,
            norm: 1.0,
            advt_word: None,
            advt_cos: 0.0,
        };
        let it = Interpretation {
            text: "this *".into(),
            pred: 0,
            probs: vec![0.6, 0.4],
            words: vec![view("this", Some("*")), view("*", None)],
            adv_text: "* *".into(),
            replaced: Some(0),
            adv_pred: 1,
            adv_probs: vec![0.4, 0.6],
        };
        let t = render_text(&it, &["neg".into(), "pos".into()]);
        assert!(t.starts_with("this (→ \"*\" 0.37) *\n"), "{t}");
        assert!(!t.contains('['), "{t}");
        assert!(LEGEND.contains("(→ \"w\" α)"));
    }
}
