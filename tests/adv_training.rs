//! Adversarial training: the perturbations against their definitions, the
//! power-iteration gradient against finite differences, every objective's
//! step, and a tiny task where HotFlip adversarial training makes the model
//! harder to attack.

use hotflip::adv::{EmbeddingAdversary, EmbeddingMethod, FlipKind, FlipTraining};
use hotflip::attack::{CharAttacker, Settings, Task};
use hotflip::data::{ModelVocab, Vocab, VocabKind};
use hotflip::models::{CharBatch, CharCnnLstmConfig, Input, LstmTextConfig, Mode, Model, ModelConfig, WordBatch};
use hotflip::nn::ParamStore;
use hotflip::optim::{Adam, AdamConfig, Optimizer};
use hotflip::train::{Batch, Objective, Plain, StepContext, Targets};
use hotflip::{Rng, Tape, Tensor};

fn lstm_model(seed: u64) -> (Model, ParamStore) {
    let cfg = LstmTextConfig {
        vocab: 30,
        n_classes: 2,
        embed_dim: 5,
        lstm_hidden: 6,
        ffnn_dim: 4,
        normalize_embeddings: true,
        dropout: 0.0,
        max_words: 10,
    };
    let mut store = ParamStore::new();
    let m = Model::new(&ModelConfig::LstmClassifier(cfg), &mut store, &mut Rng::new(seed)).unwrap();
    (m, store)
}

fn word_batch() -> Batch {
    let sents = vec![vec![2, 5, 9, 11], vec![7, 3], vec![20, 21, 22, 23, 24, 2]];
    Batch {
        input: Input::Words(WordBatch::from_sentences(&sents, 10, 1).unwrap()),
        targets: Targets::Classes(vec![0, 1, 1]),
        members: vec![0, 1, 2],
    }
}

fn ctx<'a>(m: &'a Model, s: &'a ParamStore) -> StepContext<'a> {
    StepContext { model: m, store: s, mode: Mode::EVAL, step: 3 }
}

fn per_example_norms(r: &Tensor, x: &WordBatch) -> Vec<f64> {
    let d = r.shape()[2];
    r.data().chunks(x.len * d).map(|b| b.iter().map(|&v| v as f64 * v as f64).sum::<f64>().sqrt()).collect()
}

#[test]
fn advt_is_epsilon_times_the_normalised_gradient() {
    let (m, s) = lstm_model(1);
    let batch = word_batch();
    let Input::Words(x) = &batch.input else { unreachable!() };
    let adv = EmbeddingAdversary { epsilon: 2.0, ..EmbeddingAdversary::paper(EmbeddingMethod::AdvT, 0) };
    let (e, r) = adv.perturbation_of(&ctx(&m, &s), &batch).unwrap();
    for n in per_example_norms(&r, x) {
        assert!((n - 2.0).abs() < 1e-4, "norm {n}");
    }
    // The direction is the gradient's, computed here independently.
    let tape = Tape::new();
    let p = tape.bind_frozen(&s);
    let leaf = tape.leaf(e.clone());
    let logits = m.forward_embedded(&tape, &p, &batch.input, leaf, Mode::EVAL).unwrap();
    let loss = tape.cross_entropy(logits, &[0, 1, 1]).unwrap();
    let g = tape.backward(loss).unwrap().get(leaf).unwrap().clone();
    let d = e.shape()[2];
    for (rb, gb) in r.data().chunks(x.len * d).zip(g.data().chunks(x.len * d)) {
        let dot: f64 = rb.iter().zip(gb).map(|(a, b)| *a as f64 * *b as f64).sum();
        let ng = gb.iter().map(|&v| v as f64 * v as f64).sum::<f64>().sqrt();
        assert!((dot / (2.0 * ng) - 1.0).abs() < 1e-4, "not parallel to the gradient");
    }
    // Padding rows are never perturbed.
    for (b, &l) in x.lengths.iter().enumerate() {
        for t in l..x.len {
            assert!(r.data()[(b * x.len + t) * d..(b * x.len + t + 1) * d].iter().all(|&v| v == 0.0));
        }
    }
}

