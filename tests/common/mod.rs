//! Finding NVRTC for tests that compile kernels.
//!
//! The dynamic loader reads LD_LIBRARY_PATH only when a process starts, so a
//! test that finds NVRTC missing cannot fix its own process: it asks
//! `../shared/tools/nvrtc-lib` for the folder and runs the check again in a
//! child process (this test binary, filtered to the one test) with
//! LD_LIBRARY_PATH set.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// Set in the child so that it fails instead of re-running itself again.
const CHILD: &str = "HOTFLIP_TEST_NVRTC_CHILD";

/// How to provide NVRTC by hand.
pub const HOW_TO_PROVIDE_NVRTC: &str = "put the folder holding libnvrtc.so.13 and libnvrtc-builtins.so.13.0 on \
     LD_LIBRARY_PATH before running the tests, e.g. from the project root \
     `export LD_LIBRARY_PATH=\"$(../shared/tools/nvrtc-lib):$LD_LIBRARY_PATH\"`, or \
     `pip install --target DIR 'nvidia-cuda-nvrtc==13.0.*'` and \
     `export LD_LIBRARY_PATH=DIR/nvidia/cu13/lib:$LD_LIBRARY_PATH`";

/// The folder `../shared/tools/nvrtc-lib` prints (installing NVRTC the first time).
pub fn nvrtc_lib_dir() -> Result<PathBuf, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/tools/nvrtc-lib");
    if !script.exists() {
        return Err(format!("NVRTC is not loadable and {} does not exist: {HOW_TO_PROVIDE_NVRTC}", script.display()));
    }
    let out = Command::new(&script).output().map_err(|e| format!("running {}: {e}", script.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{} failed ({}): {}\n{HOW_TO_PROVIDE_NVRTC}",
            script.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    if !dir.join("libnvrtc.so.13").exists() {
        return Err(format!("{} printed {}, which holds no libnvrtc.so.13", script.display(), dir.display()));
    }
    Ok(dir)
}

/// LD_LIBRARY_PATH with `dir` in front of the current value.
pub fn library_path_with(dir: &Path) -> String {
    match std::env::var("LD_LIBRARY_PATH") {
        Ok(old) if !old.is_empty() => format!("{}:{old}", dir.display()),
        _ => dir.display().to_string(),
    }
}

/// Runs `check` in this process if NVRTC loads here, else re-runs the test
/// named `test_name` in a child process with NVRTC on LD_LIBRARY_PATH.
pub fn with_nvrtc(test_name: &str, check: impl FnOnce()) {
    if hotflip::cuda::nvrtc::available() {
        return check();
    }
    if std::env::var_os(CHILD).is_some() {
        panic!(
            "NVRTC is still not loadable with LD_LIBRARY_PATH={:?}: {HOW_TO_PROVIDE_NVRTC}",
            std::env::var("LD_LIBRARY_PATH").unwrap_or_default()
        );
    }
    let dir = nvrtc_lib_dir().unwrap_or_else(|e| panic!("{e}"));
    let exe = std::env::current_exe().expect("the test binary's path");
    let out = Command::new(exe)
        .args([test_name, "--exact", "--nocapture", "--test-threads=1"])
        .env("LD_LIBRARY_PATH", library_path_with(&dir))
        .env(CHILD, "1")
        .output()
        .expect("re-running the test binary");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{test_name} with NVRTC from {}:\n{stdout}\n{stderr}", dir.display());
    // A filter that matches nothing also exits 0: make sure the test ran.
    assert!(
        stdout.contains(&format!("test {test_name} ... ok")),
        "the child did not run {test_name}:\n{stdout}\n{stderr}"
    );
}
