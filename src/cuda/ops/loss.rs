//! Launchers for kernels/loss.cu (row-wise log-softmax and weighted
//! cross-entropy), checked against `ops::loss`.

use crate::cuda::buffer::DeviceBuf;
use crate::cuda::gpu::{elementwise, per_row, to_u32, Gpu};
use crate::cuda::registry::k;
use crate::cuda::selfcheck::{randn, rel_err, size_in, uniform, worst, Check, MATH, POISON};
use crate::error::{Error, Result};
use crate::ops::loss::{ce_backward_rows, ce_forward_rows, log_softmax_backward_rows, log_softmax_rows};
use crate::rng::Rng;

/// `HF_ROW_THREADS` in kernels/loss.cu.
const ROW_THREADS: u32 = 256;

/// `rows × c` logits, `c ≥ 1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rows {
    pub rows: usize,
    pub c: usize,
}

impl Rows {
    fn check(self, op: &'static str) -> Result<(u64, u64)> {
        if self.c == 0 {
            return Err(Error::invalid(op, "rows need at least one class"));
        }
        Ok((self.rows as u64, self.c as u64))
    }

    fn len(self) -> usize {
        self.rows * self.c
    }
}

/// Uploads class targets after checking each is below `c` (the kernels
/// index rows with them).
pub fn upload_targets(gpu: &Gpu, targets: &[usize], c: usize) -> Result<DeviceBuf<u32>> {
    if let Some(&t) = targets.iter().find(|&&t| t >= c) {
        return Err(Error::IndexOutOfRange { op: "cross_entropy", index: t, size: c });
    }
    gpu.upload(&to_u32("cross_entropy", "target", targets)?)
}

/// `out = log_softmax(x)` row by row.
pub fn log_softmax_fwd(gpu: &Gpu, x: &DeviceBuf<f32>, shape: Rows, out: &mut DeviceBuf<f32>) -> Result<()> {
    let kr = k::loss::LOG_SOFTMAX_FWD_F32;
    let (rows, c) = shape.check(kr.name)?;
    x.expect_len(kr.name, "x", shape.len())?;
    out.expect_len(kr.name, "out", shape.len())?;
    if shape.rows == 0 {
        return Ok(());
    }
    let mut args = gpu.args();
    args.arg(x).arg(&rows).arg(&c).arg(&mut *out);
    // SAFETY: (x, rows, c, out) is the kernel's parameter list; one block per row.
    unsafe { gpu.launch(kr, &mut args, per_row(kr.name, shape.rows, ROW_THREADS)?) }
}

/// `gx = g − softmax · Σ g` per row, from the forward output `y`.
pub fn log_softmax_bwd(
    gpu: &Gpu,
    g: &DeviceBuf<f32>,
    y: &DeviceBuf<f32>,
    shape: Rows,
    gx: &mut DeviceBuf<f32>,
) -> Result<()> {
    let kr = k::loss::LOG_SOFTMAX_BWD_F32;
    let (rows, c) = shape.check(kr.name)?;
    g.expect_len(kr.name, "g", shape.len())?;
    y.expect_len(kr.name, "y", shape.len())?;
    gx.expect_len(kr.name, "gx", shape.len())?;
    if shape.rows == 0 {
        return Ok(());
    }
    let mut args = gpu.args();
    args.arg(g).arg(y).arg(&rows).arg(&c).arg(&mut *gx);
    // SAFETY: (g, y, rows, c, gx) is the kernel's parameter list; one block per row.
    unsafe { gpu.launch(kr, &mut args, per_row(kr.name, shape.rows, ROW_THREADS)?) }
}

