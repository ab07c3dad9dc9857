//! The engine's device seam: a narrow interface of coarse, fused primitives
//! (after candle's `BackendDevice`/`BackendStorage` and dfdx's per-op
//! `cpu_kernel`/`cuda_kernel` split), with storage that lives on the CPU
//! or on a device.
//!
//! - [`Storage`]: f32 values on the host (`Cpu`) or in a device buffer
//!   (`Cuda`, on a GPU or on the emulated device).
//! - [`Device`]: the primitives. [`CpuDevice`] (the default) runs the CPU
//!   kernels the tape's ops use; [`CudaDevice`] runs the launchers of
//!   `cuda::ops`, so values stay on the device between primitives and only
//!   what a caller asks for comes back.
//! - `CudaDevice::new(Arc::new(Gpu::emulated()?))` is the same code on the
//!   emulated device: the kernels' sources run on the CPU, so the device
//!   side's buffers and launches are tested in `cargo test` without a GPU
//!   (tests/backend_seam.rs compares every primitive with the CPU device).
//!
//! What it is not (yet): the tape still records `Tensor`s (host `Vec<f32>`)
//! and calls the CPU kernels directly; moving the tape onto `Storage` is the
//! next step. The LSTM layer and the fused char-CNN features are not in the
//! interface yet (their kernels — `lstm_cell_*`, `im2col`/`col2im` plus
//! GEMM — are checked against their twins in tests/kernels_emu.rs).
//!
//! Nothing here imports `attack`, `adv` or `train`.

mod cpu;
mod cuda;

pub use cpu::CpuDevice;
pub use cuda::CudaDevice;

use crate::cuda::buffer::DeviceBuf;
use crate::cuda::params::AdamParams;
use crate::error::{Error, Result};

/// f32 values, on the host or on a device.
pub enum Storage {
    /// Host memory.
    Cpu(Vec<f32>),
    /// Device memory of a GPU.
    Cuda(DeviceBuf<f32>),
}

impl Storage {
    /// Values held.
    pub fn len(&self) -> usize {
        match self {
            Storage::Cpu(v) => v.len(),
            Storage::Cuda(b) => b.len(),
        }
    }

    /// Whether no value is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Where the values live: `"cpu"` or `"cuda"`, for error messages.
    pub fn location(&self) -> &'static str {
        match self {
            Storage::Cpu(_) => "cpu",
            Storage::Cuda(_) => "cuda",
        }
    }
}

/// A matrix product's operands: `a [m, k]` (or its transpose stored as
/// `[k, m]` when `ta`), `b [k, n]` (or stored `[n, k]` when `tb`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gemm {
    /// Rows of the product.
    pub m: usize,
    /// The contracted dimension.
    pub k: usize,
    /// Columns of the product.
    pub n: usize,
    /// `a` is stored transposed.
    pub ta: bool,
    /// `b` is stored transposed.
    pub tb: bool,
}

/// The primitives. Every method checks its lengths and returns an error
/// naming the primitive for storage of another device or a wrong size.
pub trait Device: Send + Sync {
    /// The backend's name for reports (`cpu`, or `cuda` and whether emulated).
    fn name(&self) -> &'static str;

    /// Host values onto this device.
    fn upload(&self, host: &[f32]) -> Result<Storage>;
    /// Values back to the host.
    fn to_host(&self, s: &Storage) -> Result<Vec<f32>>;

    /// `c = op(a)·op(b)`, `[m, n]`.
    fn gemm(&self, a: &Storage, b: &Storage, g: Gemm) -> Result<Storage>;

    /// Rows of `weight [vocab, dim]` at `ids` (each below `vocab`): `[N, dim]`.
    fn embedding_fwd(&self, weight: &Storage, vocab: usize, dim: usize, ids: &[usize]) -> Result<Storage>;
    /// dLoss/dweight `[vocab, dim]` from `g [N, dim]`: each row sums its
    /// positions in order; the padding row stays 0.
    fn embedding_bwd(
        &self,
        g: &Storage,
        vocab: usize,
        dim: usize,
        ids: &[usize],
        padding: Option<usize>,
    ) -> Result<Storage>;

    /// Fused log-softmax and weighted cross-entropy of `logits [rows, c]`:
    /// (log-softmax `[rows, c]`, per-row loss `[rows]`).
    fn cross_entropy(
        &self,
        logits: &Storage,
        c: usize,
        targets: &[usize],
        weights: &[f32],
    ) -> Result<(Storage, Storage)>;
    /// dLoss/dlogits from the saved log-softmax; `g` one value if `reduce`, else one per row.
    fn cross_entropy_bwd(
        &self,
        ls: &Storage,
        c: usize,
        targets: &[usize],
        weights: &[f32],
        g: &Storage,
        reduce: bool,
    ) -> Result<Storage>;

    /// Inverted dropout with the mask of (seed, p) (`ops::dropout::keep`).
    fn dropout(&self, x: &Storage, p: f32, seed: u64) -> Result<Storage>;

    /// The sum of every value, accumulated in f64.
    fn sum(&self, x: &Storage) -> Result<f32>;

    /// One Adam/AdamW step, in place.
    fn adam(&self, p: &AdamParams, param: &mut Storage, grad: &Storage, m: &mut Storage, v: &mut Storage)
        -> Result<()>;
}

pub(crate) fn wrong_place(op: &'static str, s: &Storage, device: &str) -> Error {
    Error::invalid(op, format!("a {} value passed to the {device} device", s.location()))
}

pub(crate) fn expect_len(op: &'static str, what: &str, got: usize, want: usize) -> Result<()> {
    if got != want {
        return Err(Error::invalid(op, format!("{what} holds {got} values, {want} expected")));
    }
    Ok(())
}

fn check_ids(op: &'static str, ids: &[usize], bound: usize) -> Result<()> {
    match ids.iter().find(|&&i| i >= bound) {
        Some(&bad) => Err(Error::IndexOutOfRange { op, index: bad, size: bound }),
        None => Ok(()),
    }
}
