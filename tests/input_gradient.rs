//! `Model::input_gradient`: the gradient at the embedded input against
//! finite differences of the loss through `forward_embedded` (the smooth
//! LSTM model), against the finite-difference-checked table gradient (the
//! CNN models, whose max-pool kinks defeat finite differences on tiny
//! shapes), and the trained variant's weight gradients against a plain
//! backward pass.

use hotflip::models::{
    CharBatch, CharCnnLstmConfig, Input, LstmTextConfig, Mode, Model, ModelConfig, Weights, WordBatch, WordCnnConfig,
};
use hotflip::nn::ParamStore;
use hotflip::{Rng, Tape, Tensor};

fn model(cfg: ModelConfig, seed: u64) -> (Model, ParamStore) {
    let mut store = ParamStore::new();
    let m = Model::new(&cfg, &mut store, &mut Rng::new(seed)).unwrap();
    (m, store)
}

/// The loss at `embedded` (weights frozen, evaluation mode), in f64.
fn loss_at(m: &Model, store: &ParamStore, x: &Input, embedded: &Tensor, labels: &[usize]) -> f64 {
    let tape = Tape::no_grad();
    let p = tape.bind_frozen(store);
    let logits = m.forward_embedded(&tape, &p, x, tape.constant(embedded.clone()), Mode::EVAL).unwrap();
    tape.value(tape.cross_entropy(logits, labels).unwrap()).unwrap().item().unwrap() as f64
}

/// Central differences at every 3rd element (and the largest gradient)
/// must match the analytic input gradient. Only for smooth models: max-pool
/// and ReLU put kinks within any usable step of most elements of a tiny
/// CNN; `lookup_consistency` covers those.
fn check_against_finite_differences(name: &str, m: &Model, store: &ParamStore, x: &Input, labels: &[usize]) {
    let ig = m.input_gradient(store, x, Mode::EVAL, Weights::Frozen, |t, l| t.cross_entropy(l, labels)).unwrap();
    assert_eq!(ig.grad.shape(), ig.embedded.shape(), "{name}");
    assert!((ig.loss as f64 - loss_at(m, store, x, &ig.embedded, labels)).abs() < 1e-5, "{name}: loss");
    let g = ig.grad.data();
    assert!(g.iter().any(|v| v.abs() > 1e-4), "{name}: the gradient is all zero");
    let argmax = (0..g.len()).max_by(|&a, &b| g[a].abs().total_cmp(&g[b].abs())).unwrap();
    let shape = ig.embedded.shape();
    let fd = |i: usize, h: f32| {
        let mut plus = ig.embedded.data().to_vec();
        let mut minus = plus.clone();
        plus[i] += h;
        minus[i] -= h;
        (loss_at(m, store, x, &Tensor::new(shape, plus).unwrap(), labels)
            - loss_at(m, store, x, &Tensor::new(shape, minus).unwrap(), labels))
            / (2.0 * h as f64)
    };
    for i in (0..g.len()).step_by(3).chain([argmax]) {
        let n = fd(i, 1e-2);
        let err = (n - g[i] as f64).abs() / (1e-3 + n.abs().max(g[i].abs() as f64));
        assert!(err < 2e-2, "{name}: element {i}: analytic {} vs numeric {n}", g[i]);
    }
}

/// The embedding lookup's backward sums the input gradient over the
/// positions that read each row: so the trained pass's table gradient
/// (finite-difference checked in tests/grad_models.rs) must equal the input
/// gradient summed by id.
fn lookup_consistency(name: &str, m: &Model, store: &ParamStore, x: &Input, ids: &[usize], labels: &[usize]) {
    let ig = m.input_gradient(store, x, Mode::EVAL, Weights::Trained, |t, l| t.cross_entropy(l, labels)).unwrap();
    let table = store.get(m.embedding_param());
    let d = table.shape()[1];
    let mut want = vec![0.0f64; table.numel()];
    assert_eq!(ids.len() * d, ig.grad.numel(), "{name}");
    for (pos, &id) in ids.iter().enumerate() {
        for k in 0..d {
            want[id * d + k] += ig.grad.data()[pos * d + k] as f64;
        }
    }
    let k = store.ids().position(|id| id == m.embedding_param()).unwrap();
    let got = ig.weights[k].as_ref().expect("the table gets a gradient");
    assert!(ig.grad.data().iter().any(|v| v.abs() > 1e-4), "{name}: the gradient is all zero");
    // PAD's row gets no gradient by design (padding_idx).
    for (i, (&a, &b)) in got.data().iter().zip(&want).enumerate().skip(d) {
        assert!((a as f64 - b).abs() <= 1e-5 + 1e-4 * b.abs(), "{name}: table element {i}: {a} vs {b}");
    }
}

