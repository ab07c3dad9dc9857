//! word_cnn's convolutions on the CUDA device: per kernel width
//! `im2col_f32`, one GEMM with the width's weights and `conv_max_relu_f32`
//! (max over each sentence's valid windows, bias, relu) into its columns of
//! the output; the backward `conv_max_relu_bwd_f32`, the GEMMs of the
//! patches and `col2im_f32` — the char-CNN's layer (`cuda_layers`) with
//! relu and per-sentence lengths. Only the window counts go up.

use super::cuda_layers::{conv_pool_bwd, conv_pool_fwd, dev, ConvBwd, ConvFwd};
use super::{LayerGrads, Saved, Storage, WordConvArgs};
use crate::cuda::ops::conv::{max_relu, max_relu_bwd};
use crate::cuda::Gpu;
use crate::error::Result;

pub(super) fn word_conv_fwd(gpu: &Gpu, a: WordConvArgs<'_>) -> Result<(Storage, Saved)> {
    const OP: &str = "word_conv_fwd";
    let ftot = a.check(OP)?;
    let fwd = ConvFwd { x: dev(OP, a.x)?, s: a.shape, kernels: a.kernels, ftot };
    conv_pool_fwd(gpu, OP, fwd, |pre, k, pool, y, arg| {
        // check() keeps every count in 1..=p.
        let valid: Vec<u32> = a.valid(k.width).iter().map(|&v| v as u32).collect();
        max_relu(gpu, pre, dev(OP, k.bias)?, &gpu.upload(&valid)?, pool, y, arg)
    })
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
