//! The CUDA device's coarse layers, from the launchers of `cuda::ops`:
//! - LSTM: the input projection of every step as one GEMM onto bias rows,
//!   then per step one strided GEMM (h·W_hhᵀ into the step's gate rows)
//!   and one `lstm_cell_fwd_f32`; the backward per step `lstm_cell_bwd_f32`
//!   and the GEMM of dh, then dX, dW_ih, dW_hh and the bias as GEMMs and a
//!   column sum.
//! - char-CNN features: per kernel width `im2col_f32`, one GEMM with the
//!   width's weights and `conv_max_tanh_f32` into its columns of the output;
//!   the backward `conv_max_tanh_bwd_f32`, the GEMMs of the patches and
//!   `col2im_f32` (`conv_pool_fwd`/`conv_pool_bwd`, whose pooling word_cnn
//!   swaps for its relu over valid windows).
//!
//! Everything stays on the device; only the lengths go up.

use super::{CharConvShape, ConvKernel, LayerGrads, LstmParams, LstmShape, Saved, Storage};
use crate::cuda::blas::{gemm, Mat, MatMut};
use crate::cuda::buffer::DeviceBuf;
use crate::cuda::ops::binary::binary;
use crate::cuda::ops::conv::{col2im, im2col, max_tanh, max_tanh_bwd, Conv1d, MaxTanh, PoolBwd};
use crate::cuda::ops::lstm::{cell_bwd, cell_fwd, upload_lengths, LstmDims, LstmState};
use crate::cuda::ops::reduce::{sum_axis, Axis};
use crate::cuda::Gpu;
use crate::error::Result;
use crate::ops::BinaryKind;

pub(super) fn dev<'a>(op: &'static str, s: &'a Storage) -> Result<&'a DeviceBuf<f32>> {
    match s {
        Storage::Cuda(b) => Ok(b),
        other => Err(super::wrong_place(op, other, "cuda")),
    }
}

/// `[rows, n]` rows each equal to `bias [n]` (0 + b: exact).
pub(super) fn bias_rows(gpu: &Gpu, bias: &DeviceBuf<f32>, rows: usize, n: usize) -> Result<DeviceBuf<f32>> {
    let zeros = gpu.zeros(rows * n)?;
    let mut out = gpu.zeros(rows * n)?;
    binary(gpu, BinaryKind::Add, (&zeros, &[rows, n]), (bias, &[n]), &mut out)?;
    Ok(out)
}

/// `a + b` of equal lengths, into a new buffer.
pub(super) fn add(gpu: &Gpu, a: &DeviceBuf<f32>, b: &DeviceBuf<f32>) -> Result<DeviceBuf<f32>> {
    let mut out = gpu.zeros(a.len())?;
    binary(gpu, BinaryKind::Add, (a, &[a.len()]), (b, &[b.len()]), &mut out)?;
    Ok(out)
}

/// Column sums of `x [rows, cols]`.
pub(super) fn col_sums(gpu: &Gpu, x: &DeviceBuf<f32>, rows: usize, cols: usize) -> Result<DeviceBuf<f32>> {
    let mut out = gpu.zeros(cols)?;
    sum_axis(gpu, x, Axis { outer: 1, size: rows, inner: cols }, &mut out)?;
    Ok(out)
}

fn dims(s: LstmShape) -> LstmDims {
    LstmDims { batch: s.batch, steps: s.steps, hidden: s.hidden }
}

pub(super) fn lstm_fwd(
    gpu: &Gpu,
    x: &Storage,
    w: LstmParams<'_>,
    lengths: &[usize],
    s: LstmShape,
) -> Result<(Storage, Saved)> {
    const OP: &str = "lstm_fwd";
    s.check(OP, x, w, lengths)?;
    let (b, t, h, g4) = (s.batch, s.steps, s.hidden, 4 * s.hidden);
    let (x, w_ih, w_hh) = (dev(OP, x)?, dev(OP, w.w_ih)?, dev(OP, w.w_hh)?);
    let mut gates = bias_rows(gpu, dev(OP, w.bias)?, b * t, g4)?;
    gemm(gpu, Mat::rm(x, b * t, s.n_in), Mat::t(w_ih, s.n_in, g4), MatMut::rm(&mut gates, b * t, g4), true)?;
    let lens = upload_lengths(gpu, lengths, t)?;
    let (mut hs, mut cs) = (gpu.zeros(s.out_len())?, gpu.zeros(s.out_len())?);
    let (mut h_state, mut c_state) = (gpu.zeros(b * h)?, gpu.zeros(b * h)?);
    let d = dims(s);
    for step in 0..t {
        let p = d.step(step, s.reverse);
        if step > 0 {
            let rows = MatMut { buf: &mut gates, offset: p.t as usize * g4, rows: b, cols: g4, ld: t * g4 };
            gemm(gpu, Mat::rm(&h_state, b, h), Mat::t(w_hh, h, g4), rows, true)?;
        }
        let state = LstmState { h: &mut h_state, c: &mut c_state };
        cell_fwd(gpu, &p, d, &lens, &mut gates, (&mut hs, &mut cs), state)?;
    }
    Ok((Storage::Cuda(hs), Saved { f32s: vec![Storage::Cuda(gates), Storage::Cuda(cs)], u32s: vec![lens] }))
}

