//! Word-level HotFlip: scores against finite differences, the four
//! constraints on every change, and the UNK attack.

use hotflip::attack::oracle::{evaluate, Goal};
use hotflip::attack::{BeamSearch, ScoreEntry, Settings, Space, Task, WordConstraints, WordMode, WordSpace};
use hotflip::data::{Vocab, VocabKind};
use hotflip::lexicon::{same_lexeme, PosTagger, StopWords, Upos};
use hotflip::models::{Input, Mode, Model, ModelConfig, WordCnnConfig};
use hotflip::nn::ParamStore;
use hotflip::{Rng, Tape, Tensor};

const WORDS: [&str; 16] = [
    "good", "great", "fine", "bad", "awful", "poor", "movie", "film", "the", "and", "quickly", "slowly", "acting",
    "acted", "plot", "story",
];

/// "-ly" words are adverbs, the rest nouns: enough to see the POS check work.
struct Toy;
impl PosTagger for Toy {
    fn tag(&self, tokens: &[&str]) -> Vec<Upos> {
        tokens.iter().map(|t| if t.ends_with("ly") { Upos::Adv } else { Upos::Noun }).collect()
    }
}

fn model(seed: u64) -> (Model, ParamStore, Vocab) {
    let vocab = Vocab::from_tokens(VocabKind::Words, WORDS.iter().map(|s| s.to_string()).collect()).unwrap();
    let cfg = ModelConfig::WordCnn(WordCnnConfig {
        vocab: vocab.len(),
        n_classes: 2,
        embed_dim: 4,
        kernel_widths: vec![1, 2],
        kernel_filters: vec![3, 3],
        dropout: 0.0,
        max_words: 12,
    });
    let mut store = ParamStore::new();
    let m = Model::new(&cfg, &mut store, &mut Rng::new(seed)).unwrap();
    // Make "good"/"great"/"fine" and "bad"/"awful"/"poor" near-duplicates so
    // that the cosine constraint lets something through.
    let id = m.embedding_param();
    let mut e = store.get(id).clone();
    let d = 4;
    let row = |w: &str| vocab.id(w);
    for (a, b) in [("good", "great"), ("good", "fine"), ("bad", "awful"), ("bad", "poor"), ("acting", "acted")] {
        let (ra, rb) = (row(a), row(b));
        let src: Vec<f32> = e.data()[ra * d..(ra + 1) * d].to_vec();
        for (k, v) in src.iter().enumerate() {
            e.data_mut()[rb * d + k] = v * 1.1 + 0.05;
        }
    }
    store.set(id, e).unwrap();
    (m, store, vocab)
}

#[test]
fn word_flip_scores_are_directional_derivatives() {
    let (m, mut store, vocab) = model(1);
    // ReLU outputs of exactly 0 tie in the max over time, a kink a finite
    // difference straddles; a large positive bias keeps every unit active.
    for name in ["convs.0.bias", "convs.1.bias"] {
        let id = store.id(name).unwrap();
        let n = store.get(id).numel();
        store.set(id, Tensor::full(&[n], 5.0)).unwrap();
    }
    let space = WordSpace::new(
        &m,
        &store,
        &vocab,
        true,
        WordMode::Flip,
        WordConstraints { cosine: None, pos: None, stopwords: None, distinct_lexemes: false },
        &Settings::default(),
    )
    .unwrap();
    // No repeated word: two equal windows would tie in the max over time.
    let doc = space.parse("the movie was good and acting quickly bad");
    let input = space.input(&[&doc]).unwrap();
    let goal = Goal { label: 1, target: None };
    let ev = evaluate(&m, &store, &input, &[goal], true).unwrap();
    let entries = [ScoreEntry { doc: &doc, group: 0, score: 0.0, active: true }];
    let kids = space.children(ev.grads.as_ref().unwrap().data(), &entries, 1, 10_000).unwrap().remove(0);
    assert!(kids.len() > 50);
    let Input::Words(batch) = &input else { unreachable!() };
    let table = store.get(m.embedding_param()).clone();
    let tape = Tape::no_grad();
    let p = tape.bind_frozen(&store);
    let e0 = tape.value(m.embed(&tape, &p, &input).unwrap()).unwrap();
    let loss = |e: &Tensor| {
        let t = Tape::no_grad();
        let p = t.bind_frozen(&store);
        let logits = m.forward_embedded(&t, &p, &input, t.constant(e.clone()), Mode::EVAL).unwrap();
        t.value(t.cross_entropy(logits, &[1]).unwrap()).unwrap().item().unwrap() as f64
    };
    let d = 4;
    let h = 1e-3f32;
    for k in &kids {
        let (i, cur) = (k.edit.pos, batch.ids[k.edit.pos]);
        let at = |s: f32| {
            let mut v = e0.data().to_vec();
            for c in 0..d {
                v[i * d + c] += s * (table.data()[k.edit.to * d + c] - table.data()[cur * d + c]);
            }
            Tensor::new(e0.shape(), v).unwrap()
        };
        let fd = ((loss(&at(h)) - loss(&at(-h))) / (2.0 * h as f64)) as f32;
        assert!((fd - k.gain).abs() <= 1e-3 + 2e-2 * fd.abs().max(k.gain.abs()), "{:?}: {} vs {fd}", k.edit, k.gain);
    }
}

