//! Interpretation of a tagger (`bilstm_tagger`, grammatical error
//! detection): the loss is the tagger's over every word, against gold labels
//! where known.

use super::{adv_text, perturb, probs_of, Interpretation};
use crate::data::{Tokenizer, Vocab, WordEncoder};
use crate::error::{Error, Result};
use crate::models::{Input, Model, WordBatch};
use crate::nn::ParamStore;

/// Interprets tagged sentences (`bilstm_tagger`): iAdvT with `k`
/// neighbours and radius `eps` against `gold` labels (one per word) where
/// given, else against the predicted ones. Words beyond the model's
/// `max_words` are left out.
#[allow(clippy::too_many_arguments)]
pub fn interpret_tagged(
    model: &Model,
    store: &ParamStore,
    vocab: &Vocab,
    lowercase: bool,
    sentences: &[Vec<String>],
    gold: Option<&[Vec<usize>]>,
    k: usize,
    eps: f32,
) -> Result<Vec<Interpretation>> {
    let cfg = model.config();
    if !cfg.is_tagger() {
        return Err(Error::invalid("interpret", format!("tagged sentences need a tagger, not {}", cfg.arch())));
    }
    if gold.is_some_and(|g| g.len() != sentences.len()) {
        return Err(Error::invalid("interpret", "one label sequence per sentence"));
    }
    let encoder = WordEncoder::new(vocab, Tokenizer::new(lowercase), None)?;
    let tok = Tokenizer::new(lowercase);
    let max = cfg.max_words();
    let parsed: Vec<Vec<String>> =
        sentences.iter().map(|s| s.iter().take(max).map(|w| tok.normalize(w).into_owned()).collect()).collect();
    if let Some(i) = parsed.iter().position(Vec::is_empty) {
        return Err(Error::invalid("interpret", format!("sentence {} has no words", i + 1)));
    }
    let ids: Vec<Vec<usize>> = parsed.iter().map(|w| encoder.encode_words(w)).collect();
    let x = WordBatch::from_sentences(&ids, max, model.min_len())?;
    let rows = probs_of(model, store, &Input::Words(x.clone()))?;
    // Rows per sentence: the tagger's logits are [B, T, C].
    let tl = rows.len() / x.batch.max(1);
    let row = |b: usize, t: usize| &rows[b * tl + t];
    // Labels per position [B·T] (0 at padding) and the mask of real words.
    let (mut labels, mut mask) = (vec![0usize; x.batch * x.len], vec![0f32; x.batch * x.len]);
    for (b, words) in parsed.iter().enumerate() {
        for t in 0..words.len() {
            let g = gold.and_then(|g| g[b].get(t).copied());
            labels[b * x.len + t] = g.unwrap_or_else(|| crate::math::argmax(row(b, t)));
            mask[b * x.len + t] = 1.0;
        }
    }
    let core = perturb(model, store, vocab, &x, &parsed, &ids, k, eps, |tape, logits| {
        tape.cross_entropy_masked(logits, &labels, &mask)
    })?;
    let xa = WordBatch::from_sentences(&core.adv_ids, max, model.min_len())?;
    let adv_rows = probs_of(model, store, &Input::Words(xa.clone()))?;
    let atl = adv_rows.len() / xa.batch.max(1);
    let adv_row = |b: usize, t: usize| &adv_rows[b * atl + t];
    let p1 = |r: &[f32]| r.get(1).copied();
    let out = core
        .views
        .into_iter()
        .enumerate()
        .map(|(b, mut views)| {
            for (t, v) in views.iter_mut().enumerate() {
                v.gold = gold.and_then(|g| g[b].get(t).copied());
                v.p1 = p1(row(b, t));
                v.adv_p1 = p1(adv_row(b, t));
            }
            let at = core.replaced[b].unwrap_or(0);
            Interpretation {
                text: sentences[b].join(" "),
                pred: crate::math::argmax(row(b, at)),
                probs: row(b, at).to_vec(),
                words: views,
                adv_text: adv_text(vocab, &parsed[b], &core.adv_ids[b], core.replaced[b]),
                replaced: core.replaced[b],
                adv_pred: crate::math::argmax(adv_row(b, at)),
                adv_probs: adv_row(b, at).to_vec(),
            }
        })
        .collect();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adv::interpret::{interpret, render_html, render_text};
    use crate::models::{LstmTextConfig, ModelConfig};
    use crate::rng::Rng;

    fn tagger() -> (Model, ParamStore, Vocab) {
        let c = LstmTextConfig {
            vocab: 8,
            n_classes: 2,
            embed_dim: 6,
            lstm_hidden: 5,
            ffnn_dim: 4,
            normalize_embeddings: false,
            dropout: 0.0,
            max_words: 4,
        };
        let mut store = ParamStore::new();
        let model = Model::new(&ModelConfig::BilstmTagger(c), &mut store, &mut Rng::new(2)).unwrap();
        let words = ["he", "go", "goes", "home", "went", "to"].map(String::from).to_vec();
        (model, store, Vocab::from_tokens(crate::data::VocabKind::Words, words).unwrap())
    }

    #[test]
    fn a_tagger_is_read_word_by_word_against_its_gold_labels() {
        let (model, store, vocab) = tagger();
        let sents = vec![
            vec!["He".to_string(), "go".into(), "home".into()],
            // Longer than max_words (4): the fifth word is left out.
            vec!["he".to_string(), "went".into(), "to".into(), "home".into(), "to".into()],
        ];
        let gold = vec![vec![0, 1, 0], vec![0, 0, 0, 0, 0]];
        let items = interpret_tagged(&model, &store, &vocab, true, &sents, Some(&gold), 3, 2.0).unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].words.len(), 3);
        assert_eq!(items[1].words.len(), 4);
        assert_eq!(items[0].words[1].gold, Some(1));
        // P(i) per word is the model's own: compare with a plain forward pass.
        let ids: Vec<usize> = ["he", "go", "home"].iter().map(|w| vocab.id(w)).collect();
        let x = WordBatch::from_sentences(&[ids], 4, model.min_len()).unwrap();
        let rows = probs_of(&model, &store, &Input::Words(x)).unwrap();
        for (t, w) in items[0].words.iter().enumerate() {
            assert!((w.p1.unwrap() - rows[t][1]).abs() < 1e-6, "word {t}");
            assert!(w.direction.is_some() && (0.0..=1.0 + 1e-5).contains(&w.alpha));
        }
        // The replaced word is swapped for its direction word in adv_text.
        let it = &items[0];
        if let Some(t) = it.replaced {
            let dir = it.words[t].direction.clone().unwrap();
            assert_eq!(it.adv_text.split(' ').nth(t), Some(dir.as_str()));
            assert!(it.words.iter().all(|w| w.alpha <= it.words[t].alpha + 1e-6 || w.alpha <= 0.0));
        }
        // Against other labels the loss, hence the perturbation, differs.
        let flipped = vec![vec![1, 0, 1], vec![1, 1, 1, 1, 1]];
        let other = interpret_tagged(&model, &store, &vocab, true, &sents, Some(&flipped), 3, 2.0).unwrap();
        let norms = |v: &[Interpretation]| v[0].words.iter().map(|w| w.norm).collect::<Vec<_>>();
        let alphas = |v: &[Interpretation]| v[0].words.iter().map(|w| w.alpha).collect::<Vec<_>>();
        assert!(norms(&items) != norms(&other) || alphas(&items) != alphas(&other));
        // The text view marks the gold error.
        let t = render_text(it, &["c".into(), "i".into()]);
        assert!(t.starts_with("he (→ ") && t.contains("go[i] (→ "), "{t}");
        assert!(t.contains("P(i) at"), "{t}");
        assert!(render_html(&items, &["c".into(), "i".into()]).contains("border-bottom"));
        // A classifier's texts are not a tagger's.
        let err = interpret(&model, &store, &vocab, true, &["he go".into()], 3, 2.0).unwrap_err();
        assert!(err.to_string().contains("word classifier"), "{err}");
        assert!(interpret_tagged(&model, &store, &vocab, true, &sents, Some(&gold[..1]), 3, 2.0).is_err());
    }
}
