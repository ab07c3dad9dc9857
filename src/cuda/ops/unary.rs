//! Launchers for kernels/unary.cu, and their checks against
//! `ops::unary` (the engine's own elementwise rules).

use crate::cuda::buffer::DeviceBuf;
use crate::cuda::gpu::{elementwise, Gpu};
use crate::cuda::registry::{k, KernelRef};
use crate::cuda::selfcheck::{randn, rel_err, small_sizes, trial_sizes, uniform, worst, Check, MATH, MOVE, POISON};
use crate::error::Result;
use crate::ops::unary::{add_scalar_values, scale_values, unary_backward, unary_forward};
use crate::ops::Unary;
use crate::rng::Rng;

fn forward_kernel(op: Unary) -> KernelRef {
    match op {
        Unary::Tanh => k::unary::TANH_FWD_F32,
        Unary::Sigmoid => k::unary::SIGMOID_FWD_F32,
        Unary::Relu => k::unary::RELU_FWD_F32,
        Unary::Exp => k::unary::EXP_FWD_F32,
        Unary::Log => k::unary::LOG_FWD_F32,
        Unary::Neg => k::unary::NEG_FWD_F32,
        Unary::Square => k::unary::SQUARE_FWD_F32,
        Unary::Sqrt => k::unary::SQRT_FWD_F32,
    }
}

fn backward_kernel(op: Unary) -> KernelRef {
    match op {
        Unary::Tanh => k::unary::TANH_BWD_F32,
        Unary::Sigmoid => k::unary::SIGMOID_BWD_F32,
        Unary::Relu => k::unary::RELU_BWD_F32,
        Unary::Exp => k::unary::EXP_BWD_F32,
        Unary::Log => k::unary::LOG_BWD_F32,
        Unary::Neg => k::unary::NEG_BWD_F32,
        Unary::Square => k::unary::SQUARE_BWD_F32,
        Unary::Sqrt => k::unary::SQRT_BWD_F32,
    }
}

/// `y = op(x)`.
pub fn forward(gpu: &Gpu, op: Unary, x: &DeviceBuf<f32>, y: &mut DeviceBuf<f32>) -> Result<()> {
    let kr = forward_kernel(op);
    y.expect_len(kr.name, "y", x.len())?;
    if x.is_empty() {
        return Ok(());
    }
    let n = x.len() as u64;
    let cfg = elementwise(x.len());
    let mut args = gpu.args();
    args.arg(x).arg(&mut *y).arg(&n);
    // SAFETY: (x, y, n) is the kernel's parameter list; both buffers hold n elements.
    unsafe { gpu.launch(kr, &mut args, cfg) }
}

/// `gx = op'(x, y) · g` for the op's input `x`, output `y` and gradient `g`.
pub fn backward(
    gpu: &Gpu,
    op: Unary,
    x: &DeviceBuf<f32>,
    y: &DeviceBuf<f32>,
    g: &DeviceBuf<f32>,
    gx: &mut DeviceBuf<f32>,
) -> Result<()> {
    let kr = backward_kernel(op);
    let n = x.len();
    y.expect_len(kr.name, "y", n)?;
    g.expect_len(kr.name, "g", n)?;
    gx.expect_len(kr.name, "gx", n)?;
    if n == 0 {
        return Ok(());
    }
    let n64 = n as u64;
    let mut args = gpu.args();
    args.arg(x).arg(y).arg(g).arg(&mut *gx).arg(&n64);
    // SAFETY: (x, y, g, gx, n) is the kernel's parameter list; all hold n elements.
    unsafe { gpu.launch(kr, &mut args, elementwise(n)) }
}

/// `y = c·x` (kernel `scale_f32`) or `y = x + c` (`add_scalar_f32`).
fn with_scalar(gpu: &Gpu, kr: KernelRef, x: &DeviceBuf<f32>, y: &mut DeviceBuf<f32>, c: f32) -> Result<()> {
    y.expect_len(kr.name, "y", x.len())?;
    if x.is_empty() {
        return Ok(());
    }
    let n = x.len() as u64;
    let cfg = elementwise(x.len());
    let mut args = gpu.args();
    args.arg(x).arg(&mut *y).arg(&n).arg(&c);
    // SAFETY: (x, y, n, c) is the kernel's parameter list; both buffers hold n elements.
    unsafe { gpu.launch(kr, &mut args, cfg) }
}

/// `y = c·x`.
pub fn scale(gpu: &Gpu, x: &DeviceBuf<f32>, y: &mut DeviceBuf<f32>, c: f32) -> Result<()> {
    with_scalar(gpu, k::unary::SCALE_F32, x, y, c)
}

