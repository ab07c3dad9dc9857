//! `train --device cuda` end to end without a GPU: the hidden `--device
//! cuda-emulated` trains char_cnn_lstm's steps on the emulated device (the
//! kernels' sources on the CPU, through the same launchers), through the
//! ordinary trainer: epochs, dev evaluation, best/ and last/ checkpoints,
//! and a resume from last/; plain and `--adv hotflip` training. Its checkpoints must be the CPU run's (weights
//! within 1e-4 of their scale), and what does not train on a device yet is
//! an error naming it. Needs a C++17 compiler. (At the default rate 1e-3: Adam moves
//! a weight whose gradient is near 0 by up to lr per step whatever its size,
//! so summation-order noise grows with the rate; at 0.01 it reaches 2e-4.)

#[path = "char_fixture/mod.rs"]
mod char_fixture;

use std::path::Path;
use std::process::{Command, Output};

use hotflip::checkpoint;

fn train(device: &str, data: &Path, out: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hotflip"))
        .args(["--threads", "1", "--device", device, "train", "--arch", "char_cnn_lstm", "--dataset", "sst2"])
        .arg("--data-dir")
        .arg(data)
        .arg("--out")
        .arg(out)
        .args(["--batch", "8", "--clip", "1", "--max-norm", "3", "--seed", "4", "--no-progress"])
        .args(extra)
        .output()
        .unwrap()
}

fn ok(out: &Output, what: &str) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{what}: {stderr}");
    stderr
}

/// Every weight of the checkpoints in `a` and `b` within `tol` of its
/// tensor's largest magnitude.
fn same_weights(a: &Path, b: &Path, tol: f32) {
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

#[test]
fn the_emulated_device_trains_and_resumes_to_the_cpu_runs_checkpoint() {
    let (root, data, _) = char_fixture::setup("train-device-emu", "ck");
    let (cpu_out, emu_out) = (root.join("cpu"), root.join("emu"));
    ok(&train("cpu", &data, &cpu_out, &["--epochs", "2"]), "cpu run");
    // One epoch, then a resume for the second: last/ carries the device's
    // weights and Adam moments through the host.
    let first = ok(&train("cuda-emulated", &data, &emu_out, &["--epochs", "1"]), "emulated run");
    assert!(first.contains("emulated on the CPU) for the training steps"), "{first}");
    ok(&train("cuda-emulated", &data, &emu_out, &["--epochs", "2", "--resume"]), "emulated resume");
    same_weights(&emu_out.join("last"), &cpu_out.join("last"), 1e-4);
    same_weights(&emu_out.join("best"), &cpu_out.join("best"), 1e-4);
    let log = |dir: &Path| std::fs::read_to_string(dir.join("train_log.jsonl")).unwrap().lines().count();
    assert_eq!(log(&emu_out), log(&cpu_out));
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn hotflip_training_on_the_emulated_device_matches_the_cpu_run() {
    let (root, data, _) = char_fixture::setup("train-device-emu", "hotflip");
    let (cpu_out, emu_out) = (root.join("cpu"), root.join("emu"));
    let args = ["--epochs", "1", "--adv", "hotflip", "--flip-fraction", "0.3"];
    ok(&train("cpu", &data, &cpu_out, &args), "cpu run");
    ok(&train("cuda-emulated", &data, &emu_out, &args), "emulated run");
    same_weights(&emu_out.join("last"), &cpu_out.join("last"), 1e-4);
    let _ = std::fs::remove_dir_all(&root);
}
