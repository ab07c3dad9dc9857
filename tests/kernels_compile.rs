//! Every file in kernels/ compiles with NVRTC through the path `hotflip
//! device` uses (`hotflip::cuda::compile::compile_all`), and the registry
//! build.rs generates covers every file and every kernel in it. No GPU is
//! needed; NVRTC is found as tests/common explains.

mod common;

use common::with_nvrtc;
use hotflip::cuda::compile::{self, DEFAULT_ARCH};
use hotflip::cuda::registry::{ptx_entries, KernelFile, KERNEL_FILES};
use hotflip::Error;

fn stems_on_disk() -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("kernels");
    let mut stems: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| {
            let p = e.ok()?.path();
            (p.extension()? == "cu").then(|| p.file_stem().map(|s| s.to_string_lossy().into_owned()))?
        })
        .collect();
    stems.sort();
    stems
}

#[test]
fn every_kernel_file_compiles() {
    with_nvrtc("every_kernel_file_compiles", || {
        let registered: Vec<String> = KERNEL_FILES.iter().map(|f| f.stem.to_string()).collect();
        assert_eq!(stems_on_disk(), registered, "kernels/*.cu and the registry differ: rebuild (build.rs) and check");
        let mut failures = Vec::new();
        for (file, result) in compile::compile_all(DEFAULT_ARCH) {
            match result {
                Ok(c) => {
                    let mut entries = ptx_entries(&c.ptx);
                    entries.sort();
                    let mut listed: Vec<String> = file.kernels.iter().map(|k| k.to_string()).collect();
                    listed.sort();
                    assert_eq!(entries, listed, "{}", file.path());
                    assert!(c.ptx.contains(".target sm_90"), "{}: PTX for another target", file.path());
                }
                Err(e) => failures.push(format!("{}: {e}", file.path())),
            }
        }
        assert!(failures.is_empty(), "kernel files that do not compile:\n{}", failures.join("\n"));
    });
}

#[test]
fn a_compile_error_carries_the_file_and_the_nvrtc_log() {
    with_nvrtc("a_compile_error_carries_the_file_and_the_nvrtc_log", || {
        let broken: &'static KernelFile = Box::leak(Box::new(KernelFile {
            stem: "broken_for_test",
            source: "extern \"C\" __global__ void broken_f32(float* x) { x[0] = undefined_name; }\n",
            kernels: &["broken_f32"],
        }));
        match compile::compile_file(broken, DEFAULT_ARCH) {
            Err(Error::Nvrtc { file, log }) => {
                assert_eq!(file, "kernels/broken_for_test.cu");
                assert!(log.contains("undefined_name"), "{log}");
            }
            other => panic!("expected an NVRTC error, got {other:?}"),
        }
    });
}

#[test]
fn a_kernel_the_registry_misses_is_an_error() {
    with_nvrtc("a_kernel_the_registry_misses_is_an_error", || {
        // A kernel produced by a macro is invisible to build.rs's scan.
        let hidden: &'static KernelFile = Box::leak(Box::new(KernelFile {
            stem: "hidden_for_test",
            source:
                "#define K(n) extern \"C\" __global__ void n(float* x) { x[0] = 1.0f; }\nK(seen_f32)\nK(hidden_f32)\n",
            kernels: &["seen_f32"],
        }));
        let e = compile::compile_file(hidden, DEFAULT_ARCH).unwrap_err().to_string();
        assert!(e.contains("hidden_f32") && e.contains("registered"), "{e}");
    });
}