#[test]
fn every_flip_meets_the_four_constraints() {
    for seed in 0..4 {
        let (m, store, vocab) = model(seed);
        let settings = Settings { tau: 0.5, max_changes: Some(2), beam: 5, ..Settings::default() };
        let wc = WordConstraints {
            cosine: Some(0.8),
            pos: Some(Box::new(Toy)),
            stopwords: Some(StopWords::english()),
            distinct_lexemes: true,
        };
        let space = WordSpace::new(&m, &store, &vocab, true, WordMode::Flip, wc, &settings).unwrap();
        let unit = |w: &str| {
            let e = store.get(m.embedding_param());
            let r = vocab.id(w);
            let v = &e.data()[r * 4..(r + 1) * 4];
            let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.iter().map(|x| x / n).collect::<Vec<f32>>()
        };
        let doc = space.parse("the good movie and the awful plot acting quickly fine");
        let edits = space.edits(&doc);
        assert!(!edits.is_empty(), "the near-duplicates must allow some flips");
        let stop = StopWords::english();
        for e in &edits {
            let (from, to) = (doc.words[e.pos].as_str(), vocab.token(e.to).unwrap());
            let cos: f32 = unit(from).iter().zip(unit(to)).map(|(a, b)| a * b).sum();
            assert!(cos > 0.8, "{from} → {to}: cosine {cos}");
            assert!(!stop.contains(from) && !stop.contains(to));
            assert!(!same_lexeme(from, to), "{from} → {to}");
            assert_eq!(from.ends_with("ly"), to.ends_with("ly"), "POS changed: {from} → {to}");
        }
        assert!(edits.iter().all(|e| doc.words[e.pos] != "acting" || vocab.token(e.to) != Some("acted")), "same stem");
        let attacker = BeamSearch::new(&m, &store, space, settings).unwrap();
        let tasks: Vec<Task> =
            (0..2).map(|l| Task { index: l, text: "the good movie and the awful plot".into(), label: l }).collect();
        for r in attacker.attack(&tasks).unwrap().into_iter().filter(|r| !r.skipped) {
            assert!(r.changes.len() <= 2);
            for c in &r.changes {
                assert_eq!(c.op, "word");
                assert!(!stop.contains(&c.from) && !stop.contains(&c.to));
            }
        }
    }
}

#[test]
fn unk_attack_replaces_one_word_by_a_legible_unknown_word() {
    let (m, store, vocab) = model(2);
    let settings = Settings { tau: 0.5, max_changes: Some(1), ..Settings::default() };
    let wc = WordConstraints { cosine: None, pos: None, stopwords: None, distinct_lexemes: false };
    let space = WordSpace::new(&m, &store, &vocab, true, WordMode::Unk, wc, &settings).unwrap();
    let doc = space.parse("the good movie");
    let edits = space.edits(&doc);
    assert_eq!(edits.len(), 3);
    assert!(edits.iter().all(|e| e.to == Vocab::UNK));
    let attacker = BeamSearch::new(&m, &store, space, settings).unwrap();
    let texts = ["the good movie and the plot", "awful film quickly", "bad acting and poor story"];
    let tasks: Vec<Task> = texts
        .iter()
        .enumerate()
        .flat_map(|(i, t)| (0..2).map(move |l| Task { index: 2 * i + l, text: t.to_string(), label: l }))
        .collect();
    let results = attacker.attack(&tasks).unwrap();
    let attacked: Vec<_> = results.iter().filter(|r| !r.skipped).collect();
    assert_eq!(attacked.len(), texts.len(), "exactly one label per text is the prediction");
    for r in attacked {
        assert!(r.changes.len() <= 1);
        for c in &r.changes {
            assert_eq!(c.op, "unk");
            assert!(vocab.get(&c.to).is_none(), "`{}` must be out of vocabulary", c.to);
            assert!(r.adv_text.split_whitespace().any(|w| w == c.to));
        }
    }
}

