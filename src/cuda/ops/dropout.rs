//! Launcher for kernels/dropout.cu, checked bit for bit against
//! `ops::dropout::apply` (the mask is a hash of (seed, index) on both sides).

use crate::cuda::buffer::DeviceBuf;
use crate::cuda::gpu::{elementwise, Gpu};
use crate::cuda::registry::k;
use crate::cuda::selfcheck::{randn, trial_sizes, Check, MOVE, POISON};
use crate::error::{Error, Result};
use crate::ops::dropout;
use crate::rng::Rng;

/// `out = keep(seed, i, p) ? x / (1 − p) : 0`; the backward is the same call
/// on the gradient with the same seed.
pub fn dropout(gpu: &Gpu, x: &DeviceBuf<f32>, p: f32, seed: u64, out: &mut DeviceBuf<f32>) -> Result<()> {
    let kr = k::dropout::DROPOUT_F32;
    if !(0.0..1.0).contains(&p) {
        return Err(Error::invalid(kr.name, format!("probability {p} must be in [0, 1)")));
    }
    out.expect_len(kr.name, "out", x.len())?;
    if x.is_empty() {
        return Ok(());
    }
    let n = x.len() as u64;
    let cfg = elementwise(x.len());
    let mut args = gpu.args();
    args.arg(x).arg(&n).arg(&seed).arg(&p).arg(&mut *out);
    // SAFETY: (x, n, seed, p, out) is the kernel's parameter list; both hold n elements.
    unsafe { gpu.launch(kr, &mut args, cfg) }
}

/// 0 when the output equals the twin's bit for bit, else infinity: the
/// mask must agree exactly, and each kept value is one IEEE multiply.
fn check(gpu: &Gpu, rng: &mut Rng) -> Result<f64> {
    for n in trial_sizes(rng) {
        let x = randn(rng, n, 1.0);
        let seed = rng.next_u64();
        let p = [0.1f32, 0.5, rng.uniform_range(0.0, 0.95)][rng.below(3)];
        let want = dropout::apply(&x, seed, p);
        let xd = gpu.upload(&x)?;
        let mut od = gpu.filled(n, POISON)?;
        dropout(gpu, &xd, p, seed, &mut od)?;
        let got = gpu.download(&od)?;
        if got.iter().zip(&want).any(|(a, b)| a.to_bits() != b.to_bits() && !(*a == 0.0 && *b == 0.0)) {
            return Ok(f64::INFINITY);
        }
    }
    Ok(0.0)
}

pub(crate) fn checks() -> Vec<Check> {
    vec![Check::kernel(k::dropout::DROPOUT_F32, "ops::dropout::apply", MOVE, check)]
}
