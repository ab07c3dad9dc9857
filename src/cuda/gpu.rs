//! One GPU: its context and stream, the kernel modules loaded into it
//! (compiled on first use, then cached per file, as candle's
//! `get_or_load_func`), a lazily created cuBLAS handle, and buffer transfers.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use cudarc::cublas::CudaBlas;
use cudarc::driver::{CudaContext, CudaFunction, CudaModule, CudaStream, DeviceRepr, LaunchConfig, ValidAsZeroBits};
use cudarc::nvrtc::Ptx;

use super::buffer::{DeviceBuf, Mem};
use super::compile::{self, arch_for};
use super::driver::{self, GpuInfo};
use super::emu::Emulator;
use super::launch::Args;
use super::registry::{self, KernelRef};
use super::{driver_error, guarded, nvrtc};
use crate::error::{Error, Result};

/// Threads per block for elementwise kernels.
pub(crate) const BLOCK: u32 = 256;
/// Most blocks an elementwise launch uses; grid-stride loops cover the rest.
const MAX_BLOCKS: usize = 1 << 16;

/// A GPU, or the emulated device: the same kernel sources and the same
/// launches, run on the CPU by the emulator ([`super::emu`]) so that the
/// device-side orchestration is tested without a GPU.
pub struct Gpu {
    info: GpuInfo,
    driver_version: Option<String>,
    arch: String,
    engine: Engine,
    sync_launches: AtomicBool,
}

enum Engine {
    Cuda(CudaParts),
    Emulated(Emulator),
}

struct CudaParts {
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    modules: Mutex<HashMap<&'static str, Arc<CudaModule>>>,
    funcs: Mutex<HashMap<KernelRef, CudaFunction>>,
    blas: Mutex<Option<Arc<CudaBlas>>>,
}

