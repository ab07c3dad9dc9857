//! Elementwise unary ops: tanh, sigmoid, relu, exp, log, neg, scale, square, sqrt.

use crate::error::Result;
use crate::ops::cpu;
use crate::tape::{Tape, Var};
use crate::tensor::Tensor;

/// Derivative rule: (input, output, dOutput) -> dInput.
type Deriv = fn(f32, f32, f32) -> f32;

impl Tape {
    fn unary(&self, op: &'static str, x: Var, f: impl Fn(f32) -> f32 + Sync, df: Deriv) -> Result<Var> {
        let xv = self.value(x)?;
        let mut out = vec![0.0; xv.numel()];
        cpu::map(xv.data(), &mut out, f);
        let y = Tensor::from_parts(xv.shape().to_vec(), out);
        let yv = y.clone();
        self.record(op, y, &[x], move |g, sink| {
            let mut gx = vec![0.0; g.numel()];
            cpu::zip3_map(xv.data(), yv.data(), g.data(), &mut gx, df);
            sink.add(x, Tensor::from_parts(g.shape().to_vec(), gx))
        })
    }

    pub fn tanh(&self, x: Var) -> Result<Var> {
        self.unary("tanh", x, f32::tanh, tanh_grad)
    }

    pub fn sigmoid(&self, x: Var) -> Result<Var> {
        self.unary("sigmoid", x, sigmoid, sigmoid_grad)
    }

    pub fn relu(&self, x: Var) -> Result<Var> {
        self.unary("relu", x, relu, relu_grad)
    }

    pub fn exp(&self, x: Var) -> Result<Var> {
        self.unary("exp", x, f32::exp, exp_grad)
    }

    /// Natural log; non-positive inputs give -inf/NaN as in IEEE arithmetic.
    pub fn log(&self, x: Var) -> Result<Var> {
        self.unary("log", x, f32::ln, log_grad)
    }

    pub fn neg(&self, x: Var) -> Result<Var> {
        self.unary("neg", x, neg, neg_grad)
    }

    pub fn square(&self, x: Var) -> Result<Var> {
        self.unary("square", x, square, square_grad)
    }

    pub fn sqrt(&self, x: Var) -> Result<Var> {
        self.unary("sqrt", x, f32::sqrt, sqrt_grad)
    }

    /// `c * x` for a constant `c`.
    pub fn scale(&self, x: Var, c: f32) -> Result<Var> {
        let xv = self.value(x)?;
        let mut out = vec![0.0; xv.numel()];
        scale_values(xv.data(), c, &mut out);
        let y = Tensor::from_parts(xv.shape().to_vec(), out);
        self.record("scale", y, &[x], move |g, sink| {
            let mut gx = vec![0.0; g.numel()];
            scale_values(g.data(), c, &mut gx);
            sink.add(x, Tensor::from_parts(g.shape().to_vec(), gx))
        })
    }

    /// `x + c` for a constant `c`.
    pub fn add_scalar(&self, x: Var, c: f32) -> Result<Var> {
        let xv = self.value(x)?;
        let mut out = vec![0.0; xv.numel()];
        add_scalar_values(xv.data(), c, &mut out);
        let y = Tensor::from_parts(xv.shape().to_vec(), out);
        self.record("add_scalar", y, &[x], move |g, sink| sink.add(x, g.clone()))
    }
}

/// Overflow-safe logistic function.
pub fn sigmoid(v: f32) -> f32 {
    if v >= 0.0 {
        1.0 / (1.0 + (-v).exp())
    } else {
        let e = v.exp();
        e / (1.0 + e)
    }
}

// The elementwise rules, named so that the tape ops above and the CUDA
// self-check (kernels/unary.cu is their twin) run the very same functions.

fn tanh_grad(_: f32, y: f32, g: f32) -> f32 {
    g * (1.0 - y * y)
}

fn sigmoid_grad(_: f32, y: f32, g: f32) -> f32 {
    g * y * (1.0 - y)
}

fn relu(v: f32) -> f32 {
    v.max(0.0)
}

fn relu_grad(x: f32, _: f32, g: f32) -> f32 {
    if x > 0.0 {
        g
    } else {
        0.0
    }
}

fn exp_grad(_: f32, y: f32, g: f32) -> f32 {
    g * y
}

fn log_grad(x: f32, _: f32, g: f32) -> f32 {
    g / x
}

fn neg(v: f32) -> f32 {
    -v
}

fn neg_grad(_: f32, _: f32, g: f32) -> f32 {
    -g
}

fn square(v: f32) -> f32 {
    v * v
}

fn square_grad(x: f32, _: f32, g: f32) -> f32 {
    2.0 * x * g
}

fn sqrt_grad(_: f32, y: f32, g: f32) -> f32 {
    0.5 * g / y
}

/// `out = c * x` (`Tape::scale`, forward and backward).
pub(crate) fn scale_values(x: &[f32], c: f32, out: &mut [f32]) {
    cpu::map(x, out, |v| c * v);
}

/// `out = x + c` (`Tape::add_scalar`).
pub(crate) fn add_scalar_values(x: &[f32], c: f32, out: &mut [f32]) {
    cpu::map(x, out, |v| v + c);
}

/// The unary ops that have a CUDA twin, named as their kernels
/// (`<name>_fwd_f32`, `<name>_bwd_f32`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unary {
    Tanh,
    Sigmoid,
    Relu,
    Exp,
    Log,
    Neg,
    Square,
    Sqrt,
}

impl Unary {
    pub const ALL: [Unary; 8] =
        [Unary::Tanh, Unary::Sigmoid, Unary::Relu, Unary::Exp, Unary::Log, Unary::Neg, Unary::Square, Unary::Sqrt];

    pub fn name(self) -> &'static str {
        match self {
            Unary::Tanh => "tanh",
            Unary::Sigmoid => "sigmoid",
            Unary::Relu => "relu",
            Unary::Exp => "exp",
            Unary::Log => "log",
            Unary::Neg => "neg",
            Unary::Square => "square",
            Unary::Sqrt => "sqrt",
        }
    }

    fn rules(self) -> (fn(f32) -> f32, Deriv) {
        match self {
            Unary::Tanh => (f32::tanh, tanh_grad),
            Unary::Sigmoid => (sigmoid, sigmoid_grad),
            Unary::Relu => (relu, relu_grad),
            Unary::Exp => (f32::exp, exp_grad),
            Unary::Log => (f32::ln, log_grad),
            Unary::Neg => (neg, neg_grad),
            Unary::Square => (square, square_grad),
            Unary::Sqrt => (f32::sqrt, sqrt_grad),
        }
    }
}

/// `out = op(x)`, as the tape op computes it.
pub(crate) fn unary_forward(op: Unary, x: &[f32], out: &mut [f32]) {
    cpu::map(x, out, op.rules().0);
}

/// `gx = op'(x, y) · g`, as the tape op's backward computes it.
pub(crate) fn unary_backward(op: Unary, x: &[f32], y: &[f32], g: &[f32], gx: &mut [f32]) {
    cpu::zip3_map(x, y, g, gx, op.rules().1);
}
