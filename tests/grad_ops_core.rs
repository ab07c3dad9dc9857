//! Finite-difference checks for the core ops (elementwise, broadcast,
//! matmul/linear, reductions, shape ops), plus forward checks by hand.

use hotflip::gradcheck::{assert_grads, probe, Tolerance};
use hotflip::{Rng, Tape, Tensor, Var};

fn randn(shape: &[usize], seed: u64) -> Tensor {
    Tensor::randn(shape, 1.0, &mut Rng::new(seed))
}

/// Values in [lo, hi), away from kinks and singularities.
fn uniform(shape: &[usize], lo: f32, hi: f32, seed: u64) -> Tensor {
    Tensor::uniform(shape, lo, hi, &mut Rng::new(seed))
}

fn check1(name: &str, x: Tensor, f: impl Fn(&Tape, Var) -> hotflip::Result<Var>) {
    assert_grads(name, &[x], Tolerance::default(), |t, v| {
        let y = f(t, v[0])?;
        probe(t, y, 42)
    })
    .unwrap();
}

#[test]
fn unary_ops() {
    check1("tanh", randn(&[4, 5], 1), |t, x| t.tanh(x));
    check1("sigmoid", randn(&[4, 5], 2), |t, x| t.sigmoid(x));
    check1("exp", randn(&[4, 5], 3), |t, x| t.exp(x));
    check1("log", uniform(&[4, 5], 0.5, 3.0, 4), |t, x| t.log(x));
    check1("neg", randn(&[7], 5), |t, x| t.neg(x));
    check1("square", randn(&[7], 6), |t, x| t.square(x));
    check1("sqrt", uniform(&[7], 0.5, 3.0, 7), |t, x| t.sqrt(x));
    check1("scale", randn(&[7], 8), |t, x| t.scale(x, -2.5));
    check1("add_scalar", randn(&[7], 9), |t, x| t.add_scalar(x, 3.0));
    // ReLU: keep inputs away from the kink at 0.
    let x = Tensor::new(&[6], vec![-1.5, -0.7, -0.2, 0.3, 0.9, 2.0]).unwrap();
    check1("relu", x, |t, x| t.relu(x));
}

#[test]
fn binary_ops_with_broadcasting() {
    let shapes: [(&[usize], &[usize]); 5] =
        [(&[3, 4], &[3, 4]), (&[2, 3, 4], &[4]), (&[2, 3, 4], &[3, 1]), (&[1, 4], &[3, 1]), (&[5], &[])];
    for (k, (sa, sb)) in shapes.iter().enumerate() {
        let a = randn(sa, 10 + k as u64);
        let b = uniform(sb, 0.5, 2.0, 20 + k as u64);
        for op in ["add", "sub", "mul", "div"] {
            assert_grads(&format!("{op} {sa:?} {sb:?}"), &[a.clone(), b.clone()], Tolerance::default(), |t, v| {
                let y = match op {
                    "add" => t.add(v[0], v[1]),
                    "sub" => t.sub(v[0], v[1]),
                    "mul" => t.mul(v[0], v[1]),
                    _ => t.div(v[0], v[1]),
                }?;
                probe(t, y, 1)
            })
            .unwrap();
        }
    }
}

#[test]
fn broadcast_forward_values() {
    let t = Tape::no_grad();
    let a = t.constant(Tensor::new(&[2, 3], vec![1., 2., 3., 4., 5., 6.]).unwrap());
    let b = t.constant(Tensor::new(&[2, 1], vec![10., 20.]).unwrap());
    let y = t.value(t.add(a, b).unwrap()).unwrap();
    assert_eq!(y.data(), &[11., 12., 13., 24., 25., 26.]);
    let c = t.constant(Tensor::new(&[3], vec![1., 2., 4.]).unwrap());
    let y = t.value(t.div(a, c).unwrap()).unwrap();
    assert_eq!(y.data(), &[1., 1., 0.75, 4., 2.5, 1.5]);
    let bad = t.constant(Tensor::zeros(&[4]));
    let e = t.mul(a, bad).unwrap_err().to_string();
    assert!(e.contains("mul") && e.contains("[2, 3]") && e.contains("[4]"), "{e}");
}

#[test]
fn matmul_and_linear() {
    let tol = Tolerance::default();
    // 2-D, batched A with shared B, batched A and B.
    for (sa, sb) in [(vec![3, 4], vec![4, 5]), (vec![2, 3, 4], vec![4, 2]), (vec![2, 3, 4], vec![2, 4, 5])] {
        assert_grads(&format!("matmul {sa:?}·{sb:?}"), &[randn(&sa, 1), randn(&sb, 2)], tol, |t, v| {
            let y = t.matmul(v[0], v[1])?;
            probe(t, y, 3)
        })
        .unwrap();
    }
    assert_grads("linear+bias", &[randn(&[2, 3, 4], 4), randn(&[5, 4], 5), randn(&[5], 6)], tol, |t, v| {
        let y = t.linear(v[0], v[1], Some(v[2]))?;
        probe(t, y, 7)
    })
    .unwrap();
    assert_grads("linear", &[randn(&[3, 4], 4), randn(&[5, 4], 5)], tol, |t, v| {
        let y = t.linear(v[0], v[1], None)?;
        probe(t, y, 7)
    })
    .unwrap();
}

