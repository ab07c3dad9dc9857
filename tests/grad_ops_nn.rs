//! Finite-difference checks for the neural-network ops (conv1d, embedding,
//! dropout, softmax family, losses, KL, L2 norm/normalise, highway), plus
//! forward values computed by hand.

use hotflip::gradcheck::{assert_grads, probe, Tolerance};
use hotflip::nn::{Highway, ParamStore};
use hotflip::{Rng, Tape, Tensor, Var};

fn randn(shape: &[usize], seed: u64) -> Tensor {
    Tensor::randn(shape, 1.0, &mut Rng::new(seed))
}

fn check(name: &str, inputs: &[Tensor], f: impl Fn(&Tape, &[Var]) -> hotflip::Result<Var>) {
    assert_grads(name, inputs, Tolerance::default(), |t, v| {
        let y = f(t, v)?;
        if t.shape(y)?.iter().product::<usize>() == 1 {
            Ok(y)
        } else {
            probe(t, y, 77)
        }
    })
    .unwrap();
}

#[test]
fn conv1d_gradients_and_values() {
    check("conv1d+bias", &[randn(&[2, 6, 3], 1), randn(&[4, 3, 3], 2), randn(&[4], 3)], |t, v| {
        t.conv1d(v[0], v[1], Some(v[2]))
    });
    check("conv1d width 1", &[randn(&[3, 4, 2], 4), randn(&[5, 2, 1], 5)], |t, v| t.conv1d(v[0], v[1], None));
    check("conv1d full width", &[randn(&[2, 4, 2], 6), randn(&[3, 2, 4], 7)], |t, v| t.conv1d(v[0], v[1], None));

    // Forward against the definition y[n,p,f] = b[f] + Σ_c Σ_j w[f,c,j]·x[n,p+j,c].
    let (x, w, b) = (randn(&[2, 5, 3], 8), randn(&[4, 3, 2], 9), randn(&[4], 10));
    let t = Tape::no_grad();
    let y = t.conv1d(t.constant(x.clone()), t.constant(w.clone()), Some(t.constant(b.clone()))).unwrap();
    let y = t.value(y).unwrap();
    assert_eq!(y.shape(), &[2, 4, 4]);
    for n in 0..2 {
        for p in 0..4 {
            for f in 0..4 {
                let mut want = b.data()[f];
                for c in 0..3 {
                    for j in 0..2 {
                        want += w.data()[(f * 3 + c) * 2 + j] * x.data()[(n * 5 + p + j) * 3 + c];
                    }
                }
                let got = y.data()[(n * 4 + p) * 4 + f];
                assert!((got - want).abs() < 1e-5, "({n},{p},{f}): {got} vs {want}");
            }
        }
    }
    let e = t.conv1d(t.constant(randn(&[1, 2, 3], 1)), t.constant(randn(&[4, 3, 3], 1)), None).unwrap_err();
    assert!(e.to_string().contains("shorter than kernel width"), "{e}");
}

