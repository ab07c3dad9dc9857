//! The character-level attack: first-order scores against finite
//! differences, the fused top-b against materialise-and-sort, beam search
//! against exhaustive search, and the constraints over many random inputs.

use std::collections::HashSet;

use hotflip::attack::char_doc::{CharDoc, CharEdit, CharOp};
use hotflip::attack::oracle::{evaluate, Goal};
use hotflip::attack::score::chars::{
    all_edits, score_all, top_children, top_children_by_sorting, EntryRef, ScoreTensors,
};
use hotflip::attack::{CharAttacker, Method, Settings, Task};
use hotflip::data::{ModelVocab, Tokenizer, Vocab, VocabKind};
use hotflip::models::{CharBatch, CharCnnLstmConfig, Input, Mode, Model, ModelConfig};
use hotflip::nn::ParamStore;
use hotflip::{Rng, Tape, Tensor};

const ALPHABET: &str = "abcdefgh";

/// `[V, D]` → `[D, V]`.
fn transpose(t: &Tensor) -> Vec<f32> {
    let (v, d) = (t.shape()[0], t.shape()[1]);
    let mut out = vec![0.0f32; v * d];
    for c in 0..v {
        for k in 0..d {
            out[k * v + c] = t.data()[c * d + k];
        }
    }
    out
}

struct Fixture {
    model: Model,
    store: ParamStore,
    vocab: ModelVocab,
}

fn fixture(seed: u64, word_vocab: &[&str]) -> Fixture {
    fixture_scaled(seed, word_vocab, 3.0, &[1, 2, 3])
}

fn fixture_scaled(seed: u64, word_vocab: &[&str], scale: f32, widths: &[usize]) -> Fixture {
    let chars = ALPHABET.chars().map(String::from).collect();
    let words = Vocab::from_tokens(VocabKind::Words, word_vocab.iter().map(|s| s.to_string()).collect()).unwrap();
    let vocab = ModelVocab::new(Vocab::from_tokens(VocabKind::Chars, chars).unwrap(), Some(words)).unwrap();
    let cfg = CharCnnLstmConfig {
        n_chars: vocab.vocab.len(),
        n_classes: 3,
        char_dim: 3,
        kernel_widths: widths.to_vec(),
        kernel_filters: [3, 4, 2][..widths.len()].to_vec(),
        highway_layers: 1,
        lstm_hidden: 5,
        lstm_layers: 1,
        max_word_len: 6,
        max_words: 10,
        dropout: 0.0,
    };
    let mut store = ParamStore::new();
    let model = Model::new(&ModelConfig::CharCnnLstm(cfg), &mut store, &mut Rng::new(seed)).unwrap();
    // Larger weights than PyTorch's default make the tiny model's outputs
    // depend strongly on its input, so attacks have something to find.
    let ids: Vec<_> = store.ids().collect();
    for id in ids {
        let t = store.get(id).clone();
        let scaled: Vec<f32> = t.data().iter().map(|v| v * scale).collect();
        store.set(id, Tensor::new(t.shape(), scaled).unwrap()).unwrap();
    }
    Fixture { model, store, vocab }
}

