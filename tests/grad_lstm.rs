//! The fused LSTM layer: finite differences, a step-by-step reference built
//! from primitive ops, and invariance to padding.

use hotflip::gradcheck::{assert_grads, probe, Tolerance};
use hotflip::ops::LstmWeights;
use hotflip::{Rng, Tape, Tensor, Var};

const IN: usize = 3;
const H: usize = 4;

fn weights(rng: &mut Rng) -> Vec<Tensor> {
    vec![
        Tensor::uniform(&[4 * H, IN], -0.6, 0.6, rng),
        Tensor::uniform(&[4 * H, H], -0.6, 0.6, rng),
        Tensor::uniform(&[4 * H], -0.3, 0.3, rng),
        Tensor::uniform(&[4 * H], -0.3, 0.3, rng),
    ]
}

fn lw(v: &[Var]) -> LstmWeights {
    LstmWeights { w_ih: v[0], w_hh: v[1], b_ih: v[2], b_hh: v[3] }
}

#[test]
fn finite_differences_both_directions_ragged_batch() {
    let mut rng = Rng::new(11);
    let (b, t) = (3, 5);
    let lengths = [5, 2, 4];
    let mut inputs = weights(&mut rng);
    inputs.push(Tensor::randn(&[b, t, IN], 1.0, &mut rng));
    for reverse in [false, true] {
        assert_grads(
            &format!("lstm_layer reverse={reverse}"),
            &inputs,
            Tolerance { max_elems: 200, ..Tolerance::default() },
            |tape, v| {
                let y = tape.lstm_layer(v[4], lw(v), &lengths, reverse)?;
                probe(tape, y, 3)
            },
        )
        .unwrap();
    }
}

/// One step from primitive ops: the definition the fused op must match.
fn reference_step(tape: &Tape, x_t: Var, h: Var, c: Var, w: &[Var]) -> (Var, Var) {
    let a = tape.linear(x_t, w[0], Some(w[2])).unwrap();
    let r = tape.linear(h, w[1], Some(w[3])).unwrap();
    let gates = tape.add(a, r).unwrap();
    let i = tape.sigmoid(tape.narrow(gates, 1, 0, H).unwrap()).unwrap();
    let f = tape.sigmoid(tape.narrow(gates, 1, H, H).unwrap()).unwrap();
    let g = tape.tanh(tape.narrow(gates, 1, 2 * H, H).unwrap()).unwrap();
    let o = tape.sigmoid(tape.narrow(gates, 1, 3 * H, H).unwrap()).unwrap();
    let c2 = tape.add(tape.mul(f, c).unwrap(), tape.mul(i, g).unwrap()).unwrap();
    let h2 = tape.mul(o, tape.tanh(c2).unwrap()).unwrap();
    (h2, c2)
}

#[test]
fn matches_step_by_step_reference_values_and_gradients() {
    let mut rng = Rng::new(5);
    let t = 4;
    let ws = weights(&mut rng);
    let x = Tensor::randn(&[1, t, IN], 1.0, &mut rng);
    for reverse in [false, true] {
        // Fused.
        let tape = Tape::new();
        let wv: Vec<Var> = ws.iter().map(|w| tape.leaf(w.clone())).collect();
        let xv = tape.leaf(x.clone());
        let y = tape.lstm_layer(xv, lw(&wv), &[t], reverse).unwrap();
        let fused_out = tape.value(y).unwrap();
        let loss = probe(&tape, y, 8).unwrap();
        let g = tape.backward(loss).unwrap();
        let fused_grads: Vec<Tensor> = wv.iter().chain([&xv]).map(|v| g.get(*v).unwrap().clone()).collect();

        // Reference.
        let tape = Tape::new();
        let wv: Vec<Var> = ws.iter().map(|w| tape.leaf(w.clone())).collect();
        let xv = tape.leaf(x.clone());
        let x2 = tape.reshape(xv, &[t, IN]).unwrap();
        let mut h = tape.constant(Tensor::zeros(&[1, H]));
        let mut c = tape.constant(Tensor::zeros(&[1, H]));
        let mut outs = vec![None; t];
        for s in 0..t {
            let tt = if reverse { t - 1 - s } else { s };
            let x_t = tape.narrow(x2, 0, tt, 1).unwrap();
            (h, c) = reference_step(&tape, x_t, h, c, &wv);
            outs[tt] = Some(h);
        }
        let outs: Vec<Var> = outs.into_iter().map(Option::unwrap).collect();
        let y = tape.concat(&outs, 0).unwrap();
        let y = tape.reshape(y, &[1, t, H]).unwrap();
        let ref_out = tape.value(y).unwrap();
        let loss = probe(&tape, y, 8).unwrap();
        let g = tape.backward(loss).unwrap();

        assert!(fused_out.max_abs_diff(&ref_out).unwrap() < 1e-5, "reverse={reverse}");
        for (k, v) in wv.iter().chain([&xv]).enumerate() {
            let d = fused_grads[k].max_abs_diff(g.get(*v).unwrap()).unwrap();
            assert!(d < 1e-5, "gradient {k} differs by {d} (reverse={reverse})");
        }
    }
}