#[test]
fn char_conv_features_equal_conv_tanh_max_and_check_by_fd() {
    // Widths 1, 3 and 4 over 5 positions; the fused op must equal the
    // composition conv1d → tanh → max over positions → concat, in value and
    // in every gradient.
    let x = randn(&[3, 5, 2], 1);
    let ks = [randn(&[2, 2, 1], 2), randn(&[2], 3), randn(&[3, 2, 3], 4), randn(&[3], 5), randn(&[1, 2, 4], 6)];
    let ks_b = randn(&[1], 7);
    let mut inputs = vec![x];
    inputs.extend(ks.iter().cloned());
    inputs.push(ks_b);
    let fused = |t: &Tape, v: &[Var]| t.char_conv_features(v[0], &[(v[1], v[2]), (v[3], v[4]), (v[5], v[6])]);
    let composed = |t: &Tape, v: &[Var]| -> hotflip::Result<Var> {
        let mut parts = Vec::new();
        for (w, b) in [(v[1], v[2]), (v[3], v[4]), (v[5], v[6])] {
            let y = t.tanh(t.conv1d(v[0], w, Some(b))?)?;
            parts.push(t.max_axis(y, 1)?);
        }
        t.concat(&parts, 1)
    };
    check("char_conv_features", &inputs, fused);

    let run = |f: &dyn Fn(&Tape, &[Var]) -> hotflip::Result<Var>| {
        let t = Tape::new();
        let vars: Vec<Var> = inputs.iter().map(|x| t.leaf(x.clone())).collect();
        let y = f(&t, &vars).unwrap();
        let value = t.value(y).unwrap();
        let loss = probe(&t, y, 3).unwrap();
        let g = t.backward(loss).unwrap();
        (value, vars.iter().map(|&v| g.get(v).unwrap().clone()).collect::<Vec<_>>())
    };
    let (ya, ga) = run(&fused);
    let (yb, gb) = run(&composed);
    assert_eq!(ya.shape(), &[3, 6]);
    assert!(ya.max_abs_diff(&yb).unwrap() < 1e-5, "{ya:?} vs {yb:?}");
    for (i, (a, b)) in ga.iter().zip(&gb).enumerate() {
        assert!(a.max_abs_diff(b).unwrap() < 1e-5, "gradient {i}: {a:?} vs {b:?}");
    }
    let t = Tape::no_grad();
    let v: Vec<Var> = inputs.iter().map(|x| t.constant(x.clone())).collect();
    let wide = t.constant(randn(&[1, 2, 6], 8));
    let e = t.char_conv_features(v[0], &[(wide, v[6])]).unwrap_err().to_string();
    assert!(e.contains("width 6"), "{e}");
}

/// Repeated words (beam entries of one document, padding) are computed once
/// and copied: each word's features and input gradient must equal, bit for
/// bit, those of the word computed alone; the weight gradients sum over
/// the repeats (checked against the unfused composition and finite
/// differences).
#[test]
fn char_conv_features_of_repeated_words_equal_each_word_alone() {
    let (l, c) = (6, 3);
    let distinct = randn(&[4, l, c], 11);
    // Words 0 1 2 0 0 3 1 and a zero (padding) word twice.
    let order = [0usize, 1, 2, 0, 0, 3, 1];
    let mut data: Vec<f32> = Vec::new();
    for &i in &order {
        data.extend_from_slice(&distinct.data()[i * l * c..(i + 1) * l * c]);
    }
    data.extend(std::iter::repeat_n(0.0, 2 * l * c));
    let n = order.len() + 2;
    let x = Tensor::new(&[n, l, c], data).unwrap();
    let ks = [randn(&[3, c, 2], 12), randn(&[3], 13), randn(&[2, c, 4], 14), randn(&[2], 15)];
    let run = |x: &Tensor, seed: u64| {
        let t = Tape::new();
        let xv = t.leaf(x.clone());
        let kv: Vec<Var> = ks.iter().map(|k| t.leaf(k.clone())).collect();
        let y = t.char_conv_features(xv, &[(kv[0], kv[1]), (kv[2], kv[3])]).unwrap();
        let value = t.value(y).unwrap();
        let loss = probe(&t, y, seed).unwrap();
        let g = t.backward(loss).unwrap();
        (value, g.get(xv).unwrap().clone())
    };
    let (y, gx) = run(&x, 5);
    let f = y.shape()[1];
    let lc = l * c;
    for k in 0..n {
        let word = Tensor::new(&[1, l, c], x.data()[k * lc..(k + 1) * lc].to_vec()).unwrap();
        let (y1, _) = run(&word, 5);
        let bits = |s: &[f32]| s.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&y.data()[k * f..(k + 1) * f]), bits(y1.data()), "features of word {k}");
    }
    // Input gradients: the probe weights each output differently, so the
    // gradient of word k is the one-word backward with word k's output
    // gradient; compare with the composition the fused op replaces.
    let composed = |t: &Tape, v: &[Var]| -> hotflip::Result<Var> {
        let mut parts = Vec::new();
        for (w, b) in [(v[1], v[2]), (v[3], v[4])] {
            let y = t.tanh(t.conv1d(v[0], w, Some(b))?)?;
            parts.push(t.max_axis(y, 1)?);
        }
        t.concat(&parts, 1)
    };
    let t = Tape::new();
    let mut vars = vec![t.leaf(x.clone())];
    vars.extend(ks.iter().map(|k| t.leaf(k.clone())));
    let loss = probe(&t, composed(&t, &vars).unwrap(), 5).unwrap();
    let want = t.backward(loss).unwrap().get(vars[0]).unwrap().clone();
    assert!(gx.max_abs_diff(&want).unwrap() < 1e-5, "{gx:?} vs {want:?}");
    // Finite differences without the all-zero words, whose positions tie in
    // the max (a kink any difference straddles).
    let words = order.len();
    let mut inputs = vec![Tensor::new(&[words, l, c], x.data()[..words * lc].to_vec()).unwrap()];
    inputs.extend(ks.iter().cloned());
    check("char_conv_features with repeated words", &inputs, |t, v| {
        t.char_conv_features(v[0], &[(v[1], v[2]), (v[3], v[4])])
    });
}

