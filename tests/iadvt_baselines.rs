//! iAdvT-Rand and iAdvT-Best (Sato et al. Table 3) through the training
//! objective: each position's perturbation lies along ONE of its K nearest
//! words' directions (for Best the one a brute-force search finds most
//! aligned with the loss gradient), with norm ε per example.

use hotflip::adv::{EmbeddingAdversary, EmbeddingMethod};
use hotflip::models::{Input, LstmTextConfig, Mode, Model, ModelConfig, WordBatch};
use hotflip::nn::ParamStore;
use hotflip::train::{Batch, Objective, StepContext, Targets};
use hotflip::{Rng, Tape, Tensor};

const K: usize = 4;

fn model() -> (Model, ParamStore) {
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
    let m = Model::new(&ModelConfig::LstmClassifier(cfg), &mut store, &mut Rng::new(11)).unwrap();
    (m, store)
}

fn batch() -> Batch {
    let sents = vec![vec![2, 5, 9, 11], vec![7, 3], vec![20, 21, 22, 23, 24, 2]];
    Batch {
        input: Input::Words(WordBatch::from_sentences(&sents, 10, 1).unwrap()),
        targets: Targets::Classes(vec![0, 1, 1]),
        members: vec![0, 1, 2],
    }
}

/// Per real position: the K nearest other words' unit directions (brute
/// force), the loss gradient there, and the perturbation row.
struct Position {
    dirs: Vec<Vec<f32>>,
    g: Vec<f32>,
    r: Vec<f32>,
}

fn positions(method: EmbeddingMethod, seed: u64) -> (Vec<Vec<Position>>, f32) {
    let (m, s) = model();
    let b = batch();
    let Input::Words(x) = &b.input else { unreachable!() };
    let adv = EmbeddingAdversary { neighbours: K, epsilon: 3.0, ..EmbeddingAdversary::paper(method, seed) };
    let c = StepContext { model: &m, store: &s, mode: Mode::EVAL, step: 5 };
    let (e, r) = adv.perturbation_of(&c, &b).unwrap();
    let tape = Tape::new();
    let p = tape.bind_frozen(&s);
    let table = tape.value(m.word_table(&tape, &p).unwrap().unwrap()).unwrap();
    let leaf = tape.leaf(e.clone());
    let logits = m.forward_embedded(&tape, &p, &b.input, leaf, Mode::EVAL).unwrap();
    let loss = tape.cross_entropy(logits, &[0, 1, 1]).unwrap();
    let g: Tensor = tape.backward(loss).unwrap().get(leaf).unwrap().clone();
    let (v, d) = (table.shape()[0], table.shape()[1]);
    let mut out = Vec::new();
    for (bi, &l) in x.lengths.iter().enumerate() {
        let mut ex = Vec::new();
        for t in 0..l {
            let at = (bi * x.len + t) * d;
            let w = &e.data()[at..at + d];
            let id = x.ids[bi * x.len + t];
            let row = |k: usize| &table.data()[k * d..(k + 1) * d];
            let dist = |k: usize| row(k).iter().zip(w).map(|(a, b)| (a - b).powi(2)).sum::<f32>();
            let mut cands: Vec<usize> = (2..v).filter(|&k| k != id).collect();
            cands.sort_by(|&a, &b| dist(a).total_cmp(&dist(b)));
            let dirs = cands[..K]
                .iter()
                .map(|&k| {
                    let dv: Vec<f32> = row(k).iter().zip(w).map(|(a, b)| a - b).collect();
                    let n = dv.iter().map(|a| a * a).sum::<f32>().sqrt();
                    dv.iter().map(|a| a / n).collect()
                })
                .collect();
            ex.push(Position { dirs, g: g.data()[at..at + d].to_vec(), r: r.data()[at..at + d].to_vec() });
        }
        out.push(ex);
    }
    (out, adv.epsilon)
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Which of the position's K directions `r` is parallel to (cos > 1 − 1e-4;
/// with `either_sign`, |cos|: iAdvT's α, hence Best's, may point away).
fn along(p: &Position, either_sign: bool) -> Option<usize> {
    let nr = dot(&p.r, &p.r).sqrt();
    p.dirs.iter().position(|d| {
        let c = dot(d, &p.r) / nr;
        (if either_sign { c.abs() } else { c }) > 1.0 - 1e-4
    })
}

fn norm_per_example(ex: &[Position]) -> f32 {
    ex.iter().map(|p| dot(&p.r, &p.r)).sum::<f32>().sqrt()
}

#[test]
fn iadvt_best_follows_the_single_most_loss_raising_neighbour() {
    let (all, eps) = positions(EmbeddingMethod::IAdvTBest, 0);
    for ex in &all {
        assert!((norm_per_example(ex) - eps).abs() < 1e-3);
        for p in ex {
            let scores: Vec<f32> = p.dirs.iter().map(|d| dot(d, &p.g)).collect();
            let best = (0..K).max_by(|&a, &b| scores[a].total_cmp(&scores[b])).unwrap();
            assert_eq!(along(p, true), Some(best), "scores {scores:?}");
            // α keeps ĝ's sign, so r raises the loss to first order.
            assert!(dot(&p.r, &p.g) >= 0.0);
        }
    }
}

#[test]
fn iadvt_rand_picks_one_of_the_k_nearest_whatever_the_gradient() {
    let mut picks = std::collections::HashSet::new();
    for seed in 0..3 {
        let (all, eps) = positions(EmbeddingMethod::IAdvTRand, seed);
        for ex in &all {
            assert!((norm_per_example(ex) - eps).abs() < 1e-3);
            for p in ex {
                picks.insert(along(p, false).expect("r_t is along one nearest-word direction"));
            }
        }
    }
    assert!(picks.len() > 1, "random picks never vary: {picks:?}");
    // Full iAdvT mixes directions: its rows are along no single one.
    let (full, _) = positions(EmbeddingMethod::IAdvT, 0);
    assert!(full.iter().flatten().any(|p| along(p, true).is_none()));
}

#[test]
fn both_train_with_finite_losses_and_every_gradient() {
    let (m, s) = model();
    let b = batch();
    let c = StepContext { model: &m, store: &s, mode: Mode::train(3), step: 1 };
    let trainable = s.ids().filter(|&i| s.trainable(i)).count();
    for method in [EmbeddingMethod::IAdvTRand, EmbeddingMethod::IAdvTBest] {
        let mut o = EmbeddingAdversary::paper(method, 1);
        assert_eq!(o.epsilon, 15.0, "the iAdvT family's ε");
        let r = o.step(&c, &b).unwrap();
        assert!(r.loss.is_finite());
        assert_eq!(r.grads.iter().filter(|g| g.is_some()).count(), trainable);
        assert!(o.name().starts_with(method.name()));
    }
}
