//! CPU twins that are not engine code: the optimiser updates of
//! kernels/optim.cu, written for the self-check from PyTorch's update rules
//! (`src/optim/` holds the engine's own optimisers). Each line does the
//! kernel's arithmetic in the kernel's order.

use super::params::{AdamParams, SgdParams};

/// SGD with momentum, in place (torch.optim.SGD):
/// `d = g + wd·θ; v = first ? d : μ·v + (1 − τ)·d; d = nesterov ? d + μ·v : v; θ −= lr·d`.
pub fn sgd_momentum_step(p: &SgdParams, param: &mut [f32], grad: &[f32], velocity: &mut [f32]) {
    for i in 0..param.len() {
        let mut d = grad[i];
        if p.weight_decay != 0.0 {
            d += p.weight_decay * param[i];
        }
        if p.momentum != 0.0 {
            let v = if p.first_step != 0 { d } else { p.momentum * velocity[i] + (1.0 - p.dampening) * d };
            velocity[i] = v;
            d = if p.nesterov != 0 { d + p.momentum * v } else { v };
        }
        param[i] -= p.lr * d;
    }
}

/// Adam (AdamW when `decoupled`), in place, with bias correction:
/// `θ −= (lr / bc1) · m / (sqrt(v) / sqrt(bc2) + eps)`.
pub fn adam_step(p: &AdamParams, param: &mut [f32], grad: &[f32], m: &mut [f32], v: &mut [f32]) {
    for i in 0..param.len() {
        let mut theta = param[i];
        let mut g = grad[i];
        if p.weight_decay != 0.0 {
            if p.decoupled != 0 {
                theta *= 1.0 - p.lr * p.weight_decay;
            } else {
                g += p.weight_decay * theta;
            }
        }
        let mi = p.beta1 * m[i] + (1.0 - p.beta1) * g;
        let vi = p.beta2 * v[i] + (1.0 - p.beta2) * g * g;
        m[i] = mi;
        v[i] = vi;
        let denom = vi.sqrt() / p.bias_correction2_sqrt + p.eps;
        let step = p.lr / p.bias_correction1;
        param[i] = theta - step * (mi / denom);
    }
}

