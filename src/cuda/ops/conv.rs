//! Launchers for kernels/conv.cu (the patch gathers around the conv1d
//! GEMMs, checked against `ops::conv::{im2col, col2im}`, and the char-CNN
//! features' max-pool + bias + tanh per kernel width, forward and
//! backward, checked against [`max_tanh_twin`]/[`max_tanh_bwd_twin`], the
//! rule of `ops::char_conv`; word_cnn's max over valid positions + bias +
//! relu, checked against [`max_relu_twin`]/[`max_relu_bwd_twin`]).

use crate::cuda::buffer::DeviceBuf;
use crate::cuda::gpu::{elementwise, Gpu};
use crate::cuda::registry::{k, KernelRef};
use crate::cuda::selfcheck::{randn, rel_err, size_in, worst, Check, MATH, MOVE, POISON, POISON_U32};
use crate::error::{Error, Result};
use crate::ops::conv::{col2im as cpu_col2im, im2col as cpu_im2col};
use crate::ops::fastmath;
use crate::rng::Rng;

/// `x [n, l, c]` convolved with width `k` (narrow: `p = l − k + 1` positions).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv1d {
    pub n: usize,
    pub l: usize,
    pub c: usize,
    pub k: usize,
}

impl Conv1d {
    fn check(self, op: &'static str) -> Result<[u64; 4]> {
        if self.k == 0 || self.l < self.k {
            return Err(Error::invalid(
                op,
                format!("input length {} and kernel width {} (need 1 ≤ k ≤ l)", self.l, self.k),
            ));
        }
        Ok([self.n as u64, self.l as u64, self.c as u64, self.k as u64])
    }

    pub fn positions(self) -> usize {
        self.l + 1 - self.k
    }

    fn x_len(self) -> usize {
        self.n * self.l * self.c
    }

    fn cols_len(self) -> usize {
        self.n * self.positions() * self.c * self.k
    }
}

/// `cols [n·p, c·k]` from `x [n, l, c]`.
pub fn im2col(gpu: &Gpu, x: &DeviceBuf<f32>, shape: Conv1d, cols: &mut DeviceBuf<f32>) -> Result<()> {
    let kr = k::conv::IM2COL_F32;
    let [n, l, c, kw] = shape.check(kr.name)?;
    x.expect_len(kr.name, "x", shape.x_len())?;
    cols.expect_len(kr.name, "cols", shape.cols_len())?;
    if cols.is_empty() {
        return Ok(());
    }
    let cfg = elementwise(cols.len());
    let mut args = gpu.args();
    args.arg(x).arg(&n).arg(&l).arg(&c).arg(&kw).arg(&mut *cols);
    // SAFETY: (x, n, l, c, k, cols) is the kernel's parameter list; lengths checked above.
    unsafe { gpu.launch(kr, &mut args, cfg) }
}

/// `dx [n, l, c]` = the patch gradients `dcols [n·p, c·k]` added back.
pub fn col2im(gpu: &Gpu, dcols: &DeviceBuf<f32>, shape: Conv1d, dx: &mut DeviceBuf<f32>) -> Result<()> {
    let kr = k::conv::COL2IM_F32;
    let [n, l, c, kw] = shape.check(kr.name)?;
    dcols.expect_len(kr.name, "dcols", shape.cols_len())?;
    dx.expect_len(kr.name, "dx", shape.x_len())?;
    if dx.is_empty() {
        return Ok(());
    }
    let cfg = elementwise(dx.len());
    let mut args = gpu.args();
    args.arg(dcols).arg(&n).arg(&l).arg(&c).arg(&kw).arg(&mut *dx);
    // SAFETY: (dcols, n, l, c, k, dx) is the kernel's parameter list; lengths checked above.
    unsafe { gpu.launch(kr, &mut args, cfg) }
}

/// One kernel width's pooling: `pre [n, p, fi]` into columns
/// `off..off + fi` of `[n, ftot]` outputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaxTanh {
    pub n: usize,
    pub p: usize,
    pub fi: usize,
    pub ftot: usize,
    pub off: usize,
}

impl MaxTanh {
    fn check(self, op: &'static str) -> Result<[u64; 5]> {
        if self.p == 0 || self.off + self.fi > self.ftot || self.p > u32::MAX as usize {
            return Err(Error::invalid(op, format!("{self:?}: need p ≥ 1 and off + fi ≤ ftot")));
        }
        Ok([self.n as u64, self.p as u64, self.fi as u64, self.ftot as u64, self.off as u64])
    }

