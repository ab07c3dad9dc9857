//! Differentiable ops. Each file keeps an op's forward, backward and CPU
//! kernel together; a CUDA kernel, where one exists, sits in
//! `kernels/<same stem>.cu`.

pub use crate::cpu;
pub mod bf16;
pub mod fastmath;
pub mod gemm;
pub mod neighbours;
pub mod packed_gemm;

mod attention;
pub(crate) mod binary;
mod char_conv;
pub(crate) mod conv;
pub mod dropout;
pub(crate) mod embedding;
pub(crate) mod loss;
pub(crate) mod lstm;
mod lstm_cell;
mod lstm_gates;
mod lstm_step;
mod matmul;
mod norm;
pub(crate) mod reduce;
mod shape;
pub(crate) mod unary;

pub use binary::{broadcast_shape, sum_to_shape, Kind as BinaryKind};
pub use fastmath::sigmoid;
pub use lstm::LstmWeights;
pub use lstm_gates::GateWeights;
pub use unary::Unary;