/// A word_cnn over `WORDS` and `extra` made-up words, embeddings as drawn.
fn wide_model(seed: u64, extra: usize) -> (Model, ParamStore, Vocab) {
    let words: Vec<String> = WORDS.iter().map(|s| s.to_string()).chain((0..extra).map(|i| format!("x{i}"))).collect();
    let vocab = Vocab::from_tokens(VocabKind::Words, words).unwrap();
    let cfg = ModelConfig::WordCnn(WordCnnConfig {
        vocab: vocab.len(),
        n_classes: 2,
        embed_dim: 5,
        kernel_widths: vec![1, 2],
        kernel_filters: vec![3, 3],
        dropout: 0.0,
        max_words: 12,
    });
    let mut store = ParamStore::new();
    let m = Model::new(&cfg, &mut store, &mut Rng::new(seed)).unwrap();
    (m, store, vocab)
}

/// `children` keeps only each entry's best few scored edits and scores
/// crowded positions all at once: its answer must be, edit for edit and bit
/// for bit, the best distinct documents of a full ranking of every allowed
/// edit of every entry, each scored by one dot product at a time.
#[test]
fn children_are_the_best_distinct_documents_of_a_full_ranking() {
    // 16 words: every position is scored all at once. 216 words under a
    // tight cosine threshold: most positions have a handful of candidates
    // and are scored one at a time, a few have many.
    for (extra, cosine) in [(0, None), (200, Some(0.9)), (200, Some(0.3))] {
        for seed in 0..3 {
            let (m, store, vocab) = wide_model(seed, extra);
            let wc =
                WordConstraints { cosine, pos: None, stopwords: Some(StopWords::english()), distinct_lexemes: false };
            let space = WordSpace::new(&m, &store, &vocab, true, WordMode::Flip, wc, &Settings::default()).unwrap();
            let text =
                if extra == 0 { "the good movie and awful plot acting" } else { "x1 good x7 movie x30 the x99 plot" };
            let d0 = space.parse(text);
            let edits = space.edits(&d0);
            assert!(edits.len() >= 2, "extra {extra}, cosine {cosine:?}: too few edits");
            let d1 = space.apply(&d0, &edits[0]).unwrap();
            let second = edits.iter().find(|e| e.pos != edits[0].pos).unwrap();
            let d2 = space.apply(&d0, second).unwrap();
            // Group 0: the original and two children (whose own children
            // meet again: d1 + second == d2 + edits[0]); group 1: the
            // original alone; last, a finished entry.
            let docs = [&d0, &d1, &d2, &d0, &d1];
            let meta = [(0, 0.0, true), (0, 0.3, true), (0, 0.1, true), (1, 0.0, true), (0, 0.0, false)];
            let input = space.input(&docs).unwrap();
            let goals = vec![Goal { label: 0, target: None }; docs.len()];
            let ev = evaluate(&m, &store, &input, &goals, true).unwrap();
            let g = ev.grads.as_ref().unwrap().data();
            let entries: Vec<ScoreEntry<'_, _>> = docs
                .iter()
                .zip(meta)
                .map(|(doc, (group, score, active))| ScoreEntry { doc: *doc, group, score, active })
                .collect();
            let keep = 7;
            let got = space.children(g, &entries, 2, keep).unwrap();
            let Input::Words(batch) = &input else { unreachable!() };
            let dim = 5;
            let table = store.get(m.embedding_param()).data().to_vec();
            let dot = |k: usize, pos: usize, j: usize| -> f32 {
                let row = &g[(k * batch.len + pos) * dim..(k * batch.len + pos + 1) * dim];
                row.iter().zip(&table[j * dim..(j + 1) * dim]).map(|(a, b)| a * b).sum()
            };
            for (group, kids) in got.iter().enumerate() {
                let mut all = Vec::new();
                for (k, e) in entries.iter().enumerate().filter(|(_, e)| e.active && e.group == group) {
                    for ed in space.edits(e.doc) {
                        let gain = dot(k, ed.pos, ed.to) - dot(k, ed.pos, e.doc.ids[ed.pos]);
                        all.push((e.score + gain, k, ed, gain));
                    }
                }
                all.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
                let mut seen = std::collections::HashSet::new();
                let want: Vec<_> = all
                    .into_iter()
                    .filter(|(_, k, ed, _)| seen.insert(space.apply(entries[*k].doc, ed).unwrap()))
                    .take(keep)
                    .collect();
                let label = format!("extra {extra}, cosine {cosine:?}, seed {seed}, group {group}");
                assert_eq!(kids.len(), want.len(), "{label}");
                for (c, w) in kids.iter().zip(&want) {
                    assert_eq!((c.entry, c.edit), (w.1, w.2), "{label}");
                    assert_eq!((c.gain.to_bits(), c.total.to_bits()), (w.3.to_bits(), w.0.to_bits()), "{label}");
                }
            }
        }
    }
}
