//! What the device-training tests share (`tests/train_device*.rs`): the
//! devices they run on, the comparisons of a device objective's gradients
//! and of N optimiser steps against the host objective and `Updater`, and
//! for the `*_cli.rs` tests the `hotflip train` runner and the checkpoint
//! comparison. Included by path (`#[path = "common/device_train.rs"]`), so
//! that a test file takes only this and not the NVRTC helpers of `mod.rs`.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use hotflip::adv::{EmbeddingAdversary, EmbeddingMethod};
use hotflip::backend::{CpuDevice, CudaDevice, Device};
use hotflip::checkpoint;
use hotflip::cuda::Gpu;
use hotflip::models::device::DeviceModel;
use hotflip::models::{Mode, Model};
use hotflip::nn::ParamStore;
use hotflip::optim::{Adam, AdamConfig, Optimizer};
use hotflip::train::device_step::{DeviceObjective, DevicePlain, DeviceUpdater};
use hotflip::train::{Batch, Objective, StepContext, Updater};

/// The CPU device and the emulated CUDA device (the kernels' sources on the
/// CPU, through the same launchers and buffers as on a GPU).
pub fn devices() -> Vec<Arc<dyn Device>> {
    let gpu = Gpu::emulated().unwrap_or_else(|e| panic!("the CUDA emulator is unavailable: {e}"));
    vec![Arc::new(CpuDevice), Arc::new(CudaDevice::new(Arc::new(gpu)))]
}

/// `got` within `tol` of `want`, relative to `want`'s largest magnitude.
pub fn close(what: &str, got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-6);
    let worst = got.iter().zip(want).map(|(g, w)| (g - w).abs()).fold(0.0f32, f32::max);
    assert!(worst <= tol * scale, "{what}: max error {worst} against values up to {scale}");
}

/// The host objective's and the device objective's loss and every
/// gradient on `b` (dropout on, the tape's masks) agree within 1e-4, on
/// every device; a weight without a gradient must be a frozen one on both.
pub fn same_grads(
    host: &mut dyn Objective,
    device: &mut dyn DeviceObjective,
    m: &Model,
    store: &ParamStore,
    b: &Batch,
) {
    let mode = Mode::train(77);
    let want = host.step(&StepContext { model: m, store, mode, step: 0 }, b).unwrap();
    for dev in devices() {
        let dm = DeviceModel::new(m, store, dev.clone()).unwrap();
        let got = device.grads(&dm, b, mode, 0).unwrap();
        let name = format!("{} {}", dev.name(), device.name());
        assert!((got.loss - want.loss).abs() <= 1e-5 * want.loss.abs(), "{name}: loss {} vs {}", got.loss, want.loss);
        assert_eq!(got.grads.len(), store.len());
        for ((id, g), w) in store.ids().zip(&got.grads).zip(&want.grads) {
            let what = format!("{name}: d/d {}", store.name(id));
            match (g, w) {
                (Some(g), Some(w)) => close(&what, &dev.to_host(g).unwrap(), w.data(), 1e-4),
                (None, None) => assert!(!store.trainable(id), "{what}: no gradient for a weight"),
                _ => panic!("{what}: a gradient on one side only"),
            }
        }
    }
}

