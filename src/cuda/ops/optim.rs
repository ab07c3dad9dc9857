//! Launchers for kernels/optim.cu (in-place parameter updates), checked
//! against the plain twins in `cuda::twins`.

use crate::cuda::buffer::DeviceBuf;
use crate::cuda::gpu::{elementwise, Gpu};
use crate::cuda::params::{AdamParams, SgdParams};
use crate::cuda::registry::k;
use crate::cuda::selfcheck::{randn, rel_err, trial_sizes, uniform, worst, Check, CHAIN};
use crate::cuda::twins::{adam_params, adam_step, sgd_momentum_step};
use crate::error::Result;
use crate::rng::Rng;

/// One SGD-with-momentum step on `param`, in place.
pub fn sgd_momentum(
    gpu: &Gpu,
    p: &SgdParams,
    param: &mut DeviceBuf<f32>,
    grad: &DeviceBuf<f32>,
    velocity: &mut DeviceBuf<f32>,
) -> Result<()> {
    let kr = k::optim::SGD_MOMENTUM_F32;
    let n = param.len();
    grad.expect_len(kr.name, "grad", n)?;
    velocity.expect_len(kr.name, "velocity", n)?;
    if n == 0 {
        return Ok(());
    }
    let n64 = n as u64;
    let mut args = gpu.args();
    args.arg(p).arg(&mut *param).arg(grad).arg(&mut *velocity).arg(&n64);
    // SAFETY: (p, param, grad, velocity, n) is the kernel's parameter list; all hold n elements.
    unsafe { gpu.launch(kr, &mut args, elementwise(n)) }
}

/// One Adam (or AdamW) step on `param`, in place.
pub fn adam(
    gpu: &Gpu,
    p: &AdamParams,
    param: &mut DeviceBuf<f32>,
    grad: &DeviceBuf<f32>,
    (m, v): (&mut DeviceBuf<f32>, &mut DeviceBuf<f32>),
) -> Result<()> {
    let kr = k::optim::ADAM_F32;
    let n = param.len();
    grad.expect_len(kr.name, "grad", n)?;
    m.expect_len(kr.name, "m", n)?;
    v.expect_len(kr.name, "v", n)?;
    if n == 0 {
        return Ok(());
    }
    let n64 = n as u64;
    let mut args = gpu.args();
    args.arg(p).arg(&mut *param).arg(grad).arg(&mut *m).arg(&mut *v).arg(&n64);
    // SAFETY: (p, param, grad, m, v, n) is the kernel's parameter list; all hold n elements.
    unsafe { gpu.launch(kr, &mut args, elementwise(n)) }
}

/// `new − old`: parameters change by a learning-rate-sized step, so they
/// are compared by their updates, where an element left unwritten stands out.
fn delta(new: &[f32], old: &[f32]) -> Vec<f32> {
    new.iter().zip(old).map(|(a, b)| a - b).collect()
}

fn check_sgd(gpu: &Gpu, rng: &mut Rng) -> Result<f64> {
    let mut err = 0.0;
    for (trial, n) in trial_sizes(rng).into_iter().enumerate() {
        let p = SgdParams {
            lr: rng.uniform_range(1e-3, 0.5),
            momentum: if trial == 0 { 0.0 } else { 0.9 },
            dampening: if trial == 2 { 0.1 } else { 0.0 },
            weight_decay: if trial == 1 { 0.0 } else { 1e-2 },
            nesterov: (trial == 2) as u32,
            first_step: (trial == 1) as u32,
        };
        let (mut th, g, mut vel) = (randn(rng, n, 1.0), randn(rng, n, 1.0), randn(rng, n, 0.1));
        let (mut thd, gd, mut veld) = (gpu.upload(&th)?, gpu.upload(&g)?, gpu.upload(&vel)?);
        let th0 = th.clone();
        sgd_momentum_step(&p, &mut th, &g, &mut vel);
        sgd_momentum(gpu, &p, &mut thd, &gd, &mut veld)?;
        err = worst(err, rel_err(&delta(&gpu.download(&thd)?, &th0), &delta(&th, &th0)));
        err = worst(err, rel_err(&gpu.download(&veld)?, &vel));
    }
    Ok(err)
}

fn check_adam(gpu: &Gpu, rng: &mut Rng) -> Result<f64> {
    let mut err = 0.0;
    for (trial, n) in trial_sizes(rng).into_iter().enumerate() {
        let step = [1, 10, 1000][trial];
        let p = adam_params(1e-3, (0.9, 0.999), 1e-8, [0.0, 0.01, 0.1][trial], trial == 2, step);
        let (mut th, g) = (randn(rng, n, 1.0), randn(rng, n, 1.0));
        let (mut m, mut v) = (randn(rng, n, 0.1), uniform(rng, n, 0.0, 0.1));
        let (mut thd, gd, mut md, mut vd) = (gpu.upload(&th)?, gpu.upload(&g)?, gpu.upload(&m)?, gpu.upload(&v)?);
        let th0 = th.clone();
        adam_step(&p, &mut th, &g, &mut m, &mut v);
        adam(gpu, &p, &mut thd, &gd, (&mut md, &mut vd))?;
        err = worst(err, rel_err(&delta(&gpu.download(&thd)?, &th0), &delta(&th, &th0)));
        err = worst(err, rel_err(&gpu.download(&md)?, &m));
        err = worst(err, rel_err(&gpu.download(&vd)?, &v));
    }
    Ok(err)
}

pub(crate) fn checks() -> Vec<Check> {
    vec![
        Check::kernel(k::optim::SGD_MOMENTUM_F32, "cuda::twins::sgd_momentum_step", CHAIN, check_sgd),
        Check::kernel(k::optim::ADAM_F32, "cuda::twins::adam_step", CHAIN, check_adam),
    ]
}
