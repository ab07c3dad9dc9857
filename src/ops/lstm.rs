//! One LSTM direction over a padded batch, as a single op with a fused cell.
//!
//! Recording one tape node per layer instead of a dozen per time step keeps
//! the tape small and lets the whole sequence share three big GEMMs: the
//! input projection of every step at once (forward), and dX, dW_ih, dW_hh at
//! once (backward). Only the recurrent product h·W_hhᵀ runs per step; in
//! the forward pass the cell is fused into it (`lstm_step`), in the backward
//! pass the cell runs first and `dgates·W_hh` after it.
//!
//! Gate order i, f, g, o; `c' = f*c + i*g`, `h' = o*tanh(c')`; zero initial
//! state (PyTorch). Sequence b is active at steps t < lengths[b]; outside
//! them its output is zero and its state is carried unchanged, so the final
//! state of the forward direction is the output at `lengths[b] - 1` and the
//! reverse direction starts from zeros at its true last token.

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::ops::bf16;
use crate::ops::cpu;
use crate::ops::gemm::{self, View, ViewMut};
pub(crate) use crate::ops::lstm_cell::{cell_backward, cell_forward};
use crate::ops::lstm_step::{self, GatePacked, StepBufs};
use crate::ops::packed_gemm::{self, PackedBf16, PackedRhs};
use crate::pool::Buf;
use crate::tape::{Tape, Var};
use crate::tensor::Tensor;

/// The four PyTorch tensors of one LSTM direction.
#[derive(Clone, Copy, Debug)]
pub struct LstmWeights {
    /// `[4H, In]`
    pub w_ih: Var,
    /// `[4H, H]`
    pub w_hh: Var,
    /// `[4H]`
    pub b_ih: Var,
    /// `[4H]`
    pub b_hh: Var,
}

/// Below this many cell values per step the backward cell runs on one thread.
const PAR_CELL: usize = 4096;

struct Dims {
    b: usize,
    t: usize,
    n_in: usize,
    h: usize,
}

impl Dims {
    /// The time index processed at step `s`.
    fn time(&self, s: usize, reverse: bool) -> usize {
        if reverse {
            self.t - 1 - s
        } else {
            s
        }
    }
}

/// Swaps the first two axes of `[a, b, inner]`: batch-major ↔ time-major.
fn swap01(src: &[f32], a: usize, b: usize, inner: usize) -> Buf {
    // Every row is copied into: no need to clear it first.
    let mut out = Buf::scratch(src.len());
    cpu::for_rows(&mut out, inner, |r, row| {
        let (j, i) = (r / a, r % a);
        row.copy_from_slice(&src[(i * b + j) * inner..(i * b + j + 1) * inner]);
    });
    out
}

