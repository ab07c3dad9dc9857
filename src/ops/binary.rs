//! Broadcasting binary ops: add, sub, mul, div (NumPy rules: shapes are
//! right-aligned, and a dimension of size 1 stretches).

use crate::error::{Error, Result};
use crate::ops::cpu;
use crate::pool::Buf;
use crate::tape::{Tape, Var};
use crate::tensor::{numel, Tensor};

/// The four broadcasting binary ops (`hotflip::ops::BinaryKind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `a + b`.
    Add,
    /// `a − b`.
    Sub,
    /// `a · b`.
    Mul,
    /// `a / b`; IEEE semantics, so division by 0 gives ±∞ or NaN, not an error.
    Div,
}

impl Kind {
    /// Every kind, for tests and kernel self-checks that cover them all.
    pub const ALL: [Kind; 4] = [Kind::Add, Kind::Sub, Kind::Mul, Kind::Div];

    /// The op name recorded on the tape and used in errors and kernel names.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Add => "add",
            Kind::Sub => "sub",
            Kind::Mul => "mul",
            Kind::Div => "div",
        }
    }

    /// The scalar forward rule, shared by the CPU op and the CUDA twin checks.
    pub fn apply(self, a: f32, b: f32) -> f32 {
        match self {
            Kind::Add => a + b,
            Kind::Sub => a - b,
            Kind::Mul => a * b,
            Kind::Div => a / b,
        }
    }
}

/// The broadcast shape of `a` and `b`, or an error naming both.
pub fn broadcast_shape(op: &'static str, a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    let r = a.len().max(b.len());
    let mut out = vec![0; r];
    for i in 0..r {
        let da = if i < r - a.len() { 1 } else { a[i - (r - a.len())] };
        let db = if i < r - b.len() { 1 } else { b[i - (r - b.len())] };
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return Err(Error::shapes(op, a, b)),
        };
    }
    Ok(out)
}

/// Element strides of `shape` laid out inside `out` (0 where broadcast).
pub(crate) fn strides_in(shape: &[usize], out: &[usize]) -> Vec<usize> {
    let pad = out.len() - shape.len();
    let mut strides = vec![0; out.len()];
    let mut s = 1;
    for i in (0..shape.len()).rev() {
        strides[i + pad] = if shape[i] == 1 { 0 } else { s };
        s *= shape[i];
    }
    strides
}

/// Offset in a broadcast operand of the first element of output row `row`
/// (a row = all dimensions but the last).
fn row_offset(row: usize, out: &[usize], strides: &[usize]) -> usize {
    let mut rem = row;
    let mut off = 0;
    for d in (0..out.len().saturating_sub(1)).rev() {
        off += (rem % out[d]) * strides[d];
        rem /= out[d];
    }
    off
}

/// `out = f(a, b)` with broadcasting (the CPU twin of kernels/binary.cu).
pub(crate) fn broadcast_map(
    a: &Tensor,
    b: &Tensor,
    out_shape: &[usize],
    f: impl Fn(f32, f32) -> f32 + Sync,
) -> Vec<f32> {
    broadcast_buf(a, b, out_shape, f).into_vec()
}

/// [`broadcast_map`] into a pooled buffer (every element is written).
fn broadcast_buf(a: &Tensor, b: &Tensor, out_shape: &[usize], f: impl Fn(f32, f32) -> f32 + Sync) -> Buf {
    let n = numel(out_shape);
    let mut out = Buf::scratch(n);
    if a.shape() == b.shape() {
        cpu::zip_map(a.data(), b.data(), &mut out, f);
        return out;
    }
    let width = *out_shape.last().unwrap_or(&1);
    let (sa, sb) = (strides_in(a.shape(), out_shape), strides_in(b.shape(), out_shape));
    let (la, lb) = (*sa.last().unwrap_or(&0), *sb.last().unwrap_or(&0));
    let (ad, bd) = (a.data(), b.data());
    cpu::for_rows(&mut out, width, |row, o| {
        let (oa, ob) = (row_offset(row, out_shape, &sa), row_offset(row, out_shape, &sb));
        for (j, o) in o.iter_mut().enumerate() {
            *o = f(ad[oa + j * la], bd[ob + j * lb]);
        }
    });
    out
}

