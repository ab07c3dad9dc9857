//! The self-check of the cuBLAS GEMM wrapper ([`crate::cuda::blas::gemm`])
//! against the engine's CPU GEMM, on the view shapes the engine uses:
//! transposed operands, row strides wider than the matrix, offsets and
//! accumulation.

use crate::cuda::blas::{gemm, Mat, MatMut};
use crate::cuda::gpu::Gpu;
use crate::cuda::selfcheck::{randn, rel_err, size_in, worst, Check, Subject, CHAIN};
use crate::error::Result;
use crate::ops::gemm::{matmul, View, ViewMut};
use crate::rng::Rng;

fn check(gpu: &Gpu, rng: &mut Rng) -> Result<f64> {
    let mut err = 0.0;
    for trial in 0..8 {
        let (m, k, n) = (size_in(rng, 1, 200), size_in(rng, if trial == 0 { 0 } else { 1 }, 300), size_in(rng, 1, 200));
        let (ta, tb, accumulate) = (rng.below(2) == 1, rng.below(2) == 1, rng.below(2) == 1);
        // Stored shapes, with some spare columns (ld > width) and a leading offset.
        let (a_rows, a_cols) = if ta { (k, m) } else { (m, k) };
        let (b_rows, b_cols) = if tb { (n, k) } else { (k, n) };
        let (lda, ldb, ldc) = (a_cols.max(1) + rng.below(3), b_cols.max(1) + rng.below(3), n + rng.below(3));
        let (oa, ob, oc) = (rng.below(5), rng.below(5), rng.below(5));
        let a = randn(rng, oa + a_rows * lda, 1.0);
        let b = randn(rng, ob + b_rows * ldb, 1.0);
        let mut c = randn(rng, oc + m * ldc, 1.0);
        let (ad, bd, mut cd) = (gpu.upload(&a)?, gpu.upload(&b)?, gpu.upload(&c)?);
        fn view(data: &[f32], off: usize, rows: usize, cols: usize, ld: usize, t: bool) -> View<'_> {
            let data = &data[off..];
            if t {
                View { data, rows, cols, rs: 1, cs: ld }
            } else {
                View { data, rows, cols, rs: ld, cs: 1 }
            }
        }
        matmul(
            view(&a, oa, m, k, lda, ta),
            view(&b, ob, k, n, ldb, tb),
            ViewMut { data: &mut c[oc..], rows: m, cols: n, rs: ldc },
            accumulate,
        );
        gemm(
            gpu,
            Mat { buf: &ad, offset: oa, rows: m, cols: k, ld: lda, trans: ta },
            Mat { buf: &bd, offset: ob, rows: k, cols: n, ld: ldb, trans: tb },
            MatMut { buf: &mut cd, offset: oc, rows: m, cols: n, ld: ldc },
            accumulate,
        )?;
        // Every element of c, including the gaps between rows that must stay as they were.
        err = worst(err, rel_err(&gpu.download(&cd)?, &c));
    }
    Ok(err)
}

pub(crate) fn checks() -> Vec<Check> {
    vec![Check {
        subject: Subject::Library("cublas_sgemm (row-major views)"),
        twin: "ops::gemm::matmul",
        threshold: CHAIN,
        run: Box::new(check),
    }]
}