#[test]
fn padding_changes_nothing_and_outputs_zero_there() {
    // A sequence of length 3 alone, and the same sequence padded to 6 in a
    // batch with a longer one, must give the same outputs and weight gradients.
    let mut rng = Rng::new(9);
    let ws = weights(&mut rng);
    let short = Tensor::randn(&[1, 3, IN], 1.0, &mut rng);
    let other = Tensor::randn(&[1, 6, IN], 1.0, &mut rng);
    let mut padded = vec![0.0; 6 * IN];
    padded[..3 * IN].copy_from_slice(short.data());
    // Garbage in the padding must not leak into anything.
    padded[3 * IN..].iter_mut().for_each(|v| *v = 7.0);
    let mut batch = padded.clone();
    batch.extend_from_slice(other.data());
    let batch = Tensor::new(&[2, 6, IN], batch).unwrap();

    for reverse in [false, true] {
        let tape = Tape::new();
        let wv: Vec<Var> = ws.iter().map(|w| tape.leaf(w.clone())).collect();
        let y = tape.lstm_layer(tape.leaf(short.clone()), lw(&wv), &[3], reverse).unwrap();
        let alone = tape.value(y).unwrap();

        let tape2 = Tape::new();
        let wv2: Vec<Var> = ws.iter().map(|w| tape2.leaf(w.clone())).collect();
        let y2 = tape2.lstm_layer(tape2.leaf(batch.clone()), lw(&wv2), &[3, 6], reverse).unwrap();
        let both = tape2.value(y2).unwrap();
        for s in 0..3 {
            for j in 0..H {
                let (a, b) = (alone.data()[s * H + j], both.data()[s * H + j]);
                assert!((a - b).abs() < 1e-6, "step {s} unit {j}: {a} vs {b} (reverse={reverse})");
            }
        }
        assert!(both.data()[3 * H..6 * H].iter().all(|&v| v == 0.0), "padded outputs must be zero");
    }
}

#[test]
fn rejects_bad_shapes_and_lengths() {
    let mut rng = Rng::new(1);
    let tape = Tape::new();
    let wv: Vec<Var> = weights(&mut rng).into_iter().map(|w| tape.leaf(w)).collect();
    let x = tape.leaf(Tensor::zeros(&[2, 3, IN + 1]));
    let e = tape.lstm_layer(x, lw(&wv), &[3, 3], false).unwrap_err().to_string();
    assert!(e.contains("lstm_layer"), "{e}");
    let x = tape.leaf(Tensor::zeros(&[2, 3, IN]));
    assert!(tape.lstm_layer(x, lw(&wv), &[3], false).is_err());
    assert!(tape.lstm_layer(x, lw(&wv), &[3, 4], false).is_err());
}

/// Beam entries share prefixes: rows with identical inputs so far share one
/// computed state (and distinct input rows one projection). Every sequence
/// of such a batch must equal, bit for bit, the sequence run alone, in both
/// directions and with ragged lengths; the input gradients agree to 1e-6.
#[test]
fn shared_prefixes_reuse_states_and_equal_each_sequence_alone() {
    let mut rng = Rng::new(21);
    let w = weights(&mut rng);
    let t = 6;
    let base = Tensor::randn(&[t, IN], 1.0, &mut rng);
    let other = Tensor::randn(&[t, IN], 1.0, &mut rng);
    // Sequence k takes `other`'s row at the steps in changes[k]: 0 and 1 are
    // the same, 2 and 3 share the first three steps, 4 differs at step 0,
    // 5 is 0 cut short, 6 is all of `other`.
    let changes: [&[usize]; 7] = [&[], &[], &[3], &[3, 5], &[0], &[], &[0, 1, 2, 3, 4, 5]];
    let lengths = [6, 6, 6, 5, 6, 3, 6];
    let b = changes.len();
    let mut data = Vec::new();
    for ch in changes {
        for s in 0..t {
            let src = if ch.contains(&s) { &other } else { &base };
            data.extend_from_slice(&src.data()[s * IN..(s + 1) * IN]);
        }
    }
    let x = Tensor::new(&[b, t, IN], data).unwrap();
    // The loss is the sum of the outputs, so each sequence's input gradient
    // depends on that sequence alone.
    let run = |x: &Tensor, lengths: &[usize], reverse: bool| {
        let tape = Tape::new();
        let v: Vec<Var> = w.iter().map(|w| tape.leaf(w.clone())).collect();
        let xv = tape.leaf(x.clone());
        let y = tape.lstm_layer(xv, lw(&v), lengths, reverse).unwrap();
        let value = tape.value(y).unwrap();
        let loss = tape.sum(y).unwrap();
        let g = tape.backward(loss).unwrap();
        (value, g.get(xv).unwrap().clone())
    };
    for reverse in [false, true] {
        let (y, gx) = run(&x, &lengths, reverse);
        let (row, xrow) = (t * H, t * IN);
        for k in 0..b {
            let xk = Tensor::new(&[1, t, IN], x.data()[k * xrow..(k + 1) * xrow].to_vec()).unwrap();
            let (yk, gk) = run(&xk, &lengths[k..k + 1], reverse);
            let bits = |s: &[f32]| s.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&y.data()[k * row..(k + 1) * row]), bits(yk.data()), "sequence {k} reverse={reverse}");
            for (a, b) in gx.data()[k * xrow..(k + 1) * xrow].iter().zip(gk.data()) {
                assert!((a - b).abs() <= 1e-6, "input gradient of sequence {k} reverse={reverse}: {a} vs {b}");
            }
        }
    }
    let mut inputs = w.clone();
    inputs.push(x);
    for reverse in [false, true] {
        assert_grads(
            &format!("lstm_layer shared prefixes reverse={reverse}"),
            &inputs,
            Tolerance { max_elems: 300, ..Tolerance::default() },
            |tape, v| {
                let y = tape.lstm_layer(v[4], lw(v), &lengths, reverse)?;
                probe(tape, y, 5)
            },
        )
        .unwrap();
    }
}
