//! Finite-difference checks through whole model forward functions, with
//! respect to every parameter, on tiny shapes (MODELS.md architectures).

use hotflip::gradcheck::{check, Tolerance};
use hotflip::models::{
    BiLstmTagger, CharBatch, CharCnnLstm, CharCnnLstmConfig, LstmClassifier, LstmTextConfig, Mode, WordBatch, WordCnn,
    WordCnnConfig,
};
use hotflip::nn::{Bound, ParamStore};
use hotflip::{Rng, Tape, Tensor, Var};

/// The embedding row at PAD gets no gradient by design (PyTorch's
/// padding_idx), yet perturbing it moves the loss wherever PAD is read. The
/// check therefore holds that row constant and perturbs only the others.
fn without_pad_row(t: &Tensor) -> Tensor {
    let d = t.shape()[1];
    Tensor::new(&[t.shape()[0] - 1, d], t.data()[d..].to_vec()).unwrap()
}

fn with_pad_row(tape: &Tape, rows: Var) -> hotflip::Result<Var> {
    let d = tape.shape(rows)?[1];
    let pad = tape.constant(Tensor::zeros(&[1, d]));
    tape.concat(&[pad, rows], 0)
}

/// Checks d(loss)/d(every parameter) of a model whose store's first
/// parameter is its embedding table.
fn check_model(name: &str, store: &ParamStore, step: f32, loss: impl Fn(&Tape, &Bound) -> hotflip::Result<Var>) {
    let mut inputs: Vec<Tensor> = store.iter().map(|(_, t)| t.clone()).collect();
    inputs[0] = without_pad_row(&inputs[0]);
    let tol = Tolerance { step, max_elems: 24, ..Tolerance::default() };
    let r = check(&inputs, tol, |tape, vars| {
        let mut vars = vars.to_vec();
        vars[0] = with_pad_row(tape, vars[0])?;
        loss(tape, &Bound::from_vars(vars))
    })
    .unwrap();
    let names: Vec<&str> = store.iter().map(|(n, _)| n).collect();
    assert!(
        r.passed(),
        "{name}: parameter `{}` element {}: analytic {} vs numeric {}",
        names[r.worst_input],
        r.worst_index,
        r.analytic,
        r.numeric
    );
    assert!(r.checked > 24 * (names.len() / 2), "{name}: too few elements checked");
}

fn tiny_char_config() -> CharCnnLstmConfig {
    CharCnnLstmConfig {
        n_chars: 9,
        n_classes: 3,
        char_dim: 3,
        kernel_widths: vec![1, 2, 4],
        kernel_filters: vec![2, 3, 2],
        highway_layers: 1,
        lstm_hidden: 3,
        lstm_layers: 2,
        max_word_len: 5,
        max_words: 6,
        dropout: 0.3,
    }
}

fn char_batch(rng: &mut Rng) -> CharBatch {
    let doc = |n: usize, rng: &mut Rng| -> Vec<Vec<usize>> {
        (0..n).map(|_| (0..1 + rng.below(5)).map(|_| 2 + rng.below(7)).collect()).collect()
    };
    let docs = vec![doc(4, rng), doc(2, rng), doc(3, rng)];
    CharBatch::from_docs(&docs, 5, 6).unwrap()
}

#[test]
fn char_cnn_lstm_all_parameters() {
    let mut rng = Rng::new(21);
    let mut store = ParamStore::new();
    let model = CharCnnLstm::new(tiny_char_config(), &mut store, &mut rng).unwrap();
    let batch = char_batch(&mut rng);
    let labels = [0, 2, 1];
    check_model("char_cnn_lstm", &store, 1e-3, |tape, p| {
        let out = model.forward(tape, p, &batch, Mode::EVAL)?;
        tape.cross_entropy(out.logits, &labels)
    });
    // With dropout on (a fixed seed fixes the mask), too.
    check_model("char_cnn_lstm train", &store, 1e-3, |tape, p| {
        let out = model.forward(tape, p, &batch, Mode::train(5))?;
        tape.cross_entropy(out.logits, &labels)
    });
}

#[test]
fn char_cnn_lstm_embedding_gradient_is_retained_for_hotflip() {
    let mut rng = Rng::new(2);
    let mut store = ParamStore::new();
    let model = CharCnnLstm::new(tiny_char_config(), &mut store, &mut rng).unwrap();
    let batch = char_batch(&mut rng);
    let tape = Tape::new();
    let p = tape.bind(&store);
    let out = model.forward(&tape, &p, &batch, Mode::EVAL).unwrap();
    tape.retain_grad(out.embedded).unwrap();
    let emb_shape = tape.shape(out.embedded).unwrap();
    let loss = tape.cross_entropy(out.logits, &[0, 1, 2]).unwrap();
    let g = tape.backward(loss).unwrap();
    let ge = g.get(out.embedded).expect("retained");
    assert_eq!(ge.shape(), emb_shape.as_slice());
    assert_eq!(emb_shape, vec![3 * 4, 5, 3]);
    // Words past a document's length cannot influence its prediction.
    let d = 3 * 5;
    let padded_word = &ge.data()[(4 + 3) * d..(4 + 4) * d];
    assert!(padded_word.iter().all(|&v| v == 0.0), "doc 1 has 2 words; word 3 is padding");
    assert!(ge.data()[..d].iter().any(|&v| v != 0.0));
}

