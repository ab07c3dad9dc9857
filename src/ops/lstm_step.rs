//! One forward LSTM step with the cell fused into the recurrent product.
//!
//! The unfused step ran the packed GEMM `gates += h·W_hhᵀ` over all 4H
//! columns, then a second parallel pass applied the cell to each row. Here
//! `W_hhᵀ` is packed so that one panel holds the four gates (i, f, g, o) of
//! `UNITS` hidden units side by side: when a register tile of a panel is
//! complete it holds every pre-activation those units need, and the cell
//! (sigmoid/tanh, `c' = f·c + i·g`, `h' = o·tanh(c')`) runs on it at once,
//! writing the activations, the cell and the output. One pass over the
//! weights and one fork–join per step instead of two, and the 4H-wide gate
//! rows are not read back.
//!
//! The result is bit-identical to the unfused step (the test below checks
//! it): the depth is cut into the same `KC` blocks and each block's sum is
//! added to the running value in the same order as `packed_gemm`, and the
//! cell uses `fastmath::avx512`, which mirrors the scalar formulas.

use rayon::prelude::*;

use crate::ops::bf16;
use crate::ops::gemm::{View, ViewMut};
use crate::ops::lstm_cell::cell_forward;
use crate::ops::packed_gemm::{self, PackedRhs, KC};

/// Hidden units per panel: one 16-float vector per gate.
const UNITS: usize = 16;
/// Columns per panel: the four gates of `UNITS` units.
const NR: usize = 4 * UNITS;
/// Rows of the state per register block (6 × 4 accumulators).
const MR: usize = 6;

/// `W_hhᵀ` (`[H, 4H]`) packed gate-interleaved for [`step`].
pub(crate) struct GatePacked {
    h: usize,
    /// `ceil(H / UNITS)` panels of `H × NR` floats: row `kk` of panel `p`
    /// holds, for gate q and unit `p·UNITS + u`, `W_hh[q·H + p·UNITS + u, kk]`
    /// at column `q·UNITS + u` (zero past H).
    panels: Vec<f32>,
    /// With `ops::bf16` on: the same panels as bf16 pairs over the depth
    /// (`ceil(H / 2) × NR` words each) instead of `panels`.
    bf16: Option<Vec<u32>>,
    /// Without AVX-512: the plain packed operand for the unfused step.
    fallback: Option<PackedRhs>,
}

impl GatePacked {
    /// Packs `w_hh` `[4H, H]` (PyTorch's layout), as bf16 if `bf16` (and
    /// the CPU has AVX512-BF16; see `ops::bf16`).
    pub(crate) fn new(w_hh: &[f32], h: usize, bf16: bool) -> Self {
        assert_eq!(w_hh.len(), 4 * h * h, "recurrent weight size");
        if !packed_gemm::use_avx512() {
            let fallback = Some(PackedRhs::transposed(w_hh, 4 * h, h));
            return GatePacked { h, panels: Vec::new(), bf16: None, fallback };
        }
        let np = h.div_ceil(UNITS);
        if bf16 && bf16::available() {
            let kp = h.div_ceil(2);
            let at = |row: usize, kk: usize| if kk < h { w_hh[row * h + kk] } else { 0.0 };
            let mut panels = vec![0u32; np * kp * NR];
            panels.par_chunks_mut(kp * NR).enumerate().for_each(|(p, panel)| {
                for q in 0..4 {
                    for u in 0..UNITS.min(h - p * UNITS) {
                        let row = q * h + p * UNITS + u;
                        for j in 0..kp {
                            panel[j * NR + q * UNITS + u] = bf16::pair(at(row, 2 * j), at(row, 2 * j + 1));
                        }
                    }
                }
            });
            return GatePacked { h, panels: Vec::new(), bf16: Some(panels), fallback: None };
        }
        let mut panels = vec![0.0f32; np * h * NR];
        panels.par_chunks_mut(h * NR).enumerate().for_each(|(p, panel)| {
            for q in 0..4 {
                for u in 0..UNITS.min(h - p * UNITS) {
                    let src = &w_hh[(q * h + p * UNITS + u) * h..(q * h + p * UNITS + u + 1) * h];
                    for (kk, &v) in src.iter().enumerate() {
                        panel[kk * NR + q * UNITS + u] = v;
                    }
                }
            }
        });
        GatePacked { h, panels, bf16: None, fallback: None }
    }
}

