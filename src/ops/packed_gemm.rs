//! Products with a right-hand side that is reused many times: the LSTM's
//! recurrent weights, multiplied by a 32-row state at every time step.
//!
//! The general GEMM repacks its operands on every call; for `[32, 500] ·
//! [500, 2000]` that packing costs as much as the arithmetic, and W1 pays it
//! 160 times per pass. Here the weights are packed once per layer into
//! panels of `NR` columns (k-major, zero-padded), and an AVX-512 kernel
//! streams an 8-row block of the left operand against each panel with 16
//! accumulators. Without AVX-512 the general GEMM runs instead.

use rayon::prelude::*;

use crate::ops::bf16;
use crate::ops::gemm::{self, View, ViewMut};

/// Columns per packed panel (two 16-float vectors).
const NR: usize = 32;
/// Rows of the left operand per register block.
const MR: usize = 8;
/// Depth per cache block, so that a panel slice and an A block stay in L1.
/// The fused LSTM step (`lstm_step`) blocks its depth the same way so that
/// its sums are added in the same order (bit-identical results).
pub(crate) const KC: usize = 256;

/// A `[K, N]` right-hand side packed for repeated products.
pub struct PackedRhs {
    k: usize,
    n: usize,
    /// `ceil(N / NR)` panels, each `K × NR`, row `kk` of panel `p` holding
    /// columns `p·NR .. p·NR + NR` of row `kk`.
    panels: Vec<f32>,
    /// The unpacked operand, for the fallback path.
    plain: Vec<f32>,
    plain_transposed: bool,
}

impl PackedRhs {
    /// `B = Wᵀ` for a row-major `w [N, K]` (PyTorch's weight layout, used as
    /// `x·Wᵀ`).
    pub fn transposed(w: &[f32], n: usize, k: usize) -> Self {
        Self::pack(w, k, n, |kk, nn| w[nn * k + kk], true)
    }

    /// `B = W` for a row-major `w [K, N]`.
    pub fn plain(w: &[f32], k: usize, n: usize) -> Self {
        Self::pack(w, k, n, |kk, nn| w[kk * n + nn], false)
    }

    fn pack(w: &[f32], k: usize, n: usize, at: impl Fn(usize, usize) -> f32 + Sync, transposed: bool) -> Self {
        assert_eq!(w.len(), k * n, "packed rhs size");
        let np = n.div_ceil(NR);
        let mut panels = vec![0.0f32; np * k * NR];
        if use_avx512() {
            panels.par_chunks_mut(k * NR).enumerate().for_each(|(p, panel)| {
                for kk in 0..k {
                    for j in 0..NR.min(n - p * NR) {
                        panel[kk * NR + j] = at(kk, p * NR + j);
                    }
                }
            });
        }
        PackedRhs { k, n, panels, plain: w.to_vec(), plain_transposed: transposed }
    }

    /// Rows K of the packed `[K, N]` operand (the inner dimension of a product).
    pub fn k(&self) -> usize {
        self.k
    }

    /// Columns N of the packed `[K, N]` operand (the output width).
    pub fn n(&self) -> usize {
        self.n
    }
}

