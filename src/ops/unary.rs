//! Elementwise unary ops: tanh, sigmoid, relu, exp, log, neg, scale, square, sqrt.

use crate::error::Result;
use crate::ops::{cpu, fastmath};
use crate::tape::{Tape, Var};
use crate::tensor::Tensor;

/// Derivative rule: (input, output, dOutput) -> dInput.
type Deriv = fn(f32, f32, f32) -> f32;

impl Tape {
    fn unary(&self, op: &'static str, x: Var, f: impl Fn(f32) -> f32 + Sync, df: Deriv) -> Result<Var> {
        self.unary_slices(op, x, |a, o| o.iter_mut().zip(a).for_each(|(o, &x)| *o = f(x)), df)
    }

    /// Like `unary`, with the forward given as a slice kernel (the
    /// vectorised transcendental functions of `fastmath`).
    fn unary_slices(&self, op: &'static str, x: Var, f: impl Fn(&[f32], &mut [f32]) + Sync, df: Deriv) -> Result<Var> {
        let xv = self.value(x)?;
        let mut out = vec![0.0; xv.numel()];
        cpu::map_slices(xv.data(), &mut out, f);
        let y = Tensor::from_parts(xv.shape().to_vec(), out);
        let yv = y.clone();
        self.record(op, y, &[x], move |g, sink| {
            let mut gx = vec![0.0; g.numel()];
            cpu::zip3_map(xv.data(), yv.data(), g.data(), &mut gx, df);
            sink.add(x, Tensor::from_parts(g.shape().to_vec(), gx))
        })
    }

    pub fn tanh(&self, x: Var) -> Result<Var> {
        self.unary_slices("tanh", x, fastmath::tanh_slice, |_, y, g| g * (1.0 - y * y))
    }

    pub fn sigmoid(&self, x: Var) -> Result<Var> {
        self.unary_slices("sigmoid", x, fastmath::sigmoid_slice, |_, y, g| g * y * (1.0 - y))
    }

    pub fn relu(&self, x: Var) -> Result<Var> {
        self.unary("relu", x, |v| v.max(0.0), |x, _, g| if x > 0.0 { g } else { 0.0 })
    }

    pub fn exp(&self, x: Var) -> Result<Var> {
        self.unary_slices("exp", x, fastmath::exp_slice, |_, y, g| g * y)
    }

    /// Natural log; non-positive inputs give -inf/NaN as in IEEE arithmetic.
    pub fn log(&self, x: Var) -> Result<Var> {
        self.unary("log", x, f32::ln, |x, _, g| g / x)
    }

    pub fn neg(&self, x: Var) -> Result<Var> {
        self.unary("neg", x, |v| -v, |_, _, g| -g)
    }

    pub fn square(&self, x: Var) -> Result<Var> {
        self.unary("square", x, |v| v * v, |x, _, g| 2.0 * x * g)
    }

    pub fn sqrt(&self, x: Var) -> Result<Var> {
        self.unary("sqrt", x, f32::sqrt, |_, y, g| 0.5 * g / y)
    }

    /// `c * x` for a constant `c`.
    pub fn scale(&self, x: Var, c: f32) -> Result<Var> {
        let xv = self.value(x)?;
        let mut out = vec![0.0; xv.numel()];
        cpu::map(xv.data(), &mut out, |v| c * v);
        let y = Tensor::from_parts(xv.shape().to_vec(), out);
        self.record("scale", y, &[x], move |g, sink| {
            let mut gx = vec![0.0; g.numel()];
            cpu::map(g.data(), &mut gx, |v| c * v);
            sink.add(x, Tensor::from_parts(g.shape().to_vec(), gx))
        })
    }

    /// `x + c` for a constant `c`.
    pub fn add_scalar(&self, x: Var, c: f32) -> Result<Var> {
        let xv = self.value(x)?;
        let mut out = vec![0.0; xv.numel()];
        cpu::map(xv.data(), &mut out, |v| v + c);
        let y = Tensor::from_parts(xv.shape().to_vec(), out);
        self.record("add_scalar", y, &[x], move |g, sink| sink.add(x, g.clone()))
    }
}
