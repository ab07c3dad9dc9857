//! Kernel files to PTX: once per process (memoised), once per machine
//! (the on-disk [`PtxCache`]), and checked against the registry, so a
//! kernel that the registry lists but the PTX lacks (or the reverse) is an
//! error rather than a failure to find a function at launch time.
//!
//! `hotflip device` and tests/kernels_compile.rs both go through
//! [`compile_all`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use rayon::prelude::*;

use super::nvrtc;
use super::ptx_cache::{Key, PtxCache};
use super::registry::{ptx_entries, KernelFile, KERNEL_FILES};
use crate::error::{Error, Result};

/// The target when there is no GPU to ask (Hopper, the GPUs this project
/// is lent): PTX for compute_90 JIT-compiles on sm_90 and newer.
pub const DEFAULT_ARCH: &str = "compute_90";

/// `compute_<major><minor>` for a device's compute capability.
pub fn arch_for(major: i32, minor: i32) -> String {
    format!("compute_{major}{minor}")
}

/// The NVRTC options every kernel file is compiled with. Precise division
/// and square root stay on (NVRTC's defaults): the CPU twins assume IEEE
/// results, and dropout's scale must round exactly as Rust's.
pub fn options(arch: &str) -> Vec<String> {
    vec![format!("--gpu-architecture={arch}"), "--std=c++17".to_string()]
}

/// A kernel file compiled for one target.
#[derive(Debug)]
pub struct CompiledFile {
    pub file: &'static KernelFile,
    pub arch: String,
    pub ptx: String,
    /// NVRTC's log (warnings); empty when the PTX came from the cache.
    pub log: String,
    pub from_cache: bool,
    /// Why the PTX could not be cached, if it could not.
    pub cache_error: Option<String>,
}

type Memo = Mutex<HashMap<(&'static str, String), Arc<CompiledFile>>>;

fn memo() -> &'static Memo {
    static MEMO: OnceLock<Memo> = OnceLock::new();
    MEMO.get_or_init(|| Mutex::new(HashMap::new()))
}

/// `file` compiled for `arch`, from this process's memo, the disk cache or
/// NVRTC, in that order.
pub fn compile_file(file: &'static KernelFile, arch: &str) -> Result<Arc<CompiledFile>> {
    let memo_key = (file.stem, arch.to_string());
    if let Some(done) = memo().lock().unwrap_or_else(|p| p.into_inner()).get(&memo_key) {
        return Ok(Arc::clone(done));
    }
    let version = nvrtc::version_string()
        .ok_or_else(|| Error::CudaUnavailable { what: "NVRTC", reason: nvrtc::unavailable_reason() })?;
    let opts = options(arch);
    let key = Key { stem: file.stem, source: file.source, arch, nvrtc_version: &version, options: &opts };
    let cache = PtxCache::open_default();
    let cached = cache.as_ref().and_then(|c| c.load(&key));
    let compiled = match cached {
        Some(ptx) => {
            CompiledFile { file, arch: arch.to_string(), ptx, log: String::new(), from_cache: true, cache_error: None }
        }
        None => {
            let out = nvrtc::compile(&file.path(), file.source, &opts)?;
            check_entries(file, &out.ptx)?;
            let cache_error = match &cache {
                Some(c) => c.store(&key, &out.ptx).err().map(|e| format!("{}: {e}", c.dir().display())),
                None => Some("no cache directory (set HOTFLIP_PTX_CACHE or HOME)".to_string()),
            };
            CompiledFile { file, arch: arch.to_string(), ptx: out.ptx, log: out.log, from_cache: false, cache_error }
        }
    };
    check_entries(file, &compiled.ptx)?;
    let compiled = Arc::new(compiled);
    memo().lock().unwrap_or_else(|p| p.into_inner()).insert(memo_key, Arc::clone(&compiled));
    Ok(compiled)
}

/// The PTX must define exactly the kernels the registry lists.
fn check_entries(file: &KernelFile, ptx: &str) -> Result<()> {
    let mut entries = ptx_entries(ptx);
    entries.sort();
    let mut listed: Vec<String> = file.kernels.iter().map(|s| s.to_string()).collect();
    listed.sort();
    if entries != listed {
        return Err(Error::Nvrtc {
            file: file.path(),
            log: format!(
                "the PTX defines kernels {entries:?} but build.rs registered {listed:?}; \
                 declare every kernel as `extern \"C\" __global__ void NAME(...)` without macros"
            ),
        });
    }
    Ok(())
}

/// Every kernel file compiled for `arch`, in registry order (in parallel:
/// NVRTC is thread-safe across programs).
pub fn compile_all(arch: &str) -> Vec<(&'static KernelFile, Result<Arc<CompiledFile>>)> {
    KERNEL_FILES.par_iter().map(|f| (f, compile_file(f, arch))).collect()
}
