//! Narrow (valid) 1-D convolution over positions, PyTorch weight layout.

use crate::error::{Error, Result};
use crate::ops::cpu;
use crate::ops::gemm::{self, View, ViewMut};
use crate::tape::{Tape, Var};
use crate::tensor::Tensor;

/// `[N·P, C·K]` patches, column `c·K + j` = `x[n, p + j, c]`, matching the
/// weight `[F, C, K]` read as `[F, C·K]`. CPU twin of kernels/conv.cu.
pub(crate) fn im2col(x: &[f32], n: usize, l: usize, c: usize, k: usize) -> Vec<f32> {
    let p = l - k + 1;
    let mut cols = vec![0.0f32; n * p * c * k];
    cpu::for_rows(&mut cols, p * c * k, |ni, block| {
        let xn = &x[ni * l * c..(ni + 1) * l * c];
        for (pi, row) in block.chunks_mut(c * k).enumerate() {
            for j in 0..k {
                let src = &xn[(pi + j) * c..(pi + j + 1) * c];
                for (ci, &v) in src.iter().enumerate() {
                    row[ci * k + j] = v;
                }
            }
        }
    });
    cols
}

/// Adds patch gradients back onto positions (the adjoint of `im2col`).
pub(crate) fn col2im(dcols: &[f32], n: usize, l: usize, c: usize, k: usize) -> Vec<f32> {
    let p = l - k + 1;
    let mut dx = vec![0.0f32; n * l * c];
    cpu::for_rows(&mut dx, l * c, |ni, dxn| {
        let block = &dcols[ni * p * c * k..(ni + 1) * p * c * k];
        for (pi, row) in block.chunks(c * k).enumerate() {
            for j in 0..k {
                let dst = &mut dxn[(pi + j) * c..(pi + j + 1) * c];
                for (ci, d) in dst.iter_mut().enumerate() {
                    *d += row[ci * k + j];
                }
            }
        }
    });
    dx
}

impl Tape {
    /// `x [N, L, C]`, `w [F, C, K]`, `b [F]` → `[N, L − K + 1, F]`.
    pub fn conv1d(&self, x: Var, w: Var, b: Option<Var>) -> Result<Var> {
        let (xv, wv) = (self.value(x)?, self.value(w)?);
        let (sx, sw) = (xv.shape().to_vec(), wv.shape().to_vec());
        if sx.len() != 3 || sw.len() != 3 || sx[2] != sw[1] || sw[2] == 0 {
            return Err(Error::shapes("conv1d", &sx, &sw));
        }
        let (n, l, c, f, k) = (sx[0], sx[1], sx[2], sw[0], sw[2]);
        if l < k {
            return Err(Error::invalid(
                "conv1d",
                format!("input length {l} is shorter than kernel width {k} (input {sx:?}, weight {sw:?})"),
            ));
        }
        let bv = match b {
            Some(b) => {
                let bv = self.value(b)?;
                if bv.shape() != [f] {
                    return Err(Error::shapes("conv1d bias", bv.shape(), &[f]));
                }
                Some(bv)
            }
            None => None,
        };
        let p = l - k + 1;
        let ck = c * k;
        let cols = im2col(xv.data(), n, l, c, k);
        let mut out = vec![0.0f32; n * p * f];
        if let Some(bv) = &bv {
            cpu::for_rows(&mut out, f, |_, r| r.copy_from_slice(bv.data()));
        }
        gemm::matmul(
            View::rm(&cols, n * p, ck),
            View::t(wv.data(), ck, f),
            ViewMut::rm(&mut out, n * p, f),
            bv.is_some(),
        );
        let mut parents = vec![x, w];
        parents.extend(b);
        self.record("conv1d", Tensor::from_parts(vec![n, p, f], out), &parents, move |g, sink| {
            let gd = g.data();
            if sink.wants(w) {
                let mut gw = vec![0.0f32; f * ck];
                gemm::matmul(View::t(gd, f, n * p), View::rm(&cols, n * p, ck), ViewMut::rm(&mut gw, f, ck), false);
                sink.add(w, Tensor::from_parts(sw.clone(), gw))?;
            }
            if let Some(b) = b {
                if sink.wants(b) {
                    sink.add(b, Tensor::from_parts(vec![f], cpu::col_sums(gd, f)))?;
                }
            }
            if sink.wants(x) {
                let mut dcols = vec![0.0f32; n * p * ck];
                gemm::matmul(
                    View::rm(gd, n * p, f),
                    View::rm(wv.data(), f, ck),
                    ViewMut::rm(&mut dcols, n * p, ck),
                    false,
                );
                sink.add(x, Tensor::from_parts(sx.clone(), col2im(&dcols, n, l, c, k)))?;
            }
            Ok(())
        })
    }
}