/// The buffers of one step over `m` rows: `gates` `[m, 4H]` holds the
/// input projection plus bias on entry and the activated gates on exit
/// (rows that are not active keep their pre-activations, as before);
/// `c_state` `[m, H]` advances in place; `h_next` `[m, H]` receives the new
/// state (the old one, `h_prev`, for inactive rows); `hs`/`cs` `[m, H]` the
/// output and cell of active rows (inactive rows are not written).
pub(crate) struct StepBufs<'a> {
    pub gates: &'a mut [f32],
    pub c_state: &'a mut [f32],
    pub h_next: &'a mut [f32],
    pub hs: &'a mut [f32],
    pub cs: &'a mut [f32],
}

/// One step: `gates += h_prev·W_hhᵀ` (if `recur`), then the cell on every
/// active row.
pub(crate) fn step(recur: bool, h_prev: &[f32], w: &GatePacked, bufs: StepBufs<'_>, active: &[bool]) {
    let (h, m) = (w.h, active.len());
    let StepBufs { gates, c_state, h_next, hs, cs } = bufs;
    assert!(h_prev.len() == m * h && gates.len() == m * 4 * h, "lstm step shapes");
    assert!(c_state.len() == m * h && h_next.len() == m * h && hs.len() == m * h && cs.len() == m * h);
    if m == 0 || h == 0 {
        return;
    }
    if let Some(packed) = &w.fallback {
        return unfused(recur, h_prev, packed, StepBufs { gates, c_state, h_next, hs, cs }, active);
    }
    let np = h.div_ceil(UNITS);
    let kp = h.div_ceil(2);
    let a16 = w.bf16.as_ref().map(|_| bf16::pairs_of_rows(h_prev, m, h, h));
    let ptrs = Ptrs {
        gates: gates.as_mut_ptr(),
        c_state: c_state.as_mut_ptr(),
        h_next: h_next.as_mut_ptr(),
        hs: hs.as_mut_ptr(),
        cs: cs.as_mut_ptr(),
    };
    let run = |p: usize| {
        let units = UNITS.min(h - p * UNITS);
        if let (Some(panels), Some(a16)) = (&w.bf16, &a16) {
            let panel = &panels[p * kp * NR..(p + 1) * kp * NR];
            // SAFETY: as below; the bf16 panels exist only where
            // `bf16::available()` (AVX512-BF16) holds.
            #[cfg(target_arch = "x86_64")]
            unsafe {
                kernel::panel_bf16(recur, a16.as_ptr(), h_prev.as_ptr(), m, h, panel, ptrs, p * UNITS, units, active)
            };
            #[cfg(not(target_arch = "x86_64"))]
            let _ = (panel, a16);
            return;
        }
        let panel = &w.panels[p * h * NR..(p + 1) * h * NR];
        // SAFETY: avx512f was detected (the packed panels exist only then);
        // the asserts above bound every row; panel `p` reads and writes only
        // units p·UNITS .. p·UNITS + units of every buffer (and the matching
        // columns of each gate), disjoint from every other panel's, and
        // `h_prev` is only read.
        #[cfg(target_arch = "x86_64")]
        unsafe {
            kernel::panel(recur, h_prev.as_ptr(), m, h, panel, ptrs, p * UNITS, units, active)
        };
        #[cfg(not(target_arch = "x86_64"))]
        let _ = (panel, units, &ptrs);
    };
    if m * h * 4 * h >= 1 << 20 && rayon::current_num_threads() > 1 {
        (0..np).into_par_iter().for_each(run);
    } else {
        (0..np).for_each(run);
    }
}