fn tiny_text_config(n_classes: usize, normalize: bool) -> LstmTextConfig {
    LstmTextConfig {
        vocab: 12,
        n_classes,
        embed_dim: 4,
        lstm_hidden: 3,
        ffnn_dim: 5,
        normalize_embeddings: normalize,
        dropout: 0.2,
        max_words: 10,
    }
}

fn word_batch(rng: &mut Rng, min_len: usize) -> WordBatch {
    let sents: Vec<Vec<usize>> = [5, 3, 4].iter().map(|&n| (0..n).map(|_| 2 + rng.below(10)).collect()).collect();
    WordBatch::from_sentences(&sents, 10, min_len).unwrap()
}

#[test]
fn lstm_classifier_all_parameters_with_and_without_normalisation() {
    for normalize in [false, true] {
        let mut rng = Rng::new(7);
        let mut store = ParamStore::new();
        let model = LstmClassifier::new(tiny_text_config(3, normalize), &mut store, &mut rng).unwrap();
        if normalize {
            let id = store.id("embedding.freq").unwrap();
            let f: Vec<f32> = (0..12).map(|i| (i + 1) as f32 / 78.0).collect();
            store.set(id, Tensor::new(&[12], f).unwrap()).unwrap();
        }
        let batch = word_batch(&mut rng, 1);
        let labels = [2, 0, 1];
        // The freq buffer is constant in the model; keep it constant here.
        let freq = store.id("embedding.freq");
        let mut trainable = ParamStore::new();
        for id in store.ids().filter(|&id| Some(id) != freq) {
            trainable.add(store.name(id), store.get(id).clone()).unwrap();
        }
        check_model(&format!("lstm_classifier normalize={normalize}"), &trainable, 1e-3, |tape, p| {
            let mut vars: Vec<Var> = (0..trainable.len()).map(|i| p.var(trainable.ids().nth(i).unwrap())).collect();
            if let Some(f) = freq {
                vars.insert(f.index(), tape.constant(store.get(f).clone()));
            }
            let out = model.forward(tape, &Bound::from_vars(vars), &batch, None, Mode::train(3))?;
            tape.cross_entropy(out.logits, &labels)
        });
    }
}

#[test]
fn word_cnn_and_tagger_all_parameters() {
    let mut rng = Rng::new(8);
    let mut store = ParamStore::new();
    let cfg = WordCnnConfig {
        vocab: 12,
        n_classes: 2,
        embed_dim: 4,
        kernel_widths: vec![2, 3],
        kernel_filters: vec![3, 2],
        dropout: 0.0,
        max_words: 10,
    };
    let model = WordCnn::new(cfg, &mut store, &mut rng).unwrap();
    let batch = word_batch(&mut rng, 3);
    check_model("word_cnn", &store, 1e-3, |tape, p| {
        let out = model.forward(tape, p, &batch, None, Mode::EVAL)?;
        tape.cross_entropy(out.logits, &[1, 0, 1])
    });

    let mut store = ParamStore::new();
    let model = BiLstmTagger::new(tiny_text_config(2, false), &mut store, &mut rng).unwrap();
    let batch = word_batch(&mut rng, 1);
    let targets: Vec<usize> = (0..batch.ids.len()).map(|i| i % 2).collect();
    let mask: Vec<f32> =
        (0..batch.batch).flat_map(|b| (0..batch.len).map(move |t| (t < [5, 3, 4][b]) as u8 as f32)).collect();
    check_model("bilstm_tagger", &store, 1e-3, |tape, p| {
        let out = model.forward(tape, p, &batch, None, Mode::EVAL)?;
        tape.cross_entropy_masked(out.logits, &targets, &mask)
    });
}

#[test]
fn batching_does_not_change_predictions() {
    // A document alone and inside a padded batch gives the same logits.
    let mut rng = Rng::new(4);
    let mut store = ParamStore::new();
    let model = CharCnnLstm::new(tiny_char_config(), &mut store, &mut rng).unwrap();
    let batch = char_batch(&mut rng);
    let tape = Tape::no_grad();
    let p = tape.bind(&store);
    let all = tape.value(model.forward(&tape, &p, &batch, Mode::EVAL).unwrap().logits).unwrap();
    let words = batch.words * batch.chars;
    let one = CharBatch {
        ids: batch.ids[words..words + 2 * batch.chars].to_vec(),
        batch: 1,
        words: 2,
        chars: batch.chars,
        lengths: vec![2],
    };
    let alone = tape.value(model.forward(&tape, &p, &one, Mode::EVAL).unwrap().logits).unwrap();
    for c in 0..3 {
        assert!((all.data()[3 + c] - alone.data()[c]).abs() < 1e-5);
    }
}