#[allow(clippy::too_many_arguments)]
pub(super) fn lstm_bwd(
    gpu: &Gpu,
    x: &Storage,
    w: LstmParams<'_>,
    lengths: &[usize],
    s: LstmShape,
    saved: &Saved,
    y: &Storage,
    gy: &Storage,
    need_w: bool,
) -> Result<LayerGrads> {
    const OP: &str = "lstm_bwd";
    s.check(OP, x, w, lengths)?;
    let (b, t, h, g4, n_in) = (s.batch, s.steps, s.hidden, 4 * s.hidden, s.n_in);
    let (x, w_ih, w_hh, hs, gy) = (dev(OP, x)?, dev(OP, w.w_ih)?, dev(OP, w.w_hh)?, dev(OP, y)?, dev(OP, gy)?);
    let (gates, cs, lens) = match (&saved.f32s[..], &saved.u32s[..]) {
        ([g, c], [l]) => (dev(OP, g)?, dev(OP, c)?, l),
        _ => return Err(crate::error::Error::invalid(OP, "not the saved values of lstm_fwd on this device")),
    };
    let d = dims(s);
    let mut dgates = gpu.zeros(b * t * g4)?;
    let (mut dh_next, mut dc_next) = (gpu.zeros(b * h)?, gpu.zeros(b * h)?);
    for step in (0..t).rev() {
        let p = d.step(step, s.reverse);
        cell_bwd(gpu, &p, d, lens, (gates, cs), gy, &dh_next, &mut dc_next, &mut dgates)?;
        if step > 0 {
            let rows = Mat { buf: &dgates, offset: p.t as usize * g4, rows: b, cols: g4, ld: t * g4, trans: false };
            gemm(gpu, rows, Mat::rm(w_hh, g4, h), MatMut::rm(&mut dh_next, b, h), false)?;
        }
    }
    let mut dx = gpu.zeros(b * t * n_in)?;
    gemm(gpu, Mat::rm(&dgates, b * t, g4), Mat::rm(w_ih, g4, n_in), MatMut::rm(&mut dx, b * t, n_in), false)?;
    if !need_w {
        return Ok(LayerGrads { dx: Storage::Cuda(dx), weights: None });
    }
    let mut dw_ih = gpu.zeros(g4 * n_in)?;
    gemm(gpu, Mat::t(&dgates, g4, b * t), Mat::rm(x, b * t, n_in), MatMut::rm(&mut dw_ih, g4, n_in), false)?;
    // h at the previously processed step: the neighbouring time row of the
    // same sequence (0 before the first), so one product per sequence.
    let mut dw_hh = gpu.zeros(g4 * h)?;
    if t > 1 {
        let (dg0, h0) = if s.reverse { (0, 1) } else { (1, 0) };
        for bi in 0..b {
            let dg = Mat { buf: &dgates, offset: (bi * t + dg0) * g4, rows: g4, cols: t - 1, ld: g4, trans: true };
            let hp = Mat { buf: hs, offset: (bi * t + h0) * h, rows: t - 1, cols: h, ld: h, trans: false };
            gemm(gpu, dg, hp, MatMut::rm(&mut dw_hh, g4, h), true)?;
        }
    }
    let db = col_sums(gpu, &dgates, b * t, g4)?;
    let weights = vec![Storage::Cuda(dw_ih), Storage::Cuda(dw_hh), Storage::Cuda(db)];
    Ok(LayerGrads { dx: Storage::Cuda(dx), weights: Some(weights) })
}

/// One width's im2col patches `[N·P, C·w]`.
pub(super) fn patches(gpu: &Gpu, x: &DeviceBuf<f32>, shape: Conv1d) -> Result<DeviceBuf<f32>> {
    let mut cols = gpu.zeros(shape.n * shape.positions() * shape.c * shape.k)?;
    im2col(gpu, x, shape, &mut cols)?;
    Ok(cols)
}

pub(super) fn conv1d(s: CharConvShape, k: &ConvKernel<'_>) -> Conv1d {
    Conv1d { n: s.words, l: s.positions, c: s.dim, k: k.width }
}

pub(super) fn char_conv_fwd(
    gpu: &Gpu,
    x: &Storage,
    s: CharConvShape,
    kernels: &[ConvKernel<'_>],
) -> Result<(Storage, Saved)> {
    const OP: &str = "char_conv_fwd";
    let ftot = s.check(OP, x, kernels)?;
    let a = ConvFwd { x: dev(OP, x)?, s, kernels, ftot };
    conv_pool_fwd(gpu, OP, a, |pre, k, pool, y, arg| max_tanh(gpu, pre, dev(OP, k.bias)?, pool, y, arg))
}

/// A pooled convolution layer's checked inputs (`ftot`: every width's filters).
pub(super) struct ConvFwd<'a> {
    pub x: &'a DeviceBuf<f32>,
    pub s: CharConvShape,
    pub kernels: &'a [ConvKernel<'a>],
    pub ftot: usize,
}

