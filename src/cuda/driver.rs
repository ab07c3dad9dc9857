//! Device discovery: is the CUDA driver there, which version, which GPUs.
//!
//! Nothing here creates a context or needs NVRTC. cudarc panics if libcuda
//! is missing, so [`library_present`] is checked before any driver call, and
//! every call runs under `cuda::guarded` in case an old driver lacks a symbol.

use std::sync::OnceLock;

use cudarc::driver::{result, sys};
use serde::Serialize;

use super::{driver_error, guarded};
use crate::error::Result;

/// One GPU as the driver describes it.
#[derive(Debug, Clone, Serialize)]
pub struct GpuInfo {
    pub ordinal: usize,
    pub name: String,
    /// `"9.0"`.
    pub compute_capability: String,
    #[serde(skip)]
    pub cc: (i32, i32),
    pub memory_bytes: u64,
}

/// What discovery found.
#[derive(Debug, Clone)]
pub struct DriverStatus {
    /// Whether libcuda could be loaded at all.
    pub library_loaded: bool,
    /// The driver's CUDA version, `"13.0"`.
    pub version: Option<String>,
    pub gpus: Vec<GpuInfo>,
    /// Why no GPU can be used, when none can.
    pub problem: Option<String>,
}

/// The reason given when libcuda cannot be loaded.
pub const NO_DRIVER: &str = "no CUDA driver found (libcuda.so not loadable)";

/// Whether libcuda can be loaded (once per process).
pub fn library_present() -> bool {
    static PRESENT: OnceLock<bool> = OnceLock::new();
    // SAFETY: only tries to dlopen candidate names.
    *PRESENT.get_or_init(|| guarded("driver probe", || Ok(unsafe { sys::is_culib_present() })).unwrap_or(false))
}

/// Probes the driver and lists the GPUs (once per process).
pub fn discover() -> DriverStatus {
    static STATUS: OnceLock<DriverStatus> = OnceLock::new();
    STATUS.get_or_init(probe).clone()
}

fn probe() -> DriverStatus {
    if !library_present() {
        return DriverStatus { library_loaded: false, version: None, gpus: vec![], problem: Some(NO_DRIVER.into()) };
    }
    let mut status = DriverStatus { library_loaded: true, version: None, gpus: vec![], problem: None };
    if let Err(e) = guarded("cuInit", || result::init().map_err(|e| driver_error("cuInit", e))) {
        status.problem = Some(format!("the CUDA driver is installed but did not initialise: {e}"));
        return status;
    }
    status.version = guarded("cuDriverGetVersion", || {
        let mut v = 0;
        // SAFETY: the driver is initialised; `v` is valid for writes.
        unsafe { sys::cuDriverGetVersion(&mut v) }.result().map_err(|e| driver_error("cuDriverGetVersion", e))?;
        Ok(format!("{}.{}", v / 1000, (v % 1000) / 10))
    })
    .ok();
    match guarded("list GPUs", list_gpus) {
        Ok(gpus) if gpus.is_empty() => status.problem = Some("the CUDA driver found no GPU".into()),
        Ok(gpus) => status.gpus = gpus,
        Err(e) => status.problem = Some(format!("could not list GPUs: {e}")),
    }
    status
}

fn list_gpus() -> Result<Vec<GpuInfo>> {
    let count = result::device::get_count().map_err(|e| driver_error("cuDeviceGetCount", e))?;
    let mut gpus = Vec::new();
    for ordinal in 0..count.max(0) {
        let dev = result::device::get(ordinal).map_err(|e| driver_error("cuDeviceGet", e))?;
        let name = result::device::get_name(dev).map_err(|e| driver_error("cuDeviceGetName", e))?;
        // SAFETY: `dev` came from cuDeviceGet.
        let attr =
            |a| unsafe { result::device::get_attribute(dev, a) }.map_err(|e| driver_error("cuDeviceGetAttribute", e));
        let major = attr(sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR)?;
        let minor = attr(sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR)?;
        // SAFETY: as above.
        let memory = unsafe { result::device::total_mem(dev) }.map_err(|e| driver_error("cuDeviceTotalMem", e))?;
        gpus.push(GpuInfo {
            ordinal: ordinal as usize,
            name,
            compute_capability: format!("{major}.{minor}"),
            cc: (major, minor),
            memory_bytes: memory as u64,
        });
    }
    Ok(gpus)
}
