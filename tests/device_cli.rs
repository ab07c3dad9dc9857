//! The `--device` flag and `hotflip device`, run as a user would, on a
//! machine with or without a GPU (the fallback assertions need no driver).

mod common;

use std::collections::BTreeSet;
use std::process::{Command, Output};

use hotflip::cuda::driver;
use hotflip::cuda::registry::KERNEL_FILES;
use serde_json::Value;

const FALLBACK: &str = "no CUDA driver found (libcuda.so not loadable); using the CPU backend";

fn hotflip(args: &[&str], configure: impl FnOnce(&mut Command)) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hotflip"));
    cmd.args(args);
    configure(&mut cmd);
    cmd.output().expect("running hotflip")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}\n{}", text(&out.stdout), text(&out.stderr)))
}

/// (file, name) of every registered kernel.
fn registered() -> BTreeSet<(String, String)> {
    KERNEL_FILES.iter().flat_map(|f| f.kernels.iter().map(move |k| (f.path(), k.to_string()))).collect()
}

fn listed(report: &Value) -> BTreeSet<(String, String)> {
    report["kernels"]
        .as_array()
        .expect("kernels is a list")
        .iter()
        .map(|k| (k["file"].as_str().unwrap().to_string(), k["name"].as_str().unwrap().to_string()))
        .collect()
}

fn a_temp_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("hotflip-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn auto_falls_back_to_the_cpu_and_says_why_once() {
    if driver::library_present() {
        eprintln!("skipped: this machine has a CUDA driver");
        return;
    }
    let out = hotflip(&["--device", "auto", "device", "--json"], |_| {});
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert_eq!(stderr.matches(FALLBACK).count(), 1, "{stderr}");
    let report = json(&out);
    assert_eq!(report["backend"], "cpu");
    assert_eq!(report["gpu"], Value::Null);
    assert_eq!(report["driver"], Value::Null);
    // `auto` is the default.
    let out = hotflip(&["device", "--json"], |_| {});
    assert_eq!(text(&out.stderr).matches(FALLBACK).count(), 1);
}

#[test]
fn cuda_without_a_gpu_is_a_clear_error() {
    if driver::library_present() {
        eprintln!("skipped: this machine has a CUDA driver");
        return;
    }
    for args in [&["--device", "cuda", "device"][..], &["device", "--device", "cuda", "--json"][..]] {
        let out = hotflip(args, |_| {});
        assert!(!out.status.success());
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains("--device cuda is not available: no CUDA driver found (libcuda.so not loadable)")
                && stderr.contains("use --device auto or --device cpu"),
            "{stderr}"
        );
        assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
    }
}

#[test]
fn cpu_is_quiet() {
    let out = hotflip(&["--device", "cpu", "device", "--json"], |_| {});
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!text(&out.stderr).contains("using the CPU backend"), "{}", text(&out.stderr));
    let report = json(&out);
    assert_eq!(report["backend"], "cpu");
    assert_eq!(report["backend_note"], Value::Null);
    assert_eq!(report["seed"], Value::Null);
}

#[test]
fn device_json_lists_every_kernel_compiled_when_nvrtc_is_there() {
    let dir = match common::nvrtc_lib_dir() {
        Ok(d) => d,
        Err(e) => panic!("{e}"),
    };
    // A fresh cache: the first run compiles every file, the second reads them back.
    let cache = a_temp_dir("ptx-cli");
    let run = || {
        hotflip(&["device", "--json"], |c| {
            c.env("LD_LIBRARY_PATH", common::library_path_with(&dir)).env("HOTFLIP_PTX_CACHE", &cache);
        })
    };
    for pass in 0..2 {
        let out = run();
        assert!(out.status.success(), "{}\n{}", text(&out.stdout), text(&out.stderr));
        let report = json(&out);
        assert!(report["nvrtc"].as_str().is_some_and(|v| v.starts_with("13.")), "{}", report["nvrtc"]);
        assert_eq!(listed(&report), registered());
        assert_eq!(report["kernels"].as_array().unwrap().len(), registered().len(), "a kernel listed twice");
        let gpu = report["backend"] == "cuda";
        for k in report["kernels"].as_array().unwrap() {
            assert_eq!(k["compiled"], true, "{k}");
            if !gpu {
                assert_eq!(k["checked"], Value::Null, "{k}");
                assert_eq!(k["max_rel_err"], Value::Null, "{k}");
            }
        }
        for f in report["files"].as_array().unwrap() {
            assert_eq!(f["compiled"], true, "{f}");
            assert_eq!(f["from_cache"], pass == 1, "{f}");
        }
        assert_eq!(report["summary"]["compile_failures"], 0);
        assert_eq!(report["ptx_cache"].as_str(), Some(cache.to_str().unwrap()));
    }
    let _ = std::fs::remove_dir_all(&cache);
}

#[test]
fn device_without_nvrtc_says_how_to_get_it() {
    if hotflip::cuda::nvrtc::available() && std::env::var_os("LD_LIBRARY_PATH").is_none() {
        eprintln!("skipped: NVRTC is installed system-wide");
        return;
    }
    let out = hotflip(&["device", "--json"], |c| {
        c.env_remove("LD_LIBRARY_PATH");
    });
    let report = json(&out);
    if !report["nvrtc"].is_null() {
        eprintln!("skipped: NVRTC is installed system-wide");
        return;
    }
    assert!(out.status.success(), "no compile was attempted, so nothing failed: {}", text(&out.stderr));
    assert!(report["nvrtc_hint"].as_str().unwrap().contains("../shared/tools/nvrtc-lib"));
    assert_eq!(listed(&report), registered());
    assert!(report["kernels"].as_array().unwrap().iter().all(|k| k["compiled"] == false && k["checked"].is_null()));
    let out = hotflip(&["device"], |c| {
        c.env_remove("LD_LIBRARY_PATH");
    });
    assert!(out.status.success());
    assert!(text(&out.stdout).contains("nvrtc: none; kernels were not compiled"), "{}", text(&out.stdout));
}