impl std::fmt::Debug for Gpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Gpu({} {}, {})", self.info.ordinal, self.info.name, self.arch)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Gpu {
    /// Opens GPU `ordinal`. Needs the driver, a GPU and NVRTC (kernels are
    /// compiled at run time); says which one is missing otherwise.
    pub fn new(ordinal: usize) -> Result<Self> {
        let status = driver::discover();
        if let Some(problem) = status.problem {
            return Err(Error::CudaUnavailable { what: "CUDA", reason: problem });
        }
        let info = status.gpus.get(ordinal).cloned().ok_or_else(|| {
            Error::invalid("cuda", format!("GPU {ordinal} does not exist ({} found)", status.gpus.len()))
        })?;
        if !nvrtc::available() {
            return Err(Error::CudaUnavailable { what: "NVRTC", reason: nvrtc::unavailable_reason() });
        }
        let (ctx, stream) = guarded("cuCtxCreate", || {
            let ctx = CudaContext::new(ordinal).map_err(|e| driver_error("cuDevicePrimaryCtxRetain", e))?;
            let stream = ctx.default_stream();
            Ok((ctx, stream))
        })?;
        Ok(Gpu {
            arch: arch_for(info.cc.0, info.cc.1),
            info,
            driver_version: status.version,
            engine: Engine::Cuda(CudaParts {
                ctx,
                stream,
                modules: Mutex::new(HashMap::new()),
                funcs: Mutex::new(HashMap::new()),
                blas: Mutex::new(None),
            }),
            sync_launches: AtomicBool::new(false),
        })
    }

    /// The emulated device: every launch runs the kernel's source on the
    /// CPU ([`super::emu`]; needs a C++17 compiler, `$CXX` or `c++`), cuBLAS
    /// is replaced by a plain host GEMM. Slow: for tests on small shapes.
    pub fn emulated() -> Result<Self> {
        let emu = Emulator::new()?;
        Ok(Gpu {
            info: GpuInfo {
                ordinal: 0,
                name: "CUDA emulator (CPU)".into(),
                compute_capability: "emulated".into(),
                cc: (0, 0),
                memory_bytes: 0,
            },
            driver_version: None,
            arch: "emulated".into(),
            engine: Engine::Emulated(emu),
            sync_launches: AtomicBool::new(false),
        })
    }

    /// Whether this is the emulated device.
    pub fn is_emulated(&self) -> bool {
        matches!(self.engine, Engine::Emulated(_))
    }

    /// Runs the emulator's launches with the threads of each block in
    /// reverse order (a missing barrier then shows), or in order.
    pub fn set_emulated_reverse(&self, on: bool) {
        if let Engine::Emulated(e) = &self.engine {
            e.set_reverse(on);
        }
    }

    fn cuda(&self, op: &'static str) -> Result<&CudaParts> {
        match &self.engine {
            Engine::Cuda(c) => Ok(c),
            Engine::Emulated(_) => {
                Err(Error::Cuda { op, msg: "not available on the emulated device (it has no CUDA stream)".into() })
            }
        }
    }

    pub fn info(&self) -> &GpuInfo {
        &self.info
    }

    /// The NVRTC target, `compute_<major><minor>`.
    pub fn arch(&self) -> &str {
        &self.arch
    }

    /// Synchronise after every launch, so that a fault is reported with the
    /// kernel that caused it (the self-check does; hot paths should not).
    pub fn set_sync_launches(&self, on: bool) {
        self.sync_launches.store(on, Ordering::Relaxed);
    }

    /// The CUDA stream (an error on the emulated device).
    pub fn stream(&self) -> Result<&Arc<CudaStream>> {
        Ok(&self.cuda("stream")?.stream)
    }

    pub fn synchronize(&self) -> Result<()> {
        let Engine::Cuda(c) = &self.engine else { return Ok(()) };
        guarded("cuStreamSynchronize", || c.stream.synchronize().map_err(|e| driver_error("cuStreamSynchronize", e)))
    }

    /// The kernel `k`, compiling and loading its file on first use.
    pub fn function(&self, k: KernelRef) -> Result<CudaFunction> {
        let c = self.cuda("cuModuleGetFunction")?;
        if let Some(f) = lock(&c.funcs).get(&k) {
            return Ok(f.clone());
        }
        let module = self.module(c, k.file)?;
        let f = guarded("cuModuleGetFunction", || {
            module.load_function(k.name).map_err(|e| driver_error("cuModuleGetFunction", e))
        })?;
        lock(&c.funcs).insert(k, f.clone());
        Ok(f)
    }

    fn module(&self, c: &CudaParts, stem: &'static str) -> Result<Arc<CudaModule>> {
        if let Some(m) = lock(&c.modules).get(stem) {
            return Ok(Arc::clone(m));
        }
        let file = registry::file(stem)
            .ok_or_else(|| Error::invalid("cuda", format!("kernels/{stem}.cu is not in the kernel registry")))?;
        let compiled = compile::compile_file(file, &self.arch)?;
        let module = guarded("cuModuleLoadData", || {
            c.ctx.load_module(Ptx::from_src(compiled.ptx.clone())).map_err(|e| {
                let mut err = driver_error("cuModuleLoadData", e);
                if let Error::Cuda { msg, .. } = &mut err {
                    msg.push_str(&format!(
                        " (loading {} compiled by NVRTC {} for {}; the driver supports CUDA {}: \
                         PTX from a newer NVRTC needs a driver at least as new)",
                        file.path(),
                        nvrtc::version_string().unwrap_or_else(|| "?".into()),
                        self.arch,
                        self.driver_version.as_deref().unwrap_or("?")
                    ));
                }
                err
            })
        })?;
        lock(&c.modules).insert(stem, Arc::clone(&module));
        Ok(module)
    }

    /// The cuBLAS handle on this GPU's stream, created on first use.
    pub fn blas(&self) -> Result<Arc<CudaBlas>> {
        let c = self.cuda("cublasCreate")?;
        let mut slot = lock(&c.blas);
        if let Some(b) = slot.as_ref() {
            return Ok(Arc::clone(b));
        }
        // SAFETY: only tries to dlopen candidate names.
        if !guarded("cublas probe", || Ok(unsafe { cudarc::cublas::sys::is_culib_present() }))? {
            return Err(Error::CudaUnavailable {
                what: "cuBLAS",
                reason: "libcublas (CUDA 13) is not loadable; add its folder to LD_LIBRARY_PATH".into(),
            });
        }
        let blas = guarded("cublasCreate", || {
            CudaBlas::new(Arc::clone(&c.stream)).map_err(|e| Error::Cuda { op: "cublasCreate", msg: format!("{e:?}") })
        })?;
        let blas = Arc::new(blas);
        *slot = Some(Arc::clone(&blas));
        Ok(blas)
    }

    /// Arguments for a launch (see [`Args::arg`]).
    pub fn args<'a>(&self) -> Args<'a> {
        Args::default()
    }

    /// Launches `k` with `args` and checks the launch, any error the
    /// context has recorded since, and (with sync launches) the kernel's
    /// own completion. On the emulated device the emulator runs it.
    ///
    /// # Safety
    /// `args` must match the kernel's parameter list in its `.cu` file, and
    /// every buffer must hold every index the kernel derives from the
    /// scalar arguments: the typed launchers in [`super::ops`] check this.
    pub(crate) unsafe fn launch(&self, k: KernelRef, args: &mut Args<'_>, cfg: LaunchConfig) -> Result<()> {
        let c = match &self.engine {
            Engine::Cuda(c) => c,
            Engine::Emulated(e) => return e.launch(k, args, cfg),
        };
        let f = self.function(k)?;
        let mut b = c.stream.launch_builder(&f);
        args.push_cuda(&mut b)?;
        // SAFETY: forwarded from the caller.
        guarded(k.name, || unsafe { b.launch(cfg) }.map(|_| ()).map_err(|e| driver_error(k.name, e)))?;
        guarded(k.name, || c.ctx.check_err().map_err(|e| driver_error(k.name, e)))?;
        if self.sync_launches.load(Ordering::Relaxed) {
            guarded(k.name, || c.stream.synchronize().map_err(|e| driver_error(k.name, e)))?;
        }
        Ok(())
    }

    /// With sync launches on, waits for queued work and reports its errors
    /// as `op`'s (for library calls such as cuBLAS that launch internally).
    pub(crate) fn synchronize_if_checking(&self, op: &'static str) -> Result<()> {
        let Engine::Cuda(c) = &self.engine else { return Ok(()) };
        if self.sync_launches.load(Ordering::Relaxed) {
            guarded(op, || c.stream.synchronize().map_err(|e| driver_error(op, e)))?;
        }
        Ok(())
    }

    /// Copies `host` to a new device buffer.
    pub fn upload<T: DeviceRepr>(&self, host: &[T]) -> Result<DeviceBuf<T>> {
        let c = match &self.engine {
            Engine::Cuda(c) => c,
            Engine::Emulated(_) => {
                let mut v = copy_vec(host);
                if v.is_empty() {
                    // SAFETY: DeviceRepr types are plain data; all-zero bits are a value.
                    v.push(unsafe { std::mem::zeroed() });
                }
                return Ok(DeviceBuf { mem: Mem::Host(v), len: host.len() });
            }
        };
        guarded("cuMemcpyHtoD", || {
            let slice = if host.is_empty() {
                // SAFETY: the one element of an empty buffer is never read.
                unsafe { c.stream.alloc::<T>(1) }
            } else {
                c.stream.clone_htod(host)
            }
            .map_err(|e| driver_error("cuMemcpyHtoD", e))?;
            Ok(DeviceBuf { mem: Mem::Cuda(slice), len: host.len() })
        })
    }

    /// `n` zeros, set on the device (no host copy).
    pub fn zeros<T: DeviceRepr + ValidAsZeroBits>(&self, n: usize) -> Result<DeviceBuf<T>> {
        let c = match &self.engine {
            Engine::Cuda(c) => c,
            Engine::Emulated(_) => {
                // SAFETY: ValidAsZeroBits.
                let v = (0..n.max(1)).map(|_| unsafe { std::mem::zeroed() }).collect();
                return Ok(DeviceBuf { mem: Mem::Host(v), len: n });
            }
        };
        guarded("cuMemsetD8", || {
            let slice = c.stream.alloc_zeros::<T>(n.max(1)).map_err(|e| driver_error("cuMemsetD8", e))?;
            Ok(DeviceBuf { mem: Mem::Cuda(slice), len: n })
        })
    }

    /// `n` copies of `value` (poison for outputs, zeros for accumulators).
    pub fn filled<T: DeviceRepr + Clone>(&self, n: usize, value: T) -> Result<DeviceBuf<T>> {
        self.upload(&vec![value; n])
    }

    /// Copies a device buffer back, after the work queued before it.
    pub fn download<T: DeviceRepr>(&self, buf: &DeviceBuf<T>) -> Result<Vec<T>> {
        if buf.len == 0 {
            return Ok(Vec::new());
        }
        let (c, slice) = match (&self.engine, &buf.mem) {
            (Engine::Cuda(c), Mem::Cuda(s)) => (c, s),
            (Engine::Emulated(_), Mem::Host(v)) => return Ok(copy_vec(&v[..buf.len])),
            _ => return Err(Error::Cuda { op: "cuMemcpyDtoH", msg: "a buffer of another device".into() }),
        };
        guarded("cuMemcpyDtoH", || {
            let mut host = c.stream.clone_dtoh(slice).map_err(|e| driver_error("cuMemcpyDtoH", e))?;
            c.stream.synchronize().map_err(|e| driver_error("cuMemcpyDtoH", e))?;
            host.truncate(buf.len);
            Ok(host)
        })
    }
}