/// N steps on `batches` (clipping that bites, Adam with decay, max-norm, a
/// sync and a fresh updater halfway as a save and resume) on each device
/// against the host `Updater` with the tape, from `store0`: losses, weights
/// and Adam's moments within 1e-4, and some weight moved.
pub fn steps_follow_the_host_updater(
    host_objective: &mut dyn Objective,
    device_objective: &mut dyn FnMut() -> Box<dyn DeviceObjective>,
    m: &Model,
    store0: &ParamStore,
    batches: &[Batch],
) {
    let cfg = AdamConfig { lr: 0.01, decay: 0.99, ..AdamConfig::default() };
    // A clip below the first gradients' norm, so that the rescale runs.
    let (clip, max_norm) = (Some(0.5), Some(0.9));
    let mut host = store0.clone();
    let mut up = Updater { adam: Adam::new(cfg).unwrap(), clip, max_norm };
    let mut want = Vec::new();
    for (i, b) in batches.iter().enumerate() {
        want.push(up.step(host_objective, m, &mut host, b, Mode::train(100 + i as u64), i as u64).unwrap());
    }
    for dev in devices() {
        let name = dev.name();
        let mut store = store0.clone();
        let mut adam = Adam::new(cfg).unwrap();
        // Two steps, a sync (as a checkpoint save), a fresh updater from
        // the synced state (as a resume), two more steps.
        let mut got = Vec::new();
        let mut objective = device_objective();
        let mut d = DeviceUpdater::new(dev.clone(), m, &store, &adam, clip, max_norm).unwrap();
        for (i, b) in batches.iter().enumerate() {
            if i == 2 {
                d.sync(&mut store, &mut adam).unwrap();
                d = DeviceUpdater::new(dev.clone(), m, &store, &adam, clip, max_norm).unwrap();
            }
            got.push(d.step(objective.as_mut(), b, Mode::train(100 + i as u64), i as u64).unwrap());
        }
        d.sync(&mut store, &mut adam).unwrap();
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!((g - w).abs() <= 1e-4 * w.abs(), "{name}: loss of step {i}: {g} vs {w}");
        }
        assert_eq!(adam.steps(), up.adam.steps(), "{name}: steps");
        for id in store.ids() {
            close(&format!("{name}: {}", store.name(id)), store.get(id).data(), host.get(id).data(), 1e-4);
        }
        let (a, b) = (adam.state(&store), up.adam.state(&host));
        assert_eq!(a.0.len(), b.0.len(), "{name}: Adam state entries");
        for ((ka, ta), (kb, tb)) in a.0.iter().zip(&b.0) {
            assert_eq!(ka, kb);
            close(&format!("{name}: {ka}"), ta.data(), tb.data(), 1e-4);
        }
        // The weights moved: the comparison is not of two untouched stores.
        let moved = store.ids().any(|id| store.get(id).data() != store0.get(id).data());
        assert!(moved, "{name}: no weight changed");
    }
}

/// The embedding-space adversary the device tests train with (5 neighbours).
pub fn adversary(method: EmbeddingMethod) -> EmbeddingAdversary {
    EmbeddingAdversary { neighbours: 5, ..EmbeddingAdversary::paper(method, 9) }
}

/// The perturbation matters on the CPU device: `J + λ·J_adv` minus the
/// clean loss exceeds the clean loss for AdvT/iAdvT (J_adv exceeds J), and
/// `vat_floor` for (i)VAT (J_adv is KL(p ‖ q(x + r)), positive for r ≠ 0).
pub fn the_perturbation_matters(method: EmbeddingMethod, m: &Model, store: &ParamStore, b: &Batch, vat_floor: f32) {
    let dm = DeviceModel::new(m, store, Arc::new(CpuDevice)).unwrap();
    let clean = DevicePlain.grads(&dm, b, Mode::EVAL, 0).unwrap().loss;
    let both = adversary(method).grads(&dm, b, Mode::EVAL, 0).unwrap().loss;
    let floor = if matches!(method, EmbeddingMethod::Vat | EmbeddingMethod::IVat) { vat_floor } else { clean };
    assert!(both - clean > floor, "{method:?}: adversarial {} vs clean {clean}", both - clean);
}

/// The options every sst2 CLI comparison trains with (a clip and a
/// max-norm that bite, one seed, no progress line).
pub const SST2_OPTIONS: [&str; 9] = ["--batch", "8", "--clip", "1", "--max-norm", "3", "--seed", "4", "--no-progress"];

/// `hotflip --threads 1 --device DEVICE train --arch ARCH --dataset DATASET
/// --data-dir DATA --out OUT ARGS…`.
pub fn hotflip_train(device: &str, arch: &str, dataset: &str, data: &Path, out: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hotflip"))
        .args(["--threads", "1", "--device", device, "train", "--arch", arch, "--dataset", dataset])
        .arg("--data-dir")
        .arg(data)
        .arg("--out")
        .arg(out)
        .args(args)
        .output()
        .unwrap()
}

/// [`hotflip_train`] on sst2 with [`SST2_OPTIONS`] and then `extra`.
pub fn train_sst2(device: &str, arch: &str, data: &Path, out: &Path, extra: &[&str]) -> Output {
    let args: Vec<&str> = SST2_OPTIONS.iter().chain(extra).copied().collect();
    hotflip_train(device, arch, "sst2", data, out, &args)
}