fn word_input(vocab: usize, min_len: usize, rng: &mut Rng) -> Input {
    let sents: Vec<Vec<usize>> =
        [5, 3, 7].iter().map(|&n| (0..n).map(|_| 2 + rng.below(vocab - 2)).collect()).collect();
    Input::Words(WordBatch::from_sentences(&sents, 10, min_len).unwrap())
}

#[test]
fn word_cnn_input_gradient_sums_to_the_table_gradient() {
    let cfg = WordCnnConfig {
        embed_dim: 6,
        kernel_widths: vec![1, 2],
        kernel_filters: vec![4, 4],
        ..WordCnnConfig::small(20, 3)
    };
    let (m, store) = model(ModelConfig::WordCnn(cfg), 1);
    let x = word_input(20, m.min_len(), &mut Rng::new(2));
    let Input::Words(b) = &x else { unreachable!() };
    lookup_consistency("word_cnn", &m, &store, &x, &b.ids.clone(), &[0, 2, 1]);
}

#[test]
fn lstm_classifier_input_gradient_matches_finite_differences() {
    let cfg = LstmTextConfig { embed_dim: 5, lstm_hidden: 4, ffnn_dim: 3, ..LstmTextConfig::small(20, 2) };
    let (m, store) = model(ModelConfig::LstmClassifier(cfg), 3);
    let x = word_input(20, m.min_len(), &mut Rng::new(4));
    check_against_finite_differences("lstm_classifier", &m, &store, &x, &[1, 0, 1]);
}

#[test]
fn char_model_input_gradient_sums_to_the_table_gradient() {
    let cfg = CharCnnLstmConfig {
        char_dim: 3,
        kernel_widths: vec![1, 2],
        kernel_filters: vec![3, 3],
        lstm_hidden: 4,
        max_word_len: 5,
        max_words: 6,
        ..CharCnnLstmConfig::small(9, 2)
    };
    let (m, store) = model(ModelConfig::CharCnnLstm(cfg), 5);
    let mut rng = Rng::new(6);
    let docs: Vec<Vec<Vec<usize>>> = [3, 2]
        .iter()
        .map(|&n| (0..n).map(|_| (0..1 + rng.below(4)).map(|_| 2 + rng.below(7)).collect()).collect())
        .collect();
    let x = Input::Chars(CharBatch::from_docs(&docs, 5, 6).unwrap());
    let Input::Chars(b) = &x else { unreachable!() };
    lookup_consistency("char_cnn_lstm", &m, &store, &x, &b.ids.clone(), &[1, 0]);
}

#[test]
fn trained_weights_give_the_same_input_gradient_and_the_plain_weight_gradients() {
    let cfg = WordCnnConfig {
        embed_dim: 6,
        kernel_widths: vec![1, 2],
        kernel_filters: vec![4, 4],
        ..WordCnnConfig::small(20, 3)
    };
    let (m, store) = model(ModelConfig::WordCnn(cfg), 7);
    let x = word_input(20, m.min_len(), &mut Rng::new(8));
    let labels = [2, 0, 1];
    let loss = |t: &Tape, l| t.cross_entropy(l, &labels);
    let frozen = m.input_gradient(&store, &x, Mode::EVAL, Weights::Frozen, loss).unwrap();
    let trained = m.input_gradient(&store, &x, Mode::EVAL, Weights::Trained, loss).unwrap();
    assert!(frozen.weights.is_empty());
    assert_eq!(frozen.grad.data(), trained.grad.data());
    assert_eq!(frozen.loss, trained.loss);

    let tape = Tape::new();
    let p = tape.bind(&store);
    let f = m.forward(&tape, &p, &x, None, Mode::EVAL).unwrap();
    let l = tape.cross_entropy(f.logits, &labels).unwrap();
    let mut g = tape.backward(l).unwrap();
    let plain: Vec<Option<Tensor>> = store.ids().map(|id| g.take(p.var(id))).collect();
    assert_eq!(trained.weights.len(), plain.len());
    for (a, b) in trained.weights.iter().zip(&plain) {
        assert_eq!(a.as_ref().map(|t| t.data().to_vec()), b.as_ref().map(|t| t.data().to_vec()));
    }
    // The embedding table is trained through the input gradient's pass.
    assert!(trained.weights[0].is_some());
}