    fn pre_len(self) -> usize {
        self.n * self.p * self.fi
    }

    fn out_len(self) -> usize {
        self.n * self.ftot
    }
}

/// `conv_max_tanh_f32`: `y[:, off..off + fi] = tanh(max_p pre + bias)` and
/// the arg-max position (the first on ties) into `arg` at the same place.
pub fn max_tanh(
    gpu: &Gpu,
    pre: &DeviceBuf<f32>,
    bias: &DeviceBuf<f32>,
    s: MaxTanh,
    y: &mut DeviceBuf<f32>,
    arg: &mut DeviceBuf<u32>,
) -> Result<()> {
    pool(gpu, k::conv::CONV_MAX_TANH_F32, Pool { pre, bias, valid: None }, s, y, arg)
}

/// `conv_max_relu_f32` (word_cnn): `y[:, off..off + fi] = relu(max_{p <
/// valid[n]} pre + bias)` and the arg-max position (the first on ties) into
/// `arg`. Every `valid` entry must be in `1..=p`.
pub fn max_relu(
    gpu: &Gpu,
    pre: &DeviceBuf<f32>,
    bias: &DeviceBuf<f32>,
    valid: &DeviceBuf<u32>,
    s: MaxTanh,
    y: &mut DeviceBuf<f32>,
    arg: &mut DeviceBuf<u32>,
) -> Result<()> {
    pool(gpu, k::conv::CONV_MAX_RELU_F32, Pool { pre, bias, valid: Some(valid) }, s, y, arg)
}

/// A pooling kernel's inputs: the pre-activations, the bias and, for the
/// relu pooling, each row's count of valid positions.
struct Pool<'a> {
    pre: &'a DeviceBuf<f32>,
    bias: &'a DeviceBuf<f32>,
    valid: Option<&'a DeviceBuf<u32>>,
}

/// The launch both pooling forwards share: their parameter lists differ
/// only in `valid`, which follows the bias.
fn pool(
    gpu: &Gpu,
    kr: KernelRef,
    a: Pool<'_>,
    s: MaxTanh,
    y: &mut DeviceBuf<f32>,
    arg: &mut DeviceBuf<u32>,
) -> Result<()> {
    let [n, p, fi, ftot, off] = s.check(kr.name)?;
    a.pre.expect_len(kr.name, "pre", s.pre_len())?;
    a.bias.expect_len(kr.name, "bias", s.fi)?;
    if let Some(v) = a.valid {
        v.expect_len(kr.name, "valid", s.n)?;
    }
    y.expect_len(kr.name, "y", s.out_len())?;
    arg.expect_len(kr.name, "arg", s.out_len())?;
    if s.n * s.fi == 0 {
        return Ok(());
    }
    let cfg = elementwise(s.n * s.fi);
    let mut args = gpu.args();
    args.arg(a.pre).arg(a.bias);
    if let Some(v) = a.valid {
        args.arg(v);
    }
    args.arg(&n).arg(&p).arg(&fi).arg(&ftot).arg(&off).arg(&mut *y).arg(&mut *arg);
    // SAFETY: the kernel's parameter list; lengths checked above. The relu
    // kernel reads pre at positions below valid[n], which callers keep in
    // 1..=p (the device layer checks it; the values are not re-read here).
    unsafe { gpu.launch(kr, &mut args, cfg) }
}

/// `conv_max_tanh_bwd_f32`: `dpre [n, p, fi]` = `g·(1 − y²)` at each arg-max
/// position of columns `off..off + fi`, 0 elsewhere. `arg` values must be
/// below `p` (those [`max_tanh`] wrote are).
pub fn max_tanh_bwd(
    gpu: &Gpu,
    g: &DeviceBuf<f32>,
    y: &DeviceBuf<f32>,
    arg: &DeviceBuf<u32>,
    s: MaxTanh,
    dpre: &mut DeviceBuf<f32>,
) -> Result<()> {
    pool_bwd(gpu, k::conv::CONV_MAX_TANH_BWD_F32, [g, y], arg, s, dpre)
}

