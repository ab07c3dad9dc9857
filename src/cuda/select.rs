//! `--device cpu|cuda|auto`: which backend a run uses, and why.
//!
//! `auto` takes the GPU when the driver loads, a GPU exists, NVRTC is
//! there to compile kernels and a tiny kernel launches and computes the
//! right answer; otherwise it falls back to the CPU with the reason.
//! `cuda` turns the same reason into an error. A `Backend::Cuda` carries
//! the opened GPU for the paths that use it (the character attack, on
//! `models::device`); the tape computes on the CPU in either case for now.
//! `Emulated` (the CLI's hidden `--device cuda-emulated`) opens the
//! emulated device instead, so that those paths run in tests without a GPU.

use std::sync::Arc;

use super::gpu::Gpu;
use super::ops::unary;
use super::{driver, nvrtc};
use crate::error::{Error, Result};

/// The user's choice.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DeviceChoice {
    Cpu,
    Cuda,
    #[default]
    Auto,
    /// The emulated device (`Gpu::emulated`): the GPU path on the CPU, for
    /// tests of its wiring (hidden from `--help`).
    Emulated,
}

/// What a run uses.
#[derive(Debug, Clone)]
pub enum Backend {
    /// `fallback`: why `auto` did not take a GPU (None when asked for the CPU).
    Cpu {
        fallback: Option<String>,
    },
    Cuda(Arc<Gpu>),
}

impl Backend {
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Cpu { .. } => "cpu",
            Backend::Cuda(_) => "cuda",
        }
    }

    pub fn gpu(&self) -> Option<&Arc<Gpu>> {
        match self {
            Backend::Cuda(g) => Some(g),
            Backend::Cpu { .. } => None,
        }
    }

    /// The line to show once when `auto` fell back to the CPU.
    pub fn fallback_note(&self) -> Option<String> {
        match self {
            Backend::Cpu { fallback: Some(reason) } => Some(format!("{reason}; using the CPU backend")),
            _ => None,
        }
    }
}

/// Resolves `choice`. Only `cuda` can fail.
pub fn select(choice: DeviceChoice) -> Result<Backend> {
    match choice {
        DeviceChoice::Cpu => Ok(Backend::Cpu { fallback: None }),
        DeviceChoice::Auto => Ok(match usable_gpu() {
            Ok(gpu) => Backend::Cuda(Arc::new(gpu)),
            Err(reason) => Backend::Cpu { fallback: Some(reason) },
        }),
        DeviceChoice::Emulated => Ok(Backend::Cuda(Arc::new(Gpu::emulated()?))),
        DeviceChoice::Cuda => {
            usable_gpu().map(|gpu| Backend::Cuda(Arc::new(gpu))).map_err(|reason| Error::CudaUnavailable {
                what: "--device cuda",
                reason: format!("{reason}; use --device auto or --device cpu to run on the CPU"),
            })
        }
    }
}

/// GPU 0 if it can run hotflip's kernels, else why not.
fn usable_gpu() -> std::result::Result<Gpu, String> {
    let status = driver::discover();
    if let Some(problem) = status.problem {
        return Err(problem);
    }
    if !nvrtc::available() {
        return Err(format!(
            "a GPU is present but NVRTC is not, so no kernel can be compiled ({})",
            nvrtc::unavailable_reason()
        ));
    }
    let gpu = Gpu::new(0).map_err(|e| e.to_string())?;
    smoke_test(&gpu).map_err(|e| format!("a test kernel failed on {}: {e}", gpu.info().name))?;
    Ok(gpu)
}

/// Compiles and launches one small kernel and checks its answer.
fn smoke_test(gpu: &Gpu) -> Result<()> {
    let x = gpu.upload(&[1.0f32, -2.0, 3.5])?;
    let mut y = gpu.filled(3, f32::NAN)?;
    unary::scale(gpu, &x, &mut y, 2.0)?;
    let got = gpu.download(&y)?;
    if got != [2.0, -4.0, 7.0] {
        return Err(Error::Cuda { op: "scale_f32", msg: format!("computed {got:?} instead of [2, -4, 7]") });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_is_always_available_and_auto_never_fails() {
        assert_eq!(select(DeviceChoice::Cpu).unwrap().name(), "cpu");
        assert!(select(DeviceChoice::Cpu).unwrap().fallback_note().is_none());
        let auto = select(DeviceChoice::Auto).unwrap();
        if !driver::library_present() {
            assert_eq!(auto.name(), "cpu");
            assert_eq!(
                auto.fallback_note().as_deref(),
                Some("no CUDA driver found (libcuda.so not loadable); using the CPU backend")
            );
            let e = select(DeviceChoice::Cuda).unwrap_err().to_string();
            assert!(e.contains("--device cuda") && e.contains("no CUDA driver found"), "{e}");
        }
    }
}
