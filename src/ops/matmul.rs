//! Matrix products: batched `matmul` and the fused `linear` (x·Wᵀ + b).

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::ops::cpu;
use crate::ops::gemm::{self, View, ViewMut};
use crate::pool::Buf;
use crate::tape::{Tape, Var};
use crate::tensor::Tensor;

/// Below this much work per matrix, batches run one matrix per thread
/// rather than threading inside each product.
const SMALL_MATRIX: usize = 1 << 16;

/// `c[i] (+)= op(a[i])·op(b[i])` over a batch; `b_batched` false reuses one `b`.
#[allow(clippy::too_many_arguments)]
fn batched(
    a: &[f32],
    a_t: bool,
    b: &[f32],
    b_t: bool,
    b_batched: bool,
    c: &mut [f32],
    (batch, m, k, n): (usize, usize, usize, usize),
) {
    let view = |d, rows, cols, t| {
        if t {
            View::t(d, rows, cols)
        } else {
            View::rm(d, rows, cols)
        }
    };
    let one = |i: usize, c: &mut [f32]| {
        let ai = &a[i * m * k..(i + 1) * m * k];
        let bi = if b_batched { &b[i * k * n..(i + 1) * k * n] } else { b };
        gemm::matmul(view(ai, m, k, a_t), view(bi, k, n, b_t), ViewMut::rm(c, m, n), false);
    };
    if batch > 1 && m * n * k < SMALL_MATRIX {
        c.par_chunks_mut(m * n).enumerate().for_each(|(i, c)| one(i, c));
    } else {
        c.chunks_mut(m * n).enumerate().for_each(|(i, c)| one(i, c));
    }
}

impl Tape {
    /// `a [..., M, K] · b [K, N]` or `a [B..., M, K] · b [B..., K, N]`.
    pub fn matmul(&self, a: Var, b: Var) -> Result<Var> {
        let (av, bv) = (self.value(a)?, self.value(b)?);
        let (sa, sb) = (av.shape().to_vec(), bv.shape().to_vec());
        if sa.len() < 2 || sb.len() < 2 {
            return Err(Error::invalid("matmul", format!("operands must be at least 2-D, got {sa:?} and {sb:?}")));
        }
        let (m, k) = (sa[sa.len() - 2], sa[sa.len() - 1]);
        let (k2, n) = (sb[sb.len() - 2], sb[sb.len() - 1]);
        let b_batched = sb.len() > 2;
        if k != k2 || (b_batched && sa[..sa.len() - 2] != sb[..sb.len() - 2]) {
            return Err(Error::shapes("matmul", &sa, &sb));
        }
        let batch: usize = sa[..sa.len() - 2].iter().product();
        let mut out_shape = sa[..sa.len() - 2].to_vec();
        out_shape.extend([m, n]);
        // Products overwrite their output (accumulate = false): no zeroing.
        let mut out = Buf::scratch(batch * m * n);
        if b_batched {
            batched(av.data(), false, bv.data(), false, true, &mut out, (batch, m, k, n));
        } else {
            // One tall product instead of `batch` small ones.
            gemm::matmul(
                View::rm(av.data(), batch * m, k),
                View::rm(bv.data(), k, n),
                ViewMut::rm(&mut out, batch * m, n),
                false,
            );
        }
        self.record("matmul", Tensor::from_parts(out_shape, out), &[a, b], move |g, sink| {
            if sink.wants(a) {
                // dA = dC · Bᵀ
                let mut ga = Buf::scratch(batch * m * k);
                if b_batched {
                    batched(g.data(), false, bv.data(), true, true, &mut ga, (batch, m, n, k));
                } else {
                    gemm::matmul(
                        View::rm(g.data(), batch * m, n),
                        View::t(bv.data(), n, k),
                        ViewMut::rm(&mut ga, batch * m, k),
                        false,
                    );
                }
                sink.add(a, Tensor::from_parts(sa.clone(), ga))?;
            }
            if sink.wants(b) {
                // dB = Aᵀ · dC
                let mut gb = Buf::scratch(bv.numel());
                if b_batched {
                    batched(av.data(), true, g.data(), false, true, &mut gb, (batch, k, m, n));
                } else {
                    gemm::matmul(
                        View::t(av.data(), k, batch * m),
                        View::rm(g.data(), batch * m, n),
                        ViewMut::rm(&mut gb, k, n),
                        false,
                    );
                }
                sink.add(b, Tensor::from_parts(sb.clone(), gb))?;
            }
            Ok(())
        })
    }

    /// PyTorch's `Linear`: `x [..., In] · wᵀ + b`, `w [Out, In]`, `b [Out]`.
    pub fn linear(&self, x: Var, w: Var, b: Option<Var>) -> Result<Var> {
        let (xv, wv) = (self.value(x)?, self.value(w)?);
        let (sx, sw) = (xv.shape().to_vec(), wv.shape().to_vec());
        if sw.len() != 2 || sx.is_empty() || sx[sx.len() - 1] != sw[1] {
            return Err(Error::shapes("linear", &sx, &sw));
        }
        let (n_out, n_in) = (sw[0], sw[1]);
        let rows = xv.numel() / n_in.max(1);
        let bv = match b {
            Some(b) => {
                let bv = self.value(b)?;
                if bv.shape() != [n_out] {
                    return Err(Error::shapes("linear bias", bv.shape(), &[n_out]));
                }
                Some(bv)
            }
            None => None,
        };
        // The bias rows or the product (accumulate = false) fill it.
        let mut out = Buf::scratch(rows * n_out);
        if let Some(bv) = &bv {
            cpu::for_rows(&mut out, n_out, |_, r| r.copy_from_slice(bv.data()));
        }
        gemm::matmul(
            View::rm(xv.data(), rows, n_in),
            View::t(wv.data(), n_in, n_out),
            ViewMut::rm(&mut out, rows, n_out),
            bv.is_some(),
        );
        let mut out_shape = sx.clone();
        *out_shape.last_mut().expect("checked non-empty") = n_out;
        let mut parents = vec![x, w];
        parents.extend(b);
        self.record("linear", Tensor::from_parts(out_shape, out), &parents, move |g, sink| {
            if sink.wants(x) {
                let mut gx = Buf::scratch(rows * n_in);
                gemm::matmul(
                    View::rm(g.data(), rows, n_out),
                    View::rm(wv.data(), n_out, n_in),
                    ViewMut::rm(&mut gx, rows, n_in),
                    false,
                );
                sink.add(x, Tensor::from_parts(sx.clone(), gx))?;
            }
            if sink.wants(w) {
                let mut gw = Buf::scratch(n_out * n_in);
                gemm::matmul(
                    View::t(g.data(), n_out, rows),
                    View::rm(xv.data(), rows, n_in),
                    ViewMut::rm(&mut gw, n_out, n_in),
                    false,
                );
                sink.add(w, Tensor::from_parts(vec![n_out, n_in], gw))?;
            }
            if let Some(b) = b {
                if sink.wants(b) {
                    sink.add(b, Tensor::from_parts(vec![n_out], cpu::col_sums(g.data(), n_out)))?;
                }
            }
            Ok(())
        })
    }
}
