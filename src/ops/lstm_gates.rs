//! LSTM gate pre-activations `x·W_ihᵀ + h·W_hhᵀ + b_ih + b_hh` for models
//! that step an LSTM one time step at a time (`char_nmt`'s decoder feeds
//! each step's output back in, so the whole-sequence `lstm_layer` cannot
//! run it).
//!
//! Two `linear`s per step cost three things the step does not need: the
//! general GEMM repacks the `[4H, In]` weight on every call (for a 32-row
//! state that packing costs as much as the product), every step's backward
//! writes a fresh `[4H, In]` weight gradient that the tape then adds into
//! the running one (a rank-32 update read and written in full, T times),
//! and the two products go through separate output buffers plus an `add`.
//!
//! Here [`Tape::lstm_gate_weights`] packs the weights once per forward pass
//! (the transposes for the forward products, the plain weights, lazily, for
//! the input gradients) and records a *token*: a scalar node whose parents
//! are the four weights. Every [`Tape::lstm_gates`] step takes the token as a
//! parent; its backward computes the input gradients with the packed
//! weights and only *stores* its gate gradient and inputs in the token.
//! The token was recorded before every step, so its backward runs after all
//! of theirs: it multiplies the stacked gate gradients by the stacked inputs
//! once (`dW_ih = dGᵀ·X`, a product with depth B·T instead of T products of
//! depth B) and hands the weights their gradients.

use std::sync::{Arc, Mutex, OnceLock};

use crate::error::{Error, Result};
use crate::ops::cpu;
use crate::ops::gemm::{self, View, ViewMut};
use crate::ops::packed_gemm::{self, PackedRhs};
use crate::ops::LstmWeights;
use crate::pool::Buf;
use crate::tape::{GradSink, Tape, Var};
use crate::tensor::Tensor;

/// One LSTM layer's weights packed for many steps of one tape; cheap to
/// clone (shared).
#[derive(Clone)]
pub struct GateWeights {
    /// The scalar node every step hangs its weight gradients on.
    token: Var,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for GateWeights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GateWeights {{ in: {}, hidden: {} }}", self.shared.n_in, self.shared.h)
    }
}

struct Shared {
    n_in: usize,
    h: usize,
    /// `b_ih + b_hh`, `[4H]`.
    bias: Vec<f32>,
    /// `W_ihᵀ` `[In, 4H]` and `W_hhᵀ` `[H, 4H]`, for the forward products.
    ih_t: PackedRhs,
    hh_t: PackedRhs,
    /// The weights themselves (`W_ih` `[4H, In]`, `W_hh` `[4H, H]`), for
    /// `dx = dG·W_ih`: kept unpacked until a backward wants them.
    w_ih: Tensor,
    w_hh: Tensor,
    ih: OnceLock<PackedRhs>,
    hh: OnceLock<PackedRhs>,
    /// Gate gradients and the inputs they multiply, one entry per step whose
    /// backward ran.
    acc: Mutex<Vec<Saved>>,
}

struct Saved {
    dg: Tensor,
    x: Tensor,
    h: Tensor,
}