pub(crate) fn use_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static AVX512: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *AVX512.get_or_init(|| std::is_x86_feature_detected!("avx512f"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// A raw pointer that may cross threads: each task writes a disjoint set of
/// columns of the output.
#[derive(Clone, Copy)]
struct OutPtr(*mut f32);
// SAFETY: tasks write disjoint columns; the caller holds the only &mut.
unsafe impl Send for OutPtr {}
unsafe impl Sync for OutPtr {}

impl OutPtr {
    /// By value, so that closures capture the whole `OutPtr` (Send + Sync),
    /// not its raw-pointer field.
    fn get(self) -> *mut f32 {
        self.0
    }
}

/// `c (+)= a · B`, with `a` `[M, K]` read through a view whose columns are
/// contiguous (`cs == 1`), and `c` `[M, N]` with row stride `c.rs`.
pub fn matmul(a: View<'_>, b: &PackedRhs, c: ViewMut<'_>, accumulate: bool) {
    let (m, k, n) = (a.rows, a.cols, b.n);
    assert!(a.cols == b.k && c.rows == m && c.cols == n, "packed gemm shapes");
    assert!(m == 0 || k == 0 || (m - 1) * a.rs + k <= a.data.len(), "packed gemm lhs view out of range");
    assert!(m == 0 || (m - 1) * c.rs + n <= c.data.len(), "packed gemm output view out of range");
    if m == 0 || n == 0 {
        return;
    }
    if !use_avx512() || a.cs != 1 || k == 0 {
        let bv = if b.plain_transposed { View::t(&b.plain, k, n) } else { View::rm(&b.plain, k, n) };
        return gemm::matmul(a, bv, c, accumulate);
    }
    let np = n.div_ceil(NR);
    let out = OutPtr(c.data.as_mut_ptr());
    let (rs, ars) = (c.rs, a.rs);
    let run = |p: usize| {
        let panel = &b.panels[p * k * NR..(p + 1) * k * NR];
        let cols = NR.min(n - p * NR);
        // SAFETY: avx512f was detected; the asserts above bound every row
        // and column the kernel touches; panel `p` writes only columns
        // p·NR .. p·NR + cols, disjoint from every other task's.
        #[cfg(target_arch = "x86_64")]
        unsafe {
            avx512::panel(a.data.as_ptr(), ars, m, k, panel, out.get().add(p * NR), rs, cols, accumulate)
        };
        #[cfg(not(target_arch = "x86_64"))]
        let _ = (panel, cols, out, rs, ars);
    };
    if m * n * k >= 1 << 20 && rayon::current_num_threads() > 1 {
        (0..np).into_par_iter().for_each(run);
    } else {
        (0..np).for_each(run);
    }
}

/// A `[K, N]` right-hand side rounded to bf16, packed like [`PackedRhs`]
/// but with depth in pairs (`vdpbf16ps` operands): the opt-in bf16 path of
/// the LSTM's recurrent backward (see `ops::bf16`).
pub struct PackedBf16 {
    k: usize,
    n: usize,
    /// `ceil(N / NR)` panels of `ceil(K / 2) × NR` words.
    panels: Vec<u32>,
}

impl PackedBf16 {
    /// `B = W` for a row-major `w [K, N]`. Only for CPUs with AVX512-BF16
    /// ([`crate::ops::bf16::available`]).
    pub fn plain(w: &[f32], k: usize, n: usize) -> Self {
        assert_eq!(w.len(), k * n, "packed rhs size");
        let (np, kp) = (n.div_ceil(NR), k.div_ceil(2));
        let mut panels = vec![0u32; np * kp * NR];
        let at = |kk: usize, nn: usize| if kk < k { w[kk * n + nn] } else { 0.0 };
        panels.par_chunks_mut((kp * NR).max(1)).enumerate().for_each(|(p, panel)| {
            for j in 0..kp {
                for c in 0..NR.min(n - p * NR) {
                    panel[j * NR + c] = bf16::pair(at(2 * j, p * NR + c), at(2 * j + 1, p * NR + c));
                }
            }
        });
        PackedBf16 { k, n, panels }
    }
}

/// `c (+)= bf16(a) · B` with f32 sums: [`matmul`] for a bf16 operand.
pub fn matmul_bf16(a: View<'_>, b: &PackedBf16, c: ViewMut<'_>, accumulate: bool) {
    let (m, k, n) = (a.rows, a.cols, b.n);
    assert!(a.cols == b.k && c.rows == m && c.cols == n, "packed gemm shapes");
    assert!(a.cs == 1, "packed bf16 gemm wants contiguous rows");
    assert!(m == 0 || k == 0 || (m - 1) * a.rs + k <= a.data.len(), "packed gemm lhs view out of range");
    assert!(m == 0 || (m - 1) * c.rs + n <= c.data.len(), "packed gemm output view out of range");
    assert!(bf16::available(), "bf16 product without AVX512-BF16");
    if m == 0 || n == 0 {
        return;
    }
    let kp = k.div_ceil(2);
    let a16 = bf16::pairs_of_rows(a.data, m, k, a.rs);
    let out = OutPtr(c.data.as_mut_ptr());
    let rs = c.rs;
    let run = |p: usize| {
        let panel = &b.panels[p * kp * NR..(p + 1) * kp * NR];
        let cols = NR.min(n - p * NR);
        // SAFETY: avx512f and avx512bf16 were checked; the asserts bound
        // every row and column; panel `p` writes only its own columns.
        #[cfg(target_arch = "x86_64")]
        unsafe {
            avx512::panel_bf16(a16.as_ptr(), kp, m, panel, out.get().add(p * NR), rs, cols, accumulate)
        };
        #[cfg(not(target_arch = "x86_64"))]
        let _ = (panel, cols, out, rs, &a16);
    };
    if m * n * k >= 1 << 20 && rayon::current_num_threads() > 1 {
        (0..n.div_ceil(NR)).into_par_iter().for_each(run);
    } else {
        (0..n.div_ceil(NR)).for_each(run);
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::{KC, MR, NR};

    /// One panel: `c[:, 0..cols] (+)= a · panel`, blocked over k and rows.
    ///
    /// # Safety
    /// avx512f must be available; `a` must hold `m` rows of `k` floats at
    /// stride `ars`; `c` must hold `m` rows of at least `cols` floats at
    /// stride `rs`; `panel` is `k × NR`.
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn panel(
        a: *const f32,
        ars: usize,
        m: usize,
        k: usize,
        panel: &[f32],
        c: *mut f32,
        rs: usize,
        cols: usize,
        accumulate: bool,
    ) {
        let mask_lo: __mmask16 = if cols >= 16 { 0xFFFF } else { (1u32 << cols) as u16 - 1 };
        let mask_hi: __mmask16 = if cols >= 32 {
            0xFFFF
        } else if cols > 16 {
            (1u32 << (cols - 16)) as u16 - 1
        } else {
            0
        };
        let mut k0 = 0;
        while k0 < k {
            let kc = KC.min(k - k0);
            let first = k0 == 0 && !accumulate;
            let mut r0 = 0;
            while r0 < m {
                let rows = MR.min(m - r0);
                block(
                    a.add(r0 * ars + k0),
                    ars,
                    rows,
                    kc,
                    panel.as_ptr().add(k0 * NR),
                    c.add(r0 * rs),
                    rs,
                    first,
                    mask_lo,
                    mask_hi,
                );
                r0 += MR;
            }
            k0 += kc;
        }
    }

    /// [`panel`] for bf16 pairs: `a` is `m` rows of `kp` pairs, `panel`
    /// `kp × NR` pairs.
    ///
    /// # Safety
    /// avx512f and avx512bf16 must be available; the sizes as for [`panel`].
    #[target_feature(enable = "avx512f,avx512bf16")]
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn panel_bf16(
        a: *const u32,
        kp: usize,
        m: usize,
        panel: &[u32],
        c: *mut f32,
        rs: usize,
        cols: usize,
        accumulate: bool,
    ) {
        let mask_lo: __mmask16 = if cols >= 16 { 0xFFFF } else { (1u32 << cols) as u16 - 1 };
        let mask_hi: __mmask16 = if cols >= 32 {
            0xFFFF
        } else if cols > 16 {
            (1u32 << (cols - 16)) as u16 - 1
        } else {
            0
        };
        let mut k0 = 0;
        while k0 < kp {
            let kc = (KC / 2).min(kp - k0);
            let first = k0 == 0 && !accumulate;
            let mut r0 = 0;
            while r0 < m {
                let rows = MR.min(m - r0);
                let mut acc = [_mm512_setzero_ps(); 2 * MR];
                let ab = a.add(r0 * kp + k0);
                let b = panel.as_ptr().add(k0 * NR);
                for kk in 0..kc {
                    let b0: __m512bh = std::mem::transmute(std::ptr::read_unaligned(b.add(kk * NR) as *const __m512i));
                    let b1: __m512bh =
                        std::mem::transmute(std::ptr::read_unaligned(b.add(kk * NR + 16) as *const __m512i));
                    for r in 0..rows {
                        let av: __m512bh = std::mem::transmute(_mm512_set1_epi32(*ab.add(r * kp + kk) as i32));
                        acc[2 * r] = _mm512_dpbf16_ps(acc[2 * r], av, b0);
                        acc[2 * r + 1] = _mm512_dpbf16_ps(acc[2 * r + 1], av, b1);
                    }
                }
                for r in 0..rows {
                    let row = c.add((r0 + r) * rs);
                    let (mut lo, mut hi) = (acc[2 * r], acc[2 * r + 1]);
                    if !first {
                        lo = _mm512_add_ps(lo, _mm512_maskz_loadu_ps(mask_lo, row));
                        hi = _mm512_add_ps(hi, _mm512_maskz_loadu_ps(mask_hi, row.add(16)));
                    }
                    _mm512_mask_storeu_ps(row, mask_lo, lo);
                    _mm512_mask_storeu_ps(row.add(16), mask_hi, hi);
                }
                r0 += MR;
            }
            k0 += kc;
        }
    }

    /// Up to `MR` rows against `kc` rows of a panel, 2·MR accumulators.
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    #[inline]
    unsafe fn block(
        a: *const f32,
        ars: usize,
        rows: usize,
        kc: usize,
        b: *const f32,
        c: *mut f32,
        rs: usize,
        first: bool,
        mask_lo: __mmask16,
        mask_hi: __mmask16,
    ) {
        let mut acc = [_mm512_setzero_ps(); 2 * MR];
        if rows == MR {
            for kk in 0..kc {
                let b0 = _mm512_loadu_ps(b.add(kk * NR));
                let b1 = _mm512_loadu_ps(b.add(kk * NR + 16));
                for r in 0..MR {
                    let av = _mm512_set1_ps(*a.add(r * ars + kk));
                    acc[2 * r] = _mm512_fmadd_ps(av, b0, acc[2 * r]);
                    acc[2 * r + 1] = _mm512_fmadd_ps(av, b1, acc[2 * r + 1]);
                }
            }
        } else {
            for kk in 0..kc {
                let b0 = _mm512_loadu_ps(b.add(kk * NR));
                let b1 = _mm512_loadu_ps(b.add(kk * NR + 16));
                for r in 0..rows {
                    let av = _mm512_set1_ps(*a.add(r * ars + kk));
                    acc[2 * r] = _mm512_fmadd_ps(av, b0, acc[2 * r]);
                    acc[2 * r + 1] = _mm512_fmadd_ps(av, b1, acc[2 * r + 1]);
                }
            }
        }
        for r in 0..rows {
            let row = c.add(r * rs);
            let (mut lo, mut hi) = (acc[2 * r], acc[2 * r + 1]);
            if !first {
                lo = _mm512_add_ps(lo, _mm512_maskz_loadu_ps(mask_lo, row));
                hi = _mm512_add_ps(hi, _mm512_maskz_loadu_ps(mask_hi, row.add(16)));
            }
            _mm512_mask_storeu_ps(row, mask_lo, lo);
            _mm512_mask_storeu_ps(row.add(16), mask_hi, hi);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn naive(a: &[f32], ars: usize, m: usize, k: usize, bkn: impl Fn(usize, usize) -> f32, n: usize) -> Vec<f64> {
        let mut c = vec![0.0f64; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|p| a[i * ars + p] as f64 * bkn(p, j) as f64).sum();
            }
        }
        c
    }

    #[test]
    fn matches_naive_for_odd_shapes_strides_and_accumulate() {
        let mut rng = Rng::new(11);
        for &(m, k, n) in &[(1, 1, 1), (3, 7, 5), (8, 300, 33), (13, 513, 64), (32, 500, 2000), (9, 2000, 17)] {
            let ars = k + 3;
            let a: Vec<f32> = (0..m * ars).map(|_| rng.normal()).collect();
            let w: Vec<f32> = (0..n * k).map(|_| rng.normal()).collect();
            for transposed in [true, false] {
                let packed = if transposed { PackedRhs::transposed(&w, n, k) } else { PackedRhs::plain(&w, k, n) };
                let want = if transposed {
                    naive(&a, ars, m, k, |p, j| w[j * k + p], n)
                } else {
                    naive(&a, ars, m, k, |p, j| w[p * n + j], n)
                };
                let rs = n + 2;
                let mut c = vec![1.0f32; m * rs];
                let view = View { data: &a, rows: m, cols: k, rs: ars, cs: 1 };
                matmul(view, &packed, ViewMut { data: &mut c, rows: m, cols: n, rs }, true);
                for i in 0..m {
                    for j in 0..n {
                        let got = c[i * rs + j] as f64;
                        let tol = 1e-4 * (1.0 + want[i * n + j].abs()) * (k as f64).sqrt();
                        assert!((got - 1.0 - want[i * n + j]).abs() < tol, "{m}x{k}x{n} t={transposed} ({i},{j})");
                    }
                    assert!(c[i * rs + n..(i + 1) * rs].iter().all(|&v| v == 1.0), "wrote past the row");
                }
                let mut c2 = vec![f32::NAN; m * n];
                matmul(view, &packed, ViewMut::rm(&mut c2, m, n), false);
                for i in 0..m * n {
                    assert!((c2[i] as f64 - want[i]).abs() < 1e-4 * (1.0 + want[i].abs()) * (k as f64).sqrt());
                }
            }
        }
    }

    #[test]
    fn bf16_product_is_close_to_f32() {
        if !bf16::available() {
            return;
        }
        let mut rng = Rng::new(12);
        for &(m, k, n) in &[(1, 1, 1), (3, 7, 5), (9, 513, 40), (32, 2000, 500)] {
            let a: Vec<f32> = (0..m * k).map(|_| rng.normal()).collect();
            let w: Vec<f32> = (0..k * n).map(|_| rng.normal()).collect();
            let want = naive(&a, k, m, k, |p, j| w[p * n + j], n);
            let mut c = vec![1.0f32; m * n];
            matmul_bf16(View::rm(&a, m, k), &PackedBf16::plain(&w, k, n), ViewMut::rm(&mut c, m, n), true);
            // Each product is off by up to 2^-8 relative; the errors are
            // independent, so the sum is off by about 2^-8·sqrt(k).
            let tol = 6.0 * (k as f64).sqrt() / 256.0;
            let worst = c.iter().zip(&want).map(|(&g, &w)| (g as f64 - 1.0 - w).abs()).fold(0.0, f64::max);
            assert!(worst < tol, "{m}x{k}x{n}: worst {worst} > {tol}");
            assert!(worst > 0.0 || k < 3, "{m}x{k}x{n}: bf16 gave the exact f32 result");
        }
    }
}
