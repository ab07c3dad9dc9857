//! `train --device cuda` for `lstm_classifier` and `word_cnn` with the
//! word flips (`--adv word-sem|word-unk`: the flips chosen on the host from
//! the device's gradient, as on the tape) and the baselines (`--adv random`,
//! `iadvt-rand`, `iadvt-best`: the neighbour search, ĝ, α and r on the
//! device) without a GPU: the hidden `--device cuda-emulated` runs the
//! passes on the emulated device; its checkpoints must be the CPU run's
//! (weights within 1e-4 of their scale), and each method must move the
//! weights away from plain training's. Needs a C++17 compiler.

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

fn check(arch: &str, adv: &str) {
    let (root, data, _) = char_fixture::setup("train-device-word-methods", &format!("{arch}-{adv}"));
    let (cpu, emu, plain) = (root.join("cpu"), root.join("emu"), root.join("plain"));
    ok(&train("cpu", arch, &data, &cpu, adv), "cpu run");
    let log = ok(&train("cuda-emulated", arch, &data, &emu, adv), "emulated run");
    assert!(log.contains("emulated on the CPU) for the training steps"), "{arch} {adv}: {log}");
    let e = worst_difference(&emu.join("last"), &cpu.join("last"));
    // iAdvT-Best's α is ĝ itself at one direction per position (iAdvT mixes
    // K of them), so ĝ's rounding on the device reaches the weights less
    // damped: 1.7e-4 measured for lstm_classifier; a different choice of
    // direction would move them by ~1e-2.
    let tol = if adv == "iadvt-best" { 5e-4 } else { 1e-4 };
    assert!(e <= tol, "{arch} {adv}: the emulated run's weights differ from the CPU run's by {e}");
    if adv != "word-sem" {
        // SEM flips need a neighbour above cosine 0.8, which random
        // embeddings rarely have; every other method always perturbs.
        ok(&train("cpu", arch, &data, &plain, "none"), "plain run");
        let d = worst_difference(&plain.join("last"), &cpu.join("last"));
        assert!(d > 1e-3, "{arch} {adv}: training ends where plain training does ({d})");
    }
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn word_flip_training_on_the_emulated_device_matches_the_cpu_run() {
    for arch in ["word_cnn", "lstm_classifier"] {
        for adv in ["word-unk", "word-sem"] {
            check(arch, adv);
        }
    }
}

#[test]
fn the_baselines_on_the_emulated_device_match_the_cpu_run() {
    for arch in ["word_cnn", "lstm_classifier"] {
        for adv in ["random", "iadvt-rand", "iadvt-best"] {
            check(arch, adv);
        }
    }
}