/// The fixture after a short training run on a rule that depends on the
/// characters (label: which of a, b, c is most frequent), so that its
/// output moves with its input and attacks can succeed.
fn trained_fixture(seed: u64, word_vocab: &[&str], widths: &[usize]) -> Fixture {
    use hotflip::optim::{Adam, AdamConfig, Optimizer};
    let mut f = fixture_scaled(seed, word_vocab, 1.0, widths);
    let mut rng = Rng::new(seed);
    let tok = Tokenizer::new(true);
    let mut opt = Adam::new(AdamConfig { lr: 0.02, decay: 1.0, ..AdamConfig::default() }).unwrap();
    for _ in 0..150 {
        let mut docs = Vec::new();
        let mut labels = Vec::new();
        for _ in 0..16 {
            let n = 2 + rng.below(4);
            let text = random_text(&mut rng, n);
            let counts: Vec<usize> = ['a', 'b', 'c'].iter().map(|&c| text.matches(c).count()).collect();
            let best = (0..3).max_by_key(|&i| (counts[i], 3 - i)).unwrap();
            docs.push(CharDoc::new(&text, tok, 10).ids(&f.vocab.vocab));
            labels.push(best);
        }
        let input = Input::Chars(CharBatch::from_docs(&docs, 6, 10).unwrap());
        let tape = Tape::new();
        let p = tape.bind(&f.store);
        let out = f.model.forward(&tape, &p, &input, None, Mode::EVAL).unwrap();
        let loss = tape.cross_entropy(out.logits, &labels).unwrap();
        let mut g = tape.backward(loss).unwrap();
        let grads = hotflip::train::collect_grads(&p, &mut g, &f.store);
        opt.step(&mut f.store, &grads).unwrap();
    }
    f
}

fn random_text(rng: &mut Rng, words: usize) -> String {
    let alpha: Vec<char> = ALPHABET.chars().collect();
    (0..words)
        .map(|_| (0..1 + rng.below(7)).map(|_| alpha[rng.below(alpha.len())]).collect::<String>())
        .collect::<Vec<_>>()
        .join(" ")
}

fn char_table(f: &Fixture) -> (Vec<bool>, Vec<char>) {
    let v = f.vocab.vocab.len();
    let mut allowed = vec![false; v];
    let mut chars = vec!['\0'; v];
    for id in 2..v {
        chars[id] = f.vocab.vocab.token(id).unwrap().chars().next().unwrap();
        allowed[id] = true;
    }
    (allowed, chars)
}

/// J (cross-entropy of `label`) at given character embeddings.
fn loss_at(f: &Fixture, input: &Input, embedded: &Tensor, label: usize) -> f64 {
    let tape = Tape::no_grad();
    let p = tape.bind_frozen(&f.store);
    let e = tape.constant(embedded.clone());
    let logits = f.model.forward_embedded(&tape, &p, input, e, Mode::EVAL).unwrap();
    let ce = tape.cross_entropy(logits, &[label]).unwrap();
    tape.value(ce).unwrap().item().unwrap() as f64
}

