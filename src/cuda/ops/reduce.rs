//! Launchers for kernels/reduce.cu, checked against `ops::cpu::{sum,
//! col_sums}` and the reductions of `ops::reduce`.

use cudarc::driver::LaunchConfig;

use crate::cuda::buffer::DeviceBuf;
use crate::cuda::gpu::{elementwise, to_u32, Gpu};
use crate::cuda::registry::k;
use crate::cuda::selfcheck::{index_err, randn, rel_err, size_in, worst, Check, MATH, MOVE, POISON, POISON_U32};
use crate::error::{Error, Result};
use crate::ops::cpu;
use crate::ops::reduce::{max_axis_forward, max_backward, max_over_valid_forward, sum_axis_forward};
use crate::rng::Rng;

/// `HF_SUM_THREADS` in kernels/reduce.cu.
const SUM_THREADS: u32 = 256;
/// Most partial sums; pass 2 adds them in one block.
const MAX_PARTIALS: usize = 1024;

/// How many partial sums (blocks) pass 1 uses for `n` elements: a function
/// of `n` alone, so the summation order, and the result, never depends on
/// the device.
pub fn sum_partial_count(n: usize) -> usize {
    n.div_ceil(SUM_THREADS as usize * 16).clamp(1, MAX_PARTIALS)
}

/// A view of a tensor as `[outer, size, inner]`, reduced along `size`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Axis {
    pub outer: usize,
    pub size: usize,
    pub inner: usize,
}

impl Axis {
    fn input_len(self) -> usize {
        self.outer * self.size * self.inner
    }

    fn output_len(self) -> usize {
        self.outer * self.inner
    }

    fn args(self) -> (u64, u64, u64) {
        (self.outer as u64, self.size as u64, self.inner as u64)
    }
}

/// Pass 1 of [`sum`]: `partials[b]` = f64 sum of block b's share of `x`.
pub fn sum_partials(gpu: &Gpu, x: &DeviceBuf<f32>, partials: &mut DeviceBuf<f64>) -> Result<()> {
    let kr = k::reduce::SUM_PARTIALS_F32;
    let blocks = sum_partial_count(x.len());
    partials.expect_len(kr.name, "partials", blocks)?;
    let n = x.len() as u64;
    let mut args = gpu.args();
    args.arg(x).arg(&n).arg(&mut *partials);
    let cfg = LaunchConfig { grid_dim: (blocks as u32, 1, 1), block_dim: (SUM_THREADS, 1, 1), shared_mem_bytes: 0 };
    // SAFETY: (x, n, partials) is the kernel's parameter list; block b writes partials[b] only.
    unsafe { gpu.launch(kr, &mut args, cfg) }
}

/// Pass 2 of [`sum`]: `out[0]` = the partials added, as f32.
pub fn sum_finish(gpu: &Gpu, partials: &DeviceBuf<f64>, out: &mut DeviceBuf<f32>) -> Result<()> {
    let kr = k::reduce::SUM_FINISH_F32;
    out.expect_len(kr.name, "out", 1)?;
    let count = u32::try_from(partials.len()).map_err(|_| Error::invalid(kr.name, "too many partial sums"))?;
    let mut args = gpu.args();
    args.arg(partials).arg(&count).arg(&mut *out);
    let cfg = LaunchConfig { grid_dim: (1, 1, 1), block_dim: (SUM_THREADS, 1, 1), shared_mem_bytes: 0 };
    // SAFETY: (partials, count, out) is the kernel's parameter list.
    unsafe { gpu.launch(kr, &mut args, cfg) }
}

/// `out[0]` = the sum of all of `x`, accumulated in f64 (`Tape::sum`).
pub fn sum(gpu: &Gpu, x: &DeviceBuf<f32>, out: &mut DeviceBuf<f32>) -> Result<()> {
    let mut partials = gpu.zeros(sum_partial_count(x.len()))?;
    sum_partials(gpu, x, &mut partials)?;
    sum_finish(gpu, &partials, out)
}

