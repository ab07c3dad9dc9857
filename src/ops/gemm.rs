//! The CPU matrix product every dense op goes through.
//!
//! Operands are described by (rows, cols, row stride, col stride) views so that
//! transposed and strided uses (an LSTM step reading every T-th row of the
//! precomputed input projection) need no copies.

use gemm::Parallelism;

/// A read-only strided matrix view.
#[derive(Clone, Copy)]
pub struct View<'a> {
    /// The backing slice; element (r, c) is `data[r·rs + c·cs]`.
    pub data: &'a [f32],
    /// Logical rows of the matrix.
    pub rows: usize,
    /// Logical columns of the matrix.
    pub cols: usize,
    /// Row stride in elements (`cols` for row-major, 1 for a transpose).
    pub rs: usize,
    /// Column stride in elements (1 for row-major, `rows` for a transpose).
    pub cs: usize,
}

impl<'a> View<'a> {
    /// A row-major `[rows, cols]` matrix.
    pub fn rm(data: &'a [f32], rows: usize, cols: usize) -> Self {
        View { data, rows, cols, rs: cols, cs: 1 }
    }

    /// The transpose of a row-major `[cols, rows]` matrix, viewed as `[rows, cols]`.
    pub fn t(data: &'a [f32], rows: usize, cols: usize) -> Self {
        View { data, rows, cols, rs: 1, cs: rows }
    }

    fn last(&self) -> usize {
        if self.rows == 0 || self.cols == 0 {
            0
        } else {
            (self.rows - 1) * self.rs + (self.cols - 1) * self.cs + 1
        }
    }
}

/// A writable strided matrix view.
///
/// Columns are always contiguous (column stride 1): the output of a product
/// is written row by row.
pub struct ViewMut<'a> {
    /// The backing slice; element (r, c) is `data[r·rs + c]`.
    pub data: &'a mut [f32],
    /// Logical rows of the matrix.
    pub rows: usize,
    /// Logical columns of the matrix.
    pub cols: usize,
    /// Row stride in elements (≥ `cols`; larger to write into a wider buffer).
    pub rs: usize,
}

impl<'a> ViewMut<'a> {
    /// A row-major `[rows, cols]` matrix (row stride `cols`).
    pub fn rm(data: &'a mut [f32], rows: usize, cols: usize) -> Self {
        ViewMut { data, rows, cols, rs: cols }
    }
}

/// Work (m·n·k) under which threading costs more than it saves.
const PAR_FLOPS: usize = 1 << 18;

/// `c = a·b` (or `c += a·b` when `accumulate`).
///
/// Panics if a view reaches past its slice or the inner dimensions disagree:
/// callers are ops that have already checked user-visible shapes, so a
/// failure here is a bug in hotflip, not bad input.
pub fn matmul(a: View<'_>, b: View<'_>, c: ViewMut<'_>, accumulate: bool) {
    let par = a.rows * b.cols * a.cols >= PAR_FLOPS;
    matmul_with(a, b, c, accumulate, par)
}

/// `c = a·b` on the calling thread alone, for callers that already run
/// one task per thread.
pub fn matmul_serial(a: View<'_>, b: View<'_>, c: ViewMut<'_>) {
    matmul_with(a, b, c, false, false)
}

fn matmul_with(a: View<'_>, b: View<'_>, c: ViewMut<'_>, accumulate: bool, parallel: bool) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(b.rows, k, "gemm inner dimensions");
    assert!(c.rows == m && c.cols == n, "gemm output shape");
    assert!(a.last() <= a.data.len() && b.last() <= b.data.len(), "gemm operand view out of range");
    assert!(m == 0 || n == 0 || (m - 1) * c.rs + n <= c.data.len(), "gemm output view out of range");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            for r in 0..m {
                c.data[r * c.rs..r * c.rs + n].fill(0.0);
            }
        }
        return;
    }
    let par = if parallel { Parallelism::Rayon(0) } else { Parallelism::None };
    // SAFETY: the asserts above keep every index the kernel touches inside
    // the three slices, and `c` is borrowed mutably, so it aliases neither input.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.data.as_mut_ptr(),
            1,
            c.rs as isize,
            accumulate,
            a.data.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            par,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn naive(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|p| a[i * k + p] as f64 * b[p * n + j] as f64).sum::<f64>() as f32;
            }
        }
        c
    }

    #[test]
    fn matches_naive_with_transposes_and_accumulate() {
        let mut rng = Rng::new(5);
        for &(m, k, n) in &[(1, 1, 1), (3, 5, 7), (33, 17, 65), (128, 96, 80)] {
            let a: Vec<f32> = (0..m * k).map(|_| rng.normal()).collect();
            let b: Vec<f32> = (0..k * n).map(|_| rng.normal()).collect();
            let want = naive(&a, &b, m, k, n);
            // a stored transposed: at[p, i] = a[i, p]
            let mut at = vec![0.0; m * k];
            for i in 0..m {
                for p in 0..k {
                    at[p * m + i] = a[i * k + p];
                }
            }
            let mut bt = vec![0.0; k * n];
            for p in 0..k {
                for j in 0..n {
                    bt[j * k + p] = b[p * n + j];
                }
            }
            let mut c = vec![f32::NAN; m * n];
            matmul(View::t(&at, m, k), View::t(&bt, k, n), ViewMut::rm(&mut c, m, n), false);
            let mut c2 = c.clone();
            matmul(View::rm(&a, m, k), View::rm(&b, k, n), ViewMut::rm(&mut c2, m, n), true);
            for i in 0..m * n {
                assert!((c[i] - want[i]).abs() < 1e-4 * (1.0 + want[i].abs()), "{m}x{k}x{n} at {i}");
                assert!((c2[i] - 2.0 * want[i]).abs() < 2e-4 * (1.0 + want[i].abs()));
            }
        }
    }
}