/// Adam's parameters for step `t` (1-based), bias corrections in f64.
pub fn adam_params(
    lr: f32,
    (beta1, beta2): (f32, f32),
    eps: f32,
    weight_decay: f32,
    decoupled: bool,
    t: u32,
) -> AdamParams {
    let bc1 = 1.0 - (beta1 as f64).powi(t as i32);
    let bc2 = 1.0 - (beta2 as f64).powi(t as i32);
    AdamParams {
        lr,
        beta1,
        beta2,
        eps,
        weight_decay,
        bias_correction1: bc1 as f32,
        bias_correction2_sqrt: bc2.sqrt() as f32,
        decoupled: decoupled as u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Tape, Tensor};

    /// The same update written with the engine's tape ops, one op at a time.
    fn adam_on_tape(p: &AdamParams, theta: &[f32], g: &[f32], m: &[f32], v: &[f32]) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        let t = Tape::no_grad();
        let n = theta.len();
        let c = |x: &[f32]| t.constant(Tensor::new(&[n], x.to_vec()).unwrap());
        let (th, g, m, v) = (c(theta), c(g), c(m), c(v));
        let mut th = th;
        let mut g = g;
        if p.decoupled != 0 {
            th = t.scale(th, 1.0 - p.lr * p.weight_decay).unwrap();
        } else {
            g = t.add(g, t.scale(th, p.weight_decay).unwrap()).unwrap();
        }
        let m2 = t.add(t.scale(m, p.beta1).unwrap(), t.scale(g, 1.0 - p.beta1).unwrap()).unwrap();
        let g2 = t.mul(t.scale(g, 1.0 - p.beta2).unwrap(), g).unwrap();
        let v2 = t.add(t.scale(v, p.beta2).unwrap(), g2).unwrap();
        let denom = t.add_scalar(t.scale(t.sqrt(v2).unwrap(), 1.0 / p.bias_correction2_sqrt).unwrap(), p.eps).unwrap();
        let upd = t.scale(t.div(m2, denom).unwrap(), p.lr / p.bias_correction1).unwrap();
        let th2 = t.sub(th, upd).unwrap();
        let get = |x| t.value(x).unwrap().into_vec();
        (get(th2), get(m2), get(v2))
    }

    fn close(a: &[f32], b: &[f32], tol: f32) {
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() <= tol * (1.0 + y.abs()), "{x} vs {y}");
        }
    }

    #[test]
    fn adam_first_step_moves_by_lr_times_sign() {
        // With m = v = 0 and no decay, step 1 is lr · g/(|g| + eps·...) ≈ lr · sign(g).
        let p = adam_params(0.01, (0.9, 0.999), 1e-8, 0.0, false, 1);
        let (mut th, g) = (vec![1.0f32, -2.0, 0.5], vec![0.3f32, -4.0, 1e-3]);
        let (mut m, mut v) = (vec![0.0; 3], vec![0.0; 3]);
        adam_step(&p, &mut th, &g, &mut m, &mut v);
        close(&th, &[0.99, -1.99, 0.49], 1e-5);
        close(&m, &[0.03, -0.4, 1e-4], 1e-6);
    }

    #[test]
    fn adam_matches_the_update_built_from_tape_ops() {
        let mut rng = crate::Rng::new(3);
        for (decoupled, t) in [(false, 1), (true, 7), (false, 100)] {
            let p = adam_params(3e-3, (0.9, 0.98), 1e-6, 0.1, decoupled, t);
            let n = 50;
            let th: Vec<f32> = (0..n).map(|_| rng.normal()).collect();
            let g: Vec<f32> = (0..n).map(|_| rng.normal()).collect();
            let m: Vec<f32> = (0..n).map(|_| 0.1 * rng.normal()).collect();
            let v: Vec<f32> = (0..n).map(|_| rng.uniform()).collect();
            let (want_th, want_m, want_v) = adam_on_tape(&p, &th, &g, &m, &v);
            let (mut th2, mut m2, mut v2) = (th.clone(), m.clone(), v.clone());
            adam_step(&p, &mut th2, &g, &mut m2, &mut v2);
            close(&th2, &want_th, 1e-6);
            close(&m2, &want_m, 1e-6);
            close(&v2, &want_v, 1e-6);
        }
    }

    #[test]
    fn sgd_momentum_matches_pytorch_by_hand() {
        // PyTorch: buf = g on step 1, then buf = μ·buf + (1 − τ)·g.
        let mut p = SgdParams { lr: 0.1, momentum: 0.9, dampening: 0.0, weight_decay: 0.0, nesterov: 0, first_step: 1 };
        let (mut th, mut vel) = (vec![1.0f32], vec![123.0f32]);
        sgd_momentum_step(&p, &mut th, &[2.0], &mut vel);
        assert_eq!((th[0], vel[0]), (1.0 - 0.2, 2.0));
        p.first_step = 0;
        sgd_momentum_step(&p, &mut th, &[1.0], &mut vel);
        close(&vel, &[0.9 * 2.0 + 1.0], 1e-7);
        close(&th, &[0.8 - 0.1 * 2.8], 1e-7);
        // Nesterov and weight decay: d = g + wd·θ; v = μ·v + d; θ −= lr·(d + μ·v).
        let p = SgdParams { lr: 0.5, momentum: 0.5, dampening: 0.0, weight_decay: 0.1, nesterov: 1, first_step: 0 };
        let (mut th, mut vel) = (vec![2.0f32], vec![1.0f32]);
        sgd_momentum_step(&p, &mut th, &[1.0], &mut vel);
        let d = 1.0 + 0.1 * 2.0;
        let v = 0.5 * 1.0 + d;
        close(&vel, &[v], 1e-7);
        close(&th, &[2.0 - 0.5 * (d + 0.5 * v)], 1e-7);
        // Momentum 0 is plain SGD and leaves the buffer alone.
        let p = SgdParams { momentum: 0.0, ..p };
        let (mut th, mut vel) = (vec![2.0f32], vec![7.0f32]);
        sgd_momentum_step(&p, &mut th, &[1.0], &mut vel);
        assert_eq!(vel[0], 7.0);
        close(&th, &[2.0 - 0.5 * 1.2], 1e-7);
    }

    #[test]
    fn sgd_matches_the_update_built_from_tape_ops() {
        let mut rng = crate::Rng::new(4);
        let n = 40;
        let p = SgdParams { lr: 0.05, momentum: 0.9, dampening: 0.1, weight_decay: 0.01, nesterov: 0, first_step: 0 };
        let th: Vec<f32> = (0..n).map(|_| rng.normal()).collect();
        let g: Vec<f32> = (0..n).map(|_| rng.normal()).collect();
        let vel: Vec<f32> = (0..n).map(|_| rng.normal()).collect();
        let t = Tape::no_grad();
        let c = |x: &[f32]| t.constant(Tensor::new(&[n], x.to_vec()).unwrap());
        let d = t.add(c(&g), t.scale(c(&th), p.weight_decay).unwrap()).unwrap();
        let v = t.add(t.scale(c(&vel), p.momentum).unwrap(), t.scale(d, 1.0 - p.dampening).unwrap()).unwrap();
        let th2 = t.sub(c(&th), t.scale(v, p.lr).unwrap()).unwrap();
        let (mut got_th, mut got_v) = (th.clone(), vel.clone());
        sgd_momentum_step(&p, &mut got_th, &g, &mut got_v);
        close(&got_v, &t.value(v).unwrap().into_vec(), 1e-6);
        close(&got_th, &t.value(th2).unwrap().into_vec(), 1e-6);
    }
}