impl Tape {
    /// Packs one LSTM layer's weights for [`Tape::lstm_gates`] on this tape
    /// (call once per forward pass, after the weights last changed).
    pub fn lstm_gate_weights(&self, w: LstmWeights) -> Result<GateWeights> {
        let (w_ih, w_hh, b_ih, b_hh) =
            (self.value(w.w_ih)?, self.value(w.w_hh)?, self.value(w.b_ih)?, self.value(w.b_hh)?);
        if w_ih.rank() != 2 || w_ih.shape()[0] % 4 != 0 || w_ih.shape()[0] == 0 {
            return Err(Error::invalid(
                "lstm_gate_weights",
                format!("weight_ih must be [4H, In], got {:?}", w_ih.shape()),
            ));
        }
        let (g4, n_in) = (w_ih.shape()[0], w_ih.shape()[1]);
        let h = g4 / 4;
        for (name, v, want) in
            [("weight_hh", &w_hh, vec![g4, h]), ("bias_ih", &b_ih, vec![g4]), ("bias_hh", &b_hh, vec![g4])]
        {
            if v.shape() != want.as_slice() {
                return Err(Error::invalid(
                    "lstm_gate_weights",
                    format!("{name} has shape {:?}, expected {want:?}", v.shape()),
                ));
            }
        }
        let shared = Arc::new(Shared {
            n_in,
            h,
            bias: b_ih.data().iter().zip(b_hh.data()).map(|(a, b)| a + b).collect(),
            ih_t: PackedRhs::transposed(w_ih.data(), g4, n_in),
            hh_t: PackedRhs::transposed(w_hh.data(), g4, h),
            w_ih,
            w_hh,
            ih: OnceLock::new(),
            hh: OnceLock::new(),
            acc: Mutex::new(Vec::new()),
        });
        let s = Arc::clone(&shared);
        let token = self.record("lstm_gate_weights", Tensor::scalar(0.0), &[w.w_ih, w.w_hh, w.b_ih, w.b_hh], {
            move |_, sink| weight_grads(&s, w, sink)
        })?;
        Ok(GateWeights { token, shared })
    }

    /// `x [B, In] · W_ihᵀ + h [B, H] · W_hhᵀ + b_ih + b_hh` → `[B, 4H]`, with
    /// the weights packed by [`Tape::lstm_gate_weights`].
    pub fn lstm_gates(&self, x: Var, h: Var, w: &GateWeights) -> Result<Var> {
        let s = &w.shared;
        let (xv, hv) = (self.value(x)?, self.value(h)?);
        let b = xv.shape().first().copied().unwrap_or(0);
        if xv.shape() != [b, s.n_in] || hv.shape() != [b, s.h] {
            return Err(Error::invalid(
                "lstm_gates",
                format!("x {:?} and h {:?} must be [B, {}] and [B, {}]", xv.shape(), hv.shape(), s.n_in, s.h),
            ));
        }
        let g4 = 4 * s.h;
        let mut out = Buf::scratch(b * g4);
        cpu::for_rows(&mut out, g4, |_, r| r.copy_from_slice(&s.bias));
        packed_gemm::matmul(View::rm(xv.data(), b, s.n_in), &s.ih_t, ViewMut::rm(&mut out, b, g4), true);
        packed_gemm::matmul(View::rm(hv.data(), b, s.h), &s.hh_t, ViewMut::rm(&mut out, b, g4), true);
        let shared = Arc::clone(s);
        let token = w.token;
        self.record("lstm_gates", Tensor::from_parts(vec![b, g4], out), &[x, h, token], move |g, sink| {
            let s = &shared;
            if sink.wants(x) {
                let ih = s.ih.get_or_init(|| PackedRhs::plain(s.w_ih.data(), g4, s.n_in));
                let mut dx = Buf::scratch(b * s.n_in);
                packed_gemm::matmul(View::rm(g.data(), b, g4), ih, ViewMut::rm(&mut dx, b, s.n_in), false);
                sink.add(x, Tensor::from_parts(vec![b, s.n_in], dx))?;
            }
            if sink.wants(h) {
                let hh = s.hh.get_or_init(|| PackedRhs::plain(s.w_hh.data(), g4, s.h));
                let mut dh = Buf::scratch(b * s.h);
                packed_gemm::matmul(View::rm(g.data(), b, g4), hh, ViewMut::rm(&mut dh, b, s.h), false);
                sink.add(h, Tensor::from_parts(vec![b, s.h], dh))?;
            }
            if sink.wants(token) {
                let mut acc = s.acc.lock().map_err(|_| Error::Backward("lstm_gates: poisoned lock".into()))?;
                acc.push(Saved { dg: g.clone(), x: xv, h: hv });
                drop(acc);
                // Any value will do: it only makes the token's backward run.
                sink.add(token, Tensor::scalar(0.0))?;
            }
            Ok(())
        })
    }
}