/// Forward pass, time-major so that every step reads and writes one
/// contiguous `[B, ·]` block (batch-major rows sit `T·4H` floats apart,
/// which cost more and more cache misses as the batch grew). Returns
/// (activated gates `[T, B, 4H]`, cells `[T, B, H]`, outputs `[T, B, H]`)
/// for `x_tm` `[T, B, In]`.
fn forward(
    d: &Dims,
    x_tm: &[f32],
    w_ih: &[f32],
    w_hh: &[f32],
    bias: &[f32],
    lengths: &[usize],
    reverse: bool,
) -> (Buf, Buf, Buf) {
    let (b, t, h) = (d.b, d.t, d.h);
    let g4 = 4 * h;
    // Every step's input projection at once, each distinct input row once
    // (beam entries of one document share all but a few words).
    let (uniq, row_class) = cpu::distinct_rows(x_tm, t * b, d.n_in);
    // Both branches write every row (bias, or the distinct row's values).
    let mut gates = Buf::scratch(t * b * g4);
    if uniq.len() == t * b {
        cpu::for_rows(&mut gates, g4, |_, r| r.copy_from_slice(bias));
        gemm::matmul(
            View::rm(x_tm, t * b, d.n_in),
            View::t(w_ih, d.n_in, g4),
            ViewMut::rm(&mut gates, t * b, g4),
            true,
        );
    } else {
        let mut xu = Vec::with_capacity(uniq.len() * d.n_in);
        for &u in &uniq {
            xu.extend_from_slice(&x_tm[u * d.n_in..(u + 1) * d.n_in]);
        }
        let mut gu = Buf::scratch(uniq.len() * g4);
        cpu::for_rows(&mut gu, g4, |_, r| r.copy_from_slice(bias));
        gemm::matmul(
            View::rm(&xu, uniq.len(), d.n_in),
            View::t(w_ih, d.n_in, g4),
            ViewMut::rm(&mut gu, uniq.len(), g4),
            true,
        );
        cpu::for_rows(&mut gates, g4, |r, row| row.copy_from_slice(&gu[row_class[r] * g4..(row_class[r] + 1) * g4]));
    }

    // The steps write the rows of active sequences; the others are zeroed
    // step by step below (padding is a small share of the rows).
    let mut hs = Buf::scratch(t * b * h);
    let mut cs = Buf::scratch(t * b * h);
    // The state before and after a step: the step reads one while it
    // writes the other (the fused kernel's panels all read the whole state).
    let mut h_prev = vec![0.0f32; b * h];
    let mut h_next = vec![0.0f32; b * h];
    let mut c_state = vec![0.0f32; b * h];
    let w_hh_t = GatePacked::new(w_hh, h, bf16::recurrent_bf16());
    // Sequences whose inputs so far (in processing order, with the steps
    // they were active) are identical have identical states: the state is
    // computed for the first of them (its leader) and copied to the rest.
    let mut prefix = PrefixClasses::new(b);
    for s in 0..t {
        let tt = d.time(s, reverse);
        let active: Vec<bool> = lengths.iter().map(|&l| tt < l).collect();
        for (bi, _) in active.iter().enumerate().filter(|(_, &on)| !on) {
            let r = (tt * b + bi) * h..(tt * b + bi + 1) * h;
            hs[r.clone()].fill(0.0);
            cs[r].fill(0.0);
        }
        let bufs = StepBufs {
            gates: &mut gates[tt * b * g4..(tt + 1) * b * g4],
            c_state: &mut c_state,
            h_next: &mut h_next,
            hs: &mut hs[tt * b * h..(tt + 1) * b * h],
            cs: &mut cs[tt * b * h..(tt + 1) * b * h],
        };
        let leaders = prefix.advance(|bi| active[bi].then(|| row_class[tt * b + bi]));
        // Worth the gathers only when it saves a good share of the rows.
        match leaders.filter(|l| 4 * l.len() <= 3 * b) {
            Some(leaders) => shared_prefix_step(s > 0, &leaders, &prefix.class, &w_hh_t, &h_prev, bufs, &active),
            None => lstm_step::step(s > 0, &h_prev, &w_hh_t, bufs, &active),
        }
        std::mem::swap(&mut h_prev, &mut h_next);
    }
    (gates, cs, hs)
}

/// Classes of sequences with identical histories: identical inputs at every
/// step processed so far and the same steps active, hence identical states.
struct PrefixClasses {
    /// Per sequence, its class; `leader[class]` is its first member.
    class: Vec<usize>,
    leader: Vec<usize>,
}

impl PrefixClasses {
    fn new(b: usize) -> Self {
        // Every state starts at zero: one class.
        PrefixClasses { class: vec![0; b], leader: vec![0] }
    }

