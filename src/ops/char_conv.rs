//! Kim et al.'s character-CNN word features as one op: for each kernel
//! width, a narrow 1-D convolution over a word's character embeddings, tanh,
//! and the max over positions; the groups concatenated.
//!
//! Done as separate ops this wrote and re-read a `[words, positions,
//! filters]` tensor three times and ran tanh on all of it. Fused:
//! - tanh is monotonic, so max-then-tanh equals tanh-then-max and tanh runs
//!   on `[words, filters]` only;
//! - all widths share one position-major im2col (column `j·C + c`) and one
//!   GEMM against the widths' weights stacked (zero where `j ≥ width`), done
//!   per chunk of words so the pre-activations stay in cache;
//! - the backward is sparse: only the arg-max position of each (word,
//!   filter) has a gradient, so dW and dx are sums of short axpys instead
//!   of two dense GEMMs over mostly-zero rows.

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::ops::gemm::{self, View, ViewMut};
use crate::ops::{cpu, fastmath};
use crate::pool::Buf;
use crate::tape::{Tape, Var};
use crate::tensor::Tensor;

/// Words per forward chunk: a chunk's pre-activations (`words·L × F`) stay
/// in L2 between the GEMM and the max.
const CHUNK_WORDS: usize = 64;

struct Layout {
    l: usize,
    c: usize,
    /// Widest kernel.
    wm: usize,
    /// Per output filter: its kernel width.
    width: Vec<usize>,
    /// Total filters.
    f: usize,
}

impl Layout {
    /// im2col row width.
    fn k(&self) -> usize {
        self.wm * self.c
    }
}

/// Position-major patches of words `n0..n1`: row `(n, p)` is
/// `x[n, p..p + wm, :]` flattened, zero past the word's end. Every element
/// is written, so `cols` (reused from the previous chunk) is not cleared.
fn im2col(x: &[f32], lay: &Layout, n0: usize, n1: usize, cols: &mut Vec<f32>) {
    let (l, c, k) = (lay.l, lay.c, lay.k());
    cols.resize((n1 - n0) * l * k, 0.0);
    for (i, n) in (n0..n1).enumerate() {
        let word = &x[n * l * c..(n + 1) * l * c];
        for p in 0..l {
            let take = (l - p).min(lay.wm) * c;
            let row = &mut cols[(i * l + p) * k..(i * l + p + 1) * k];
            row[..take].copy_from_slice(&word[p * c..p * c + take]);
            row[take..].fill(0.0);
        }
    }
}

/// The widths' weights stacked as `[K, F]`: entry `(j·C + c, f)` is
/// `w_i[f, c, j]` for `j < width_i`, else 0.
fn stack_weights(ws: &[Tensor], lay: &Layout) -> Vec<f32> {
    let (c, k, ftot) = (lay.c, lay.k(), lay.f);
    let mut out = vec![0.0f32; k * ftot];
    let mut off = 0;
    for w in ws {
        let (fi, wi) = (w.shape()[0], w.shape()[2]);
        let wd = w.data();
        for f in 0..fi {
            for ci in 0..c {
                for j in 0..wi {
                    out[(j * c + ci) * ftot + off + f] = wd[(f * c + ci) * wi + j];
                }
            }
        }
        off += fi;
    }
    out
}