/// The token's backward: every step's weight gradients in one product each.
fn weight_grads(s: &Shared, w: LstmWeights, sink: &mut GradSink<'_>) -> Result<()> {
    let saved = std::mem::take(&mut *s.acc.lock().map_err(|_| Error::Backward("lstm_gates: poisoned lock".into()))?);
    let rows: usize = saved.iter().map(|e| e.x.shape()[0]).sum();
    let (g4, n_in, h) = (4 * s.h, s.n_in, s.h);
    let stack = |part: fn(&Saved) -> &Tensor, width: usize| {
        let mut out = Buf::scratch(rows * width);
        let mut at = 0;
        for e in &saved {
            let d = part(e).data();
            out[at..at + d.len()].copy_from_slice(d);
            at += d.len();
        }
        debug_assert_eq!(at, rows * width);
        out
    };
    let dg = stack(|e| &e.dg, g4);
    let product = |inputs: &[f32], width: usize| {
        let mut out = Buf::scratch(g4 * width);
        if rows == 0 {
            out.fill(0.0);
        } else {
            gemm::matmul(
                View::t(&dg, g4, rows),
                View::rm(inputs, rows, width),
                ViewMut::rm(&mut out, g4, width),
                false,
            );
        }
        Tensor::from_parts(vec![g4, width], out)
    };
    if sink.wants(w.w_ih) {
        let x = stack(|e| &e.x, n_in);
        sink.add(w.w_ih, product(&x, n_in))?;
    }
    if sink.wants(w.w_hh) {
        let hs = stack(|e| &e.h, h);
        sink.add(w.w_hh, product(&hs, h))?;
    }
    if sink.wants(w.b_ih) || sink.wants(w.b_hh) {
        let db = Tensor::from_parts(vec![g4], cpu::col_sums(&dg, g4));
        sink.add(w.b_ih, db.clone())?;
        sink.add(w.b_hh, db)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn rand(rng: &mut Rng, shape: &[usize]) -> Tensor {
        let n = shape.iter().product();
        Tensor::from_parts(shape.to_vec(), (0..n).map(|_| rng.uniform_range(-0.5, 0.5)).collect::<Vec<f32>>())
    }

    /// Weights, two steps' inputs and a fixed random projection of both
    /// steps' gates: a scalar that depends on every gradient path.
    fn setup(seed: u64) -> (Vec<Tensor>, Vec<Tensor>) {
        let mut rng = Rng::new(seed);
        let (b, n_in, h) = (3, 5, 4);
        let w = vec![
            rand(&mut rng, &[4 * h, n_in]),
            rand(&mut rng, &[4 * h, h]),
            rand(&mut rng, &[4 * h]),
            rand(&mut rng, &[4 * h]),
        ];
        let inputs = vec![
            rand(&mut rng, &[b, n_in]),
            rand(&mut rng, &[b, h]),
            rand(&mut rng, &[b, n_in]),
            rand(&mut rng, &[b, 4 * h]),
            rand(&mut rng, &[b, 4 * h]),
        ];
        (w, inputs)
    }

    /// Σ r₀·gates(x₀, h₀) + Σ r₁·gates(x₁, tanh(narrow(gates₀))) with the fused op
    /// (`fused`) or with two `linear`s and an `add` per step.
    fn loss(tape: &Tape, vars: &[Var], fused: bool) -> Result<Var> {
        let lw = LstmWeights { w_ih: vars[0], w_hh: vars[1], b_ih: vars[2], b_hh: vars[3] };
        let (x0, h0, x1, r0, r1) = (vars[4], vars[5], vars[6], vars[7], vars[8]);
        let h = tape.shape(h0)?[1];
        let packed = if fused { Some(tape.lstm_gate_weights(lw)?) } else { None };
        let gates = |x: Var, hv: Var| -> Result<Var> {
            match &packed {
                Some(p) => tape.lstm_gates(x, hv, p),
                None => tape.add(tape.linear(x, lw.w_ih, Some(lw.b_ih))?, tape.linear(hv, lw.w_hh, Some(lw.b_hh))?),
            }
        };
        let g0 = gates(x0, h0)?;
        let h1 = tape.tanh(tape.narrow(g0, 1, h, h)?)?;
        let g1 = gates(x1, h1)?;
        tape.add(tape.sum(tape.mul(g0, r0)?)?, tape.sum(tape.mul(g1, r1)?)?)
    }

    fn run(fused: bool, w: &[Tensor], inputs: &[Tensor]) -> (f32, Vec<Tensor>) {
        let tape = Tape::new();
        let vars: Vec<Var> = w.iter().chain(inputs).map(|t| tape.leaf(t.clone())).collect();
        let l = loss(&tape, &vars, fused).unwrap();
        let value = tape.value(l).unwrap().item().unwrap();
        let grads = tape.backward(l).unwrap();
        (value, vars[..7].iter().map(|&v| grads.get(v).unwrap().clone()).collect())
    }

    #[test]
    fn equals_two_linears_and_an_add_within_1e_6() {
        let (w, inputs) = setup(7);
        let (fv, fg) = run(true, &w, &inputs);
        let (uv, ug) = run(false, &w, &inputs);
        assert!((fv - uv).abs() <= 1e-6 * uv.abs().max(1.0), "loss {fv} vs {uv}");
        for (i, (a, b)) in fg.iter().zip(&ug).enumerate() {
            assert_eq!(a.shape(), b.shape());
            for (x, y) in a.data().iter().zip(b.data()) {
                assert!((x - y).abs() <= 1e-6 * y.abs().max(1.0), "gradient {i}: {x} vs {y}");
            }
        }
    }

    #[test]
    fn gradients_match_finite_differences() {
        let (w, inputs) = setup(11);
        let (_, grads) = run(true, &w, &inputs);
        let mut all: Vec<Tensor> = w.iter().chain(&inputs).cloned().collect();
        let eps = 1e-2f32;
        for (i, g) in grads.iter().enumerate() {
            for j in 0..all[i].numel() {
                let mut at = |delta: f32| {
                    let mut d = all[i].data().to_vec();
                    d[j] += delta;
                    all[i] = Tensor::from_parts(all[i].shape().to_vec(), d);
                    let tape = Tape::new();
                    let vars: Vec<Var> = all.iter().map(|t| tape.constant(t.clone())).collect();
                    let v = tape.value(loss(&tape, &vars, true).unwrap()).unwrap().item().unwrap() as f64;
                    let mut back = all[i].data().to_vec();
                    back[j] -= delta;
                    all[i] = Tensor::from_parts(all[i].shape().to_vec(), back);
                    v
                };
                let numeric = (at(eps) - at(-eps)) / (2.0 * eps as f64);
                let analytic = g.data()[j] as f64;
                assert!(
                    (numeric - analytic).abs() <= 2e-3 * (1.0 + analytic.abs()),
                    "input {i} element {j}: finite difference {numeric} vs backward {analytic}"
                );
            }
        }
    }

    #[test]
    fn no_gradient_is_asked_for_constant_weights() {
        let (w, inputs) = setup(3);
        let tape = Tape::new();
        let mut vars: Vec<Var> = w.iter().map(|t| tape.constant(t.clone())).collect();
        vars.extend(inputs.iter().map(|t| tape.leaf(t.clone())));
        let l = loss(&tape, &vars, true).unwrap();
        let grads = tape.backward(l).unwrap();
        assert!(grads.get(vars[4]).is_some());
    }

    #[test]
    fn wrong_shapes_are_errors() {
        let (w, _) = setup(5);
        let tape = Tape::new();
        let v: Vec<Var> = w.iter().map(|t| tape.leaf(t.clone())).collect();
        let lw = LstmWeights { w_ih: v[0], w_hh: v[1], b_ih: v[2], b_hh: v[3] };
        let p = tape.lstm_gate_weights(lw).unwrap();
        let x = tape.constant(Tensor::zeros(&[3, 4]));
        let h = tape.constant(Tensor::zeros(&[3, 4]));
        assert!(tape.lstm_gates(x, h, &p).is_err());
        let bad = LstmWeights { w_hh: v[0], ..lw };
        assert!(tape.lstm_gate_weights(bad).is_err());
    }
}
