//! The CPU device: the CPU kernels the tape's ops run (`ops::*`), on host
//! vectors. The default.

use super::{
    check_ids, cpu_layers, expect_len, wrong_place, CharConvShape, ConvKernel, Device, Gemm, IadvtArgs, LayerGrads,
    LstmParams, LstmShape, NearestArgs, NearestAt, NearestWords, Saved, Storage, WordConvArgs,
};
use crate::cuda::params::AdamParams;
use crate::error::Result;
use crate::ops::gemm::{matmul, View, ViewMut};
use crate::ops::neighbours::{AlphaScope, Table};
use crate::ops::{BinaryKind, Unary};

#[derive(Clone, Copy, Debug, Default)]
/// The host: every primitive runs on the CPU kernels of `ops::cpu`.
pub struct CpuDevice;

fn host<'a>(op: &'static str, s: &'a Storage) -> Result<&'a [f32]> {
    match s {
        Storage::Cpu(v) => Ok(v),
        other => Err(wrong_place(op, other, "cpu")),
    }
}

fn host_mut<'a>(op: &'static str, s: &'a mut Storage) -> Result<&'a mut Vec<f32>> {
    match s {
        Storage::Cpu(v) => Ok(v),
        other => Err(wrong_place(op, other, "cpu")),
    }
}

/// A's (or B's) view: row-major, or the transpose of a row-major store.
pub(crate) fn view(data: &[f32], rows: usize, cols: usize, trans: bool) -> View<'_> {
    if trans {
        View::t(data, rows, cols)
    } else {
        View::rm(data, rows, cols)
    }
}

