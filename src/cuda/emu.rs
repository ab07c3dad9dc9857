//! The emulated device: kernel sources from `kernels/` compiled as C++ with
//! tests/cuda_emu/cuda_shim.h (every GPU thread a fiber; barriers, warp
//! votes and shuffles, shared memory emulated) and run on the CPU, one
//! process per launch, on the launch's own grid, block and arguments.
//!
//! [`super::Gpu::emulated`] puts this behind the same interface as a GPU,
//! so the launchers, the self-check and the pipelines built on them run in
//! `cargo test` without one: a wrong length, a missing argument, a launch
//! shape that leaves elements unwritten or a kernel that writes past a
//! buffer fails there. What it cannot show: the hardware's memory model,
//! NVRTC's code generation, the real shared-memory limit, timing.
//!
//! The runner is built once per source version (a hash of the shim, the
//! runner and every kernel file) under the system's temporary directory.

use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use cudarc::driver::LaunchConfig;

use super::launch::{check_shape, Arg, Args};
use super::registry::{KernelRef, KERNEL_FILES};
use crate::error::{Error, Result};

const SHIM: &str = include_str!("../../tests/cuda_emu/cuda_shim.h");
const RUNNER: &str = include_str!("../../tests/cuda_emu/runner.cpp");
const FLAGS: &[&str] = &["-std=c++17", "-O1", "-ffp-contract=off", "-fno-fast-math", "-w"];
/// Bytes after every buffer that a kernel must leave alone.
pub const GUARD: usize = 256;

pub struct Emulator {
    bin: PathBuf,
    reverse: AtomicBool,
}

fn unavailable(reason: String) -> Error {
    Error::CudaUnavailable { what: "the CUDA emulator", reason }
}

/// The C++ translation unit of one kernel file: the shim, the file, and a
/// table of its kernels for the runner.
fn unit(stem: &str, kernels: &[&str]) -> String {
    let mut s = format!("#include \"cuda_shim.h\"\n#include \"kernels/{stem}.cu\"\n");
    s.push_str(&format!("static hf_emu::Registration hf_reg_{stem}({{\n"));
    for k in kernels {
        s.push_str(&format!("    {{\"{k}\", hf_emu::bind(&{k})}},\n"));
    }
    s.push_str("});\n");
    s
}

fn build() -> std::result::Result<PathBuf, String> {
    let cxx = std::env::var("CXX").unwrap_or_else(|_| "c++".to_string());
    let mut h = std::hash::DefaultHasher::new();
    (SHIM, RUNNER, FLAGS, &cxx).hash(&mut h);
    for f in KERNEL_FILES {
        (f.stem, f.source).hash(&mut h);
    }
    let dir = std::env::temp_dir().join("hotflip-cuda-emu").join(format!("{:016x}", h.finish()));
    let bin = dir.join("runner");
    if bin.exists() {
        return Ok(bin);
    }
    let work = dir.with_extension(format!("tmp{}", std::process::id()));
    let write = |p: &Path, s: &str| {
        std::fs::create_dir_all(p.parent().unwrap())
            .and_then(|_| std::fs::write(p, s))
            .map_err(|e| format!("{}: {e}", p.display()))
    };
    write(&work.join("cuda_shim.h"), SHIM)?;
    write(&work.join("runner.cpp"), RUNNER)?;
    let mut sources = vec![work.join("runner.cpp")];
    for f in KERNEL_FILES {
        write(&work.join(format!("kernels/{}.cu", f.stem)), f.source)?;
        let tu = work.join(format!("tu_{}.cpp", f.stem));
        write(&tu, &unit(f.stem, f.kernels))?;
        sources.push(tu);
    }
    let out = Command::new(&cxx)
        .args(FLAGS)
        .arg("-o")
        .arg(work.join("runner"))
        .args(&sources)
        .output()
        .map_err(|e| format!("running the C++ compiler `{cxx}` (set CXX): {e}"))?;
    if !out.status.success() {
        return Err(format!("compiling the kernels as C++ failed:\n{}", String::from_utf8_lossy(&out.stderr)));
    }
    // Another process may have finished first; either copy will do.
    let _ = std::fs::rename(&work, &dir);
    let _ = std::fs::remove_dir_all(&work);
    if bin.exists() {
        Ok(bin)
    } else {
        Err(format!("{} did not appear", bin.display()))
    }
}