/// Fused log-softmax and weighted cross-entropy: `ls = log_softmax(x)`,
/// `per[r] = −ls[r, t_r] · w_r`. `targets` from [`upload_targets`].
pub fn cross_entropy_fwd(
    gpu: &Gpu,
    x: &DeviceBuf<f32>,
    targets: &DeviceBuf<u32>,
    weights: &DeviceBuf<f32>,
    shape: Rows,
    ls: &mut DeviceBuf<f32>,
    per: &mut DeviceBuf<f32>,
) -> Result<()> {
    let kr = k::loss::CROSS_ENTROPY_FWD_F32;
    let (rows, c) = shape.check(kr.name)?;
    x.expect_len(kr.name, "x", shape.len())?;
    targets.expect_len(kr.name, "targets", shape.rows)?;
    weights.expect_len(kr.name, "weights", shape.rows)?;
    ls.expect_len(kr.name, "ls", shape.len())?;
    per.expect_len(kr.name, "per", shape.rows)?;
    if shape.rows == 0 {
        return Ok(());
    }
    let mut args = gpu.args();
    args.arg(x).arg(targets).arg(weights).arg(&rows).arg(&c).arg(&mut *ls).arg(&mut *per);
    // SAFETY: the kernel's parameter list; targets were checked below c on upload.
    unsafe { gpu.launch(kr, &mut args, per_row(kr.name, shape.rows, ROW_THREADS)?) }
}

/// dLoss/dlogits from the saved log-softmax `ls`: `g` holds one value for
/// a reduced loss (`reduce`), else one per row.
#[allow(clippy::too_many_arguments)]
pub fn cross_entropy_bwd(
    gpu: &Gpu,
    ls: &DeviceBuf<f32>,
    targets: &DeviceBuf<u32>,
    weights: &DeviceBuf<f32>,
    g: &DeviceBuf<f32>,
    reduce: bool,
    shape: Rows,
    gx: &mut DeviceBuf<f32>,
) -> Result<()> {
    let kr = k::loss::CROSS_ENTROPY_BWD_F32;
    let (rows, c) = shape.check(kr.name)?;
    ls.expect_len(kr.name, "ls", shape.len())?;
    targets.expect_len(kr.name, "targets", shape.rows)?;
    weights.expect_len(kr.name, "weights", shape.rows)?;
    g.expect_len(kr.name, "g", if reduce { 1 } else { shape.rows })?;
    gx.expect_len(kr.name, "gx", shape.len())?;
    if gx.is_empty() {
        return Ok(());
    }
    let g_stride: u64 = if reduce { 0 } else { 1 };
    let cfg = elementwise(shape.len());
    let mut args = gpu.args();
    args.arg(ls).arg(targets).arg(weights).arg(g).arg(&g_stride).arg(&rows).arg(&c).arg(&mut *gx);
    // SAFETY: the kernel's parameter list; g holds rows·g_stride + 1 values at least.
    unsafe { gpu.launch(kr, &mut args, cfg) }
}

/// Row shapes for one check: a single class, vocabulary-sized rows, and rows
/// narrower and wider than a block.
fn random_rows(rng: &mut Rng) -> Vec<Rows> {
    vec![
        Rows { rows: 3, c: 1 },
        Rows { rows: size_in(rng, 1, 64), c: size_in(rng, 2, 200) },
        Rows { rows: size_in(rng, 1, 300), c: size_in(rng, 257, 3000) },
        Rows { rows: size_in(rng, 1, 8), c: size_in(rng, 20_000, 60_000) },
    ]
}

fn logits(rng: &mut Rng, shape: Rows) -> Vec<f32> {
    randn(rng, shape.len(), 3.0)
}

fn check_log_softmax_fwd(gpu: &Gpu, rng: &mut Rng) -> Result<f64> {
    let mut err = 0.0;
    for shape in random_rows(rng) {
        let x = logits(rng, shape);
        let want = log_softmax_rows(&x, shape.c);
        let xd = gpu.upload(&x)?;
        let mut od = gpu.filled(shape.len(), POISON)?;
        log_softmax_fwd(gpu, &xd, shape, &mut od)?;
        err = worst(err, rel_err(&gpu.download(&od)?, &want));
    }
    Ok(err)
}