/// The unfused step (the reference the fused one must equal, and the path
/// without AVX-512).
fn unfused(recur: bool, h_prev: &[f32], w: &PackedRhs, bufs: StepBufs<'_>, active: &[bool]) {
    let (m, h) = (active.len(), w.k());
    let StepBufs { gates, c_state, h_next, hs, cs } = bufs;
    if recur {
        packed_gemm::matmul(View::rm(h_prev, m, h), w, ViewMut::rm(gates, m, 4 * h), true);
    }
    for (i, &on) in active.iter().enumerate() {
        let r = i * h..(i + 1) * h;
        h_next[r.clone()].copy_from_slice(&h_prev[r.clone()]);
        if on {
            cell_forward(
                &mut gates[4 * i * h..4 * (i + 1) * h],
                &mut c_state[r.clone()],
                &mut h_next[r.clone()],
                &mut cs[r.clone()],
                &mut hs[r],
            );
        }
    }
}

/// The output buffers' base pointers, shared by the panel tasks (each
/// writes a disjoint set of units).
#[derive(Clone, Copy)]
struct Ptrs {
    gates: *mut f32,
    c_state: *mut f32,
    h_next: *mut f32,
    hs: *mut f32,
    cs: *mut f32,
}
// SAFETY: tasks write disjoint units; the caller holds the only &mut.
unsafe impl Send for Ptrs {}
unsafe impl Sync for Ptrs {}

#[cfg(target_arch = "x86_64")]
mod kernel {
    use std::arch::x86_64::*;

    use super::{Ptrs, KC, MR, NR, UNITS};
    use crate::ops::fastmath::avx512 as vm;

    /// One panel over all `m` rows, blocked over the depth (`KC`, as the
    /// plain packed GEMM) and rows (`MR`).
    ///
    /// # Safety
    /// avx512f must be available; `h_prev` holds `m × h` floats, the
    /// buffers of `out` `m` rows each (`4h` for the gates, `h` otherwise);
    /// `u0 + units ≤ h`, `units ≤ UNITS`; `panel` is `h × NR`.
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn panel(
        recur: bool,
        h_prev: *const f32,
        m: usize,
        h: usize,
        panel: &[f32],
        out: Ptrs,
        u0: usize,
        units: usize,
        active: &[bool],
    ) {
        let mask: __mmask16 = if units >= UNITS { 0xFFFF } else { ((1u32 << units) - 1) as u16 };
        let k = if recur { h } else { 0 };
        let mut k0 = 0;
        loop {
            let kc = KC.min(k - k0);
            let last = k0 + kc >= k;
            let mut r0 = 0;
            while r0 < m {
                let rows = MR.min(m - r0);
                let blk = Block { h_prev, k0, h, kc, b: panel.as_ptr().add(k0 * NR), mask, u0 };
                match rows {
                    6 => blk.run::<6>(r0, out, last, active),
                    5 => blk.run::<5>(r0, out, last, active),
                    4 => blk.run::<4>(r0, out, last, active),
                    3 => blk.run::<3>(r0, out, last, active),
                    2 => blk.run::<2>(r0, out, last, active),
                    _ => blk.run::<1>(r0, out, last, active),
                }
                r0 += MR;
            }
            k0 += kc;
            if last {
                break;
            }
        }
    }

