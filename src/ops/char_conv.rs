//! Kim et al.'s character-CNN word features as one op: for each kernel
//! width, a narrow 1-D convolution over a word's character embeddings, tanh,
//! and the max over positions; the groups concatenated.
//!
//! Done as separate ops this wrote and re-read a `[words, positions,
//! filters]` tensor three times and ran tanh on all of it. Fused:
//! - tanh is monotonic, so max-then-tanh equals tanh-then-max and tanh runs
//!   on `[words, filters]` only;
//! - all widths share one position-major im2col (column `j·C + c`), done
//!   per chunk of words so the pre-activations stay in cache; each width
//!   multiplies only its valid positions and its own `w·C` columns of it;
//! - the backward is sparse: only the arg-max position of each (word,
//!   filter) has a gradient, so dW and dx are sums of short axpys instead
//!   of two dense GEMMs over mostly-zero rows.

use multiversion::multiversion;
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

/// Position-major patches of words `n0..n1`: row `p·(n1 − n0) + i` is
/// `x[n0 + i, p..p + wm, :]` flattened, zero past the word's end (so that
/// each position's rows for all words form one block). Every element is
/// written, so `cols` (reused from the previous chunk) is not cleared.
fn im2col_pm(x: &[f32], lay: &Layout, n0: usize, n1: usize, cols: &mut Vec<f32>) {
    let (l, c, k, nw) = (lay.l, lay.c, lay.k(), n1 - n0);
    cols.resize(nw * l * k, 0.0);
    for (i, n) in (n0..n1).enumerate() {
        let word = &x[n * l * c..(n + 1) * l * c];
        for p in 0..l {
            let take = (l - p).min(lay.wm) * c;
            let row = &mut cols[(p * nw + i) * k..(p * nw + i + 1) * k];
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
        let row = ni * ftot..(ni + 1) * ftot;
        word_input_grad(dxn, &dz[row.clone()], &arg[row], &wct, &lay.width, c);
    });
    dx
}

/// [`input_grad`] of one word. Multiversioned: the axpys are 25–150
/// floats, and the crate's baseline target vectorises them 4 wide only.
/// Each element is `a + d·w` in the same order at any width: same bits.
#[multiversion(targets("x86_64+avx512f+avx512vl+avx2+fma", "x86_64+avx2+fma", "x86_64+sse4.1"))]
fn word_input_grad(dxn: &mut [f32], dz: &[f32], arg: &[u8], wct: &[f32], width: &[usize], c: usize) {
    let k = wct.len() / dz.len();
    for (f, (&d, &p)) in dz.iter().zip(arg).enumerate() {
        if d == 0.0 {
            continue;
        }
        let (p, len) = (p as usize, width[f] * c);
        for (a, &w) in dxn[p * c..p * c + len].iter_mut().zip(&wct[f * k..f * k + len]) {
            *a += d * w;
        }
    }
}