    /// Refines the classes by one step's inputs (`input(bi)`: the class of
    /// sequence `bi`'s input row, `None` where it is inactive). Returns the
    /// leaders (first members of each new class) if some sequence shares
    /// its class, `None` if every sequence is alone.
    fn advance(&mut self, input: impl Fn(usize) -> Option<usize>) -> Option<Vec<usize>> {
        use std::collections::HashMap;
        let b = self.class.len();
        let mut ids: HashMap<(usize, Option<usize>), usize> = HashMap::with_capacity(b);
        let mut leader = Vec::new();
        for bi in 0..b {
            let key = (self.class[bi], input(bi));
            let next = ids.len();
            let id = *ids.entry(key).or_insert(next);
            if id == leader.len() {
                leader.push(bi);
            }
            self.class[bi] = id;
        }
        self.leader = leader;
        (self.leader.len() < b).then(|| self.leader.clone())
    }
}

/// One forward step computed for the class leaders alone and copied to the
/// other members: the fused step on the leaders' rows, then every active
/// sequence's gate row, output, cell and state from its leader's (an
/// inactive one carries its state).
fn shared_prefix_step(
    recur: bool,
    leaders: &[usize],
    class: &[usize],
    w_hh_t: &GatePacked,
    h_prev: &[f32],
    bufs: StepBufs<'_>,
    active: &[bool],
) {
    let StepBufs { gates: step, c_state, h_next, hs, cs } = bufs;
    let h = h_prev.len() / class.len();
    let g4 = 4 * h;
    let m = leaders.len();
    let gather = |src: &[f32], w: usize| -> Vec<f32> {
        let mut out = Vec::with_capacity(m * w);
        for &l in leaders {
            out.extend_from_slice(&src[l * w..(l + 1) * w]);
        }
        out
    };
    let mut g = gather(step, g4);
    let hc = gather(h_prev, h);
    let mut cc = gather(c_state, h);
    // The step writes every active leader's row, and only those are read.
    let mut hn = Buf::scratch(m * h);
    let mut ho = Buf::scratch(m * h);
    let mut co = Buf::scratch(m * h);
    let lead_active: Vec<bool> = leaders.iter().map(|&l| active[l]).collect();
    let lead = StepBufs { gates: &mut g, c_state: &mut cc, h_next: &mut hn, hs: &mut ho, cs: &mut co };
    lstm_step::step(recur, &hc, w_hh_t, lead, &lead_active);
    for (bi, &k) in class.iter().enumerate() {
        let r = bi * h..(bi + 1) * h;
        if !active[bi] {
            h_next[r.clone()].copy_from_slice(&h_prev[r]);
            continue;
        }
        let rk = k * h..(k + 1) * h;
        step[bi * g4..(bi + 1) * g4].copy_from_slice(&g[k * g4..(k + 1) * g4]);
        hs[r.clone()].copy_from_slice(&ho[rk.clone()]);
        cs[r.clone()].copy_from_slice(&co[rk.clone()]);
        h_next[r.clone()].copy_from_slice(&hn[rk.clone()]);
        c_state[r].copy_from_slice(&cc[rk]);
    }
}

/// The recurrent weights of the backward pass, f32 or (opt-in) bf16.
enum Recurrent {
    F32(PackedRhs),
    Bf16(PackedBf16),
}

struct Saved {
    /// The input, time-major `[T, B, In]`.
    x_tm: Buf,
    w_ih: Tensor,
    w_hh: Tensor,
    /// Time-major activations, cells and outputs.
    gates: Buf,
    cs: Buf,
    hs: Buf,
    lengths: Vec<usize>,
}

/// The weight gradients of one direction.
struct WeightGrads {
    w_ih: Buf,
    w_hh: Buf,
    bias: Vec<f32>,
}

