//! Models on a `backend::Device`: the forward pass and the input gradient
//! built from the device's coarse primitives (char-CNN features, LSTM
//! layer, linear, cross-entropy, elementwise), with the weights uploaded
//! once and every intermediate left on the device. On the `CpuDevice` the
//! same code runs the tape's own ops; on a `CudaDevice` (a GPU, or the
//! emulated device in `cargo test`) the kernels of `kernels/`.
//!
//! Only what the attack needs so far: `char_cnn_lstm` in evaluation mode
//! (no dropout), logits' log-softmax and the gradient of a weighted
//! cross-entropy with respect to the character embeddings. Training on the
//! device would add the weights' gradients (the primitives return them)
//! and Adam (`Device::adam`).

mod char_cnn_lstm;

pub use char_cnn_lstm::{DeviceCharCnnLstm, DeviceEval};
