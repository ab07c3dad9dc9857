//! The CUDA device: the launchers of `cuda::ops` on device buffers, on a
//! GPU or on the emulated device (`Gpu::emulated`). Values stay on the
//! device between primitives; index arrays go up through the launchers'
//! checked `upload_*` functions.

use std::sync::Arc;

use super::{
    cuda_layers, cuda_neighbours, cuda_word_conv, expect_len, wrong_place, CharConvShape, ConvKernel, Device, Gemm,
    IadvtArgs, LayerGrads, LstmParams, LstmShape, NearestArgs, NearestWords, Saved, Storage, WordConvArgs,
};
use crate::cuda::blas::{gemm, Mat, MatMut};
use crate::cuda::buffer::DeviceBuf;
use crate::cuda::ops::{binary, dropout, embedding, loss, optim, reduce, unary};
use crate::cuda::params::AdamParams;
use crate::cuda::Gpu;
use crate::error::{Error, Result};
use crate::ops::neighbours::AlphaScope;
use crate::ops::{BinaryKind, Unary};

#[derive(Clone, Debug)]
/// A GPU: every primitive launches the kernels of `kernels/*.cu`.
pub struct CudaDevice {
    gpu: Arc<Gpu>,
}

impl CudaDevice {
    /// The device that launches on `gpu`.
    pub fn new(gpu: Arc<Gpu>) -> Self {
        CudaDevice { gpu }
    }

    /// The GPU the primitives launch on.
    pub fn gpu(&self) -> &Arc<Gpu> {
        &self.gpu
    }
}

fn dev<'a>(op: &'static str, s: &'a Storage) -> Result<&'a DeviceBuf<f32>> {
    match s {
        Storage::Cuda(b) => Ok(b),
        other => Err(wrong_place(op, other, "cuda")),
    }
}

fn dev_mut<'a>(op: &'static str, s: &'a mut Storage) -> Result<&'a mut DeviceBuf<f32>> {
    match s {
        Storage::Cuda(b) => Ok(b),
        other => Err(wrong_place(op, other, "cuda")),
    }
}

/// A's (or B's) device view, as `cpu::view` reads the same store.
fn mat(buf: &DeviceBuf<f32>, rows: usize, cols: usize, trans: bool) -> Mat<'_> {
    if trans {
        Mat::t(buf, rows, cols)
    } else {
        Mat::rm(buf, rows, cols)
    }
}

impl Device for CudaDevice {
    fn cuda_gpu(&self) -> Option<&Arc<Gpu>> {
        Some(&self.gpu)
    }

