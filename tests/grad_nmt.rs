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

/// The loss computes the generator only at real target positions; it must
/// equal the masked cross-entropy over all `[B, T, V]` logits, value and
/// every parameter's gradient, within 1e-6.
#[test]
fn char_nmt_loss_on_real_tokens_equals_masked_loss_on_all_logits() {
    let mut store = ParamStore::new();
    let model = CharNmt::new(tiny(), &mut store, &mut Rng::new(7)).unwrap();
    let (x, y) = data();
    assert!(y.tokens() < y.batch * y.len, "the batch must have padded target positions");
    let run = |fused: bool| {
        let tape = hotflip::Tape::new();
        let p = tape.bind(&store);
        let loss = if fused {
            model.loss(&tape, &p, &x, &y, Mode::EVAL).unwrap()
        } else {
            let e = model.embed(&tape, &p, &x).unwrap();
            let mem = model.encode(&tape, &p, &x, e, Mode::EVAL).unwrap();
            let logits = model.forced_logits(&tape, &p, &mem, &y, Mode::EVAL).unwrap();
            tape.cross_entropy_masked(logits, &y.outputs, &y.mask).unwrap()
        };
        let value = tape.value(loss).unwrap().item().unwrap();
        let grads = tape.backward(loss).unwrap();
        let g: Vec<Vec<f32>> =
            p.grads(&grads).iter().map(|g| g.map(|t| t.data().to_vec()).unwrap_or_default()).collect();
        (value, g)
    };
    let ((fv, fg), (uv, ug)) = (run(true), run(false));
    assert!((fv - uv).abs() <= 1e-6 * uv.abs().max(1.0), "loss {fv} vs {uv}");
    for (i, (a, b)) in fg.iter().zip(&ug).enumerate() {
        assert_eq!(a.len(), b.len(), "parameter {i}");
        for (p, q) in a.iter().zip(b) {
            assert!((p - q).abs() <= 1e-6 * q.abs().max(1.0), "parameter {i}: {p} vs {q}");
        }
    }
}