/// A copy of plain device-representable data (DeviceRepr has no `Clone`).
fn copy_vec<T: DeviceRepr>(xs: &[T]) -> Vec<T> {
    let mut v = Vec::with_capacity(xs.len());
    // SAFETY: DeviceRepr types are plain data; the copy fills the capacity.
    unsafe {
        std::ptr::copy_nonoverlapping(xs.as_ptr(), v.as_mut_ptr(), xs.len());
        v.set_len(xs.len());
    }
    v
}

/// A grid for `n` independent elements (grid-stride kernels).
pub(crate) fn elementwise(n: usize) -> LaunchConfig {
    let blocks = n.div_ceil(BLOCK as usize).clamp(1, MAX_BLOCKS) as u32;
    LaunchConfig { grid_dim: (blocks, 1, 1), block_dim: (BLOCK, 1, 1), shared_mem_bytes: 0 }
}

/// A grid with one thread per element exactly (kernels without a
/// grid-stride loop, which return past `n`).
pub(crate) fn one_thread_each(op: &'static str, n: usize) -> Result<LaunchConfig> {
    let blocks = n.div_ceil(BLOCK as usize);
    let blocks = u32::try_from(blocks).ok().filter(|&b| b < i32::MAX as u32).ok_or_else(|| {
        Error::invalid(op, format!("{n} elements need more than the 2^31 − 1 blocks a grid can have"))
    })?;
    Ok(LaunchConfig { grid_dim: (blocks.max(1), 1, 1), block_dim: (BLOCK, 1, 1), shared_mem_bytes: 0 })
}