#[test]
fn first_order_scores_are_directional_derivatives_on_the_one_hot_input() {
    // PyTorch's initial scale: smooth enough that a finite difference does
    // not cross a max-over-positions switch.
    // A model trained to depend on its characters, so that the scores are
    // large next to the finite differences' rounding error.
    // Widths 2 and 3 only: with words of 4 or more characters no window is
    // all PAD twice, so the max over positions has no tie (a kink a
    // finite difference would straddle) at the point of evaluation.
    let f = trained_fixture(7, &[], &[2, 3]);
    let tok = Tokenizer::new(true);
    // A word longer than max_word_len − 1 = 5 exercises the unseen
    // character that a delete shifts in; a one-letter word cannot be deleted from.
    let doc = CharDoc::new("abcd hagdebf bbgh ccae", tok, 10);
    let input = Input::Chars(CharBatch::from_docs(&[doc.ids(&f.vocab.vocab)], 6, 10).unwrap());
    let Input::Chars(batch) = &input else { unreachable!() };
    let label = 1;
    let ev = evaluate(&f.model, &f.store, &input, &[Goal { label, target: None }], true).unwrap();
    let grads = ev.grads.unwrap();
    let table = f.store.get(f.model.embedding_param()).clone();
    let (allowed, chars) = char_table(&f);
    let vocab = &f.vocab.vocab;
    let char_id = |c: char| vocab.char_id(c);
    let t = ScoreTensors {
        grads: grads.data(),
        ids: &batch.ids,
        words: batch.words,
        positions: 6,
        dim: 3,
        table_t: &transpose(&table),
        allowed: &allowed,
        chars: &chars,
        char_id: &char_id,
    };
    let open = vec![true; doc.words.len()];
    let entries = [EntryRef { doc: &doc, group: 0, score: 0.0, open: &open }];
    let cands = score_all(&t, &entries);
    let ops: HashSet<CharOp> = cands.iter().map(|c| c.edit.op).collect();
    assert_eq!(ops.len(), 3, "all three operations are scored");

    let tape = Tape::no_grad();
    let p = tape.bind_frozen(&f.store);
    let e0 = tape.value(f.model.embed(&tape, &p, &input).unwrap()).unwrap();
    let (l, d) = (6, 3);
    let h = 2e-3f32;
    for c in &cands {
        // The edit's direction in embedding space: E_new − E_old at every
        // position whose character changes, over their number.
        let after = doc.apply(&c.edit).unwrap();
        let ids_after = CharBatch::from_docs(&[after.ids(vocab)], 6, 10).unwrap().ids;
        let w = c.edit.word;
        let mut dir = vec![0.0f32; e0.numel()];
        let mut n = 0;
        for j in 0..l {
            let (old, new) = (batch.ids[w * l + j], ids_after[w * l + j]);
            if old != new {
                n += 1;
                for k in 0..d {
                    dir[(w * l + j) * d + k] = table.data()[new * d + k] - table.data()[old * d + k];
                }
            }
        }
        assert!(n > 0, "{:?} changes nothing the model sees", c.edit);
        let shifted = |s: f32| {
            let v: Vec<f32> = e0.data().iter().zip(&dir).map(|(e, u)| e + s * u / n as f32).collect();
            Tensor::new(e0.shape(), v).unwrap()
        };
        let (up, mid, down) = (
            loss_at(&f, &input, &shifted(h), label),
            loss_at(&f, &input, &shifted(0.0), label),
            loss_at(&f, &input, &shifted(-h), label),
        );
        let fd = (up - down) / (2.0 * h as f64);
        let close = (fd as f32 - c.gain).abs() <= 5e-4 + 2e-2 * (fd as f32).abs().max(c.gain.abs());
        assert!(
            close,
            "{:?}: first-order score {} vs finite difference {fd} (one-sided {} / {})",
            c.edit,
            c.gain,
            (up - mid) / h as f64,
            (mid - down) / h as f64
        );
    }
    let big = cands.iter().filter(|c| c.gain.abs() > 0.05).count();
    assert!(big > cands.len() / 4, "scores too small to test anything ({big} of {} above 0.05)", cands.len());
    assert!(cands.len() > 100, "only {} edits scored", cands.len());
}

#[test]
fn fused_top_b_equals_materialise_and_sort() {
    let f = fixture(3, &[]);
    let tok = Tokenizer::new(true);
    let mut rng = Rng::new(11);
    let mut docs: Vec<CharDoc> = (0..6)
        .map(|_| {
            let n = 4 + rng.below(5);
            CharDoc::new(&random_text(&mut rng, n), tok, 10)
        })
        .collect();
    docs[1].changed[0] = true;
    let ids: Vec<Vec<Vec<usize>>> = docs.iter().map(|d| d.ids(&f.vocab.vocab)).collect();
    let batch = CharBatch::from_docs(&ids, 6, 10).unwrap();
    let grads: Vec<f32> = (0..batch.batch * batch.words * 6 * 3).map(|_| rng.normal()).collect();
    let table = f.store.get(f.model.embedding_param()).clone();
    let (allowed, chars) = char_table(&f);
    let vocab = &f.vocab.vocab;
    let char_id = |c: char| vocab.char_id(c);
    let t = ScoreTensors {
        grads: &grads,
        ids: &batch.ids,
        words: batch.words,
        positions: 6,
        dim: 3,
        table_t: &transpose(&table),
        allowed: &allowed,
        chars: &chars,
        char_id: &char_id,
    };
    let opens: Vec<Vec<bool>> = docs.iter().map(|d| d.changed.iter().map(|c| !c).collect()).collect();
    let entries: Vec<EntryRef<'_>> = docs
        .iter()
        .enumerate()
        .map(|(i, d)| EntryRef { doc: d, group: i % 2, score: i as f32 * 0.1, open: &opens[i] })
        .collect();
    let forbidden = |d: &CharDoc, e: &CharEdit| d.edited_word(e).is_none_or(|w| w.contains(&'h'));
    for keep in [1, 3, 10] {
        let a = top_children(&t, &entries, 2, keep, &forbidden);
        let b = top_children_by_sorting(&t, &entries, 2, keep, &forbidden);
        assert_eq!(a, b, "keep {keep}");
        assert!(a.iter().all(|g| g.len() == keep));
        for g in &a {
            assert!(g.windows(2).all(|w| w[0].total >= w[1].total), "best first");
            assert!(g.iter().all(|c| !forbidden(entries[c.entry].doc, &c.edit)));
            assert!(g.iter().all(|c| opens[c.entry][c.edit.word]), "a closed word was edited");
        }
    }
}