/// Sums `g` (of the broadcast shape) down to `shape`, in a fixed order.
pub fn sum_to_shape(g: &Tensor, shape: &[usize]) -> Tensor {
    if g.shape() == shape {
        return g.clone();
    }
    let out_shape = g.shape();
    let mut out = vec![0.0f32; numel(shape)];
    let strides = strides_in(shape, out_shape);
    let width = *out_shape.last().unwrap_or(&1);
    let last = *strides.last().unwrap_or(&0);
    // Common case (bias of a batched linear): target is a suffix of the rows.
    if width > 0 && numel(shape) == width && last == 1 {
        return Tensor::from_parts(shape.to_vec(), cpu::col_sums(g.data(), width));
    }
    for (row, gr) in g.data().chunks(width.max(1)).enumerate() {
        let off = row_offset(row, out_shape, &strides);
        for (j, &v) in gr.iter().enumerate() {
            out[off + j * last] += v;
        }
    }
    Tensor::from_parts(shape.to_vec(), out)
}

impl Tape {
    fn binary(&self, kind: Kind, a: Var, b: Var) -> Result<Var> {
        let (av, bv) = (self.value(a)?, self.value(b)?);
        let shape = broadcast_shape(kind.name(), av.shape(), bv.shape())?;
        let y = Tensor::from_parts(shape.clone(), broadcast_buf(&av, &bv, &shape, |x, y| kind.apply(x, y)));
        self.record(kind.name(), y, &[a, b], move |g, sink| {
            let gshape = g.shape().to_vec();
            if sink.wants(a) {
                let ga = match kind {
                    Kind::Add | Kind::Sub => g.clone(),
                    Kind::Mul => Tensor::from_parts(gshape.clone(), broadcast_buf(g, &bv, &gshape, |g, y| g * y)),
                    Kind::Div => Tensor::from_parts(gshape.clone(), broadcast_buf(g, &bv, &gshape, |g, y| g / y)),
                };
                sink.add(a, sum_to_shape(&ga, av.shape()))?;
            }
            if sink.wants(b) {
                let gb = match kind {
                    Kind::Add => g.clone(),
                    Kind::Sub => {
                        let mut v = Buf::scratch(g.numel());
                        cpu::map(g.data(), &mut v, |x| -x);
                        Tensor::from_parts(gshape.clone(), v)
                    }
                    Kind::Mul => Tensor::from_parts(gshape.clone(), broadcast_buf(g, &av, &gshape, |g, x| g * x)),
                    Kind::Div => {
                        // d(a/b)/db = -a/b^2 = -(a/b)/b
                        let q = Tensor::from_parts(gshape.clone(), broadcast_buf(&av, &bv, &gshape, |x, y| x / y));
                        let gq = Tensor::from_parts(gshape.clone(), broadcast_buf(g, &q, &gshape, |g, q| g * q));
                        Tensor::from_parts(gshape.clone(), broadcast_buf(&gq, &bv, &gshape, |gq, y| -gq / y))
                    }
                };
                sink.add(b, sum_to_shape(&gb, bv.shape()))?;
            }
            Ok(())
        })
    }

    /// `a + b` with broadcasting; the gradient of a stretched operand is
    /// summed back to its own shape. An error if the shapes do not broadcast.
    pub fn add(&self, a: Var, b: Var) -> Result<Var> {
        self.binary(Kind::Add, a, b)
    }

    /// `a − b` with broadcasting (see [`Tape::add`]).
    pub fn sub(&self, a: Var, b: Var) -> Result<Var> {
        self.binary(Kind::Sub, a, b)
    }

    /// Elementwise `a · b` with broadcasting (not a matrix product; see
    /// [`Tape::add`] for the rules).
    pub fn mul(&self, a: Var, b: Var) -> Result<Var> {
        self.binary(Kind::Mul, a, b)
    }

    /// Elementwise `a / b` with broadcasting; zeros in `b` give ±∞/NaN, not an
    /// error.
    pub fn div(&self, a: Var, b: Var) -> Result<Var> {
        self.binary(Kind::Div, a, b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_rules() {
        assert_eq!(broadcast_shape("t", &[4, 1, 3], &[5, 1]).unwrap(), vec![4, 5, 3]);
        let e = broadcast_shape("add", &[2, 3], &[4]).unwrap_err().to_string();
        assert!(e.contains("add") && e.contains("[2, 3]") && e.contains("[4]"), "{e}");
    }

    #[test]
    fn sum_to_shape_inverts_broadcast() {
        let g = Tensor::new(&[2, 3], vec![1., 2., 3., 4., 5., 6.]).unwrap();
        assert_eq!(sum_to_shape(&g, &[3]).data(), &[5., 7., 9.]);
        assert_eq!(sum_to_shape(&g, &[2, 1]).data(), &[6., 15.]);
        assert_eq!(sum_to_shape(&g, &[1, 1]).data(), &[21.]);
    }
}
