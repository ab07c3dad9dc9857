//! `train --device cuda --arch word_cnn` end to end without a GPU: the
//! hidden `--device cuda-emulated` trains the steps on the emulated device
//! (the kernels' sources on the CPU, `conv_max_relu_*` included) through
//! the ordinary trainer (epochs, dev evaluation, best/ and last/, a resume
//! from last/), plain and with `--adv advt` / `iadvt`. Its checkpoints
//! must be the CPU run's (weights within 1e-4 of their scale). Needs a
//! C++17 compiler.

#[path = "char_fixture/mod.rs"]
mod char_fixture;

#[path = "common/device_train.rs"]
mod device_train;

use device_train::emulated_run_matches_the_cpu_run;

const ARCH: &str = "word_cnn";

#[test]
fn the_emulated_device_trains_and_resumes_to_the_cpu_runs_checkpoint() {
    let (root, data, _) = char_fixture::setup("train-device-wcnn", "plain");
    device_train::trains_and_resumes_to_the_cpu_runs_checkpoint(ARCH, &root, &data);
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn embedding_adversaries_on_the_emulated_device_match_the_cpu_runs() {
    for adv in ["advt", "iadvt"] {
        let (root, data, _) = char_fixture::setup("train-device-wcnn", adv);
        emulated_run_matches_the_cpu_run(ARCH, &root, &data, &["--epochs", "1", "--adv", adv], 1e-4);
        let _ = std::fs::remove_dir_all(&root);
    }
}