fn check_log_softmax_bwd(gpu: &Gpu, rng: &mut Rng) -> Result<f64> {
    let mut err = 0.0;
    for shape in random_rows(rng) {
        let y = log_softmax_rows(&logits(rng, shape), shape.c);
        let g = randn(rng, shape.len(), 1.0);
        let want = log_softmax_backward_rows(&g, &y, shape.c);
        let (gd, yd) = (gpu.upload(&g)?, gpu.upload(&y)?);
        let mut gxd = gpu.filled(shape.len(), POISON)?;
        log_softmax_bwd(gpu, &gd, &yd, shape, &mut gxd)?;
        err = worst(err, rel_err(&gpu.download(&gxd)?, &want));
    }
    Ok(err)
}

fn targets_and_weights(rng: &mut Rng, shape: Rows) -> (Vec<usize>, Vec<f32>) {
    let targets = (0..shape.rows).map(|_| rng.below(shape.c)).collect();
    (targets, uniform(rng, shape.rows, 0.0, 1.0))
}

fn check_ce_fwd(gpu: &Gpu, rng: &mut Rng) -> Result<f64> {
    let mut err = 0.0;
    for shape in random_rows(rng) {
        let x = logits(rng, shape);
        let (targets, weights) = targets_and_weights(rng, shape);
        let (want_ls, want_per) = ce_forward_rows(&x, shape.c, &targets, &weights);
        let (xd, td, wd) = (gpu.upload(&x)?, upload_targets(gpu, &targets, shape.c)?, gpu.upload(&weights)?);
        let mut lsd = gpu.filled(shape.len(), POISON)?;
        let mut perd = gpu.filled(shape.rows, POISON)?;
        cross_entropy_fwd(gpu, &xd, &td, &wd, shape, &mut lsd, &mut perd)?;
        err = worst(err, rel_err(&gpu.download(&lsd)?, &want_ls));
        err = worst(err, rel_err(&gpu.download(&perd)?, &want_per));
    }
    Ok(err)
}

fn check_ce_bwd(gpu: &Gpu, rng: &mut Rng) -> Result<f64> {
    let mut err = 0.0;
    for (i, shape) in random_rows(rng).into_iter().enumerate() {
        let reduce = i % 2 == 0;
        let ls = log_softmax_rows(&logits(rng, shape), shape.c);
        let (targets, weights) = targets_and_weights(rng, shape);
        let g = randn(rng, if reduce { 1 } else { shape.rows }, 1.0);
        let want = ce_backward_rows(&ls, shape.c, &targets, &weights, &g, reduce);
        let (lsd, td, wd, gd) =
            (gpu.upload(&ls)?, upload_targets(gpu, &targets, shape.c)?, gpu.upload(&weights)?, gpu.upload(&g)?);
        let mut gxd = gpu.filled(shape.len(), POISON)?;
        cross_entropy_bwd(gpu, &lsd, &td, &wd, &gd, reduce, shape, &mut gxd)?;
        err = worst(err, rel_err(&gpu.download(&gxd)?, &want));
    }
    Ok(err)
}

pub(crate) fn checks() -> Vec<Check> {
    vec![
        Check::kernel(k::loss::LOG_SOFTMAX_FWD_F32, "ops::loss::log_softmax_rows", MATH, check_log_softmax_fwd),
        Check::kernel(
            k::loss::LOG_SOFTMAX_BWD_F32,
            "ops::loss::log_softmax_backward_rows",
            MATH,
            check_log_softmax_bwd,
        ),
        Check::kernel(k::loss::CROSS_ENTROPY_FWD_F32, "ops::loss::ce_forward_rows", MATH, check_ce_fwd),
        Check::kernel(k::loss::CROSS_ENTROPY_BWD_F32, "ops::loss::ce_backward_rows", MATH, check_ce_bwd),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_size_matches_the_kernel_file() {
        let src = crate::cuda::registry::file("loss").unwrap().source;
        assert!(src.contains(&format!("#define HF_ROW_THREADS {ROW_THREADS}\n")));
    }
}
