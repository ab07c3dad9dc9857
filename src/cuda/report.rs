//! What `hotflip device` reports: the backend, the GPU and driver, NVRTC,
//! every kernel file compiled, and with a GPU every kernel checked against
//! its CPU twin. The CLI prints it as lines or as one JSON object.

use serde::Serialize;

use super::compile::{self, DEFAULT_ARCH};
use super::driver::{self, GpuInfo};
use super::nvrtc;
use super::ptx_cache;
use super::registry::KERNEL_FILES;
use super::select::Backend;
use super::selfcheck::{self, Check, Outcome};

#[derive(Debug, Serialize)]
pub struct FileReport {
    /// `kernels/<stem>.cu`.
    pub file: String,
    /// Whether NVRTC produced PTX for it (false when NVRTC is absent).
    pub compiled: bool,
    /// Whether a compile was attempted (NVRTC present).
    pub attempted: bool,
    pub from_cache: bool,
    /// The compiler's log when it failed, or why it could not run.
    pub error: Option<String>,
    /// Compiler warnings, if any.
    pub warnings: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct KernelReport {
    pub name: &'static str,
    pub file: String,
    pub compiled: bool,
    /// Null without a GPU; else whether it matched its CPU twin.
    pub checked: Option<bool>,
    /// Null when unchecked.
    pub max_rel_err: Option<f64>,
    pub threshold: Option<f64>,
    pub twin: Option<&'static str>,
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Summary {
    pub kernels: usize,
    pub compiled: usize,
    pub checked: usize,
    pub passed: usize,
    pub failed: usize,
    pub compile_failures: usize,
}

#[derive(Debug, Serialize)]
pub struct DeviceReport {
    /// `"cpu"` or `"cuda"`: what the `--device` choice resolved to.
    pub backend: &'static str,
    /// Why `auto` chose the CPU, if it did.
    pub backend_note: Option<String>,
    /// The GPU in use, or the first one found; null without one.
    pub gpu: Option<GpuInfo>,
    pub gpu_count: usize,
    /// The driver's CUDA version, null without a driver.
    pub driver: Option<String>,
    /// Why no GPU can be used, if none can.
    pub driver_problem: Option<String>,
    /// NVRTC's version, null when it cannot be loaded.
    pub nvrtc: Option<String>,
    /// How to make NVRTC loadable, when it is not.
    pub nvrtc_hint: Option<String>,
    /// The compile target.
    pub arch: String,
    pub ptx_cache: Option<String>,
    /// The seed of the self-check's random inputs (null without a GPU).
    pub seed: Option<u64>,
    pub files: Vec<FileReport>,
    pub kernels: Vec<KernelReport>,
    /// Checks of library routines behind the launchers (cuBLAS GEMM, the
    /// LSTM layer composed of cuBLAS and cell launches).
    pub library_checks: Vec<Outcome>,
    pub summary: Summary,
}

impl DeviceReport {
    /// False if a compile that was attempted failed, or a check failed.
    pub fn success(&self) -> bool {
        self.summary.compile_failures == 0 && self.summary.failed == 0 && self.library_checks.iter().all(|c| c.passed)
    }
}

/// Compiles every kernel file (when NVRTC is present) and, on a GPU
/// backend, runs the self-check with inputs drawn from `seed`.
pub fn collect(backend: &Backend, seed: u64, checks: &[Check]) -> DeviceReport {
    let status = driver::discover();
    let gpu = backend.gpu();
    let arch = gpu.map_or_else(|| DEFAULT_ARCH.to_string(), |g| g.arch().to_string());
    let nvrtc_version = nvrtc::version_string();

    let files: Vec<FileReport> = if nvrtc_version.is_some() {
        compile::compile_all(&arch)
            .into_iter()
            .map(|(f, r)| match r {
                Ok(c) => FileReport {
                    file: f.path(),
                    compiled: true,
                    attempted: true,
                    from_cache: c.from_cache,
                    error: None,
                    warnings: Some(c.log.trim().to_string()).filter(|l| !l.is_empty()),
                },
                Err(e) => FileReport {
                    file: f.path(),
                    compiled: false,
                    attempted: true,
                    from_cache: false,
                    error: Some(e.to_string()),
                    warnings: None,
                },
            })
            .collect()
    } else {
        KERNEL_FILES
            .iter()
            .map(|f| FileReport {
                file: f.path(),
                compiled: false,
                attempted: false,
                from_cache: false,
                error: Some(nvrtc::unavailable_reason()),
                warnings: None,
            })
            .collect()
    };

    let outcomes = gpu.map(|g| selfcheck::run_all(g, seed, checks)).unwrap_or_default();
    let kernels: Vec<KernelReport> = KERNEL_FILES
        .iter()
        .zip(&files)
        .flat_map(|(f, fr)| {
            let outcomes = &outcomes;
            f.kernels.iter().map(move |&name| {
                let o = outcomes.iter().find(|o| o.name == name && o.file.as_deref() == Some(fr.file.as_str()));
                KernelReport {
                    name,
                    file: fr.file.clone(),
                    compiled: fr.compiled,
                    checked: o.map(|o| o.passed),
                    max_rel_err: o.and_then(|o| o.max_rel_err),
                    threshold: o.map(|o| o.threshold),
                    twin: o.map(|o| o.twin),
                    error: o.and_then(|o| o.error.clone()),
                }
            })
        })
        .collect();
    let library_checks: Vec<Outcome> = outcomes.iter().filter(|o| o.file.is_none()).cloned().collect();

    let checked = kernels.iter().filter(|k| k.checked.is_some()).count();
    let passed = kernels.iter().filter(|k| k.checked == Some(true)).count();
    let summary = Summary {
        kernels: kernels.len(),
        compiled: kernels.iter().filter(|k| k.compiled).count(),
        checked,
        passed,
        failed: checked - passed,
        compile_failures: files.iter().filter(|f| f.attempted && !f.compiled).count(),
    };
    DeviceReport {
        backend: backend.name(),
        backend_note: backend.fallback_note(),
        gpu: gpu.map(|g| g.info().clone()).or_else(|| status.gpus.first().cloned()),
        gpu_count: status.gpus.len(),
        driver: status.version.clone(),
        driver_problem: status.problem.clone(),
        nvrtc_hint: nvrtc_version.is_none().then(|| nvrtc::NVRTC_HINT.to_string()),
        nvrtc: nvrtc_version,
        arch,
        ptx_cache: ptx_cache::default_dir().map(|d| d.display().to_string()),
        seed: gpu.map(|_| seed),
        files,
        kernels,
        library_checks,
        summary,
    }
}