impl Tape {
    /// `x [N, L, C]` and per width `(weight [F_i, C, w_i], bias [F_i])` →
    /// `[N, ΣF_i]`: `tanh(max_p conv_i(x)[n, p, f])`, the max over the
    /// `L − w_i + 1` narrow-convolution positions.
    pub fn char_conv_features(&self, x: Var, kernels: &[(Var, Var)]) -> Result<Var> {
        let xv = self.value(x)?;
        let sx = xv.shape().to_vec();
        if sx.len() != 3 || kernels.is_empty() {
            return Err(Error::invalid("char_conv_features", format!("input {sx:?} with {} kernels", kernels.len())));
        }
        let (n, l, c) = (sx[0], sx[1], sx[2]);
        let (ws, bs, width) = self.kernel_values(kernels, &sx)?;
        // Filters of one width are contiguous: (first, end, width) per kernel.
        let mut groups = Vec::with_capacity(ws.len());
        let mut f0 = 0;
        for w in &ws {
            groups.push((f0, f0 + w.shape()[0], w.shape()[2]));
            f0 += w.shape()[0];
        }
        let lay = Layout { l, c, wm: *width.iter().max().unwrap_or(&1), f: width.len(), width };
        let ftot = lay.f;
        let wc = stack_weights(&ws, &lay);
        let bias: Vec<f32> = bs.iter().flat_map(|b| b.data().iter().copied()).collect();

        let (out, arg) = distinct_word_features(xv.data(), n, &lay, &wc, &bias, &groups);
        let y = Tensor::from_parts(vec![n, ftot], out);
        let yv = y.clone();
        let mut parents = vec![x];
        for &(w, b) in kernels {
            parents.push(w);
            parents.push(b);
        }
        let kernels = kernels.to_vec();
        self.record("char_conv_features", y, &parents, move |g, sink| {
            // dz = g·(1 − y²) at each (word, filter)'s arg-max position.
            let (gd, yd) = (g.data(), yv.data());
            let dz: Vec<f32> = gd.iter().zip(yd).map(|(&g, &y)| g * (1.0 - y * y)).collect();
            let (c, k) = (lay.c, lay.k());
            if sink.wants(x) {
                sink.add(x, Tensor::from_parts(vec![n, l, c], input_grad(&dz, &arg, &wc, &lay, n)))?;
            }
            if !kernels.iter().any(|&(w, b)| sink.wants(w) || sink.wants(b)) {
                return Ok(());
            }
            let dwt = stacked_weight_grad(&dz, &arg, xv.data(), &lay, n);
            let mut off = 0;
            for (i, &(w, b)) in kernels.iter().enumerate() {
                let (fi, wi) = (ws[i].shape()[0], ws[i].shape()[2]);
                if sink.wants(w) {
                    let mut gw = vec![0.0f32; fi * c * wi];
                    for f in 0..fi {
                        for ci in 0..c {
                            for j in 0..wi {
                                gw[(f * c + ci) * wi + j] = dwt[(off + f) * k + j * c + ci];
                            }
                        }
                    }
                    sink.add(w, Tensor::from_parts(vec![fi, c, wi], gw))?;
                }
                if sink.wants(b) {
                    let mut gb = vec![0.0f32; fi];
                    for ni in 0..n {
                        for (f, g) in gb.iter_mut().enumerate() {
                            *g += dz[ni * ftot + off + f];
                        }
                    }
                    sink.add(b, Tensor::from_parts(vec![fi], gb))?;
                }
                off += fi;
            }
            Ok(())
        })
    }

    /// The kernels' weights and biases, checked against input shape `sx`
    /// (`[N, L, C]`), and each filter's width (filters in kernel order).
    fn kernel_values(&self, kernels: &[(Var, Var)], sx: &[usize]) -> Result<(Vec<Tensor>, Vec<Tensor>, Vec<usize>)> {
        let (l, c) = (sx[1], sx[2]);
        let mut ws = Vec::with_capacity(kernels.len());
        let mut bs = Vec::with_capacity(kernels.len());
        let mut width = Vec::new();
        for &(w, b) in kernels {
            let (wv, bv) = (self.value(w)?, self.value(b)?);
            let s = wv.shape();
            if s.len() != 3 || s[1] != c || s[2] == 0 || bv.shape() != [s[0]] {
                return Err(Error::invalid(
                    "char_conv_features",
                    format!("kernel {s:?} with bias {:?} for input {sx:?}", bv.shape()),
                ));
            }
            if s[2] > l {
                return Err(Error::invalid(
                    "char_conv_features",
                    format!("kernel width {} exceeds the {l} positions of input {sx:?}", s[2]),
                ));
            }
            width.extend(std::iter::repeat_n(s[2], s[0]));
            ws.push(wv);
            bs.push(bv);
        }
        Ok((ws, bs, width))
    }
}

/// [`word_features`] of the `n` words of `xd`, each distinct word once.
///
/// Beam entries of one document share all but a few words (and padding
/// words are all alike): each distinct word is computed once and its
/// features and arg-max copied to its repeats. A word's result depends on
/// its own characters alone, so this changes no bit.
fn distinct_word_features(
    xd: &[f32],
    n: usize,
    lay: &Layout,
    wc: &[f32],
    bias: &[f32],
    groups: &[(usize, usize, usize)],
) -> (Buf, Vec<u8>) {
    let (l, c, ftot) = (lay.l, lay.c, lay.f);
    let (uniq, map) = cpu::distinct_rows(xd, n, l * c);
    if uniq.len() == n {
        return word_features(xd, n, lay, wc, bias, groups);
    }
    let mut xu = Vec::with_capacity(uniq.len() * l * c);
    for &u in &uniq {
        xu.extend_from_slice(&xd[u * l * c..(u + 1) * l * c]);
    }
    let (ou, au) = word_features(&xu, uniq.len(), lay, wc, bias, groups);
    // Every word's row is copied from its representative's.
    let mut out = Buf::scratch(n * ftot);
    let mut arg = vec![0u8; n * ftot];
    for (i, &m) in map.iter().enumerate() {
        out[i * ftot..(i + 1) * ftot].copy_from_slice(&ou[m * ftot..(m + 1) * ftot]);
        arg[i * ftot..(i + 1) * ftot].copy_from_slice(&au[m * ftot..(m + 1) * ftot]);
    }
    (out, arg)
}