/// `y = x + c`.
pub fn add_scalar(gpu: &Gpu, x: &DeviceBuf<f32>, y: &mut DeviceBuf<f32>, c: f32) -> Result<()> {
    with_scalar(gpu, k::unary::ADD_SCALAR_F32, x, y, c)
}

/// Inputs inside each op's domain (log and sqrt need positive values).
fn input(op: Unary, rng: &mut Rng, n: usize) -> Vec<f32> {
    match op {
        Unary::Log | Unary::Sqrt => uniform(rng, n, 0.25, 4.0),
        _ => randn(rng, n, 2.0),
    }
}

fn check_forward(gpu: &Gpu, rng: &mut Rng, op: Unary) -> Result<f64> {
    let mut err = 0.0;
    for n in trial_sizes(rng) {
        let x = input(op, rng, n);
        let mut want = vec![0.0; n];
        unary_forward(op, &x, &mut want);
        let xd = gpu.upload(&x)?;
        let mut yd = gpu.filled(n, POISON)?;
        forward(gpu, op, &xd, &mut yd)?;
        err = worst(err, rel_err(&gpu.download(&yd)?, &want));
    }
    Ok(err)
}

fn check_backward(gpu: &Gpu, rng: &mut Rng, op: Unary) -> Result<f64> {
    let mut err = 0.0;
    for n in trial_sizes(rng) {
        let x = input(op, rng, n);
        let mut y = vec![0.0; n];
        unary_forward(op, &x, &mut y);
        let g = randn(rng, n, 1.0);
        let mut want = vec![0.0; n];
        unary_backward(op, &x, &y, &g, &mut want);
        let (xd, yd, gd) = (gpu.upload(&x)?, gpu.upload(&y)?, gpu.upload(&g)?);
        let mut gxd = gpu.filled(n, POISON)?;
        backward(gpu, op, &xd, &yd, &gd, &mut gxd)?;
        err = worst(err, rel_err(&gpu.download(&gxd)?, &want));
    }
    Ok(err)
}

fn check_scalar(gpu: &Gpu, rng: &mut Rng, add: bool) -> Result<f64> {
    let mut err = 0.0;
    // The last size needs more than one pass of the largest grid, so the
    // grid-stride loop itself is checked.
    let mut sizes = trial_sizes(rng).to_vec();
    // (Not on the emulator: 2^24 fibers. The loop is HF_FOR_EACH, the same
    // macro every elementwise kernel uses.)
    if !small_sizes() {
        sizes.push((1 << 24) + 1 + rng.below(1 << 16));
    }
    for n in sizes {
        let x = randn(rng, n, 1.0);
        let c = rng.uniform_range(-3.0, 3.0);
        let mut want = vec![0.0; n];
        let (xd, mut yd) = (gpu.upload(&x)?, gpu.filled(n, POISON)?);
        if add {
            add_scalar_values(&x, c, &mut want);
            add_scalar(gpu, &xd, &mut yd, c)?;
        } else {
            scale_values(&x, c, &mut want);
            scale(gpu, &xd, &mut yd, c)?;
        }
        err = worst(err, rel_err(&gpu.download(&yd)?, &want));
    }
    Ok(err)
}

pub(crate) fn checks() -> Vec<Check> {
    let mut checks = Vec::new();
    for op in Unary::ALL {
        // Negation is a sign flip: exact.
        let tol = if op == Unary::Neg { MOVE } else { MATH };
        checks.push(Check::kernel(forward_kernel(op), "ops::unary::unary_forward", tol, move |g, r| {
            check_forward(g, r, op)
        }));
        checks.push(Check::kernel(backward_kernel(op), "ops::unary::unary_backward", tol, move |g, r| {
            check_backward(g, r, op)
        }));
    }
    checks.push(Check::kernel(k::unary::SCALE_F32, "ops::unary::scale_values", MOVE, |g, r| check_scalar(g, r, false)));
    checks.push(Check::kernel(k::unary::ADD_SCALAR_F32, "ops::unary::add_scalar_values", MOVE, |g, r| {
        check_scalar(g, r, true)
    }));
    checks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_op_has_its_own_kernels() {
        let mut names: Vec<&str> =
            Unary::ALL.iter().flat_map(|&op| [forward_kernel(op).name, backward_kernel(op).name]).collect();
        for op in Unary::ALL {
            assert!(forward_kernel(op).name.starts_with(op.name()));
            assert!(backward_kernel(op).name.starts_with(op.name()));
        }
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 16);
    }
}
