//! One decoder step of Luong global attention over a memory bank, fused:
//! scores `q·k_j + mask_j`, softmax over the source positions, context
//! `Σ_j a_j·v_j`. `char_nmt` runs it at every target step of every batch;
//! as two batched `matmul`s (`[1, H]·[H, S]` and `[1, S]·[S, H]` per
//! sentence), an `add` and a `softmax` it cost a tenth of a paper-size
//! training step, nearly all of it the general GEMM's per-call set-up on
//! 32 tiny products, for ~0.5 MFLOP of work. Here it is three short loops
//! per sentence, and the keys need no transposed copy.

use crate::error::{Error, Result};
use crate::pool::Buf;
use crate::tape::{Tape, Var};
use crate::tensor::Tensor;

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn axpy(alpha: f32, x: &[f32], y: &mut [f32]) {
    for (y, x) in y.iter_mut().zip(x) {
        *y += alpha * x;
    }
}

impl Tape {
    /// `q [B, H]` attends over `keys [B, S, H]` with additive `mask [B, S]`
    /// (0 or a large negative number per position): returns the context
    /// `[B, H]` = Σ_j softmax_j(q·keys_j + mask_j)·values_j, `values [B, S, H]`.
    /// The mask gets no gradient.
    pub fn attention(&self, q: Var, keys: Var, mask: Var, values: Var) -> Result<Var> {
        let (qv, kv, mv, vv) = (self.value(q)?, self.value(keys)?, self.value(mask)?, self.value(values)?);
        let (b, h) = match qv.shape() {
            &[b, h] => (b, h),
            s => return Err(Error::invalid("attention", format!("query must be [B, H], got {s:?}"))),
        };
        let s = kv.shape().get(1).copied().unwrap_or(0);
        if kv.shape() != [b, s, h] || vv.shape() != [b, s, h] || mv.shape() != [b, s] || s == 0 {
            return Err(Error::invalid(
                "attention",
                format!(
                    "query {:?}, keys {:?}, mask {:?}, values {:?}: want [B, H], [B, S, H], [B, S], [B, S, H], S > 0",
                    qv.shape(),
                    kv.shape(),
                    mv.shape(),
                    vv.shape()
                ),
            ));
        }
        let mut probs = vec![0.0f32; b * s];
        let mut ctx = Buf::zeroed(b * h);
        for i in 0..b {
            let (qi, a) = (&qv.data()[i * h..(i + 1) * h], &mut probs[i * s..(i + 1) * s]);
            for (j, aj) in a.iter_mut().enumerate() {
                *aj = dot(qi, &kv.data()[(i * s + j) * h..(i * s + j + 1) * h]) + mv.data()[i * s + j];
            }
            let max = a.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut total = 0.0f32;
            for aj in a.iter_mut() {
                *aj = (*aj - max).exp();
                total += *aj;
            }
            for (j, aj) in a.iter_mut().enumerate() {
                *aj /= total;
                axpy(*aj, &vv.data()[(i * s + j) * h..(i * s + j + 1) * h], &mut ctx[i * h..(i + 1) * h]);
            }
        }
        self.record("attention", Tensor::from_parts(vec![b, h], ctx), &[q, keys, mask, values], move |g, sink| {
            let g = g.data();
            let mut ds = vec![0.0f32; b * s];
            let mut dvalues = sink.wants(values).then(|| Buf::zeroed(b * s * h));
            for i in 0..b {
                let (gi, a) = (&g[i * h..(i + 1) * h], &probs[i * s..(i + 1) * s]);
                let row = &mut ds[i * s..(i + 1) * s];
                for j in 0..s {
                    let at = (i * s + j) * h;
                    row[j] = dot(gi, &vv.data()[at..at + h]);
                    if let Some(dv) = dvalues.as_mut() {
                        axpy(a[j], gi, &mut dv[at..at + h]);
                    }
                }
                // d softmax: a_j·(da_j − Σ_k a_k·da_k)
                let mean = dot(a, row);
                for j in 0..s {
                    row[j] = a[j] * (row[j] - mean);
                }
            }
            if sink.wants(q) {
                let mut dq = Buf::zeroed(b * h);
                for i in 0..b {
                    for j in 0..s {
                        let at = (i * s + j) * h;
                        axpy(ds[i * s + j], &kv.data()[at..at + h], &mut dq[i * h..(i + 1) * h]);
                    }
                }
                sink.add(q, Tensor::from_parts(vec![b, h], dq))?;
            }
            if sink.wants(keys) {
                let mut dk = Buf::zeroed(b * s * h);
                for i in 0..b {
                    for j in 0..s {
                        let at = (i * s + j) * h;
                        axpy(ds[i * s + j], &qv.data()[i * h..(i + 1) * h], &mut dk[at..at + h]);
                    }
                }
                sink.add(keys, Tensor::from_parts(vec![b, s, h], dk))?;
            }
            if let Some(dv) = dvalues {
                sink.add(values, Tensor::from_parts(vec![b, s, h], dv))?;
            }
            if sink.wants(mask) {
                sink.add(mask, Tensor::from_parts(vec![b, s], ds))?;
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn rand(rng: &mut Rng, shape: &[usize]) -> Tensor {
        let n = shape.iter().product();
        Tensor::from_parts(shape.to_vec(), (0..n).map(|_| rng.uniform_range(-1.0, 1.0)).collect::<Vec<f32>>())
    }

    /// q, keys, mask (one padded position in row 1), values, and a random
    /// projection of the context.
    fn inputs(seed: u64) -> Vec<Tensor> {
        let mut rng = Rng::new(seed);
        let (b, s, h) = (2, 3, 4);
        let mut mask = vec![0.0f32; b * s];
        mask[s + 2] = -1e9;
        vec![
            rand(&mut rng, &[b, h]),
            rand(&mut rng, &[b, s, h]),
            Tensor::from_parts(vec![b, s], mask),
            rand(&mut rng, &[b, s, h]),
            rand(&mut rng, &[b, h]),
        ]
    }

    /// Σ r·ctx, fused or as char_nmt computed it before (matmul, add,
    /// softmax, matmul).
    fn loss(tape: &Tape, v: &[Var], fused: bool) -> Result<Var> {
        let (q, keys, mask, values, r) = (v[0], v[1], v[2], v[3], v[4]);
        let ctx = if fused {
            tape.attention(q, keys, mask, values)?
        } else {
            let (b, h) = (tape.shape(q)?[0], tape.shape(q)?[1]);
            let s = tape.shape(keys)?[1];
            let q3 = tape.reshape(q, &[b, 1, h])?;
            let scores = tape.matmul(q3, tape.transpose(keys, 1, 2)?)?;
            let a = tape.softmax(tape.add(scores, tape.reshape(mask, &[b, 1, s])?)?)?;
            tape.reshape(tape.matmul(a, values)?, &[b, h])?
        };
        tape.sum(tape.mul(ctx, r)?)
    }

    fn run(fused: bool, x: &[Tensor]) -> (f32, Vec<Tensor>) {
        let tape = Tape::new();
        let v: Vec<Var> = x
            .iter()
            .enumerate()
            .map(|(i, t)| if i == 2 { tape.constant(t.clone()) } else { tape.leaf(t.clone()) })
            .collect();
        let l = loss(&tape, &v, fused).unwrap();
        let value = tape.value(l).unwrap().item().unwrap();
        let grads = tape.backward(l).unwrap();
        (value, [0, 1, 3].iter().map(|&i| grads.get(v[i]).unwrap().clone()).collect())
    }

    #[test]
    fn equals_matmul_softmax_matmul_within_1e_6() {
        let x = inputs(5);
        let (fv, fg) = run(true, &x);
        let (uv, ug) = run(false, &x);
        assert!((fv - uv).abs() <= 1e-6 * uv.abs().max(1.0), "{fv} vs {uv}");
        for (k, (a, b)) in fg.iter().zip(&ug).enumerate() {
            for (p, q) in a.data().iter().zip(b.data()) {
                assert!((p - q).abs() <= 1e-6 * q.abs().max(1.0), "gradient {k}: {p} vs {q}");
            }
        }
    }

    #[test]
    fn gradients_match_finite_differences() {
        let mut x = inputs(9);
        let (_, grads) = run(true, &x);
        let eps = 1e-2f32;
        for (k, &i) in [0usize, 1, 3].iter().enumerate() {
            for j in 0..x[i].numel() {
                let mut at = |delta: f32| {
                    let mut d = x[i].data().to_vec();
                    d[j] += delta;
                    let moved = Tensor::from_parts(x[i].shape().to_vec(), d);
                    let saved = std::mem::replace(&mut x[i], moved);
                    let tape = Tape::new();
                    let v: Vec<Var> = x.iter().map(|t| tape.constant(t.clone())).collect();
                    let out = tape.value(loss(&tape, &v, true).unwrap()).unwrap().item().unwrap() as f64;
                    x[i] = saved;
                    out
                };
                let numeric = (at(eps) - at(-eps)) / (2.0 * eps as f64);
                let analytic = grads[k].data()[j] as f64;
                assert!(
                    (numeric - analytic).abs() <= 2e-3 * (1.0 + analytic.abs()),
                    "input {i} element {j}: finite difference {numeric} vs backward {analytic}"
                );
            }
        }
    }

    #[test]
    fn masked_positions_get_no_weight_and_bad_shapes_are_errors() {
        let x = inputs(1);
        let tape = Tape::new();
        let v: Vec<Var> = x.iter().map(|t| tape.constant(t.clone())).collect();
        let (_, grads) = run(true, &x);
        // Row 1's padded position (j = 2) gets no key or value gradient.
        assert!(grads[1].data()[(3 + 2) * 4..(3 + 3) * 4].iter().all(|&g| g == 0.0));
        assert!(grads[2].data()[(3 + 2) * 4..(3 + 3) * 4].iter().all(|&g| g == 0.0));
        assert!(tape.attention(v[0], v[1], v[0], v[3]).is_err());
        assert!(tape.attention(v[1], v[1], v[2], v[3]).is_err());
    }
}