#[test]
fn embedding_gradients_skip_the_pad_row() {
    let ids = [3usize, 0, 1, 3, 2, 0];
    // Gradient w.r.t. the table: rows used twice accumulate.
    let w = randn(&[4, 3], 1);
    check("embedding", std::slice::from_ref(&w), |t, v| t.embedding(v[0], &ids, &[2, 3], None));

    let t = Tape::new();
    let wv = t.leaf(w.clone());
    let e = t.embedding(wv, &ids, &[2, 3], Some(0)).unwrap();
    assert_eq!(t.shape(e).unwrap(), vec![2, 3, 3]);
    assert_eq!(&t.value(e).unwrap().data()[0..3], &w.data()[9..12]);
    let loss = probe(&t, e, 5).unwrap();
    let g = t.backward(loss).unwrap();
    let gw = g.get(wv).unwrap();
    assert!(gw.data()[0..3].iter().all(|&x| x == 0.0), "PAD row got a gradient: {gw:?}");
    assert!(gw.data()[9..12].iter().any(|&x| x != 0.0));

    let t = Tape::no_grad();
    let err = t.embedding(t.constant(w), &[4], &[1], None).unwrap_err().to_string();
    assert!(err.contains("embedding") && err.contains('4'), "{err}");
}

#[test]
fn dropout_is_a_fixed_mask_for_a_seed() {
    check("dropout", &[randn(&[5, 8], 1)], |t, v| t.dropout(v[0], 0.3, 1234));

    let t = Tape::no_grad();
    let x = t.constant(Tensor::full(&[100_000], 1.0));
    let a = t.value(t.dropout(x, 0.25, 7).unwrap()).unwrap();
    let b = t.value(t.dropout(x, 0.25, 7).unwrap()).unwrap();
    let c = t.value(t.dropout(x, 0.25, 8).unwrap()).unwrap();
    assert_eq!(a, b, "same seed, same mask");
    assert_ne!(a, c, "another seed, another mask");
    let kept = a.data().iter().filter(|&&v| v != 0.0).count() as f64 / 100_000.0;
    assert!((kept - 0.75).abs() < 0.01, "kept {kept}");
    assert!(a.data().iter().all(|&v| v == 0.0 || (v - 1.0 / 0.75).abs() < 1e-6));
    assert!(t.dropout(x, 1.0, 1).is_err());
}