/// One block of `threads` per row.
pub(crate) fn per_row(op: &'static str, rows: usize, threads: u32) -> Result<LaunchConfig> {
    let blocks = u32::try_from(rows)
        .ok()
        .filter(|&b| b < i32::MAX as u32)
        .ok_or_else(|| Error::invalid(op, format!("{rows} rows exceed the 2^31 − 1 blocks a grid can have")))?;
    Ok(LaunchConfig { grid_dim: (blocks.max(1), 1, 1), block_dim: (threads, 1, 1), shared_mem_bytes: 0 })
}

/// A host index array as the `unsigned int` the kernels read.
pub(crate) fn to_u32(op: &'static str, what: &str, xs: &[usize]) -> Result<Vec<u32>> {
    xs.iter()
        .map(|&x| u32::try_from(x).map_err(|_| Error::invalid(op, format!("{what} value {x} does not fit in 32 bits"))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grids_cover_their_work() {
        assert_eq!(elementwise(0).grid_dim.0, 1);
        assert_eq!(elementwise(257).grid_dim.0, 2);
        assert_eq!(elementwise(usize::MAX / 2).grid_dim.0, MAX_BLOCKS as u32);
        assert_eq!(one_thread_each("t", 513).unwrap().grid_dim.0, 3);
        assert!(one_thread_each("t", usize::MAX).is_err());
        assert_eq!(per_row("t", 7, 256).unwrap().grid_dim, (7, 1, 1));
        assert!(to_u32("t", "id", &[1, usize::MAX]).is_err());
    }
}
