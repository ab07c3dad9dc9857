//! Finite-difference checks through `char_nmt`'s teacher-forced loss, with
//! respect to every parameter and to the source character embeddings (what
//! HotFlip's translation adversary differentiates).

use hotflip::gradcheck::{check, Tolerance};
use hotflip::models::char_nmt::{CharNmt, CharNmtConfig, TargetBatch};
use hotflip::models::{CharBatch, Mode};
use hotflip::nn::{Bound, ParamStore};
use hotflip::{Rng, Tensor};

fn tiny() -> CharNmtConfig {
    CharNmtConfig {
        n_chars: 9,
        n_tgt: 8,
        char_dim: 3,
        kernel_widths: vec![1, 2],
        kernel_filters: vec![2, 3],
        highway_layers: 1,
        max_word_len: 5,
        lstm_hidden: 3,
        lstm_layers: 2,
        tgt_embed_dim: 3,
        attention: "general".into(),
        input_feed: true,
        max_src_words: 6,
        max_tgt_words: 5,
        dropout: 0.0,
        src_lang: "de".into(),
        tgt_lang: "en".into(),
    }
}

fn data() -> (CharBatch, TargetBatch) {
    let docs = vec![vec![vec![2, 3, 4], vec![5]], vec![vec![6, 7], vec![8, 2, 2], vec![3]], vec![vec![4, 4]]];
    let x = CharBatch::from_docs(&docs, 5, 6).unwrap();
    let y = TargetBatch::new(&[vec![4, 5], vec![6], vec![7, 4, 1]], 5).unwrap();
    (x, y)
}

#[test]
fn char_nmt_all_parameters() {
    let mut store = ParamStore::new();
    let model = CharNmt::new(tiny(), &mut store, &mut Rng::new(3)).unwrap();
    let (x, y) = data();
    // The PAD character row gets no gradient by design (padding_idx) yet is
    // read inside words: hold it constant, perturb the other rows.
    let mut inputs: Vec<Tensor> = store.iter().map(|(_, t)| t.clone()).collect();
    let d = inputs[0].shape()[1];
    inputs[0] = Tensor::new(&[inputs[0].shape()[0] - 1, d], inputs[0].data()[d..].to_vec()).unwrap();
    let tol = Tolerance { step: 1e-2, max_elems: 12, ..Tolerance::default() };
    let r = check(&inputs, tol, |tape, vars| {
        let mut vars = vars.to_vec();
        let pad = tape.constant(Tensor::zeros(&[1, d]));
        vars[0] = tape.concat(&[pad, vars[0]], 0)?;
        let p = Bound::from_vars(vars);
        model.loss(tape, &p, &x, &y, Mode::EVAL)
    })
    .unwrap();
    let names: Vec<&str> = store.iter().map(|(n, _)| n).collect();
    assert!(
        r.passed(),
        "parameter `{}` element {}: analytic {} vs numeric {}",
        names[r.worst_input],
        r.worst_index,
        r.analytic,
        r.numeric
    );
}

#[test]
fn char_nmt_source_embeddings() {
    let mut store = ParamStore::new();
    let model = CharNmt::new(tiny(), &mut store, &mut Rng::new(5)).unwrap();
    let (x, y) = data();
    let tape0 = hotflip::Tape::no_grad();
    let p0 = tape0.bind(&store);
    let e0 = tape0.value(model.embed(&tape0, &p0, &x).unwrap()).unwrap();
    let tol = Tolerance { step: 1e-2, max_elems: 40, ..Tolerance::default() };
    let r = check(&[e0], tol, |tape, vars| {
        let p = tape.bind_frozen(&store);
        model.loss_embedded(tape, &p, &x, vars[0], &y, Mode::EVAL)
    })
    .unwrap();
    assert!(r.passed(), "embedding element {}: analytic {} vs numeric {}", r.worst_index, r.analytic, r.numeric);
}