/// Backward pass: dX (if `need_x`, batch-major) and the weight gradients
/// (if `need_w`; an attack differentiating only with respect to the input
/// skips them). `gy` is batch-major `[B, T, H]`.
fn backward(
    d: &Dims,
    sv: &Saved,
    gy: &[f32],
    reverse: bool,
    need_x: bool,
    need_w: bool,
) -> (Option<Buf>, Option<WeightGrads>) {
    let (b, t, h) = (d.b, d.t, d.h);
    let g4 = 4 * h;
    let gy = swap01(gy, b, t, h);
    // The cell writes every row of a step (zeros for inactive sequences).
    let mut dgates = Buf::scratch(t * b * g4);
    let mut dh_next = vec![0.0f32; b * h];
    let mut dc_next = vec![0.0f32; b * h];
    let par = b * h >= PAR_CELL;
    let (gates, cs, lengths) = (&sv.gates, &sv.cs, &sv.lengths);
    let zeros = vec![0.0f32; h];
    let w_hh = if bf16::recurrent_bf16() {
        Recurrent::Bf16(PackedBf16::plain(sv.w_hh.data(), g4, h))
    } else {
        Recurrent::F32(PackedRhs::plain(sv.w_hh.data(), g4, h))
    };
    for s in (0..t).rev() {
        let tt = d.time(s, reverse);
        // The previous step's cell, zero at the first step (and at the
        // reverse direction's first active step, which was never written).
        let prev = if s == 0 { None } else { Some(d.time(s - 1, reverse)) };
        let step = &mut dgates[tt * b * g4..(tt + 1) * b * g4];
        let cell = |bi: usize, dg: &mut [f32], dh_next: &mut [f32], dc_next: &mut [f32]| {
            if tt >= lengths[bi] {
                dg.fill(0.0);
                dc_next.fill(0.0);
                return;
            }
            let at = tt * b + bi;
            let act = &gates[at * g4..(at + 1) * g4];
            let c = &cs[at * h..(at + 1) * h];
            let gyr = &gy[at * h..(at + 1) * h];
            let c_prev = prev.map_or(&zeros[..], |p| &cs[(p * b + bi) * h..(p * b + bi + 1) * h]);
            cell_backward(act, c, c_prev, gyr, dh_next, dc_next, dg);
        };
        if par {
            step.par_chunks_mut(g4)
                .zip(dh_next.par_chunks_mut(h).zip(dc_next.par_chunks_mut(h)))
                .enumerate()
                .for_each(|(bi, (dg, (dh, dc)))| cell(bi, dg, dh, dc));
        } else {
            step.chunks_mut(g4)
                .zip(dh_next.chunks_mut(h).zip(dc_next.chunks_mut(h)))
                .enumerate()
                .for_each(|(bi, (dg, (dh, dc)))| cell(bi, dg, dh, dc));
        }
        if s > 0 {
            let (a, c) = (View::rm(step, b, g4), ViewMut::rm(&mut dh_next, b, h));
            match &w_hh {
                Recurrent::F32(w) => packed_gemm::matmul(a, w, c, false),
                Recurrent::Bf16(w) => packed_gemm::matmul_bf16(a, w, c, false),
            }
        }
    }

    let dx = need_x.then(|| {
        let mut dx_tm = Buf::scratch(t * b * d.n_in);
        gemm::matmul(
            View::rm(&dgates, t * b, g4),
            View::rm(sv.w_ih.data(), g4, d.n_in),
            ViewMut::rm(&mut dx_tm, t * b, d.n_in),
            false,
        );
        swap01(&dx_tm, t, b, d.n_in)
    });
    if !need_w {
        return (dx, None);
    }
    let mut dw_ih = Buf::scratch(g4 * d.n_in);
    gemm::matmul(
        View::t(&dgates, g4, t * b),
        View::rm(&sv.x_tm, t * b, d.n_in),
        ViewMut::rm(&mut dw_ih, g4, d.n_in),
        false,
    );
    // h_{t-1} in processing order is the neighbouring time block of the
    // outputs (zero where a sequence had not started or was padding), so
    // dW_hh is one product of two contiguous blocks.
    let mut dw_hh = if t > 1 { Buf::scratch(g4 * h) } else { Buf::zeroed(g4 * h) };
    if t > 1 {
        let rows = (t - 1) * b;
        let (dg, hp) =
            if reverse { (&dgates[..rows * g4], &sv.hs[b * h..]) } else { (&dgates[b * g4..], &sv.hs[..rows * h]) };
        gemm::matmul(View::t(dg, g4, rows), View::rm(hp, rows, h), ViewMut::rm(&mut dw_hh, g4, h), false);
    }
    let bias = cpu::col_sums(&dgates, g4);
    (dx, Some(WeightGrads { w_ih: dw_ih, w_hh: dw_hh, bias }))
}

