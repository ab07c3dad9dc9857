//! Launchers for kernels/embedding.cu, checked against `ops::embedding`.

use crate::cuda::buffer::DeviceBuf;
use crate::cuda::gpu::{elementwise, to_u32, Gpu};
use crate::cuda::registry::k;
use crate::cuda::selfcheck::{randn, rel_err, size_in, worst, Check, MOVE, POISON};
use crate::error::{Error, Result};
use crate::ops::embedding::{embedding_backward, embedding_buckets, embedding_forward};
use crate::rng::Rng;

/// `padding_idx` = none, as the kernel reads it (`HF_NO_PADDING`).
const NO_PADDING: u32 = u32::MAX;

/// Token ids on the device, checked below the vocabulary size.
pub fn upload_ids(gpu: &Gpu, ids: &[usize], vocab: usize) -> Result<DeviceBuf<u32>> {
    if let Some(&bad) = ids.iter().find(|&&i| i >= vocab) {
        return Err(Error::IndexOutOfRange { op: "embedding", index: bad, size: vocab });
    }
    gpu.upload(&to_u32("embedding", "id", ids)?)
}

/// The backward's buckets on the device: `(start [V + 1], order [N])` from
/// `ops::embedding::embedding_buckets`, computed on the host where the ids are.
pub fn upload_buckets(gpu: &Gpu, ids: &[usize], vocab: usize) -> Result<(DeviceBuf<u32>, DeviceBuf<u32>)> {
    if let Some(&bad) = ids.iter().find(|&&i| i >= vocab) {
        return Err(Error::IndexOutOfRange { op: "embedding", index: bad, size: vocab });
    }
    let (start, order) = embedding_buckets(ids, vocab);
    Ok((gpu.upload(&to_u32("embedding", "position", &start)?)?, gpu.upload(&to_u32("embedding", "position", &order)?)?))
}

/// `out [N, d]` = rows of `weight [V, d]` at `ids` (from [`upload_ids`]).
pub fn embedding_fwd(
    gpu: &Gpu,
    weight: &DeviceBuf<f32>,
    (vocab, d): (usize, usize),
    ids: &DeviceBuf<u32>,
    out: &mut DeviceBuf<f32>,
) -> Result<()> {
    let kr = k::embedding::EMBEDDING_FWD_F32;
    weight.expect_len(kr.name, "weight", vocab * d)?;
    out.expect_len(kr.name, "out", ids.len() * d)?;
    if out.is_empty() {
        return Ok(());
    }
    let (n, d64) = (ids.len() as u64, d as u64);
    let cfg = elementwise(out.len());
    let mut args = gpu.args();
    args.arg(weight).arg(ids).arg(&n).arg(&d64).arg(&mut *out);
    // SAFETY: (weight, ids, n_ids, d, out) is the kernel's parameter list; ids were checked below vocab.
    unsafe { gpu.launch(kr, &mut args, cfg) }
}

/// `gw [V, d]` = per row, the sum of `g [N, d]` over its positions in id
/// order, zero for `padding_idx`. `start`/`order` from [`upload_buckets`].
pub fn embedding_bwd(
    gpu: &Gpu,
    g: &DeviceBuf<f32>,
    (start, order): (&DeviceBuf<u32>, &DeviceBuf<u32>),
    (vocab, d): (usize, usize),
    padding_idx: Option<usize>,
    gw: &mut DeviceBuf<f32>,
) -> Result<()> {
    let kr = k::embedding::EMBEDDING_BWD_F32;
    start.expect_len(kr.name, "start", vocab + 1)?;
    g.expect_len(kr.name, "g", order.len() * d)?;
    gw.expect_len(kr.name, "gw", vocab * d)?;
    let pad = match padding_idx {
        None => NO_PADDING,
        Some(p) => u32::try_from(p).ok().filter(|&p| p != NO_PADDING).ok_or_else(|| {
            Error::invalid(kr.name, format!("padding index {p} does not fit the kernel's 32-bit ids"))
        })?,
    };
    if gw.is_empty() {
        return Ok(());
    }
    let (v64, d64) = (vocab as u64, d as u64);
    let cfg = elementwise(gw.len());
    let mut args = gpu.args();
    args.arg(g).arg(order).arg(start).arg(&v64).arg(&d64).arg(&pad).arg(&mut *gw);
    // SAFETY: the kernel's parameter list; start/order come from embedding_buckets
    // over checked ids, so every position indexes a row of g.
    unsafe { gpu.launch(kr, &mut args, cfg) }
}

fn random_ids(rng: &mut Rng, n: usize, vocab: usize) -> Vec<usize> {
    // A skewed draw, so that some rows repeat many times and some never occur.
    (0..n).map(|_| if rng.below(3) == 0 { rng.below(4.min(vocab)) } else { rng.below(vocab) }).collect()
}

fn check_fwd(gpu: &Gpu, rng: &mut Rng) -> Result<f64> {
    let mut err = 0.0;
    for _ in 0..4 {
        let (vocab, d, n) = (size_in(rng, 1, 5000), size_in(rng, 1, 300), size_in(rng, 1, 2000));
        let w = randn(rng, vocab * d, 1.0);
        let ids = random_ids(rng, n, vocab);
        let want = embedding_forward(&w, d, &ids);
        let (wd, idd) = (gpu.upload(&w)?, upload_ids(gpu, &ids, vocab)?);
        let mut od = gpu.filled(n * d, POISON)?;
        embedding_fwd(gpu, &wd, (vocab, d), &idd, &mut od)?;
        err = worst(err, rel_err(&gpu.download(&od)?, &want));
    }
    Ok(err)
}

fn check_bwd(gpu: &Gpu, rng: &mut Rng) -> Result<f64> {
    let mut err = 0.0;
    for trial in 0..4 {
        let (vocab, d, n) = (size_in(rng, 1, 5000), size_in(rng, 1, 300), size_in(rng, 1, 2000));
        let ids = random_ids(rng, n, vocab);
        let padding_idx = (trial % 2 == 0).then(|| rng.below(vocab));
        let g = randn(rng, n * d, 1.0);
        let (start, order) = embedding_buckets(&ids, vocab);
        let want = embedding_backward(&g, d, &start, &order, padding_idx);
        let gd = gpu.upload(&g)?;
        let (sd, odr) = upload_buckets(gpu, &ids, vocab)?;
        let mut gwd = gpu.filled(vocab * d, POISON)?;
        embedding_bwd(gpu, &gd, (&sd, &odr), (vocab, d), padding_idx, &mut gwd)?;
        err = worst(err, rel_err(&gpu.download(&gwd)?, &want));
    }
    Ok(err)
}

pub(crate) fn checks() -> Vec<Check> {
    vec![
        Check::kernel(k::embedding::EMBEDDING_FWD_F32, "ops::embedding::embedding_forward", MOVE, check_fwd),
        // Same additions in the same order as the CPU: exact.
        Check::kernel(k::embedding::EMBEDDING_BWD_F32, "ops::embedding::embedding_backward", MOVE, check_bwd),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_padding_matches_the_kernel_file() {
        let src = crate::cuda::registry::file("embedding").unwrap().source;
        assert_eq!(NO_PADDING, 0xFFFF_FFFF);
        assert!(src.contains("#define HF_NO_PADDING 0xFFFFFFFFu\n"));
    }
}
