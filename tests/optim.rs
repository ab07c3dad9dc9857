//! Optimisers: PyTorch's update rules checked on steps worked out by hand,
//! convergence, clipping, and resuming from saved state.

use hotflip::nn::ParamStore;
use hotflip::optim::{clip_grad_norm, Adam, AdamConfig, Grads, Optimizer, Sgd, SgdConfig};
use hotflip::{Rng, Tensor};

fn store_with(values: &[f32]) -> ParamStore {
    let mut s = ParamStore::new();
    s.add("w", Tensor::new(&[values.len()], values.to_vec()).unwrap()).unwrap();
    s.add_buffer("freq", Tensor::full(&[2], 0.5)).unwrap();
    s
}

fn grads(g: &[f32]) -> Grads {
    vec![Some(Tensor::new(&[g.len()], g.to_vec()).unwrap()), Some(Tensor::full(&[2], 1.0))]
}

#[test]
fn sgd_momentum_matches_pytorch_rule() {
    let mut s = store_with(&[1.0, -2.0]);
    let mut opt = Sgd::new(SgdConfig { lr: 0.1, momentum: 0.5, weight_decay: 0.0 }).unwrap();
    opt.step(&mut s, &grads(&[1.0, 2.0])).unwrap();
    // v1 = g; p1 = p0 − lr·g
    assert_eq!(s.by_name("w").unwrap().data(), &[0.9, -2.2]);
    opt.step(&mut s, &grads(&[1.0, 2.0])).unwrap();
    // v2 = μ·v1 + g = 1.5·g; p2 = p1 − lr·1.5·g
    let w = s.by_name("w").unwrap().data().to_vec();
    assert!((w[0] - 0.75).abs() < 1e-6 && (w[1] + 2.5).abs() < 1e-6, "{w:?}");
    assert_eq!(s.by_name("freq").unwrap().data(), &[0.5, 0.5], "buffers are never trained");
}

#[test]
fn adam_first_steps_and_decay() {
    let mut s = store_with(&[0.0, 0.0, 0.0]);
    let cfg = AdamConfig { lr: 0.01, decay: 0.5, ..AdamConfig::default() };
    let mut opt = Adam::new(cfg).unwrap();
    // Step 1: m̂ = g, v̂ = g², so the update is lr·g/(|g| + eps) ≈ lr·sign(g),
    // whatever the gradient's scale.
    opt.step(&mut s, &grads(&[3.0, -1e-3, 0.0])).unwrap();
    let w = s.by_name("w").unwrap().data().to_vec();
    assert!((w[0] + 0.01).abs() < 1e-6 && (w[1] - 0.01).abs() < 1e-5 && w[2] == 0.0, "{w:?}");
    // Step 2 at lr·decay = 0.005 with the same gradient: m̂ = g and v̂ = g²
    // again, so the step is again ≈ lr_2·sign(g).
    assert!((opt.current_lr() - 0.005).abs() < 1e-9);
    opt.step(&mut s, &grads(&[3.0, -1e-3, 0.0])).unwrap();
    let w = s.by_name("w").unwrap().data().to_vec();
    assert!((w[0] + 0.015).abs() < 1e-6 && (w[1] - 0.015).abs() < 1e-5, "{w:?}");
    // Step 3 with the gradient flipped: m = β1·m + (1−β1)·g' etc., computed in f64.
    let (b1, b2, g, gp) = (0.9f64, 0.999f64, 3.0f64, -3.0f64);
    let m = (1.0 - b1) * g * (1.0 + b1) * b1 + (1.0 - b1) * gp;
    let v = (1.0 - b2) * g * g * (1.0 + b2) * b2 + (1.0 - b2) * gp * gp;
    let want = -0.015 - 0.0025 * (m / (1.0 - b1.powi(3))) / ((v / (1.0 - b2.powi(3))).sqrt() + 1e-8);
    opt.step(&mut s, &grads(&[-3.0, 0.0, 0.0])).unwrap();
    let w0 = s.by_name("w").unwrap().data()[0] as f64;
    assert!((w0 - want).abs() < 1e-6, "{w0} vs {want}");
}

#[test]
fn adam_minimises_a_quadratic() {
    let target = [1.5f32, -0.5, 2.0];
    let mut s = store_with(&[0.0, 0.0, 0.0]);
    let mut opt = Adam::new(AdamConfig { lr: 0.05, decay: 1.0, ..AdamConfig::default() }).unwrap();
    for _ in 0..2000 {
        let w = s.by_name("w").unwrap().data().to_vec();
        let g: Vec<f32> = w.iter().zip(&target).map(|(w, t)| 2.0 * (w - t)).collect();
        opt.step(&mut s, &grads(&g)).unwrap();
    }
    let w = s.by_name("w").unwrap().data().to_vec();
    for (w, t) in w.iter().zip(&target) {
        assert!((w - t).abs() < 1e-2, "{w} vs {t}");
    }
}

#[test]
fn clipping_scales_jointly_and_reports_the_norm() {
    let mut g: Grads =
        vec![Some(Tensor::new(&[1], vec![3.0]).unwrap()), None, Some(Tensor::new(&[1], vec![4.0]).unwrap())];
    let n = clip_grad_norm(&mut g, 1.0);
    assert!((n - 5.0).abs() < 1e-6);
    let a = g[0].as_ref().unwrap().data()[0];
    let b = g[2].as_ref().unwrap().data()[0];
    assert!((a - 0.6).abs() < 1e-5 && (b - 0.8).abs() < 1e-5, "{a} {b}");
    let n = clip_grad_norm(&mut g, 10.0);
    assert!((n - 1.0).abs() < 1e-5);
    assert!((g[0].as_ref().unwrap().data()[0] - a).abs() < 1e-7, "under the limit nothing changes");
}

#[test]
fn resuming_from_state_continues_identically() {
    let mut rng = Rng::new(4);
    let gs: Vec<Grads> = (0..6).map(|_| grads(&[rng.normal(), rng.normal()])).collect();
    for make in [
        || -> Box<dyn Optimizer> { Box::new(Adam::new(AdamConfig::default()).unwrap()) },
        || -> Box<dyn Optimizer> { Box::new(Sgd::new(SgdConfig::default()).unwrap()) },
    ] {
        let mut a_store = store_with(&[0.3, -0.2]);
        let mut a = make();
        for g in &gs {
            a.step(&mut a_store, g).unwrap();
        }
        let mut b_store = store_with(&[0.3, -0.2]);
        let mut b = make();
        for g in &gs[..3] {
            b.step(&mut b_store, g).unwrap();
        }
        let (state, steps) = b.state(&b_store);
        let mut c = make();
        c.load_state(&b_store, &state, steps).unwrap();
        for g in &gs[3..] {
            c.step(&mut b_store, g).unwrap();
        }
        assert_eq!(a_store.by_name("w").unwrap(), b_store.by_name("w").unwrap());
        assert_eq!(a.current_lr(), c.current_lr());
    }
}

#[test]
fn bad_settings_and_gradients_are_rejected() {
    assert!(Adam::new(AdamConfig { lr: 0.0, ..AdamConfig::default() }).is_err());
    assert!(Sgd::new(SgdConfig { momentum: 1.0, ..SgdConfig::default() }).is_err());
    let mut s = store_with(&[0.0, 0.0]);
    let mut opt = Sgd::new(SgdConfig::default()).unwrap();
    let e = opt.step(&mut s, &grads(&[1.0])).unwrap_err().to_string();
    assert!(e.contains("`w`"), "{e}");
}
