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

#[path = "common/device_train.rs"]
mod device_train;

use std::path::Path;

use device_train::{emulated_run_matches_the_cpu_run, ok, train_sst2};
use hotflip::checkpoint;

/// The largest difference of any weight of `a`'s checkpoint from `b`'s,
/// relative to its tensor's largest magnitude in `b`.
fn worst_difference(a: &Path, b: &Path) -> f32 {
    let (a, b) = (checkpoint::load(a).unwrap(), checkpoint::load(b).unwrap());
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
    // iAdvT-Best's α is ĝ itself at one direction per position (iAdvT mixes
    // K of them), so ĝ's rounding on the device reaches the weights less
    // damped: 1.7e-4 measured for lstm_classifier; a different choice of
    // direction would move them by ~1e-2.
    let tol = if adv == "iadvt-best" { 5e-4 } else { 1e-4 };
    emulated_run_matches_the_cpu_run(arch, &root, &data, &["--epochs", "1", "--adv", adv], tol);
    if adv != "word-sem" {
        // SEM flips need a neighbour above cosine 0.8, which random
        // embeddings rarely have; every other method always perturbs.
        let plain = root.join("plain");
        ok(&train_sst2("cpu", arch, &data, &plain, &["--epochs", "1"]), "plain run");
        let d = worst_difference(&plain.join("last"), &root.join("cpu").join("last"));
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