/// `dx[n, p + j, c] += dz · w[f, c, j]` at each (word, filter)'s arg-max
/// position p: an axpy of w_f·C values starting at p·C in word n's
/// gradient. A valid position has p + w ≤ L, so every axpy stays inside
/// its word.
fn input_grad(dz: &[f32], arg: &[u8], wc: &[f32], lay: &Layout, n: usize) -> Vec<f32> {
    let (l, c, k, ftot) = (lay.l, lay.c, lay.k(), lay.f);
    let wct = transpose(wc, k, ftot);
    let mut dx = vec![0.0f32; n * l * c];
    dx.par_chunks_mut(l * c).enumerate().for_each(|(ni, dxn)| {
        for f in 0..ftot {
            let d = dz[ni * ftot + f];
            if d == 0.0 {
                continue;
            }
            let p = arg[ni * ftot + f] as usize;
            let len = lay.width[f] * c;
            for (a, &w) in dxn[p * c..p * c + len].iter_mut().zip(&wct[f * k..f * k + len]) {
                *a += d * w;
            }
        }
    });
    dx
}

/// `dWᵀ[f, j·C + c] += dz · x[n, p + j, c]` (`[F, K]`, the stacked layout
/// transposed). Each block of words sums into its own small dWᵀ while its
/// words are in cache; the blocks are added in order, so threads never
/// change the result.
fn stacked_weight_grad(dz: &[f32], arg: &[u8], xd: &[f32], lay: &Layout, n: usize) -> Vec<f32> {
    let (l, c, k, ftot) = (lay.l, lay.c, lay.k(), lay.f);
    let partials: Vec<Vec<f32>> = (0..n.div_ceil(CHUNK_WORDS))
        .into_par_iter()
        .map(|blk| {
            let mut part = vec![0.0f32; ftot * k];
            for ni in blk * CHUNK_WORDS..((blk + 1) * CHUNK_WORDS).min(n) {
                let word = &xd[ni * l * c..(ni + 1) * l * c];
                for f in 0..ftot {
                    let d = dz[ni * ftot + f];
                    if d == 0.0 {
                        continue;
                    }
                    let p = arg[ni * ftot + f] as usize;
                    let len = lay.width[f] * c;
                    for (r, &v) in part[f * k..f * k + len].iter_mut().zip(&word[p * c..p * c + len]) {
                        *r += d * v;
                    }
                }
            }
            part
        })
        .collect();
    let mut dwt = vec![0.0f32; ftot * k];
    for part in &partials {
        cpu::add_assign(&mut dwt, part);
    }
    dwt
}

/// Features `[n, F]` and arg-max positions of the `n` words of `xd`.
fn word_features(
    xd: &[f32],
    n: usize,
    lay: &Layout,
    wc: &[f32],
    bias: &[f32],
    groups: &[(usize, usize, usize)],
) -> (Buf, Vec<u8>) {
    let (l, k, ftot) = (lay.l, lay.k(), lay.f);
    // Each word's features row is written whole (copied, then max, bias, tanh).
    let mut out = Buf::scratch(n * ftot);
    let mut arg = vec![0u8; n * ftot];
    out.par_chunks_mut(CHUNK_WORDS * ftot).zip(arg.par_chunks_mut(CHUNK_WORDS * ftot)).enumerate().for_each_init(
        || (Vec::new(), Vec::new(), Vec::new()),
        |(cols, z, pre), (ci, (out, arg))| {
            let n0 = ci * CHUNK_WORDS;
            let n1 = (n0 + CHUNK_WORDS).min(n);
            let rows = (n1 - n0) * l;
            im2col(xd, lay, n0, n1, cols);
            // The product overwrites z: resized, not cleared.
            z.resize(rows * ftot, 0.0);
            gemm::matmul_serial(View::rm(cols, rows, k), View::rm(wc, k, ftot), ViewMut::rm(z, rows, ftot));
            for i in 0..n1 - n0 {
                let (orow, arow) = (&mut out[i * ftot..(i + 1) * ftot], &mut arg[i * ftot..(i + 1) * ftot]);
                orow.copy_from_slice(&z[i * l * ftot..(i * l + 1) * ftot]);
                // Per width group, positions p with p + w ≤ L; the
                // selects are branch-free so the loop vectorises.
                for &(f0, f1, w) in groups {
                    for p in 1..=l - w {
                        let zr = &z[(i * l + p) * ftot + f0..(i * l + p) * ftot + f1];
                        let (o, a) = (&mut orow[f0..f1], &mut arow[f0..f1]);
                        for ((o, a), &zv) in o.iter_mut().zip(a.iter_mut()).zip(zr) {
                            let better = zv > *o;
                            *o = if better { zv } else { *o };
                            *a = if better { p as u8 } else { *a };
                        }
                    }
                }
                for (o, &b) in orow.iter_mut().zip(bias) {
                    *o += b;
                }
                pre.clear();
                pre.extend_from_slice(orow);
                fastmath::tanh_slice(pre, orow);
            }
        },
    );
    (out, arg)
}

fn transpose(a: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0.0f32; rows * cols];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = a[r * cols + c];
        }
    }
    t
}
