//! Row-major f32 GEMM on cuBLAS, with the engine's strided views.
//!
//! cuBLAS is column-major. A row-major matrix with row stride `ld` is the
//! column-major transpose with leading dimension `ld`, so `C = A·B` is
//! computed as `Cᵀ = Bᵀ·Aᵀ`: swap the operands, swap m and n, and keep
//! each operand's own transpose flag. Views may start at an offset and
//! skip rows (`ld` > width), as the LSTM's per-step product into every
//! T-th row of the gate buffer needs.

use cudarc::cublas::sys::cublasOperation_t;
use cudarc::cublas::{Gemm, GemmConfig};

use super::buffer::DeviceBuf;
use super::gpu::Gpu;
use super::guarded;
use crate::error::{Error, Result};

/// A `[rows, cols]` matrix inside a buffer: row-major from `offset` with
/// row stride `ld`, or (`trans`) the transpose of a row-major `[cols, rows]`
/// matrix stored that way (the CPU's `View::t`).
#[derive(Clone, Copy)]
pub struct Mat<'a> {
    pub buf: &'a DeviceBuf<f32>,
    pub offset: usize,
    pub rows: usize,
    pub cols: usize,
    pub ld: usize,
    pub trans: bool,
}

impl<'a> Mat<'a> {
    /// A whole row-major `[rows, cols]` buffer.
    pub fn rm(buf: &'a DeviceBuf<f32>, rows: usize, cols: usize) -> Self {
        Mat { buf, offset: 0, rows, cols, ld: cols, trans: false }
    }

    /// The transpose of a whole row-major `[cols, rows]` buffer.
    pub fn t(buf: &'a DeviceBuf<f32>, rows: usize, cols: usize) -> Self {
        Mat { buf, offset: 0, rows, cols, ld: rows, trans: true }
    }

    /// (rows, cols) as stored.
    fn stored(&self) -> (usize, usize) {
        if self.trans {
            (self.cols, self.rows)
        } else {
            (self.rows, self.cols)
        }
    }
}

/// A writable row-major `[rows, cols]` matrix inside a buffer.
pub struct MatMut<'a> {
    pub buf: &'a mut DeviceBuf<f32>,
    pub offset: usize,
    pub rows: usize,
    pub cols: usize,
    pub ld: usize,
}

impl<'a> MatMut<'a> {
    pub fn rm(buf: &'a mut DeviceBuf<f32>, rows: usize, cols: usize) -> Self {
        MatMut { buf, offset: 0, rows, cols, ld: cols }
    }
}

/// Elements a stored `[rows, cols]` view with row stride `ld` spans.
fn extent(offset: usize, rows: usize, cols: usize, ld: usize) -> usize {
    if rows == 0 || cols == 0 {
        0
    } else {
        offset + (rows - 1) * ld + cols
    }
}

fn check_view(what: &str, len: usize, offset: usize, (rows, cols): (usize, usize), ld: usize) -> Result<i32> {
    if ld < cols.max(1) {
        return Err(Error::invalid("gemm", format!("{what}: row stride {ld} is below its width {cols}")));
    }
    if extent(offset, rows, cols, ld) > len {
        return Err(Error::invalid(
            "gemm",
            format!("{what}: a [{rows}, {cols}] view at offset {offset} with stride {ld} overruns its {len} elements"),
        ));
    }
    i32::try_from(ld).map_err(|_| Error::invalid("gemm", format!("{what}: stride {ld} exceeds cuBLAS's 32-bit sizes")))
}

fn dim(x: usize) -> Result<i32> {
    i32::try_from(x).map_err(|_| Error::invalid("gemm", format!("dimension {x} exceeds cuBLAS's 32-bit sizes")))
}