#[test]
fn vat_power_iteration_gradient_matches_finite_differences() {
    let (m, s) = lstm_model(2);
    let batch = word_batch();
    let vat = EmbeddingAdversary::paper(EmbeddingMethod::Vat, 0);
    let c = ctx(&m, &s);
    let tape = Tape::no_grad();
    let p = tape.bind_frozen(&s);
    let e = tape.value(m.embed(&tape, &p, &batch.input).unwrap()).unwrap();
    let p_logits =
        tape.value(m.forward_embedded(&tape, &p, &batch.input, tape.constant(e.clone()), Mode::EVAL).unwrap()).unwrap();
    let mut rng = Rng::new(5);
    let r0 = Tensor::randn(e.shape(), 0.3, &mut rng);
    let g = vat.kl_gradient_at(&c, &batch, &r0).unwrap();
    let kl = |r: &Tensor| -> f64 {
        let t = Tape::no_grad();
        let p = t.bind_frozen(&s);
        let x = t.add(t.constant(e.clone()), t.constant(r.clone())).unwrap();
        let q = m.forward_embedded(&t, &p, &batch.input, x, Mode::EVAL).unwrap();
        let kl = t.kl_div(t.constant(p_logits.clone()), q).unwrap();
        t.value(kl).unwrap().item().unwrap() as f64
    };
    for seed in 0..4 {
        let u = Tensor::randn(e.shape(), 1.0, &mut Rng::new(100 + seed));
        let h = 1e-2f32;
        let shift = |sg: f32| {
            Tensor::new(e.shape(), r0.data().iter().zip(u.data()).map(|(a, b)| a + sg * h * b).collect()).unwrap()
        };
        let fd = (kl(&shift(1.0)) - kl(&shift(-1.0))) / (2.0 * h as f64);
        let an: f64 = g.data().iter().zip(u.data()).map(|(a, b)| *a as f64 * *b as f64).sum();
        assert!((fd - an).abs() < 1e-3 + 2e-2 * fd.abs(), "directional derivative {an} vs finite difference {fd}");
    }
}

#[test]
fn iadvt_with_one_neighbour_points_at_the_nearest_word() {
    let (m, s) = lstm_model(3);
    let batch = word_batch();
    let Input::Words(x) = &batch.input else { unreachable!() };
    let adv =
        EmbeddingAdversary { neighbours: 1, epsilon: 3.0, ..EmbeddingAdversary::paper(EmbeddingMethod::IAdvT, 0) };
    let (e, r) = adv.perturbation_of(&ctx(&m, &s), &batch).unwrap();
    let tape = Tape::no_grad();
    let p = tape.bind_frozen(&s);
    let table = tape.value(m.word_table(&tape, &p).unwrap().unwrap()).unwrap();
    let (v, d) = (table.shape()[0], table.shape()[1]);
    for (b, &l) in x.lengths.iter().enumerate() {
        let mut sq = 0.0f64;
        for t in 0..l {
            let at = (b * x.len + t) * d;
            let (w, rt) = (&e.data()[at..at + d], &r.data()[at..at + d]);
            let id = x.ids[b * x.len + t];
            // Brute force: the nearest other real word.
            let dist =
                |k: usize| table.data()[k * d..(k + 1) * d].iter().zip(w).map(|(a, b)| (a - b).powi(2)).sum::<f32>();
            let nn = (2..v).filter(|&k| k != id).min_by(|&a, &b| dist(a).total_cmp(&dist(b))).unwrap();
            let dir: Vec<f32> = table.data()[nn * d..(nn + 1) * d].iter().zip(w).map(|(a, b)| a - b).collect();
            let (nd, nr) =
                (dir.iter().map(|a| a * a).sum::<f32>().sqrt(), rt.iter().map(|a| a * a).sum::<f32>().sqrt());
            if nr > 1e-6 {
                let cos = dir.iter().zip(rt).map(|(a, b)| a * b).sum::<f32>() / (nd * nr);
                assert!((cos.abs() - 1.0).abs() < 1e-4, "r_t is not along the nearest word's direction (cos {cos})");
            }
            sq += (nr as f64).powi(2);
        }
        // With K = 1, |α_t| = ‖r_t‖ and ‖α‖ = ε per example.
        assert!((sq.sqrt() - 3.0).abs() < 1e-3, "{}", sq.sqrt());
    }
}

#[test]
fn every_objective_steps_with_finite_losses_and_all_gradients() {
    let (m, s) = lstm_model(4);
    let batch = word_batch();
    let c = StepContext { model: &m, store: &s, mode: Mode::train(9), step: 1 };
    let trainable = s.ids().filter(|&i| s.trainable(i)).count();
    let plain = Plain.step(&c, &batch).unwrap().loss;
    for method in [
        EmbeddingMethod::AdvT,
        EmbeddingMethod::Vat,
        EmbeddingMethod::IAdvT,
        EmbeddingMethod::IVat,
        EmbeddingMethod::Random,
    ] {
        let mut o = EmbeddingAdversary::paper(method, 1);
        let r = o.step(&c, &batch).unwrap();
        assert!(r.loss.is_finite());
        assert_eq!(r.grads.iter().filter(|g| g.is_some()).count(), trainable, "{method:?}");
        let (clean, adv) = (r.parts[0].1, r.parts[1].1);
        assert!((clean - plain).abs() < 1e-5, "{method:?}: the clean term is the plain loss");
        assert!((r.loss - (clean + o.lambda * adv)).abs() < 1e-5);
        assert!(adv >= 0.0);
    }
    for kind in [FlipKind::WordSem, FlipKind::WordUnk] {
        let r = FlipTraining::paper(kind).step(&c, &batch).unwrap();
        assert!(r.loss.is_finite() && r.grads.iter().filter(|g| g.is_some()).count() == trainable);
    }
}