#[test]
fn matmul_forward_values_and_shape_errors() {
    let t = Tape::no_grad();
    let a = t.constant(Tensor::new(&[2, 2], vec![1., 2., 3., 4.]).unwrap());
    let b = t.constant(Tensor::new(&[2, 1], vec![5., 6.]).unwrap());
    assert_eq!(t.value(t.matmul(a, b).unwrap()).unwrap().data(), &[17., 39.]);
    let w = t.constant(Tensor::new(&[1, 2], vec![5., 6.]).unwrap());
    let bias = t.constant(Tensor::new(&[1], vec![0.5]).unwrap());
    assert_eq!(t.value(t.linear(a, w, Some(bias)).unwrap()).unwrap().data(), &[17.5, 39.5]);
    let e = t.matmul(b, b).unwrap_err().to_string();
    assert!(e.contains("matmul") && e.contains("[2, 1]"), "{e}");
    assert!(t.linear(a, t.constant(Tensor::zeros(&[1, 3])), None).is_err());
}

#[test]
fn reductions() {
    let tol = Tolerance::default();
    let x = randn(&[3, 4, 5], 1);
    check1("sum", x.clone(), |t, x| t.sum(x));
    check1("mean", x.clone(), |t, x| t.mean(x));
    for axis in [0, 1, 2, -1] {
        check1(&format!("sum_axis {axis}"), x.clone(), |t, x| t.sum_axis(x, axis));
        check1(&format!("mean_axis {axis}"), x.clone(), |t, x| t.mean_axis(x, axis));
    }
    // max: distinct values so no ties.
    let mut v: Vec<f32> = (0..60).map(|i| (i as f32 * 0.37).sin() * 3.0 + i as f32 * 0.01).collect();
    Rng::new(3).shuffle(&mut v);
    let x = Tensor::new(&[3, 4, 5], v).unwrap();
    for axis in [0, 1, 2] {
        assert_grads(&format!("max_axis {axis}"), std::slice::from_ref(&x), tol, |t, v| {
            let y = t.max_axis(v[0], axis)?;
            probe(t, y, 2)
        })
        .unwrap();
    }
    assert_grads("max_over_valid", std::slice::from_ref(&x), tol, |t, v| {
        let y = t.max_over_valid(v[0], &[2, 4, 1])?;
        probe(t, y, 2)
    })
    .unwrap();
    let t = Tape::no_grad();
    let m = t.constant(Tensor::new(&[1, 3, 1], vec![1., 0., 9.]).unwrap());
    assert_eq!(t.value(t.max_over_valid(m, &[2]).unwrap()).unwrap().data(), &[1.]);
    assert!(t.max_over_valid(m, &[4]).is_err());
    let a = t.constant(Tensor::new(&[2, 3], vec![1., 5., 3., -4., -2., -9.]).unwrap());
    assert_eq!(t.value(t.max_axis(a, 1).unwrap()).unwrap().data(), &[5., -2.]);
    assert_eq!(t.value(t.sum_axis(a, 0).unwrap()).unwrap().data(), &[-3., 3., -6.]);
    assert!(t.sum_axis(a, 2).is_err());
}

#[test]
fn shape_ops() {
    let tol = Tolerance::default();
    check1("reshape", randn(&[2, 6], 1), |t, x| t.reshape(x, &[3, 4]));
    check1("narrow", randn(&[3, 5, 2], 2), |t, x| t.narrow(x, 1, 1, 3));
    check1("transpose", randn(&[2, 3, 4], 3), |t, x| t.transpose(x, 0, 2));
    check1("index_select", randn(&[4, 3], 4), |t, x| t.index_select(x, &[2, 0, 2, 3]));
    check1("gather", randn(&[4, 3], 5), |t, x| t.gather(x, &[2, 0, 1, 1]));
    assert_grads("concat", &[randn(&[2, 3, 2], 6), randn(&[2, 1, 2], 7), randn(&[2, 4, 2], 8)], tol, |t, v| {
        let y = t.concat(v, 1)?;
        probe(t, y, 9)
    })
    .unwrap();

    let t = Tape::no_grad();
    let a = t.constant(Tensor::new(&[2, 2], vec![1., 2., 3., 4.]).unwrap());
    let b = t.constant(Tensor::new(&[2, 1], vec![9., 8.]).unwrap());
    assert_eq!(t.value(t.concat(&[a, b], 1).unwrap()).unwrap().data(), &[1., 2., 9., 3., 4., 8.]);
    assert_eq!(t.value(t.transpose(a, 0, 1).unwrap()).unwrap().data(), &[1., 3., 2., 4.]);
    assert_eq!(t.value(t.gather(a, &[1, 0]).unwrap()).unwrap().data(), &[2., 3.]);
    assert!(t.concat(&[a, b], 0).is_err());
    assert!(t.narrow(a, 1, 1, 2).is_err());
    assert!(t.index_select(a, &[2]).is_err());
    assert!(t.reshape(a, &[3]).is_err());
}

#[test]
fn tape_semantics() {
    // Gradients accumulate over uses, intermediate grads are kept only when
    // retained, and vars cannot cross tapes.
    let t = Tape::new();
    let x = t.leaf(Tensor::new(&[2], vec![1., 2.]).unwrap());
    let y = t.mul(x, x).unwrap();
    let z = t.add(y, x).unwrap();
    t.retain_grad(y).unwrap();
    let other = Tape::new();
    assert!(other.tanh(x).is_err());
    let loss = t.sum(z).unwrap();
    let g = t.backward(loss).unwrap();
    assert_eq!(g.get(x).unwrap().data(), &[3., 5.]);
    assert_eq!(g.get(y).unwrap().data(), &[1., 1.]);
    assert!(g.get(z).is_none());

    let t = Tape::no_grad();
    let x = t.leaf(Tensor::scalar(1.0));
    let y = t.tanh(x).unwrap();
    assert!(t.backward(y).is_err());
    let t = Tape::new();
    let x = t.leaf(Tensor::zeros(&[2]));
    assert!(t.backward(x).is_err(), "a non-scalar root needs backward_with");
}