    /// [`panel`] with the state and the panel as bf16 pairs over the depth
    /// (`a16`: `m × ceil(h/2)` words; `panel`: `ceil(h/2) × NR` words). The
    /// f32 state `h_prev` is still what inactive rows carry.
    ///
    /// # Safety
    /// As [`panel`], and avx512bf16 must be available.
    #[target_feature(enable = "avx512f,avx512bf16")]
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn panel_bf16(
        recur: bool,
        a16: *const u32,
        h_prev: *const f32,
        m: usize,
        h: usize,
        panel: &[u32],
        out: Ptrs,
        u0: usize,
        units: usize,
        active: &[bool],
    ) {
        let mask: __mmask16 = if units >= UNITS { 0xFFFF } else { ((1u32 << units) - 1) as u16 };
        let kp = if recur { h.div_ceil(2) } else { 0 };
        let mut k0 = 0;
        loop {
            let kc = (KC / 2).min(kp - k0);
            let last = k0 + kc >= kp;
            let mut r0 = 0;
            while r0 < m {
                let rows = MR.min(m - r0);
                let blk = Block { h_prev, k0, h, kc, b: std::ptr::null(), mask, u0 };
                let (a, b) = (a16.add(r0 * h.div_ceil(2) + k0), panel.as_ptr().add(k0 * NR));
                match rows {
                    6 => blk.finish::<6>(blk.sums_bf16::<6>(a, b), r0, out, last, active),
                    5 => blk.finish::<5>(blk.sums_bf16::<5>(a, b), r0, out, last, active),
                    4 => blk.finish::<4>(blk.sums_bf16::<4>(a, b), r0, out, last, active),
                    3 => blk.finish::<3>(blk.sums_bf16::<3>(a, b), r0, out, last, active),
                    2 => blk.finish::<2>(blk.sums_bf16::<2>(a, b), r0, out, last, active),
                    _ => blk.finish::<1>(blk.sums_bf16::<1>(a, b), r0, out, last, active),
                }
                r0 += MR;
            }
            k0 += kc;
            if last {
                break;
            }
        }
    }

    /// `R` rows of the state against `kc` rows of a panel.
    struct Block {
        /// The state `[m, h]`; this block reads depths `k0 .. k0 + kc`.
        h_prev: *const f32,
        k0: usize,
        h: usize,
        kc: usize,
        b: *const f32,
        mask: __mmask16,
        u0: usize,
    }

    impl Block {
        /// Adds this depth block's sums to the running pre-activations of
        /// rows `r0..r0 + R` (the gate buffer); after the last block, runs
        /// the cell instead of storing them.
        #[target_feature(enable = "avx512f")]
        #[inline]
        unsafe fn run<const R: usize>(&self, r0: usize, out: Ptrs, last: bool, active: &[bool]) {
            let acc = self.sums::<R>(r0);
            self.finish::<R>(acc, r0, out, last, active);
        }

        /// This depth block's sums for rows `r0..r0 + R`, per gate.
        #[target_feature(enable = "avx512f")]
        #[inline]
        unsafe fn sums<const R: usize>(&self, r0: usize) -> [[__m512; 4]; R] {
            let mut acc = [[_mm512_setzero_ps(); 4]; R];
            let a = self.h_prev.add(r0 * self.h + self.k0);
            for kk in 0..self.kc {
                let bp = self.b.add(kk * NR);
                let bv = [
                    _mm512_loadu_ps(bp),
                    _mm512_loadu_ps(bp.add(UNITS)),
                    _mm512_loadu_ps(bp.add(2 * UNITS)),
                    _mm512_loadu_ps(bp.add(3 * UNITS)),
                ];
                for (r, acc) in acc.iter_mut().enumerate() {
                    let av = _mm512_set1_ps(*a.add(r * self.h + kk));
                    for q in 0..4 {
                        acc[q] = _mm512_fmadd_ps(av, bv[q], acc[q]);
                    }
                }
            }
            acc
        }

