//! Elementwise unary ops: tanh, sigmoid, relu, exp, log, neg, scale, square, sqrt.
//!
//! Each op's forward and derivative are named functions (`Unary::forward`,
//! `Unary::deriv`) so that the tape op and the CUDA self-check
//! (kernels/unary.cu is their twin) run the very same code. tanh, sigmoid
//! and exp go through `fastmath`'s vectorised slice kernels.

use crate::error::Result;
use crate::ops::{cpu, fastmath};
use crate::pool::Buf;
use crate::tape::{Tape, Var};
use crate::tensor::Tensor;

/// Derivative rule: (input, output, dOutput) -> dInput.
type Deriv = fn(f32, f32, f32) -> f32;

/// The unary ops that have a CUDA twin, named as their kernels
/// (`<name>_fwd_f32`, `<name>_bwd_f32`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unary {
    /// tanh x (fast vectorised form; see `fastmath`).
    Tanh,
    /// 1 / (1 + e^{−x}).
    Sigmoid,
    /// max(x, 0); derivative 0 at x = 0.
    Relu,
    /// e^x, clamped to x ∈ [−87.3, 88].
    Exp,
    /// ln x; derivative 1/x.
    Log,
    /// −x.
    Neg,
    /// x².
    Square,
    /// √x; derivative 1/(2√x), infinite at 0.
    Sqrt,
}

impl Unary {
    /// Every op, for the CUDA self-check that compares each with its kernel.
    pub const ALL: [Unary; 8] =
        [Unary::Tanh, Unary::Sigmoid, Unary::Relu, Unary::Exp, Unary::Log, Unary::Neg, Unary::Square, Unary::Sqrt];

    /// The tape name and kernel stem (`<name>_fwd_f32`, `<name>_bwd_f32`).
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

    /// `out = op(x)` over one slice (no threading).
    fn forward(self, x: &[f32], out: &mut [f32]) {
        let each = |f: fn(f32) -> f32, out: &mut [f32]| out.iter_mut().zip(x).for_each(|(o, &v)| *o = f(v));
        match self {
            Unary::Tanh => fastmath::tanh_slice(x, out),
            Unary::Sigmoid => fastmath::sigmoid_slice(x, out),
            Unary::Exp => fastmath::exp_slice(x, out),
            Unary::Relu => each(|v| v.max(0.0), out),
            Unary::Log => each(f32::ln, out),
            Unary::Neg => each(|v| -v, out),
            Unary::Square => each(|v| v * v, out),
            Unary::Sqrt => each(f32::sqrt, out),
        }
    }

    fn deriv(self) -> Deriv {
        match self {
            Unary::Tanh => |_, y, g| g * (1.0 - y * y),
            Unary::Sigmoid => |_, y, g| g * y * (1.0 - y),
            Unary::Relu => |x, _, g| if x > 0.0 { g } else { 0.0 },
            Unary::Exp => |_, y, g| g * y,
            Unary::Log => |x, _, g| g / x,
            Unary::Neg => |_, _, g| -g,
            Unary::Square => |x, _, g| 2.0 * x * g,
            Unary::Sqrt => |_, y, g| 0.5 * g / y,
        }
    }
}

/// `out = op(x)`, as the tape op computes it.
pub(crate) fn unary_forward(op: Unary, x: &[f32], out: &mut [f32]) {
    cpu::map_slices(x, out, |a, o| op.forward(a, o));
}

/// `gx = op'(x, y) · g`, as the tape op's backward computes it.
pub(crate) fn unary_backward(op: Unary, x: &[f32], y: &[f32], g: &[f32], gx: &mut [f32]) {
    cpu::zip3_map(x, y, g, gx, op.deriv());
}

/// `out = c * x` (`Tape::scale`, forward and backward).
pub(crate) fn scale_values(x: &[f32], c: f32, out: &mut [f32]) {
    cpu::map(x, out, |v| c * v);
}

/// `out = x + c` (`Tape::add_scalar`).
pub(crate) fn add_scalar_values(x: &[f32], c: f32, out: &mut [f32]) {
    cpu::map(x, out, |v| v + c);
}

impl Tape {
    fn unary(&self, op: Unary, x: Var) -> Result<Var> {
        let xv = self.value(x)?;
        let mut out = Buf::scratch(xv.numel());
        unary_forward(op, xv.data(), &mut out);
        let y = Tensor::from_parts(xv.shape().to_vec(), out);
        let yv = y.clone();
        self.record(op.name(), y, &[x], move |g, sink| {
            let mut gx = Buf::scratch(g.numel());
            unary_backward(op, xv.data(), yv.data(), g.data(), &mut gx);
            sink.add(x, Tensor::from_parts(g.shape().to_vec(), gx))
        })
    }

    /// Elementwise tanh (within a few 1e-7 of libm; see `fastmath`).
    pub fn tanh(&self, x: Var) -> Result<Var> {
        self.unary(Unary::Tanh, x)
    }

    /// Elementwise logistic sigmoid, in (0, 1).
    pub fn sigmoid(&self, x: Var) -> Result<Var> {
        self.unary(Unary::Sigmoid, x)
    }

    /// Elementwise max(x, 0); the gradient is 0 at x = 0.
    pub fn relu(&self, x: Var) -> Result<Var> {
        self.unary(Unary::Relu, x)
    }

    /// Elementwise e^x, with x clamped to [−87.3, 88] so the result stays a
    /// finite normal f32.
    pub fn exp(&self, x: Var) -> Result<Var> {
        self.unary(Unary::Exp, x)
    }

    /// Natural log; non-positive inputs give -inf/NaN as in IEEE arithmetic.
    pub fn log(&self, x: Var) -> Result<Var> {
        self.unary(Unary::Log, x)
    }

    /// Elementwise −x.
    pub fn neg(&self, x: Var) -> Result<Var> {
        self.unary(Unary::Neg, x)
    }

    /// Elementwise x².
    pub fn square(&self, x: Var) -> Result<Var> {
        self.unary(Unary::Square, x)
    }

    /// Elementwise √x; negative inputs give NaN and the gradient at 0 is
    /// infinite, so add an ε first where zeros can occur (as norms do).
    pub fn sqrt(&self, x: Var) -> Result<Var> {
        self.unary(Unary::Sqrt, x)
    }

    /// `c * x` for a constant `c`.
    pub fn scale(&self, x: Var, c: f32) -> Result<Var> {
        let xv = self.value(x)?;
        let mut out = Buf::scratch(xv.numel());
        scale_values(xv.data(), c, &mut out);
        let y = Tensor::from_parts(xv.shape().to_vec(), out);
        self.record("scale", y, &[x], move |g, sink| {
            let mut gx = Buf::scratch(g.numel());
            scale_values(g.data(), c, &mut gx);
            sink.add(x, Tensor::from_parts(g.shape().to_vec(), gx))
        })
    }

    /// `x + c` for a constant `c`.
    pub fn add_scalar(&self, x: Var, c: f32) -> Result<Var> {
        let xv = self.value(x)?;
        let mut out = Buf::scratch(xv.numel());
        add_scalar_values(xv.data(), c, &mut out);
        let y = Tensor::from_parts(xv.shape().to_vec(), out);
        self.record("add_scalar", y, &[x], move |g, sink| sink.add(x, g.clone()))
    }
}