impl Device for CpuDevice {
    fn name(&self) -> &'static str {
        "cpu"
    }

    fn upload(&self, host: &[f32]) -> Result<Storage> {
        Ok(Storage::Cpu(host.to_vec()))
    }

    fn to_host(&self, s: &Storage) -> Result<Vec<f32>> {
        Ok(host("to_host", s)?.to_vec())
    }

    fn gemm(&self, a: &Storage, b: &Storage, g: Gemm) -> Result<Storage> {
        let (a, b) = (host("gemm", a)?, host("gemm", b)?);
        expect_len("gemm", "a", a.len(), g.m * g.k)?;
        expect_len("gemm", "b", b.len(), g.k * g.n)?;
        let mut c = vec![0.0f32; g.m * g.n];
        matmul(view(a, g.m, g.k, g.ta), view(b, g.k, g.n, g.tb), ViewMut::rm(&mut c, g.m, g.n), false);
        Ok(Storage::Cpu(c))
    }

    fn embedding_fwd(&self, weight: &Storage, vocab: usize, dim: usize, ids: &[usize]) -> Result<Storage> {
        let w = host("embedding_fwd", weight)?;
        expect_len("embedding_fwd", "weight", w.len(), vocab * dim)?;
        check_ids("embedding_fwd", ids, vocab)?;
        Ok(Storage::Cpu(crate::ops::embedding::embedding_forward(w, dim, ids)))
    }

    fn embedding_bwd(
        &self,
        g: &Storage,
        vocab: usize,
        dim: usize,
        ids: &[usize],
        padding: Option<usize>,
    ) -> Result<Storage> {
        let g = host("embedding_bwd", g)?;
        expect_len("embedding_bwd", "g", g.len(), ids.len() * dim)?;
        check_ids("embedding_bwd", ids, vocab)?;
        let (start, order) = crate::ops::embedding::embedding_buckets(ids, vocab);
        Ok(Storage::Cpu(crate::ops::embedding::embedding_backward(g, dim, &start, &order, padding)))
    }

    fn cross_entropy(
        &self,
        logits: &Storage,
        c: usize,
        targets: &[usize],
        weights: &[f32],
    ) -> Result<(Storage, Storage)> {
        let x = host("cross_entropy", logits)?;
        expect_len("cross_entropy", "logits", x.len(), targets.len() * c)?;
        expect_len("cross_entropy", "weights", weights.len(), targets.len())?;
        check_ids("cross_entropy", targets, c)?;
        let (ls, per) = crate::ops::loss::ce_forward_rows(x, c, targets, weights);
        Ok((Storage::Cpu(ls), Storage::Cpu(per)))
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
        let (ls, g) = (host("cross_entropy_bwd", ls)?, host("cross_entropy_bwd", g)?);
        expect_len("cross_entropy_bwd", "ls", ls.len(), targets.len() * c)?;
        expect_len("cross_entropy_bwd", "weights", weights.len(), targets.len())?;
        expect_len("cross_entropy_bwd", "g", g.len(), if reduce { 1 } else { targets.len() })?;
        check_ids("cross_entropy_bwd", targets, c)?;
        Ok(Storage::Cpu(crate::ops::loss::ce_backward_rows(ls, c, targets, weights, g, reduce)))
    }

    fn dropout(&self, x: &Storage, p: f32, seed: u64) -> Result<Storage> {
        if !(0.0..1.0).contains(&p) {
            return Err(crate::error::Error::invalid("dropout", format!("probability {p} must be in [0, 1)")));
        }
        Ok(Storage::Cpu(crate::ops::dropout::apply(host("dropout", x)?, seed, p)))
    }

    fn sum(&self, x: &Storage) -> Result<f32> {
        Ok(crate::ops::cpu::sum(host("sum", x)?) as f32)
    }

    fn scale(&self, x: &Storage, c: f32) -> Result<Storage> {
        Ok(Storage::Cpu(host("scale", x)?.iter().map(|&v| v * c).collect()))
    }

    fn adam(
        &self,
        p: &AdamParams,
        param: &mut Storage,
        grad: &Storage,
        m: &mut Storage,
        v: &mut Storage,
    ) -> Result<()> {
        let n = param.len();
        let grad = host("adam", grad)?;
        expect_len("adam", "grad", grad.len(), n)?;
        expect_len("adam", "m", m.len(), n)?;
        expect_len("adam", "v", v.len(), n)?;
        let (param, m, v) = (host_mut("adam", param)?, host_mut("adam", m)?, host_mut("adam", v)?);
        crate::cuda::twins::adam_step(p, param, grad, m, v);
        Ok(())
    }

    fn linear(&self, x: &Storage, w: &Storage, bias: Option<&Storage>, dims: (usize, usize, usize)) -> Result<Storage> {
        cpu_layers::linear(x, w, bias, dims)
    }

    fn unary(&self, op: Unary, x: &Storage) -> Result<Storage> {
        let x = host("unary", x)?;
        let mut y = vec![0.0f32; x.len()];
        crate::ops::unary::unary_forward(op, x, &mut y);
        Ok(Storage::Cpu(y))
    }

    fn unary_bwd(&self, op: Unary, x: &Storage, y: &Storage, g: &Storage) -> Result<Storage> {
        let (x, y, g) = (host("unary_bwd", x)?, host("unary_bwd", y)?, host("unary_bwd", g)?);
        expect_len("unary_bwd", "y", y.len(), x.len())?;
        expect_len("unary_bwd", "g", g.len(), x.len())?;
        let mut gx = vec![0.0f32; x.len()];
        crate::ops::unary::unary_backward(op, x, y, g, &mut gx);
        Ok(Storage::Cpu(gx))
    }

    fn binary(&self, kind: BinaryKind, a: &Storage, b: &Storage) -> Result<Storage> {
        let (a, b) = (host("binary", a)?, host("binary", b)?);
        expect_len("binary", "b", b.len(), a.len())?;
        let f: fn(f32, f32) -> f32 = match kind {
            BinaryKind::Add => |x, y| x + y,
            BinaryKind::Sub => |x, y| x - y,
            BinaryKind::Mul => |x, y| x * y,
            BinaryKind::Div => |x, y| x / y,
        };
        Ok(Storage::Cpu(a.iter().zip(b).map(|(&x, &y)| f(x, y)).collect()))
    }

    fn col_sums(&self, x: &Storage, cols: usize) -> Result<Storage> {
        let x = host("col_sums", x)?;
        if cols == 0 || x.len() % cols != 0 {
            return Err(crate::error::Error::invalid("col_sums", format!("{} values in rows of {cols}", x.len())));
        }
        Ok(Storage::Cpu(crate::cpu::col_sums(x, cols)))
    }

    fn lstm_fwd(&self, x: &Storage, w: LstmParams<'_>, lengths: &[usize], s: LstmShape) -> Result<(Storage, Saved)> {
        cpu_layers::lstm_fwd(x, w, lengths, s)
    }

    fn lstm_bwd(
        &self,
        x: &Storage,
        w: LstmParams<'_>,
        lengths: &[usize],
        s: LstmShape,
        _saved: &Saved,
        _y: &Storage,
        gy: &Storage,
        need_w: bool,
    ) -> Result<LayerGrads> {
        cpu_layers::lstm_bwd(x, w, lengths, s, gy, need_w)
    }

    fn char_conv_fwd(&self, x: &Storage, s: CharConvShape, kernels: &[ConvKernel<'_>]) -> Result<(Storage, Saved)> {
        cpu_layers::char_conv_fwd(x, s, kernels)
    }

    fn char_conv_bwd(
        &self,
        x: &Storage,
        s: CharConvShape,
        kernels: &[ConvKernel<'_>],
        _saved: &Saved,
        _y: &Storage,
        g: &Storage,
        need_w: bool,
    ) -> Result<LayerGrads> {
        cpu_layers::char_conv_bwd(x, s, kernels, g, need_w)
    }

    fn word_conv_fwd(&self, a: WordConvArgs<'_>) -> Result<(Storage, Saved)> {
        cpu_layers::word_conv_fwd(a)
    }

    fn word_conv_bwd(
        &self,
        a: WordConvArgs<'_>,
        _saved: &Saved,
        _y: &Storage,
        g: &Storage,
        need_w: bool,
    ) -> Result<LayerGrads> {
        cpu_layers::word_conv_bwd(a, g, need_w)
    }

    fn iadvt(&self, a: IadvtArgs<'_>) -> Result<Storage> {
        a.check("iadvt")?;
        let table = crate::ops::neighbours::Table::new(host("iadvt", a.table)?, a.vocab, a.dim)?;
        let (w, g) = (host("iadvt", a.w)?, host("iadvt", a.g)?);
        Ok(Storage::Cpu(crate::ops::neighbours::iadvt(table, a.ids, w, g, a.lengths, &a.cfg)?.r))
    }

    fn nn_search(&self, a: NearestArgs<'_>, k: usize) -> Result<NearestWords> {
        a.check("nn_search")?;
        let table = Table::new(host("nn_search", a.table)?, a.vocab, a.dim)?;
        let found = crate::ops::neighbours::nearest(table, a.ids, host("nn_search", a.w)?, k)?;
        Ok(NearestWords { k, positions: a.ids.len(), at: NearestAt::Cpu(found.ids) })
    }

    fn nn_project(&self, a: NearestArgs<'_>, n: &NearestWords, g: &Storage) -> Result<Storage> {
        a.check_nearest("nn_project", n)?;
        let NearestAt::Cpu(nbr) = &n.at else { return Err(elsewhere("nn_project")) };
        let table = Table::new(host("nn_project", a.table)?, a.vocab, a.dim)?;
        let (w, g) = (host("nn_project", a.w)?, host("nn_project", g)?);
        Ok(Storage::Cpu(crate::ops::neighbours::alpha_grad(table, w, nbr, n.k, g)?))
    }

    fn nn_alpha(&self, ghat: &Storage, k: usize, lengths: &[usize], scope: AlphaScope, eps: f32) -> Result<Storage> {
        Ok(Storage::Cpu(crate::ops::neighbours::alpha(host("nn_alpha", ghat)?, k, lengths, scope, eps)?))
    }

    fn nn_perturb(&self, a: NearestArgs<'_>, n: &NearestWords, alpha: &Storage) -> Result<Storage> {
        a.check_nearest("nn_perturb", n)?;
        let NearestAt::Cpu(nbr) = &n.at else { return Err(elsewhere("nn_perturb")) };
        let table = Table::new(host("nn_perturb", a.table)?, a.vocab, a.dim)?;
        let (w, alpha) = (host("nn_perturb", a.w)?, host("nn_perturb", alpha)?);
        Ok(Storage::Cpu(crate::ops::neighbours::perturbation(table, w, nbr, n.k, alpha)?))
    }
}

fn elsewhere(op: &'static str) -> crate::error::Error {
    crate::error::Error::invalid(op, "neighbours found on another device")
}
