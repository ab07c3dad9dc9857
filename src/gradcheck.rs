//! Finite-difference gradient checking.
//!
//! The CPU kernels compute in f32, so the check is tuned for f32: a value
//! carries ~6e-8 relative rounding error, central differences with step h
//! have truncation error O(h²·f''') and rounding error O(6e-8·|L|/h). With
//! h = 1e-2 on O(1) losses both stay near 1e-4, so the default tolerance
//! (|a − n| ≤ 2e-3 + 2e-2·max(|a|, |n|)) leaves a wide margin, while a wrong
//! backward rule (a sign, a missing term, a transposed index) is off by O(1).
//! The unit test at the bottom shows that a subtly wrong rule does fail.

use crate::error::{Error, Result};
use crate::rng::Rng;
use crate::tape::{Tape, Var};
use crate::tensor::Tensor;

#[derive(Clone, Copy, Debug)]
pub struct Tolerance {
    pub step: f32,
    pub atol: f32,
    pub rtol: f32,
    /// Check at most this many elements per input (chosen at random, seeded).
    pub max_elems: usize,
}

impl Default for Tolerance {
    fn default() -> Self {
        Tolerance { step: 1e-2, atol: 2e-3, rtol: 2e-2, max_elems: 64 }
    }
}

/// Outcome of a check: the worst element.
#[derive(Clone, Debug)]
pub struct Report {
    pub checked: usize,
    pub worst_input: usize,
    pub worst_index: usize,
    pub analytic: f32,
    pub numeric: f32,
    /// |a − n| / (atol + rtol·max(|a|, |n|)); ≤ 1 passes.
    pub worst_ratio: f32,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.worst_ratio <= 1.0
    }
}

/// Compares the tape's gradient of `f` at `inputs` with central differences.
/// `f` must build a scalar from the input vars, deterministically.
pub fn check<F>(inputs: &[Tensor], tol: Tolerance, f: F) -> Result<Report>
where
    F: Fn(&Tape, &[Var]) -> Result<Var>,
{
    let tape = Tape::new();
    let vars: Vec<Var> = inputs.iter().map(|t| tape.leaf(t.clone())).collect();
    let loss = f(&tape, &vars)?;
    let grads = tape.backward(loss)?;
    let analytic: Vec<Tensor> = vars
        .iter()
        .zip(inputs)
        .map(|(&v, t)| grads.get(v).cloned().unwrap_or_else(|| Tensor::zeros(t.shape())))
        .collect();

    let eval = |xs: &[Tensor]| -> Result<f64> {
        let tape = Tape::no_grad();
        let vars: Vec<Var> = xs.iter().map(|t| tape.constant(t.clone())).collect();
        let l = f(&tape, &vars)?;
        Ok(tape.value(l)?.item()? as f64)
    };

    let mut rng = Rng::new(0x6772_6164);
    let mut report =
        Report { checked: 0, worst_input: 0, worst_index: 0, analytic: 0.0, numeric: 0.0, worst_ratio: 0.0 };
    let mut xs = inputs.to_vec();
    for i in 0..inputs.len() {
        let n = inputs[i].numel();
        let mut idx: Vec<usize> = (0..n).collect();
        if n > tol.max_elems {
            rng.shuffle(&mut idx);
            idx.truncate(tol.max_elems);
        }
        for &j in &idx {
            let x0 = inputs[i].data()[j];
            xs[i].data_mut()[j] = x0 + tol.step;
            let up = eval(&xs)?;
            xs[i].data_mut()[j] = x0 - tol.step;
            let down = eval(&xs)?;
            xs[i].data_mut()[j] = x0;
            let numeric = ((up - down) / (2.0 * tol.step as f64)) as f32;
            let a = analytic[i].data()[j];
            let ratio = (a - numeric).abs() / (tol.atol + tol.rtol * a.abs().max(numeric.abs()));
            report.checked += 1;
            // A NaN ratio (a NaN gradient) must count as the worst.
            if ratio.is_nan() || ratio > report.worst_ratio {
                report = Report { worst_input: i, worst_index: j, analytic: a, numeric, worst_ratio: ratio, ..report };
            }
        }
    }
    Ok(report)
}

/// Like `check`, but an error describing the worst element if it fails.
pub fn assert_grads<F>(name: &str, inputs: &[Tensor], tol: Tolerance, f: F) -> Result<Report>
where
    F: Fn(&Tape, &[Var]) -> Result<Var>,
{
    let r = check(inputs, tol, f)?;
    if !r.passed() {
        return Err(Error::Backward(format!(
            "gradient check `{name}` failed: input {} element {}: analytic {} vs numeric {} ({}x the tolerance)",
            r.worst_input, r.worst_index, r.analytic, r.numeric, r.worst_ratio
        )));
    }
    Ok(r)
}

/// A scalar probe `Σ y ⊙ R` with fixed random `R`, so that every element of
/// an op's output (and every path of its backward) is weighted differently.
pub fn probe(tape: &Tape, y: Var, seed: u64) -> Result<Var> {
    let shape = tape.shape(y)?;
    let r = tape.constant(Tensor::randn(&shape, 1.0, &mut Rng::new(seed)));
    let p = tape.mul(y, r)?;
    tape.sum(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs() -> Vec<Tensor> {
        vec![Tensor::randn(&[3, 4], 1.0, &mut Rng::new(1))]
    }

    #[test]
    fn correct_rule_passes() {
        let r = check(&inputs(), Tolerance::default(), |t, v| {
            let y = t.tanh(v[0])?;
            probe(t, y, 9)
        })
        .unwrap();
        assert!(r.passed(), "{r:?}");
        assert_eq!(r.checked, 12);
    }

    #[test]
    fn subtly_wrong_rule_fails() {
        // tanh with a backward that is 5% too large: the check must notice.
        let r = check(&inputs(), Tolerance::default(), |t, v| {
            let xv = t.value(v[0])?;
            let yv = Tensor::new(xv.shape(), xv.data().iter().map(|x| x.tanh()).collect())?;
            let yc = yv.clone();
            let x = v[0];
            let y = t.record("bad_tanh", yv, &[x], move |g, sink| {
                let gx = g.data().iter().zip(yc.data()).map(|(g, y)| 1.05 * g * (1.0 - y * y)).collect();
                sink.add(x, Tensor::new(g.shape(), gx)?)
            })?;
            probe(t, y, 9)
        })
        .unwrap();
        assert!(!r.passed(), "a 5% error went unnoticed: {r:?}");
    }

    #[test]
    fn too_small_a_step_fails_in_f32() {
        // tinygrad's lesson: in f32, a step of 1e-6 drowns in rounding, so a
        // tolerance that passes there would be meaningless.
        let tol = Tolerance { step: 1e-6, ..Tolerance::default() };
        let r = check(&inputs(), tol, |t, v| {
            let y = t.tanh(v[0])?;
            let y = t.scale(y, 100.0)?;
            probe(t, y, 9)
        })
        .unwrap();
        assert!(!r.passed(), "{r:?}");
    }
}
