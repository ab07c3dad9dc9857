//! Differentiable ops. Each file keeps an op's forward, backward and CPU
//! kernel together; a CUDA kernel, where one exists, sits in
//! `kernels/<same stem>.cu`.

pub mod cpu;
pub mod fastmath;
pub mod gemm;
pub mod packed_gemm;

mod binary;
mod char_conv;
mod conv;
pub mod dropout;
mod embedding;
mod loss;
mod lstm;
mod matmul;
mod norm;
mod reduce;
mod shape;
mod unary;

pub use binary::{broadcast_shape, sum_to_shape};
pub use fastmath::sigmoid;
pub use lstm::LstmWeights;