impl Tape {
    /// One LSTM direction: `x [B, T, In]` → outputs `[B, T, H]`, zero at
    /// padded steps. `lengths[b] ≤ T` is each sequence's true length.
    pub fn lstm_layer(&self, x: Var, w: LstmWeights, lengths: &[usize], reverse: bool) -> Result<Var> {
        let xv = self.value(x)?;
        let (w_ih, w_hh, b_ih, b_hh) =
            (self.value(w.w_ih)?, self.value(w.w_hh)?, self.value(w.b_ih)?, self.value(w.b_hh)?);
        let sx = xv.shape().to_vec();
        if sx.len() != 3 {
            return Err(Error::invalid("lstm_layer", format!("input must be [batch, time, features], got {sx:?}")));
        }
        let (b, t, n_in) = (sx[0], sx[1], sx[2]);
        if w_ih.rank() != 2 || w_ih.shape()[1] != n_in || w_ih.shape()[0] % 4 != 0 {
            return Err(Error::shapes("lstm_layer weight_ih", w_ih.shape(), &sx));
        }
        let h = w_ih.shape()[0] / 4;
        for (name, v, want) in
            [("weight_hh", &w_hh, vec![4 * h, h]), ("bias_ih", &b_ih, vec![4 * h]), ("bias_hh", &b_hh, vec![4 * h])]
        {
            if v.shape() != want.as_slice() {
                return Err(Error::invalid(
                    "lstm_layer",
                    format!("{name} has shape {:?}, expected {want:?} for input {sx:?}", v.shape()),
                ));
            }
        }
        if lengths.len() != b {
            return Err(Error::invalid("lstm_layer", format!("{} lengths for a batch of {b}", lengths.len())));
        }
        if let Some(&l) = lengths.iter().find(|&&l| l > t) {
            return Err(Error::invalid("lstm_layer", format!("length {l} exceeds the {t} time steps of the input")));
        }
        let d = Dims { b, t, n_in, h };
        let bias: Vec<f32> = b_ih.data().iter().zip(b_hh.data()).map(|(a, c)| a + c).collect();
        let x_tm = swap01(xv.data(), b, t, n_in);
        let (gates, cs, hs) = forward(&d, &x_tm, w_ih.data(), w_hh.data(), &bias, lengths, reverse);
        let out = Tensor::from_parts(vec![b, t, h], swap01(&hs, t, b, h));
        let saved = Saved { x_tm, w_ih, w_hh, gates, cs, hs, lengths: lengths.to_vec() };
        self.record("lstm_layer", out, &[x, w.w_ih, w.w_hh, w.b_ih, w.b_hh], move |g, sink| {
            let need_w = [w.w_ih, w.w_hh, w.b_ih, w.b_hh].iter().any(|&v| sink.wants(v));
            let (dx, wg) = backward(&d, &saved, g.data(), reverse, sink.wants(x), need_w);
            if let Some(dx) = dx {
                sink.add(x, Tensor::from_parts(vec![d.b, d.t, d.n_in], dx))?;
            }
            if let Some(wg) = wg {
                sink.add(w.w_ih, Tensor::from_parts(vec![4 * d.h, d.n_in], wg.w_ih))?;
                sink.add(w.w_hh, Tensor::from_parts(vec![4 * d.h, d.h], wg.w_hh))?;
                let db = Tensor::from_parts(vec![4 * d.h], wg.bias);
                sink.add(w.b_ih, db.clone())?;
                sink.add(w.b_hh, db)?;
            }
            Ok(())
        })
    }
}