/// One word's `dWᵀ` terms added into `part` (see [`stacked_weight_grad`];
/// multiversioned like [`word_input_grad`]).
#[multiversion(targets("x86_64+avx512f+avx512vl+avx2+fma", "x86_64+avx2+fma", "x86_64+sse4.1"))]
fn word_weight_grad(part: &mut [f32], word: &[f32], dz: &[f32], arg: &[u8], width: &[usize], c: usize) {
    let k = part.len() / dz.len();
    for (f, (&d, &p)) in dz.iter().zip(arg).enumerate() {
        if d == 0.0 {
            continue;
        }
        let (p, len) = (p as usize, width[f] * c);
        for (r, &v) in part[f * k..f * k + len].iter_mut().zip(&word[p * c..p * c + len]) {
            *r += d * v;
        }
    }
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
                let row = ni * ftot..(ni + 1) * ftot;
                let word = &xd[ni * l * c..(ni + 1) * l * c];
                word_weight_grad(&mut part, word, &dz[row.clone()], &arg[row], &lay.width, c);
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
///
/// Per chunk of words, one position-major im2col and, per width group,
/// one GEMM over that width's valid positions (`p + w ≤ L`, a contiguous
/// row block) and its own `w·C` columns only: the stacked product over
/// every position and the widest window computed ~45% of products that
/// were zeros or discarded by the max. Each dot product is the stacked
/// one without its trailing zero terms, so the values are the same bits
/// (`tests::grouped_equals_stacked_bitwise`).
fn word_features(
    xd: &[f32],
    n: usize,
    lay: &Layout,
    wc: &[f32],
    bias: &[f32],
    groups: &[(usize, usize, usize)],
) -> (Buf, Vec<u8>) {
    let (l, c, k, ftot) = (lay.l, lay.c, lay.k(), lay.f);
    // Each word's features row is written whole (max, bias, tanh).
    let mut out = Buf::scratch(n * ftot);
    let mut arg = vec![0u8; n * ftot];
    out.par_chunks_mut(CHUNK_WORDS * ftot).zip(arg.par_chunks_mut(CHUNK_WORDS * ftot)).enumerate().for_each_init(
        || (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::<u32>::new()),
        |(cols, z, pre, mx, am), (ci, (out, arg))| {
            let n0 = ci * CHUNK_WORDS;
            let n1 = (n0 + CHUNK_WORDS).min(n);
            let nw = n1 - n0;
            im2col_pm(xd, lay, n0, n1, cols);
            for &(f0, f1, w) in groups {
                let (fw, rows) = (f1 - f0, (l - w + 1) * nw);
                // The product overwrites z: resized, not cleared.
                z.resize(rows * fw, 0.0);
                let a = View { data: cols, rows, cols: w * c, rs: k, cs: 1 };
                let b = View { data: &wc[f0..], rows: w * c, cols: fw, rs: ftot, cs: 1 };
                gemm::matmul_serial(a, b, ViewMut::rm(z, rows, fw));
                // Position 0, then the later ones in order with a strict
                // `>` (the first maximum wins). A position's rows for all
                // words are one block, so each is one long branch-free loop
                // over 32-bit lanes (a u8 arg-max in the loop did not
                // vectorise well: half the op's time went to it).
                let (zm, rest) = z.split_at(nw * fw);
                mx.clear();
                mx.extend_from_slice(zm);
                am.clear();
                am.resize(nw * fw, 0);
                for (p, zp) in rest.chunks_exact(nw * fw).enumerate() {
                    max_update(mx, am, zp, p as u32 + 1);
                }
                for i in 0..nw {
                    out[i * ftot + f0..i * ftot + f1].copy_from_slice(&mx[i * fw..(i + 1) * fw]);
                    for (d, &a) in arg[i * ftot + f0..i * ftot + f1].iter_mut().zip(&am[i * fw..(i + 1) * fw]) {
                        *d = a as u8;
                    }
                }
            }
            for orow in out.chunks_mut(ftot) {
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

/// `mx = max(mx, z)` elementwise, `am = p` where `z` is strictly larger
/// (so the first position of a maximum keeps it).
#[multiversion(targets("x86_64+avx512f+avx512vl+avx2+fma", "x86_64+avx2+fma", "x86_64+sse4.1"))]
fn max_update(mx: &mut [f32], am: &mut [u32], z: &[f32], p: u32) {
    for ((o, a), &zv) in mx.iter_mut().zip(am.iter_mut()).zip(z) {
        let better = zv > *o;
        *o = if better { zv } else { *o };
        *a = if better { p } else { *a };
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The previous forward: one stacked GEMM over every position and the
    /// widest window (zeros past each width), then the max over the valid
    /// positions. The grouped forward must equal it bit for bit.
    fn stacked_reference(
        xd: &[f32],
        n: usize,
        lay: &Layout,
        wc: &[f32],
        bias: &[f32],
        groups: &[(usize, usize, usize)],
    ) -> (Vec<f32>, Vec<u8>) {
        let (l, c, k, ftot) = (lay.l, lay.c, lay.k(), lay.f);
        let mut cols = vec![0.0f32; n * l * k];
        for ni in 0..n {
            let word = &xd[ni * l * c..(ni + 1) * l * c];
            for p in 0..l {
                let take = (l - p).min(lay.wm) * c;
                cols[(ni * l + p) * k..(ni * l + p) * k + take].copy_from_slice(&word[p * c..p * c + take]);
            }
        }
        let mut z = vec![0.0f32; n * l * ftot];
        gemm::matmul_serial(View::rm(&cols, n * l, k), View::rm(wc, k, ftot), ViewMut::rm(&mut z, n * l, ftot));
        let mut out = vec![0.0f32; n * ftot];
        let mut arg = vec![0u8; n * ftot];
        for ni in 0..n {
            out[ni * ftot..(ni + 1) * ftot].copy_from_slice(&z[ni * l * ftot..(ni * l + 1) * ftot]);
            for &(f0, f1, w) in groups {
                for p in 1..=l - w {
                    for f in f0..f1 {
                        let zv = z[(ni * l + p) * ftot + f];
                        if zv > out[ni * ftot + f] {
                            out[ni * ftot + f] = zv;
                            arg[ni * ftot + f] = p as u8;
                        }
                    }
                }
            }
            let row = &mut out[ni * ftot..(ni + 1) * ftot];
            for (o, &b) in row.iter_mut().zip(bias) {
                *o += b;
            }
            let pre = row.to_vec();
            fastmath::tanh_slice(&pre, row);
        }
        (out, arg)
    }

    #[test]
    fn grouped_equals_stacked_bitwise() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut rnd = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
        };
        // The paper's widths and filters at a small embedding, a word count
        // that leaves a partial chunk, and odd widths/filters.
        for (l, c, widths, filters, n) in [
            (16, 5, vec![1, 2, 3, 4, 5, 6], vec![25, 50, 75, 100, 125, 150], 70),
            (7, 3, vec![2, 7, 3], vec![5, 1, 9], 130),
        ] {
            let width: Vec<usize> =
                widths.iter().zip(&filters).flat_map(|(&w, &f)| std::iter::repeat_n(w, f)).collect();
            let lay = Layout { l, c, wm: *widths.iter().max().unwrap(), f: width.len(), width };
            let mut groups = Vec::new();
            let mut f0 = 0;
            let mut ws = Vec::new();
            for (&w, &f) in widths.iter().zip(&filters) {
                groups.push((f0, f0 + f, w));
                f0 += f;
                ws.push(Tensor::from_parts(vec![f, c, w], (0..f * c * w).map(|_| rnd()).collect::<Vec<f32>>()));
            }
            let wc = stack_weights(&ws, &lay);
            let bias: Vec<f32> = (0..lay.f).map(|_| 0.1 * rnd()).collect();
            let xd: Vec<f32> = (0..n * l * c).map(|_| rnd()).collect();
            let (out, arg) = word_features(&xd, n, &lay, &wc, &bias, &groups);
            let (want, want_arg) = stacked_reference(&xd, n, &lay, &wc, &bias, &groups);
            assert_eq!(arg, want_arg, "arg-max positions");
            for (i, (a, b)) in out.iter().zip(&want).enumerate() {
                assert_eq!(a.to_bits(), b.to_bits(), "feature {i}: {a} vs {b}");
            }
        }
    }
}
