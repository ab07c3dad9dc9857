//! NVRTC, the run-time CUDA compiler: is it there, which version, and
//! compiling one source to PTX with its log.
//!
//! cudarc loads libnvrtc on first use and panics if it cannot, so every
//! entry point here checks [`available`] first; NVRTC needs no GPU and no
//! driver, which is what lets CI compile every kernel.

use std::ffi::{c_char, CString};
use std::sync::OnceLock;

use cudarc::nvrtc::{result, sys};

use super::guarded;
use crate::error::{Error, Result};

/// How to make NVRTC loadable from the project root.
pub const NVRTC_HINT: &str = "export LD_LIBRARY_PATH=\"$(../shared/tools/nvrtc-lib):$LD_LIBRARY_PATH\"";

/// Whether libnvrtc can be loaded (decided once per process: the dynamic
/// loader reads LD_LIBRARY_PATH only at start-up anyway).
pub fn available() -> bool {
    static PRESENT: OnceLock<bool> = OnceLock::new();
    // SAFETY: is_culib_present only tries to dlopen candidate names.
    *PRESENT.get_or_init(|| guarded("nvrtc probe", || Ok(unsafe { sys::is_culib_present() })).unwrap_or(false))
}

/// Why NVRTC is missing, with the fix.
pub fn unavailable_reason() -> String {
    format!("libnvrtc (CUDA 13) is not loadable; to compile kernels without a GPU run {NVRTC_HINT}")
}

fn require() -> Result<()> {
    if available() {
        Ok(())
    } else {
        Err(Error::CudaUnavailable { what: "NVRTC", reason: unavailable_reason() })
    }
}

/// NVRTC's (major, minor) version.
pub fn version() -> Result<(i32, i32)> {
    require()?;
    guarded("nvrtcVersion", || {
        let (mut major, mut minor) = (0, 0);
        // SAFETY: the library is loaded; both pointers are valid for writes.
        unsafe { sys::nvrtcVersion(&mut major, &mut minor) }
            .result()
            .map_err(|e| Error::Cuda { op: "nvrtcVersion", msg: format!("{e:?}") })?;
        Ok((major, minor))
    })
}

/// `"13.0"`, or `None` without NVRTC.
pub fn version_string() -> Option<String> {
    version().ok().map(|(a, b)| format!("{a}.{b}"))
}

/// PTX and the compiler's log (warnings; usually empty).
#[derive(Debug, Clone)]
pub struct Output {
    pub ptx: String,
    pub log: String,
}

/// Compiles CUDA C `source` (named `file` in messages) with `options`.
/// A compile error is `Error::Nvrtc` with the full log.
pub fn compile(file: &str, source: &str, options: &[String]) -> Result<Output> {
    require()?;
    let src = CString::new(source)
        .map_err(|_| Error::Nvrtc { file: file.to_string(), log: "source contains a NUL byte".into() })?;
    let name = CString::new(file)
        .map_err(|_| Error::Nvrtc { file: file.to_string(), log: "file name contains a NUL byte".into() })?;
    if let Some(bad) = options.iter().find(|o| o.contains('\0')) {
        return Err(Error::Nvrtc { file: file.to_string(), log: format!("option {bad:?} contains a NUL byte") });
    }
    guarded("nvrtc compile", || {
        let prog = result::create_program(&src, Some(&name))
            .map_err(|e| Error::Cuda { op: "nvrtcCreateProgram", msg: format!("{e:?}") })?;
        // SAFETY: `prog` is live until destroy_program below; src and name outlive it.
        let compiled = unsafe { result::compile_program(prog, options) };
        let log = unsafe { result::get_program_log(prog) }.map(|l| c_chars_to_string(&l)).unwrap_or_default();
        let ptx = match compiled {
            Ok(()) => unsafe { result::get_ptx(prog) }
                .map(|p| c_chars_to_string(&p))
                .map_err(|e| Error::Cuda { op: "nvrtcGetPTX", msg: format!("{e:?}") }),
            Err(e) => Err(Error::Nvrtc {
                file: file.to_string(),
                log: if log.trim().is_empty() { format!("{e:?} (no compiler log)") } else { log.clone() },
            }),
        };
        // SAFETY: created above and not destroyed before.
        let _ = unsafe { result::destroy_program(prog) };
        Ok(Output { ptx: ptx?, log })
    })
}

/// NVRTC strings end with a NUL.
fn c_chars_to_string(chars: &[c_char]) -> String {
    let bytes: Vec<u8> = chars.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}