/// The run's stderr, after asserting it succeeded.
pub fn ok(out: &Output, what: &str) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{what}: {stderr}");
    stderr
}

/// Asserts the run's steps ran on the emulated device.
pub fn on_the_emulated_device(stderr: &str, what: &str) {
    assert!(stderr.contains("emulated on the CPU) for the training steps"), "{what}: {stderr}");
}

/// Every weight of the checkpoints in `a` and `b` within `tol` of its
/// tensor's largest magnitude.
pub fn same_weights(a: &Path, b: &Path, tol: f32) {
    let (a, b) = (checkpoint::load(a).unwrap(), checkpoint::load(b).unwrap());
    assert_eq!(a.store.len(), b.store.len());
    for id in a.store.ids() {
        let name = a.store.name(id);
        let (x, y) = (a.store.get(id).data(), b.store.by_name(name).unwrap().data());
        let scale = y.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-6);
        let worst = x.iter().zip(y).map(|(u, v)| (u - v).abs()).fold(0.0f32, f32::max);
        assert!(worst <= tol * scale, "{name}: max error {worst} against values up to {scale}");
    }
}

/// `arch` on sst2 in `data`: two CPU epochs into `root/cpu`; one emulated
/// epoch into `root/emu` and a resume from its last/ for the second (last/
/// carries the device's weights and Adam moments through the host); both
/// last/ and best/ equal the CPU run's within 1e-4, and so do the logs'
/// dev figures ([`same_dev_figures`]).
pub fn trains_and_resumes_to_the_cpu_runs_checkpoint(arch: &str, root: &Path, data: &Path) {
    let (cpu_out, emu_out) = (root.join("cpu"), root.join("emu"));
    ok(&train_sst2("cpu", arch, data, &cpu_out, &["--epochs", "2"]), "cpu run");
    let first = ok(&train_sst2("cuda-emulated", arch, data, &emu_out, &["--epochs", "1"]), "emulated run");
    on_the_emulated_device(&first, arch);
    ok(&train_sst2("cuda-emulated", arch, data, &emu_out, &["--epochs", "2", "--resume"]), "emulated resume");
    same_weights(&emu_out.join("last"), &cpu_out.join("last"), 1e-4);
    same_weights(&emu_out.join("best"), &cpu_out.join("best"), 1e-4);
    same_dev_figures(&emu_out, &cpu_out);
}

/// The training logs of the runs in `a` and `b` have as many lines, each
/// with the same learning rate and dev confusion matrix (and a tagger's
/// average precision within 1e-6): the device's dev evaluations score its
/// own weights as the CPU run scores the host's.
pub fn same_dev_figures(a: &Path, b: &Path) {
    let lines = |dir: &Path| -> Vec<serde_json::Value> {
        let text = std::fs::read_to_string(dir.join("train_log.jsonl")).unwrap();
        text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    };
    let (la, lb) = (lines(a), lines(b));
    assert_eq!(la.len(), lb.len(), "log lines");
    for (i, (x, y)) in la.iter().zip(&lb).enumerate() {
        assert_eq!(x["lr"], y["lr"], "line {i}: lr");
        assert_eq!(x["dev"]["confusion"], y["dev"]["confusion"], "line {i}: dev confusion");
        if let (Some(p), Some(q)) = (x["dev"]["average_precision"].as_f64(), y["dev"]["average_precision"].as_f64()) {
            assert!((p - q).abs() <= 1e-6, "line {i}: dev AP {p} vs {q}");
        }
    }
}

/// `arch` on sst2 in `data` with `args`, on the CPU (`root/cpu`) and the
/// emulated device (`root/emu`): the emulated last/ within `tol` of the CPU's.
pub fn emulated_run_matches_the_cpu_run(arch: &str, root: &Path, data: &Path, args: &[&str], tol: f32) {
    let (cpu_out, emu_out) = (root.join("cpu"), root.join("emu"));
    ok(&train_sst2("cpu", arch, data, &cpu_out, args), "cpu run");
    let emu = ok(&train_sst2("cuda-emulated", arch, data, &emu_out, args), "emulated run");
    on_the_emulated_device(&emu, &format!("{arch} {args:?}"));
    same_weights(&emu_out.join("last"), &cpu_out.join("last"), tol);
}
