//! `train --device cuda --arch word_cnn` end to end without a GPU: the
//! hidden `--device cuda-emulated` trains the steps on the emulated device
//! (the kernels' sources on the CPU, `conv_max_relu_*` included) through
//! the ordinary trainer (epochs, dev evaluation, best/ and last/, a resume
//! from last/), plain and with `--adv advt` / `iadvt`. Its checkpoints
//! must be the CPU run's (weights within 1e-4 of their scale). Needs a
//! C++17 compiler.

#[path = "char_fixture/mod.rs"]
mod char_fixture;

use std::path::Path;
use std::process::{Command, Output};

use hotflip::checkpoint;

fn train(device: &str, data: &Path, out: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hotflip"))
        .args(["--threads", "1", "--device", device, "train", "--arch", "word_cnn", "--dataset", "sst2"])
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
    let (root, data, _) = char_fixture::setup("train-device-wcnn", "plain");
    let (cpu_out, emu_out) = (root.join("cpu"), root.join("emu"));
    ok(&train("cpu", &data, &cpu_out, &["--epochs", "2"]), "cpu run");
    let first = ok(&train("cuda-emulated", &data, &emu_out, &["--epochs", "1"]), "emulated run");
    assert!(first.contains("emulated on the CPU) for the training steps"), "{first}");
    ok(&train("cuda-emulated", &data, &emu_out, &["--epochs", "2", "--resume"]), "emulated resume");
    same_weights(&emu_out.join("last"), &cpu_out.join("last"), 1e-4);
    same_weights(&emu_out.join("best"), &cpu_out.join("best"), 1e-4);
    let log = |dir: &Path| std::fs::read_to_string(dir.join("train_log.jsonl")).unwrap().lines().count();
    assert_eq!(log(&emu_out), log(&cpu_out));
    let _ = std::fs::remove_dir_all(&root);
}

/// AdvT and iAdvT (the neighbour pipeline on the word CNN's own table);
/// VAT and iVAT are checked at 1e-4 on a small model in
/// tests/train_device_words_cnn.rs (their KL direction is rounding-sensitive,
/// see tests/train_device_words_cli.rs).
#[test]
fn embedding_adversaries_on_the_emulated_device_match_the_cpu_runs() {
    for adv in ["advt", "iadvt"] {
        let (root, data, _) = char_fixture::setup("train-device-wcnn", adv);
        let (cpu_out, emu_out) = (root.join("cpu"), root.join("emu"));
        let args = ["--epochs", "1", "--adv", adv];
        ok(&train("cpu", &data, &cpu_out, &args), "cpu run");
        let emu = ok(&train("cuda-emulated", &data, &emu_out, &args), "emulated run");
        assert!(emu.contains("emulated on the CPU) for the training steps"), "{adv}: {emu}");
        same_weights(&emu_out.join("last"), &cpu_out.join("last"), 1e-4);
        let _ = std::fs::remove_dir_all(&root);
    }
}
