//! `train --device cuda --adv word-sem|word-unk` for `lstm_classifier` and
//! `word_cnn` without a GPU: the hidden `--device cuda-emulated` runs the
//! clean and adversarial passes on the emulated device (the flips chosen on
//! the host from the device's gradient, as on the tape); its checkpoints
//! must be the CPU run's (weights within 1e-4 of their scale). Needs a
//! C++17 compiler.

#[path = "char_fixture/mod.rs"]
mod char_fixture;

use std::path::Path;
use std::process::{Command, Output};

use hotflip::checkpoint;

fn train(device: &str, arch: &str, data: &Path, out: &Path, adv: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hotflip"))
        .args(["--threads", "1", "--device", device, "train", "--arch", arch, "--dataset", "sst2", "--data-dir"])
        .arg(data)
        .arg("--out")
        .arg(out)
        .args(["--epochs", "1", "--batch", "8", "--clip", "1", "--seed", "4", "--no-progress", "--adv", adv])
        .output()
        .unwrap()
}

fn ok(out: &Output, what: &str) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{what}: {stderr}");
    stderr
}

/// The largest difference of any weight, relative to its tensor's largest
/// magnitude, and whether the two runs trained at all (weights differ from
/// a plain run's).
fn worst_difference(a: &Path, b: &Path) -> f32 {
    let (a, b) = (checkpoint::load(a).unwrap(), checkpoint::load(b).unwrap());
    assert_eq!(a.store.len(), b.store.len());
    let mut worst = 0.0f32;
    for id in a.store.ids() {
        let (x, y) = (a.store.get(id).data(), b.store.by_name(a.store.name(id)).unwrap().data());
        let scale = y.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-6);
        worst = x.iter().zip(y).map(|(u, v)| (u - v).abs() / scale).fold(worst, f32::max);
    }
    worst
}

#[test]
fn word_flip_training_on_the_emulated_device_matches_the_cpu_run() {
    for arch in ["word_cnn", "lstm_classifier"] {
        for adv in ["word-unk", "word-sem"] {
            let (root, data, _) = char_fixture::setup("train-device-word-flips", &format!("{arch}-{adv}"));
            let (cpu, emu, plain) = (root.join("cpu"), root.join("emu"), root.join("plain"));
            ok(&train("cpu", arch, &data, &cpu, adv), "cpu run");
            let log = ok(&train("cuda-emulated", arch, &data, &emu, adv), "emulated run");
            assert!(log.contains("emulated on the CPU) for the training steps"), "{arch} {adv}: {log}");
            let e = worst_difference(&emu.join("last"), &cpu.join("last"));
            assert!(e <= 1e-4, "{arch} {adv}: the emulated run's weights differ from the CPU run's by {e}");
            if adv == "word-unk" {
                // UNK flips always happen: the objective is not the plain one.
                ok(&train("cpu", arch, &data, &plain, "none"), "plain run");
                let d = worst_difference(&plain.join("last"), &cpu.join("last"));
                assert!(d > 1e-3, "{arch}: word-unk training ends where plain training does ({d})");
            }
            let _ = std::fs::remove_dir_all(&root);
        }
    }
}