/// `conv_max_relu_bwd_f32`: `dpre [n, p, fi]` = `g` at each arg-max
/// position of columns `off..off + fi` whose output is positive, 0
/// elsewhere. `arg` values must be below `p` (those [`max_relu`] wrote are).
pub fn max_relu_bwd(
    gpu: &Gpu,
    g: &DeviceBuf<f32>,
    y: &DeviceBuf<f32>,
    arg: &DeviceBuf<u32>,
    s: MaxTanh,
    dpre: &mut DeviceBuf<f32>,
) -> Result<()> {
    pool_bwd(gpu, k::conv::CONV_MAX_RELU_BWD_F32, [g, y], arg, s, dpre)
}

/// The launch both pooling backwards share (the same parameter list).
fn pool_bwd(
    gpu: &Gpu,
    kr: KernelRef,
    [g, y]: [&DeviceBuf<f32>; 2],
    arg: &DeviceBuf<u32>,
    s: MaxTanh,
    dpre: &mut DeviceBuf<f32>,
) -> Result<()> {
    let [n, p, fi, ftot, off] = s.check(kr.name)?;
    g.expect_len(kr.name, "g", s.out_len())?;
    y.expect_len(kr.name, "y", s.out_len())?;
    arg.expect_len(kr.name, "arg", s.out_len())?;
    dpre.expect_len(kr.name, "dpre", s.pre_len())?;
    if dpre.is_empty() {
        return Ok(());
    }
    let cfg = elementwise(dpre.len());
    let mut args = gpu.args();
    args.arg(g).arg(y).arg(arg).arg(&n).arg(&p).arg(&fi).arg(&ftot).arg(&off).arg(&mut *dpre);
    // SAFETY: the kernel's parameter list; it only writes dpre, read at in-range indices.
    unsafe { gpu.launch(kr, &mut args, cfg) }
}

/// CPU twin of `conv_max_tanh_f32`: `ops::char_conv`'s rule (strict `>`
/// over positions, then the bias, then tanh).
pub fn max_tanh_twin(pre: &[f32], bias: &[f32], s: MaxTanh, y: &mut [f32], arg: &mut [u32]) {
    pool_twin(pre, bias, None, s, y, arg, fastmath::tanh)
}

/// CPU twin of `conv_max_tanh_bwd_f32`.
pub fn max_tanh_bwd_twin(g: &[f32], y: &[f32], arg: &[u32], s: MaxTanh) -> Vec<f32> {
    pool_bwd_twin(g, y, arg, s, |g, y| g * (1.0 - y * y))
}

/// CPU twin of `conv_max_relu_f32`: the tape's `max_over_valid` rule
/// (strict `>` over the first `valid[n]` positions), then the bias and relu.
pub fn max_relu_twin(pre: &[f32], bias: &[f32], valid: &[u32], s: MaxTanh, y: &mut [f32], arg: &mut [u32]) {
    pool_twin(pre, bias, Some(valid), s, y, arg, |v| v.max(0.0))
}

/// CPU twin of `conv_max_relu_bwd_f32`.
pub fn max_relu_bwd_twin(g: &[f32], y: &[f32], arg: &[u32], s: MaxTanh) -> Vec<f32> {
    pool_bwd_twin(g, y, arg, s, |g, y| if y > 0.0 { g } else { 0.0 })
}

/// The max over the first `valid[n]` positions (all `p` without `valid`;
/// strict `>`, so the first on ties), then the bias and `act`.
fn pool_twin(
    pre: &[f32],
    bias: &[f32],
    valid: Option<&[u32]>,
    s: MaxTanh,
    y: &mut [f32],
    arg: &mut [u32],
    act: impl Fn(f32) -> f32,
) {
    for ni in 0..s.n {
        let positions = valid.map_or(s.p, |v| v[ni] as usize);
        for f in 0..s.fi {
            let (mut best, mut at) = (pre[ni * s.p * s.fi + f], 0u32);
            for pi in 1..positions {
                let v = pre[(ni * s.p + pi) * s.fi + f];
                if v > best {
                    (best, at) = (v, pi as u32);
                }
            }
            y[ni * s.ftot + s.off + f] = act(best + bias[f]);
            arg[ni * s.ftot + s.off + f] = at;
        }
    }
}

/// `dpre` = `dact(g, y)` at each arg-max position, 0 elsewhere.
fn pool_bwd_twin(g: &[f32], y: &[f32], arg: &[u32], s: MaxTanh, dact: impl Fn(f32, f32) -> f32) -> Vec<f32> {
    let mut dpre = vec![0.0f32; s.pre_len()];
    for ni in 0..s.n {
        for f in 0..s.fi {
            let at = ni * s.ftot + s.off + f;
            dpre[(ni * s.p + arg[at] as usize) * s.fi + f] = dact(g[at], y[at]);
        }
    }
    dpre
}