/// Per kernel width: the patches, one GEMM with the width's weights, and
/// `pool` (bias, max, activation) into its columns of the `[words, ftot]`
/// output and arg-max; shared by the char-CNN (tanh) and word_cnn (relu
/// over valid windows), which differ only in `pool`.
pub(super) fn conv_pool_fwd(
    gpu: &Gpu,
    op: &'static str,
    a: ConvFwd<'_>,
    mut pool: impl FnMut(&DeviceBuf<f32>, &ConvKernel<'_>, MaxTanh, &mut DeviceBuf<f32>, &mut DeviceBuf<u32>) -> Result<()>,
) -> Result<(Storage, Saved)> {
    let (s, n, ftot) = (a.s, a.s.words, a.ftot);
    let (mut y, mut arg) = (gpu.zeros(n * ftot)?, gpu.zeros::<u32>(n * ftot)?);
    let mut off = 0;
    for k in a.kernels {
        let shape = conv1d(s, k);
        let (p, cw, fi) = (shape.positions(), s.dim * k.width, k.filters);
        let cols = patches(gpu, a.x, shape)?;
        let mut pre = gpu.zeros(n * p * fi)?;
        gemm(
            gpu,
            Mat::rm(&cols, n * p, cw),
            Mat::t(dev(op, k.weight)?, cw, fi),
            MatMut::rm(&mut pre, n * p, fi),
            false,
        )?;
        pool(&pre, k, MaxTanh { n, p, fi, ftot, off }, &mut y, &mut arg)?;
        off += fi;
    }
    Ok((Storage::Cuda(y), Saved { f32s: Vec::new(), u32s: vec![arg] }))
}

#[allow(clippy::too_many_arguments)]
pub(super) fn char_conv_bwd(
    gpu: &Gpu,
    x: &Storage,
    s: CharConvShape,
    kernels: &[ConvKernel<'_>],
    saved: &Saved,
    y: &Storage,
    g: &Storage,
    need_w: bool,
) -> Result<LayerGrads> {
    const OP: &str = "char_conv_bwd";
    let ftot = s.check(OP, x, kernels)?;
    let (x, y, g) = (dev(OP, x)?, dev(OP, y)?, dev(OP, g)?);
    conv_pool_bwd(gpu, OP, ConvBwd { x, s, kernels, ftot, saved, y, g, need_w }, max_tanh_bwd)
}

/// The backward a pooled convolution layer's inputs and saved arg-max
/// need, whatever its pooling; shared by the char-CNN (tanh) and word_cnn
/// (relu over valid windows), which differ only in `pool_bwd`.
pub(super) struct ConvBwd<'a> {
    pub x: &'a DeviceBuf<f32>,
    pub s: CharConvShape,
    pub kernels: &'a [ConvKernel<'a>],
    pub ftot: usize,
    pub saved: &'a Saved,
    pub y: &'a DeviceBuf<f32>,
    pub g: &'a DeviceBuf<f32>,
    pub need_w: bool,
}

/// Per kernel width: the pooling backward, the GEMMs of the patches and
/// `col2im`, summed into one input gradient.
pub(super) fn conv_pool_bwd(gpu: &Gpu, op: &'static str, a: ConvBwd<'_>, pool_bwd: PoolBwd) -> Result<LayerGrads> {
    let ConvBwd { x, s, kernels, ftot, saved, y, g, need_w } = a;
    let n = s.words;
    let arg = match &saved.u32s[..] {
        [a] => a,
        _ => return Err(crate::error::Error::invalid(op, "not the saved values of this convolution on this device")),
    };
    let mut dx = gpu.zeros(x.len())?;
    let mut weights = Vec::new();
    let mut off = 0;
    for k in kernels {
        let shape = conv1d(s, k);
        let (p, cw, fi) = (shape.positions(), s.dim * k.width, k.filters);
        let mut dpre = gpu.zeros(n * p * fi)?;
        pool_bwd(gpu, g, y, arg, MaxTanh { n, p, fi, ftot, off }, &mut dpre)?;
        let weight = dev(op, k.weight)?;
        let mut dcols = gpu.zeros(n * p * cw)?;
        gemm(gpu, Mat::rm(&dpre, n * p, fi), Mat::rm(weight, fi, cw), MatMut::rm(&mut dcols, n * p, cw), false)?;
        let mut dxi = gpu.zeros(x.len())?;
        col2im(gpu, &dcols, shape, &mut dxi)?;
        dx = add(gpu, &dx, &dxi)?;
        if need_w {
            let cols = patches(gpu, x, shape)?;
            let mut dw = gpu.zeros(fi * cw)?;
            gemm(gpu, Mat::t(&dpre, fi, n * p), Mat::rm(&cols, n * p, cw), MatMut::rm(&mut dw, fi, cw), false)?;
            weights.push(Storage::Cuda(dw));
            weights.push(Storage::Cuda(col_sums(gpu, &dpre, n * p, fi)?));
        }
        off += fi;
    }
    Ok(LayerGrads { dx: Storage::Cuda(dx), weights: need_w.then_some(weights) })
}
