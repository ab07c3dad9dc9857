//! The nearest-word primitives of [`super::CudaDevice`] on the launchers of
//! `cuda::ops::neighbours` (kernels/neighbours.cu): one search whose ids
//! and inverse direction norms stay on the device, then projections and
//! perturbations along those directions (iVAT).

use super::{NearestArgs, NearestAt, NearestWords, Storage};
use crate::cuda::buffer::DeviceBuf;
use crate::cuda::ops::neighbours::{
    self as nn, plan, search_refs, upload_groups, upload_ids, DeviceNeighbours, InputRefs, NO_ID,
};
use crate::cuda::Gpu;
use crate::error::{Error, Result};
use crate::ops::neighbours::AlphaScope;

fn dev<'a>(op: &'static str, s: &'a Storage) -> Result<&'a DeviceBuf<f32>> {
    match s {
        Storage::Cuda(b) => Ok(b),
        other => Err(super::wrong_place(op, other, "cuda")),
    }
}

fn on_device<'a>(
    op: &'static str,
    n: &'a NearestWords,
) -> Result<(&'a crate::cuda::params::NnDims, &'a DeviceBuf<u32>, &'a DeviceBuf<f64>)> {
    match &n.at {
        NearestAt::Cuda { dims, ids, inv } => Ok((dims, ids, inv)),
        NearestAt::Cpu(_) => Err(Error::invalid(op, "neighbours found on another device")),
    }
}

pub(super) fn search(gpu: &Gpu, a: NearestArgs<'_>, k: usize) -> Result<NearestWords> {
    a.check("nn_search")?;
    let p = a.ids.len();
    let dims = plan(p, a.vocab, a.dim, k)?;
    let ids = upload_ids(gpu, a.ids, a.vocab)?;
    // α's groups are not read by the search; one group keeps the inputs whole.
    let groups = upload_groups(gpu, &[p], AlphaScope::PerExample, p)?;
    let (table, w) = (dev("nn_search", a.table)?, dev("nn_search", a.w)?);
    let mut out = DeviceNeighbours::new(gpu, &dims)?;
    let refs = InputRefs { dims, table, w, g: w, ids: &ids, groups: &groups, eps: 0.0 };
    search_refs(gpu, &refs, &mut out)?;
    let (ids, inv) = out.into_directions();
    // The CPU search reports a slot no candidate filled (NaN/∞ inputs) as an error: so does this.
    if gpu.download(&ids)?.contains(&NO_ID) {
        return Err(Error::invalid("nn_search", "a position found fewer than K neighbours (non-finite embeddings?)"));
    }
    Ok(NearestWords { k, positions: p, at: NearestAt::Cuda { dims, ids, inv } })
}

pub(super) fn project(gpu: &Gpu, a: NearestArgs<'_>, n: &NearestWords, g: &Storage) -> Result<Storage> {
    a.check_nearest("nn_project", n)?;
    let (dims, ids, inv) = on_device("nn_project", n)?;
    let (table, w, g) = (dev("nn_project", a.table)?, dev("nn_project", a.w)?, dev("nn_project", g)?);
    let mut ghat = gpu.filled(n.positions * n.k, 0.0f32)?;
    nn::project(gpu, dims, (table, w), ids, inv, g, &mut ghat)?;
    Ok(Storage::Cuda(ghat))
}

pub(super) fn alpha(
    gpu: &Gpu,
    ghat: &Storage,
    k: usize,
    lengths: &[usize],
    scope: AlphaScope,
    eps: f32,
) -> Result<Storage> {
    let ghat = dev("nn_alpha", ghat)?;
    if k == 0 || !ghat.len().is_multiple_of(k) {
        return Err(Error::invalid("nn_alpha", format!("ĝ holds {} values, not a multiple of K = {k}", ghat.len())));
    }
    let groups = upload_groups(gpu, lengths, scope, ghat.len() / k)?;
    let mut out = gpu.filled(ghat.len(), 0.0f32)?;
    nn::alpha(gpu, ghat, &groups, k, eps, &mut out)?;
    Ok(Storage::Cuda(out))
}

pub(super) fn perturb(gpu: &Gpu, a: NearestArgs<'_>, n: &NearestWords, alpha: &Storage) -> Result<Storage> {
    a.check_nearest("nn_perturb", n)?;
    let (dims, ids, inv) = on_device("nn_perturb", n)?;
    let (table, w, alpha) = (dev("nn_perturb", a.table)?, dev("nn_perturb", a.w)?, dev("nn_perturb", alpha)?);
    let mut r = gpu.filled(n.positions * a.dim, 0.0f32)?;
    nn::perturb(gpu, dims, (table, w), ids, inv, alpha, &mut r)?;
    Ok(Storage::Cuda(r))
}