fn random_max_tanh(rng: &mut Rng) -> MaxTanh {
    let fi = size_in(rng, 1, 40);
    let ftot = fi + size_in(rng, 0, 30);
    MaxTanh { n: size_in(rng, 1, 50), p: size_in(rng, 1, 16), fi, ftot, off: rng.below(ftot - fi + 1) }
}

/// Pre-activations with exact ties (repeated values along positions), so
/// the first-index rule is exercised.
fn tied(rng: &mut Rng, n: usize) -> Vec<f32> {
    randn(rng, n, 1.0).iter().map(|&v| if rng.below(4) == 0 { 0.5 } else { v }).collect()
}

/// The pooling forwards against their twins: tanh, or with `relu` the
/// max over random valid counts (drawn after the bias, as before).
fn check_pool(gpu: &Gpu, rng: &mut Rng, relu: bool) -> Result<f64> {
    let mut err = 0.0;
    for _ in 0..5 {
        let s = random_max_tanh(rng);
        let (pre, bias) = (tied(rng, s.pre_len()), randn(rng, s.fi, 0.5));
        let valid = relu.then(|| random_valid(rng, s));
        // Columns outside off..off + fi must keep their poison.
        let (mut want_y, mut want_arg) = (vec![POISON; s.out_len()], vec![POISON_U32; s.out_len()]);
        let (mut y, mut arg) = (gpu.filled(s.out_len(), POISON)?, gpu.filled(s.out_len(), POISON_U32)?);
        let (pre_d, bias_d) = (gpu.upload(&pre)?, gpu.upload(&bias)?);
        match &valid {
            Some(v) => {
                max_relu_twin(&pre, &bias, v, s, &mut want_y, &mut want_arg);
                max_relu(gpu, &pre_d, &bias_d, &gpu.upload(v)?, s, &mut y, &mut arg)?;
            }
            None => {
                max_tanh_twin(&pre, &bias, s, &mut want_y, &mut want_arg);
                max_tanh(gpu, &pre_d, &bias_d, s, &mut y, &mut arg)?;
            }
        }
        let got_y = gpu.download(&y)?;
        let poison_kept = got_y.iter().zip(&want_y).all(|(a, b)| (a.to_bits() == POISON.to_bits()) == b.is_nan());
        if gpu.download(&arg)? != want_arg || !poison_kept {
            return Ok(f64::INFINITY);
        }
        let cols = |v: &[f32]| -> Vec<f32> { v.iter().copied().filter(|x| !x.is_nan()).collect() };
        err = worst(err, rel_err(&cols(&got_y), &cols(&want_y)));
    }
    Ok(err)
}

/// The pooling backwards against their twins (see [`check_pool`]).
fn check_pool_bwd(gpu: &Gpu, rng: &mut Rng, relu: bool) -> Result<f64> {
    let mut err = 0.0;
    for _ in 0..5 {
        let s = random_max_tanh(rng);
        let (pre, bias) = (tied(rng, s.pre_len()), randn(rng, s.fi, 0.5));
        let valid = relu.then(|| random_valid(rng, s));
        let (mut y, mut arg) = (vec![0.0f32; s.out_len()], vec![0u32; s.out_len()]);
        match &valid {
            Some(v) => max_relu_twin(&pre, &bias, v, s, &mut y, &mut arg),
            None => max_tanh_twin(&pre, &bias, s, &mut y, &mut arg),
        }
        let g = randn(rng, s.out_len(), 1.0);
        let (twin, launch): (PoolBwdTwin, PoolBwd) =
            if relu { (max_relu_bwd_twin, max_relu_bwd) } else { (max_tanh_bwd_twin, max_tanh_bwd) };
        let want = twin(&g, &y, &arg, s);
        let mut dpre = gpu.filled(s.pre_len(), POISON)?;
        launch(gpu, &gpu.upload(&g)?, &gpu.upload(&y)?, &gpu.upload(&arg)?, s, &mut dpre)?;
        err = worst(err, rel_err(&gpu.download(&dpre)?, &want));
    }
    Ok(err)
}