impl Emulator {
    /// Builds (or finds) the runner.
    pub fn new() -> Result<Self> {
        static BIN: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();
        let bin = BIN.get_or_init(build).clone().map_err(unavailable)?;
        Ok(Emulator { bin, reverse: AtomicBool::new(false) })
    }

    pub fn set_reverse(&self, on: bool) {
        self.reverse.store(on, Ordering::Relaxed);
    }

    /// The kernels the runner knows (`runner --list`).
    pub fn kernels(&self) -> Result<Vec<String>> {
        let out = Command::new(&self.bin).arg("--list").output().map_err(|e| unavailable(e.to_string()))?;
        Ok(String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect())
    }

    /// Runs one launch; written buffers come back into `args`.
    pub(crate) fn launch(&self, k: KernelRef, args: &mut Args<'_>, cfg: LaunchConfig) -> Result<()> {
        check_shape(k.name, cfg.grid_dim, cfg.block_dim)?;
        let fail = |msg: String| Error::Cuda { op: k.name, msg: format!("emulated launch: {msg}") };
        let mut input = Vec::new();
        let le = |v: &mut Vec<u8>, x: u32| v.extend_from_slice(&x.to_le_bytes());
        le(&mut input, 0x3145_4648); // "HFE1"
        le(&mut input, self.reverse.load(Ordering::Relaxed) as u32);
        for x in [cfg.grid_dim.0, cfg.grid_dim.1, cfg.block_dim.0, cfg.shared_mem_bytes] {
            le(&mut input, x);
        }
        le(&mut input, k.name.len() as u32);
        input.extend_from_slice(k.name.as_bytes());
        // Buffers, then the argument list naming them by index.
        let mut buffers: Vec<(usize, bool)> = Vec::new(); // (arg index, written)
        let mut blobs = Vec::new();
        for (i, a) in args.list.iter().enumerate() {
            match a {
                Arg::In(m) => {
                    blobs.push(m.bytes()?.to_vec());
                    buffers.push((i, false));
                }
                Arg::Out(m) => {
                    blobs.push(m.bytes()?.to_vec());
                    buffers.push((i, true));
                }
                Arg::Value(_) => {}
            }
        }
        le(&mut input, blobs.len() as u32);
        for b in &blobs {
            input.extend_from_slice(&(b.len() as u64).to_le_bytes());
            input.extend_from_slice(b);
        }
        le(&mut input, args.list.len() as u32);
        let mut next = 0u32;
        for a in &args.list {
            match a {
                Arg::In(_) | Arg::Out(_) => {
                    le(&mut input, 0);
                    le(&mut input, next);
                    next += 1;
                }
                Arg::Value(v) => {
                    le(&mut input, 1);
                    le(&mut input, v.as_bytes().len() as u32);
                    input.extend_from_slice(v.as_bytes());
                }
            }
        }
        let mut child = Command::new(&self.bin)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| fail(format!("starting {}: {e}", self.bin.display())))?;
        let wrote = child.stdin.take().map(|mut s| s.write_all(&input));
        let out = child.wait_with_output().map_err(|e| fail(e.to_string()))?;
        if !out.status.success() {
            return Err(fail(String::from_utf8_lossy(&out.stderr).trim().to_string()));
        }
        if let Some(Err(e)) = wrote {
            return Err(fail(format!("sending the launch: {e}")));
        }
        let mut rest = &out.stdout[..];
        for ((i, written), before) in buffers.into_iter().zip(blobs) {
            if rest.len() < before.len() {
                return Err(fail("the runner returned fewer bytes than it was sent".into()));
            }
            let (now, tail) = rest.split_at(before.len());
            rest = tail;
            match &mut args.list[i] {
                Arg::Out(m) => m.bytes_mut()?.copy_from_slice(now),
                _ if !written && now != &before[..] => {
                    return Err(fail(format!("argument {i} is an input, and the kernel wrote to it")))
                }
                _ => {}
            }
        }
        if !rest.is_empty() {
            return Err(fail("the runner returned more bytes than it was sent".into()));
        }
        Ok(())
    }
}
