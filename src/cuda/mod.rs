//! The CUDA backend, phase 1: hand-written kernels (`kernels/*.cu`)
//! compiled at run time by NVRTC, typed launchers for each of them, and a
//! self-check that compares every kernel with its CPU twin on a real GPU.
//! The engine's tape still computes on the CPU; [`select()`] resolves
//! `--device` so that GPU paths can be added behind it.
//!
//! Everything loads CUDA at run time (cudarc's dynamic loading): a machine
//! without a driver runs the CPU backend, and a machine with NVRTC but no
//! GPU (CI) still compiles every kernel.
//!
//! - [`registry`]: the kernel files, generated from `kernels/` by build.rs
//! - [`nvrtc`], [`ptx_cache`], [`compile`]: kernel source to PTX, cached
//! - [`driver`]: is there a driver, which GPUs
//! - [`gpu`], [`buffer`], [`blas`], [`params`], [`launch`]: a context with
//!   its module cache, device buffers, cuBLAS GEMM, kernel parameter
//!   structs, a launch's arguments
//! - [`emu`]: the emulated device behind [`Gpu::emulated`] (the kernel
//!   sources run on the CPU), so that `cargo test` runs every launcher
//! - [`ops`]: one launcher module per kernel file, each with its self-check
//! - [`selfcheck`], [`twins`]: the comparison harness and the twins that
//!   are not engine code
//! - [`mod@select`]: `--device cpu|cuda|auto`
//! - [`report`]: what `hotflip device` prints

pub mod blas;
pub mod buffer;
pub mod compile;
pub mod driver;
pub mod emu;
pub mod gpu;
pub mod launch;
pub mod nvrtc;
pub mod ops;
pub mod params;
pub mod ptx_cache;
pub mod registry;
pub mod report;
pub mod select;
pub mod selfcheck;
pub mod twins;

pub use buffer::DeviceBuf;
pub use gpu::Gpu;
pub use registry::{k, KernelFile, KernelRef, KERNEL_FILES};
pub use select::{select, Backend, DeviceChoice};

use crate::error::{Error, Result};

/// Runs a call into cudarc, turning a panic into an error. cudarc panics
/// when a library or one of its symbols is missing (an older driver than
/// the CUDA 13.0 bindings expect); that must not take the process down.
pub(crate) fn guarded<T>(op: &'static str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        let msg = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "unknown panic".to_string());
        Err(Error::Cuda { op, msg: format!("cudarc panicked: {msg}") })
    })
}

/// A driver error with CUDA's own name and description.
pub(crate) fn driver_error(op: &'static str, e: cudarc::driver::DriverError) -> Error {
    let name = e.error_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|_| format!("{:?}", e.0));
    let text = e.error_string().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    Error::Cuda { op, msg: if text.is_empty() { name } else { format!("{name}: {text}") } }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guarded_turns_panics_into_errors() {
        let e = guarded::<()>("probe", || panic!("Missing symbol cuFoo")).unwrap_err().to_string();
        assert!(e.contains("probe") && e.contains("Missing symbol cuFoo"), "{e}");
        assert_eq!(guarded("ok", || Ok(3)).unwrap(), 3);
    }
}