/// `out [outer, inner]` = `x` summed along `size` (column sums: outer = 1).
pub fn sum_axis(gpu: &Gpu, x: &DeviceBuf<f32>, axis: Axis, out: &mut DeviceBuf<f32>) -> Result<()> {
    let kr = k::reduce::SUM_AXIS_F32;
    x.expect_len(kr.name, "x", axis.input_len())?;
    out.expect_len(kr.name, "out", axis.output_len())?;
    if out.is_empty() {
        return Ok(());
    }
    let (o, s, i) = axis.args();
    let cfg = elementwise(out.len());
    let mut args = gpu.args();
    args.arg(x).arg(&o).arg(&s).arg(&i).arg(&mut *out);
    // SAFETY: (x, outer, size, inner, out) is the kernel's parameter list; lengths checked above.
    unsafe { gpu.launch(kr, &mut args, cfg) }
}

/// `out, arg [outer, inner]` = max along `size` (≥ 1) and its first index.
pub fn max_axis(
    gpu: &Gpu,
    x: &DeviceBuf<f32>,
    axis: Axis,
    out: &mut DeviceBuf<f32>,
    arg: &mut DeviceBuf<u32>,
) -> Result<()> {
    let kr = k::reduce::MAX_AXIS_FWD_F32;
    if axis.size == 0 {
        return Err(Error::invalid(kr.name, "cannot take the max along an empty axis"));
    }
    x.expect_len(kr.name, "x", axis.input_len())?;
    out.expect_len(kr.name, "out", axis.output_len())?;
    arg.expect_len(kr.name, "arg", axis.output_len())?;
    if out.is_empty() {
        return Ok(());
    }
    let (o, s, i) = axis.args();
    let cfg = elementwise(out.len());
    let mut a = gpu.args();
    a.arg(x).arg(&o).arg(&s).arg(&i).arg(&mut *out).arg(&mut *arg);
    // SAFETY: (x, outer, size, inner, out, arg) is the kernel's parameter list; lengths checked above.
    unsafe { gpu.launch(kr, &mut a, cfg) }
}

/// `out, arg [n, f]` = max over the first `valid[e]` positions of `x [n, p, f]`.
pub fn max_over_valid(
    gpu: &Gpu,
    x: &DeviceBuf<f32>,
    valid: &DeviceBuf<u32>,
    (n, p, f): (usize, usize, usize),
    out: &mut DeviceBuf<f32>,
    arg: &mut DeviceBuf<u32>,
) -> Result<()> {
    let kr = k::reduce::MAX_OVER_VALID_FWD_F32;
    x.expect_len(kr.name, "x", n * p * f)?;
    valid.expect_len(kr.name, "valid", n)?;
    out.expect_len(kr.name, "out", n * f)?;
    arg.expect_len(kr.name, "arg", n * f)?;
    if out.is_empty() {
        return Ok(());
    }
    // The kernel trusts 1 ≤ valid[e] ≤ p (it would read past x otherwise),
    // and the counts live on the device: callers upload them with
    // [`upload_valid`], which checks them.
    let (n64, p64, f64_) = (n as u64, p as u64, f as u64);
    let cfg = elementwise(out.len());
    let mut a = gpu.args();
    a.arg(x).arg(valid).arg(&n64).arg(&p64).arg(&f64_).arg(&mut *out).arg(&mut *arg);
    // SAFETY: the kernel's parameter list; lengths checked above, counts by upload_valid.
    unsafe { gpu.launch(kr, &mut a, cfg) }
}

/// Uploads per-example valid counts after checking 1 ≤ count ≤ p.
pub fn upload_valid(gpu: &Gpu, valid: &[usize], p: usize) -> Result<DeviceBuf<u32>> {
    if let Some(&v) = valid.iter().find(|&&v| v == 0 || v > p) {
        return Err(Error::invalid("max_over_valid", format!("valid count {v} outside 1..={p}")));
    }
    gpu.upload(&to_u32("max_over_valid", "valid count", valid)?)
}