    fn name(&self) -> &'static str {
        if self.gpu.is_emulated() {
            "cuda (emulated)"
        } else {
            "cuda"
        }
    }

    fn upload(&self, host: &[f32]) -> Result<Storage> {
        Ok(Storage::Cuda(self.gpu.upload(host)?))
    }

    fn to_host(&self, s: &Storage) -> Result<Vec<f32>> {
        self.gpu.download(dev("to_host", s)?)
    }

    fn gemm(&self, a: &Storage, b: &Storage, g: Gemm) -> Result<Storage> {
        let (a, b) = (dev("gemm", a)?, dev("gemm", b)?);
        expect_len("gemm", "a", a.len(), g.m * g.k)?;
        expect_len("gemm", "b", b.len(), g.k * g.n)?;
        let mut c = self.gpu.zeros(g.m * g.n)?;
        gemm(&self.gpu, mat(a, g.m, g.k, g.ta), mat(b, g.k, g.n, g.tb), MatMut::rm(&mut c, g.m, g.n), false)?;
        Ok(Storage::Cuda(c))
    }

    fn embedding_fwd(&self, weight: &Storage, vocab: usize, dim: usize, ids: &[usize]) -> Result<Storage> {
        let w = dev("embedding_fwd", weight)?;
        let idd = embedding::upload_ids(&self.gpu, ids, vocab)?;
        let mut out = self.gpu.zeros(ids.len() * dim)?;
        embedding::embedding_fwd(&self.gpu, w, (vocab, dim), &idd, &mut out)?;
        Ok(Storage::Cuda(out))
    }

    fn embedding_bwd(
        &self,
        g: &Storage,
        vocab: usize,
        dim: usize,
        ids: &[usize],
        padding: Option<usize>,
    ) -> Result<Storage> {
        let g = dev("embedding_bwd", g)?;
        let (start, order) = embedding::upload_buckets(&self.gpu, ids, vocab)?;
        let mut gw = self.gpu.zeros(vocab * dim)?;
        embedding::embedding_bwd(&self.gpu, g, (&start, &order), (vocab, dim), padding, &mut gw)?;
        Ok(Storage::Cuda(gw))
    }

    fn cross_entropy(
        &self,
        logits: &Storage,
        c: usize,
        targets: &[usize],
        weights: &[f32],
    ) -> Result<(Storage, Storage)> {
        let x = dev("cross_entropy", logits)?;
        let shape = loss::Rows { rows: targets.len(), c };
        let td = loss::upload_targets(&self.gpu, targets, c)?;
        let wd = self.gpu.upload(weights)?;
        let (mut ls, mut per) = (self.gpu.zeros(x.len())?, self.gpu.zeros(targets.len())?);
        loss::cross_entropy_fwd(&self.gpu, x, &td, &wd, shape, &mut ls, &mut per)?;
        Ok((Storage::Cuda(ls), Storage::Cuda(per)))
    }

    fn cross_entropy_bwd(
        &self,
        ls: &Storage,
        c: usize,
        targets: &[usize],
        weights: &[f32],
        g: &Storage,
        reduce: bool,
    ) -> Result<Storage> {
        let (ls, g) = (dev("cross_entropy_bwd", ls)?, dev("cross_entropy_bwd", g)?);
        let shape = loss::Rows { rows: targets.len(), c };
        let td = loss::upload_targets(&self.gpu, targets, c)?;
        let wd = self.gpu.upload(weights)?;
        let mut gx = self.gpu.zeros(ls.len())?;
        loss::cross_entropy_bwd(&self.gpu, ls, &td, &wd, g, reduce, shape, &mut gx)?;
        Ok(Storage::Cuda(gx))
    }

    fn dropout(&self, x: &Storage, p: f32, seed: u64) -> Result<Storage> {
        if !(0.0..1.0).contains(&p) {
            return Err(Error::invalid("dropout", format!("probability {p} must be in [0, 1)")));
        }
        let x = dev("dropout", x)?;
        let mut out = self.gpu.zeros(x.len())?;
        dropout::dropout(&self.gpu, x, p, seed, &mut out)?;
        Ok(Storage::Cuda(out))
    }

    fn sum(&self, x: &Storage) -> Result<f32> {
        let mut out = self.gpu.zeros(1)?;
        reduce::sum(&self.gpu, dev("sum", x)?, &mut out)?;
        Ok(self.gpu.download(&out)?[0])
    }

    fn scale(&self, x: &Storage, c: f32) -> Result<Storage> {
        let x = dev("scale", x)?;
        let mut y = self.gpu.zeros(x.len())?;
        unary::scale(&self.gpu, x, &mut y, c)?;
        Ok(Storage::Cuda(y))
    }

    fn adam(
        &self,
        p: &AdamParams,
        param: &mut Storage,
        grad: &Storage,
        m: &mut Storage,
        v: &mut Storage,
    ) -> Result<()> {
        let grad = dev("adam", grad)?;
        let (param, m, v) = (dev_mut("adam", param)?, dev_mut("adam", m)?, dev_mut("adam", v)?);
        optim::adam(&self.gpu, p, param, grad, (m, v))
    }

    fn linear(
        &self,
        x: &Storage,
        w: &Storage,
        bias: Option<&Storage>,
        (rows, n_in, n_out): (usize, usize, usize),
    ) -> Result<Storage> {
        let (x, w) = (dev("linear", x)?, dev("linear", w)?);
        expect_len("linear", "x", x.len(), rows * n_in)?;
        expect_len("linear", "w", w.len(), n_out * n_in)?;
        let mut out = match bias {
            Some(b) => {
                let b = dev("linear", b)?;
                expect_len("linear", "bias", b.len(), n_out)?;
                cuda_layers::bias_rows(&self.gpu, b, rows, n_out)?
            }
            None => self.gpu.zeros(rows * n_out)?,
        };
        let c = MatMut::rm(&mut out, rows, n_out);
        gemm(&self.gpu, Mat::rm(x, rows, n_in), Mat::t(w, n_in, n_out), c, bias.is_some())?;
        Ok(Storage::Cuda(out))
    }

    fn unary(&self, op: Unary, x: &Storage) -> Result<Storage> {
        let x = dev("unary", x)?;
        let mut y = self.gpu.zeros(x.len())?;
        unary::forward(&self.gpu, op, x, &mut y)?;
        Ok(Storage::Cuda(y))
    }

    fn unary_bwd(&self, op: Unary, x: &Storage, y: &Storage, g: &Storage) -> Result<Storage> {
        let (x, y, g) = (dev("unary_bwd", x)?, dev("unary_bwd", y)?, dev("unary_bwd", g)?);
        let mut gx = self.gpu.zeros(x.len())?;
        unary::backward(&self.gpu, op, x, y, g, &mut gx)?;
        Ok(Storage::Cuda(gx))
    }

    fn binary(&self, kind: BinaryKind, a: &Storage, b: &Storage) -> Result<Storage> {
        let (a, b) = (dev("binary", a)?, dev("binary", b)?);
        expect_len("binary", "b", b.len(), a.len())?;
        let mut out = self.gpu.zeros(a.len())?;
        binary::binary(&self.gpu, kind, (a, &[a.len()]), (b, &[b.len()]), &mut out)?;
        Ok(Storage::Cuda(out))
    }

    fn col_sums(&self, x: &Storage, cols: usize) -> Result<Storage> {
        let x = dev("col_sums", x)?;
        if cols == 0 || x.len() % cols != 0 {
            return Err(Error::invalid("col_sums", format!("{} values in rows of {cols}", x.len())));
        }
        Ok(Storage::Cuda(cuda_layers::col_sums(&self.gpu, x, x.len() / cols, cols)?))
    }

    fn lstm_fwd(&self, x: &Storage, w: LstmParams<'_>, lengths: &[usize], s: LstmShape) -> Result<(Storage, Saved)> {
        cuda_layers::lstm_fwd(&self.gpu, x, w, lengths, s)
    }

    fn lstm_bwd(
        &self,
        x: &Storage,
        w: LstmParams<'_>,
        lengths: &[usize],
        s: LstmShape,
        saved: &Saved,
        y: &Storage,
        gy: &Storage,
        need_w: bool,
    ) -> Result<LayerGrads> {
        cuda_layers::lstm_bwd(&self.gpu, x, w, lengths, s, saved, y, gy, need_w)
    }

    fn char_conv_fwd(&self, x: &Storage, s: CharConvShape, kernels: &[ConvKernel<'_>]) -> Result<(Storage, Saved)> {
        cuda_layers::char_conv_fwd(&self.gpu, x, s, kernels)
    }

    fn char_conv_bwd(
        &self,
        x: &Storage,
        s: CharConvShape,
        kernels: &[ConvKernel<'_>],
        saved: &Saved,
        y: &Storage,
        g: &Storage,
        need_w: bool,
    ) -> Result<LayerGrads> {
        cuda_layers::char_conv_bwd(&self.gpu, x, s, kernels, saved, y, g, need_w)
    }

    fn word_conv_fwd(&self, a: WordConvArgs<'_>) -> Result<(Storage, Saved)> {
        cuda_word_conv::word_conv_fwd(&self.gpu, a)
    }

    fn word_conv_bwd(
        &self,
        a: WordConvArgs<'_>,
        saved: &Saved,
        y: &Storage,
        g: &Storage,
        need_w: bool,
    ) -> Result<LayerGrads> {
        cuda_word_conv::word_conv_bwd(&self.gpu, a, saved, y, g, need_w)
    }

    fn iadvt(&self, a: IadvtArgs<'_>) -> Result<Storage> {
        use crate::cuda::ops::neighbours::{iadvt_refs, plan, upload_groups, upload_ids, DeviceNeighbours, InputRefs};
        a.check("iadvt")?;
        let gpu = self.gpu.as_ref();
        let p = a.ids.len();
        let dims = plan(p, a.vocab, a.dim, a.cfg.k)?;
        let ids = upload_ids(gpu, a.ids, a.vocab)?;
        let groups = upload_groups(gpu, a.lengths, a.cfg.scope, p)?;
        let (table, w, g) = (dev("iadvt", a.table)?, dev("iadvt", a.w)?, dev("iadvt", a.g)?);
        let mut out = DeviceNeighbours::new(gpu, &dims)?;
        iadvt_refs(gpu, &InputRefs { dims, table, w, g, ids: &ids, groups: &groups, eps: a.cfg.eps }, &mut out)?;
        Ok(Storage::Cuda(out.r))
    }

    fn nn_search(&self, a: NearestArgs<'_>, k: usize) -> Result<NearestWords> {
        cuda_neighbours::search(&self.gpu, a, k)
    }

    fn nn_project(&self, a: NearestArgs<'_>, n: &NearestWords, g: &Storage) -> Result<Storage> {
        cuda_neighbours::project(&self.gpu, a, n, g)
    }

    fn nn_alpha(&self, ghat: &Storage, k: usize, lengths: &[usize], scope: AlphaScope, eps: f32) -> Result<Storage> {
        cuda_neighbours::alpha(&self.gpu, ghat, k, lengths, scope, eps)
    }

    fn nn_perturb(&self, a: NearestArgs<'_>, n: &NearestWords, alpha: &Storage) -> Result<Storage> {
        cuda_neighbours::perturb(&self.gpu, a, n, alpha)
    }
}
