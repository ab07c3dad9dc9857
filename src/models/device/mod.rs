//! Models on a `backend::Device`: the forward pass, the input gradient and
//! the weights' gradients built from the device's coarse primitives
//! (char-CNN features, LSTM layer, linear, cross-entropy, dropout,
//! elementwise), with the weights uploaded once and every intermediate left
//! on the device. On the `CpuDevice` the same code runs the tape's own ops;
//! on a `CudaDevice` (a GPU, or the emulated device in `cargo test`) the
//! kernels of `kernels/`.
//!
//! `char_cnn_lstm` only so far: evaluation (log-probabilities and the
//! gradient of a weighted cross-entropy with respect to the character
//! embeddings, for the attack) and training (`train_grads`: the mean loss
//! and every weight's gradient, for `train::device_step`).

mod char_cnn_lstm;
mod train;

pub use char_cnn_lstm::{DeviceCharCnnLstm, DeviceEval};
pub use train::DeviceGrads;
