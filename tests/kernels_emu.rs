//! Every kernel of `kernels/*.cu` on the emulated device
//! (`Gpu::emulated`: the kernel sources compiled as C++ with
//! tests/cuda_emu/cuda_shim.h and run on the CPU), through the same
//! launchers and the same self-check that `hotflip device` runs on a GPU:
//! each kernel against its CPU twin, with the launch shapes its launcher
//! picks, on small random shapes. Threads run in order and in reverse (a
//! missing barrier shows in one of the two).
//!
//! What this cannot show (a GPU can, with `hotflip device`): the hardware's
//! warp and memory semantics, NVRTC's code generation, CUDA's math library
//! (the emulator uses glibc's), the shared-memory limit, timing.
//! Needs a C++17 compiler (`$CXX`, else `c++`).

use std::collections::BTreeSet;

use hotflip::cuda::registry::all_kernels;
use hotflip::cuda::selfcheck::{run_checks, Outcome};
use hotflip::cuda::Gpu;
use hotflip::kernel_checks::all_checks;

fn emulated() -> Gpu {
    Gpu::emulated().unwrap_or_else(|e| panic!("the CUDA emulator is unavailable: {e}"))
}

fn failures(outcomes: &[Outcome]) -> Vec<String> {
    outcomes
        .iter()
        .filter(|o| !o.passed)
        .map(|o| {
            format!(
                "{} vs {}: err {:?} (threshold {}) {}",
                o.name,
                o.twin,
                o.max_rel_err,
                o.threshold,
                o.error.as_deref().unwrap_or("")
            )
        })
        .collect()
}

#[test]
fn the_runner_knows_every_registered_kernel() {
    let emu = hotflip::cuda::emu::Emulator::new().unwrap_or_else(|e| panic!("{e}"));
    let known: BTreeSet<String> = emu.kernels().unwrap().into_iter().collect();
    let registered: BTreeSet<String> = all_kernels().map(|k| k.name.to_string()).collect();
    assert_eq!(known, registered);
}

#[test]
fn every_kernel_matches_its_twin_on_the_emulated_device() {
    let gpu = emulated();
    assert!(gpu.is_emulated());
    let checks = all_checks();
    let mut outcomes = Vec::new();
    for c in checks.iter() {
        let t = std::time::Instant::now();
        outcomes.extend(run_checks(&gpu, 0xE31, std::slice::from_ref(c)));
        eprintln!("{:>8.3} s {}", t.elapsed().as_secs_f64(), c.name());
    }
    assert_eq!(outcomes.len(), checks.len());
    let bad = failures(&outcomes);
    assert!(bad.is_empty(), "on the emulated device:\n{}", bad.join("\n"));
}

#[test]
fn kernels_with_barriers_and_warp_exchanges_match_with_threads_in_reverse() {
    let gpu = emulated();
    gpu.set_emulated_reverse(true);
    let barriers = ["reduce", "loss", "neighbours"];
    let checks: Vec<_> = all_checks()
        .into_iter()
        .filter(|c| matches!(c.subject, hotflip::cuda::selfcheck::Subject::Kernel(k) if barriers.contains(&k.file)))
        .collect();
    assert!(checks.len() >= 15, "{} checks", checks.len());
    let outcomes = run_checks(&gpu, 0xE32, &checks);
    let bad = failures(&outcomes);
    assert!(bad.is_empty(), "threads in reverse:\n{}", bad.join("\n"));
}

#[test]
fn every_registered_kernel_has_a_check_against_its_twin() {
    let checked: BTreeSet<&str> = all_checks()
        .iter()
        .filter_map(|c| match c.subject {
            hotflip::cuda::selfcheck::Subject::Kernel(k) => Some(k.name),
            hotflip::cuda::selfcheck::Subject::Library(_) => None,
        })
        .collect();
    let missing: Vec<&str> = all_kernels().map(|k| k.name).filter(|n| !checked.contains(n)).collect();
    assert!(missing.is_empty(), "kernels no check compares with a CPU twin: {missing:?}");
}