        /// [`Block::sums`] from bf16 pairs: `a` the first row's first pair
        /// of this block (rows `ceil(h/2)` words apart), `b` the panel's.
        #[target_feature(enable = "avx512f,avx512bf16")]
        #[inline]
        unsafe fn sums_bf16<const R: usize>(&self, a: *const u32, b: *const u32) -> [[__m512; 4]; R] {
            let mut acc = [[_mm512_setzero_ps(); 4]; R];
            let ars = self.h.div_ceil(2);
            let load =
                |p: *const u32| -> __m512bh { std::mem::transmute(std::ptr::read_unaligned(p as *const __m512i)) };
            for kk in 0..self.kc {
                let bp = b.add(kk * NR);
                let bv = [load(bp), load(bp.add(UNITS)), load(bp.add(2 * UNITS)), load(bp.add(3 * UNITS))];
                for (r, acc) in acc.iter_mut().enumerate() {
                    let av: __m512bh = std::mem::transmute(_mm512_set1_epi32(*a.add(r * ars + kk) as i32));
                    for q in 0..4 {
                        acc[q] = _mm512_dpbf16_ps(acc[q], av, bv[q]);
                    }
                }
            }
            acc
        }

        /// Adds the sums to the running pre-activations of rows
        /// `r0..r0 + R`; after the last depth block, runs the cell.
        #[target_feature(enable = "avx512f")]
        #[inline]
        unsafe fn finish<const R: usize>(
            &self,
            acc: [[__m512; 4]; R],
            r0: usize,
            out: Ptrs,
            last: bool,
            active: &[bool],
        ) {
            let (h, u0, mask) = (self.h, self.u0, self.mask);
            for (r, acc) in acc.iter().enumerate() {
                let row = r0 + r;
                let g = out.gates.add(row * 4 * h + u0);
                let mut t = [_mm512_setzero_ps(); 4];
                for q in 0..4 {
                    let pre = _mm512_maskz_loadu_ps(mask, g.add(q * h));
                    // No product at the first step: the input projection
                    // alone (adding zero would turn −0 into +0).
                    t[q] = if self.kc == 0 { pre } else { _mm512_add_ps(acc[q], pre) };
                }
                if !last || !active[row] {
                    for (q, &tq) in t.iter().enumerate() {
                        _mm512_mask_storeu_ps(g.add(q * h), mask, tq);
                    }
                    if last {
                        // An inactive row carries its state.
                        let hp = _mm512_maskz_loadu_ps(mask, self.h_prev.add(row * h + u0));
                        _mm512_mask_storeu_ps(out.h_next.add(row * h + u0), mask, hp);
                    }
                    continue;
                }
                let i = vm::sigmoid(t[0]);
                let f = vm::sigmoid(t[1]);
                let gg = vm::tanh(t[2]);
                let o = vm::sigmoid(t[3]);
                let at = row * h + u0;
                let c_prev = _mm512_maskz_loadu_ps(mask, out.c_state.add(at));
                let c = _mm512_add_ps(_mm512_mul_ps(f, c_prev), _mm512_mul_ps(i, gg));
                let hv = _mm512_mul_ps(o, vm::tanh(c));
                for (q, v) in [i, f, gg, o].into_iter().enumerate() {
                    _mm512_mask_storeu_ps(g.add(q * h), mask, v);
                }
                _mm512_mask_storeu_ps(out.cs.add(at), mask, c);
                _mm512_mask_storeu_ps(out.c_state.add(at), mask, c);
                _mm512_mask_storeu_ps(out.hs.add(at), mask, hv);
                _mm512_mask_storeu_ps(out.h_next.add(at), mask, hv);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    /// The outputs of one step: gates, cell state, next state, hs, cs.
    fn run(fused: bool, recur: bool, h: usize, w: &[f32], x: &[Vec<f32>; 4], active: &[bool]) -> Vec<Vec<f32>> {
        let [h_prev, gates, c_state, _] = x;
        let (mut g, mut c) = (gates.clone(), c_state.clone());
        let m = active.len();
        let (mut hn, mut hs, mut cs) = (vec![7.0f32; m * h], vec![0.5f32; m * h], vec![0.25f32; m * h]);
        let bufs = StepBufs { gates: &mut g, c_state: &mut c, h_next: &mut hn, hs: &mut hs, cs: &mut cs };
        if fused {
            step(recur, h_prev, &GatePacked::new(w, h, false), bufs, active);
        } else {
            unfused(recur, h_prev, &PackedRhs::transposed(w, 4 * h, h), bufs, active);
        }
        vec![g, c, hn, hs, cs]
    }

    #[test]
    fn fused_step_is_bit_identical_to_gemm_then_cell() {
        let mut rng = Rng::new(5);
        for &(m, h) in &[(1, 1), (7, 5), (13, 37), (32, 16), (32, 500), (6, 300)] {
            let w: Vec<f32> = (0..4 * h * h).map(|_| 0.1 * rng.normal()).collect();
            let mut vec_of = |n: usize, s: f32| (0..n).map(|_| s * rng.normal()).collect::<Vec<f32>>();
            let x = [vec_of(m * h, 1.0), vec_of(m * 4 * h, 2.0), vec_of(m * h, 1.0), Vec::new()];
            let active: Vec<bool> = (0..m).map(|i| i % 5 != 3).collect();
            for recur in [true, false] {
                let want = run(false, recur, h, &w, &x, &active);
                let got = run(true, recur, h, &w, &x, &active);
                for (k, (g, w)) in got.iter().zip(&want).enumerate() {
                    let same = g.iter().zip(w).all(|(a, b)| a.to_bits() == b.to_bits());
                    assert!(same, "buffer {k} differs for m={m} h={h} recur={recur}");
                }
                // Inactive rows carried their state and left hs/cs alone.
                for (i, _) in active.iter().enumerate().filter(|(_, &on)| !on) {
                    assert_eq!(got[2][i * h..(i + 1) * h], x[0][i * h..(i + 1) * h]);
                    assert!(got[3][i * h..(i + 1) * h].iter().all(|&v| v == 0.5));
                }
            }
        }
    }

    #[test]
    fn bf16_step_is_close_to_f32() {
        if !bf16::available() {
            return;
        }
        let mut rng = Rng::new(9);
        for &(m, h) in &[(3, 5), (13, 37), (32, 500)] {
            let w: Vec<f32> = (0..4 * h * h).map(|_| rng.normal() / (h as f32).sqrt()).collect();
            let mut vec_of = |n: usize, s: f32| (0..n).map(|_| s * rng.normal()).collect::<Vec<f32>>();
            let x = [vec_of(m * h, 1.0), vec_of(m * 4 * h, 1.0), vec_of(m * h, 1.0), Vec::new()];
            let active: Vec<bool> = (0..m).map(|i| i % 5 != 3).collect();
            let want = run(true, true, h, &w, &x, &active);
            let [g, c, hn, hs, cs] = [0, 1, 2, 3, 4].map(|_| vec![0.0f32; 0]);
            let (mut g, mut c, mut hn, mut hs, mut cs) = (g, c, hn, hs, cs);
            g.extend(&x[1]);
            c.extend(&x[2]);
            hn.resize(m * h, 7.0);
            hs.resize(m * h, 0.5);
            cs.resize(m * h, 0.25);
            let bufs = StepBufs { gates: &mut g, c_state: &mut c, h_next: &mut hn, hs: &mut hs, cs: &mut cs };
            step(true, &x[0], &GatePacked::new(&w, h, true), bufs, &active);
            let got = [g, c, hn, hs, cs];
            let (mut worst, mut sum, mut n) = (0.0f32, 0.0f64, 0usize);
            for (gb, wb) in got.iter().zip(&want) {
                for (a, b) in gb.iter().zip(wb) {
                    worst = worst.max((a - b).abs());
                    sum += (a - b).abs() as f64;
                    n += 1;
                }
            }
            // Pre-activations of unit variance, each product off by ~2^-8
            // relative: ~4e-3 typical error, a few times that at the tail
            // of 64k values (inactive rows keep pre-activations).
            let mean = sum / n as f64;
            assert!(worst < 0.05 && mean < 2e-3, "m={m} h={h}: worst {worst}, mean {mean}");
            assert!(worst > 0.0, "m={m} h={h}: bf16 gave the f32 result");
        }
    }
}