/// `gx [outer, size, inner]` = `g` at each argmax, 0 elsewhere (backward of
/// both maxima). `arg` values must be below `size`.
pub fn max_bwd(gpu: &Gpu, g: &DeviceBuf<f32>, arg: &DeviceBuf<u32>, axis: Axis, gx: &mut DeviceBuf<f32>) -> Result<()> {
    let kr = k::reduce::MAX_BWD_F32;
    g.expect_len(kr.name, "g", axis.output_len())?;
    arg.expect_len(kr.name, "arg", axis.output_len())?;
    gx.expect_len(kr.name, "gx", axis.input_len())?;
    if gx.is_empty() {
        return Ok(());
    }
    let (o, s, i) = axis.args();
    let cfg = elementwise(gx.len());
    let mut a = gpu.args();
    a.arg(g).arg(arg).arg(&o).arg(&s).arg(&i).arg(&mut *gx);
    // SAFETY: (g, arg, outer, size, inner, gx) is the kernel's parameter list;
    // it reads g and arg at [outer, inner] indices only.
    unsafe { gpu.launch(kr, &mut a, cfg) }
}

fn random_axis(rng: &mut Rng) -> Axis {
    Axis { outer: size_in(rng, 1, 40), size: size_in(rng, 1, 60), inner: size_in(rng, 1, 300) }
}

fn check_sum_partials(gpu: &Gpu, rng: &mut Rng) -> Result<f64> {
    let mut err = 0.0;
    for n in [0, 1, size_in(rng, 2, 5000), size_in(rng, 100_000, 3_000_000)] {
        let x = randn(rng, n, 1.0);
        let xd = gpu.upload(&x)?;
        let mut partials = gpu.filled(sum_partial_count(n), f64::NAN)?;
        sum_partials(gpu, &xd, &mut partials)?;
        let parts = gpu.download(&partials)?;
        if parts.iter().any(|v| v.is_nan()) {
            return Ok(f64::NAN);
        }
        // The partials must add up to the CPU's f64 sum.
        let (total, want): (f64, f64) = (parts.iter().sum(), cpu::sum(&x));
        err = worst(err, if want == 0.0 { total.abs() } else { ((total - want) / want).abs() });
    }
    Ok(err)
}

fn check_sum_finish(gpu: &Gpu, rng: &mut Rng) -> Result<f64> {
    let mut err = 0.0;
    for count in [1, size_in(rng, 2, 300), MAX_PARTIALS] {
        let parts: Vec<f64> = (0..count).map(|_| rng.normal() as f64 * 100.0).collect();
        let pd = gpu.upload(&parts)?;
        let mut out = gpu.filled(1, POISON)?;
        sum_finish(gpu, &pd, &mut out)?;
        let want = parts.iter().sum::<f64>() as f32;
        err = worst(err, rel_err(&gpu.download(&out)?, &[want]));
    }
    Ok(err)
}

fn check_sum_axis(gpu: &Gpu, rng: &mut Rng) -> Result<f64> {
    let mut err = 0.0;
    let mut axes: Vec<Axis> = (0..4).map(|_| random_axis(rng)).collect();
    // Column sums of a bias gradient: the CPU's `col_sums` is the twin too.
    axes.push(Axis { outer: 1, size: size_in(rng, 500, 3000), inner: size_in(rng, 100, 2000) });
    for axis in axes {
        let x = randn(rng, axis.input_len(), 1.0);
        let want = sum_axis_forward(&x, axis.outer, axis.size, axis.inner);
        let xd = gpu.upload(&x)?;
        let mut od = gpu.filled(axis.output_len(), POISON)?;
        sum_axis(gpu, &xd, axis, &mut od)?;
        let got = gpu.download(&od)?;
        err = worst(err, rel_err(&got, &want));
        if axis.outer == 1 {
            err = worst(err, rel_err(&got, &cpu::col_sums(&x, axis.inner)));
        }
    }
    Ok(err)
}