/// Every document reachable with `depth` allowed edits.
fn reachable(
    attacker_docs: Vec<CharDoc>,
    f: &Fixture,
    forbid: &HashSet<String>,
    allowed_chars: &[char],
) -> Vec<CharDoc> {
    let mut out = HashSet::new();
    for d in attacker_docs {
        let open: Vec<bool> = d.changed.iter().map(|c| !c).collect();
        for e in all_edits(&d, &open, 6, allowed_chars) {
            let Some(w) = d.edited_word(&e) else { continue };
            if forbid.contains(&w.iter().collect::<String>()) {
                continue;
            }
            out.insert(d.apply(&e).unwrap());
        }
    }
    let _ = f;
    out.into_iter().collect()
}

#[test]
fn a_wide_enough_beam_is_exhaustive_search() {
    let vocab_words = ["abc", "bad", "cab", "dig"];
    let forbid: HashSet<String> = vocab_words.iter().map(|s| s.to_string()).collect();
    let (mut found_success, mut deep, mut failures) = (0, 0, 0);
    for seed in 0..8u64 {
        let f = trained_fixture(100 + seed, &vocab_words, &[1, 2, 3]);
        let tok = Tokenizer::new(true);
        let mut rng = Rng::new(seed);
        let allowed_chars: Vec<char> = ALPHABET.chars().collect();
        let mut tries = 0;
        // A short document near the decision boundary (top-2 margin < 0.05),
        // labelled with the model's own prediction so that it is attacked.
        let (text, doc, ev) = loop {
            tries += 1;
            assert!(tries < 10_000, "no document near the boundary");
            let text = random_text(&mut rng, 3);
            let doc = CharDoc::new(&text, tok, 10);
            let input = Input::Chars(CharBatch::from_docs(&[doc.ids(&f.vocab.vocab)], 6, 10).unwrap());
            let ev = evaluate(&f.model, &f.store, &input, &[Goal { label: 0, target: None }], false).unwrap();
            let mut p = ev.probs[0].clone();
            p.sort_by(|a, b| b.total_cmp(a));
            if p[0] - p[1] < 0.1 {
                break (text, doc, ev);
            }
        };
        let label = hotflip::train::argmax(&ev.probs[0]);
        let goal = Goal { label, target: None };
        let tau = 0.93;
        // Budget of exactly two changes.
        let budget = 2.0 / doc.n_chars() as f32 + 1e-4;
        let settings = Settings { beam: 100_000, tau, budget, ..Settings::default() };
        let attacker = CharAttacker::chars(&f.model, &f.store, &f.vocab, true, settings).unwrap();
        let r = attacker.attack(&[Task { index: 0, text: text.clone(), label }]).unwrap().remove(0);
        assert_eq!(r.max_changes, 2.min(doc.words.len()));

        // Exhaustive: the shallowest depth with an adversarial document, and
        // the most adversarial one there.
        let mut level = vec![doc.clone()];
        let mut exhaustive: Option<(usize, f32)> = None;
        for depth in 1..=r.max_changes {
            level = reachable(level, &f, &forbid, &allowed_chars);
            let mut best = 0.0f32;
            for chunk in level.chunks(256) {
                let ids: Vec<Vec<Vec<usize>>> = chunk.iter().map(|d| d.ids(&f.vocab.vocab)).collect();
                let input = Input::Chars(CharBatch::from_docs(&ids, 6, 10).unwrap());
                let ev = evaluate(&f.model, &f.store, &input, &vec![goal; chunk.len()], false).unwrap();
                for p in &ev.probs {
                    best = best.max(goal.adversarial(p));
                }
            }
            if best >= tau {
                exhaustive = Some((depth, best));
                break;
            }
        }
        match exhaustive {
            Some((depth, best)) => {
                found_success += 1;
                deep += (depth == 2) as usize;
                assert!(r.success, "seed {seed}: exhaustive search succeeds at depth {depth}, the beam does not");
                assert_eq!(r.changes.len(), depth, "seed {seed}");
                assert!((r.adv_prob - best).abs() < 1e-5, "seed {seed}: {} vs {best}", r.adv_prob);
            }
            None => {
                failures += 1;
                assert!(!r.success, "seed {seed}: the beam found what exhaustive search did not");
            }
        }
    }
    // The cases must cover success after one change, after two, and failure.
    assert!(
        found_success > deep && deep > 0 && failures > 0,
        "{found_success} successes ({deep} at depth 2), {failures} failures"
    );
}

