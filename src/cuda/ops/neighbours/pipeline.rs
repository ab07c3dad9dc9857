//! iAdvT's neighbour computation on device buffers: the seven kernels of
//! kernels/neighbours.cu in a row, the GPU counterpart of
//! `ops::neighbours::iadvt`.

use super::{
    alpha, dir_norms, merge, perturb, plan, project, sq_norms, topk, upload_groups, upload_ids, DeviceGroups, NO_ID,
};
use crate::cuda::buffer::DeviceBuf;
use crate::cuda::gpu::Gpu;
use crate::cuda::params::NnDims;
use crate::error::{Error, Result};
use crate::ops::neighbours::{IadvtConfig, Table};

/// The inputs, uploaded once (a training step would keep the table on the
/// device and pass fresh `w`, `g`).
pub struct DeviceInputs {
    pub dims: NnDims,
    pub table: DeviceBuf<f32>,
    pub w: DeviceBuf<f32>,
    pub g: DeviceBuf<f32>,
    pub ids: DeviceBuf<u32>,
    pub groups: DeviceGroups,
    pub eps: f32,
}

impl DeviceInputs {
    /// Checks the sizes (as the CPU op does) and uploads.
    pub fn upload(
        gpu: &Gpu,
        table: Table<'_>,
        (ids, w, g): (&[usize], &[f32], &[f32]),
        lengths: &[usize],
        cfg: &IadvtConfig,
    ) -> Result<Self> {
        let p = ids.len();
        if w.len() != p * table.dim || g.len() != p * table.dim {
            return Err(Error::invalid("neighbours", format!("w and g must be [{p}, {}]", table.dim)));
        }
        let dims = plan(p, table.vocab, table.dim, cfg.k)?;
        Ok(DeviceInputs {
            dims,
            table: gpu.upload(table.data)?,
            w: gpu.upload(w)?,
            g: gpu.upload(g)?,
            ids: upload_ids(gpu, ids, table.vocab)?,
            groups: upload_groups(gpu, lengths, cfg.scope, p)?,
            eps: cfg.eps,
        })
    }
}

/// The outputs, `[P, K]` and `r [P, D]`, and the scratch buffers the
/// kernels pass between them, allocated once for a plan and reused.
pub struct DeviceNeighbours {
    pub ids: DeviceBuf<u32>,
    pub dist: DeviceBuf<f32>,
    pub ghat: DeviceBuf<f32>,
    pub alpha: DeviceBuf<f32>,
    pub r: DeviceBuf<f32>,
    norms: DeviceBuf<f32>,
    part_s: DeviceBuf<f32>,
    part_ids: DeviceBuf<u32>,
    sel: DeviceBuf<f32>,
    inv: DeviceBuf<f64>,
}

impl DeviceNeighbours {
    pub fn new(gpu: &Gpu, p: &NnDims) -> Result<Self> {
        let pairs = p.positions as usize * p.k as usize;
        let parts = p.splits as usize * pairs;
        Ok(DeviceNeighbours {
            ids: gpu.filled(pairs, NO_ID)?,
            dist: gpu.filled(pairs, 0.0)?,
            ghat: gpu.filled(pairs, 0.0)?,
            alpha: gpu.filled(pairs, 0.0)?,
            r: gpu.filled(p.positions as usize * p.dim as usize, 0.0)?,
            norms: gpu.filled(p.vocab as usize, 0.0)?,
            part_s: gpu.filled(parts, 0.0)?,
            part_ids: gpu.filled(parts, NO_ID)?,
            sel: gpu.filled(pairs, 0.0)?,
            inv: gpu.filled(pairs, 0.0)?,
        })
    }
}

/// The inputs by reference: a training step's buffers, which stay the
/// caller's (`backend::Device::iadvt`).
pub struct InputRefs<'a> {
    pub dims: NnDims,
    pub table: &'a DeviceBuf<f32>,
    pub w: &'a DeviceBuf<f32>,
    pub g: &'a DeviceBuf<f32>,
    pub ids: &'a DeviceBuf<u32>,
    pub groups: &'a DeviceGroups,
    pub eps: f32,
}

impl DeviceInputs {
    /// These inputs by reference.
    pub fn refs(&self) -> InputRefs<'_> {
        InputRefs {
            dims: self.dims,
            table: &self.table,
            w: &self.w,
            g: &self.g,
            ids: &self.ids,
            groups: &self.groups,
            eps: self.eps,
        }
    }
}

/// Queues the whole computation into `out` (made by
/// [`DeviceNeighbours::new`] for `x.dims`); returns without
/// synchronising. An id slot left at [`NO_ID`] (only with NaN/∞ inputs)
/// gives a zero direction and an infinite distance; the CPU op reports an
/// error instead.
pub fn iadvt(gpu: &Gpu, x: &DeviceInputs, out: &mut DeviceNeighbours) -> Result<()> {
    iadvt_refs(gpu, &x.refs(), out)
}

/// The search alone (`ops::neighbours::nearest`): `out.ids`, `out.dist`
/// and the inverse direction norms, for [`project`] and [`perturb`] with
/// other g and α (iVAT); `g` and `eps` of `x` are not read.
pub fn search_refs(gpu: &Gpu, x: &InputRefs<'_>, out: &mut DeviceNeighbours) -> Result<()> {
    let p = &x.dims;
    let o = out;
    sq_norms(gpu, p, x.table, &mut o.norms)?;
    topk(gpu, p, x.table, &o.norms, x.w, x.ids, &mut o.part_s, &mut o.part_ids)?;
    merge(gpu, p, &o.part_s, &o.part_ids, &mut o.sel, &mut o.ids)?;
    dir_norms(gpu, p, (x.table, x.w), &o.ids, &mut o.dist, &mut o.inv)
}

impl DeviceNeighbours {
    /// The neighbour ids `[P, K]` and inverse direction norms `[P, K]`.
    pub fn into_directions(self) -> (DeviceBuf<u32>, DeviceBuf<f64>) {
        (self.ids, self.inv)
    }
}

/// [`iadvt`] on borrowed inputs.
pub fn iadvt_refs(gpu: &Gpu, x: &InputRefs<'_>, out: &mut DeviceNeighbours) -> Result<()> {
    let p = &x.dims;
    let o = out;
    sq_norms(gpu, p, x.table, &mut o.norms)?;
    topk(gpu, p, x.table, &o.norms, x.w, x.ids, &mut o.part_s, &mut o.part_ids)?;
    merge(gpu, p, &o.part_s, &o.part_ids, &mut o.sel, &mut o.ids)?;
    let rows = (x.table, x.w);
    dir_norms(gpu, p, rows, &o.ids, &mut o.dist, &mut o.inv)?;
    project(gpu, p, rows, &o.ids, &o.inv, x.g, &mut o.ghat)?;
    alpha(gpu, &o.ghat, x.groups, p.k as usize, x.eps, &mut o.alpha)?;
    perturb(gpu, p, rows, &o.ids, &o.inv, &o.alpha, &mut o.r)
}