/// `c = a·b`, or `c += a·b` when `accumulate` (as `ops::gemm::matmul`).
pub fn gemm(gpu: &Gpu, a: Mat<'_>, b: Mat<'_>, c: MatMut<'_>, accumulate: bool) -> Result<()> {
    if a.cols != b.rows || c.rows != a.rows || c.cols != b.cols {
        return Err(Error::invalid(
            "gemm",
            format!("[{}, {}] · [{}, {}] into [{}, {}]", a.rows, a.cols, b.rows, b.cols, c.rows, c.cols),
        ));
    }
    let lda = check_view("a", a.buf.len(), a.offset, a.stored(), a.ld)?;
    let ldb = check_view("b", b.buf.len(), b.offset, b.stored(), b.ld)?;
    let ldc = check_view("c", c.buf.len(), c.offset, (c.rows, c.cols), c.ld)?;
    let (m, n, k) = (dim(c.rows)?, dim(c.cols)?, dim(a.cols)?);
    if m == 0 || n == 0 {
        return Ok(());
    }
    let op = |trans: bool| if trans { cublasOperation_t::CUBLAS_OP_T } else { cublasOperation_t::CUBLAS_OP_N };
    // Cᵀ (n × m) = op(B)ᵀ-as-stored · op(A)ᵀ-as-stored.
    let cfg = GemmConfig {
        transa: op(b.trans),
        transb: op(a.trans),
        m: n,
        n: m,
        k,
        alpha: 1.0f32,
        lda: ldb,
        ldb: lda,
        beta: if accumulate { 1.0 } else { 0.0 },
        ldc,
    };
    if gpu.is_emulated() {
        return host_gemm(a, b, c, accumulate, (m as usize, n as usize, k as usize), (lda, ldb, ldc));
    }
    let blas = gpu.blas()?;
    let (sa, sb) = (a.buf.cuda("cublasSgemm")?, b.buf.cuda("cublasSgemm")?);
    // cuBLAS reads the leading dimension even when k = 0; it must be ≥ 1.
    let a_view = sa.slice(a.offset.min(sa.len() - 1)..);
    let b_view = sb.slice(b.offset.min(sb.len() - 1)..);
    let mut c_view = c.buf.cuda_mut("cublasSgemm")?.slice_mut(c.offset..);
    guarded("cublasSgemm", || {
        // SAFETY: every view was checked to lie inside its buffer for the
        // dimensions and strides passed, and c does not alias a or b (it is
        // borrowed mutably).
        unsafe { blas.gemm(cfg, &b_view, &a_view, &mut c_view) }
            .map_err(|e| Error::Cuda { op: "cublasSgemm", msg: format!("{e:?}") })
    })?;
    gpu.synchronize_if_checking("cublasSgemm")
}

/// The emulated device's cuBLAS: the same views, a plain f32 loop over k
/// in order (cuBLAS's own order is unspecified, so only its contract is
/// emulated, not its rounding).
fn host_gemm(
    a: Mat<'_>,
    b: Mat<'_>,
    c: MatMut<'_>,
    accumulate: bool,
    (m, n, k): (usize, usize, usize),
    (lda, ldb, ldc): (i32, i32, i32),
) -> Result<()> {
    let (lda, ldb, ldc) = (lda as usize, ldb as usize, ldc as usize);
    let av = a.buf.host("gemm")?;
    let bv = b.buf.host("gemm")?;
    let at = |i: usize, p: usize| if a.trans { av[a.offset + p * lda + i] } else { av[a.offset + i * lda + p] };
    let bt = |p: usize, j: usize| if b.trans { bv[b.offset + j * ldb + p] } else { bv[b.offset + p * ldb + j] };
    let mut out = vec![0.0f32; m * n];
    for i in 0..m {
        for j in 0..n {
            let mut acc = 0.0f32;
            for p in 0..k {
                acc += at(i, p) * bt(p, j);
            }
            out[i * n + j] = acc;
        }
    }
    let (offset, cv) = (c.offset, c.buf.host_mut("gemm")?);
    for i in 0..m {
        for j in 0..n {
            let dst = &mut cv[offset + i * ldc + j];
            *dst = if accumulate { *dst + out[i * n + j] } else { out[i * n + j] };
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extents() {
        assert_eq!(extent(0, 3, 4, 4), 12);
        assert_eq!(extent(2, 3, 4, 10), 26);
        assert_eq!(extent(5, 0, 4, 4), 0);
        assert!(check_view("a", 12, 0, (3, 4), 4).is_ok());
        assert!(check_view("a", 11, 0, (3, 4), 4).is_err());
        assert!(check_view("a", 100, 0, (3, 4), 3).is_err());
    }
}
