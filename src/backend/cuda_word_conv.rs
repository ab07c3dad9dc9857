//! word_cnn's convolutions on the CUDA device: per kernel width
//! `im2col_f32`, one GEMM with the width's weights and `conv_max_relu_f32`
//! (max over each sentence's valid windows, bias, relu) into its columns of
//! the output; the backward `conv_max_relu_bwd_f32`, the GEMMs of the
//! patches and `col2im_f32` — the char-CNN's layer (`cuda_layers`) with
//! relu and per-sentence lengths. Only the window counts go up.

use super::cuda_layers::{conv1d, conv_pool_bwd, dev, patches, ConvBwd};
use super::{LayerGrads, Saved, Storage, WordConvArgs};
use crate::cuda::blas::{gemm, Mat, MatMut};
use crate::cuda::ops::conv::{max_relu, max_relu_bwd, MaxTanh};
use crate::cuda::Gpu;
use crate::error::Result;

pub(super) fn word_conv_fwd(gpu: &Gpu, a: WordConvArgs<'_>) -> Result<(Storage, Saved)> {
    const OP: &str = "word_conv_fwd";
    let ftot = a.check(OP)?;
    let (s, x) = (a.shape, dev(OP, a.x)?);
    let n = s.words;
    let (mut y, mut arg) = (gpu.zeros(n * ftot)?, gpu.zeros::<u32>(n * ftot)?);
    let mut off = 0;
    for k in a.kernels {
        let shape = conv1d(s, k);
        let (p, cw, fi) = (shape.positions(), s.dim * k.width, k.filters);
        let cols = patches(gpu, x, shape)?;
        let mut pre = gpu.zeros(n * p * fi)?;
        gemm(
            gpu,
            Mat::rm(&cols, n * p, cw),
            Mat::t(dev(OP, k.weight)?, cw, fi),
            MatMut::rm(&mut pre, n * p, fi),
            false,
        )?;
        // check() keeps every count in 1..=p.
        let valid: Vec<u32> = a.valid(k.width).iter().map(|&v| v as u32).collect();
        let pool = MaxTanh { n, p, fi, ftot, off };
        max_relu(gpu, &pre, dev(OP, k.bias)?, &gpu.upload(&valid)?, pool, &mut y, &mut arg)?;
        off += fi;
    }
    Ok((Storage::Cuda(y), Saved { f32s: Vec::new(), u32s: vec![arg] }))
}

pub(super) fn word_conv_bwd(
    gpu: &Gpu,
    a: WordConvArgs<'_>,
    saved: &Saved,
    y: &Storage,
    g: &Storage,
    need_w: bool,
) -> Result<LayerGrads> {
    const OP: &str = "word_conv_bwd";
    let ftot = a.check(OP)?;
    let (x, y, g) = (dev(OP, a.x)?, dev(OP, y)?, dev(OP, g)?);
    let b = ConvBwd { x, s: a.shape, kernels: a.kernels, ftot, saved, y, g, need_w };
    conv_pool_bwd(gpu, OP, b, max_relu_bwd)
}