#[test]
fn constraints_hold_on_random_inputs() {
    let vocab_words: Vec<String> = {
        let mut rng = Rng::new(5);
        let set: std::collections::BTreeSet<String> = (0..200).map(|_| random_text(&mut rng, 1)).collect();
        set.into_iter().collect()
    };
    let refs: Vec<&str> = vocab_words.iter().map(String::as_str).collect();
    let forbid: HashSet<&str> = refs.iter().copied().collect();
    let alphabet: HashSet<String> = ALPHABET.chars().map(String::from).collect();
    for (k, method) in [Method::HotFlip, Method::RandomGrad, Method::LossBeam, Method::Random].into_iter().enumerate() {
        let f = fixture(20 + k as u64, &refs);
        let mut rng = Rng::new(40 + k as u64);
        let tasks: Vec<Task> = (0..12)
            .map(|i| {
                let n = 2 + rng.below(8);
                Task { index: i, text: random_text(&mut rng, n), label: rng.below(3) }
            })
            .collect();
        for (multi, budget) in [(false, 0.1), (true, 0.3)] {
            let settings = Settings {
                method,
                beam: if method == Method::LossBeam { 2 } else { 4 },
                tau: 0.9,
                budget,
                one_change_per_word: !multi,
                seed: k as u64,
                ..Settings::default()
            };
            let attacker = CharAttacker::chars(&f.model, &f.store, &f.vocab, true, settings).unwrap();
            let results = attacker.attack(&tasks).unwrap();
            assert_eq!(results.len(), tasks.len());
            for r in results.iter().filter(|r| !r.skipped) {
                assert!(r.changes.len() <= r.max_changes, "{method:?}: over budget");
                assert!(r.max_changes <= ((budget * r.n_chars as f32).floor() as usize).max(1));
                let words: Vec<usize> = r.changes.iter().map(|c| c.word).collect();
                if !multi {
                    let distinct: HashSet<usize> = words.iter().copied().collect();
                    assert_eq!(distinct.len(), words.len(), "{method:?}: a word changed twice");
                }
                for c in &r.changes {
                    assert!(
                        !forbid.contains(c.word_after.as_str()),
                        "{method:?}: produced training word {}",
                        c.word_after
                    );
                    if c.op != "delete" {
                        assert!(alphabet.contains(&c.to), "{method:?}: inserted `{}`", c.to);
                    }
                    assert!(!c.word_after.is_empty());
                }
                assert_eq!(r.adv_text.split_whitespace().count(), r.orig_text.split_whitespace().count());
            }
        }
    }
}