const ALPHA: &str = "abcdefgh";

fn random_text(rng: &mut Rng) -> String {
    let a: Vec<char> = ALPHA.chars().collect();
    let n = 3 + rng.below(4);
    (0..n).map(|_| (0..2 + rng.below(4)).map(|_| a[rng.below(8)]).collect::<String>()).collect::<Vec<_>>().join(" ")
}

/// Label: whether 'a' occurs more often than 'b'.
fn label(text: &str) -> usize {
    (text.matches('a').count() > text.matches('b').count()) as usize
}

fn train_char(objective: &mut dyn Objective, steps: usize) -> (Model, ParamStore, ModelVocab) {
    let chars = Vocab::from_tokens(VocabKind::Chars, ALPHA.chars().map(String::from).collect()).unwrap();
    let vocab = ModelVocab::new(chars, Some(Vocab::from_tokens(VocabKind::Words, vec!["zz".into()]).unwrap())).unwrap();
    let cfg = CharCnnLstmConfig {
        n_chars: vocab.vocab.len(),
        n_classes: 2,
        char_dim: 6,
        kernel_widths: vec![1, 2],
        kernel_filters: vec![8, 8],
        highway_layers: 1,
        lstm_hidden: 12,
        lstm_layers: 1,
        max_word_len: 8,
        max_words: 10,
        dropout: 0.0,
    };
    let mut store = ParamStore::new();
    let model = Model::new(&ModelConfig::CharCnnLstm(cfg), &mut store, &mut Rng::new(7)).unwrap();
    let mut opt = Adam::new(AdamConfig { lr: 0.01, decay: 1.0, ..AdamConfig::default() }).unwrap();
    let mut rng = Rng::new(11);
    for step in 0..steps {
        let texts: Vec<String> = (0..32).map(|_| random_text(&mut rng)).collect();
        let docs: Vec<Vec<Vec<usize>>> = texts
            .iter()
            .map(|t| t.split_whitespace().map(|w| w.chars().map(|c| vocab.vocab.char_id(c)).collect()).collect())
            .collect();
        let batch = Batch {
            input: Input::Chars(CharBatch::from_docs(&docs, 8, 10).unwrap()),
            targets: Targets::Classes(texts.iter().map(|t| label(t)).collect()),
            members: (0..32).collect(),
        };
        let ctx = StepContext { model: &model, store: &store, mode: Mode::train(step as u64), step: step as u64 };
        let r = objective.step(&ctx, &batch).unwrap();
        opt.step(&mut store, &r.grads).unwrap();
    }
    (model, store, vocab)
}

fn attack_success(model: &Model, store: &ParamStore, vocab: &ModelVocab) -> (f64, usize) {
    let mut rng = Rng::new(99);
    let tasks: Vec<Task> = (0..300)
        .map(|i| {
            let text = random_text(&mut rng);
            Task { index: i, label: label(&text), text }
        })
        .collect();
    let settings =
        Settings { beam: 5, tau: 0.5, max_changes: Some(1), forbid_training_words: false, ..Settings::default() };
    let attacker = CharAttacker::chars(model, store, vocab, true, settings).unwrap();
    let results = attacker.attack(&tasks).unwrap();
    let attacked: Vec<_> = results.iter().filter(|r| !r.skipped).collect();
    let wins = attacked.iter().filter(|r| r.success).count();
    (wins as f64 / attacked.len().max(1) as f64, attacked.len())
}

#[test]
fn hotflip_adversarial_training_makes_attacks_harder() {
    let (m0, s0, v0) = train_char(&mut Plain, 500);
    let mut flips = FlipTraining { fraction: 0.05, ..FlipTraining::paper(FlipKind::Chars) };
    let (m1, s1, v1) = train_char(&mut flips, 500);
    let (plain, n0) = attack_success(&m0, &s0, &v0);
    let (adv, n1) = attack_success(&m1, &s1, &v1);
    // Both models must have learned the task to be comparable.
    assert!(n0 > 200 && n1 > 200, "accuracy too low: {n0} and {n1} of 300 correct");
    assert!(adv < plain - 0.05, "one-change attack success: plain {plain:.3}, adversarially trained {adv:.3}");
}
