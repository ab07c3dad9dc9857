//! Launchers for kernels/conv.cu (the patch gathers around the conv1d
//! GEMMs), checked against `ops::conv::{im2col, col2im}`.

use crate::cuda::buffer::DeviceBuf;
use crate::cuda::gpu::{elementwise, Gpu};
use crate::cuda::registry::k;
use crate::cuda::selfcheck::{randn, rel_err, size_in, worst, Check, MOVE, POISON};
use crate::error::{Error, Result};
use crate::ops::conv::{col2im as cpu_col2im, im2col as cpu_im2col};
use crate::rng::Rng;

/// `x [n, l, c]` convolved with width `k` (narrow: `p = l − k + 1` positions).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv1d {
    pub n: usize,
    pub l: usize,
    pub c: usize,
    pub k: usize,
}

impl Conv1d {
    fn check(self, op: &'static str) -> Result<[u64; 4]> {
        if self.k == 0 || self.l < self.k {
            return Err(Error::invalid(
                op,
                format!("input length {} and kernel width {} (need 1 ≤ k ≤ l)", self.l, self.k),
            ));
        }
        Ok([self.n as u64, self.l as u64, self.c as u64, self.k as u64])
    }

    pub fn positions(self) -> usize {
        self.l + 1 - self.k
    }

    fn x_len(self) -> usize {
        self.n * self.l * self.c
    }

    fn cols_len(self) -> usize {
        self.n * self.positions() * self.c * self.k
    }
}

/// `cols [n·p, c·k]` from `x [n, l, c]`.
pub fn im2col(gpu: &Gpu, x: &DeviceBuf<f32>, shape: Conv1d, cols: &mut DeviceBuf<f32>) -> Result<()> {
    let kr = k::conv::IM2COL_F32;
    let [n, l, c, kw] = shape.check(kr.name)?;
    x.expect_len(kr.name, "x", shape.x_len())?;
    cols.expect_len(kr.name, "cols", shape.cols_len())?;
    if cols.is_empty() {
        return Ok(());
    }
    let cfg = elementwise(cols.len());
    let mut args = gpu.args();
    args.arg(x).arg(&n).arg(&l).arg(&c).arg(&kw).arg(&mut *cols);
    // SAFETY: (x, n, l, c, k, cols) is the kernel's parameter list; lengths checked above.
    unsafe { gpu.launch(kr, &mut args, cfg) }
}

/// `dx [n, l, c]` = the patch gradients `dcols [n·p, c·k]` added back.
pub fn col2im(gpu: &Gpu, dcols: &DeviceBuf<f32>, shape: Conv1d, dx: &mut DeviceBuf<f32>) -> Result<()> {
    let kr = k::conv::COL2IM_F32;
    let [n, l, c, kw] = shape.check(kr.name)?;
    dcols.expect_len(kr.name, "dcols", shape.cols_len())?;
    dx.expect_len(kr.name, "dx", shape.x_len())?;
    if dx.is_empty() {
        return Ok(());
    }
    let cfg = elementwise(dx.len());
    let mut args = gpu.args();
    args.arg(dcols).arg(&n).arg(&l).arg(&c).arg(&kw).arg(&mut *dx);
    // SAFETY: (dcols, n, l, c, k, dx) is the kernel's parameter list; lengths checked above.
    unsafe { gpu.launch(kr, &mut args, cfg) }
}

fn random_shape(rng: &mut Rng) -> Conv1d {
    let k = size_in(rng, 1, 6);
    Conv1d { n: size_in(rng, 1, 64), l: size_in(rng, k, 40), c: size_in(rng, 1, 30), k }
}

fn check(gpu: &Gpu, rng: &mut Rng, forward: bool) -> Result<f64> {
    let mut err = 0.0;
    let mut shapes: Vec<Conv1d> = (0..5).map(|_| random_shape(rng)).collect();
    shapes.push(Conv1d { n: 3, l: 4, c: 2, k: 4 });
    for s in shapes {
        let (input, want, out_len) = if forward {
            let x = randn(rng, s.x_len(), 1.0);
            let want = cpu_im2col(&x, s.n, s.l, s.c, s.k);
            (x, want, s.cols_len())
        } else {
            let dcols = randn(rng, s.cols_len(), 1.0);
            let want = cpu_col2im(&dcols, s.n, s.l, s.c, s.k);
            (dcols, want, s.x_len())
        };
        let id = gpu.upload(&input)?;
        let mut od = gpu.filled(out_len, POISON)?;
        if forward {
            im2col(gpu, &id, s, &mut od)?;
        } else {
            col2im(gpu, &id, s, &mut od)?;
        }
        err = worst(err, rel_err(&gpu.download(&od)?, &want));
    }
    Ok(err)
}

pub(crate) fn checks() -> Vec<Check> {
    vec![
        Check::kernel(k::conv::IM2COL_F32, "ops::conv::im2col", MOVE, |g, r| check(g, r, true)),
        // Same additions in the same order as the CPU: exact.
        Check::kernel(k::conv::COL2IM_F32, "ops::conv::col2im", MOVE, |g, r| check(g, r, false)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kernel's index arithmetic, replayed on the CPU, is the adjoint
    /// the CPU twin computes.
    #[test]
    fn col2im_walk_matches_the_cpu() {
        let mut rng = Rng::new(11);
        for _ in 0..20 {
            let s = random_shape(&mut rng);
            let p = s.positions();
            let dcols = randn(&mut rng, s.cols_len(), 1.0);
            let mut got = vec![0.0f32; s.x_len()];
            for (e, slot) in got.iter_mut().enumerate() {
                let (ci, pos, ni) = (e % s.c, (e / s.c) % s.l, e / (s.c * s.l));
                let first = (pos + 1).saturating_sub(s.k);
                let last = pos.min(p - 1);
                let mut acc = 0.0f32;
                for pi in first..=last {
                    acc += dcols[((ni * p + pi) * s.c + ci) * s.k + (pos - pi)];
                }
                *slot = acc;
            }
            assert_eq!(got, cpu_col2im(&dcols, s.n, s.l, s.c, s.k), "{s:?}");
        }
    }
}