fn check_max_axis(gpu: &Gpu, rng: &mut Rng) -> Result<f64> {
    let mut err = 0.0;
    for _ in 0..5 {
        let axis = random_axis(rng);
        let x = randn(rng, axis.input_len(), 1.0);
        let (want, want_arg) = max_axis_forward(&x, axis.outer, axis.size, axis.inner);
        let xd = gpu.upload(&x)?;
        let mut od = gpu.filled(axis.output_len(), POISON)?;
        let mut ad = gpu.filled(axis.output_len(), POISON_U32)?;
        max_axis(gpu, &xd, axis, &mut od, &mut ad)?;
        err = worst(err, rel_err(&gpu.download(&od)?, &want));
        err = worst(err, index_err(&gpu.download(&ad)?, &want_arg));
    }
    Ok(err)
}

fn check_max_over_valid(gpu: &Gpu, rng: &mut Rng) -> Result<f64> {
    let mut err = 0.0;
    for _ in 0..5 {
        let (n, p, f) = (size_in(rng, 1, 40), size_in(rng, 1, 50), size_in(rng, 1, 300));
        let valid: Vec<usize> = (0..n).map(|_| size_in(rng, 1, p)).collect();
        let x = randn(rng, n * p * f, 1.0);
        let (want, want_arg) = max_over_valid_forward(&x, &valid, n, p, f);
        let (xd, vd) = (gpu.upload(&x)?, upload_valid(gpu, &valid, p)?);
        let mut od = gpu.filled(n * f, POISON)?;
        let mut ad = gpu.filled(n * f, POISON_U32)?;
        max_over_valid(gpu, &xd, &vd, (n, p, f), &mut od, &mut ad)?;
        err = worst(err, rel_err(&gpu.download(&od)?, &want));
        err = worst(err, index_err(&gpu.download(&ad)?, &want_arg));
    }
    Ok(err)
}

fn check_max_bwd(gpu: &Gpu, rng: &mut Rng) -> Result<f64> {
    let mut err = 0.0;
    for _ in 0..5 {
        let axis = random_axis(rng);
        let g = randn(rng, axis.output_len(), 1.0);
        let arg: Vec<u32> = (0..axis.output_len()).map(|_| rng.below(axis.size) as u32).collect();
        let want = max_backward(&g, &arg, axis.outer, axis.size, axis.inner);
        let (gd, ad) = (gpu.upload(&g)?, gpu.upload(&arg)?);
        let mut gxd = gpu.filled(axis.input_len(), POISON)?;
        max_bwd(gpu, &gd, &ad, axis, &mut gxd)?;
        err = worst(err, rel_err(&gpu.download(&gxd)?, &want));
    }
    Ok(err)
}

pub(crate) fn checks() -> Vec<Check> {
    vec![
        Check::kernel(k::reduce::SUM_PARTIALS_F32, "ops::cpu::sum", MATH, check_sum_partials),
        Check::kernel(k::reduce::SUM_FINISH_F32, "f64 sum of the partials (as ops::cpu::sum)", MATH, check_sum_finish),
        Check::kernel(
            k::reduce::SUM_AXIS_F32,
            "ops::reduce::sum_axis_forward, ops::cpu::col_sums",
            MATH,
            check_sum_axis,
        ),
        Check::kernel(k::reduce::MAX_AXIS_FWD_F32, "ops::reduce::max_axis_forward", MOVE, check_max_axis),
        Check::kernel(
            k::reduce::MAX_OVER_VALID_FWD_F32,
            "ops::reduce::max_over_valid_forward",
            MOVE,
            check_max_over_valid,
        ),
        Check::kernel(k::reduce::MAX_BWD_F32, "ops::reduce::max_backward", MOVE, check_max_bwd),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_size_matches_the_kernel_file() {
        let src = crate::cuda::registry::file("reduce").unwrap().source;
        assert!(src.contains(&format!("#define HF_SUM_THREADS {SUM_THREADS}\n")));
    }

    #[test]
    fn partial_count_depends_on_n_only_and_is_bounded() {
        assert_eq!(sum_partial_count(0), 1);
        assert_eq!(sum_partial_count(1), 1);
        assert_eq!(sum_partial_count(4096), 1);
        assert_eq!(sum_partial_count(4097), 2);
        assert_eq!(sum_partial_count(usize::MAX / 2), MAX_PARTIALS);
    }
}