#[test]
fn softmax_family_and_losses() {
    let x = randn(&[4, 5], 1);
    check("log_softmax", std::slice::from_ref(&x), |t, v| t.log_softmax(v[0]));
    check("softmax", std::slice::from_ref(&x), |t, v| t.softmax(v[0]));
    check("cross_entropy", std::slice::from_ref(&x), |t, v| t.cross_entropy(v[0], &[0, 4, 2, 2]));
    check("cross_entropy_per_example", std::slice::from_ref(&x), |t, v| {
        t.cross_entropy_per_example(v[0], &[1, 3, 0, 2])
    });
    let x3 = randn(&[2, 3, 4], 2);
    check("cross_entropy_masked", std::slice::from_ref(&x3), |t, v| {
        t.cross_entropy_masked(v[0], &[0, 1, 3, 2, 2, 0], &[1., 1., 0., 1., 0., 1.])
    });
    check("kl_div both sides", &[randn(&[3, 4], 3), randn(&[3, 4], 4)], |t, v| t.kl_div(v[0], v[1]));

    // Values by hand: logits (0, ln 3) → p = (1/4, 3/4).
    let t = Tape::no_grad();
    let l = t.constant(Tensor::new(&[1, 2], vec![0.0, 3f32.ln()]).unwrap());
    let ce = t.value(t.cross_entropy(l, &[0]).unwrap()).unwrap().item().unwrap();
    assert!((ce - 4f32.ln()).abs() < 1e-6, "{ce}");
    let kl_self = t.value(t.kl_div(l, l).unwrap()).unwrap().item().unwrap();
    assert!(kl_self.abs() < 1e-7);
    let u = t.constant(Tensor::zeros(&[1, 2]));
    let kl = t.value(t.kl_div(l, u).unwrap()).unwrap().item().unwrap();
    let want = 0.25 * (0.25f32 / 0.5).ln() + 0.75 * (0.75f32 / 0.5).ln();
    assert!((kl - want).abs() < 1e-6, "{kl} vs {want}");
    // Masked CE ignores masked positions entirely.
    let l3 = t.constant(randn(&[3, 2], 5));
    let a = t.value(t.cross_entropy_masked(l3, &[0, 1, 0], &[1., 0., 1.]).unwrap()).unwrap().item().unwrap();
    let b = t.value(t.cross_entropy_masked(l3, &[0, 0, 0], &[1., 0., 1.]).unwrap()).unwrap().item().unwrap();
    assert_eq!(a, b);
    assert!(t.cross_entropy(l, &[2]).is_err());
    assert!(t.cross_entropy_masked(l3, &[0, 1, 0], &[0., 0., 0.]).is_err());
}

#[test]
fn l2_norm_and_normalize() {
    let x = randn(&[3, 5], 1);
    check("l2_norm", std::slice::from_ref(&x), |t, v| t.l2_norm(v[0]));
    check("l2_normalize", std::slice::from_ref(&x), |t, v| t.l2_normalize(v[0], 1e-12));
    check("l2_normalize eps", std::slice::from_ref(&x), |t, v| t.l2_normalize(v[0], 0.5));

    let t = Tape::new();
    let v = t.leaf(Tensor::new(&[2, 2], vec![3., 4., 0., 0.]).unwrap());
    let n = t.l2_norm(v).unwrap();
    assert_eq!(t.value(n).unwrap().data(), &[5., 0.]);
    let u = t.l2_normalize(v, 1e-12).unwrap();
    let uv = t.value(u).unwrap();
    assert!((uv.data()[0] - 0.6).abs() < 1e-6 && (uv.data()[1] - 0.8).abs() < 1e-6);
    assert_eq!(&uv.data()[2..], &[0., 0.], "a zero row stays zero");
    let s = t.sum(t.add(t.sum(n).unwrap(), t.sum(u).unwrap()).unwrap()).unwrap();
    let g = t.backward(s).unwrap();
    assert!(g.get(v).unwrap().all_finite(), "zero rows must not give NaN gradients");
}

#[test]
fn highway_layer() {
    let mut store = ParamStore::new();
    let hw = Highway::new(&mut store, "highway.0", 4, &mut Rng::new(3)).unwrap();
    let mut inputs: Vec<Tensor> = store.iter().map(|(_, t)| t.clone()).collect();
    inputs.push(randn(&[3, 4], 9));
    check("highway", &inputs, |t, v| {
        let p = hotflip::nn::Bound::from_vars(v[..4].to_vec());
        hw.forward(t, &p, v[4])
    });
    // y = t·relu(Wx+b) + (1 − t)·x with gate bias driven to −∞ is x itself.
    let mut closed = store.clone();
    let gate_bias = closed.id("highway.0.gate.bias").unwrap();
    closed.set(gate_bias, Tensor::full(&[4], -1e4)).unwrap();
    let t = Tape::no_grad();
    let p = t.bind(&closed);
    let x = randn(&[2, 4], 4);
    let y = hw.forward(&t, &p, t.constant(x.clone())).unwrap();
    assert!(t.value(y).unwrap().max_abs_diff(&x).unwrap() < 1e-6);
}