/// A pooling backward's launcher ([`max_tanh_bwd`], [`max_relu_bwd`]): `dpre`
/// from the output gradient at each arg-max.
pub type PoolBwd =
    fn(&Gpu, &DeviceBuf<f32>, &DeviceBuf<f32>, &DeviceBuf<u32>, MaxTanh, &mut DeviceBuf<f32>) -> Result<()>;

/// A pooling backward's CPU twin ([`max_tanh_bwd_twin`], [`max_relu_bwd_twin`]).
type PoolBwdTwin = fn(&[f32], &[f32], &[u32], MaxTanh) -> Vec<f32>;

fn random_valid(rng: &mut Rng, s: MaxTanh) -> Vec<u32> {
    (0..s.n).map(|_| size_in(rng, 1, s.p) as u32).collect()
}

fn random_shape(rng: &mut Rng) -> Conv1d {
    let k = size_in(rng, 1, 6);
    Conv1d { n: size_in(rng, 1, 64), l: size_in(rng, k, 40), c: size_in(rng, 1, 30), k }
}

fn check(gpu: &Gpu, rng: &mut Rng, forward: bool) -> Result<f64> {
    let mut err = 0.0;
    let mut shapes: Vec<Conv1d> = (0..5).map(|_| random_shape(rng)).collect();
    shapes.push(Conv1d { n: 3, l: 4, c: 2, k: 4 });
    for s in shapes {
        let (input, want, out_len) = if forward {
            let x = randn(rng, s.x_len(), 1.0);
            let want = cpu_im2col(&x, s.n, s.l, s.c, s.k);
            (x, want, s.cols_len())
        } else {
            let dcols = randn(rng, s.cols_len(), 1.0);
            let want = cpu_col2im(&dcols, s.n, s.l, s.c, s.k);
            (dcols, want, s.x_len())
        };
        let id = gpu.upload(&input)?;
        let mut od = gpu.filled(out_len, POISON)?;
        if forward {
            im2col(gpu, &id, s, &mut od)?;
        } else {
            col2im(gpu, &id, s, &mut od)?;
        }
        err = worst(err, rel_err(&gpu.download(&od)?, &want));
    }
    Ok(err)
}

pub(crate) fn checks() -> Vec<Check> {
    vec![
        Check::kernel(k::conv::IM2COL_F32, "ops::conv::im2col", MOVE, |g, r| check(g, r, true)),
        // Same additions in the same order as the CPU: exact.
        Check::kernel(k::conv::COL2IM_F32, "ops::conv::col2im", MOVE, |g, r| check(g, r, false)),
        Check::kernel(k::conv::CONV_MAX_TANH_F32, "ops::char_conv's max + bias + tanh", MATH, |g, r| {
            check_pool(g, r, false)
        }),
        Check::kernel(k::conv::CONV_MAX_TANH_BWD_F32, "ops::char_conv's arg-max backward", MATH, |g, r| {
            check_pool_bwd(g, r, false)
        }),
        Check::kernel(k::conv::CONV_MAX_RELU_F32, "word_cnn's max over valid + bias + relu", MATH, |g, r| {
            check_pool(g, r, true)
        }),
        Check::kernel(k::conv::CONV_MAX_RELU_BWD_F32, "word_cnn's arg-max backward", MATH, |g, r| {
            check_pool_bwd(g, r, true)
        }),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kernel's index arithmetic, replayed on the CPU, is the adjoint
    /// the CPU twin computes.
    #[test]
    fn col2im_walk_matches_the_cpu() {
        let mut rng = Rng::new(11);
        for _ in 0..20 {
            let s = random_shape(&mut rng);
            let p = s.positions();
            let dcols = randn(&mut rng, s.cols_len(), 1.0);
            let mut got = vec![0.0f32; s.x_len()];
            for (e, slot) in got.iter_mut().enumerate() {
                let (ci, pos, ni) = (e % s.c, (e / s.c) % s.l, e / (s.c * s.l));
                let first = (pos + 1).saturating_sub(s.k);
                let last = pos.min(p - 1);
                let mut acc = 0.0f32;
                for pi in first..=last {
                    acc += dcols[((ni * p + pi) * s.c + ci) * s.k + (pos - pi)];
                }
                *slot = acc;
            }
            assert_eq!(got, cpu_col2im(&dcols, s.n, s.l, s.c, s.k), "{s:?}");
        }
    }
}
